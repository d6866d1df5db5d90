//! Child processes the lab owns: each started as its own session and process
//! group, pinned to its CPUs and placed in its cgroup when it has one, its
//! output drained by threads into bounded tails, and stopped as a whole group.
//! Each dies with the lab should the lab be killed (`PR_SET_PDEATHSIG`);
//! what they start in turn is stopped by the lab's guard
//! ([`super::guard`]).
//!
//! [`Group`]'s `Drop` stops and reaps everything in the group, so no early
//! return, error or panic in the lab leaves a server behind. Output is read
//! concurrently, so a chatty server never blocks on a full pipe.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cgroup::{join_self, Cgroup};
use super::cpus::CpuSet;
use super::procfs;

/// How much of a child's stdout and stderr is kept: the last 16 KiB of each.
const TAIL_BYTES: usize = 16 * 1024;

/// How long a group has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);

/// The last bytes a stream produced.
#[derive(Debug, Default)]
pub struct Tail(Mutex<VecDeque<u8>>);

impl Tail {
    fn push(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().expect("tail lock");
        buf.extend(bytes);
        let excess = buf.len().saturating_sub(TAIL_BYTES);
        buf.drain(..excess);
    }

    /// The last `lines` lines kept, as text.
    pub fn lines(&self, lines: usize) -> String {
        let buf = self.0.lock().expect("tail lock");
        let text = String::from_utf8_lossy(buf.as_slices().0).into_owned()
            + &String::from_utf8_lossy(buf.as_slices().1);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Makes this process the reaper of orphans: a server's worker whose parent
/// died is handed to the lab, which then reaps it when stopping the group,
/// instead of leaving a zombie to an init that may never reap.
pub fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only changes a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// How a stop went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Processes of the group seen while stopping it.
    pub pids: Vec<u32>,
    /// Whether SIGTERM was not enough and SIGKILL was sent.
    pub killed: bool,
    /// Processes still alive afterwards (should always be empty).
    pub survivors: Vec<u32>,
}

/// A child running as the leader of its own session and process group.
#[derive(Debug)]
pub struct Group {
    child: Child,
    sid: i32,
    stdout: Arc<Tail>,
    stderr: Arc<Tail>,
    drains: Vec<JoinHandle<()>>,
    seen: Vec<u32>,
    stopped: Option<Stopped>,
}

impl Group {
    /// Starts `command` in a new session (so its group id is its PID), pinned
    /// to `cpus` when given, in `cgroup` when given (it joins before it
    /// runs, so everything it ever starts is in it), with stdin closed and
    /// stdout and stderr drained.
    pub fn spawn(
        mut command: Command,
        cpus: Option<&CpuSet>,
        cgroup: Option<&Cgroup>,
    ) -> std::io::Result<Group> {
        let affinity = cpus.map(CpuSet::affinity);
        // Opened here, closed in the child by exec and here after the spawn.
        let cgroup_files = match cgroup {
            Some(cgroup) => cgroup.procs_files()?,
            None => Vec::new(),
        };
        let cgroup_fds: Vec<i32> = cgroup_files
            .iter()
            .map(std::os::fd::AsRawFd::as_raw_fd)
            .collect();
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec the closure makes only async-signal-safe
        // system calls on data prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                // The child dies with the lab, even one killed with SIGKILL
                // that can stop nothing itself. The kernel sends the signal
                // when the thread that forked exits, so the lab starts its
                // servers from its main thread, which lives as long as it.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // A lab that died before the request was made sent nothing.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the lab exited while starting it"));
                }
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(affinity) = &affinity {
                    affinity.apply()?;
                }
                join_self(&cgroup_fds)
            });
        }
        let mut child = command.spawn()?;
        drop(cgroup_files);
        let stdout = Arc::new(Tail::default());
        let stderr = Arc::new(Tail::default());
        let mut drains = Vec::new();
        if let Some(out) = child.stdout.take() {
            drains.push(drain(out, Arc::clone(&stdout)));
        }
        if let Some(err) = child.stderr.take() {
            drains.push(drain(err, Arc::clone(&stderr)));
        }
        let sid = child.id() as i32;
        Ok(Group {
            child,
            sid,
            stdout,
            stderr,
            drains,
            seen: vec![sid as u32],
            stopped: None,
        })
    }

    /// The leader's PID, which is also the session and group id.
    pub fn pid(&self) -> u32 {
        self.sid as u32
    }

    /// The leader's exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of standard error.
    pub fn stderr_tail(&self) -> String {
        self.stderr.lines(20)
    }

    /// The last lines of standard output.
    pub fn stdout_tail(&self) -> String {
        self.stdout.lines(20)
    }

    /// Live processes of the group now (zombies are gone, just unreaped).
    pub fn members(&mut self) -> Vec<u32> {
        let members: Vec<procfs::ProcStat> = procfs::session(self.sid);
        for p in &members {
            if !self.seen.contains(&(p.pid as u32)) {
                self.seen.push(p.pid as u32);
            }
        }
        members
            .iter()
            .filter(|p| !p.is_zombie())
            .map(|p| p.pid as u32)
            .collect()
    }

    /// Stops the whole group: SIGTERM, then SIGKILL after `grace`; reaps the
    /// leader and any orphaned member handed to this process; waits for the
    /// output drains. Idempotent: a second call returns the first result.
    pub fn stop(&mut self, grace: Duration) -> Stopped {
        if let Some(done) = &self.stopped {
            return done.clone();
        }
        self.signal(libc::SIGTERM);
        let mut killed = false;
        if !self.wait_gone(grace) {
            killed = true;
            self.signal(libc::SIGKILL);
            self.wait_gone(Duration::from_secs(5));
        }
        let survivors = self.members();
        self.wait_drains(Duration::from_millis(500));
        let done = Stopped {
            pids: self.seen.clone(),
            killed,
            survivors,
        };
        self.stopped = Some(done.clone());
        done
    }

    /// Sends SIGINT to the whole group, as Ctrl-C would (a profiler writes
    /// its output on it), and waits up to `limit` for the leader to exit:
    /// its status, or `None` if it still runs.
    pub fn interrupt(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.signal(libc::SIGINT);
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&mut self, signal: libc::c_int) {
        // SAFETY: kill on a group id and PIDs of our own children's session.
        unsafe {
            libc::kill(-self.sid, signal);
            for pid in self.members() {
                libc::kill(pid as i32, signal);
            }
        }
    }

    /// Reaps what can be reaped until no member is alive or `limit` passes;
    /// true when none is. Once none is alive it waits, within the same
    /// limit, for the zombies to be reaped too: a grandchild whose parent
    /// died with it is handed to this process (or init) a moment later.
    fn wait_gone(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let _ = self.child.try_wait();
            self.reap_orphans();
            let dead = self.members().is_empty() && self.exited().is_some();
            if dead && (procfs::session(self.sid).is_empty() || Instant::now() >= deadline) {
                return true;
            }
            if !dead && Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reaps members that were orphaned and handed to this process.
    fn reap_orphans(&mut self) {
        let me = std::process::id() as i32;
        for p in procfs::session(self.sid) {
            if p.ppid == me && p.pid != self.sid && p.is_zombie() {
                // SAFETY: waitpid on one PID that is our own zombie child.
                unsafe {
                    libc::waitpid(p.pid, std::ptr::null_mut(), libc::WNOHANG);
                }
            }
        }
    }

    fn wait_drains(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.drains.iter().any(|d| !d.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Finished drains are joined; one held open by a process outside the
        // group is left to end on its own.
        for drain in std::mem::take(&mut self.drains) {
            if drain.is_finished() {
                let _ = drain.join();
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop(GRACE);
    }
}

/// Pins process `pid`, every thread of it and of its descendants, to
/// `cpus`, for a server the lab did not start itself (PostgreSQL); what
/// they start later inherits it. A process that exits meanwhile is passed
/// over.
pub fn pin_tree(pid: i32, cpus: &CpuSet) {
    // SAFETY: a zeroed cpu_set_t is the empty set, and CPU_SET stays
    // within it for CPUs below CPU_SETSIZE, which every CpuSet's are.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in cpus.cpus() {
            libc::CPU_SET(*cpu, &mut set);
        }
        set
    };
    for process in procfs::tree(&procfs::all(), pid) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", process.pid)) else {
            continue;
        };
        for tid in tasks.filter_map(|t| t.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
            // SAFETY: the set lives across the call; a thread gone is ESRCH.
            unsafe {
                libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
        }
    }
}

