//! One agent's exact share of a load split over several agents
//! (`--segment I/N`), so that N agents together run the whole load with
//! nothing lost to rounding.
//!
//! Whole counts (connections, `--requests`) are dealt like cards: every
//! agent gets `whole / N`, and the first `whole % N` agents one more, so 7
//! connections over 3 agents are 3 + 2 + 2. A rate is dealt the same way in
//! thousandths of a request per second (the finest rate a plan accepts), so
//! 1000 req/s over 3 agents is 333.334 + 333.333 + 333.333, which add up to
//! 1000 exactly in those units.

use std::fmt;
use std::str::FromStr;

use crate::{LoadPlan, Pacing, Rate, Stop};

/// The most agents one load can be split over.
pub const MAX_SEGMENTS: u32 = 10_000;

/// Rates are split in units of this many requests per second.
const RATE_UNITS_PER_REQUEST: f64 = 1000.0;

/// Agent `index` of `count` (counted from 0), always with `index < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segment {
    index: u32,
    count: u32,
}

/// Why a segment, or one agent's share of a plan, is impossible.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SegmentError {
    #[error("'{0}' is not a segment: write INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/4 for the first of 4 agents")]
    NotAFraction(String),
    #[error("segment {index}/{count}: indexes run from 0 to {last}, so give 0/{count} to {last}/{count}", last = .count - 1)]
    IndexOutOfRange { index: u32, count: u32 },
    #[error("a load split over 0 agents: give at least one, e.g. 0/1")]
    NoAgents,
    #[error("a load split over {0} agents: the most is {MAX_SEGMENTS}")]
    TooManyAgents(u32),
    #[error(
        "segment {segment} of {connections} connections gets none: give at least {count} \
         connections (one per agent, e.g. -c {count}) or split over fewer agents",
        count = .segment.count
    )]
    NoConnections {
        segment: Segment,
        connections: usize,
    },
    #[error(
        "segment {segment} of {requests} requests gets none: give at least {count} requests \
         (one per agent, e.g. --requests {count}) or split over fewer agents",
        count = .segment.count
    )]
    NoRequests { segment: Segment, requests: u64 },
    #[error(
        "segment {segment} of a rate of {rate} req/s gets none: rates are split in thousandths \
         of a request per second, so give at least {least} req/s or split over fewer agents",
        least = .segment.count as f64 / RATE_UNITS_PER_REQUEST
    )]
    NoRate { segment: Segment, rate: f64 },
}

impl Segment {
    /// Agent `index` of `count`.
    pub fn new(index: u32, count: u32) -> Result<Segment, SegmentError> {
        if count == 0 {
            return Err(SegmentError::NoAgents);
        }
        if count > MAX_SEGMENTS {
            return Err(SegmentError::TooManyAgents(count));
        }
        if index >= count {
            return Err(SegmentError::IndexOutOfRange { index, count });
        }
        Ok(Segment { index, count })
    }

