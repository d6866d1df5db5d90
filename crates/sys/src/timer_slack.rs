//! How late the kernel may end a thread's sleep.
//!
//! Linux lets a sleeping thread's timer fire up to its "timer slack" late,
//! so that wake-ups can be merged: 50 µs by default. A thread that sleeps
//! a few microseconds on purpose would sleep ten times what it asked; it
//! sets its own slack down first.

use std::io;
use std::time::Duration;

/// Sets the calling thread's timer slack (`PR_SET_TIMERSLACK`), at least
/// one nanosecond: the kernel reads zero as "back to the default".
pub fn set_timer_slack(slack: Duration) -> io::Result<()> {
    let ns = slack.as_nanos().clamp(1, libc::c_ulong::MAX as u128) as libc::c_ulong;
    // SAFETY: PR_SET_TIMERSLACK takes a number and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's timer slack (`PR_GET_TIMERSLACK`).
pub fn timer_slack() -> Duration {
    // SAFETY: PR_GET_TIMERSLACK takes no argument and returns the slack.
    let ns = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    Duration::from_nanos(ns.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_sets_its_own_slack_and_no_other() {
        let before = timer_slack();
        let inside = std::thread::spawn(|| {
            set_timer_slack(Duration::from_micros(1)).unwrap();
            let set = timer_slack();
            set_timer_slack(Duration::ZERO).unwrap();
            (set, timer_slack())
        })
        .join()
        .unwrap();
        assert_eq!(inside.0, Duration::from_micros(1));
        assert_eq!(inside.1, Duration::from_nanos(1), "zero is raised to 1 ns");
        assert_eq!(
            timer_slack(),
            before,
            "the calling thread's slack is its own"
        );
    }
}
