//! Reports: the model's prediction for every cell, findings in sentences,
//! and analysis.json, report.md, report.html and results.csv in the run
//! directory, all rebuilt from results.json alone, so report code never needs a live run.
//! results.json holds measurements; everything here is derived from them
//! and written beside it, never into it.
//!
//! ```no_run
//! use std::path::Path;
//!
//! // What `framewut report DIR` does: predict every cell, find what the
//! // run shows, and write analysis.json, report.md, report.html and results.csv.
//! let report = framewut::report::rebuild(Path::new("framewut-results/2026-11-25T18-42-07")).unwrap();
//! for finding in &report.findings {
//!     println!("- {}", finding.text);
//! }
//! ```

pub mod ab;
pub mod breakdown;
pub mod compare;
pub mod csv;
pub mod evidence;
pub mod findings;
pub mod glance;
pub mod html;
pub mod markdown;
pub mod noise;
pub mod parts;
mod profiles;
pub mod scaling;

mod svg;
mod tables;

use std::path::{Path, PathBuf};

use anyhow::Context;
use framewut_stacks::Scenario;
use serde::{Deserialize, Serialize};

use crate::format;
use crate::lab::results::{self, CellResult, Results, RunInfo, Status};
use crate::model::little::Little;
use crate::model::Prediction;
use crate::spec::{Database, ScenarioSpec};
use findings::Finding;
use scaling::SweepFit;

/// The derived files' names inside a run directory.
pub const ANALYSIS: &str = "analysis.json";
pub const MARKDOWN: &str = "report.md";
pub const HTML: &str = "report.html";

/// The version of analysis.json's shape; bumped on any incompatible change.
pub const ANALYSIS_SCHEMA: &str = "framewut-analysis/1";

/// What framewut derives from a run's measurements: analysis.json, documented
/// by `docs/analysis.schema.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analysis {
    /// Always [`ANALYSIS_SCHEMA`].
    pub schema: String,
    /// The results.json shape it was derived from.
    pub results_schema: String,
    /// The framewut version that derived it: the model's arithmetic and the
    /// findings' rules are this version's, whatever wrote the results.
    pub framewut_version: String,
    /// Every cell's prediction, in the run's order; none for cells not measured.
    pub cells: Vec<CellPrediction>,
    /// The Universal Scalability Law fitted to each sweep of connections.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sweeps: Vec<SweepFit>,
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// The model's prediction for the cell `id`; none for a cell not
    /// measured or not in the run.
    pub fn prediction(&self, id: &str) -> Option<&Prediction> {
        self.cells
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.prediction.as_ref())
    }

    /// What a request of the cell `id` cost; none for a cell not measured.
    pub fn breakdown(&self, id: &str) -> Option<&breakdown::Breakdown> {
        self.cells
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.breakdown.as_ref())
    }
}

/// One cell's id and prediction, what its requests cost, and Little's law
/// checked on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellPrediction {
    pub id: String,
    pub prediction: Option<Prediction>,
    /// Each request taken apart; none for a cell not measured (and in
    /// analyses written before framewut took them apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<breakdown::Breakdown>,
    /// Connections against rate x mean latency, for a measured closed-loop
    /// cell that counted its unanswered requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub little: Option<Little>,
    /// A cpu or db cell's ceiling from its parts measured apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<parts::FromParts>,
}

/// Where each of the run's processes ran, in one sentence without its
/// full stop: `The server, the upstream stand-in and the database ran on
/// CPUs 0; the load generator on CPUs 1`.
pub fn placement_words(record: &results::PlacementRecord) -> String {
    let p = &record.placement;
    let services = [
        ("the upstream stand-in", &record.upstream_cpus),
        ("the database", &record.database_cpus),
    ];
    let mut beside = Vec::new();
    let mut apart = Vec::new();
    for (what, cpus) in services {
        match cpus {
            Some(cpus) if *cpus == p.server_cpus => beside.push(what),
            Some(cpus) => apart.push(format!("{what} on CPUs {cpus}")),
            None => apart.push(format!("{what} unpinned")),
        }
    }
    let server = match beside.as_slice() {
        [] => "The server".to_string(),
        [one] => format!("The server and {one}"),
        [first, second] => format!("The server, {first} and {second}"),
        _ => unreachable!("two services at most"),
    };
    let mut text = format!(
        "{server} ran on CPUs {}; the load generator on CPUs {}",
        p.server_cpus, p.load_cpus
    );
    for other in apart {
        text.push_str(&format!("; {other}"));
    }
    text
}

/// Predicts every cell from its configuration and measurements, and finds
/// what the run shows.
pub fn analyse(results: &Results) -> Analysis {
    let placement = &results.placement.placement;
    let cells: Vec<CellPrediction> = results
        .cells
        .iter()
        .map(|c| CellPrediction {
            id: c.id.clone(),
            prediction: c.prediction(placement),
            breakdown: breakdown::Breakdown::of(c),
            little: findings::little(c),
            parts: c
                .prediction(placement)
                .and_then(|p| parts::FromParts::of(results, c, &p)),
        })
        .collect();
    let sweeps = scaling::sweeps(results);
    let findings = findings::findings(results, &cells, &sweeps);
    Analysis {
        schema: ANALYSIS_SCHEMA.to_string(),
        results_schema: results::SCHEMA.to_string(),
        framewut_version: env!("CARGO_PKG_VERSION").to_string(),
        cells,
        sweeps,
        findings,
    }
}

