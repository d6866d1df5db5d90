//! The lab's guard: a small process that outlives the lab, whatever ends
//! it, and stops everything the lab started.
//!
//! `PR_SET_PDEATHSIG` reaches only the lab's direct children: a stack whose
//! command is `sh -c 'server & wait'`, or gunicorn's arbiter with its
//! workers, leaves grandchildren behind a lab killed with SIGKILL. So the
//! lab starts `framewut guard` (the same binary, a hidden subcommand) in a
//! session of its own, holding the read end of a pipe whose write end only
//! the lab holds: close-on-exec, so no server inherits it. The lab writes
//! down the pipe each session it starts and each cgroup it makes. When the
//! lab ends, however it ends, the kernel closes the write end; the guard
//! reads the end of the pipe and kills, by PID, every process in the lab's
//! cgroups, in its sessions whose leader still runs, and every process that
//! carries the run's id and this lab's mark in its environment (everything
//! the lab starts does, and what they start inherits it); then it removes
//! the cgroups and exits. After a lab that stopped everything itself, it
//! finds nothing and exits at once.
//!
//! Only processes the lab started are touched: a session counts only while
//! its leader is the very process the lab started (PID and start time), and
//! the mark names this run and this lab process, so a run resumed by
//! another lab at the same time is left alone.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::leftovers::{remove_cgroup, Owner, LAB_VAR, RUN_ID_VAR};
use super::procfs;

/// How long the lab waits, as it ends, for its guard to find nothing left
/// and exit.
const WAIT_FOR_GUARD: Duration = Duration::from_secs(10);

/// The lab's side: the guard process and the pipe's write end.
#[derive(Debug)]
pub struct Guard {
    child: Child,
    pipe: Option<File>,
    /// Whether a write failed (the guard died): said once.
    broken: bool,
}

impl Guard {
    /// Starts `exe guard` for `run_id` and the lab `owner` (this process).
    pub fn start(exe: &Path, run_id: &str, owner: Owner) -> io::Result<Guard> {
        let mut ends = [0; 2];
        // SAFETY: pipe2 fills the two descriptors it returns, each owned
        // once below.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are new and owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(ends[0]), File::from_raw_fd(ends[1])) };
        let lab = owner.to_string();
        let mut command = Command::new(exe);
        command
            .args(["guard", "--run-id", run_id, "--lab", lab.as_str()])
            .env_remove(RUN_ID_VAR)
            .env_remove(LAB_VAR)
            .stdin(Stdio::from(read))
            .stdout(Stdio::null());
        // SAFETY: setsid is async-signal-safe. In a session of its own the
        // guard gets none of the signals a terminal sends the lab's group.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        Ok(Guard {
            child,
            pipe: Some(write),
            broken: false,
        })
    }

    /// Tells the guard of a session the lab started, led by `pid`.
    pub fn watch_session(&mut self, pid: u32) {
        if let Some(ticks) = procfs::start_ticks(pid as i32) {
            self.send(&format!("session {pid} {ticks}"));
        }
    }

    /// Tells the guard of a cgroup the lab made (its directories).
    pub fn watch_cgroup(&mut self, dirs: &[PathBuf]) {
        for dir in dirs {
            self.send(&format!("cgroup {}", dir.display()));
        }
    }

    fn send(&mut self, line: &str) {
        let Some(pipe) = &mut self.pipe else { return };
        if let Err(e) = writeln!(pipe, "{line}") {
            if !self.broken {
                self.broken = true;
                eprintln!(
                    "framewut: warning: the lab's guard (PID {}) is gone ({e}): if this run is \
                     killed, the next run stops what it leaves",
                    self.child.id()
                );
            }
        }
    }
}

impl Drop for Guard {
    /// Closes the pipe, as the lab's death would, and waits for the guard
    /// to find nothing left and exit.
    fn drop(&mut self) {
        drop(self.pipe.take());
        let deadline = Instant::now() + WAIT_FOR_GUARD;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// What the lab told its guard.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Watched {
    /// Sessions: the leader's PID and start time.
    pub sessions: Vec<(i32, u64)>,
    /// Cgroup directories.
    pub cgroups: Vec<PathBuf>,
}

impl Watched {
    /// Reads the lab's lines until the pipe ends (the lab is gone).
    pub fn read(input: impl BufRead) -> Watched {
        let mut watched = Watched::default();
        for line in input.lines() {
            let Ok(line) = line else { break };
            watched.take(&line);
        }
        watched
    }

