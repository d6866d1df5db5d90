//! Samples the process trees the lab measures (the stack, and the upstream
//! and PostgreSQL when the lab started them) while a trial runs: CPU seconds
//! summed over each tree's processes (in user mode and in the kernel), their
//! threads' context switches, the peak of their summed resident memory, and
//! the CPUs' own counters from /proc/stat.
//!
//! A tree in a cgroup is measured by the cgroup: its CPU time is the
//! kernel's exact count, and its processes are the cgroup's, a daemon that
//! left the session included. A tree without one is found in /proc (a
//! session, or a process and its descendants) and its CPU time is the sum of
//! its processes' times as last seen.
//!
//! One thread reads every tree every [`PERIOD`]; a measurement window is
//! opened and closed with exact readings, so CPU time is counted from the
//! window's first instant to its last. A process that exits during the
//! window contributes what it had used when last seen (in /proc) or all it
//! used (in a cgroup).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cgroup::{Cgroup, CgroupError, MemoryWatch, Method};
use super::cpus::CpuSet;
use super::cpustat::{self, Snapshot};
use super::procfs;
use super::wakeups::{Wakeups, Witness};

/// How often the sampler reads /proc.
pub const PERIOD: Duration = Duration::from_millis(100);

/// What a process tree (a server, the upstream, the database) used during
/// one measurement window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// Length of the window.
    pub elapsed_s: f64,
    /// CPU seconds, user plus system, over all the tree's processes.
    pub cpu_s: f64,
    // Issue 19: what a request costs, in parts (none in results from before).
    /// Of `cpu_s`, the seconds in user mode and in the kernel (system
    /// calls, page faults, and the network work done in the process's
    /// context): the cgroup's split, else /proc's.
    #[serde(default)]
    pub user_s: Option<f64>,
    #[serde(default)]
    pub system_s: Option<f64>,
    /// Context switches of the tree's threads over the window, summed from
    /// /proc (a thread that exited in it counts up to its last sample):
    /// voluntary (it waited for I/O, a lock, a sleep) and involuntary (the
    /// scheduler took its CPU for another).
    #[serde(default)]
    pub voluntary_switches: Option<u64>,
    #[serde(default)]
    pub involuntary_switches: Option<u64>,
    /// Page faults of the tree's processes over the window, minor and
    /// major, summed from /proc as the switches are: a handler that
    /// allocates fresh memory for every request pays the kernel for each
    /// page it touches first.
    #[serde(default)]
    pub page_faults: Option<u64>,
    /// `cpu_s / elapsed_s` as a percentage: 100 is one core busy.
    pub cpu_pct: f64,
    /// The highest resident memory summed over the processes at one sample.
    pub peak_rss_bytes: u64,
    /// The most processes seen at one sample.
    pub processes: usize,
    /// Samples taken in the window.
    pub samples: u32,
    // Issue 10: how the tree was measured (results written before it were
    // all sampled from /proc).
    /// Whether `cpu_s` is a cgroup's count or a sum over /proc.
    #[serde(default)]
    pub method: Method,
    /// Why it was measured from /proc when it was: the cgroup that could
    /// not be made.
    #[serde(default)]
    pub note: Option<String>,
    /// The cgroup's peak memory over the window (resident memory plus the
    /// page cache and kernel memory charged to it), where the cgroup says.
    #[serde(default)]
    pub cgroup_memory_peak_bytes: Option<u64>,
    // A remote server's host, from its metrics.
    /// The CPUs of the host whose counter gave `cpu_s` (node_exporter's
    /// `cpu` labels); none for a process counter, or a server measured here.
    #[serde(default)]
    pub host_cpus: Option<usize>,
    // Issue 18: a server that answers nothing is stalled only if it does
    // no work either.
    /// CPU seconds used in each whole second of the window, from the
    /// samples (every [`PERIOD`]); empty where it was not sampled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_timeline_s: Vec<f64>,
}

/// How the sampler finds a tree's processes when it has no cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    /// A session: a process the lab started with `setsid`, and everything
    /// it starts that stays in the session.
    Session(i32),
    /// A process and its descendants (PostgreSQL, which does not lead a
    /// session of its own).
    Tree(i32),
}

/// One process tree to measure.
#[derive(Debug, Clone)]
pub struct Part {
    pub members: Members,
    /// Its cgroup, when it has one: then it is measured by the cgroup.
    pub cgroup: Option<Arc<Cgroup>>,
    /// Why it has none.
    pub note: Option<String>,
}

