//! `framewut report DIR`: rebuilds a run's model, report.md and report.html
//! from its results.json alone.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  framewut report framewut-results/2026-11-25T18-42-07\n\n\
Predicts every cell again (the model's output in results.json is replaced), then writes\n\
DIR/report.md and DIR/report.html, a single self-contained page with its charts inline."
)]
pub struct ReportArgs {
    /// A run directory: the one holding results.json.
    pub dir: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let rebuilt = crate::report::rebuild(&args.dir)?;
    for finding in &rebuilt.findings {
        crate::outln!("- {}", finding.text)?;
    }
    for path in &rebuilt.written {
        eprintln!("framewut: wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
