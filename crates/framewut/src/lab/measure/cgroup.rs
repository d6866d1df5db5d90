//! A cgroup for each process tree the lab measures (a stack, the upstream,
//! PostgreSQL), where the machine lets the lab make one.
//!
//! Sampling /proc every 100 ms misses the CPU of processes that lived
//! between two samples and cannot see a daemon that left the stack's
//! session. A cgroup has neither gap: every process started in it stays in
//! it whatever it does with its session, and the kernel counts their CPU
//! time exactly (cgroup v1 `cpuacct.usage`, v2 `cpu.stat`'s `usage_usec`).
//! The lab makes its cgroups under the ones it runs in itself, so whatever
//! limits those carry still hold for what it starts. Where none can be made
//! (no root, no cgroup file system, `FRAMEWUT_CGROUP=off`), the lab falls
//! back to /proc and says so in each trial.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Setting this variable to `off` keeps the lab from making cgroups.
pub const SWITCH_VAR: &str = "FRAMEWUT_CGROUP";

/// How a process tree's CPU time was measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A cgroup v1 `cpuacct` hierarchy's `cpuacct.usage`.
    CgroupV1,
    /// A cgroup v2 `cpu.stat`'s `usage_usec`.
    CgroupV2,
    /// The sum of the processes' times sampled from `/proc/PID/stat`.
    #[default]
    Proc,
    // A server on another host, which the lab does not start.
    /// A Prometheus endpoint's CPU counter, read before and after the window
    /// (see [`crate::lab::measure::metrics`]).
    Prometheus,
    /// Not measured: a remote server with no metrics endpoint, or one that
    /// could not be read (the note says which).
    Unmeasured,
}

/// Where this machine lets the lab make cgroups: the directories of the
/// cgroups this process is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    method: Method,
    /// The v2 cgroup, or the v1 `cpuacct` hierarchy's.
    cpu: PathBuf,
    /// The v1 `memory` hierarchy's, when there is one.
    memory: Option<PathBuf>,
}

/// The path of this process's cgroup in the hierarchy whose controllers
/// include `controller` (the v2 hierarchy for ""), from `/proc/self/cgroup`
/// text, without its leading `/`.
fn own_path(own: &str, controller: &str) -> Option<String> {
    own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let found = if controller.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        found.then(|| path.trim_start_matches('/').to_string())
    })
}

impl Layout {
    /// The directories the lab makes its cgroups in.
    pub fn parents(&self) -> Vec<PathBuf> {
        std::iter::once(&self.cpu)
            .chain(&self.memory)
            .cloned()
            .collect()
    }

    /// This machine's, under `/sys/fs/cgroup`; the reason when there is none.
    pub fn detect() -> Result<Layout, CgroupError> {
        if std::env::var(SWITCH_VAR).is_ok_and(|v| v == "off") {
            return Err(CgroupError::TurnedOff);
        }
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| CgroupError::OwnUnreadable(Arc::new(e)))?;
        Layout::find(Path::new("/sys/fs/cgroup"), &own)
    }

    /// The layout under `root` for a process whose `/proc/self/cgroup` reads
    /// `own`: cgroup v2 when `root` is a v2 hierarchy, else v1's `cpuacct`
    /// (with `memory` beside it if present). A hybrid machine (v1
    /// controllers plus an empty v2 hierarchy) uses v1, where the
    /// controllers are.
    pub fn find(root: &Path, own: &str) -> Result<Layout, CgroupError> {
        if root.join("cgroup.controllers").exists() {
            let path = own_path(own, "").ok_or(CgroupError::NoOwnLine("cgroup v2"))?;
            return Ok(Layout {
                method: Method::CgroupV2,
                cpu: root.join(path),
                memory: None,
            });
        }
        let cpuacct = root.join("cpuacct");
        if cpuacct.join("cpuacct.usage").exists() {
            let path = own_path(own, "cpuacct").ok_or(CgroupError::NoOwnLine("cpuacct"))?;
            let memory = own_path(own, "memory")
                .map(|p| root.join("memory").join(p))
                .filter(|dir| dir.join("memory.max_usage_in_bytes").exists());
            return Ok(Layout {
                method: Method::CgroupV1,
                cpu: cpuacct.join(path),
                memory,
            });
        }
        Err(CgroupError::NoHierarchy(root.to_path_buf()))
    }
}

