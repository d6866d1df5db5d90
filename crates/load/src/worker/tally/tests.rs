//! Tests of what a tally counts where, and of merging tallies into a report.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A measured request of entry `target`, intended and sent at those times.
fn request(intended: Instant, sent: Instant, target: u32) -> Sent {
    Sent {
        intended,
        sent,
        measured: true,
        target,
        stream: 0,
    }
}

/// Whether a histogram holds exactly one value, within its precision `value`.
fn holds_one(h: &Histogram<u64>, value: u64) -> bool {
    h.len() == 1 && h.equivalent(h.max(), value)
}

#[test]
fn a_response_counts_in_the_second_and_tenth_it_came_in_from_its_intended_time() {
    let start = Instant::now();
    let mut t = Tally::new(start, true, false, 3, None);
    let at = start + ms(2_345);
    t.answered(&request(at - ms(30), at - ms(10), 2), 200, at);
    t.received(100, at);
    assert_eq!((t.requests, t.responses, t.bytes), (1, 1, 100));
    assert_eq!(t.timeline.len(), 3);
    assert_eq!(t.timeline[0].requests, 0);
    assert_eq!(t.timeline[2].requests, 1);
    assert_eq!(t.timeline[2].bytes, 100);
    assert_eq!(t.tenths.len(), 24);
    assert_eq!(t.tenths[23], 1);
    // Latency runs from the intended time; the uncorrected one from the send.
    assert!(holds_one(&t.latency, 30_000));
    assert!(holds_one(
        t.uncorrected.as_ref().expect("open loop"),
        10_000
    ));
    assert_eq!(t.targets[2].classes, [0, 1, 0, 0, 0, 0]);
    assert_eq!(t.targets[0].classes, [0; 6]);
}

#[test]
fn an_error_status_is_an_answer_but_no_success() {
    let start = Instant::now();
    let mut t = Tally::new(start, false, false, 1, None);
    t.answered(&request(start, start, 0), 503, start + ms(5));
    assert_eq!((t.requests, t.responses), (0, 1));
    assert_eq!(t.errors.status.get(&503), Some(&1));
    assert_eq!((t.timeline[0].requests, t.timeline[0].errors), (0, 1));
    assert!(t.tenths.is_empty());
    assert_eq!(t.burst_squares, 0);
    assert!(t.uncorrected.is_none());
    assert!(t.targets.is_empty());
}

#[test]
fn successes_in_one_millisecond_are_one_burst() {
    let start = Instant::now();
    let mut t = Tally::new(start, false, false, 1, None);
    for _ in 0..3 {
        t.answered(&request(start, start, 0), 200, start + ms(5));
    }
    t.answered(&request(start, start, 0), 204, start + ms(7));
    // 3² for the burst of three, 1² for the one alone.
    assert_eq!(t.burst_squares, 10);
    assert_eq!(t.requests, 4);
}

#[test]
fn an_unanswered_request_is_recorded_at_its_age_against_its_entry() {
    let start = Instant::now();
    let mut t = Tally::new(start, false, false, 2, None);
    let now = start + ms(1_000);
    t.unanswered(&request(now - ms(300), now - ms(200), 1), now);
    assert!(holds_one(&t.unanswered, 300_000));
    assert_eq!((t.targets[0].failed, t.targets[1].failed), (0, 1));
    assert_eq!(t.errors.total(), 0, "its error is counted by its cause");
}

#[test]
fn a_request_in_flight_at_the_end_is_a_timeout_only_past_the_timeout() {
    let start = Instant::now();
    let mut t = Tally::new(start, false, false, 1, None);
    let now = start + ms(3_000);
    t.in_flight_at_end(
        &request(now - ms(2_000), now - ms(1_500), 0),
        now,
        ms(1_000),
    );
    t.in_flight_at_end(&request(now - ms(500), now - ms(500), 0), now, ms(1_000));
    assert_eq!((t.errors.timeout, t.errors.unfinished), (1, 1));
    assert_eq!(t.unanswered.len(), 2);
    assert!(t.unanswered.equivalent(t.unanswered.max(), 2_000_000));
}

