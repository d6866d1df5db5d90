//! The results table: one row per cell, printed as cells finish and again at
//! the end. Every rate carries its trial count and spread.

use std::time::Duration;

use framewut_load::format_duration;

use super::{drift, phases};
use crate::format::{mebibytes, thousands};
use crate::lab::measure::cpus::Placement;
use crate::lab::results::{CellResult, CellSummary, Status};
use crate::spec::StackSource;
use crate::stats::mean_ci95;

/// Connections left without an answer, as `30/32` so a starved cell cannot
/// look clean; `0` when none, `-` for a cell measured before they were counted.
pub fn silent_connections(s: &CellSummary, connections: usize) -> String {
    match s.silent_connections {
        None => "-".to_string(),
        Some(0) => "0".to_string(),
        Some(n) => format!("{n}/{connections}"),
    }
}

/// Formats the table's rows for cells whose ids are at most `id_width` long.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    id_width: usize,
}

impl Table {
    /// A table wide enough for every one of these cells' ids.
    pub fn for_cells<'a>(ids: impl IntoIterator<Item = &'a str>) -> Table {
        Table {
            id_width: ids.into_iter().map(str::len).max().unwrap_or(4).max(4),
        }
    }

    pub fn header(&self) -> String {
        format!(
            "{:<w$}  {:>9}  {:>8}  {:>8}  {:>6}  {:>6}  {:>7}  {:>8}  {:<13}  {}",
            "cell",
            "req/s",
            "p50",
            "p99",
            "errors",
            "silent",
            "srv CPU",
            "RSS",
            "vs model",
            "trials",
            w = self.id_width
        )
    }

    /// One cell's row, its "vs model" column from the model placed as `placement` says.
    pub fn row(&self, cell: &CellResult, placement: &Placement) -> String {
        let Some(s) = cell
            .summary
            .as_ref()
            .filter(|_| cell.status != Status::Failed)
        else {
            let reason = cell.reason.as_deref().unwrap_or("not run");
            let status = match cell.status {
                Status::Pending => "pending",
                Status::Ok => "ok",
                Status::Failed => "FAILED",
                Status::Skipped => "skipped",
                Status::Interrupted => "interrupted",
            };
            let first_line = reason.lines().next().unwrap_or("");
            return format!("{:<w$}  {status}: {first_line}", cell.id, w = self.id_width);
        };
        let us = |p: f64| {
            s.latency.at(p).map_or("-".to_string(), |v| {
                format_duration(Duration::from_micros(v))
            })
        };
        let rates: Vec<f64> = cell.trials.iter().map(|t| t.load.requests_per_s).collect();
        let trials = match mean_ci95(&rates) {
            Some((mean, half)) if mean > 0.0 => {
                format!("{} ±{:.1}%", s.trials, 100.0 * half / mean)
            }
            _ => s.trials.to_string(),
        };
        let mut notes = Vec::new();
        if cell.status == Status::Interrupted {
            notes.push("interrupted");
        }
        if s.generator_saturated {
            notes.push("generator saturated");
        }
        let rough = phases::rough(cell)
            .map(|r| format!("{}: a rough rate", phases::rounds_words(r)))
            .unwrap_or_default();
        if !rough.is_empty() {
            notes.push(&rough);
        }
        let drifted = drift::words(&drift::trials(cell)).unwrap_or_default();
        if !drifted.is_empty() {
            notes.push(&drifted);
        }
        let crossed: Vec<String> = cell
            .thresholds
            .iter()
            .filter(|t| !t.held)
            .map(|t| t.threshold.to_string())
            .collect();
        let crossed = format!("threshold crossed: {}", crossed.join(", "));
        if cell.crossed() {
            notes.push(&crossed);
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join(", "))
        };
        let silent = silent_connections(s, cell.config.load.connections);
        let model = cell.prediction(placement).map_or("-".to_string(), |p| {
            format!(
                "{:.2} {}{}",
                p.ratio,
                p.bound.short(),
                if p.surprise { " !" } else { "" }
            )
        });
        // A url stack's server is not framewut's to sample: its memory is
        // never known, its CPU only through its metrics.
        let remote = matches!(cell.config.stack.source, StackSource::Remote { .. });
        let cpu = if s.server_cpu_measured {
            format!("{:.0}%", s.server_cpu_pct)
        } else {
            "-".to_string()
        };
        let rss = if remote {
            "-".to_string()
        } else {
            mebibytes(s.server_peak_rss_bytes)
        };
        format!(
            "{:<w$}  {:>9}  {:>8}  {:>8}  {:>6}  {silent:>6}  {cpu:>7}  {rss:>8}  {model:<13}  {trials}{notes}",
            cell.id,
            thousands(s.requests_per_s.mean),
            us(50.0),
            us(99.0),
            s.failed_requests,
            w = self.id_width
        )
    }

    /// The whole table with a closing legend.
    pub fn render(&self, cells: &[CellResult], placement: &Placement) -> String {
        let mut out = self.header();
        for cell in cells {
            out.push('\n');
            out.push_str(&self.row(cell, placement));
        }
        out.push_str(
            "\nreq/s: mean over trials; p50/p99: all trials' latencies merged; errors: failed requests \
             (in-flight at the end not counted); silent: connections that got no answer in a trial \
             (the most in any), out of all; srv CPU: 100% = one core; RSS: peak, summed over the \
             server's processes; vs model: measured / the model's ceiling, and the bound that sets it \
             (! = a surprise, outside 0.7-1.15; CPU ceilings of hello, cpu and db cells come from a \
             calibration probe before the trials); trials: count and the 95% confidence interval of \
             the mean rate (Student's t over the trials), as a share of it; a rough rate: a trial \
             spanned fewer than 8 rounds per connection (answers / connections), too few for every \
             connection's turn to average out",
        );
        out
    }
}
