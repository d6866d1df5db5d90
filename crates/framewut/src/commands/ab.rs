//! `framewut ab A B`: two matrices (two settings, two builds of a server,
//! two stacks) run against each other in one session, pair by pair in an
//! ABBA order with a fresh server for every trial, and the change of each
//! pair with its interval: the verdict that holds on a machine that drifts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::run::{placement, positive_duration, read_matrix};
use crate::format::minutes;
use crate::lab::matrix::select;
use crate::lab::matrix::Overrides;
use crate::lab::measure::cpus::CpuSet;
use crate::lab::measure::environment::{utc_now, Environment};
use crate::lab::results::{AbRun, CellResult, PlacementRecord, Results, RunInfo, SCHEMA};
use crate::report::ab::{verdict, MARK_A, MARK_B};
use crate::spec::CellSpec;

/// The verdict's file in the run directory.
pub const FILE: &str = "ab.json";

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    framewut ab before.toml after.toml                     every pair of cells, 6 rounds each\n  \
    framewut ab quick tuned.toml --only 'rust/axum/*' --rounds 8\n  \
    framewut ab --resume framewut-results/2026-12-06T09-12-00\n\n\
Cells are paired by id when both matrices have the same ids, else in order (then both must\n\
have as many cells). Every trial gets a fresh server; the rounds of a pair run A then B,\n\
then B then A, so a drift of the machine moves both sides of a round alike, and the test is\n\
a paired t-test on B - A per round, Holm-corrected over the pairs. Use it instead of\n\
comparing two separate runs (framewut compare) when the machine is shared or drifts.\n\n\
Exit status: 0 when every cell was measured, 2 when some failed, 130 when interrupted.")]
pub struct AbArgs {
    /// Matrix A, the baseline: a preset or a matrix file.
    #[arg(required_unless_present = "resume")]
    pub a: Option<String>,
    /// Matrix B.
    #[arg(required_unless_present = "resume")]
    pub b: Option<String>,
    /// Rounds per pair: each round measures one trial of A and one of B,
    /// each on a fresh server.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(2..))]
    pub rounds: u32,
    /// The run directory [default: framewut-results/UTC-TIME].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Finishes an interrupted A/B run in DIR.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["a", "b", "out", "duration", "max_duration", "server_cpus", "load_cpus", "only"])]
    pub resume: Option<PathBuf>,
    /// Runs only the pairs whose A cell's id contains PATTERN, or matches it
    /// as a glob (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// Measures every trial for this long instead (e.g. 2s).
    #[arg(long, value_parser = positive_duration)]
    pub duration: Option<Duration>,
    /// Sizes every trial to ten rounds per connection, up to this long.
    #[arg(long, value_parser = positive_duration)]
    pub max_duration: Option<Duration>,
    /// CPUs for the servers [default: the lower half of this process's CPUs].
    #[arg(long, value_name = "CPUS")]
    pub server_cpus: Option<CpuSet>,
    /// CPUs for the load generator [default: the upper half].
    #[arg(long, value_name = "CPUS")]
    pub load_cpus: Option<CpuSet>,
    /// Prints the pairs and the estimated time, and runs nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Pairs A's cells with B's: by id when both have the same ids, else in
/// order when both have as many and each pair shares its scenario.
fn pair(a: &[CellSpec], b: &[CellSpec]) -> anyhow::Result<Vec<(usize, usize)>> {
    let same_ids = a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| y.id == x.id));
    if same_ids {
        return Ok((0..a.len())
            .map(|i| (i, b.iter().position(|y| y.id == a[i].id).expect("same ids")))
            .collect());
    }
    if a.len() != b.len() {
        bail!(
            "A has {} cells and B has {}: an A/B run pairs the cells by id, or in order when both have as many; narrow them with --only",
            a.len(),
            b.len()
        );
    }
    // In order, each pair must at least ask the same question.
    if let Some((x, y)) = a
        .iter()
        .zip(b)
        .find(|(x, y)| x.scenario.name() != y.scenario.name())
    {
        bail!(
            "A's cells and B's have other ids, and in order {} would be set against {}, another scenario: give matrices with the same ids, or the same scenarios in the same order (narrow them with --only)",
            x.id,
            y.id
        );
    }
    Ok((0..a.len()).map(|i| (i, i)).collect())
}