#[test]
fn failures_are_errors_of_their_kind_in_their_second() {
    let start = Instant::now();
    let mut t = Tally::new(start, false, true, 1, None);
    t.failed(Failure::Read, 2, start + ms(1_500));
    t.failed(Failure::Tls("bad record".into()), 1, start);
    t.attempt_failed(None, start + ms(1_500));
    t.attempt_failed(Some("unknown CA".into()), start);
    assert_eq!((t.errors.read, t.errors.connect, t.errors.tls), (2, 1, 2));
    assert_eq!(t.errors.tls_reasons.get("bad record"), Some(&1));
    assert_eq!(t.errors.tls_reasons.get("unknown CA"), Some(&1));
    assert_eq!((t.timeline[0].errors, t.timeline[1].errors), (2, 3));
}

#[test]
fn a_new_window_starts_empty_at_the_boundary_and_keeps_what_tls_negotiated() {
    let start = Instant::now();
    let mut t = Tally::new(start, true, true, 2, None);
    let tls = t.tls.as_mut().expect("a TLS tally");
    tls.negotiated = Some(("TLSv1_3".into(), "TLS13_AES_128_GCM_SHA256".into()));
    tls.handshake(ms(3), true);
    t.answered(&request(start, start, 0), 200, start + ms(10));
    let boundary = start + ms(1_000);
    let ended = t.end_window(boundary, CpuTime::default());
    assert_eq!((ended.elapsed, ended.requests), (ms(1_000), 1));
    let ended_tls = ended.tls.as_ref().expect("a TLS tally");
    assert_eq!((ended_tls.handshakes, ended_tls.resumptions), (1, 1));
    assert!(holds_one(&ended_tls.latency, 3_000));

    assert_eq!((t.start, t.requests, t.timeline.len()), (boundary, 0, 0));
    assert!(t.uncorrected.is_some());
    assert_eq!(t.targets.len(), 2);
    let tls = t.tls.as_ref().expect("a TLS tally");
    assert_eq!(tls.handshakes, 0);
    assert_eq!(tls.negotiated, ended_tls.negotiated);
    // An answer just past the boundary is in the new window's first second.
    t.answered(&request(boundary, boundary, 0), 200, boundary + ms(20));
    assert_eq!(t.timeline.len(), 1);
}

#[test]
fn merging_sums_the_threads_tallies_second_by_second() {
    let start = Instant::now();
    let mut a = Tally::new(start, false, false, 2, None);
    a.answered(&request(start, start, 0), 200, start + ms(10));
    a.answered(&request(start, start, 0), 200, start + ms(10));
    a.answered(&request(start, start, 0), 200, start + ms(2_500));
    let a = a.ended(start + ms(3_000), CpuTime::default());
    let mut b = Tally::new(start, false, false, 2, None);
    b.answered(&request(start, start, 1), 200, start + ms(20));
    b.answered(&request(start, start, 1), 404, start + ms(1_200));
    b.failed(Failure::Read, 1, start + ms(1_300));
    let b = b.ended(start + ms(2_000), CpuTime::default());

    let r = merge(vec![a, b], false, SystemTime::UNIX_EPOCH);
    assert_eq!((r.requests, r.responses, r.errors.read), (4, 5, 1));
    assert_eq!(r.errors.status.get(&404), Some(&1));
    assert_eq!(r.elapsed, ms(3_000), "the longest thread's");
    let seconds: Vec<_> = r.timeline.iter().map(|s| (s.requests, s.errors)).collect();
    assert_eq!(seconds, [(3, 0), (0, 2), (1, 0)]);
    assert_eq!(r.thread_seconds, [vec![2, 0, 1], vec![1, 0]]);
    assert_eq!(r.tenths[0], 3);
    assert_eq!(r.latency.len(), 5);
    assert_eq!(r.targets[0].classes, [0, 3, 0, 0, 0, 0]);
    assert_eq!(r.targets[1].classes, [0, 1, 0, 1, 0, 0]);
    // Each thread's typical burst, summed: a had 2² + 1² over 3, b 1² over 1.
    assert!((r.burst - (5.0 / 3.0 + 1.0)).abs() < 1e-9, "{}", r.burst);
    assert!(r.latency_uncorrected.is_none() && r.tls.is_none());
    assert_eq!((r.cancelled, r.started), (false, SystemTime::UNIX_EPOCH));
}
