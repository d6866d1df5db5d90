//! CPU time spent by a thread or by the whole process, from `getrusage`.

use std::time::Duration;

/// CPU time spent, user and system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
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
        }
    }
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }
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
}
