//! The little of /proc the lab reads: each process's parent, group, session,
//! state, CPU time, page faults, context switches, resident memory and
//! environment; and killing processes by PID until it says they are gone.

use std::time::{Duration, Instant};

/// One process as `/proc/PID/stat` and `/proc/PID/statm` describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub ppid: i32,
    pub session: i32,
    /// `R`, `S`, `D`, `Z` (zombie: exited, not yet reaped), ...
    pub state: char,
    /// User plus system CPU time of the process (all its threads), in clock
    /// ticks. Reaped children's time is left out: the sampler has already
    /// counted a child while it lived.
    pub cpu_ticks: u64,
    /// Of `cpu_ticks`, those spent in the kernel on the process's behalf.
    pub system_ticks: u64,
    /// Page faults of the process (all its threads), minor and major: each
    /// a trip into the kernel to map a page, most of them a fresh page
    /// zeroed for memory just allocated. Reaped children's are left out.
    pub page_faults: u64,
}

impl ProcStat {
    /// Whether the process has exited and only waits to be reaped.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parses the text of `/proc/PID/stat`. The command name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat(pid: i32, text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // Fields from 3 (state) on; field N is at index N - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |n: usize| fields.get(n - 3)?.parse::<i64>().ok();
    let ticks = [14, 15]
        .iter()
        .map(|n| num(*n).map(|v| v.max(0) as u64))
        .sum::<Option<u64>>()?;
    Some(ProcStat {
        pid,
        ppid: num(4)? as i32,
        session: num(6)? as i32,
        state: fields.first()?.chars().next()?,
        cpu_ticks: ticks,
        system_ticks: num(15)?.max(0) as u64,
        page_faults: [10, 12]
            .iter()
            .map(|n| num(*n).map(|v| v.max(0) as u64))
            .sum::<Option<u64>>()?,
    })
}

/// Reads one process; `None` if it is gone.
pub fn stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

/// Every process now alive (zombies included).
pub fn all() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// The processes of one session (a stack started with `setsid` is a session
/// whose id is its own PID; every process it starts stays in it).
pub fn session(sid: i32) -> Vec<ProcStat> {
    all().into_iter().filter(|p| p.session == sid).collect()
}

/// `root` and its descendants among `all` (PostgreSQL's server and the
/// backends it forks, which stay in the session of whoever started it).
pub fn tree(all: &[ProcStat], root: i32) -> Vec<ProcStat> {
    let mut found: Vec<ProcStat> = all.iter().filter(|p| p.pid == root).copied().collect();
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].pid;
        found.extend(all.iter().filter(|p| p.ppid == parent && p.pid != root));
        i += 1;
    }
    found
}

/// Live processes whose environment holds `var` exactly (`NAME=value`):
/// the lab marks everything it starts with the run's id, so this finds a
/// daemon that left its session.
pub fn with_env(var: &str) -> Vec<i32> {
    all()
        .into_iter()
        .filter(|p| !p.is_zombie())
        .map(|p| p.pid)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == var.as_bytes()))
        })
        .collect()
}