impl Part {
    /// A tree measured by `cgroup` when it could be made, else from /proc
    /// with the reason.
    pub fn new(members: Members, cgroup: &Result<Arc<Cgroup>, CgroupError>) -> Part {
        Part {
            members,
            cgroup: cgroup.as_ref().ok().cloned(),
            note: cgroup.as_ref().err().map(CgroupError::to_string),
        }
    }
}

/// What one reading of a process gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    /// CPU ticks, user plus system, and those of the kernel alone.
    ticks: u64,
    system_ticks: u64,
    voluntary: u64,
    involuntary: u64,
    page_faults: u64,
}

impl Counters {
    fn since(self, base: Counters) -> Counters {
        Counters {
            ticks: self.ticks.saturating_sub(base.ticks),
            system_ticks: self.system_ticks.saturating_sub(base.system_ticks),
            voluntary: self.voluntary.saturating_sub(base.voluntary),
            involuntary: self.involuntary.saturating_sub(base.involuntary),
            page_faults: self.page_faults.saturating_sub(base.page_faults),
        }
    }

    fn add(self, other: Counters) -> Counters {
        Counters {
            ticks: self.ticks + other.ticks,
            system_ticks: self.system_ticks + other.system_ticks,
            voluntary: self.voluntary + other.voluntary,
            involuntary: self.involuntary + other.involuntary,
            page_faults: self.page_faults + other.page_faults,
        }
    }
}

/// One live process at one reading.
#[derive(Debug, Clone, Copy)]
struct ProcessReading {
    pid: i32,
    counters: Counters,
    rss: u64,
}

#[derive(Debug, Default)]
struct Window {
    start: Option<Instant>,
    /// The cgroup's CPU count at the window's start, and its user and
    /// system split.
    cgroup_start: Option<Duration>,
    cgroup_split_start: Option<(Duration, Duration)>,
    memory: Option<MemoryWatch>,
    /// Counters per PID at the window's start (or when first seen in it).
    base: HashMap<i32, Counters>,
    /// Counters per PID at the latest reading.
    last: HashMap<i32, Counters>,
    peak_rss: u64,
    processes: usize,
    samples: u32,
    /// CPU seconds per whole second of the window, and the CPU counted
    /// up to the last sample.
    timeline: Vec<f64>,
    counted: f64,
}

impl Window {
    /// Adds one sample: each live process's counters and resident bytes,
    /// and the cgroup's CPU count when the tree has one.
    fn record(&mut self, readings: &[ProcessReading], cgroup: Option<Duration>) {
        let mut rss = 0;
        for r in readings {
            self.base.entry(r.pid).or_insert(r.counters);
            self.last.insert(r.pid, r.counters);
            rss += r.rss;
        }
        self.peak_rss = self.peak_rss.max(rss);
        self.processes = self.processes.max(readings.len());
        self.samples += 1;
        let used = match (cgroup, self.cgroup_start) {
            (Some(now), Some(start)) => now.saturating_sub(start).as_secs_f64(),
            _ => self.cpu_ticks() as f64 * procfs::tick().as_secs_f64(),
        };
        if let Some(start) = self.start {
            let second = start.elapsed().as_secs() as usize;
            if self.timeline.len() <= second {
                self.timeline.resize(second + 1, 0.0);
            }
            self.timeline[second] += (used - self.counted).max(0.0);
            self.counted = used;
        }
    }

    fn cpu_ticks(&self) -> u64 {
        self.used().ticks
    }

    /// Every process's counters over the window, summed.
    fn used(&self) -> Counters {
        self.last
            .iter()
            .map(|(pid, last)| last.since(*self.base.get(pid).unwrap_or(last)))
            .fold(Counters::default(), Counters::add)
    }
}

/// A window's end: what each part used, in the order given to
/// [`Sampler::start`], /proc/stat at the window's two ends with the time
/// between them, and the CPU sets' wake-ups when a witness watched them.
#[derive(Debug)]
pub struct WindowEnd {
    pub parts: Vec<ServerUsage>,
    pub stat: Option<(Snapshot, Snapshot, Duration)>,
    pub wakeups: Option<Wakeups>,
}

/// A running sampler of some process trees.
#[derive(Debug)]
pub struct Sampler {
    parts: Arc<Vec<Part>>,
    windows: Arc<Mutex<Option<Vec<Window>>>>,
    stat: Mutex<Option<(Instant, Snapshot)>>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    witness: Option<Witness>,
}

