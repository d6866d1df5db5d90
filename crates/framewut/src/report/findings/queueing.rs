//! Findings from queueing theory: Little's law on every closed-loop cell
//! (its connections against the requests its rate and latency put in
//! flight), said only where it fails, with the time per request the
//! latency left out and where it went; and the Universal Scalability Law
//! on every sweep of connections, with what its coefficients mean.

use super::{Finding, Topic};
use crate::format::{count, micros, rate};
use crate::lab::results::{CellResult, Results, Status};
use crate::model::little::{self, Little};
use crate::report::scaling::{meaning, profile_words, SweepFit};
use crate::report::CellPrediction;
use crate::spec::PacingSpec;

/// A reconnect for at least this share of requests makes a connection's
/// set-up part of most turns.
const RECONNECTING: f64 = 0.5;

/// Little's law on a closed-loop cell's trials taken together: `N` its
/// connections, `X` the requests settled per second (answered with any
/// status, or left unanswered), `W` their mean latency with each
/// unanswered request at its age. None for an open-loop cell, one not
/// measured, or one measured before framewut counted unanswered requests
/// (framewut-load/2): the answered alone leave out the connections that
/// waited for nothing, which a sync pool leaves by design.
pub(crate) fn little(cell: &CellResult) -> Option<Little> {
    if !matches!(cell.status, Status::Ok | Status::Interrupted)
        || !matches!(cell.config.load.pacing, PacingSpec::Closed)
    {
        return None;
    }
    let summary = cell.summary.as_ref()?;
    let latency = summary.latency_with_unanswered.as_ref()?;
    if latency.count == 0 || summary.elapsed_s <= 0.0 {
        return None;
    }
    let rates: Vec<f64> = cell.trials.iter().map(|t| t.load.requests_per_s).collect();
    Some(little::check(
        cell.config.load.in_flight() as u64,
        latency.count as f64 / summary.elapsed_s,
        latency.mean_us,
        little::margin(&rates, latency.mean_us),
    ))
}

/// Where the time outside a cell's latencies went, as far as its trials
/// say: connections set up for each request, connections left without an
/// answer, or else the generator and the kernel in between.
fn where_it_went(cell: &CellResult) -> String {
    let load = &cell.config.load;
    let responses: u64 = cell.trials.iter().map(|t| t.load.responses).sum();
    let reconnects: u64 = cell.trials.iter().map(|t| t.load.reconnects).sum();
    let per_request = if responses > 0 {
        reconnects as f64 / responses as f64
    } else {
        0.0
    };
    let silent = cell
        .summary
        .as_ref()
        .and_then(|s| s.silent_connections)
        .unwrap_or(0);
    if load.close {
        "connection set-up: this load asks for the connection to be closed after every request (Connection: close) and opens a new one, and a request's latency starts once its connection is open".to_string()
    } else if per_request >= RECONNECTING {
        format!(
            "connection set-up: the stack closed its connections, so the generator opened {per_request:.2} new ones per request, and a request's latency starts once its connection is open"
        )
    } else if silent > 0 {
        format!(
            "{silent} of {} connections got no answer in a trial, and a connection whose set-up the server never took up (its TCP accept or TLS handshake) has no request in flight to count",
            load.connections
        )
    } else {
        "the generator's own work between an answer and the next request, and the kernel's queues on the way there and back".to_string()
    }
}

/// Each closed-loop cell where Little's law fails: fewer requests in
/// flight than connections, by more than the measurement's margin.
pub(super) fn littles_law(results: &Results, cells: &[CellPrediction], out: &mut Vec<Finding>) {
    for (cell, c) in results.cells.iter().zip(cells) {
        let Some(check) = c.little.filter(|l| !l.holds) else {
            continue;
        };
        let load = &cell.config.load;
        out.push(Finding {
            topic: Topic::LittlesLaw,
            verdict: None,
            text: format!(
                "{} {}{}: {}, but rate x mean latency = {} x {} = {:.1} in flight: {} of every request were spent outside the server's answer as the load generator measures it ({}). Little's law says N = rate x mean latency in a closed loop; the check allows {:.0}% for the trials' spread and the histogram's resolution.",
                cell.config.stack.label,
                cell.config.scenario.name(),
                profile_words(&load.profile),
                count(check.n, "connection", "connections"),
                rate(check.per_s),
                micros(check.mean_latency_us),
                check.l,
                micros(check.gap_us),
                where_it_went(cell),
                100.0 * check.margin
            ),
            cells: vec![cell.id.clone()],
        });
    }
}

/// Each sweep the law was fitted to, in words.
pub(super) fn scalability(sweeps: &[SweepFit], out: &mut Vec<Finding>) {
    for sweep in sweeps {
        let Some(fit) = &sweep.usl else {
            continue;
        };
        out.push(Finding {
            topic: Topic::Scalability,
            verdict: None,
            text: format!(
                "{}: {} (the Universal Scalability Law fitted to {} trials at {} connection counts, R² = {:.3}).",
                sweep.name(),
                meaning(fit),
                fit.points,
                fit.distinct,
                fit.r_squared
            ),
            cells: sweep.cells.clone(),
        });
    }
}
