//! `framewut knee STACK SCENARIO --p99 50ms`: the highest open-loop rate a
//! stack serves with its p99 latency under a target, found by
//! [`crate::lab::runner::knee`] with every step a cell the lab runs: the stack
//! started, verified, loaded, and stopped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use framewut_load::format_duration;
use framewut_stacks::{Scenario, UnknownScenario, DEFAULT_CPU_N, DEFAULT_SLEEP};

use crate::format::{rate, thousands};
use crate::lab::matrix::{
    Matrix, Overrides, StackEntry, DEFAULT_CONNECT_COST, DEFAULT_UPSTREAM_DELAY,
};
use crate::lab::measure::cpus::{CpuSet, Placement};
use crate::lab::measure::idle::CpuIdle;
use crate::lab::measure::process::become_subreaper;
use crate::lab::runner::knee::{self, Knee, Step};
use crate::lab::runner::progress::Progress;
use crate::lab::runner::Lab;
use crate::model::Prediction;
use crate::spec::{CellSpec, Database, ScenarioSpec};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    framewut knee rust/axum/tokio-multi sleep --p99 150ms\n  \
    framewut knee rust/std/sync-pool hello --p99 5ms --workers 4 --connections 4\n\n\
Each step restarts the stack and runs --warmup then --step of open-loop load at one rate.")]
pub struct KneeArgs {
    /// A stack id, as `framewut list stacks` shows them.
    pub stack: String,
    /// The scenario: hello, sleep, upstream, cpu or db.
    #[arg(value_parser = parse_scenario)]
    pub scenario: Scenario,
    /// The p99 latency to stay under, e.g. 50ms.
    #[arg(long, value_parser = positive_duration)]
    pub p99: Duration,
    /// Workers for the stack [default: its own].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Variants, as a matrix takes them, e.g. sleep=blocking.
    #[arg(long)]
    pub variant: Option<String>,
    /// Connections the load keeps open: the most requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long each step measures.
    #[arg(long, default_value = "3s", value_parser = positive_duration)]
    pub step: Duration,
    /// How long each step warms up first.
    #[arg(long, default_value = "1s", value_parser = framewut_load::parse_duration)]
    pub warmup: Duration,
    /// The most open-loop steps after the probe.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub max_steps: u32,
    /// `/sleep`'s wait [default: 100ms].
    #[arg(long, value_parser = positive_duration)]
    pub sleep: Option<Duration>,
    /// `/cpu`'s n [default: 100000].
    #[arg(long)]
    pub cpu_n: Option<u32>,
    /// The upstream's delay before each answer [default: 50ms].
    #[arg(long, value_parser = framewut_load::parse_duration)]
    pub upstream_delay: Option<Duration>,
    /// The upstream's extra wait on a new connection [default: 30ms].
    #[arg(long, value_parser = framewut_load::parse_duration)]
    pub connect_cost: Option<Duration>,
    /// Prints the search as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = framewut_load::parse_duration(text).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("a duration of 0: give a positive one, e.g. 50ms".into());
    }
    Ok(d)
}

fn parse_scenario(text: &str) -> Result<Scenario, UnknownScenario> {
    text.parse()
}

/// The scenario the arguments ask for, the contract's defaults filling in
/// what they leave out.
fn scenario(args: &KneeArgs) -> ScenarioSpec {
    match args.scenario {
        Scenario::Hello => ScenarioSpec::Hello,
        Scenario::Sleep => ScenarioSpec::Sleep {
            sleep: args.sleep.unwrap_or(DEFAULT_SLEEP),
        },
        Scenario::Upstream => ScenarioSpec::Upstream {
            delay: args.upstream_delay.unwrap_or(DEFAULT_UPSTREAM_DELAY),
            connect_cost: args.connect_cost.unwrap_or(DEFAULT_CONNECT_COST),
            tls: false,
        },
        Scenario::Cpu => ScenarioSpec::Cpu {
            n: args.cpu_n.unwrap_or(DEFAULT_CPU_N),
        },
        Scenario::Db => ScenarioSpec::Db {
            database: Database::Sqlite,
            url: None,
        },
    }
}

/// The one cell the search loads, built from the arguments.
fn base_cell(args: &KneeArgs, placement: &Placement) -> anyhow::Result<CellSpec> {
    let stack = StackEntry {
        id: args.stack.clone(),
        variant: args.variant.clone(),
        workers: args.workers,
    };
    let matrix = Matrix::single(
        &stack,
        scenario(args),
        args.connections,
        args.step,
        args.warmup,
    )
    .map_err(anyhow::Error::msg)?;
    let mut cells = matrix.cells(placement, &Overrides::default())?;
    match cells.len() {
        1 => Ok(cells.remove(0)),
        n => bail!(
            "{} with {} makes {n} cells; expected one",
            args.stack,
            args.scenario
        ),
    }
}

