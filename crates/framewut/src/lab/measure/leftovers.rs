//! What a dead run left behind, found and stopped by the next one.
//!
//! Every process the lab starts carries the run's id
//! ([`RUN_ID_VAR`]) and the lab process that
//! started it ([`LAB_VAR`]: its PID and start time, which name it for good
//! where a PID may be reused) in its environment, and every cgroup the lab
//! makes is named `framewut-<run id>-<role>-<n>-<lab>`. A lab killed with
//! SIGKILL cannot stop anything: its direct children die with it (they ask
//! for SIGKILL when their parent dies), but a daemon they started lives on.
//! So a new run, or `--resume`, looks for processes marked by a lab that is
//! no longer alive, stops them, says so, and removes the dead labs' empty
//! cgroups. Only processes that carry a run id are ever stopped, and never
//! those of a lab still running (another run at the same time is left alone).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cgroup::Layout;
use super::procfs;

/// The variable every process the lab starts carries, with the run's id.
pub const RUN_ID_VAR: &str = "FRAMEWUT_RUN_ID";

/// The variable naming the lab process that started a process.
pub const LAB_VAR: &str = "FRAMEWUT_LAB";

/// One lab process, named for good: its PID and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pid: i32,
    started: u64,
}

impl Owner {
    /// This process.
    pub fn this() -> Owner {
        let pid = std::process::id() as i32;
        Owner {
            pid,
            started: procfs::start_ticks(pid).unwrap_or(0),
        }
    }

    /// Reads `lab<PID>.<start ticks>`, as [`Owner`]'s `Display` writes it.
    pub fn parse(text: &str) -> Option<Owner> {
        let (pid, started) = text.strip_prefix("lab")?.split_once('.')?;
        Some(Owner {
            pid: pid.parse().ok()?,
            started: started.parse().ok()?,
        })
    }

    /// Whether that very process still runs.
    pub fn alive(self) -> bool {
        procfs::start_ticks(self.pid) == Some(self.started)
            && procfs::stat(self.pid).is_some_and(|p| !p.is_zombie())
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lab{}.{}", self.pid, self.started)
    }
}

/// Whether the lab that marked something with `run_id` (and `owner`, where
/// it named itself) is gone. A mark without an owner is judged by the run
/// id, which ends in the PID of the lab that began the run: gone when that
/// PID is. A PID reused since keeps such a leftover alive, never the reverse.
fn orphaned(run_id: &str, owner: Option<&str>) -> bool {
    match owner.and_then(Owner::parse) {
        Some(owner) => !owner.alive(),
        None => run_id
            .rsplit('-')
            .next()
            .and_then(|pid| pid.parse::<i32>().ok())
            .is_some_and(|pid| procfs::stat(pid).is_none_or(|p| p.is_zombie())),
    }
}

/// The run id and owner in the name of a cgroup the lab made:
/// `framewut-<run id>-<role>-<n>-<lab>`, or without `-<lab>` from an
/// earlier framewut; none for any other name.
fn cgroup_mark(name: &str) -> Option<(&str, Option<&str>)> {
    let rest = name.strip_prefix("framewut-")?;
    let (front, owner) = match rest.rsplit_once('-') {
        Some((front, last)) if Owner::parse(last).is_some() => (front, Some(last)),
        _ => (rest, None),
    };
    let mut parts = front.rsplitn(3, '-');
    let (_n, _role, run_id) = (parts.next()?, parts.next()?, parts.next()?);
    Some((run_id, owner))
}

/// The PIDs of this process and its ancestors, never to be stopped.
fn lineage() -> Vec<i32> {
    let mut pids = vec![std::process::id() as i32];
    while let Some(parent) = procfs::stat(*pids.last().expect("one at least")).map(|p| p.ppid) {
        if parent <= 0 || pids.contains(&parent) {
            break;
        }
        pids.push(parent);
    }
    pids
}

/// What a clean-up found and did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Processes of dead labs, stopped: PID, run id, command name.
    pub stopped: Vec<(u32, String, String)>,
    /// Those still alive after SIGKILL.
    pub survivors: Vec<u32>,
    /// Dead labs' cgroups removed.
    pub removed: Vec<PathBuf>,
    /// Dead labs' cgroups that could not be removed: they still hold
    /// processes that carry no run id, which are left alone.
    pub kept: Vec<PathBuf>,
    /// Data directories of throwaway PostgreSQL servers whose maker died
    /// (the server itself died with it), removed.
    pub pg_dirs: Vec<PathBuf>,
}

impl Cleanup {
    /// One line for each thing done, for stderr.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.stopped.is_empty() {
            let list: Vec<String> = self
                .stopped
                .iter()
                .map(|(pid, run, name)| format!("{pid} ({name}, run {run})"))
                .collect();
            lines.push(format!(
                "stopped {} process{} left running by a run that died: {}",
                list.len(),
                if list.len() == 1 { "" } else { "es" },
                list.join(", ")
            ));
        }
        if !self.survivors.is_empty() {
            lines.push(format!(
                "processes {:?} left by a run that died survived SIGKILL",
                self.survivors
            ));
        }
        for dir in &self.removed {
            lines.push(format!(
                "removed the cgroup {} left by a run that died",
                dir.display()
            ));
        }
        for dir in &self.pg_dirs {
            lines.push(format!(
                "removed {}, the data of a throwaway PostgreSQL whose maker died",
                dir.display()
            ));
        }
        for dir in &self.kept {
            lines.push(format!(
                "the cgroup {} of a run that died still holds processes that carry no run id; they were left alone",
                dir.display()
            ));
        }
        lines
    }
}

