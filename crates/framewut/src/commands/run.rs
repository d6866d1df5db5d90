//! `framewut run [PRESET|MATRIX.toml]`: runs a matrix of cells, each stack
//! started, verified, loaded and stopped in turn, and saves results.json.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::format::minutes;
use crate::lab::matrix::{preset, select};
use crate::lab::matrix::{Matrix, Overrides};
use crate::lab::measure::cpus::{CpuSet, Placement, PlacementOrigin};
use crate::lab::measure::environment::{utc_now, Environment};
use crate::lab::measure::idle::CpuIdle;
use crate::lab::results::{CellResult, PlacementRecord, Results, RunInfo, SCHEMA};
use crate::lab::runner::estimate;
use crate::lab::runner::phases;
use crate::spec::{CellSpec, PacingSpec};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    framewut run                         the quick preset: every scenario, the main Rust models (~3.5 min)\n  \
    framewut run rust --dry-run          list the whole built-in matrix's cells and its estimated time\n  \
    framewut run my-matrix.toml --only 'rust/axum/*' --duration 2s\n  \
    framewut run --resume framewut-results/2026-11-25T18-42-07\n\n\
Exit status: 0 when every cell was measured or skipped, 2 when some failed, 130 when interrupted.\n\
The matrix file format is described in docs/lab.md.")]
pub struct RunArgs {
    /// A preset (see `framewut list presets`) or a matrix file [default: quick].
    pub matrix: Option<String>,
    /// The run directory for results.json [default: framewut-results/UTC-TIME].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Finishes an interrupted run: runs the cells of DIR/results.json not yet measured, failed or skipped.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["matrix", "out", "duration", "max_duration", "trials", "server_cpus", "load_cpus", "interleave", "cpu_idle"])]
    pub resume: Option<PathBuf>,
    /// Measures every trial for this long instead (e.g. 2s), for a quick look;
    /// with --max-duration, the least a trial measures.
    #[arg(long, value_parser = positive_duration)]
    pub duration: Option<Duration>,
    /// Sizes every trial to ten rounds per connection at the model's rate, up to
    /// this long (e.g. 60s): the full length the presets cut to stay within minutes.
    #[arg(long, value_parser = positive_duration)]
    pub max_duration: Option<Duration>,
    /// Runs this many trials of every cell instead.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub trials: Option<u32>,
    /// Runs only cells whose id contains PATTERN, or matches it as a glob when
    /// it has * or ? (repeatable: a cell matching any runs).
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// CPUs for the servers, e.g. 0 or 0-3 [default: the lower half of this process's CPUs].
    #[arg(long, value_name = "CPUS")]
    pub server_cpus: Option<CpuSet>,
    /// CPUs for the load generator [default: the upper half].
    #[arg(long, value_name = "CPUS")]
    pub load_cpus: Option<CpuSet>,
    /// Runs the cells' trials round-robin (trial 1 of every cell, then trial
    /// 2, ...), a fresh server for each, so a machine that drifts during the
    /// run drifts under every cell alike.
    #[arg(long)]
    pub interleave: bool,
    /// How deep idle CPUs may sleep while the run measures: shallow holds
    /// them polling (a CPU latency request of 0 µs, as root), so that the
    /// server does not pay to wake the load generator's halted CPU; as-is
    /// leaves the machine's own idle states [default: the matrix's
    /// placement table's cpu_idle, or shallow].
    #[arg(long, value_enum, value_name = "IDLE")]
    pub cpu_idle: Option<CpuIdle>,
    /// After each cell's trials, records where its stack's CPU goes (perf for
    /// native stacks, py-spy for Python ones) in a window of its own: a flame
    /// graph per cell under DIR/profiles, shown in report.html, the top
    /// frames in report.md.
    #[arg(long)]
    pub profile: bool,
    /// Prints the cells and the estimated time, and runs nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub(super) fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = framewut_load::parse_duration(text).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("a duration of 0: give a positive one, e.g. 2s".into());
    }
    Ok(d)
}

/// A CPU set with the CPUs this process may use, or an error naming the others.
fn available(set: CpuSet, allowed: &CpuSet, flag: &str) -> anyhow::Result<CpuSet> {
    if let Some(cpu) = set.cpus().iter().find(|c| !allowed.cpus().contains(c)) {
        bail!("{flag} {set}: CPU {cpu} is not available here; this process may use CPUs {allowed}");
    }
    Ok(set)
}

/// Flags over the matrix's `[placement]` over disjoint halves. A side given
/// alone leaves the other the remaining CPUs.
pub(super) fn placement(
    server_cpus: Option<CpuSet>,
    load_cpus: Option<CpuSet>,
    matrix: &Matrix,
) -> anyhow::Result<Placement> {
    let allowed = CpuSet::allowed();
    let base = matrix
        .placement
        .clone()
        .unwrap_or_else(|| Placement::halves(&allowed));
    let rest = |taken: &CpuSet| {
        CpuSet::new(
            allowed
                .cpus()
                .iter()
                .filter(|c| !taken.cpus().contains(c))
                .copied()
                .collect(),
        )
        .unwrap_or_else(|_| taken.clone())
    };
    let placement = match (server_cpus, load_cpus) {
        (None, None) => base,
        (Some(server), None) => Placement {
            load_cpus: rest(&server),
            server_cpus: server,
            origin: PlacementOrigin::Flags,
        },
        (None, Some(load)) => Placement {
            server_cpus: rest(&load),
            load_cpus: load,
            origin: PlacementOrigin::Flags,
        },
        (Some(server), Some(load)) => Placement {
            server_cpus: server,
            load_cpus: load,
            origin: PlacementOrigin::Flags,
        },
    };
    Ok(Placement {
        server_cpus: available(placement.server_cpus, &allowed, "--server-cpus")?,
        load_cpus: available(placement.load_cpus, &allowed, "--load-cpus")?,
        origin: placement.origin,
    })
}

/// Reads the matrix named on the command line: a preset or a file.
pub(super) fn read_matrix(name: &str) -> anyhow::Result<(String, Matrix)> {
    let path = PathBuf::from(name);
    if name.ends_with(".toml") || path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the matrix file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let matrix = Matrix::parse_in(name, &text, base)?;
        return Ok((path.display().to_string(), matrix));
    }
    let Some(preset) = preset::find(name) else {
        let names: Vec<&str> = preset::presets().iter().map(|p| p.name).collect();
        bail!(
            "{name:?} is neither a preset ({}) nor a matrix file (.toml)",
            names.join(", ")
        );
    };
    let matrix = Matrix::parse(&format!("preset {name}"), &preset.toml())?;
    Ok((format!("preset:{name}"), matrix))
}

fn selected(args: &RunArgs, id: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|p| select::matches(p, id))
}

fn describe(cell: &CellSpec) -> String {
    let pacing = match cell.load.pacing {
        PacingSpec::Closed => "closed".to_string(),
        PacingSpec::Open { rate } => format!("open at {} req/s", rate.rate().get()),
    };
    let reference = cell.reference.as_ref().map_or(String::new(), |r| {
        format!("; reference {} req/s ({})", r.requests_per_s, r.source)
    });
    let length = match cell.load.max_duration {
        None => format!("{:?}", cell.load.duration),
        Some(most) => format!(
            "about {:?} ({:.0} rounds per connection at the model's rate, {:?} to {most:?})",
            phases::estimated_length(cell),
            phases::ROUNDS,
            cell.load.duration
        ),
    };
    let servers = match cell.load.servers {
        1 => String::new(),
        n if n == cell.load.trials => ", a server for each".to_string(),
        n => format!(" on {n} servers"),
    };
    format!(
        "workers {}, {} connections, {} threads, {pacing}, {} x {length}{servers} after {:?} warm-up{reference}",
        cell.stack.workers,
        cell.load.connections,
        cell.load.threads,
        cell.load.trials,
        cell.load.warmup
    )
}

fn dry_run(results: &Results, todo: &[usize]) -> std::io::Result<()> {
    let p = &results.placement.placement;
    let total = crate::lab::estimate_run(results, todo);
    crate::outln!(
        "{}: {} cells, about {} (servers on CPUs {}, load generator on CPUs {})",
        results.run.matrix,
        todo.len(),
        minutes(total),
        p.server_cpus,
        p.load_cpus
    )?;
    if let Some(d) = &results.run.description {
        crate::outln!("{d}")?;
    }
    let width = todo
        .iter()
        .map(|i| results.cells[*i].id.len())
        .max()
        .unwrap_or(0);
    for i in todo {
        let cell = &results.cells[*i].config;
        crate::outln!(
            "  {:<width$}  {}  (~{:.0}s)",
            cell.id,
            describe(cell),
            estimate(cell).as_secs_f64()
        )?;
    }
    if let Some(warning) = p.warning() {
        eprintln!("{warning}");
    }
    Ok(())
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let cancel = crate::signals::stop_flag();
    let (dir, results, idle) = match &args.resume {
        Some(dir) => {
            let mut results = Results::load(dir)?;
            if !args.dry_run {
                results.run.resumed_at.push(utc_now());
            }
            let idle = asked_idle(&results);
            (dir.clone(), results, idle)
        }
        None => {
            let name = args.matrix.as_deref().unwrap_or(preset::DEFAULT);
            let (origin, matrix) = read_matrix(name)?;
            let placement = placement(args.server_cpus.clone(), args.load_cpus.clone(), &matrix)?;
            let overrides = Overrides {
                duration: args.duration,
                max_duration: args.max_duration,
                trials: args.trials,
                cpu_profile: args.profile,
            };
            let cells: Vec<CellResult> = matrix
                .cells(&placement, &overrides)?
                .into_iter()
                .filter(|c| selected(&args, &c.id))
                .map(CellResult::pending)
                .collect();
            let dir = args.out.clone().unwrap_or_else(crate::lab::default_dir);
            let started_at = utc_now();
            let results = Results {
                schema: SCHEMA.to_string(),
                run: RunInfo {
                    id: format!("{}-{}", started_at.replace(':', ""), std::process::id()),
                    matrix: origin,
                    description: matrix.description.clone(),
                    command: std::env::args().collect(),
                    started_at,
                    finished_at: None,
                    resumed_at: Vec::new(),
                    interrupted: false,
                    interleave: args.interleave || matrix.interleave,
                    ab: None,
                },
                environment: Environment::detect(),
                placement: PlacementRecord::of(placement),
                cells,
            };
            let idle = args.cpu_idle.or(matrix.cpu_idle).unwrap_or_default();
            (dir, results, idle)
        }
    };
    let todo = crate::lab::unsettled(&results, |id| selected(&args, id));
    if todo.is_empty() {
        if args.resume.is_some() {
            eprintln!(
                "framewut: every cell of {} is already settled",
                dir.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        bail!("no cell matches --only {}", args.only.join(" --only "));
    }
    if args.dry_run {
        dry_run(&results, &todo)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.resume.is_none() {
        create_run_dir(&dir, "framewut run")?;
    }
    eprintln!(
        "framewut: {} cells of {}, about {}; results in {}",
        todo.len(),
        results.run.matrix,
        minutes(crate::lab::estimate_run(&results, &todo)),
        dir.display()
    );
    let outcome = execute(&dir, results, &todo, cancel, idle)?;
    Ok(ExitCode::from(outcome.exit_code()))
}

/// What a run asked of the CPUs' idle states: a resumed run asks it again.
pub(super) fn asked_idle(results: &Results) -> CpuIdle {
    results
        .placement
        .idle
        .as_ref()
        .map_or_else(CpuIdle::default, |idle| idle.asked)
}

/// Makes a new run's directory, refusing one that holds a run already:
/// `command --resume DIR` finishes that one.
pub(super) fn create_run_dir(dir: &std::path::Path, command: &str) -> anyhow::Result<()> {
    if dir.join(crate::lab::results::FILE).exists() {
        bail!(
            "{} already holds a run; pick another --out, or finish it with {command} --resume {}",
            dir.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Runs the cells at `todo` of `results` into `dir` in a lab of their own
/// that holds the CPUs' idle states as `idle` asks, after stopping what a
/// killed run left, then writes the reports.
pub(super) fn execute(
    dir: &std::path::Path,
    mut results: Results,
    todo: &[usize],
    cancel: &'static std::sync::atomic::AtomicBool,
    idle: CpuIdle,
) -> anyhow::Result<crate::lab::Outcome> {
    // A run killed with SIGKILL stopped nothing: what it left is stopped
    // here, before this run's cells share the machine with it.
    for line in crate::lab::measure::leftovers::before_run().lines() {
        eprintln!("framewut: {line}");
    }
    let mut lab = crate::lab::lab_for(dir, &results, cancel, idle)?;
    if let Some(note) = &lab.idle().note {
        eprintln!("framewut: idle CPUs are not held shallow: {note}");
    }
    results.placement.idle = Some(lab.idle().clone());
    let outcome = crate::lab::execute(dir, results, todo, &mut lab, cancel)?;
    drop(lab);
    crate::report::after_run(dir)?;
    Ok(outcome)
}
