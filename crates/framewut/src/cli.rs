//! The command line: clap's parsed arguments, one struct per subcommand.
//!
//! Each subcommand's arguments live beside its code in [`crate::commands`];
//! this module only gathers them.

use clap::{Parser, Subcommand};

use crate::commands;

/// framewut: sync or async, gevent or meinheld, one runtime or many? Measure it here, and see why.
#[derive(Debug, Parser)]
#[command(name = "framewut", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a matrix (a preset or a TOML file): start, verify, load and stop every stack; save results.json.
    Run(commands::run::RunArgs),
    /// Rebuild a run's model, report.md, report.html and results.csv from its results.json.
    Report(commands::report::ReportArgs),
    /// Compare two runs cell by cell, each change beside the noise of both.
    Compare(commands::compare::CompareArgs),
    /// Run two matrices against each other in one session (ABBA, a fresh server per trial): the change of each pair with its interval.
    Ab(commands::ab::AbArgs),
    /// Find the highest open-loop rate a stack serves with p99 under a target.
    Knee(commands::knee::KneeArgs),
    /// Load a URL (http or https) or a list of requests with framewut's own HTTP/1.1 load generator (like wrk, or wrk2 with --rate).
    Load(commands::load::LoadArgs),
    /// Merge load agents' results (`load --segment I/N --json`) into the whole load's, exactly.
    Merge(commands::merge::MergeArgs),
    /// Set up what framewut's stacks need: `setup python` makes the Python environment.
    Setup(commands::setup::SetupArgs),
    /// Run one built-in Rust stack: the five scenario paths, until SIGTERM or SIGINT.
    Serve(commands::serve::ServeArgs),
    /// Run the upstream stand-in: a delayed JSON endpoint that counts connections and requests.
    Upstream(commands::upstream::UpstreamArgs),
    /// Make the World table: a SQLite file (`db init`) or a throwaway PostgreSQL (`db postgres`).
    Db(commands::db::DbArgs),
    /// List what framewut has built in: `list stacks`.
    List(commands::list::ListArgs),
    /// framewut's test CA for HTTPS: `tls init` makes it.
    Tls(commands::tls::TlsArgs),
    /// Print a shell completion script: `completions bash|zsh|fish`.
    Completions(commands::completions::CompletionsArgs),
    /// Print the manual page in roff (`framewut man | man -l -`), or write every page with --dir.
    Man(commands::man::ManArgs),
    /// Load agents as a Kubernetes Indexed Job: `k8s job` prints it, `k8s collect` merges its results.
    K8s(commands::k8s::K8sArgs),
    /// Started by a lab, never by hand: stops what the lab started once it is gone.
    #[command(hide = true)]
    Guard(commands::guard::GuardArgs),
}
