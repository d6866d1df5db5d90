//! `framewut knee STACK SCENARIO --p99 50ms`: the highest open-loop rate a
//! stack serves with its p99 latency under a target.
//!
//! A closed-loop probe finds the most the stack answers with the profile's
//! connections; then short open-loop runs bisect between nothing and 10%
//! over that rate (so the bracket holds the knee even when the probe ran a
//! little slow), at most `--max-steps` of them. A step passes when its p99 (from
//! each request's intended send time) stays under the target, it achieved
//! at least 95% of the rate it offered, and at most 0.1% of its requests
//! failed. Every step is a cell run by the lab, as `framewut run` runs
//! them: the stack started, verified, loaded, and stopped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use framewut_load::format_duration;
use framewut_stacks::Scenario;
use serde::Serialize;

use crate::format::{rate, thousands};
use crate::lab::cpus::{CpuSet, Placement};
use crate::lab::matrix::{Matrix, Overrides};
use crate::lab::process::become_subreaper;
use crate::lab::progress::Progress;
use crate::lab::results::{CellResult, Status};
use crate::lab::runner::{estimate, Lab};
use crate::model::Prediction;
use crate::spec::{CellSpec, PacingSpec, PerSecond};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    framewut knee rust/axum/tokio-multi sleep --p99 150ms\n  \
    framewut knee rust/std/sync-pool hello --p99 5ms --workers 4 --connections 32\n\n\
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

fn parse_scenario(text: &str) -> Result<Scenario, String> {
    text.parse()
}

/// One load of the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The open-loop rate asked for; none for the closed-loop probe.
    pub offered_per_s: Option<f64>,
    pub achieved_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// The fastest request: the stack's latency with no queue.
    pub min_us: u64,
    pub requests: u64,
    pub failed: u64,
    /// Whether it kept the target (always false for the probe).
    pub ok: bool,
}

impl Step {
    /// Whether a step at `offered` kept p99 under `target_us`, achieved at
    /// least 95% of the rate and failed at most 0.1% of its requests.
    fn judge(mut self, target_us: u64) -> Step {
        self.ok = self.offered_per_s.is_some_and(|offered| {
            self.p99_us <= target_us
                && self.achieved_per_s >= 0.95 * offered
                && self.failed * 1000 <= self.requests
        });
        self
    }
}

/// The search's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Knee {
    pub target_p99_us: u64,
    pub probe: Step,
    /// The open-loop steps, in the order run.
    pub steps: Vec<Step>,
    /// The highest rate that passed.
    pub knee_per_s: Option<f64>,
    /// Why the search stopped.
    pub stopped: String,
}

/// How far over the closed-loop probe's rate the search starts.
const HEADROOM: f64 = 1.1;

/// Bisects for the highest passing open-loop rate between zero and 10% over
/// the closed-loop probe's rate, calling `measure` for each step.
pub fn search(
    target_us: u64,
    probe: Step,
    max_steps: u32,
    mut measure: impl FnMut(f64) -> anyhow::Result<Step>,
) -> anyhow::Result<Knee> {
    let mut steps: Vec<Step> = Vec::new();
    let knee = |steps: Vec<Step>, stopped: String| {
        let knee_per_s = steps
            .iter()
            .filter(|s| s.ok)
            .filter_map(|s| s.offered_per_s)
            .fold(None, |best: Option<f64>, r| {
                Some(best.map_or(r, |b| b.max(r)))
            });
        Ok(Knee {
            target_p99_us: target_us,
            probe: probe.clone(),
            steps,
            knee_per_s,
            stopped,
        })
    };
    if probe.min_us > target_us {
        let stopped = format!(
            "even the fastest request took {}, over the target: no rate can meet it",
            format_duration(Duration::from_micros(probe.min_us))
        );
        return knee(steps, stopped);
    }
    if probe.achieved_per_s <= 0.0 {
        return knee(steps, "the closed-loop probe completed no request".into());
    }
    let (mut lo, mut hi) = (0.0f64, probe.achieved_per_s * HEADROOM);
    let mut next = hi;
    while steps.len() < max_steps as usize {
        let step = measure(next)?.judge(target_us);
        let ok = step.ok;
        steps.push(step);
        if ok {
            lo = next;
            if next >= hi {
                return knee(
                    steps,
                    "it kept the target at 10% over the closed-loop probe's rate".into(),
                );
            }
        } else {
            hi = next;
        }
        if hi - lo <= 0.02 * hi {
            return knee(steps, "the bracket closed within 2%".into());
        }
        next = (lo + hi) / 2.0;
    }
    knee(steps, format!("{max_steps} steps run"))
}

