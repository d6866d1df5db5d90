//! Busy loops pinned to CPUs, for tests that measure what a neighbour
//! does to a cell: one thread a CPU listed, each spinning until dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use framewut::lab::measure::cpus::CpuSet;

pub struct BusyLoops {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl BusyLoops {
    /// A loop on each CPU of `cpus`, a CPU listed twice getting two.
    pub fn on(cpus: impl IntoIterator<Item = usize>) -> BusyLoops {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = cpus
            .into_iter()
            .map(|cpu| {
                let stop = Arc::clone(&stop);
                let one: CpuSet = cpu.to_string().parse().unwrap();
                std::thread::spawn(move || {
                    one.pin_this_thread();
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        BusyLoops { stop, threads }
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
