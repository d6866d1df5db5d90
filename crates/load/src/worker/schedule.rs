//! One thread's open-loop schedule and its share of a request count: when
//! the next request is due, whether the count is spent, and how far the
//! sending fell behind the schedule.

use std::time::{Duration, Instant};

/// The requests one thread has sent, against its rate and its quota.
pub(super) struct Schedule {
    /// When the load started: the intended send time of its first request.
    start: Instant,
    /// Open loop only: this thread's share of the rate, requests per second.
    rate: Option<f64>,
    /// Count-bounded loads only: this thread's share of the count.
    quota: Option<u64>,
    /// Requests sent, warm-up included.
    issued: u64,
    /// Requests sent in the measured phase.
    measured_issued: u64,
    /// Connection attempts that failed in the measured phase of a
    /// count-bounded load: each spends a request of the quota, unsent.
    spent_attempts: u64,
}

impl Schedule {
    pub fn new(start: Instant, rate: Option<f64>, quota: Option<u64>) -> Schedule {
        Schedule {
            start,
            rate,
            quota,
            issued: 0,
            measured_issued: 0,
            spent_attempts: 0,
        }
    }

    /// Whether a count-bounded load has spent its quota; a timed one never has.
    pub fn quota_spent(&self) -> bool {
        self.quota
            .is_some_and(|quota| self.measured_issued + self.spent_attempts >= quota)
    }

    /// The intended send time of the next open-loop request, if one may go.
    pub fn next_due(&self) -> Option<Instant> {
        match self.rate {
            Some(rate) if !self.quota_spent() => {
                Some(self.start + Duration::from_secs_f64(self.issued as f64 / rate))
            }
            _ => None,
        }
    }

    /// Counts one request sent; `measured` when it was intended for the
    /// measured phase.
    pub fn issue(&mut self, measured: bool) {
        if measured {
            self.measured_issued += 1;
        }
        self.issued += 1;
    }

    /// Counts a connection attempt that failed in the measured phase. A
    /// count-bounded run must end even against a dead server, so the
    /// request the connection would have sent is spent; an attempt that was
    /// under way when the last one was spent is no request, and the answer
    /// is false: it is not counted at all, and the run settles exactly its
    /// count.
    pub fn spend_attempt(&mut self) -> bool {
        if self.quota.is_none() {
            return true;
        }
        if self.quota_spent() {
            return false;
        }
        self.spent_attempts += 1;
        true
    }

    /// The open-loop requests due by `now` (the one due at `now` included)
    /// and not yet sent, a count's no more than it has left; 0 in closed loop.
    pub fn backlog(&self, now: Instant) -> u64 {
        let Some(rate) = self.rate else {
            return 0;
        };
        let since_start = now.saturating_duration_since(self.start).as_secs_f64();
        let mut due = (since_start * rate).floor() as u64 + 1;
        if let Some(quota) = self.quota {
            // The warm-up's requests, and what is left of the count.
            let warm = self.issued - self.measured_issued;
            due = due.min((quota + warm).saturating_sub(self.spent_attempts));
        }
        due.saturating_sub(self.issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn open_loop_requests_are_due_one_interval_apart_from_the_start() {
        let start = Instant::now();
        let mut s = Schedule::new(start, Some(8.0), None);
        for k in 0..20 {
            assert_eq!(s.next_due(), Some(start + ms(125 * k)));
            s.issue(k % 2 == 0);
        }
    }

    #[test]
    fn send_times_follow_a_rate_that_is_no_whole_number_of_microseconds() {
        let start = Instant::now();
        let mut s = Schedule::new(start, Some(3000.0), None);
        for _ in 0..3000 {
            s.issue(true);
        }
        let due = s
            .next_due()
            .expect("a timed load always has a next request");
        let off = due.saturating_duration_since(start + ms(1000))
            + (start + ms(1000)).saturating_duration_since(due);
        assert!(off < Duration::from_micros(1), "{off:?} off one second");
    }

    #[test]
    fn a_closed_loop_has_no_send_times_and_no_backlog() {
        let start = Instant::now();
        let mut s = Schedule::new(start, None, Some(10));
        s.issue(true);
        assert_eq!(s.next_due(), None);
        assert_eq!(s.backlog(start + ms(5000)), 0);
    }

    #[test]
    fn a_count_stops_the_schedule_once_its_measured_requests_are_sent() {
        let start = Instant::now();
        let mut s = Schedule::new(start, Some(8.0), Some(2));
        // Warm-up requests take the schedule's turns but not the quota's.
        s.issue(false);
        s.issue(false);
        assert!(!s.quota_spent());
        s.issue(true);
        assert_eq!(s.next_due(), Some(start + ms(375)));
        s.issue(true);
        assert!(s.quota_spent());
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn a_timed_load_never_spends_a_quota() {
        let mut s = Schedule::new(Instant::now(), Some(8.0), None);
        for _ in 0..1000 {
            s.issue(true);
            assert!(s.spend_attempt());
        }
        assert!(!s.quota_spent());
        assert!(s.next_due().is_some());
    }

    #[test]
    fn failed_attempts_spend_the_quota_until_it_is_gone() {
        let mut s = Schedule::new(Instant::now(), None, Some(3));
        s.issue(true);
        assert!(s.spend_attempt());
        assert!(s.spend_attempt());
        assert!(s.quota_spent());
        assert!(!s.spend_attempt());
    }

    #[test]
    fn the_backlog_is_the_requests_due_and_not_sent() {
        let start = Instant::now();
        let mut s = Schedule::new(start, Some(8.0), None);
        s.issue(true);
        s.issue(true);
        // Due by one second: the requests at 0, 125, ..., 1000 ms.
        assert_eq!(s.backlog(start + ms(1000)), 7);
        assert_eq!(s.backlog(start + ms(125)), 0);
        assert_eq!(s.backlog(start + ms(100)), 0);
    }

    #[test]
    fn a_counts_backlog_is_no_more_than_its_requests_left() {
        let start = Instant::now();
        let mut s = Schedule::new(start, Some(8.0), Some(4));
        s.issue(false);
        s.issue(true);
        // Nine due by one second, but one warm-up and four measured in all.
        assert_eq!(s.backlog(start + ms(1000)), 3);
    }

    #[test]
    fn an_open_counts_failed_attempts_leave_no_backlog_to_send() {
        // Against a dead server every attempt fails: the count is spent
        // with nothing sent, and nothing is left due.
        let start = Instant::now();
        let mut s = Schedule::new(start, Some(8.0), Some(5));
        for _ in 0..5 {
            assert!(s.spend_attempt());
        }
        assert!(s.quota_spent());
        assert_eq!(s.next_due(), None);
        assert_eq!(s.backlog(start + ms(1000)), 0);
        // Two of a count of four failed, one sent: one is left to send.
        let mut s = Schedule::new(start, Some(8.0), Some(4));
        s.issue(true);
        s.spend_attempt();
        s.spend_attempt();
        assert_eq!(s.backlog(start + ms(1000)), 1);
    }
}
