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
//! Its rooms, each reaching only down: [`measure`] (what the operating
//! system says about the processes and the CPUs, and the means to start,
//! confine and stop them), [`matrix`] (what a run is asked to do: a matrix
//! file or a preset, expanded to cells), [`results`] (what it measured) and
//! [`runner`] (doing it: one cell at a time, its phases and trials). This
//! module holds the run itself, cell after cell.
//!
//! ```no_run
//! use framewut::lab::matrix::{preset, Matrix, Overrides};
//! use framewut::lab::measure::cpus::{CpuSet, Placement};
//!
//! let quick = preset::find("quick").unwrap();
//! let matrix = Matrix::parse("preset quick", &quick.toml()).unwrap();
//! let cells = matrix.cells(&Placement::halves(&CpuSet::allowed()), &Overrides::default()).unwrap();
//! println!("{} cells", cells.len());
//! ```

#[cfg(test)]
pub(crate) mod fake;
pub mod matrix;
pub mod measure;
pub mod results;
pub mod runner;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::exit;
use crate::spec::CellSpec;
use measure::idle::CpuIdle;
use measure::{environment, process};
use results::{CellResult, Results, ResultsError, Status};
use runner::progress::Progress;
use runner::table::Table;
use runner::{estimate, schedule, CellRunner};

/// The cells a run still has to do: those not settled that `selected`
/// keeps, as indices into `results.cells`.
pub fn unsettled(results: &Results, selected: impl Fn(&str) -> bool) -> Vec<usize> {
    results
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.status.is_settled() && selected(&c.id))
        .map(|(i, _)| i)
        .collect()
}

/// The lab that runs the cells of a run directory for real: the framewut
/// binary for `serve` and `upstream`, the run's placement and id, and the
/// CPUs' idle states it asks for.
pub fn lab_for(
    dir: &Path,
    results: &Results,
    cancel: &'static AtomicBool,
    idle: CpuIdle,
) -> Result<runner::Lab, LabError> {
    process::become_subreaper();
    let exe = std::env::current_exe().map_err(LabError::NoBinary)?;
    runner::Lab::new(
        exe,
        results.placement.placement.clone(),
        dir.to_path_buf(),
        results.run.id.clone(),
        cancel,
        idle,
    )
    .map_err(LabError::NoGuard)
}