/// Stops every process whose lab is gone and removes the gone labs'
/// cgroups under `cgroup_parents` (where this lab makes its own).
pub fn clean_up(cgroup_parents: &[PathBuf]) -> Cleanup {
    let keep = lineage();
    let mut cleanup = Cleanup::default();
    for process in procfs::all() {
        if process.is_zombie() || keep.contains(&process.pid) {
            continue;
        }
        let Some(run) = procfs::env_value(process.pid, RUN_ID_VAR) else {
            continue;
        };
        if orphaned(&run, procfs::env_value(process.pid, LAB_VAR).as_deref()) {
            let name = std::fs::read_to_string(format!("/proc/{}/comm", process.pid))
                .map(|n| n.trim().to_string())
                .unwrap_or_default();
            cleanup.stopped.push((process.pid as u32, run, name));
        }
    }
    let pids: Vec<u32> = cleanup.stopped.iter().map(|(pid, ..)| *pid).collect();
    if !pids.is_empty() {
        cleanup.survivors = procfs::kill_pids(&pids, Duration::from_secs(3));
    }
    for parent in cgroup_parents {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some((run, owner)) = name.to_str().and_then(cgroup_mark) else {
                continue;
            };
            if orphaned(run, owner) {
                if remove_cgroup(&entry.path()) {
                    cleanup.removed.push(entry.path());
                } else {
                    cleanup.kept.push(entry.path());
                }
            }
        }
    }
    for dir in framewut_stacks::db::orphaned_pg_dirs() {
        if std::fs::remove_dir_all(&dir).is_ok() {
            cleanup.pg_dirs.push(dir);
        }
    }
    cleanup
}

/// Removes an empty cgroup, giving the kernel a moment to let go of
/// processes just killed; false when it still holds some.
pub fn remove_cgroup(dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Cleans up after dead runs before this one starts: where this machine
/// lets the lab make cgroups, under the same parents.
pub fn before_run() -> Cleanup {
    let parents = Layout::detect().map_or_else(|_| Vec::new(), |l| l.parents());
    clean_up(&parents)
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    #[test]
    fn an_owner_names_one_process_for_good() {
        let me = Owner::this();
        assert!(me.alive());
        assert_eq!(Owner::parse(&me.to_string()), Some(me));
        let later = Owner {
            started: me.started + 1,
            ..me
        };
        assert!(
            !later.alive(),
            "the same PID started later is another process"
        );
        assert_eq!(Owner::parse("lab12"), None);
        assert_eq!(Owner::parse("12.34"), None);
    }

    #[test]
    fn reads_the_marks_in_cgroup_names() {
        assert_eq!(
            cgroup_mark("framewut-2026-01-02T030405Z-77-stack-3-lab77.123"),
            Some(("2026-01-02T030405Z-77", Some("lab77.123")))
        );
        assert_eq!(
            cgroup_mark("framewut-2026-01-02T030405Z-77-upstream-12"),
            Some(("2026-01-02T030405Z-77", None))
        );
        assert_eq!(cgroup_mark("user.slice"), None);
        assert_eq!(cgroup_mark("framewut-x"), None);
    }

    /// A process marked by a lab that is gone is stopped; one marked by a
    /// live lab, or with no mark, is left alone.
    #[test]
    fn stops_only_what_a_dead_lab_left() {
        let mut gone = Command::new("true").spawn().unwrap();
        let dead_pid = gone.id();
        gone.wait().unwrap();
        let dead_run = format!("2020-01-01T000000Z-{dead_pid}");
        let sleep = |vars: &[(&str, String)]| {
            Command::new("sleep")
                .arg("60")
                .envs(vars.iter().map(|(k, v)| (*k, v.clone())))
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut orphan = sleep(&[(RUN_ID_VAR, dead_run.clone())]);
        let live_run = format!("2020-01-01T000000Z-{}", std::process::id());
        let resumed = sleep(&[
            (RUN_ID_VAR, dead_run.clone()),
            (LAB_VAR, Owner::this().to_string()),
        ]);
        let live = sleep(&[(RUN_ID_VAR, live_run)]);
        let unmarked = sleep(&[]);
        let cleanup = clean_up(&[]);
        let stopped: Vec<u32> = cleanup.stopped.iter().map(|(pid, ..)| *pid).collect();
        assert!(stopped.contains(&orphan.id()), "{cleanup:?}");
        for other in [&resumed, &live, &unmarked] {
            assert!(!stopped.contains(&other.id()), "{cleanup:?}");
        }
        // Killed, and reaped by the clean-up, so no child is left to wait for.
        assert_eq!(procfs::stat(orphan.id() as i32), None, "the orphan is gone");
        assert!(orphan.wait().is_err());
        for mut other in [resumed, live, unmarked] {
            assert!(other.try_wait().unwrap().is_none());
            other.kill().unwrap();
            other.wait().unwrap();
        }
        let line = &cleanup.lines()[0];
        assert!(
            line.contains(&format!("{} (sleep, run {dead_run})", orphan.id())),
            "{line}"
        );
    }
}
