//! Waking the loop on time for what must not wait.
//!
//! epoll's timeout counts whole milliseconds, rounded up, so a loop that
//! waits for an open-loop request due in 300 µs would send it up to a
//! millisecond late, and the latency counted from its intended send time
//! would carry that lateness as if the server had taken it. A timerfd in
//! the same epoll set, set for that moment, wakes the loop on time; the
//! poll's own timeout stays as the backstop.
//!
//! Each wake-up costs the generator's CPU (a context switch, and on a
//! virtual machine a trip through the hypervisor to program the timer), so
//! the alarm rings on a grid of [`RESOLUTION`]: requests due within one
//! step share a wake-up, and none is sent more than a step late.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use framewut_sys::Timer;
use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};

/// The token of the alarm's events, past any connection's index.
pub(super) const TOKEN: Token = Token(usize::MAX);

/// The alarm's step: the kernel's default timer slack, by which any
/// sleeping thread's wake-up may be late anyway. At most 20,000 wake-ups a
/// second come from the alarm, however high the rate.
pub(super) const RESOLUTION: Duration = Duration::from_micros(50);

/// A thread's alarm: its timer, its grid, and the moment it is set for.
pub(super) struct Alarm {
    /// None where no timerfd could be made or registered (out of
    /// descriptors): the loop then wakes as epoll's timeout allows.
    timer: Option<Timer>,
    /// Where the grid of steps starts.
    origin: Instant,
    set_for: Option<Instant>,
}

impl Alarm {
    pub(super) fn new(poll: &Poll, origin: Instant) -> Self {
        let timer = Timer::new().ok().filter(|t| {
            poll.registry()
                .register(&mut SourceFd(&t.as_raw_fd()), TOKEN, Interest::READABLE)
                .is_ok()
        });
        Self {
            timer,
            origin,
            set_for: None,
        }
    }

    /// Makes sure the loop wakes at `now + after`, or at the end of the
    /// step it falls in: sets the timer unless it is set for that already.
    pub(super) fn wake_after(&mut self, now: Instant, after: Duration) {
        let at = on_grid(self.origin, now + after);
        if self.set_for == Some(at) {
            return;
        }
        if let Some(timer) = &self.timer {
            if timer.set(at.saturating_duration_since(now)).is_ok() {
                self.set_for = Some(at);
            }
        }
    }
}

/// `at` rounded up to the next step of the grid that starts at `origin`.
fn on_grid(origin: Instant, at: Instant) -> Instant {
    let since = at.saturating_duration_since(origin).as_nanos();
    let step = RESOLUTION.as_nanos();
    let steps = since.div_ceil(step);
    origin + Duration::from_nanos((steps * step) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_rounds_up_to_its_step_and_a_step_stays_put() {
        let origin = Instant::now();
        let us = |n| origin + Duration::from_micros(n);
        assert_eq!(on_grid(origin, us(0)), us(0));
        assert_eq!(on_grid(origin, us(1)), us(50));
        assert_eq!(on_grid(origin, us(50)), us(50));
        assert_eq!(on_grid(origin, us(51)), us(100));
        assert_eq!(on_grid(origin, us(1_234_567)), us(1_234_600));
        assert_eq!(
            on_grid(origin, origin - Duration::from_micros(7)),
            origin,
            "a moment before the grid starts is its start"
        );
    }
}
