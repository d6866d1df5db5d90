//! framewut run to its end as a user's shell runs it, for the tests of
//! `framewut load`'s command line: what it printed, and its stderr as text.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::process::{Command, Output};

use super::BIN;

/// Runs framewut with these arguments and waits for it, whatever it takes.
pub fn framewut(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// What a finished framewut wrote to stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