/// What one reading of a part gives: its live processes, and its cgroup's
/// CPU count when it has one.
type Reading = (Vec<ProcessReading>, Option<Duration>);

/// Each part's live processes now, and its cgroup's CPU count.
fn read(parts: &[Part]) -> Vec<Reading> {
    let needs_scan = parts.iter().any(|p| p.cgroup.is_none());
    let all = if needs_scan {
        procfs::all()
    } else {
        Vec::new()
    };
    parts
        .iter()
        .map(|part| {
            let stats: Vec<procfs::ProcStat> = match (&part.cgroup, part.members) {
                (Some(cgroup), _) => cgroup
                    .procs()
                    .into_iter()
                    .filter_map(procfs::stat)
                    .collect(),
                (None, Members::Session(sid)) => {
                    all.iter().filter(|p| p.session == sid).copied().collect()
                }
                (None, Members::Tree(root)) => procfs::tree(&all, root),
            };
            let processes = stats
                .into_iter()
                .filter(|p| !p.is_zombie())
                .map(|p| {
                    let (voluntary, involuntary) = procfs::switches(p.pid).unwrap_or((0, 0));
                    ProcessReading {
                        pid: p.pid,
                        counters: Counters {
                            ticks: p.cpu_ticks,
                            system_ticks: p.system_ticks,
                            voluntary,
                            involuntary,
                            page_faults: p.page_faults,
                        },
                        rss: procfs::rss_bytes(p.pid).unwrap_or(0),
                    }
                })
                .collect();
            (processes, part.cgroup.as_ref().and_then(|c| c.usage()))
        })
        .collect()
}

