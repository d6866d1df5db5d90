//! A timer a poller can wait on, to the microsecond.
//!
//! epoll's own timeout counts whole milliseconds (mio rounds a shorter one
//! up), so a thread that waits for a moment 300 µs away wakes up to a
//! millisecond late. A timerfd in the same epoll set wakes it on time: its
//! expiry makes the descriptor readable.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A one-shot timer on the monotonic clock (a timerfd).
#[derive(Debug)]
pub struct Timer {
    fd: OwnedFd,
}

impl Timer {
    /// A disarmed timer, non-blocking and closed on exec.
    pub fn new() -> io::Result<Self> {
        // SAFETY: timerfd_create takes two flags and returns a new
        // descriptor or -1.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor was just made and nothing else owns it.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Arms the timer to expire once, `after` from now (at least 1 ns: the
    /// kernel reads zero as "disarm"), in place of any earlier setting.
    /// Setting it again also ends the readability of an expiry not read.
    pub fn set(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let value = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: after.subsec_nanos().into(),
            },
        };
        // SAFETY: `value` is a valid itimerspec for the call's duration,
        // and a null old value asks for none back.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &value, std::ptr::null_mut()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Whether the timer is readable (has expired), waiting up to `ms`.
    fn expired_within(timer: &Timer, ms: i32) -> bool {
        let mut fds = libc::pollfd {
            fd: timer.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the call's duration.
        let n = unsafe { libc::poll(&mut fds, 1, ms) };
        assert!(n >= 0, "poll: {}", io::Error::last_os_error());
        n == 1 && fds.revents & libc::POLLIN != 0
    }

    #[test]
    fn a_set_timer_expires_no_sooner_than_asked() {
        let timer = Timer::new().unwrap();
        assert!(!expired_within(&timer, 0), "a new timer is disarmed");
        let start = Instant::now();
        timer.set(Duration::from_micros(1_500)).unwrap();
        assert!(expired_within(&timer, 5_000), "it never expired");
        assert!(start.elapsed() >= Duration::from_micros(1_500));
    }

    #[test]
    fn setting_again_replaces_the_expiry_and_its_readability() {
        let timer = Timer::new().unwrap();
        timer.set(Duration::from_secs(60)).unwrap();
        timer.set(Duration::from_micros(200)).unwrap();
        assert!(expired_within(&timer, 5_000), "the sooner setting won");
        timer.set(Duration::from_secs(60)).unwrap();
        assert!(
            !expired_within(&timer, 0),
            "an expiry not read is forgotten when the timer is set again"
        );
    }
}