    fn take(&mut self, line: &str) {
        if let Some(path) = line.strip_prefix("cgroup ") {
            self.cgroups.push(PathBuf::from(path));
        } else if let Some(rest) = line.strip_prefix("session ") {
            if let Some((pid, ticks)) = rest.split_once(' ') {
                if let (Ok(pid), Ok(ticks)) = (pid.parse(), ticks.parse()) {
                    self.sessions.push((pid, ticks));
                }
            }
        }
    }
}

/// What a sweep stopped.
#[derive(Debug, Default)]
pub struct Swept {
    /// Processes killed: PID and command name.
    pub stopped: Vec<(u32, String)>,
    /// Those still alive after SIGKILL.
    pub survivors: Vec<u32>,
    /// Cgroups that could not be removed.
    pub kept: Vec<PathBuf>,
}

/// How many times a sweep looks again: a process may fork between a look
/// and its kill; its child is found by the next look.
const LOOKS: u32 = 5;

/// Kills what the lab `owner` of `run_id` left: the processes of
/// `watched`'s cgroups, of its sessions whose leader still runs, and every
/// process marked with the run and the lab; then removes the cgroups.
pub fn sweep(watched: &Watched, run_id: &str, owner: &str) -> Swept {
    let me = std::process::id() as i32;
    let mut swept = Swept::default();
    for _ in 0..LOOKS {
        let mut found: Vec<i32> = Vec::new();
        for dir in &watched.cgroups {
            // cgroup v2 kills all of it at once; the PIDs still name them.
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
            if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                found.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        for (sid, ticks) in &watched.sessions {
            if procfs::start_ticks(*sid) == Some(*ticks) {
                found.extend(procfs::session(*sid).iter().map(|p| p.pid));
            }
        }
        for process in procfs::all() {
            let pid = process.pid;
            if procfs::env_value(pid, RUN_ID_VAR).as_deref() == Some(run_id)
                && procfs::env_value(pid, LAB_VAR).as_deref() == Some(owner)
            {
                found.push(pid);
            }
        }
        found.sort_unstable();
        found.dedup();
        found.retain(|pid| *pid != me && procfs::stat(*pid).is_some_and(|p| !p.is_zombie()));
        if found.is_empty() {
            break;
        }
        for pid in &found {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|n| n.trim().to_string())
                .unwrap_or_default();
            swept.stopped.push((*pid as u32, name));
        }
        let pids: Vec<u32> = found.iter().map(|p| *p as u32).collect();
        swept.survivors = procfs::kill_pids(&pids, Duration::from_secs(2));
    }
    for dir in &watched.cgroups {
        if !remove_cgroup(dir) {
            swept.kept.push(dir.clone());
        }
    }
    swept
}

/// `framewut guard`: waits for the lab to end, then sweeps and says what
/// it stopped, if anything.
pub fn serve(input: impl BufRead, run_id: &str, owner: &str) -> Swept {
    let watched = Watched::read(input);
    let swept = sweep(&watched, run_id, owner);
    let mut err = io::stderr().lock();
    if !swept.stopped.is_empty() {
        let list: Vec<String> = swept
            .stopped
            .iter()
            .map(|(pid, name)| format!("{pid} ({name})"))
            .collect();
        let _ = writeln!(
            err,
            "framewut: the lab of run {run_id} ended without stopping what it started; its guard stopped {}: {}",
            if list.len() == 1 { "1 process".to_string() } else { format!("{} processes", list.len()) },
            list.join(", ")
        );
    }
    if !swept.survivors.is_empty() {
        let _ = writeln!(
            err,
            "framewut: processes {:?} of run {run_id} survived SIGKILL",
            swept.survivors
        );
    }
    for dir in &swept.kept {
        let _ = writeln!(
            err,
            "framewut: the cgroup {} of run {run_id} could not be removed",
            dir.display()
        );
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_lab_said_until_the_pipe_ends() {
        let text = "session 12 3456\ncgroup /sys/fs/cgroup/a b\nnonsense\nsession x 1\n";
        assert_eq!(
            Watched::read(text.as_bytes()),
            Watched {
                sessions: vec![(12, 3456)],
                cgroups: vec![PathBuf::from("/sys/fs/cgroup/a b")],
            }
        );
    }

    /// A process this lab marked, and its child that left the session
    /// (as a daemon does), are stopped; one marked by another lab of the
    /// same run is left alone.
    #[test]
    fn sweeps_what_the_lab_marked_and_only_that() {
        let run = format!("guard-test-{}", std::process::id());
        let me = Owner::this().to_string();
        let spawn = |lab: &str| {
            Command::new("sh")
                .args(["-c", "setsid sleep 60 & exec sleep 60"])
                .env(RUN_ID_VAR, &run)
                .env(LAB_VAR, lab)
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut ours = spawn(&me);
        let mut theirs = spawn("lab1.1");
        let marked = |lab: &str| {
            procfs::all()
                .into_iter()
                .filter(|p| !p.is_zombie())
                .filter(|p| {
                    procfs::env_value(p.pid, RUN_ID_VAR).as_deref() == Some(run.as_str())
                        && procfs::env_value(p.pid, LAB_VAR).as_deref() == Some(lab)
                })
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while (marked(&me) < 2 || marked("lab1.1") < 2) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let swept = sweep(&Watched::default(), &run, &me);
        assert_eq!(swept.stopped.len(), 2, "{swept:?}");
        assert!(swept.survivors.is_empty());
        assert_eq!(marked(&me), 0);
        assert_eq!(marked("lab1.1"), 2, "another lab's processes stay");
        // Killed, and reaped by the sweep: nothing is left to wait for.
        let _ = ours.wait();
        let swept = sweep(&Watched::default(), &run, "lab1.1");
        assert_eq!(swept.stopped.len(), 2, "{swept:?}");
        let _ = theirs.wait();
    }
}
