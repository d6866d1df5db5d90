//! How much a cell's rate would move if it were measured again: what
//! `framewut compare` sets each change beside, and what the reports print
//! beside every rate.

use serde::{Deserialize, Serialize};

use crate::lab::results::{CellResult, CellSummary, Results};

/// A cell's noise: one standard deviation of its rate, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// One standard deviation, in req/s.
    pub per_s: f64,
    /// `stdev of 3 trials`, `per-second stdev over 5 s`, `counting`.
    pub source: String,
}

/// The noise of a measured cell: the standard deviation of its trials' rates
/// when it has several; with one trial, that trial's per-second variation
/// (whole seconds only), the nearest stand-in one trial has for the
/// variation between runs. Either is raised to at least the counting noise,
/// `sqrt(requests) / seconds`, which is what a handful of slow requests
/// amounts to (a 50 ms sleep in 2 s counts 40 requests a connection: one more
/// or less is 2.5%).
pub fn noise(cell: &CellResult) -> Option<Noise> {
    let summary = cell.summary.as_ref()?;
    let (spread, source) = if cell.trials.len() > 1 {
        (
            summary.requests_per_s.stdev,
            format!("stdev of {} trials", cell.trials.len()),
        )
    } else {
        let trial = cell.trials.first()?;
        let whole = trial.load.elapsed_s.floor() as usize;
        let rates: Vec<f64> = trial
            .load
            .timeline
            .iter()
            .take(whole)
            .map(|s| s.requests as f64)
            .collect();
        if rates.len() >= 2 {
            (
                framewut_load::Stats::of(&rates).stdev,
                format!("per-second stdev over {} s", rates.len()),
            )
        } else {
            (0.0, "counting".to_string())
        }
    };
    let counting = if summary.elapsed_s > 0.0 {
        (summary.requests as f64).sqrt() / summary.elapsed_s
    } else {
        0.0
    };
    Some(if spread >= counting {
        Noise {
            per_s: spread,
            source,
        }
    } else {
        Noise {
            per_s: counting,
            source: "counting".to_string(),
        }
    })
}
/// The cells of a run that have a summary and a noise, with both.
pub fn with_noise(results: &Results) -> impl Iterator<Item = (&CellResult, &CellSummary, Noise)> {
    results
        .cells
        .iter()
        .filter_map(|cell| Some((cell, cell.summary.as_ref()?, noise(cell)?)))
}
