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

pub mod cli;
pub mod commands;
pub mod format;
pub mod lab;
pub mod model;
pub mod python;
pub mod report;
pub mod signals;
pub mod spec;
mod units;

use std::process::ExitCode;

use clap::Parser;

/// Runs one parsed command line and returns the exit code it asks for.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Run(args) => commands::run::run(args),
        cli::Command::Report(args) => commands::report::run(args),
        cli::Command::Compare(args) => commands::compare::run(args),
        cli::Command::Knee(args) => commands::knee::run(args),
        cli::Command::Load(args) => commands::load::run(args),
        cli::Command::Setup(args) => commands::setup::run(args),
        cli::Command::Serve(args) => commands::serve::run(args),
        cli::Command::Upstream(args) => commands::upstream::run(args),
        cli::Command::Db(args) => commands::db::run(args),
        cli::Command::List(args) => commands::list::run(args),
    }
}

/// The body of `main`: parses `std::env::args`, runs, and prints any error as
/// one `Error: ...` line with its causes, exiting with status 1.
///
/// Output piped into a reader that stops early (`framewut list stacks | head`)
/// ends the program quietly with status 141, as SIGPIPE would, but by
/// unwinding: every process guard still stops what it started.
pub fn main_entry() -> ExitCode {
    let cli = cli::Cli::parse();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe(info.payload()) {
            default_hook(info);
        }
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
        Err(payload) if is_broken_pipe(&*payload) => ExitCode::from(141),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Whether a panic is `println!` failing because stdout's reader went away.
fn is_broken_pipe(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    text.starts_with("failed printing to stdout") && text.contains("Broken pipe")
}
