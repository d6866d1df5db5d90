//! CPU time spent by a thread or by the whole process, and its context
//! switches, from `getrusage`; and a thread's exact CPU clock for timing
//! short pieces of work.

use std::time::Duration;

/// CPU time spent, user and system, and the context switches over it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
    /// Times the thread gave up its CPU to wait (for I/O, a lock, a sleep).
    pub voluntary_switches: u64,
    /// Times the scheduler took its CPU away while it could have run on.
    pub involuntary_switches: u64,
}

impl CpuTime {
    /// User plus system time.
    pub fn total(self) -> Duration {
        self.user + self.system
    }

    /// CPU time of the calling thread so far.
    pub fn this_thread() -> CpuTime {
        rusage(libc::RUSAGE_THREAD)
    }

    /// CPU time of this whole process so far.
    pub fn this_process() -> CpuTime {
        rusage(libc::RUSAGE_SELF)
    }

    /// The time spent between `earlier` and `self`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            voluntary_switches: self
                .voluntary_switches
                .saturating_sub(earlier.voluntary_switches),
            involuntary_switches: self
                .involuntary_switches
                .saturating_sub(earlier.involuntary_switches),
        }
    }
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user + other.user,
            system: self.system + other.system,
            voluntary_switches: self.voluntary_switches + other.voluntary_switches,
            involuntary_switches: self.involuntary_switches + other.involuntary_switches,
        }
    }
}

/// The calling thread's CPU time so far, user and system together, to the
/// nanosecond: the kernel's own clock (`CLOCK_THREAD_CPUTIME_ID`), which
/// counts the time since the thread's last tick too. `getrusage` reports a
/// thread's time only as of its last scheduler update, a tick (4 ms at 250
/// Hz) at a time, so a piece of work shorter than a tick, timed with it,
/// reads as nothing or as a whole tick. Zero if the clock cannot be read.
pub fn thread_cpu_clock() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The whole process's CPU time so far, every thread's user and system
/// time together, to the nanosecond (`CLOCK_PROCESS_CPUTIME_ID`): what a
/// piece of work costs a process whose threads hand it to each other. Zero
/// if the clock cannot be read.
pub fn process_cpu_clock() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    // SAFETY: clock_gettime only writes into the struct we hand it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Zero when the kernel will not say, which `getrusage` only does for a bad
/// `who`: a missing figure must not stop a measurement.
fn rusage(who: libc::c_int) -> CpuTime {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    if rc != 0 {
        return CpuTime::default();
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    CpuTime {
        user: tv(usage.ru_utime),
        system: tv(usage.ru_stime),
        voluntary_switches: usage.ru_nvcsw.max(0) as u64,
        involuntary_switches: usage.ru_nivcsw.max(0) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_sees_its_own_time_grow() {
        let before = CpuTime::this_thread();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let spent = CpuTime::this_thread().since(before);
        assert!(spent.total() >= Duration::from_millis(10), "{spent:?}");
        assert!(CpuTime::this_process().total() >= spent.total());
    }

    /// The process clock counts the work of every thread, not only the
    /// caller's: a thread spinning beside an idle caller moves it.
    #[test]
    fn the_process_clock_counts_another_threads_work() {
        let before = process_cpu_clock();
        let caller = thread_cpu_clock();
        std::thread::spawn(|| {
            let start = thread_cpu_clock();
            let mut x = 0u64;
            while thread_cpu_clock() - start < Duration::from_millis(20) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        })
        .join()
        .expect("the spinning thread");
        let spent = process_cpu_clock() - before;
        assert!(spent >= Duration::from_millis(20), "{spent:?}");
        assert!(thread_cpu_clock() - caller < Duration::from_millis(20));
    }

    /// The switches come from the kernel's own count, which /proc shows
    /// for the thread too.
    #[test]
    fn a_sleeping_thread_counts_its_voluntary_switches_as_proc_does() {
        let proc_count = || {
            let status = std::fs::read_to_string("/proc/thread-self/status")
                .expect("/proc/thread-self/status");
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .expect("voluntary_ctxt_switches in /proc/thread-self/status")
        };
        let before = CpuTime::this_thread();
        let proc_before = proc_count();
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let spent = CpuTime::this_thread().since(before);
        let proc_spent = proc_count() - proc_before;
        assert!(spent.voluntary_switches >= 20, "{spent:?}");
        // Reading /proc may itself block once or twice.
        assert!(
            proc_spent.abs_diff(spent.voluntary_switches) <= 2,
            "getrusage {spent:?} against /proc's {proc_spent}"
        );
    }

    #[test]
    fn the_thread_clock_counts_work_far_shorter_than_a_tick() {
        // About 50 µs of work: well under one scheduler tick.
        let before = thread_cpu_clock();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_micros(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let spent = thread_cpu_clock() - before;
        assert!(spent > Duration::from_micros(1), "{spent:?}");
        assert!(spent < Duration::from_secs(1), "{spent:?}");
    }
}
