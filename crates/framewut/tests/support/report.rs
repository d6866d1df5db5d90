//! The report tests' fixture: a run directory holding a copy of
//! tests/fixtures/report/results.json (a real run of the seed's conclusions
//! on the Rust stacks with a connections sweep), and its analysis.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use framewut::lab::results::Results;
use framewut::report;

use super::Scratch;

/// A path under the framewut crate's directory.
pub fn here(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A run directory holding only a copy of the fixture's results.json.
pub fn fixture(name: &str) -> Scratch {
    let dir = Scratch::new(name);
    std::fs::copy(
        here("tests/fixtures/report/results.json"),
        dir.path("results.json"),
    )
    .unwrap();
    dir
}

/// The results in a run directory and the analysis of them.
pub fn analysed(dir: &Scratch) -> (Results, report::Analysis) {
    let results = Results::load(&dir.0).unwrap();
    let analysis = report::analyse(&results);
    (results, analysis)
}
