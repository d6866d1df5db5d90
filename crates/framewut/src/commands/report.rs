//! `framewut report DIR`: rebuilds a run's model, report.md, report.html and
//! results.csv from its results.json alone; `--csv` rebuilds results.csv only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::lab::results::Results;

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  framewut report framewut-results/2026-11-25T18-42-07\n\n\
Predicts every cell again (the model's output in results.json is replaced), then writes\n\
DIR/report.md and DIR/report.html, a single self-contained page with its charts inline,\n\
and DIR/results.csv, one row per cell for a spreadsheet (docs/results-csv.md)."
)]
pub struct ReportArgs {
    /// A run directory: the one holding results.json.
    pub dir: PathBuf,
    // Issue 14: the CSV on its own.
    /// Rebuild only DIR/results.csv: one row per cell, the table's columns and the model's prediction.
    #[arg(long)]
    pub csv: bool,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.csv {
        let results = Results::load(&args.dir)?;
        let analysis = crate::report::analyse(&results);
        let path = crate::report::write_csv(&args.dir, &results, &analysis)?;
        eprintln!("framewut: wrote {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let rebuilt = crate::report::rebuild(&args.dir)?;
    for finding in &rebuilt.findings {
        crate::outln!("- {}", finding.text)?;
    }
    for path in &rebuilt.written {
        eprintln!("framewut: wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