/// The value of the variable `name` in a process's environment as it was
/// started; `None` if it has none, is gone, or is not ours to read.
pub fn env_value(pid: i32, name: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0).find_map(|var| {
        let value = var.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

/// When a process started, in clock ticks since boot (`/proc/PID/stat`'s
/// field 22): with its PID, it names one process for good, where a PID
/// alone may be reused.
pub fn start_ticks(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// The context switches of every thread of a process now alive, summed
/// from `/proc/PID/task/TID/status`: voluntary (it waited: for I/O, a lock,
/// a sleep) and involuntary (the scheduler took its CPU). `None` if it is
/// gone.
pub fn switches(pid: i32) -> Option<(u64, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut sum = (0, 0);
    for task in tasks.filter_map(Result::ok) {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let (voluntary, involuntary) = parse_switches(&status);
        sum.0 += voluntary;
        sum.1 += involuntary;
    }
    Some(sum)
}

/// A `status` file's voluntary and involuntary context switches (0 where
/// a line is missing).
pub fn parse_switches(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

/// Resident memory of a process in bytes (`/proc/PID/statm`'s second field).
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// The length of one clock tick, the unit of CPU times in `/proc`.
pub fn tick() -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Duration::from_secs(1) / if hz > 0 { hz as u32 } else { 100 }
}

/// Kills processes by PID (leftovers found outside a group, such as a
/// daemon that left its session) with SIGKILL, reaps those handed to this
/// process, and waits up to `limit` for them to go; returns those still
/// alive.
pub fn kill_pids(pids: &[u32], limit: Duration) -> Vec<u32> {
    for pid in pids {
        // SAFETY: kill on one PID; a PID already gone is ESRCH, harmless.
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + limit;
    loop {
        for pid in pids {
            // SAFETY: waitpid on one PID, never blocking; one that is not
            // our child is ECHILD, harmless.
            unsafe {
                libc::waitpid(*pid as i32, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|pid| stat(*pid as i32).is_some_and(|p| !p.is_zombie()))
            .collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_whose_name_has_spaces_and_parens() {
        let line = "4242 (my (odd) srv) S 4200 4242 4242 0 -1 4194560 100 0 7 0 250 40 3 2 20 0 4 0 123 1000000 500 18446744073709551615";
        let stat = parse_stat(4242, line).unwrap();
        assert_eq!((stat.ppid, stat.session, stat.state), (4200, 4242, 'S'));
        assert_eq!(stat.cpu_ticks, 250 + 40);
        assert_eq!(stat.system_ticks, 40);
        assert_eq!(stat.page_faults, 100 + 7);
        assert!(!stat.is_zombie());
        assert!(parse_stat(1, "1 (x) Z").is_none());
    }

    #[test]
    fn a_tree_is_a_process_and_its_descendants() {
        let p = |pid, ppid| ProcStat {
            pid,
            ppid,
            session: 1,
            state: 'S',
            cpu_ticks: 0,
            system_ticks: 0,
            page_faults: 0,
        };
        let all = [p(1, 0), p(10, 1), p(11, 10), p(12, 10), p(13, 11), p(20, 1)];
        let pids: Vec<i32> = tree(&all, 10).iter().map(|p| p.pid).collect();
        assert_eq!(pids, [10, 11, 12, 13]);
        assert!(tree(&all, 99).is_empty());
    }

    #[test]
    fn reads_the_switches_of_a_status_file_and_of_every_thread() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(parse_switches(status), (12, 3));
        assert_eq!(parse_switches("Name:\tx\n"), (0, 0));
        let me = std::process::id() as i32;
        let before = switches(me).unwrap();
        // A second thread that sleeps ten times switches at least ten times,
        // and is counted while it lives.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(1));
            }
            tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        rx.recv().unwrap();
        let after = switches(me).unwrap();
        done_tx.send(()).unwrap();
        sleeper.join().unwrap();
        assert!(after.0 >= before.0 + 10, "{before:?} then {after:?}");
        assert!(switches(-1).is_none());
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        let stat = stat(me).unwrap();
        assert_eq!(stat.pid, me);
        assert!(rss_bytes(me).unwrap() > 0);
        assert!(all().iter().any(|p| p.pid == me));
        assert_eq!(tick(), Duration::from_millis(10));
        let path = std::env::var("PATH").unwrap();
        assert!(with_env(&format!("PATH={path}")).contains(&me));
        assert_eq!(env_value(me, "PATH"), Some(path));
        assert_eq!(env_value(me, "FRAMEWUT_NO_SUCH_VARIABLE"), None);
        let started = start_ticks(me).unwrap();
        assert!(started > 0 && start_ticks(1).unwrap() <= started);
    }
}