/// A scratch directory for the lab (the SQLite World file), removed at the end.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn us(v: u64) -> String {
    format_duration(Duration::from_micros(v))
}

fn row(label: &str, step: &Step) -> String {
    format!(
        "{label:>5}  {:>13}  {:>14}  {:>9}  {:>9}  {:>6}  {}",
        step.offered_per_s
            .map_or("closed loop".to_string(), thousands),
        thousands(step.achieved_per_s),
        us(step.p50_us),
        us(step.p99_us),
        step.failed,
        verdict(step)
    )
}

/// A step's verdict, with the connections it left silent: they are why a
/// step is over whatever its p99.
fn verdict(step: &Step) -> String {
    let word = match (step.offered_per_s, step.ok) {
        (None, _) => "probe",
        (Some(_), true) => "ok",
        (Some(_), false) => "over",
    };
    match step.silent_connections {
        0 => word.to_string(),
        n => format!("{word} ({n} of {} connections silent)", step.connections),
    }
}

/// The search as a table and a closing sentence.
pub fn render(knee: &Knee, model: Option<&Prediction>) -> String {
    let mut out = format!(
        "{:>5}  {:>13}  {:>14}  {:>9}  {:>9}  {:>6}  verdict\n",
        "step", "offered req/s", "achieved req/s", "p50", "p99", "errors"
    );
    out.push_str(&row("probe", &knee.probe));
    out.push('\n');
    for (i, s) in knee.steps.iter().enumerate() {
        out.push_str(&row(&(i + 1).to_string(), s));
        out.push('\n');
    }
    let target = us(knee.target_p99_us);
    match knee.knee_per_s {
        Some(r) => {
            let at = knee
                .steps
                .iter()
                .find(|s| s.offered_per_s == Some(r))
                .expect("the knee is one of the steps");
            out.push_str(&format!(
                "\nknee: {} keeps p99 under {target} (p99 {} at that rate)",
                rate(r),
                us(at.p99_us)
            ));
            let above = knee
                .steps
                .iter()
                .filter(|s| !s.ok && s.offered_per_s.is_some_and(|o| o > r))
                .min_by(|a, b| {
                    a.offered_per_s
                        .partial_cmp(&b.offered_per_s)
                        .expect("finite")
                });
            if let Some(a) = above {
                out.push_str(&format!(
                    "; {} did not (p99 {})",
                    rate(a.offered_per_s.expect("filtered")),
                    us(a.p99_us)
                ));
            }
            out.push_str(".\n");
        }
        None => out.push_str(&format!("\nno rate tried kept p99 under {target}.\n")),
    }
    if knee.steps.iter().any(|s| s.silent_connections > 0) {
        out.push_str(
            "silent connections got no answer in a whole step: their requests are in its \
             percentiles at their age, and the step is over at any p99 (the stack serves fewer \
             connections at once than the load opens).\n",
        );
    }
    out.push_str(&format!("search: {}.\n", knee.stopped));
    if let Some(p) = model {
        out.push_str(&format!(
            "model: a ceiling of {} ({}); the closed-loop probe reached {:.2} of it.\n",
            rate(p.predicted_per_s),
            p.because,
            p.ratio
        ));
    }
    out
}

pub fn run(args: KneeArgs) -> anyhow::Result<ExitCode> {
    let cancel = crate::signals::stop_flag();
    let placement = Placement::halves(&CpuSet::allowed());
    let base = base_cell(&args, &placement)?;

    become_subreaper();
    let exe = std::env::current_exe().context("cannot find the framewut binary")?;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("framewut-knee-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)
        .with_context(|| format!("cannot create {}", scratch.0.display()))?;
    let run_id = format!("knee-{}", std::process::id());
    let mut lab = Lab::new(
        exe,
        placement.clone(),
        scratch.0.clone(),
        run_id,
        cancel,
        CpuIdle::default(),
    )
    .context("cannot start the lab's guard process")?;
    let mut progress = Progress::new(args.max_steps as usize + 1);
    if let Some(warning) = placement.warning() {
        progress.warn(&warning);
    }
    if let Some(note) = &lab.idle().note {
        progress.warn(&format!("idle CPUs are not held shallow: {note}"));
    }
    let found = knee::find(
        &mut lab,
        &base,
        &placement,
        args.p99,
        args.max_steps,
        &progress,
        cancel,
        // The rows go to standard error when standard output carries the JSON.
        |label, step| {
            if args.json {
                progress.warn(&row(label, step));
            } else {
                progress.println(&row(label, step));
            }
        },
    );
    drop(lab);
    progress.finish();
    let found = found?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&found.knee).context("serialising the search")?
        )?;
    } else {
        crate::outln!("\n{}", render(&found.knee, found.model.as_ref()))?;
    }
    Ok(ExitCode::SUCCESS)
}