    /// The whole load: one agent of one.
    pub fn whole() -> Segment {
        Segment { index: 0, count: 1 }
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// Every segment of a load split over `count` agents, in index order.
    pub fn all(count: u32) -> Result<Vec<Segment>, SegmentError> {
        Segment::new(0, count)?;
        Ok((0..count).map(|index| Segment { index, count }).collect())
    }

    /// This agent's share of a whole count: `whole / count`, one more for the
    /// first `whole % count` agents. The shares of all agents add up to
    /// `whole` and differ by at most one.
    pub fn share(self, whole: u64) -> u64 {
        let count = u64::from(self.count);
        whole / count + u64::from(u64::from(self.index) < whole % count)
    }

    /// This agent's share of a total rate, dealt in thousandths of a request
    /// per second (the whole rounded to that unit first); `None` when the
    /// share is zero.
    pub fn share_rate(self, whole: Rate) -> Option<Rate> {
        let units = (whole.get() * RATE_UNITS_PER_REQUEST).round() as u64;
        Rate::per_second(self.share(units) as f64 / RATE_UNITS_PER_REQUEST)
    }

    /// This agent's part of `whole`: its share of the connections, of the
    /// open-loop rate and of a request count, everything else the same. An
    /// agent left with fewer connections than threads runs one thread per
    /// connection (the caller can compare the two plans' threads to say so).
    pub fn share_plan(self, whole: &LoadPlan) -> Result<LoadPlan, SegmentError> {
        let mut plan = whole.clone();
        plan.connections = self.share(whole.connections as u64) as usize;
        if plan.connections == 0 {
            return Err(SegmentError::NoConnections {
                segment: self,
                connections: whole.connections,
            });
        }
        plan.threads = whole.threads.min(plan.connections);
        if let Pacing::Open(rate) = whole.pacing {
            let share = self.share_rate(rate).ok_or(SegmentError::NoRate {
                segment: self,
                rate: rate.get(),
            })?;
            plan.pacing = Pacing::Open(share);
        }
        if let Stop::Requests(n) = whole.stop {
            let share = self.share(n);
            if share == 0 {
                return Err(SegmentError::NoRequests {
                    segment: self,
                    requests: n,
                });
            }
            plan.stop = Stop::Requests(share);
        }
        Ok(plan)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Segment {
    type Err = SegmentError;

    fn from_str(s: &str) -> Result<Segment, SegmentError> {
        let not = || SegmentError::NotAFraction(s.to_string());
        let (index, count) = s.trim().split_once('/').ok_or_else(not)?;
        let number = |t: &str| {
            // Digits only: no sign, no spaces inside.
            t.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| t.parse::<u32>().ok())
                .flatten()
                .ok_or_else(not)
        };
        Segment::new(number(index)?, number(count)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Target;
    use proptest::prelude::*;

    fn shares(whole: u64, count: u32) -> Vec<u64> {
        Segment::all(count)
            .unwrap()
            .into_iter()
            .map(|s| s.share(whole))
            .collect()
    }

    #[test]
    fn awkward_splits_add_up_exactly() {
        assert_eq!(shares(7, 3), [3, 2, 2]);
        assert_eq!(shares(1001, 4), [251, 250, 250, 250]);
        let rates: Vec<f64> = Segment::all(3)
            .unwrap()
            .into_iter()
            .map(|s| {
                s.share_rate(Rate::per_second(1000.0).unwrap())
                    .unwrap()
                    .get()
            })
            .collect();
        assert_eq!(rates, [333.334, 333.333, 333.333]);
        assert_eq!(rates.iter().sum::<f64>(), 1000.0);
    }

    #[test]
    fn parses_index_over_count_and_refuses_the_rest() {
        assert_eq!(
            "2/4".parse::<Segment>().unwrap(),
            Segment::new(2, 4).unwrap()
        );
        assert_eq!(" 0/1 ".parse::<Segment>().unwrap(), Segment::whole());
        for bad in ["4", "1/", "/4", "-1/4", "+1/4", "1 / 4", "a/4", "1/4/5", ""] {
            let err = bad.parse::<Segment>().unwrap_err();
            assert!(matches!(err, SegmentError::NotAFraction(_)), "{bad}: {err}");
        }
        let err = "4/4".parse::<Segment>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "segment 4/4: indexes run from 0 to 3, so give 0/4 to 3/4"
        );
        assert_eq!(
            "0/0".parse::<Segment>().unwrap_err(),
            SegmentError::NoAgents
        );
        assert_eq!(
            "0/10001".parse::<Segment>().unwrap_err(),
            SegmentError::TooManyAgents(10_001)
        );
    }

    #[test]
    fn a_plan_share_takes_its_part_of_connections_rate_and_requests() {
        let mut whole = LoadPlan::new(Target::parse("http://127.0.0.1:1/").unwrap());
        whole.connections = 7;
        whole.threads = 3;
        whole.pacing = Pacing::Open(Rate::per_second(1000.0).unwrap());
        whole.stop = Stop::Requests(1001);
        let parts: Vec<LoadPlan> = Segment::all(3)
            .unwrap()
            .into_iter()
            .map(|s| s.share_plan(&whole).unwrap())
            .collect();
        let connections: Vec<usize> = parts.iter().map(|p| p.connections).collect();
        assert_eq!(connections, [3, 2, 2]);
        // Fewer connections than threads: one thread per connection.
        let threads: Vec<usize> = parts.iter().map(|p| p.threads).collect();
        assert_eq!(threads, [3, 2, 2]);
        let requests: Vec<Stop> = parts.iter().map(|p| p.stop).collect();
        assert_eq!(
            requests,
            [
                Stop::Requests(334),
                Stop::Requests(334),
                Stop::Requests(333)
            ]
        );
        for p in &parts {
            p.validate().unwrap();
        }
    }

    #[test]
    fn a_share_of_nothing_names_the_fix() {
        let mut whole = LoadPlan::new(Target::parse("http://127.0.0.1:1/").unwrap());
        whole.connections = 3;
        whole.threads = 1;
        let last = Segment::new(3, 4).unwrap();
        let err = last.share_plan(&whole).unwrap_err();
        assert_eq!(
            err.to_string(),
            "segment 3/4 of 3 connections gets none: give at least 4 connections (one per \
             agent, e.g. -c 4) or split over fewer agents"
        );
        whole.connections = 4;
        whole.stop = Stop::Requests(3);
        let err = last.share_plan(&whole).unwrap_err();
        assert!(err.to_string().contains("--requests 4"), "{err}");
        whole.stop = Stop::Requests(4);
        whole.pacing = Pacing::Open(Rate::per_second(0.003).unwrap());
        let err = last.share_plan(&whole).unwrap_err();
        assert!(err.to_string().contains("at least 0.004 req/s"), "{err}");
    }

    proptest! {
        #[test]
        fn shares_sum_to_the_whole_and_differ_by_at_most_one(
            whole in 0u64..=u64::MAX,
            count in 1u32..=200,
        ) {
            let parts = shares(whole, count);
            let sum: u128 = parts.iter().map(|n| u128::from(*n)).sum();
            prop_assert_eq!(sum, u128::from(whole));
            let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
            prop_assert!(hi - lo <= 1);
            // The larger shares come first, so agent 0 always has the most.
            prop_assert!(parts.windows(2).all(|w| w[0] >= w[1]));
        }

        #[test]
        fn rate_shares_sum_to_the_whole_in_thousandths(
            millis in 1u64..=1_000_000_000_000,
            count in 1u32..=64,
        ) {
            let whole = Rate::per_second(millis as f64 / 1000.0).unwrap();
            let units: u64 = Segment::all(count)
                .unwrap()
                .into_iter()
                .filter_map(|s| s.share_rate(whole))
                .map(|r| (r.get() * 1000.0).round() as u64)
                .sum();
            prop_assert_eq!(units, millis);
        }
    }
}
