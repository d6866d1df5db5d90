//! The lab: runs a matrix of cells, each verified, isolated and measured,
//! and saves every result as soon as it is known.
//!
//! For each cell it starts what the scenario needs (an upstream, a
//! database), starts the stack as its own process group pinned to the
//! server's CPUs, waits until it answers, verifies it against the contract,
//! warms up, runs the trials with the load engine pinned to the generator's
//! CPUs while sampling the stack's processes from /proc, stops the whole
//! group, and rewrites `results.json` atomically. Ctrl-C stops the current
//! cell, keeps what it measured, and `--resume` finishes the run later.
//!
//! ```no_run
//! use framewut::lab::{cpus::Placement, cpus::CpuSet, matrix::{Matrix, Overrides}, preset};
//!
//! let quick = preset::find("quick").unwrap();
//! let matrix = Matrix::parse("preset quick", &quick.toml()).unwrap();
//! let cells = matrix.cells(&Placement::halves(&CpuSet::allowed()), &Overrides::default()).unwrap();
//! println!("{} cells", cells.len());
//! ```

pub mod cpus;
pub mod environment;
pub mod matrix;
pub mod preset;
pub mod process;
pub mod procfs;
pub mod progress;
pub mod results;
pub mod runner;
pub mod sampler;
pub mod select;
pub mod table;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use progress::Progress;
use results::{Results, Status};
use runner::{estimate, Lab};
use table::Table;

/// How a run ended, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every cell run was measured or skipped.
    Done,
    /// Some cells failed (exit 2).
    SomeFailed,
    /// Stopped by Ctrl-C or SIGTERM (exit 130).
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::SomeFailed => 2,
            Outcome::Interrupted => 130,
        }
    }
}

/// Runs the cells at `todo` (indices into `results.cells`), saving
/// `results.json` in `dir` after each; prints rows as cells finish and the
/// whole table at the end.
pub fn execute(
    dir: &Path,
    mut results: Results,
    todo: &[usize],
    cancel: &'static AtomicBool,
) -> anyhow::Result<Outcome> {
    process::become_subreaper();
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find the framewut binary: {e}"))?;
    let placement = results.placement.placement.clone();
    let table = Table::for_cells(results.cells.iter().map(|c| c.id.as_str()));
    let mut progress = Progress::new(todo.len());
    if let Some(warning) = placement.warning() {
        progress.warn(&warning);
    }
    results.run.interrupted = false;
    results.run.finished_at = None;
    results.save(dir)?;

    let mut lab = Lab::new(
        exe,
        placement.clone(),
        dir.to_path_buf(),
        results.run.id.clone(),
        cancel,
    );
    let estimates: Vec<Duration> = todo
        .iter()
        .map(|i| estimate(&results.cells[*i].config))
        .collect();
    let mut header_printed = false;
    for (n, &index) in todo.iter().enumerate() {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let spec = results.cells[index].config.clone();
        progress.cell(n, &spec.id, estimates[n], estimates[n + 1..].iter().sum());
        let result = lab.run_cell(&spec, &progress);
        for warning in &result.warnings {
            progress.warn(&format!("warning: {}: {warning}", spec.id));
        }
        if result.status == Status::Failed {
            let mut text = format!(
                "framewut: {} failed: {}",
                spec.id,
                result.reason.as_deref().unwrap_or("")
            );
            if let Some(tail) = &result.stderr_tail {
                text.push_str(&format!(
                    "\n  its stderr ends:\n    {}",
                    tail.replace('\n', "\n    ")
                ));
            }
            progress.warn(&text);
        }
        if !header_printed {
            progress.println(&table.header());
            header_printed = true;
        }
        progress.println(&table.row(&result, &placement));
        results.cells[index] = result;
        results.environment.tools.extend(lab.python_tools());
        results.save(dir)?;
    }
    drop(lab);
    progress.finish();

    let interrupted = cancel.load(Ordering::SeqCst);
    results.run.interrupted = interrupted;
    results.run.finished_at = Some(environment::utc_now());
    results.save(dir)?;

    println!("\n{}", table.render(&results.cells, &placement));
    let count = |s: Status| results.cells.iter().filter(|c| c.status == s).count();
    eprintln!(
        "framewut: {} cells: {} ok, {} failed, {} skipped, {} interrupted, {} not run; results in {}",
        results.cells.len(),
        count(Status::Ok),
        count(Status::Failed),
        count(Status::Skipped),
        count(Status::Interrupted),
        count(Status::Pending),
        dir.join(results::FILE).display()
    );
    if interrupted {
        eprintln!(
            "framewut: interrupted; finish the run with: framewut run --resume {}",
            dir.display()
        );
        return Ok(Outcome::Interrupted);
    }
    Ok(if results.failed() > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    })
}

/// The default run directory: `framewut-results/<UTC time>`.
pub fn default_dir() -> PathBuf {
    let stamp = environment::utc_now().replace(':', "-");
    PathBuf::from("framewut-results").join(stamp.trim_end_matches('Z'))
}
