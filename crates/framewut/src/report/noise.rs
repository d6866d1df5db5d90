//! How far a cell's mean rate could be from what measuring it again would
//! give: what the reports print beside every rate. `framewut compare` tests
//! its changes on the trials' rates themselves ([`trial_rates`]), with the
//! counting resolution ([`resolution_per_s`]) as a floor.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::format::thousands;
use crate::lab::results::{CellResult, CellSummary, Results};
use crate::stats::{mean_ci95, sample_stdev};

/// A cell's noise: a half-width in req/s and what kind of spread it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// The half-width, in req/s: `mean ± per_s`.
    pub per_s: f64,
    /// Which spread it is: `95% CI of the mean of 3 trials (Student's t)`
    /// (with the counting resolution beside it when that is wider), or with
    /// one trial `one trial: per-second 1σ over 5 s within it, not between
    /// runs`.
    pub source: String,
}

/// Each trial's rate, in req/s: the samples a comparison tests.
pub fn trial_rates(cell: &CellResult) -> Vec<f64> {
    cell.trials.iter().map(|t| t.load.requests_per_s).collect()
}

/// The smallest change in rate that counting can resolve: the successes
/// that complete together, which a trial's edge counts in or out as one,
/// over a trial's seconds. Measured, where the trials say (the generator's
/// `burst`, the largest of the trials'): 16 connections woken together by a
/// 50 ms sleep complete in bursts of 16, a 4-worker sync pool's requests one
/// by one. In results written before framewut measured it, one round more
/// or less on every connection, `connections / seconds per trial`, the
/// most a closed loop's edge can cut. `None` for a cell with no summary.
pub fn resolution_per_s(cell: &CellResult) -> Option<f64> {
    let summary = cell.summary.as_ref()?;
    let seconds = summary.elapsed_s / summary.trials.max(1) as f64;
    if seconds <= 0.0 {
        return None;
    }
    let bursts: Option<Vec<f64>> = cell.trials.iter().map(|t| t.load.burst).collect();
    let together = match bursts {
        Some(b) if !b.is_empty() => b.into_iter().fold(1.0, f64::max),
        _ => cell.config.load.connections as f64,
    };
    Some(together / seconds)
}

/// The noise of a measured cell. With several trials, the half-width of the
/// 95% confidence interval of their mean rate from Student's t distribution
/// (n - 1 degrees of freedom, sample standard deviation): with 2 trials
/// that is 12.7 standard deviations over sqrt(2), because 2 trials say
/// little. Trials that agree closely (a wait-bound cell's whole rounds) can
/// give an interval narrower than the counting resolution; the source then
/// says so, since no change that small could be told apart. With one trial there is no interval between runs; what is shown
/// is the sample standard deviation of its per-second rates (whole seconds
/// only), labelled as variation within the run, which says nothing of how a
/// second run would differ (and `framewut compare` does not use it).
pub fn noise(cell: &CellResult) -> Option<Noise> {
    cell.summary.as_ref()?;
    let rates = trial_rates(cell);
    if let Some((_, half)) = mean_ci95(&rates) {
        let mut source = format!("95% CI of the mean of {} trials (Student's t)", rates.len());
        if let Some(resolution) = resolution_per_s(cell).filter(|&r| half < r) {
            let _ = write!(
                source,
                "; under the counting resolution, {} req/s",
                thousands(resolution)
            );
        }
        return Some(Noise {
            per_s: half,
            source,
        });
    }
    let trial = cell.trials.first()?;
    let whole = trial.load.elapsed_s.floor() as usize;
    let per_second: Vec<f64> = trial
        .load
        .timeline
        .iter()
        .take(whole)
        .map(|s| s.requests as f64)
        .collect();
    Some(match sample_stdev(&per_second) {
        Some(stdev) => Noise {
            per_s: stdev,
            source: format!(
                "one trial: per-second 1σ over {} s within it, not between runs",
                per_second.len()
            ),
        },
        None => Noise {
            per_s: 0.0,
            source: "one trial: no spread".to_string(),
        },
    })
}

/// The cells of a run that have a summary and a noise, with both.
pub fn with_noise(results: &Results) -> impl Iterator<Item = (&CellResult, &CellSummary, Noise)> {
    results
        .cells
        .iter()
        .filter_map(|cell| Some((cell, cell.summary.as_ref()?, noise(cell)?)))
}
