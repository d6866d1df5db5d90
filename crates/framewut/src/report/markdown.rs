//! report.md: the run in the spirit of the seed's notes. Findings first,
//! then a table per scenario with the model beside every rate, then the
//! trial spread, the environment and where everything ran.

use std::fmt::Write;

use super::findings::Finding;
use super::noise::with_noise;
use super::Analysis;
use super::{run_sentence, scenario_options, scenarios, status_words};
use crate::format::{micros, thousands};
use crate::lab::cpus::PlacementOrigin;
use crate::lab::results::{CellResult, Results, Status};
use crate::model::{SURPRISE_ABOVE, SURPRISE_BELOW};
use crate::spec::PacingSpec;

/// Text safe inside a Markdown table cell.
fn cell_text(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn latency(cell: &CellResult, percentile: f64) -> String {
    cell.summary
        .as_ref()
        .and_then(|s| s.latency.at(percentile))
        .map_or("-".to_string(), |us| micros(us as f64))
}

fn load_words(cell: &CellResult) -> String {
    match cell.config.load.pacing {
        PacingSpec::Closed => cell.config.load.connections.to_string(),
        PacingSpec::Open { rate } => format!(
            "{} @ {}/s",
            cell.config.load.connections,
            thousands(rate.rate().get())
        ),
    }
}

/// A cell's reference figure from its matrix, when it has one: `823.69 (seed: plain WSGI / sync)`.
pub(crate) fn reference(cell: &CellResult) -> String {
    cell.config.reference.as_ref().map_or("-".to_string(), |r| {
        format!("{} ({})", thousands(r.requests_per_s), r.source)
    })
}

fn scenario_table(out: &mut String, analysis: &Analysis, cells: &[&CellResult]) {
    let references = cells.iter().any(|c| c.config.reference.is_some());
    let (ref_head, ref_rule) = if references {
        (" reference |", " --- |")
    } else {
        ("", "")
    };
    let _ = writeln!(out, "| stack | workers | variant | conns | req/s |{ref_head} p50 | p99 | p99.9 | errors | server CPU | CPU/request | model | measured/model | bound |");
    let _ = writeln!(out, "| --- | ---: | --- | ---: | ---: |{ref_rule} ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for cell in cells {
        let Some(s) = cell
            .summary
            .as_ref()
            .filter(|_| cell.status != Status::Failed)
        else {
            continue;
        };
        let (predicted, ratio, bound) = match analysis.prediction(&cell.id) {
            Some(p) => (
                thousands(p.predicted_per_s),
                if p.surprise {
                    format!("**{:.2}** (surprise)", p.ratio)
                } else {
                    format!("{:.2}", p.ratio)
                },
                cell_text(&p.because),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let reference = if references {
            format!(" {} |", cell_text(&reference(cell)))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}{} |{reference} {} | {} | {} | {} | {:.0}% | {} | {predicted} | {ratio} | {bound} |",
            cell_text(&cell.config.stack.label),
            cell.config.stack.workers,
            &cell.config.variant().map_or("-".to_string(), |v| v.to_string()),
            load_words(cell),
            thousands(s.requests_per_s.mean),
            if cell.status == Status::Interrupted {
                " (interrupted)"
            } else {
                ""
            },
            latency(cell, 50.0),
            latency(cell, 99.0),
            latency(cell, 99.9),
            s.failed_requests,
            s.server_cpu_pct,
            s.server_cpu_us_per_request.map_or("-".to_string(), micros),
        );
    }
    let unmeasured: Vec<&&CellResult> = cells
        .iter()
        .filter(|c| c.summary.is_none() || c.status == Status::Failed)
        .collect();
    if !unmeasured.is_empty() {
        out.push('\n');
        for cell in unmeasured {
            let reason = cell.reason.as_deref().unwrap_or("");
            let _ = writeln!(
                out,
                "- {}: {}{}",
                cell.id,
                status_words(cell.status),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", reason.lines().next().unwrap_or(""))
                }
            );
        }
    }
}

fn findings_section(out: &mut String, findings: &[Finding]) {
    out.push_str("## Findings\n\n");
    if findings.is_empty() {
        out.push_str("No cell was measured, so there is nothing to say yet.\n");
    }
    for f in findings {
        let _ = writeln!(out, "- {}", f.text);
    }
    out.push('\n');
}

fn spread_section(out: &mut String, results: &Results) {
    out.push_str("## Trial spread\n\n");
    out.push_str("Every rate above is a mean over its cell's trials. Noise is one standard deviation: of the trials' rates when there are several, of the per-second rate when there is one, and never less than the counting noise (the square root of the requests, over the seconds); `framewut compare` sets changes against it.\n\n");
    out.push_str(
        "| cell | trials | mean req/s | min | max | spread | noise (±1σ) | noise from |\n",
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (cell, s, n) in with_noise(results) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.1}% | {} ({:.1}%) | {} |",
            cell_text(&cell.id),
            s.trials,
            thousands(s.requests_per_s.mean),
            thousands(s.requests_per_s_min),
            thousands(s.requests_per_s.max),
            s.spread_pct,
            thousands(n.per_s),
            if s.requests_per_s.mean > 0.0 {
                100.0 * n.per_s / s.requests_per_s.mean
            } else {
                0.0
            },
            n.source
        );
    }
    out.push('\n');
}