impl Sampler {
    /// Starts sampling `parts`, the sampling thread pinned to `cpus` (the
    /// generator's, so it never takes time from the server's cores).
    pub fn start(parts: Vec<Part>, cpus: &CpuSet) -> Sampler {
        let parts = Arc::new(parts);
        let windows: Arc<Mutex<Option<Vec<Window>>>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let parts = Arc::clone(&parts);
            let windows = Arc::clone(&windows);
            let done = Arc::clone(&done);
            let cpus = cpus.clone();
            std::thread::Builder::new()
                .name("framewut-sampler".into())
                .spawn(move || {
                    cpus.pin_this_thread();
                    while !done.load(Ordering::Relaxed) {
                        let readings = read(&parts);
                        if let Some(ws) = windows.lock().expect("sampler lock").as_mut() {
                            for (w, (r, cgroup)) in ws.iter_mut().zip(&readings) {
                                w.record(r, *cgroup);
                            }
                        }
                        std::thread::sleep(PERIOD);
                    }
                })
                .expect("spawning the sampler")
        };
        Sampler {
            parts,
            windows,
            stat: Mutex::new(None),
            done,
            thread: Some(thread),
            witness: None,
        }
    }

    /// Counts the wake-ups of `witness`'s CPU sets over each window too.
    pub fn with_witness(mut self, witness: Witness) -> Sampler {
        self.witness = Some(witness);
        self
    }

    /// The stack's CPU time so far (the first part's): its cgroup's count,
    /// or the sum over its live processes; none when it has no process.
    pub fn stack_cpu(&self) -> Option<Duration> {
        let part = self.parts.first()?;
        if let Some(used) = part.cgroup.as_ref().and_then(|c| c.usage()) {
            return Some(used);
        }
        let (processes, _) = read(std::slice::from_ref(part)).pop()?;
        let ticks: u64 = processes.iter().map(|p| p.counters.ticks).sum();
        (!processes.is_empty()).then(|| procfs::tick() * ticks as u32)
    }

    /// The stack's live processes now (the first part's).
    pub fn stack_pids(&self) -> Vec<i32> {
        let Some(part) = self.parts.first() else {
            return Vec::new();
        };
        let (processes, _) = read(std::slice::from_ref(part)).pop().unwrap_or_default();
        processes.iter().map(|p| p.pid).collect()
    }

    /// Closes the window that is open and opens the next at once: the
    /// boundary between two windows of one load.
    pub fn split(&self) -> WindowEnd {
        let end = self.end();
        self.begin();
        end
    }

    /// Opens a measurement window with exact readings.
    pub fn begin(&self) {
        let readings = read(&self.parts);
        let now = Instant::now();
        let windows = self
            .parts
            .iter()
            .zip(&readings)
            .map(|(part, (r, cgroup))| {
                let mut w = Window {
                    start: Some(now),
                    cgroup_start: *cgroup,
                    cgroup_split_start: part.cgroup.as_ref().and_then(|c| c.usage_split()),
                    memory: part.cgroup.as_ref().and_then(|c| c.watch_memory()),
                    ..Window::default()
                };
                w.record(r, *cgroup);
                w
            })
            .collect();
        *self.stat.lock().expect("sampler lock") = cpustat::read().map(|s| (Instant::now(), s));
        *self.windows.lock().expect("sampler lock") = Some(windows);
        if let Some(witness) = &self.witness {
            witness.reset();
        }
    }

    /// Closes the window with exact readings and says what was used in it.
    pub fn end(&self) -> WindowEnd {
        let readings = read(&self.parts);
        let stat_end = cpustat::read().map(|s| (Instant::now(), s));
        let mut windows = self
            .windows
            .lock()
            .expect("sampler lock")
            .take()
            .unwrap_or_default();
        windows.resize_with(self.parts.len(), Window::default);
        let parts = self
            .parts
            .iter()
            .zip(windows)
            .zip(&readings)
            .map(|((part, mut w), (r, cgroup))| {
                w.record(r, *cgroup);
                let elapsed = w
                    .start
                    .map_or(Duration::ZERO, |s| s.elapsed())
                    .as_secs_f64();
                let counted = part
                    .cgroup
                    .as_ref()
                    .and_then(|c| Some((c.method(), c.usage()?.checked_sub(w.cgroup_start?)?)));
                let used = w.used();
                let tick = procfs::tick().as_secs_f64();
                let (method, cpu) = match counted {
                    Some((method, used)) => (method, used.as_secs_f64()),
                    None => (Method::Proc, used.ticks as f64 * tick),
                };
                // The split from the cgroup where it keeps one, else from
                // the processes' own counts, scaled to the total.
                let split = part
                    .cgroup
                    .as_ref()
                    .and_then(|c| c.usage_split())
                    .zip(w.cgroup_split_start)
                    .map(|((user, system), (user0, system0))| {
                        (
                            user.saturating_sub(user0).as_secs_f64(),
                            system.saturating_sub(system0).as_secs_f64(),
                        )
                    })
                    .or_else(|| {
                        (method == Method::Proc).then(|| {
                            let system = used.system_ticks as f64 * tick;
                            ((cpu - system).max(0.0), system)
                        })
                    });
                let switches = (w.samples > 0).then_some((used.voluntary, used.involuntary));
                let page_faults = (w.samples > 0).then_some(used.page_faults);
                ServerUsage {
                    elapsed_s: elapsed,
                    cpu_s: cpu,
                    user_s: split.map(|s| s.0),
                    system_s: split.map(|s| s.1),
                    voluntary_switches: switches.map(|s| s.0),
                    involuntary_switches: switches.map(|s| s.1),
                    page_faults,
                    cpu_pct: if elapsed > 0.0 {
                        100.0 * cpu / elapsed
                    } else {
                        0.0
                    },
                    peak_rss_bytes: w.peak_rss,
                    processes: w.processes,
                    samples: w.samples,
                    method,
                    note: part.note.clone().filter(|_| method == Method::Proc),
                    cgroup_memory_peak_bytes: w.memory.as_mut().and_then(MemoryWatch::peak),
                    host_cpus: None,
                    cpu_timeline_s: std::mem::take(&mut w.timeline),
                }
            })
            .collect();
        let stat_begin = self.stat.lock().expect("sampler lock").take();
        WindowEnd {
            parts,
            stat: stat_begin
                .zip(stat_end)
                .map(|((t0, before), (t1, after))| (before, after, t1 - t0)),
            wakeups: self.witness.as_ref().map(Witness::take),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::measure::process::Group;
    use std::process::Command;

    #[test]
    fn window_counts_cpu_from_its_start_and_keeps_exited_processes() {
        let r = |pid, ticks, rss| ProcessReading {
            pid,
            counters: Counters {
                ticks,
                system_ticks: ticks / 10,
                voluntary: ticks * 2,
                involuntary: 1,
                page_faults: ticks * 3,
            },
            rss,
        };
        let mut w = Window::default();
        w.record(&[r(1, 100, 1000), r(2, 50, 500)], None);
        w.record(&[r(1, 130, 3000), r(2, 60, 500), r(3, 5, 100)], None);
        w.record(&[r(1, 140, 1000)], None);
        assert_eq!(w.cpu_ticks(), 40 + 10);
        let used = w.used();
        assert_eq!(used.system_ticks, 4 + 1);
        assert_eq!((used.voluntary, used.involuntary), (80 + 20, 0));
        assert_eq!(used.page_faults, 120 + 30);
        assert_eq!(w.peak_rss, 3600);
        assert_eq!(w.processes, 3);
    }

    #[test]
    fn measures_a_busy_process_tree() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while :; do :; done & sleep 30 & wait"]);
        let mut group = Group::spawn(cmd, None, None).unwrap();
        let part = Part::new(
            Members::Session(group.pid() as i32),
            &Err(CgroupError::TurnedOff),
        );
        let sampler = Sampler::start(vec![part], &CpuSet::allowed());
        sampler.begin();
        std::thread::sleep(Duration::from_millis(600));
        let end = sampler.end();
        group.stop(Duration::from_secs(1));
        let usage = &end.parts[0];
        assert_eq!(usage.method, Method::Proc);
        assert_eq!(
            usage.note.as_deref(),
            Some("cgroups turned off by FRAMEWUT_CGROUP=off")
        );
        assert!(end.stat.is_some(), "/proc/stat read at both ends");
        assert_eq!(usage.processes, 3, "{usage:?}");
        // One spinning shell on a machine that may be busy with builds: it
        // gets some share of a core, never more than one.
        assert!(usage.cpu_s > 0.05, "a spinning shell used {usage:?}");
        assert!(usage.cpu_pct > 5.0 && usage.cpu_pct < 110.0, "{usage:?}");
        assert!(usage.peak_rss_bytes > 100_000, "{usage:?}");
        assert!(usage.samples >= 3, "{usage:?}");
        // A spinning shell runs in user mode, and its switches are counted.
        let (user, system) = (usage.user_s.unwrap(), usage.system_s.unwrap());
        assert!((user + system - usage.cpu_s).abs() < 1e-9, "{usage:?}");
        assert!(user > system, "{usage:?}");
        assert!(usage.voluntary_switches.is_some(), "{usage:?}");
        assert!(usage.page_faults.is_some(), "{usage:?}");
    }

    /// A tree in a cgroup is measured by it: a daemon that left the
    /// session is among its processes and its CPU is counted.
    #[test]
    fn a_cgroup_counts_a_daemon_that_left_the_session() {
        use crate::lab::measure::cgroup::{required_in_tests, Cgroup, CgroupError, Layout};
        let name = format!("framewut-test-sampler-{}", std::process::id());
        let Some(cg) = required_in_tests(
            Layout::detect().and_then(|l| Cgroup::create(&l, &name).map(Arc::new)),
        ) else {
            return;
        };
        let cgroup: Result<Arc<Cgroup>, CgroupError> = Ok(Arc::clone(&cg));
        let cg = &cg;
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "setsid sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 30' & sleep 30",
        ]);
        let mut group = Group::spawn(cmd, None, Some(cg)).unwrap();
        let part = Part::new(Members::Session(group.pid() as i32), &cgroup);
        let sampler = Sampler::start(vec![part], &CpuSet::allowed());
        sampler.begin();
        let deadline = Instant::now() + Duration::from_secs(10);
        let sleeping = |pid: &i32| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with("sleep"))
        };
        while cg.procs().iter().filter(|p| sleeping(p)).count() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let usage = sampler.end().parts.remove(0);
        group.stop(Duration::from_secs(1));
        assert_ne!(usage.method, Method::Proc, "{usage:?}");
        assert_eq!(usage.note, None);
        // sh and its sleep, the daemon and its sleep (a shell may exec its
        // last command instead of forking it).
        assert!(usage.processes >= 3, "{usage:?}");
        assert!(usage.cpu_s > 0.05, "the daemon's counting: {usage:?}");
        // The cgroup's own split adds up to its total, to its resolution.
        let split = usage.user_s.unwrap() + usage.system_s.unwrap();
        assert!((split - usage.cpu_s).abs() < 0.02, "{usage:?}");
        let daemon = cg.kill_remaining(Duration::from_secs(2));
        assert!(!daemon.is_empty(), "the daemon outlived the group");
    }
}
