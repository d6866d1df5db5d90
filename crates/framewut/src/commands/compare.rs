//! `framewut compare A B`: two runs cell by cell, each change tested against
//! both sides' trials.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::lab::results::Results;
use crate::report::compare::compare;

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  framewut compare framewut-results/before framewut-results/after\n\n\
Cells are matched by id. A cell changed when Welch's t-test on the two sides' trial rates\n\
rejects after Holm's correction over every cell tested (5% family-wise), and the change is\n\
larger than one round per connection (connections / seconds). A side with one trial cannot\n\
tell: run both with --trials 3 or more."
)]
pub struct CompareArgs {
    /// The first run directory (the baseline).
    pub a: PathBuf,
    /// The second run directory.
    pub b: PathBuf,
    /// Prints the comparison as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let a = Results::load(&args.a)?;
    let b = Results::load(&args.b)?;
    let comparison = compare(
        &args.a.display().to_string(),
        &a,
        &args.b.display().to_string(),
        &b,
    );
    if args.json {
        let text =
            serde_json::to_string_pretty(&comparison).context("serialising the comparison")?;
        crate::outln!("{text}")?;
    } else {
        crate::out!("{}", comparison.render())?;
    }
    Ok(ExitCode::SUCCESS)
}