/// Writes analysis.json, report.md, report.html and results.csv into
/// `dir`, each atomically, and returns their paths.
pub fn write(dir: &Path, results: &Results, analysis: &Analysis) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let json = serde_json::to_string_pretty(analysis).context("serialising the analysis")? + "\n";
    for (name, text) in [
        (ANALYSIS, json),
        (MARKDOWN, markdown::render(results, analysis)),
        (HTML, html::render(results, analysis)),
        (csv::CSV, csv::render(results, analysis)),
    ] {
        let path = dir.join(name);
        framewut_sys::atomic_write(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes results.csv alone into `dir`, atomically, and returns its path:
/// what `framewut report DIR --csv` does.
pub fn write_csv(dir: &Path, results: &Results, analysis: &Analysis) -> anyhow::Result<PathBuf> {
    let path = dir.join(csv::CSV);
    framewut_sys::atomic_write(&path, csv::render(results, analysis).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// What `framewut report DIR` produced.
#[derive(Debug)]
pub struct Rebuilt {
    pub results: Results,
    pub findings: Vec<Finding>,
    pub written: Vec<PathBuf>,
}

/// Reads `dir/results.json` and writes analysis.json, report.md,
/// report.html and results.csv beside it; results.json itself is only read.
pub fn rebuild(dir: &Path) -> anyhow::Result<Rebuilt> {
    let results = Results::load(dir)?;
    let analysis = analyse(&results);
    let written = write(dir, &results, &analysis)?;
    Ok(Rebuilt {
        results,
        findings: analysis.findings,
        written,
    })
}

/// What `framewut run` does once its cells are done: prints the findings and
/// writes report.md, report.html and results.csv. The results are saved by then, so a
/// report that cannot be written is a warning, not a failed run.
pub fn after_run(dir: &Path) -> std::io::Result<()> {
    match rebuild(dir) {
        Ok(report) => {
            if !report.findings.is_empty() {
                crate::outln!("\nFindings:")?;
                for finding in &report.findings {
                    crate::outln!("- {}", finding.text)?;
                }
            }
            let paths: Vec<String> = report
                .written
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            eprintln!("framewut: reports in {}", paths.join(" and "));
        }
        Err(e) => eprintln!("framewut: warning: the reports could not be written: {e:#}"),
    }
    Ok(())
}

/// The run's cells by scenario: the built-in ones in the contract's order,
/// then the matrix's own in the order the run met them, leaving out
/// scenarios the run does not hold.
pub(crate) fn scenarios(results: &Results) -> Vec<(String, Vec<&CellResult>)> {
    let mut names: Vec<&str> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
    for cell in &results.cells {
        let name = cell.config.scenario.name();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let cells: Vec<&CellResult> = results
                .cells
                .iter()
                .filter(|c| c.config.scenario.name() == name)
                .collect();
            (name.to_string(), cells)
        })
        .filter(|(_, cells)| !cells.is_empty())
        .collect()
}

/// The scenario's options in a sentence, for scenarios that have any.
pub(crate) fn scenario_options(cell: &CellResult) -> Option<String> {
    match &cell.config.scenario {
        ScenarioSpec::Hello => None,
        ScenarioSpec::Sleep { sleep } => Some(format!(
            "Each request sleeps {}.",
            format::seconds(sleep.as_secs_f64())
        )),
        ScenarioSpec::Upstream {
            delay, tls: true, ..
        } => Some(format!(
            "Each request calls the upstream stand-in over HTTPS, which answers after {}; a new connection pays a real TLS handshake.",
            format::seconds(delay.as_secs_f64())
        )),
        ScenarioSpec::Upstream {
            delay,
            connect_cost,
            ..
        } => Some(format!(
            "Each request calls the upstream stand-in, which answers after {} and takes {} more on a new connection's first answer.",
            format::seconds(delay.as_secs_f64()),
            format::seconds(connect_cost.as_secs_f64())
        )),
        ScenarioSpec::Cpu { n } => Some(format!(
            "Each request serialises a list of {n} numbers to JSON."
        )),
        ScenarioSpec::Db { database, .. } => Some(format!(
            "Each request reads one random row of the World table from {}.",
            match database {
                Database::Sqlite => "SQLite",
                Database::Postgres => "PostgreSQL",
            }
        )),
        ScenarioSpec::Custom(custom) => {
            let requests: Vec<String> = custom.requests.iter().map(|r| r.line()).collect();
            let services: Vec<&str> = custom.uses.iter().map(ScenarioSpec::name).collect();
            let probe = cell
                .service
                .as_ref()
                .and_then(results::Trial::service_us)
                .map_or(String::new(), |us| {
                    format!(" (here {} with one connection)", format::seconds(us / 1e6))
                });
            Some(format!(
                "Each request is {}{}, answered {}{}. No configuration states these requests' wait, so the model measures it: one request alone{probe}, less the CPU a request costs by the calibration; the ceilings are predicted from those two measurements and the server's workers, and only the rates are the trials' own.",
                if requests.len() == 1 { "" } else { "in turn " },
                requests.join(", "),
                custom.expect.status,
                if services.is_empty() {
                    String::new()
                } else {
                    format!("; the app calls framewut's {}", services.join(" and "))
                }
            ))
        }
    }
}

/// The run in a sentence: `Matrix M: what it is. Run ID started T, finished
/// T2 (interrupted).`
pub(crate) fn run_sentence(run: &RunInfo) -> String {
    format!(
        "Matrix {}{}. Run {} started {}, {}{}.",
        run.matrix,
        run.description
            .as_deref()
            .map_or(String::new(), |d| format!(": {d}")),
        run.id,
        run.started_at,
        run.finished_at
            .as_deref()
            .map_or("not finished".to_string(), |f| format!("finished {f}")),
        if run.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    )
}

/// A cell's status in a word.
pub(crate) fn status_words(status: Status) -> &'static str {
    match status {
        Status::Pending => "not run",
        Status::Ok => "measured",
        Status::Failed => "FAILED",
        Status::Skipped => "skipped",
        Status::Interrupted => "interrupted",
    }
}
