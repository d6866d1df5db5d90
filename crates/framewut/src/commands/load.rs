//! `framewut load URL`: wrk's flags, wrk's output, and a documented JSON result.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The URL to load, http:// only.
    pub url: String,
}

pub fn run(_args: LoadArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
