//! How late a sleeping thread wakes on each CPU set during a trial: a
//! witness thread pinned to the set sleeps [`PERIOD`] again and again and
//! records how much longer each sleep took.
//!
//! On a quiet machine a wake-up is late by the timer's slack and the
//! scheduler's path, about 0.1 ms on this kind of virtual machine. Another
//! process that keeps the CPUs busy, or the host taking them away, makes it
//! later, by how much depending on the scheduler's turns: with three busy
//! loops on each CPU, a trial's mean went from 0.1 to 1.9 ms. Every wait of
//! a wait-bound cell (a sleep, an upstream call, the generator's own
//! wake-up) pays the same delay, so its rate moves with the machine even
//! when the cell hardly uses the CPUs and no CPU set looks saturated. A
//! stack's own work hardly delays the witness (a sync pool keeping its CPU
//! busy answering hello left it as late as an idle CPU did, about 0.15
//! ms), but a set the cell keeps busy says nothing of the machine, so only
//! the sets it left mostly idle are judged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cpus::CpuSet;

/// How long the witness sleeps each time: 100 wake-ups a second, a few
/// microseconds of CPU each.
pub const PERIOD: Duration = Duration::from_millis(10);

/// The wake-ups of one CPU set over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lateness {
    /// The witness's wake-ups counted in the window.
    pub wakeups: u64,
    /// How much longer than asked a sleep took, on average, in microseconds.
    pub mean_us: f64,
    /// The latest of them, in microseconds.
    pub max_us: f64,
}

/// Both CPU sets' wake-ups over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Wakeups {
    pub server: Lateness,
    pub generator: Lateness,
}

/// What one set's witness has counted since the last reading.
#[derive(Debug, Default)]
struct Tally {
    wakeups: u64,
    late_us: f64,
    max_us: f64,
}

impl Tally {
    fn take(&mut self) -> Lateness {
        let t = std::mem::take(self);
        Lateness {
            wakeups: t.wakeups,
            mean_us: if t.wakeups > 0 {
                t.late_us / t.wakeups as f64
            } else {
                0.0
            },
            max_us: t.max_us,
        }
    }
}

/// The witness threads of the server's and the generator's CPU sets.
#[derive(Debug)]
pub struct Witness {
    tallies: [Arc<Mutex<Tally>>; 2],
    done: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Witness {
    /// Starts a witness on each set, pinned to it.
    pub fn start(server: &CpuSet, generator: &CpuSet) -> Witness {
        let done = Arc::new(AtomicBool::new(false));
        let tallies: [Arc<Mutex<Tally>>; 2] = Default::default();
        let threads = [server, generator]
            .into_iter()
            .zip(&tallies)
            .map(|(cpus, tally)| {
                let (cpus, tally, done) = (cpus.clone(), Arc::clone(tally), Arc::clone(&done));
                std::thread::Builder::new()
                    .name("framewut-wakeups".into())
                    .spawn(move || {
                        cpus.pin_this_thread();
                        while !done.load(Ordering::Relaxed) {
                            let asked = Instant::now();
                            std::thread::sleep(PERIOD);
                            let late = (asked.elapsed().saturating_sub(PERIOD)).as_secs_f64() * 1e6;
                            let mut t = tally.lock().expect("wake-up tally");
                            t.wakeups += 1;
                            t.late_us += late;
                            t.max_us = t.max_us.max(late);
                        }
                    })
                    .expect("spawning a wake-up witness")
            })
            .collect();
        Witness {
            tallies,
            done,
            threads,
        }
    }

    /// Forgets what was counted so far: a window opens.
    pub fn reset(&self) {
        self.take();
    }

    /// What each set's witness counted since the last reading.
    pub fn take(&self) -> Wakeups {
        let [server, generator] = &self.tallies;
        Wakeups {
            server: server.lock().expect("wake-up tally").take(),
            generator: generator.lock().expect("wake-up tally").take(),
        }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_its_own_wakeups_and_a_reset_forgets_the_rest() {
        let cpus = CpuSet::allowed();
        let witness = Witness::start(&cpus, &cpus);
        std::thread::sleep(PERIOD * 5);
        witness.reset();
        let opened = Instant::now();
        std::thread::sleep(PERIOD * 10);
        let w = witness.take();
        // Sleeps of 10 ms, each a little late: at most one a period, and
        // one more that began before the window.
        let most = (opened.elapsed().as_secs_f64() / PERIOD.as_secs_f64()) as u64 + 1;
        for set in [w.server, w.generator] {
            assert!((1..=most).contains(&set.wakeups), "{set:?} over {most}");
            assert!(set.mean_us >= 0.0 && set.max_us >= set.mean_us, "{set:?}");
        }
        drop(witness);
    }
}
