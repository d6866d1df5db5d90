//! framewut sorts out the web-server configuration morass.
//!
//! This crate holds the command line, the lab that runs a matrix of cells, and
//! the reports. The load engine lives in `framewut-load` and the built-in
//! server stacks in `framewut-stacks`; this crate wires them together.
//!
//! [`fn@run`] is the whole program behind `main`, callable from tests in-process:
//!
//! ```no_run
//! use clap::Parser;
//! let cli = framewut::commands::Cli::parse_from(["framewut", "load", "http://127.0.0.1:8080/hello", "-d", "1s"]);
//! let code = framewut::run(cli).unwrap();
//! assert_eq!(code, std::process::ExitCode::SUCCESS);
//! ```

pub mod agents;
pub mod commands;
pub mod exit;
pub mod format;
pub mod lab;
pub mod live;
pub mod model;
mod output;
pub mod python;
pub mod report;
pub mod signals;
pub mod spec;
pub mod stats;
pub mod targets;
mod units;
pub mod urls;

pub use commands::{main_entry, run};
