//! `framewut k8s`: load agents as a Kubernetes Indexed Job.
//!
//! `k8s job` prints the Job; `kubectl apply` runs it, each pod one agent
//! running `framewut load --segment I/N --start-at T --json`; `k8s collect`
//! reads every agent's JSON back through `kubectl logs` and merges them.
//! framewut never talks to a cluster itself: `job` only prints, and `collect`
//! only runs the `kubectl` the operator already uses.

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub mod collect;
pub mod job;
mod yaml;

#[derive(Debug, Args)]
pub struct K8sArgs {
    #[command(subcommand)]
    pub command: K8sCommand,
}

#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Print a batch/v1 Indexed Job whose pods load one URL together, each with its share.
    Job(job::JobArgs),
    /// Read each agent pod's JSON result through `kubectl logs` and merge them.
    Collect(collect::CollectArgs),
}

pub fn run(args: K8sArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        K8sCommand::Job(args) => job::run(args),
        K8sCommand::Collect(args) => collect::run(args),
    }
}