/// Why a run could not start or go on; what it measured so far is saved.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot find the framewut binary")]
    NoBinary(#[source] std::io::Error),
    #[error("cannot start the lab's guard process")]
    NoGuard(#[source] std::io::Error),
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// Writing a row of the table to standard output (a reader that went
    /// away ends the run as SIGPIPE would).
    #[error("writing the results table")]
    Output(#[source] std::io::Error),
}

/// How a run ended, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every cell run was measured or skipped.
    Done,
    /// Some cells failed (exit 2).
    SomeFailed,
    /// Stopped by Ctrl-C or SIGTERM (exit 130).
    Interrupted,
    /// Every cell was measured or skipped, but a cell crossed one of its
    /// profile's thresholds (exit 4).
    ThresholdCrossed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::ThresholdCrossed => exit::THRESHOLD_CROSSED,
            Outcome::SomeFailed => exit::SOME_FAILED,
            Outcome::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// The order a run's trials go in: the pairs of an A/B run, or its
/// matrix's interleaving, or cell by cell.
fn order(results: &Results) -> schedule::Order {
    let index = |id: &str| results.cells.iter().position(|c| c.id == id);
    match &results.run.ab {
        Some(ab) => schedule::Order::Abba(
            ab.pairs
                .iter()
                .filter_map(|(a, b)| Some((index(a)?, index(b)?)))
                .collect(),
        ),
        None if results.run.interleave => schedule::Order::RoundRobin,
        None => schedule::Order::CellByCell,
    }
}

/// What each job runs: its cell with the job's trials on one server.
fn job_specs(results: &Results, jobs: &[schedule::Job]) -> Vec<CellSpec> {
    jobs.iter()
        .map(|job| {
            let mut spec = results.cells[job.cell].config.clone();
            spec.load.trials = job.trials;
            spec.load.servers = 1;
            spec.load.calibrated = !job.first;
            spec.load.last_start = job.last;
            spec
        })
        .collect()
}

/// A rough time for the cells at `todo`, in the order the run would take
/// them (an interleaved run starts a server for every trial).
pub fn estimate_run(results: &Results, todo: &[usize]) -> Duration {
    let jobs = schedule::jobs(
        todo,
        |i| results.cells[i].config.load.trials_per_server(),
        &order(results),
    );
    job_specs(results, &jobs).iter().map(estimate).sum()
}

/// Runs the cells at `todo` (indices into `results.cells`) with `runner`,
/// in the order [`schedule::jobs`] gives, saving `results.json` in `dir`
/// after each start of a stack; prints a cell's row when it is done and the
/// whole table at the end.
pub fn execute(
    dir: &Path,
    mut results: Results,
    todo: &[usize],
    runner: &mut dyn CellRunner,
    cancel: &AtomicBool,
) -> Result<Outcome, LabError> {
    let placement = results.placement.placement.clone();
    let table = Table::for_cells(results.cells.iter().map(|c| c.id.as_str()));
    let jobs = schedule::jobs(
        todo,
        |i| results.cells[i].config.load.trials_per_server(),
        &order(&results),
    );
    let mut progress = Progress::new(jobs.len());
    if let Some(warning) = placement.warning() {
        progress.warn(&warning);
    }
    results.run.interrupted = false;
    results.run.finished_at = None;
    results.save(dir)?;

    let specs = job_specs(&results, &jobs);
    let estimates: Vec<Duration> = specs.iter().map(estimate).collect();
    let mut started: Vec<bool> = vec![false; results.cells.len()];
    let mut header_printed = false;
    for (n, (job, spec)) in jobs.iter().zip(&specs).enumerate() {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let index = job.cell;
        if started[index] && results.cells[index].status != Status::Ok {
            // A cell that failed or was skipped on one start is not started again.
            continue;
        }
        progress.cell(n, &spec.id, estimates[n], estimates[n + 1..].iter().sum());
        let mut result = runner.run_cell(spec, &progress);
        result.config = results.cells[index].config.clone();
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
        if started[index] {
            schedule::merge(&mut results.cells[index], result);
        } else {
            results.cells[index] = result;
            started[index] = true;
        }
        let cell = &results.cells[index];
        if job.last || cell.status != Status::Ok {
            if !header_printed {
                progress.println(&table.header());
                header_printed = true;
            }
            progress.println(&table.row(cell, &placement));
        }
        results.environment.tools.extend(runner.tools());
        results.save(dir)?;
    }
    progress.finish();

    let interrupted = cancel.load(Ordering::SeqCst);
    if interrupted {
        // A cell stopped between its starts kept fewer trials than asked:
        // it is not settled, and --resume runs it again.
        for cell in &mut results.cells {
            if cell.status == Status::Ok && (cell.trials.len() as u32) < cell.config.load.trials {
                cell.status = Status::Interrupted;
                cell.reason = Some(format!(
                    "stopped after {} of its {} trials",
                    cell.trials.len(),
                    cell.config.load.trials
                ));
            }
        }
    }
    results.run.interrupted = interrupted;
    results.run.finished_at = Some(environment::utc_now());
    results.save(dir)?;

    crate::outln!("\n{}", table.render(&results.cells, &placement)).map_err(LabError::Output)?;
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
    } else if results.cells.iter().any(CellResult::crossed) {
        eprintln!(
            "framewut: {} cells crossed a threshold of their profile (exit status {})",
            results.cells.iter().filter(|c| c.crossed()).count(),
            Outcome::ThresholdCrossed.exit_code()
        );
        Outcome::ThresholdCrossed
    } else {
        Outcome::Done
    })
}