fn environment_section(out: &mut String, results: &Results) {
    let e = &results.environment;
    out.push_str("## Environment\n\n");
    let _ = writeln!(
        out,
        "- CPU: {}; {} online, {} allowed to framewut (CPUs {})",
        e.cpu_model,
        e.cores_online,
        e.cores_allowed.count(),
        e.cores_allowed
    );
    let _ = writeln!(
        out,
        "- Memory: {:.1} GiB",
        e.memory_bytes as f64 / (1u64 << 30) as f64
    );
    let _ = writeln!(out, "- System: {}, kernel {}", e.os, e.kernel);
    let _ = writeln!(
        out,
        "- framewut {} (commit {})",
        e.framewut_version, e.git_commit
    );
    if !e.tools.is_empty() {
        let tools: Vec<String> = e.tools.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "- Built with: {}", tools.join(", "));
    }
    out.push('\n');

    let p = &results.placement.placement;
    out.push_str("## CPU placement\n\n");
    let origin = match p.origin {
        PlacementOrigin::Default => "framewut's default: disjoint halves of the allowed CPUs",
        PlacementOrigin::Matrix => "the matrix file's [placement]",
        PlacementOrigin::Flags => "--server-cpus / --load-cpus",
    };
    let _ = writeln!(
        out,
        "The server and everything it starts ran on CPUs {}; the load generator and the upstream stand-in on CPUs {} (from {origin}). {}\n",
        p.server_cpus,
        p.load_cpus,
        if results.placement.shared {
            "They shared cores, so they competed for them: read every rate with that in mind."
        } else {
            "They shared no core."
        }
    );
}

/// report.md for a run and what was derived from it.
pub fn render(results: &Results, analysis: &Analysis) -> String {
    let mut out = String::new();
    let run = &results.run;
    out.push_str("# framewut report\n\n");
    let _ = writeln!(out, "{}", run_sentence(run));
    let count = |s: Status| results.cells.iter().filter(|c| c.status == s).count();
    let _ = writeln!(
        out,
        "{} cells: {} measured, {} failed, {} skipped, {} interrupted, {} not run.\n",
        results.cells.len(),
        count(Status::Ok),
        count(Status::Failed),
        count(Status::Skipped),
        count(Status::Interrupted),
        count(Status::Pending)
    );
    if !run.command.is_empty() {
        let _ = writeln!(out, "Command: `{}`\n", run.command.join(" "));
    }
    findings_section(&mut out, &analysis.findings);

    for (scenario, cells) in scenarios(results) {
        let _ = writeln!(out, "## {scenario}\n");
        if let Some(options) = scenario_options(cells[0]) {
            let _ = writeln!(out, "{options}\n");
        }
        scenario_table(&mut out, analysis, &cells);
        out.push('\n');
    }

    out.push_str("How to read the tables: req/s is the mean over the cell's trials; p50, p99 and p99.9 merge all its trials' latencies; errors are failed requests (those merely in flight at the end are not counted); server CPU is 100% for one core busy; CPU/request is the server's CPU time over the requests it answered. ");
    let _ = writeln!(
        out,
        "model is the predicted ceiling in req/s, the smaller of min(connections, workers x per-worker concurrency) / (wait + CPU per request) and cores / CPU per request; a cell measuring below {SURPRISE_BELOW} or above {SURPRISE_ABOVE} of it is a surprise, and the findings say why it might be.\n"
    );
    spread_section(&mut out, results);
    environment_section(&mut out, results);
    out
}
