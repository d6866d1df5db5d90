//! `framewut guard`, hidden: the process a lab starts to stop what it
//! started should the lab itself be killed (see [`crate::lab::measure::guard`]).
//! It reads the lab's notes on standard input until the lab is gone.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct GuardArgs {
    /// The run whose processes to stop.
    #[arg(long)]
    pub run_id: String,
    /// The lab process that started them, as `lab<PID>.<start ticks>`.
    #[arg(long)]
    pub lab: String,
}

pub fn run(args: GuardArgs) -> anyhow::Result<ExitCode> {
    crate::lab::measure::guard::serve(std::io::stdin().lock(), &args.run_id, &args.lab);
    Ok(ExitCode::SUCCESS)
}