/// Why the lab can make no cgroup, or not this one. Cloned into every cell
/// that runs without one, as the reason its CPU came from /proc instead.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroups turned off by {SWITCH_VAR}=off")]
    TurnedOff,
    #[error("cannot read /proc/self/cgroup: {0}")]
    OwnUnreadable(#[source] Arc<io::Error>),
    /// `/proc/self/cgroup` has no line for the hierarchy there is.
    #[error("no {0} line in /proc/self/cgroup")]
    NoOwnLine(&'static str),
    #[error("no cgroup v2 hierarchy at {root} and no v1 cpuacct hierarchy at {root}/cpuacct", root = .0.display())]
    NoHierarchy(PathBuf),
    #[error("cannot make the cgroup {}: {source}", .dir.display())]
    Create {
        dir: PathBuf,
        #[source]
        source: Arc<io::Error>,
    },
    /// A process already running (a server's daemon) could not be moved in.
    #[error("cannot move {what} into its cgroup: {source}")]
    Move {
        what: &'static str,
        #[source]
        source: Arc<io::Error>,
    },
}

/// One cgroup the lab made; removed when dropped, after killing anything
/// still in it.
#[derive(Debug)]
pub struct Cgroup {
    method: Method,
    /// The directories made: the CPU one first, then v1's memory one.
    dirs: Vec<PathBuf>,
}

/// The peak memory of a cgroup over a window, from a reset at its start.
#[derive(Debug)]
pub enum MemoryWatch {
    /// v1's `memory.max_usage_in_bytes`, reset by writing 0 to it.
    V1(PathBuf),
    /// v2's `memory.peak`: a write resets it for the file handle that wrote
    /// (Linux 6.12 on), which then reads the peak since.
    V2(File),
}

impl MemoryWatch {
    /// The peak, in bytes, since the watch began.
    pub fn peak(&mut self) -> Option<u64> {
        let text = match self {
            MemoryWatch::V1(path) => fs::read_to_string(path).ok()?,
            MemoryWatch::V2(file) => {
                let mut text = String::new();
                file.rewind().ok()?;
                file.read_to_string(&mut text).ok()?;
                text
            }
        };
        text.trim().parse().ok()
    }
}

impl Cgroup {
    /// Makes the cgroup `name` in every hierarchy of `layout`; on any
    /// failure removes what it made and says why.
    pub fn create(layout: &Layout, name: &str) -> Result<Cgroup, CgroupError> {
        let mut cgroup = Cgroup {
            method: layout.method,
            dirs: Vec::new(),
        };
        for parent in std::iter::once(&layout.cpu).chain(&layout.memory) {
            let dir = parent.join(name);
            fs::create_dir(&dir).map_err(|e| CgroupError::Create {
                dir: dir.clone(),
                source: Arc::new(e),
            })?;
            cgroup.dirs.push(dir);
        }
        Ok(cgroup)
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// Its directories: the CPU one, then v1's memory one.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn cpu_dir(&self) -> &Path {
        &self.dirs[0]
    }

    /// The CPU time of every process that has been in it, exited ones
    /// included.
    pub fn usage(&self) -> Option<Duration> {
        match self.method {
            Method::CgroupV1 => {
                let text = fs::read_to_string(self.cpu_dir().join("cpuacct.usage")).ok()?;
                Some(Duration::from_nanos(text.trim().parse().ok()?))
            }
            Method::CgroupV2 => {
                let text = fs::read_to_string(self.cpu_dir().join("cpu.stat")).ok()?;
                let usec = text
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))?
                    .trim()
                    .parse()
                    .ok()?;
                Some(Duration::from_micros(usec))
            }
            Method::Proc | Method::Prometheus | Method::Unmeasured => None,
        }
    }

    /// Of [`Cgroup::usage`], the time in user mode and in the kernel: v2's
    /// `cpu.stat` (`user_usec`, `system_usec`), v1's `cpuacct.usage_user`
    /// and `cpuacct.usage_sys`.
    pub fn usage_split(&self) -> Option<(Duration, Duration)> {
        match self.method {
            Method::CgroupV1 => {
                let read = |file: &str| -> Option<Duration> {
                    let text = fs::read_to_string(self.cpu_dir().join(file)).ok()?;
                    Some(Duration::from_nanos(text.trim().parse().ok()?))
                };
                Some((read("cpuacct.usage_user")?, read("cpuacct.usage_sys")?))
            }
            Method::CgroupV2 => {
                let text = fs::read_to_string(self.cpu_dir().join("cpu.stat")).ok()?;
                let field = |name: &str| -> Option<Duration> {
                    let usec = text.lines().find_map(|l| l.strip_prefix(name))?;
                    Some(Duration::from_micros(usec.trim().parse().ok()?))
                };
                Some((field("user_usec ")?, field("system_usec ")?))
            }
            Method::Proc | Method::Prometheus | Method::Unmeasured => None,
        }
    }

    /// Starts watching the peak memory, where the cgroup can say it.
    pub fn watch_memory(&self) -> Option<MemoryWatch> {
        match self.method {
            Method::CgroupV1 => {
                let path = self.dirs.get(1)?.join("memory.max_usage_in_bytes");
                fs::write(&path, "0").ok()?;
                Some(MemoryWatch::V1(path))
            }
            Method::CgroupV2 => {
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(self.cpu_dir().join("memory.peak"))
                    .ok()?;
                file.write_all(b"reset\n").ok()?;
                Some(MemoryWatch::V2(file))
            }
            Method::Proc | Method::Prometheus | Method::Unmeasured => None,
        }
    }

    /// The PIDs of the processes in it now.
    pub fn procs(&self) -> Vec<i32> {
        fs::read_to_string(self.cpu_dir().join("cgroup.procs"))
            .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Its `cgroup.procs` files, opened for writing, so a child can join it
    /// between fork and exec with a bare `write` (see [`join_self`]).
    pub fn procs_files(&self) -> io::Result<Vec<File>> {
        self.dirs
            .iter()
            .map(|dir| {
                OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))
            })
            .collect()
    }

    /// Moves process `pid` (and, from then on, whatever it starts) into it.
    pub fn add(&self, pid: i32) -> io::Result<()> {
        for dir in &self.dirs {
            fs::write(dir.join("cgroup.procs"), pid.to_string())?;
        }
        Ok(())
    }

    /// Kills every process still in it, by PID, and waits up to `limit`
    /// for them to go; returns the PIDs it killed.
    pub fn kill_remaining(&self, limit: Duration) -> Vec<u32> {
        let killed: Vec<u32> = self.procs().into_iter().map(|p| p as u32).collect();
        if !killed.is_empty() {
            super::procfs::kill_pids(&killed, limit);
        }
        killed
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // One whose first directory could not be made holds nothing.
        if self.dirs.is_empty() {
            return;
        }
        self.kill_remaining(Duration::from_secs(2));
        // A cgroup can be removed once its last process is gone; the kernel
        // may take a moment after the exit to let go of it.
        let deadline = Instant::now() + Duration::from_secs(1);
        for dir in self.dirs.iter().rev() {
            while fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The variable naming why this machine can make no cgroup. The tests of
/// the cgroup path require one unless it is set; `.ci/run` checks the
/// machine and refuses both a missing reason and a needless one.
#[cfg(test)]
pub const TEST_NO_CGROUP_VAR: &str = "FRAMEWUT_TEST_NO_CGROUP";

/// A cgroup a test made, or `None` where [`TEST_NO_CGROUP_VAR`] gives the
/// reason this machine has none; fails the test otherwise.
#[cfg(test)]
pub fn required_in_tests<T>(made: Result<T, CgroupError>) -> Option<T> {
    match made {
        Ok(made) => Some(made),
        Err(why) => match std::env::var(TEST_NO_CGROUP_VAR) {
            Ok(reason) if !reason.trim().is_empty() => {
                eprintln!("no cgroup ({why}), as {TEST_NO_CGROUP_VAR} says: {reason}");
                None
            }
            _ => panic!(
                "cannot make a cgroup here ({why}), and the tests of the lab's cgroup path need \
                 one: run them as root with cgroup v1 or v2, or, where this machine truly has \
                 none, set {TEST_NO_CGROUP_VAR} to the reason"
            ),
        },
    }
}

/// Writes this process's PID into each of `fds` (`cgroup.procs` files):
/// for a child between fork and exec, one `getpid` and a `write` per file,
/// nothing allocated.
pub fn join_self(fds: &[i32]) -> io::Result<()> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let mut digits = [0u8; 12];
    let mut at = digits.len();
    let mut n = pid.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let text = &digits[at..];
    for fd in fds {
        // SAFETY: writes from a live buffer to a descriptor the caller owns.
        let written = unsafe { libc::write(*fd, text.as_ptr().cast(), text.len()) };
        if written < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// `/proc/self/cgroup` on a hybrid machine: v1 controllers, each in its
    /// own hierarchy, and an empty v2 one.
    const HYBRID: &str = "9:name=systemd:/
8:pids:/
4:memory:/process_api/c3179d
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn finds_each_hierarchys_own_cgroup() {
        assert_eq!(own_path(HYBRID, "cpuacct").as_deref(), Some(""));
        assert_eq!(
            own_path(HYBRID, "memory").as_deref(),
            Some("process_api/c3179d")
        );
        assert_eq!(own_path(HYBRID, "").as_deref(), Some(""));
        assert_eq!(
            own_path("5:cpu,cpuacct:/user.slice\n", "cpuacct").as_deref(),
            Some("user.slice")
        );
        assert_eq!(own_path("0::/a/b\n", "cpuacct"), None);
        let none = Layout::find(Path::new("/nonexistent"), HYBRID).unwrap_err();
        assert!(none.to_string().contains("no cgroup v2"), "{none}");
    }

    /// Runs a busy child in a new cgroup under `layout` and checks what the
    /// cgroup counted.
    fn measures_a_busy_child(layout: Result<Layout, CgroupError>, method: Method) {
        let name = format!("framewut-test-{:?}-{}", method, std::process::id());
        let Some(cgroup) = required_in_tests(layout.and_then(|l| Cgroup::create(&l, &name))) else {
            return;
        };
        assert_eq!(cgroup.method(), method);
        let mut memory = cgroup.watch_memory();
        let before = cgroup.usage().expect("a usage");
        // Joins before exec, so the memory exec maps is charged to it.
        let files = cgroup.procs_files().unwrap();
        let fds: Vec<i32> = files.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
        let mut command = Command::new("sh");
        command.args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]);
        // SAFETY: join_self only calls getpid and write.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || join_self(&fds));
        }
        let mut child = command.spawn().unwrap();
        drop(files);
        assert_eq!(cgroup.procs(), [child.id() as i32]);
        child.wait().unwrap();
        // And a process can be moved in while it runs.
        let mut late = Command::new("sleep").arg("5").spawn().unwrap();
        cgroup.add(late.id() as i32).unwrap();
        assert_eq!(cgroup.procs(), [late.id() as i32]);
        late.kill().unwrap();
        late.wait().unwrap();
        let used = cgroup.usage().unwrap() - before;
        assert!(
            used > Duration::from_millis(20),
            "a shell counting to 200000 used {used:?}"
        );
        if let Some(memory) = &mut memory {
            assert!(memory.peak().unwrap() > 0);
        }
        let dirs = cgroup.dirs.clone();
        drop(cgroup);
        for dir in dirs {
            assert!(!dir.exists(), "{} removed", dir.display());
        }
    }

    #[test]
    fn a_cgroup_that_cannot_be_made_is_refused_with_its_directory() {
        // As for a user who may not write the hierarchy: the first
        // directory fails, and nothing is left to stop or remove.
        let missing =
            std::env::temp_dir().join(format!("framewut-no-hierarchy-{}", std::process::id()));
        let layout = Layout {
            method: Method::CgroupV2,
            cpu: missing.clone(),
            memory: None,
        };
        match Cgroup::create(&layout, "x") {
            Err(CgroupError::Create { dir, .. }) => assert_eq!(dir, missing.join("x")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cgroup_counts_its_processes_cpu_and_is_removed() {
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        let root = Path::new("/sys/fs/cgroup");
        let method = if root.join("cgroup.controllers").exists() {
            Method::CgroupV2
        } else {
            Method::CgroupV1
        };
        measures_a_busy_child(Layout::find(root, &own), method);
        // A hybrid machine's v2 hierarchy, where there is one: v2's files.
        let unified = root.join("unified");
        if unified.join("cgroup.controllers").exists() {
            measures_a_busy_child(Layout::find(&unified, &own), Method::CgroupV2);
        }
    }

    #[test]
    fn a_child_joins_before_exec_and_leftovers_are_killed() {
        let name = format!("framewut-test-join-{}", std::process::id());
        let Some(cgroup) =
            required_in_tests(Layout::detect().and_then(|l| Cgroup::create(&l, &name)))
        else {
            return;
        };
        let files = cgroup.procs_files().unwrap();
        let fds: Vec<i32> = files.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
        let mut command = Command::new("sh");
        // The shell leaves a sleeping process that starts a session of its
        // own, then exits.
        command.args(["-c", "setsid sleep 30 & exit 0"]);
        // SAFETY: join_self only calls getpid and write.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || join_self(&fds));
        }
        let mut child = command.spawn().unwrap();
        drop(files);
        child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while cgroup.procs().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left = cgroup.procs();
        assert_eq!(left.len(), 1, "the daemon stays in the cgroup: {left:?}");
        assert_eq!(
            cgroup.kill_remaining(Duration::from_secs(2)),
            [left[0] as u32]
        );
        assert!(cgroup.procs().is_empty());
    }
}
