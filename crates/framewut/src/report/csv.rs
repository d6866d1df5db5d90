//! results.csv: one row per cell, for spreadsheets. The columns are the
//! lab table's and the report's (rate, latency, errors, CPU, memory, trials)
//! with the model's prediction and bound beside them; plain numbers, the
//! unit in each column's name (`req_per_s`, `p99_ms`), and an empty field
//! where a cell has no value. Quoted as RFC 4180 says: a field holding a
//! comma, a double quote or a line break is put in double quotes, its
//! quotes doubled; every record ends with CRLF. Documented column by column
//! in docs/results-csv.md.

use std::fmt::Display;

use super::breakdown::{Breakdown, SideCost};
use super::Analysis;
use crate::lab::results::{CellResult, Results, Status};
use crate::model::Prediction;
use crate::spec::PacingSpec;
use crate::stats::mean_ci95;

/// The file's name inside a run directory.
pub const CSV: &str = "results.csv";

/// The header row: every column's name, in order.
pub const COLUMNS: [&str; 45] = [
    "id",
    "stack",
    "workers",
    "variant",
    "scenario",
    "profile",
    "connections",
    "offered_req_per_s",
    "status",
    "reason",
    "trials",
    "req_per_s",
    "req_per_s_ci95",
    "p50_ms",
    "p99_ms",
    "p99_9_ms",
    "errors",
    "silent_connections",
    "unanswered",
    "server_cpu_pct",
    "server_cpu_us_per_request",
    "server_peak_rss_bytes",
    "generator_saturated",
    "predicted_req_per_s",
    "bound",
    "bound_formula",
    "bound_words",
    "measured_over_predicted",
    "surprise",
    "server_user_us_per_request",
    "server_kernel_us_per_request",
    "server_irq_us_per_request",
    "server_voluntary_switches_per_request",
    "server_involuntary_switches_per_request",
    "server_syscalls_per_request",
    "generator_user_us_per_request",
    "generator_kernel_us_per_request",
    "generator_irq_us_per_request",
    "generator_voluntary_switches_per_request",
    "generator_involuntary_switches_per_request",
    "generator_syscalls_per_request",
    "connections_per_request",
    "bytes_out_per_request",
    "bytes_in_per_request",
    "server_page_faults_per_request",
];

/// One field as RFC 4180 writes it: quoted only when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A value, or the empty field for none. Numbers print as Rust prints
/// them: the shortest text that reads back as the same number, never with
/// an exponent, so a spreadsheet and a script both read them exactly.
fn opt<T: Display>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

/// One side's costs per request, in the columns' order.
fn side(s: Option<&SideCost>) -> [String; 6] {
    [
        opt(s.and_then(|s| s.user_us)),
        opt(s.and_then(|s| s.kernel_us)),
        opt(s.and_then(|s| s.interrupts_us)),
        opt(s.and_then(|s| s.voluntary_switches)),
        opt(s.and_then(|s| s.involuntary_switches)),
        opt(s.and_then(|s| s.syscalls)),
    ]
}

/// A cell's fields, in [`COLUMNS`]' order.
fn row(
    cell: &CellResult,
    prediction: Option<&Prediction>,
    breakdown: Option<&Breakdown>,
) -> Vec<String> {
    let status = match cell.status {
        Status::Pending => "pending",
        Status::Ok => "ok",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
        Status::Interrupted => "interrupted",
    };
    // A failed cell may keep the trials it ran before failing; like the
    // tables, the CSV shows no figures for it.
    let s = cell
        .summary
        .as_ref()
        .filter(|_| cell.status != Status::Failed);
    let rates: Vec<f64> = cell.trials.iter().map(|t| t.load.requests_per_s).collect();
    // In milliseconds, from the histogram's microseconds.
    let latency = |percentile: f64| {
        opt(s
            .and_then(|s| s.latency.at(percentile))
            .map(|us| us as f64 / 1000.0))
    };
    let p = prediction;
    let b = breakdown.filter(|_| cell.status != Status::Failed);
    vec![
        cell.id.clone(),
        cell.config.stack.label.clone(),
        cell.config.stack.workers.to_string(),
        opt(cell.config.variant()),
        cell.config.scenario.name().to_string(),
        cell.config.load.profile.clone(),
        cell.config.load.connections.to_string(),
        match cell.config.load.pacing {
            PacingSpec::Closed => String::new(),
            PacingSpec::Open { rate } => rate.rate().get().to_string(),
        },
        status.to_string(),
        cell.reason.clone().unwrap_or_default(),
        opt(s.map(|s| s.trials)),
        opt(s.map(|s| s.requests_per_s.mean)),
        opt(s.and(mean_ci95(&rates)).map(|(_, half)| half)),
        latency(50.0),
        latency(99.0),
        latency(99.9),
        opt(s.map(|s| s.failed_requests)),
        opt(s.and_then(|s| s.silent_connections)),
        opt(s.and_then(|s| s.unanswered)),
        opt(s.map(|s| s.server_cpu_pct)),
        opt(s.and_then(|s| s.server_cpu_us_per_request)),
        opt(s.map(|s| s.server_peak_rss_bytes)),
        opt(s.map(|s| s.generator_saturated)),
        opt(p.map(|p| p.predicted_per_s)),
        opt(p.map(|p| {
            serde_json::to_value(p.bound)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })),
        opt(p.map(|p| &p.formula)),
        opt(p.map(|p| &p.because)),
        opt(p.map(|p| p.ratio)),
        opt(p.map(|p| p.surprise)),
    ]
    .into_iter()
    .chain(side(b.map(|b| &b.server)))
    .chain(side(b.map(|b| &b.generator)))
    .chain([
        opt(b.map(|b| b.connections)),
        opt(b.map(|b| b.bytes_out)),
        opt(b.map(|b| b.bytes_in)),
        opt(b.and_then(|b| b.server.page_faults)),
    ])
    .collect()
}

/// results.csv for a run and its analysis: the header, then every cell of
/// the run in its order, measured or not.
pub fn render(results: &Results, analysis: &Analysis) -> String {
    let mut out = String::new();
    let mut record = |fields: &[String]| {
        let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    };
    record(&COLUMNS.map(str::to_string));
    for cell in &results.cells {
        record(&row(
            cell,
            analysis.prediction(&cell.id),
            analysis.breakdown(&cell.id),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("rust/std/sync-pool"), "rust/std/sync-pool");
        assert_eq!(field(""), "");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn numbers_read_back_exactly_and_never_in_exponent_form() {
        assert_eq!(opt(Some(21914.5_f64)), "21914.5");
        assert_eq!(opt(Some(81.0_f64 / 1000.0)), "0.081");
        assert_eq!(opt(Some(1e-7_f64)), "0.0000001");
        assert_eq!(opt(Some(1e21_f64)), "1000000000000000000000");
        assert_eq!(opt(None::<f64>), "");
        let x = 2.0_f64 / 3.0;
        assert_eq!(opt(Some(x)).parse::<f64>().unwrap(), x);
    }
}