fn drain(mut stream: impl Read + Send + 'static, tail: Arc<Tail>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("framewut-drain".into())
        .spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => tail.push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        })
        .expect("spawning an output drain")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn tail_keeps_only_the_last_bytes() {
        let tail = Tail::default();
        for i in 0..5000 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(tail.lines(2), "line 4998\nline 4999");
        assert!(tail.0.lock().unwrap().len() <= TAIL_BYTES);
    }

    #[test]
    fn stops_a_whole_group_that_ignores_sigterm() {
        become_subreaper();
        let mut group = Group::spawn(
            sh("trap '' TERM; sleep 30 & sleep 30 & echo started; echo oops >&2; wait"),
            None,
            None,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group.members().len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(group.members().len(), 3);
        let stopped = group.stop(Duration::from_millis(300));
        assert!(stopped.killed, "sh ignores SIGTERM, so SIGKILL was needed");
        assert!(stopped.survivors.is_empty());
        assert!(stopped.pids.len() >= 3);
        for pid in &stopped.pids {
            assert!(procfs::stat(*pid as i32).is_none(), "{pid} remains");
        }
        assert_eq!(group.stderr_tail(), "oops");
        assert_eq!(group.stdout_tail(), "started");
    }

    #[test]
    fn interrupt_sends_sigint_and_hands_back_the_exit_status() {
        let mut group = Group::spawn(
            sh("trap 'echo interrupted; exit 3' INT; echo ready; sleep 30 & wait"),
            None,
            None,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group.stdout_tail() != "ready" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = group.interrupt(Duration::from_secs(5)).expect("sh exits");
        assert_eq!(status.code(), Some(3));
        // Stopping waits for the output drains to read the last line.
        group.stop(GRACE);
        assert_eq!(group.stdout_tail(), "ready\ninterrupted");
    }

    #[test]
    fn a_chatty_child_never_blocks_and_drop_stops_it() {
        let mut group = Group::spawn(sh("yes framewut"), None, None).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            group.exited().is_none(),
            "yes keeps writing into the drained pipe"
        );
        let pid = group.pid() as i32;
        drop(group);
        assert!(procfs::stat(pid).is_none());
    }

    /// A stack starts with no signal blocked, whatever this thread blocks
    /// (std clears the mask between fork and exec), as the leader of its own
    /// process group.
    #[test]
    fn the_child_leads_its_own_group_with_a_clean_signal_mask() {
        // SAFETY: the mask of this test's own thread, set and then restored.
        let previous = unsafe {
            let mut blocked: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut blocked);
            libc::sigaddset(&mut blocked, libc::SIGTERM);
            libc::sigaddset(&mut blocked, libc::SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &blocked, &mut previous);
            previous
        };
        let group = Group::spawn(
            sh("grep SigBlk /proc/self/status; cut -d' ' -f5 /proc/self/stat"),
            None,
            None,
        );
        // SAFETY: restores the mask saved above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        }
        let mut group = group.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        group.stop(GRACE);
        let out = group.stdout_tail();
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        assert_eq!(
            lines,
            ["SigBlk:\t0000000000000000", &group.pid().to_string()]
        );
    }

    /// The kernel kills a child when the thread that started it ends, as it
    /// does when the lab is killed: nothing of it is left to stop.
    #[test]
    fn a_child_dies_with_the_thread_that_started_it() {
        let mut group = std::thread::spawn(|| Group::spawn(sh("sleep 30"), None, None).unwrap())
            .join()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = group
            .exited()
            .expect("the child outlived its parent thread");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
    }

    #[test]
    fn pins_a_running_tree() {
        let cpus = CpuSet::new(vec![CpuSet::allowed().cpus()[0]]).unwrap();
        let mut group = Group::spawn(sh("sleep 30 & sleep 30 & wait"), None, None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group.members().len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        pin_tree(group.pid() as i32, &cpus);
        for pid in group.members() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            assert!(
                status.contains(&format!("Cpus_allowed_list:\t{cpus}\n")),
                "{pid}: {status}"
            );
        }
        group.stop(Duration::from_millis(100));
    }

    #[test]
    fn pins_the_child_to_its_cpus() {
        let cpus = CpuSet::new(vec![CpuSet::allowed().cpus()[0]]).unwrap();
        let mut group = Group::spawn(
            sh("grep Cpus_allowed_list /proc/self/status"),
            Some(&cpus),
            None,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        group.stop(GRACE);
        assert!(
            group.stdout_tail().ends_with(&format!("\t{cpus}")),
            "{}",
            group.stdout_tail()
        );
    }
}