fn step_of(result: &CellResult, offered: Option<f64>) -> anyhow::Result<Step> {
    if result.status != Status::Ok {
        bail!(
            "{} {}: {}",
            result.id,
            crate::report::status_words(result.status),
            result.reason.as_deref().unwrap_or("no reason given")
        );
    }
    let s = result
        .summary
        .as_ref()
        .context("a measured cell without a summary")?;
    Ok(Step {
        offered_per_s: offered,
        achieved_per_s: s.requests_per_s.mean,
        p50_us: s.latency.at(50.0).unwrap_or(0),
        p99_us: s.latency.at(99.0).unwrap_or(0),
        min_us: s.latency.min_us,
        requests: s.requests,
        failed: s.failed_requests,
        ok: false,
    })
}

/// The matrix for one stack and one scenario, as a user would write it.
fn matrix_toml(args: &KneeArgs) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let micros = |d: Duration| quote(&format!("{}us", d.as_micros()));
    let mut text = format!("scenarios = [{}]\n", quote(args.scenario.as_str()));
    if let Some(d) = args.sleep {
        text.push_str(&format!("[scenario.sleep]\nduration = {}\n", micros(d)));
    }
    if args.upstream_delay.is_some() || args.connect_cost.is_some() {
        text.push_str("[scenario.upstream]\n");
        if let Some(d) = args.upstream_delay {
            text.push_str(&format!("delay = {}\n", micros(d)));
        }
        if let Some(d) = args.connect_cost {
            text.push_str(&format!("connect_cost = {}\n", micros(d)));
        }
    }
    if let Some(n) = args.cpu_n {
        text.push_str(&format!("[scenario.cpu]\nn = {n}\n"));
    }
    text.push_str(&format!("[[stack]]\nid = {}\n", quote(&args.stack)));
    if let Some(w) = args.workers {
        text.push_str(&format!("workers = {w}\n"));
    }
    if let Some(v) = &args.variant {
        text.push_str(&format!("variant = {}\n", quote(v)));
    }
    text.push_str(&format!(
        "[[profile]]\nconnections = {}\nduration = {}\nwarmup = {}\ntrials = 1\n",
        args.connections,
        micros(args.step),
        micros(args.warmup)
    ));
    text
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
        match (step.offered_per_s, step.ok) {
            (None, _) => "probe",
            (Some(_), true) => "ok",
            (Some(_), false) => "over",
        }
    )
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
    let matrix = Matrix::parse("framewut knee", &matrix_toml(&args))?;
    let placement = Placement::halves(&CpuSet::allowed());
    let mut cells = matrix
        .cells(&placement, &Overrides::default())
        .map_err(anyhow::Error::msg)?;
    let base: CellSpec = match cells.len() {
        1 => cells.remove(0),
        n => bail!(
            "{} with {} makes {n} cells; expected one",
            args.stack,
            args.scenario
        ),
    };
    let target_us = args.p99.as_micros() as u64;

    become_subreaper();
    let exe = std::env::current_exe().context("cannot find the framewut binary")?;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("framewut-knee-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)
        .with_context(|| format!("cannot create {}", scratch.0.display()))?;
    let run_id = format!("knee-{}", std::process::id());
    let mut lab = Lab::new(exe, placement.clone(), scratch.0.clone(), run_id, cancel);
    let total = args.max_steps as usize + 1;
    let mut progress = Progress::new(total);
    if let Some(warning) = placement.warning() {
        progress.warn(&warning);
    }
    let each = estimate(&base);

    progress.cell(
        0,
        &format!("{} closed-loop probe", base.id),
        each,
        each * args.max_steps,
    );
    let probe_result = lab.run_cell(&base, &progress);
    let probe = step_of(&probe_result, None)?;
    let model = probe_result.prediction(&placement);
    // The rows go to standard error when standard output carries the JSON.
    let show = |progress: &Progress, line: &str| {
        if args.json {
            progress.warn(line);
        } else {
            progress.println(line);
        }
    };
    show(&progress, &row("probe", &probe));

    let mut n = 0;
    let knee = search(target_us, probe, args.max_steps, |r| {
        n += 1;
        let mut spec = base.clone();
        spec.load.pacing = PacingSpec::Open {
            rate: PerSecond::try_from(r).map_err(anyhow::Error::msg)?,
        };
        spec.id = format!("{}@{}/s", base.id, thousands(r));
        progress.cell(n, &spec.id, each, each * (args.max_steps - n as u32));
        let result = lab.run_cell(&spec, &progress);
        if cancel.load(std::sync::atomic::Ordering::SeqCst) {
            bail!("interrupted");
        }
        let step = step_of(&result, Some(r))?.judge(target_us);
        show(&progress, &row(&n.to_string(), &step));
        Ok(step)
    });
    drop(lab);
    progress.finish();
    let knee = knee?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&knee).context("serialising the search")?
        );
    } else {
        println!("\n{}", render(&knee, model.as_ref()));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stack that serves up to `capacity` req/s with a 20 ms p99, and
    /// whose queue grows without bound past it.
    fn stack(capacity: f64) -> impl FnMut(f64) -> anyhow::Result<Step> {
        move |offered| {
            let over = offered > capacity;
            Ok(Step {
                offered_per_s: Some(offered),
                achieved_per_s: offered.min(capacity),
                p50_us: 10_000,
                p99_us: if over { 2_000_000 } else { 20_000 },
                min_us: 5_000,
                requests: 1000,
                failed: 0,
                ok: false,
            })
        }
    }

    fn probe(rate: f64, min_us: u64) -> Step {
        Step {
            offered_per_s: None,
            achieved_per_s: rate,
            p50_us: 20_000,
            p99_us: 30_000,
            min_us,
            requests: 1000,
            failed: 0,
            ok: false,
        }
    }

    #[test]
    fn bisects_to_the_capacity_within_the_steps() {
        let knee = search(50_000, probe(1000.0, 5_000), 10, stack(700.0)).unwrap();
        let found = knee.knee_per_s.unwrap();
        assert!((680.0..=700.0).contains(&found), "{found}");
        assert!(knee.steps.len() <= 10);
        assert_eq!(knee.steps[0].offered_per_s, Some(1100.0));
        assert!(!knee.steps[0].ok && knee.steps[1].ok);
    }

    #[test]
    fn stops_at_once_when_the_probe_rate_passes_or_no_rate_can() {
        let knee = search(50_000, probe(600.0, 5_000), 10, stack(700.0)).unwrap();
        assert_eq!(knee.steps.len(), 1);
        assert!((knee.knee_per_s.unwrap() - 660.0).abs() < 1e-9);
        let knee = search(1_000, probe(600.0, 5_000), 10, stack(700.0)).unwrap();
        assert!(knee.steps.is_empty() && knee.knee_per_s.is_none());
        assert!(knee.stopped.contains("fastest request"), "{}", knee.stopped);
    }

    #[test]
    fn a_step_that_falls_behind_or_fails_does_not_pass() {
        let mut s = probe(500.0, 1);
        s.offered_per_s = Some(600.0);
        assert!(!s.clone().judge(50_000).ok, "achieved 500 of 600");
        s.achieved_per_s = 600.0;
        assert!(s.clone().judge(50_000).ok);
        s.failed = 2;
        assert!(!s.judge(50_000).ok, "0.2% failed");
    }
}
