//! Little's law as a check on a closed-loop measurement: each of a closed
//! loop's `N` connections holds one request at a time, so the requests in
//! flight, `L = X x W` (the rate at which requests settle times their mean
//! latency), should equal `N`. Where `L` falls short, part of every turn of
//! a connection was spent outside the latency the load generator measures:
//! `(N - L) / X` seconds per request, in the generator between an answer
//! and the next request, in the kernel's queues, or setting up a connection
//! before the request could be sent.
//!
//! ```
//! use framewut::model::little;
//!
//! // 32 connections, 20,000 requests a second at 1,405 µs each: 28.1 in flight.
//! let check = little::check(32, 20_000.0, 1_405.0, 0.06);
//! assert!(!check.holds);
//! assert_eq!(check.l, 28.1);
//! assert_eq!(check.gap_us.round(), 195.0);
//! ```

use serde::{Deserialize, Serialize};

use crate::stats::sample_stdev;

/// The least share of `N` that `L` may fall short by before the law is
/// said to fail: requests in flight across a trial's edges are counted in
/// some trials' windows and not others', and a few per cent of `N` is as
/// close as a window of whole requests can tell.
pub const MARGIN_FLOOR: f64 = 0.05;

/// The relative resolution of a latency histogram: three significant
/// digits (`framewut_load::new_histogram`).
pub const HISTOGRAM_RESOLUTION: f64 = 1e-3;

/// Little's law checked on one closed-loop measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Little {
    /// `N`: the connections, each holding one request at a time.
    pub n: u64,
    /// `L = X x W`: the requests in flight by the measurement.
    pub l: f64,
    /// `X`: requests settled per second, answered or not.
    pub per_s: f64,
    /// `W`: their mean latency, in microseconds.
    pub mean_latency_us: f64,
    /// `(N - L) / X`: microseconds of every request spent outside its
    /// measured latency; negative when `L` exceeds `N`.
    pub gap_us: f64,
    /// The share of `N` that `L` may fall short by within the
    /// measurement's own resolution.
    pub margin: f64,
    /// Whether `L >= N x (1 - margin)`.
    pub holds: bool,
}

/// Checks `L = X x W` against `N` for `connections` (`N`), a rate of
/// `per_s` (`X`) requests settled per second and a mean latency of
/// `mean_latency_us` (`W`); the law holds unless `L` falls short of `N`
/// by more than `margin` (a share of `N`, see [`margin`]).
pub fn check(connections: u64, per_s: f64, mean_latency_us: f64, margin: f64) -> Little {
    let n = connections as f64;
    let l = per_s * mean_latency_us / 1e6;
    Little {
        n: connections,
        l,
        per_s,
        mean_latency_us,
        gap_us: if per_s > 0.0 {
            (n - l) / per_s * 1e6
        } else {
            0.0
        },
        margin,
        holds: l >= n * (1.0 - margin),
    }
}

/// The share of `N` that `L` may fall short by within what the
/// measurement can tell: the relative standard error of the trials' rates
/// (`rates`, one per trial; none for a single trial), the histogram's
/// resolution, the microsecond a latency is truncated to against the mean
/// latency, and [`MARGIN_FLOOR`].
pub fn margin(rates: &[f64], mean_latency_us: f64) -> f64 {
    let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let standard_error = match sample_stdev(rates) {
        Some(s) if mean > 0.0 => s / (rates.len() as f64).sqrt() / mean,
        _ => 0.0,
    };
    let truncation = if mean_latency_us > 0.0 {
        1.0 / mean_latency_us
    } else {
        0.0
    };
    standard_error + HISTOGRAM_RESOLUTION + truncation + MARGIN_FLOOR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_loop_holds() {
        // 200 connections at 100,000 req/s and 2 ms each: 200 in flight.
        let c = check(
            200,
            100_000.0,
            2_000.0,
            margin(&[99_000.0, 101_000.0], 2_000.0),
        );
        assert!(c.holds, "{c:?}");
        assert_eq!(c.l, 200.0);
        assert!(c.gap_us.abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn a_loop_that_spends_half_its_turn_connecting_fails_by_that_time() {
        // Connection: close at 200 connections: 16,000 req/s at 6.25 ms is
        // 100 in flight; the other half of each turn, 6.25 ms, was set-up.
        let c = check(200, 16_000.0, 6_250.0, 0.06);
        assert!(!c.holds);
        assert_eq!(c.l, 100.0);
        assert!((c.gap_us - 6_250.0).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn the_margin_decides_a_shortfall_near_it() {
        // 32 connections, L = 30.4: 5% short.
        let c = check(32, 20_000.0, 1_520.0, 0.06);
        assert!(c.holds, "within 6%: {c:?}");
        let c = check(32, 20_000.0, 1_520.0, 0.04);
        assert!(!c.holds, "beyond 4%: {c:?}");
        assert!(
            (c.gap_us - 80.0).abs() < 1e-9,
            "(32 - 30.4) / 20,000 s: {c:?}"
        );
    }

    #[test]
    fn more_in_flight_than_connections_holds_with_a_negative_gap() {
        // Unanswered requests counted at their age reach back before the
        // window, so L can exceed N; the law is only broken by a shortfall.
        let c = check(32, 100.0, 400_000.0, 0.06);
        assert!(c.holds);
        assert!((c.gap_us + 80_000.0).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn the_margin_adds_the_rates_standard_error_and_the_resolution() {
        // Rates 90 and 110: s = 14.14, standard error 10, 10% of 100.
        let m = margin(&[90.0, 110.0], 1_000.0);
        assert!((m - (0.1 + 1e-3 + 1e-3 + 0.05)).abs() < 1e-12, "{m}");
        // One trial has no standard error; a 20 µs latency is 5% uncertain
        // from its truncation to whole microseconds.
        let m = margin(&[100.0], 20.0);
        assert!((m - (0.05 + 1e-3 + 0.05)).abs() < 1e-12, "{m}");
        assert_eq!(margin(&[], 0.0), HISTOGRAM_RESOLUTION + MARGIN_FLOOR);
    }

    #[test]
    fn no_rate_means_no_gap() {
        let c = check(8, 0.0, 0.0, 0.06);
        assert!(!c.holds);
        assert_eq!((c.l, c.gap_us), (0.0, 0.0));
    }
}
