//! Samples a server's whole process tree from /proc while it is measured: CPU
//! seconds (user + system) summed over its processes, and the peak of their
//! summed resident memory.
//!
//! A thread reads the session's processes every [`PERIOD`]; a measurement
//! window is opened and closed with exact readings, so CPU time is counted
//! from the window's first instant to its last. A process that exits during
//! the window contributes what it had used when last seen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cpus::CpuSet;
use super::procfs;

/// How often the sampler reads /proc.
pub const PERIOD: Duration = Duration::from_millis(100);

/// What a server used during one measurement window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// Length of the window.
    pub elapsed_s: f64,
    /// CPU seconds, user plus system, over all the server's processes.
    pub cpu_s: f64,
    /// `cpu_s / elapsed_s` as a percentage: 100 is one core busy.
    pub cpu_pct: f64,
    /// The highest resident memory summed over the processes at one sample.
    pub peak_rss_bytes: u64,
    /// The most processes seen at one sample.
    pub processes: usize,
    /// Samples taken in the window.
    pub samples: u32,
}

#[derive(Debug, Default)]
struct Window {
    start: Option<Instant>,
    /// CPU ticks per PID at the window's start (or when first seen in it).
    base: HashMap<i32, u64>,
    /// CPU ticks per PID at the latest reading.
    last: HashMap<i32, u64>,
    peak_rss: u64,
    processes: usize,
    samples: u32,
}

impl Window {
    fn record(&mut self, readings: &[(i32, u64, u64)]) {
        let mut rss = 0;
        for (pid, ticks, bytes) in readings {
            self.base.entry(*pid).or_insert(*ticks);
            self.last.insert(*pid, *ticks);
            rss += bytes;
        }
        self.peak_rss = self.peak_rss.max(rss);
        self.processes = self.processes.max(readings.len());
        self.samples += 1;
    }

    fn cpu_ticks(&self) -> u64 {
        self.last
            .iter()
            .map(|(pid, ticks)| ticks.saturating_sub(*self.base.get(pid).unwrap_or(ticks)))
            .sum()
    }
}

/// A running sampler of one session's processes.
#[derive(Debug)]
pub struct Sampler {
    sid: i32,
    window: Arc<Mutex<Option<Window>>>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn read(sid: i32) -> Vec<(i32, u64, u64)> {
    procfs::session(sid)
        .into_iter()
        .filter(|p| !p.is_zombie())
        .map(|p| (p.pid, p.cpu_ticks, procfs::rss_bytes(p.pid).unwrap_or(0)))
        .collect()
}

impl Sampler {
    /// Starts sampling session `sid`, the sampling thread pinned to `cpus`
    /// (the generator's, so it never takes time from the server's cores).
    pub fn start(sid: i32, cpus: &CpuSet) -> Sampler {
        let window: Arc<Mutex<Option<Window>>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let window = Arc::clone(&window);
            let done = Arc::clone(&done);
            let cpus = cpus.clone();
            std::thread::Builder::new()
                .name("framewut-sampler".into())
                .spawn(move || {
                    cpus.pin_this_thread();
                    while !done.load(Ordering::Relaxed) {
                        let readings = read(sid);
                        if let Some(w) = window.lock().expect("sampler lock").as_mut() {
                            w.record(&readings);
                        }
                        std::thread::sleep(PERIOD);
                    }
                })
                .expect("spawning the sampler")
        };
        Sampler {
            sid,
            window,
            done,
            thread: Some(thread),
        }
    }

    /// Opens a measurement window with an exact reading.
    pub fn begin(&self) {
        let mut w = Window {
            start: Some(Instant::now()),
            ..Window::default()
        };
        w.record(&read(self.sid));
        *self.window.lock().expect("sampler lock") = Some(w);
    }

    /// Closes the window with an exact reading and says what was used in it.
    pub fn end(&self) -> ServerUsage {
        let readings = read(self.sid);
        let mut slot = self.window.lock().expect("sampler lock");
        let mut w = slot.take().unwrap_or_default();
        w.record(&readings);
        let elapsed = w
            .start
            .map_or(Duration::ZERO, |s| s.elapsed())
            .as_secs_f64();
        let cpu = w.cpu_ticks() as f64 * procfs::tick().as_secs_f64();
        ServerUsage {
            elapsed_s: elapsed,
            cpu_s: cpu,
            cpu_pct: if elapsed > 0.0 {
                100.0 * cpu / elapsed
            } else {
                0.0
            },
            peak_rss_bytes: w.peak_rss,
            processes: w.processes,
            samples: w.samples,
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
    use crate::lab::process::Group;
    use std::process::Command;

    #[test]
    fn window_counts_cpu_from_its_start_and_keeps_exited_processes() {
        let mut w = Window::default();
        w.record(&[(1, 100, 1000), (2, 50, 500)]);
        w.record(&[(1, 130, 3000), (2, 60, 500), (3, 5, 100)]);
        w.record(&[(1, 140, 1000)]);
        assert_eq!(w.cpu_ticks(), 40 + 10);
        assert_eq!(w.peak_rss, 3600);
        assert_eq!(w.processes, 3);
    }

    #[test]
    fn measures_a_busy_process_tree() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while :; do :; done & sleep 30 & wait"]);
        let mut group = Group::spawn(cmd, None).unwrap();
        let sampler = Sampler::start(group.pid() as i32, &CpuSet::allowed());
        sampler.begin();
        std::thread::sleep(Duration::from_millis(600));
        let usage = sampler.end();
        group.stop(Duration::from_secs(1));
        assert_eq!(usage.processes, 3, "{usage:?}");
        // One spinning shell on a machine that may be busy with builds: it
        // gets some share of a core, never more than one.
        assert!(usage.cpu_s > 0.05, "a spinning shell used {usage:?}");
        assert!(usage.cpu_pct > 5.0 && usage.cpu_pct < 110.0, "{usage:?}");
        assert!(usage.peak_rss_bytes > 100_000, "{usage:?}");
        assert!(usage.samples >= 3, "{usage:?}");
    }
}
