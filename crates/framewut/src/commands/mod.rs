//! The command line: one module per subcommand, each with its arguments
//! beside its code, gathered here into [`Cli`] and dispatched by [`fn@run`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod ab;
pub mod compare;
pub mod completions;
pub mod db;
pub mod guard;
pub mod k8s;
pub mod knee;
pub mod list;
pub mod load;
pub mod man;
pub mod merge;
pub mod report;
pub mod run;
pub mod serve;
pub mod setup;
pub mod tls;
pub mod upstream;

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
    Run(run::RunArgs),
    /// Rebuild a run's model, report.md, report.html and results.csv from its results.json.
    Report(report::ReportArgs),
    /// Compare two runs cell by cell, each change beside the noise of both.
    Compare(compare::CompareArgs),
    /// Run two matrices against each other in one session (ABBA, a fresh server per trial): the change of each pair with its interval.
    Ab(ab::AbArgs),
    /// Find the highest open-loop rate a stack serves with p99 under a target.
    Knee(knee::KneeArgs),
    /// Load a URL (http or https) or a list of requests with framewut's own HTTP/1.1 load generator (like wrk, or wrk2 with --rate).
    Load(load::LoadArgs),
    /// Merge load agents' results (`load --segment I/N --json`) into the whole load's, exactly.
    Merge(merge::MergeArgs),
    /// Set up what framewut's stacks need: `setup python` makes the Python environment.
    Setup(setup::SetupArgs),
    /// Run one built-in Rust stack: the five scenario paths, until SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
    /// Run the upstream stand-in: a delayed JSON endpoint that counts connections and requests.
    Upstream(upstream::UpstreamArgs),
    /// Make the World table: a SQLite file (`db init`) or a throwaway PostgreSQL (`db postgres`).
    Db(db::DbArgs),
    /// List what framewut has built in: `list stacks`.
    List(list::ListArgs),
    /// framewut's test CA for HTTPS: `tls init` makes it.
    Tls(tls::TlsArgs),
    /// Print a shell completion script: `completions bash|zsh|fish`.
    Completions(completions::CompletionsArgs),
    /// Print the manual page in roff (`framewut man | man -l -`), or write every page with --dir.
    Man(man::ManArgs),
    /// Load agents as a Kubernetes Indexed Job: `k8s job` prints it, `k8s collect` merges its results.
    K8s(k8s::K8sArgs),
    /// Started by a lab, never by hand: stops what the lab started once it is gone.
    #[command(hide = true)]
    Guard(guard::GuardArgs),
}

/// Runs one parsed command line and returns the exit code it asks for.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Ab(args) => ab::run(args),
        Command::Knee(args) => knee::run(args),
        Command::Load(args) => load::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Upstream(args) => upstream::run(args),
        Command::Db(args) => db::run(args),
        Command::List(args) => list::run(args),
        Command::Tls(args) => tls::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::K8s(args) => k8s::run(args),
        Command::Guard(args) => guard::run(args),
    }
}

/// The body of `main`: parses `std::env::args`, runs, and prints any error as
/// one `Error: ...` line with its causes, exiting with status 1.
///
/// Output piped into a reader that stops early ends the program quietly with
/// status 141, as SIGPIPE would: the write's `BrokenPipe` error comes back
/// up through `run`, so every process guard still stops what it started.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::from(crate::exit::BROKEN_PIPE),
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether an error comes from writing to a pipe whose reader went away.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