/// A new A/B run: both matrices' cells, marked, a server for every trial.
fn new_run(args: &AbArgs) -> anyhow::Result<(PathBuf, Results)> {
    let (a, b) = (
        args.a.as_deref().expect("clap requires A"),
        args.b.as_deref().expect("clap requires B"),
    );
    let (origin_a, matrix_a) = read_matrix(a)?;
    let (origin_b, matrix_b) = read_matrix(b)?;
    let placement = placement(args.server_cpus.clone(), args.load_cpus.clone(), &matrix_a)?;
    let overrides = Overrides {
        duration: args.duration,
        max_duration: args.max_duration,
        trials: Some(args.rounds),
        cpu_profile: false,
    };
    let cells = |matrix: &crate::lab::matrix::Matrix| -> anyhow::Result<Vec<CellSpec>> {
        let mut cells = matrix.cells(&placement, &overrides)?;
        for cell in &mut cells {
            cell.load.servers = cell.load.trials;
        }
        Ok(cells)
    };
    let (cells_a, cells_b) = (cells(&matrix_a)?, cells(&matrix_b)?);
    let chosen =
        |id: &str| args.only.is_empty() || args.only.iter().any(|p| select::matches(p, id));
    let pairs: Vec<(usize, usize)> = pair(&cells_a, &cells_b)?
        .into_iter()
        .filter(|(i, _)| chosen(&cells_a[*i].id))
        .collect();
    if pairs.is_empty() {
        bail!("no cell of A matches --only {}", args.only.join(" --only "));
    }
    let marked = |cell: &CellSpec, mark: &str| {
        let mut cell = cell.clone();
        cell.id = format!("{mark}{}", cell.id);
        CellResult::pending(cell)
    };
    let mut run_cells = Vec::new();
    let mut ids = Vec::new();
    for (i, j) in &pairs {
        let (x, y) = (marked(&cells_a[*i], MARK_A), marked(&cells_b[*j], MARK_B));
        ids.push((x.id.clone(), y.id.clone()));
        run_cells.push(x);
        run_cells.push(y);
    }
    let started_at = utc_now();
    let results = Results {
        schema: SCHEMA.to_string(),
        run: RunInfo {
            id: format!("{}-{}", started_at.replace(':', ""), std::process::id()),
            matrix: format!("{origin_a} against {origin_b}"),
            description: Some(format!(
                "A/B: {origin_a} against {origin_b}, {} rounds a pair in an ABBA order, a fresh server for every trial",
                args.rounds
            )),
            command: std::env::args().collect(),
            started_at,
            finished_at: None,
            resumed_at: Vec::new(),
            interrupted: false,
            interleave: true,
            ab: Some(AbRun {
                a: origin_a,
                b: origin_b,
                pairs: ids,
            }),
        },
        environment: Environment::detect(),
        placement: PlacementRecord::of(placement),
        cells: run_cells,
    };
    let dir = args.out.clone().unwrap_or_else(crate::lab::default_dir);
    Ok((dir, results))
}

pub fn run(args: AbArgs) -> anyhow::Result<ExitCode> {
    let cancel = crate::signals::stop_flag();
    let (dir, mut results) = match &args.resume {
        Some(dir) => {
            let results = Results::load(dir)?;
            if results.run.ab.is_none() {
                bail!(
                    "{} holds a run of `framewut run`, not an A/B run: finish it with framewut run --resume {}",
                    dir.display(),
                    dir.display()
                );
            }
            (dir.clone(), results)
        }
        None => new_run(&args)?,
    };
    let todo = crate::lab::unsettled(&results, |_| true);
    let estimate = crate::lab::estimate_run(&results, &todo);
    if args.dry_run {
        crate::outln!(
            "{}: {} pairs, about {}",
            results.run.matrix,
            todo.len() / 2,
            minutes(estimate)
        )?;
        for (a, b) in &results.run.ab.as_ref().expect("an A/B run").pairs {
            crate::outln!("  {a}  against  {b}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.resume.is_none() {
        super::run::create_run_dir(&dir, "framewut ab")?;
    } else {
        results.run.resumed_at.push(utc_now());
    }
    if !todo.is_empty() {
        eprintln!(
            "framewut: A/B of {}, {} cells, about {}; results in {}",
            results.run.matrix,
            todo.len(),
            minutes(estimate),
            dir.display()
        );
    }
    let outcome = if todo.is_empty() {
        crate::lab::Outcome::Done
    } else {
        let idle = super::run::asked_idle(&results);
        super::run::execute(&dir, results, &todo, cancel, idle)?
    };
    let results = Results::load(&dir)?;
    let verdict = verdict(&results).expect("an A/B run");
    let json = serde_json::to_string_pretty(&verdict).context("serialising the A/B verdict")?;
    std::fs::write(dir.join(FILE), json)
        .with_context(|| format!("cannot write {}", dir.join(FILE).display()))?;
    crate::outln!("\n{}", verdict.render())?;
    eprintln!(
        "framewut: the A/B verdict is in {}",
        dir.join(FILE).display()
    );
    Ok(ExitCode::from(outcome.exit_code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(matrix: &str) -> Vec<CellSpec> {
        crate::lab::fake::results(matrix)
            .cells
            .into_iter()
            .map(|c| c.config)
            .collect()
    }

    #[test]
    fn cells_pair_by_id_else_in_order_with_the_same_scenarios() {
        let stack = |id: &str, scenarios: &str| {
            format!("[[stack]]\nid = \"{id}\"\nscenarios = [{scenarios}]\n")
        };
        let a = cells(&stack("rust/std/sync-pool", "\"hello\", \"sleep\""));
        let mut reversed = a.clone();
        reversed.reverse();
        assert_eq!(pair(&a, &reversed).unwrap(), [(0, 1), (1, 0)]);
        let other = cells(&stack("rust/std/thread-per-conn", "\"hello\", \"sleep\""));
        assert_eq!(pair(&a, &other).unwrap(), [(0, 0), (1, 1)]);
        let swapped = cells(&stack("rust/std/thread-per-conn", "\"hello\", \"cpu\""));
        let e = pair(&a, &swapped).unwrap_err().to_string();
        assert!(e.contains("another scenario"), "{e}");
        let e = pair(&a, &other[..1]).unwrap_err().to_string();
        assert!(e.contains("A has 2 cells and B has 1"), "{e}");
    }
}