/// The default run directory: `framewut-results/<UTC time>`.
pub fn default_dir() -> PathBuf {
    let stamp = environment::utc_now().replace(':', "-");
    PathBuf::from("framewut-results").join(stamp.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::fake::{results, Answer, FakeRunner};
    use super::matrix::Matrix;
    use super::*;

    const THREE: &str = "scenarios = [\"hello\"]\n\
        [[stack]]\nid = \"rust/std/sync-pool\"\nworkers = [1, 2, 4]\n";

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("framewut-lab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn every_cell_is_saved_and_a_failed_one_sets_the_exit_code() {
        let dir = scratch("failed");
        let results = results(THREE);
        let todo = unsettled(&results, |_| true);
        assert_eq!(todo, [0, 1, 2]);
        let mut runner = FakeRunner::new(|spec: &CellSpec| match spec.stack.workers {
            2 => Answer::Failed("it would not start"),
            w => Answer::Measured {
                rate: 1000 * w as u64,
                latency_us: 500,
            },
        });
        let cancel = AtomicBool::new(false);
        let outcome = execute(&dir, results, &todo, &mut runner, &cancel).unwrap();
        assert_eq!(outcome, Outcome::SomeFailed);
        assert_eq!(outcome.exit_code(), 2);
        let saved = Results::load(&dir).unwrap();
        let statuses: Vec<Status> = saved.cells.iter().map(|c| c.status).collect();
        assert_eq!(statuses, [Status::Ok, Status::Failed, Status::Ok]);
        assert_eq!(saved.cells[1].reason.as_deref(), Some("it would not start"));
        assert_eq!(saved.cells[2].summary.as_ref().unwrap().requests, 4000);
        assert!(saved.run.finished_at.is_some() && !saved.run.interrupted);
        assert_eq!(
            saved.environment.tools.get("fake").map(String::as_str),
            Some("1")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stop_keeps_what_was_measured_and_resume_runs_only_the_rest() {
        let dir = scratch("resume");
        let results = results(THREE);
        let todo = unsettled(&results, |_| true);
        let cancel = AtomicBool::new(false);
        let mut runner = FakeRunner::new(|_: &CellSpec| {
            // Ctrl-C arrives while the first cell runs.
            cancel.store(true, Ordering::SeqCst);
            Answer::Measured {
                rate: 100,
                latency_us: 900,
            }
        });
        let outcome = execute(&dir, results, &todo, &mut runner, &cancel).unwrap();
        assert_eq!(outcome, Outcome::Interrupted);
        assert_eq!(runner.ran.len(), 1, "no cell starts after the stop");
        let saved = Results::load(&dir).unwrap();
        assert!(saved.run.interrupted);
        assert_eq!(saved.cells[0].status, Status::Ok);

        let rest = unsettled(&saved, |_| true);
        assert_eq!(rest, [1, 2]);
        let ids: Vec<String> = rest.iter().map(|i| saved.cells[*i].id.clone()).collect();
        let cancel = AtomicBool::new(false);
        let mut runner = FakeRunner::new(|_: &CellSpec| Answer::Measured {
            rate: 200,
            latency_us: 800,
        });
        let outcome = execute(&dir, saved, &rest, &mut runner, &cancel).unwrap();
        assert_eq!(outcome, Outcome::Done);
        assert_eq!(runner.ran, ids, "resume runs exactly the unsettled cells");
        let done = Results::load(&dir).unwrap();
        assert!(done.cells.iter().all(|c| c.status == Status::Ok));
        assert_eq!(
            done.cells[0].summary.as_ref().unwrap().requests,
            100,
            "kept"
        );
        assert!(unsettled(&done, |_| true).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_crossed_threshold_is_recorded_per_cell_shown_and_sets_exit_status_4() {
        let dir = scratch("thresholds");
        let results = results(&format!(
            "{THREE}[[profile]]\nthresholds = [\"p99<1ms\", \"rate>150\"]\n"
        ));
        let todo = unsettled(&results, |_| true);
        let mut runner = FakeRunner::new(|spec: &CellSpec| Answer::Measured {
            rate: 100 * spec.stack.workers as u64,
            latency_us: 500,
        });
        let cancel = AtomicBool::new(false);
        let outcome = execute(&dir, results, &todo, &mut runner, &cancel).unwrap();
        assert_eq!(outcome, Outcome::ThresholdCrossed);
        assert_eq!(outcome.exit_code(), 4);
        let saved = Results::load(&dir).unwrap();
        let held: Vec<Vec<bool>> = saved
            .cells
            .iter()
            .map(|c| c.thresholds.iter().map(|t| t.held).collect())
            .collect();
        assert_eq!(held, [[true, false], [true, true], [true, true]]);
        let rate = &saved.cells[0].thresholds[1];
        assert_eq!(rate.threshold.to_string(), "rate > 150");
        assert!((rate.measured - 100.0).abs() < 1.0, "{rate:?}");
        let table = Table::for_cells(saved.cells.iter().map(|c| c.id.as_str()))
            .render(&saved.cells, &saved.placement.placement);
        assert_eq!(
            table.matches("threshold crossed: rate > 150").count(),
            1,
            "{table}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn interleaved_trials_run_round_robin_and_add_up_per_cell() {
        let dir = scratch("interleave");
        let mut results = results(&format!(
            "interleave = true\n{THREE}[[profile]]\ntrials = 2\nduration = \"1s\"\n"
        ));
        assert!(
            Matrix::parse("m", &format!("interleave = true\n{THREE}"))
                .unwrap()
                .interleave
        );
        results.run.interleave = true;
        let todo = unsettled(&results, |_| true);
        let mut runner = FakeRunner::new(|spec: &CellSpec| {
            assert_eq!(spec.load.trials, 1, "one trial a start");
            Answer::Measured {
                rate: 100 * spec.stack.workers as u64,
                latency_us: 500,
            }
        });
        let cancel = AtomicBool::new(false);
        let outcome = execute(&dir, results, &todo, &mut runner, &cancel).unwrap();
        assert_eq!(outcome, Outcome::Done);
        let workers: Vec<&str> = runner
            .ran
            .iter()
            .map(|id| id.split('/').nth(2).unwrap())
            .collect();
        assert_eq!(
            workers,
            [
                "sync-pool:w1",
                "sync-pool:w2",
                "sync-pool:w4",
                "sync-pool:w1",
                "sync-pool:w2",
                "sync-pool:w4"
            ]
        );
        let saved = Results::load(&dir).unwrap();
        for cell in &saved.cells {
            assert_eq!(cell.trials.len(), 2, "{}", cell.id);
            assert_eq!(cell.config.load.trials, 2, "the spec keeps its trial count");
            assert_eq!(cell.summary.as_ref().unwrap().trials, 2);
            let processes: Vec<u32> = cell.trials.iter().map(|t| t.process).collect();
            assert_eq!(processes, [1, 2], "a server for each trial");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cells_servers_share_its_trials_and_number_their_processes() {
        let dir = scratch("servers");
        let results = results(&format!(
            "{THREE}[[profile]]\ntrials = 5\nservers = 2\nduration = \"1s\"\n"
        ));
        let todo = unsettled(&results, |_| true);
        let mut calibrated = Vec::new();
        let mut runner = FakeRunner::new(|spec: &CellSpec| {
            assert_eq!(spec.load.servers, 1, "a job is one start");
            calibrated.push(spec.load.calibrated);
            Answer::Measured {
                rate: 100,
                latency_us: 500,
            }
        });
        let cancel = AtomicBool::new(false);
        execute(&dir, results, &todo, &mut runner, &cancel).unwrap();
        assert_eq!(runner.ran.len(), 6, "two starts for each of three cells");
        drop(runner);
        // Only a cell's first start measures its calibration.
        assert_eq!(calibrated, [false, true, false, true, false, true]);
        let saved = Results::load(&dir).unwrap();
        for cell in &saved.cells {
            let processes: Vec<u32> = cell.trials.iter().map(|t| t.process).collect();
            assert_eq!(processes, [1, 1, 1, 2, 2], "{}", cell.id);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stop_between_the_starts_of_a_cell_leaves_it_to_resume() {
        let dir = scratch("fresh");
        let results = results(&format!(
            "{THREE}[[profile]]\ntrials = 3\nfresh_server = true\n"
        ));
        let todo = unsettled(&results, |_| true);
        let cancel = AtomicBool::new(false);
        // Ctrl-C arrives during the second start of the first cell.
        let mut starts = 0;
        let mut stopping = FakeRunner::new(|_: &CellSpec| {
            starts += 1;
            if starts == 2 {
                cancel.store(true, Ordering::SeqCst);
            }
            Answer::Measured {
                rate: 100,
                latency_us: 500,
            }
        });
        let outcome = execute(&dir, results, &todo, &mut stopping, &cancel).unwrap();
        assert_eq!(outcome, Outcome::Interrupted);
        let saved = Results::load(&dir).unwrap();
        assert_eq!(saved.cells[0].trials.len(), 2);
        assert_eq!(saved.cells[0].status, Status::Interrupted);
        assert!(saved.cells[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("2 of its 3"));
        assert_eq!(unsettled(&saved, |_| true), [0, 1, 2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_selected_cells_are_to_do() {
        let results = results(THREE);
        let todo = unsettled(&results, |id| id.contains(":w2"));
        assert_eq!(todo, [1]);
    }
}
