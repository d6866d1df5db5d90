//! report.md: the run in the spirit of the seed's notes. The run at a
//! glance first (a ranked grid of stacks x scenarios and who leads each),
//! then the findings, then a table per scenario with the model beside every rate, then the
//! Universal Scalability Law fitted to each sweep of connections, the
//! trial spread, the environment and where everything ran.

use std::fmt::Write;

use super::findings::{Finding, Topic};
use super::glance::{self, GlanceCell};
use super::scaling::{self, SweepFit};
use super::tables::{self, Align, Table};
use super::{run_sentence, scenario_options, scenarios, Analysis};
use crate::lab::measure::cpus::PlacementOrigin;
use crate::lab::results::{Results, Status};
use crate::model::{SURPRISE_ABOVE, SURPRISE_BELOW};

/// Text safe inside a Markdown table cell.
fn cell_text(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A table in GitHub-flavoured Markdown. A row's note takes the cell after
/// the ones that name it, and Markdown leaves the columns after it empty.
pub(crate) fn table(table: &Table) -> String {
    fn line(out: &mut String, cells: impl IntoIterator<Item = String>) {
        for cell in cells {
            let _ = write!(out, "| {cell} ");
        }
        out.push_str("|\n");
    }
    let mut out = String::new();
    line(&mut out, table.columns.iter().map(|c| cell_text(c.header)));
    line(
        &mut out,
        table.columns.iter().map(|c| match c.align {
            Align::Left => "---".to_string(),
            Align::Right => "---:".to_string(),
        }),
    );
    for row in &table.rows {
        let cells = row.cells.iter().map(|c| {
            if c.strong {
                format!("**{}**", cell_text(&c.text))
            } else {
                cell_text(&c.text)
            }
        });
        line(&mut out, cells.chain(row.note.as_deref().map(cell_text)));
    }
    out
}

/// The grid of stacks x scenarios, each cell ranked in its column (the
/// best in bold), and a sentence per column on who leads and why.
fn glance_section(out: &mut String, results: &Results, analysis: &Analysis) {
    let Some(glance) = glance::glance(results, analysis) else {
        return;
    };
    out.push_str("## At a glance\n\n");
    let mut header = vec!["stack".to_string()];
    header.extend(glance.columns.iter().map(|c| cell_text(&c.header())));
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let mut rule = vec!["---"];
    rule.extend(glance.columns.iter().map(|_| "---:"));
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in &glance.rows {
        let mut cells = vec![cell_text(&row.label)];
        cells.extend(row.cells.iter().map(|cell| match cell {
            GlanceCell::Absent => String::new(),
            GlanceCell::Unmeasured(status) => (*status).to_string(),
            GlanceCell::Measured(r) if r.rank == 1 => {
                format!("**1st · {}**", cell_text(&glance::figures(r)))
            }
            GlanceCell::Measured(r) => {
                format!(
                    "{} · {}",
                    glance::ordinal(r.rank),
                    cell_text(&glance::figures(r))
                )
            }
        }));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push_str("\nEach cell: the stack's rank in its column by mean rate (**bold**: the fastest; rates that print alike share a rank), its req/s / the model's ceiling and the bound that sets it (workers, conns, upstream, cpu, gen for the load generator, rate for an open loop's offered rate); `!` marks a surprise. A stack the matrix did not run in a column has an empty cell.\n\n");
    for sentence in &glance.sentences {
        let _ = writeln!(out, "- {sentence}");
    }
    out.push('\n');
}

/// The run's recommendation, which a report puts first, and the other findings.
pub(super) fn recommendation(findings: &[Finding]) -> (Option<&Finding>, Vec<Finding>) {
    let recommended = findings.iter().find(|f| f.topic == Topic::Recommendation);
    let rest = findings
        .iter()
        .filter(|f| f.topic != Topic::Recommendation)
        .cloned()
        .collect();
    (recommended, rest)
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

/// The fits of the sweeps of connections, a table per scenario.
fn sweeps_section(out: &mut String, analysis: &Analysis) {
    if analysis.sweeps.is_empty() {
        return;
    }
    out.push_str("## Throughput against connections\n\n");
    let _ = writeln!(out, "{}\n", scaling::EXPLAINED);
    let mut scenarios: Vec<&str> = analysis
        .sweeps
        .iter()
        .map(|f| f.scenario.as_str())
        .collect();
    scenarios.dedup();
    for scenario in scenarios {
        let fits: Vec<&SweepFit> = analysis
            .sweeps
            .iter()
            .filter(|f| f.scenario == scenario)
            .collect();
        let _ = writeln!(out, "### {scenario}\n");
        out.push_str(&table(&scaling::table(&fits)));
        out.push('\n');
    }
}

fn spread_section(out: &mut String, results: &Results) {
    out.push_str("## Trial spread\n\n");
    out.push_str("Every rate above is a mean over its cell's trials. Noise is the half-width of the 95% confidence interval of the mean rate, from Student's t over the trials' rates (sample standard deviation, n - 1 degrees of freedom). A cell with one trial has no interval: its figure is the per-second standard deviation within that trial, which says nothing of a second run. `framewut compare` tests changes on the trials' rates (Welch's t-test, Holm-corrected).\n\n");
    out.push_str(&table(&tables::spread(results)));
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
        "{} (from {origin}). {}{}\n",
        crate::report::placement_words(&results.placement),
        if results.placement.shared {
            "They shared cores, so they competed for them: read every rate with that in mind."
        } else {
            "They shared no core."
        },
        results
            .placement
            .idle
            .as_ref()
            .map_or(String::new(), |idle| format!(" {}", idle.words()))
    );
}

/// report.md for a run and its analysis.
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
    let (recommended, findings) = recommendation(&analysis.findings);
    if let Some(r) = recommended {
        let _ = writeln!(out, "## Recommendation\n\n{}\n", r.text);
    }
    glance_section(&mut out, results, analysis);
    findings_section(&mut out, &findings);

    for (scenario, cells) in scenarios(results) {
        let _ = writeln!(out, "## {scenario}\n");
        if let Some(options) = scenario_options(cells[0]) {
            let _ = writeln!(out, "{options}\n");
        }
        out.push_str(&table(&tables::scenario(&cells, analysis)));
        out.push('\n');
        let costs = tables::costs(&cells, analysis);
        if !costs.rows.is_empty() {
            let _ = writeln!(out, "### What a request cost\n\n{}\n", tables::COSTS_WORDS);
            out.push_str(&table(&costs));
            out.push('\n');
        }
    }

    out.push_str("How to read the tables: req/s is the mean over the cell's trials; p50, p99 and p99.9 merge all its trials' latencies; errors are failed requests (those merely in flight at the end are not counted); server CPU is 100% for one core busy; CPU/request is the server's CPU time over the requests it answered. ");
    let _ = writeln!(
        out,
        "model is the predicted ceiling in req/s, the smaller of min(connections, workers x per-worker concurrency) / (wait + CPU per request) and cores / CPU per request; a cell measuring below {SURPRISE_BELOW} or above {SURPRISE_ABOVE} of it is a surprise, and the findings say why it might be.\n"
    );
    sweeps_section(&mut out, analysis);
    out.push_str(&super::profiles::markdown(results));
    spread_section(&mut out, results);
    environment_section(&mut out, results);
    out
}
