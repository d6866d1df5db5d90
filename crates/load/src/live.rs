//! A running load's tallies, copied by each engine thread a few times a
//! second so that a live view can read them without touching the hot path.

use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::report::{new_histogram, Errors};

/// What one thread (or, merged, the whole load) had counted at its last copy.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Successful (2xx and 3xx) responses.
    pub requests: u64,
    /// Responses of any status.
    pub responses: u64,
    pub errors: Errors,
    /// Connections open (connected, not connecting or waiting to retry).
    pub open: u64,
    /// Latency of every response so far, in microseconds.
    pub latency: Histogram<u64>,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            requests: 0,
            responses: 0,
            errors: Errors::default(),
            open: 0,
            latency: new_histogram(),
        }
    }
}

/// Where the threads of a watched load ([`run_watched`](crate::run_watched))
/// leave their tallies: each thread copies its own every 200 ms, at its
/// timer tick, so a reader never slows a request down.
#[derive(Debug)]
pub struct Live {
    pub(crate) slots: Vec<Mutex<Snapshot>>,
}

impl Live {
    /// A place for the tallies of a load with `threads` threads.
    pub fn new(threads: usize) -> Live {
        Live {
            slots: (0..threads).map(|_| Mutex::default()).collect(),
        }
    }

    /// The whole load's tallies at the threads' last copies.
    pub fn snapshot(&self) -> Snapshot {
        let mut sum = Snapshot::default();
        for slot in &self.slots {
            let s = slot.lock().unwrap_or_else(|e| e.into_inner());
            sum.requests += s.requests;
            sum.responses += s.responses;
            sum.errors.merge(&s.errors);
            sum.open += s.open;
            sum.latency
                .add(&s.latency)
                .expect("histograms share their bounds");
        }
        sum
    }
}
