//! Drift inside a trial: a rate that trends or steps while it is measured
//! (a warm-up too short, a server that degrades, a machine that changed
//! speed), found from the trial's tenths of a second. The rate of its last
//! third is set against its first's: a trend moves it, a step anywhere
//! between them too, and Welch's test on the tenths of the two thirds says
//! whether the move stands out of their spread.

use framewut_load::Summary;
use serde::Serialize;

use super::phases::{rounds, ROUGH_BELOW};
use crate::lab::results::CellResult;
use crate::stats::{mean, Welch};

/// A trial drifts when its last third's rate differs from its first's by
/// at least this share...
pub const DRIFT: f64 = 0.1;
/// ...and Welch's test on their tenths rejects "the same rate" at this level.
const LEVEL: f64 = 0.01;
/// The fewest whole tenths in each third to judge by.
pub const LEAST: usize = 3;

/// How a trial's rate moved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Drift {
    /// The rate of its first third, in req/s.
    pub first_per_s: f64,
    /// The rate of its last third, in req/s.
    pub last_per_s: f64,
}

impl Drift {
    /// `(last - first) / first`.
    pub fn change(&self) -> f64 {
        (self.last_per_s - self.first_per_s) / self.first_per_s
    }
}

/// The drift of one trial, when it drifted; none for a steady trial or one
/// too short to judge (fewer than [`LEAST`] whole tenths a third).
pub fn of(trial: &Summary) -> Option<Drift> {
    let whole = ((trial.elapsed_s * 10.0).floor() as usize).min(trial.tenths.len());
    let third = whole / 3;
    if third < LEAST {
        return None;
    }
    let counts = |range: &[u64]| range.iter().map(|&n| n as f64 * 10.0).collect::<Vec<f64>>();
    let first = counts(&trial.tenths[..third]);
    let last = counts(&trial.tenths[whole - third..whole]);
    let drift = Drift {
        first_per_s: mean(&first)?,
        last_per_s: mean(&last)?,
    };
    let welch = Welch::test(&first, &last)?;
    (drift.first_per_s > 0.0 && drift.change().abs() >= DRIFT && welch.p <= LEVEL).then_some(drift)
}

/// The trials of a cell that drifted, numbered from 1, with their drift.
/// A rough trial (fewer than [`ROUGH_BELOW`] rounds per connection) is not
/// judged: its tenths follow its few rounds, not a steady state, and it is
/// marked rough already.
pub fn trials(cell: &CellResult) -> Vec<(usize, Drift)> {
    cell.trials
        .iter()
        .enumerate()
        .filter(|(_, t)| rounds(&cell.config, &t.load).is_none_or(|r| r >= ROUGH_BELOW))
        .filter_map(|(k, t)| Some((k + 1, of(&t.load)?)))
        .collect()
}

/// `trial 2 -15%`, `trials 1, 3 +12%..+20%`: what the table notes.
pub fn words(drifted: &[(usize, Drift)]) -> Option<String> {
    let pct = |d: &Drift| format!("{:+.0}%", d.change() * 100.0);
    match drifted {
        [] => None,
        [(k, d)] => Some(format!("trial {k} drifts {}", pct(d))),
        _ => {
            let ks: Vec<String> = drifted.iter().map(|(k, _)| k.to_string()).collect();
            let changes: Vec<String> = drifted.iter().map(|(_, d)| pct(d)).collect();
            Some(format!(
                "trials {} drift {}",
                ks.join(", "),
                changes.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake::trial;

    fn with_tenths(tenths: &[u64]) -> Summary {
        let mut load = trial(1000, &[500; 10], 0, 0.5).load;
        load.elapsed_s = tenths.len() as f64 / 10.0;
        load.tenths = tenths.to_vec();
        load
    }

    #[test]
    fn a_rate_that_falls_or_steps_drifts_and_a_steady_one_does_not() {
        let falling: Vec<u64> = (0..20).map(|k| 1000 - 20 * k).collect();
        let d = of(&with_tenths(&falling)).unwrap();
        assert!((d.change() + 0.295).abs() < 0.001, "{d:?}");
        let step: Vec<u64> = (0..15).map(|k| if k < 7 { 500 } else { 620 }).collect();
        assert!((of(&with_tenths(&step)).unwrap().change() - 0.24).abs() < 1e-9);
        let steady = [1000, 990, 1010, 1005, 995, 1000, 1002, 998, 1001, 999];
        assert_eq!(of(&with_tenths(&steady)), None);
        // Lumpy counts (batches of a sync pool's workers) with the same mean
        // in both thirds are not a drift, nor is a move under the threshold.
        let lumpy = [0, 16, 0, 16, 8, 8, 16, 0, 16, 0, 8, 8];
        assert_eq!(of(&with_tenths(&lumpy)), None);
        let small: Vec<u64> = (0..20).map(|k| 1000 - 2 * k).collect();
        assert_eq!(of(&with_tenths(&small)), None);
        // Too short to judge: fewer than three tenths a third.
        assert_eq!(
            of(&with_tenths(&[1000, 1000, 500, 500, 500, 400, 300, 200])),
            None
        );
    }

    #[test]
    fn a_rough_trial_is_not_judged() {
        let falling: Vec<u64> = (0..20).map(|k| 100 - 2 * k).collect();
        let cell = |connections: usize| {
            let mut results = crate::lab::fake::results(&format!(
                "[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]\n[[profile]]\nconnections = {connections}\n"
            ));
            let mut cell = results.cells.remove(0);
            let mut t = trial(1000, &[500; 10], 0, 0.5);
            t.load = with_tenths(&falling);
            cell.trials = vec![t];
            cell
        };
        // 1,000 answers over 10 connections is 100 rounds; over 500, two.
        assert_eq!(trials(&cell(10)).len(), 1);
        assert!(trials(&cell(500)).is_empty());
    }

    #[test]
    fn the_table_words_name_each_drifting_trial() {
        let d = |first, last| Drift {
            first_per_s: first,
            last_per_s: last,
        };
        assert_eq!(words(&[]), None);
        assert_eq!(
            words(&[(2, d(100.0, 85.0))]).unwrap(),
            "trial 2 drifts -15%"
        );
        assert_eq!(
            words(&[(1, d(100.0, 112.0)), (3, d(100.0, 120.0))]).unwrap(),
            "trials 1, 3 drift +12%, +20%"
        );
    }
}
