//! framewut sorts out the web-server configuration morass.
//!
//! This crate holds the command line, the lab that runs a matrix of cells, and
//! the reports. The load engine lives in `framewut-load` and the built-in
//! server stacks in `framewut-stacks`; this crate wires them together.
//!
//! [`run`] is the whole program behind `main`, callable from tests in-process:
//!
//! ```no_run
//! use clap::Parser;
//! let cli = framewut::cli::Cli::parse_from(["framewut", "load", "http://127.0.0.1:8080/hello", "-d", "1s"]);
//! let code = framewut::run(cli).unwrap();
//! assert_eq!(code, std::process::ExitCode::SUCCESS);
//! ```

pub mod agents;
pub mod cli;
pub mod commands;
pub mod format;
pub mod lab;
pub mod live;
pub mod model;
pub mod python;
pub mod report;
pub mod signals;
pub mod spec;
pub mod stats;
pub mod targets;
mod units;

use std::process::ExitCode;

use clap::Parser;

/// Runs one parsed command line and returns the exit code it asks for.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Run(args) => commands::run::run(args),
        cli::Command::Report(args) => commands::report::run(args),
        cli::Command::Compare(args) => commands::compare::run(args),
        cli::Command::Ab(args) => commands::ab::run(args),
        cli::Command::Knee(args) => commands::knee::run(args),
        cli::Command::Load(args) => commands::load::run(args),
        cli::Command::Merge(args) => commands::merge::run(args),
        cli::Command::Setup(args) => commands::setup::run(args),
        cli::Command::Serve(args) => commands::serve::run(args),
        cli::Command::Upstream(args) => commands::upstream::run(args),
        cli::Command::Db(args) => commands::db::run(args),
        cli::Command::List(args) => commands::list::run(args),
        cli::Command::Tls(args) => commands::tls::run(args),
        cli::Command::Completions(args) => commands::completions::run(args),
        cli::Command::Man(args) => commands::man::run(args),
        cli::Command::K8s(args) => commands::k8s::run(args),
        cli::Command::Guard(args) => commands::guard::run(args),
    }
}

/// `println!` that hands back the write's error instead of panicking: a
/// reader that stops early (`framewut list stacks | head`) then ends the
/// program through the ordinary error path, every guard dropped on the way.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` as [`outln!`] is `println!`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// The body of `main`: parses `std::env::args`, runs, and prints any error as
/// one `Error: ...` line with its causes, exiting with status 1.
///
/// Output piped into a reader that stops early ends the program quietly with
/// status 141, as SIGPIPE would: the write's `BrokenPipe` error comes back
/// up through `run`, so every process guard still stops what it started.
pub fn main_entry() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::from(141),
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
