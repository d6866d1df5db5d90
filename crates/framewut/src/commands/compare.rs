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
Cells are matched by id (the rest in order, when as many remain on both sides). The\n\
replicates are the server processes: run both with a profile's servers (or --interleave),\n\
so that each trial has a server of its own. A cell changed when Welch's t-test on the two\n\
sides' servers rejects after Holm's correction over every cell tested (5% family-wise), and\n\
the change is larger than the counting resolution (the successes that complete together,\n\
over a trial's seconds). It cannot tell, and says why, when a side has one trial or one\n\
server process, when a side's servers fall into two clusters the other side's do not all lie\n\
beyond, when the generator saturated\n\
on one side only, when steal or other processes held a trial, or when the runs differ in\n\
machine, placement or build. On a machine that drifts, framewut ab runs both in one session."
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
