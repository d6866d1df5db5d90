//! The knee: the highest open-loop rate a stack serves with its p99 latency
//! under a target.
//!
//! A closed-loop probe finds the most the stack answers with the cell's
//! connections; then short open-loop runs bisect between nothing and 10%
//! over that rate (so the bracket holds the knee even when the probe ran a
//! little slow). A step is judged on every request it sent: its latency
//! percentiles (from each request's intended send time) count the requests
//! never answered at their age. It passes when its p99 stays under the
//! target, it achieved at least 95% of the rate it offered, at most 0.1% of
//! its requests failed, and no connection went without an answer the whole
//! step (a stack that serves fewer connections at once than the load opens,
//! as a sync pool does, leaves the rest silent at any rate). Every step is
//! a cell run by a [`CellRunner`], as `framewut run` runs them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use framewut_load::format_duration;
use serde::Serialize;

use super::estimate;
use super::progress::Progress;
use super::CellRunner;
use crate::format::thousands;
use crate::lab::measure::cpus::Placement;
use crate::lab::results::{CellResult, Status};
use crate::model::Prediction;
use crate::spec::{CellSpec, PacingSpec, PerSecond};

/// A step keeps up when it achieves at least this share of the rate offered.
const KEPT_UP: f64 = 0.95;
/// A step fails when more than this share of its requests failed.
const FAILED_AT_MOST: f64 = 0.001;
/// The search stops when the bracket is narrower than this share of its top.
const CLOSED_WITHIN: f64 = 0.02;

/// One load of the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The open-loop rate asked for; none for the closed-loop probe.
    pub offered_per_s: Option<f64>,
    pub achieved_per_s: f64,
    /// Percentiles of every request sent, each unanswered one at its age.
    pub p50_us: u64,
    pub p99_us: u64,
    /// The fastest request: the stack's latency with no queue.
    pub min_us: u64,
    pub requests: u64,
    pub failed: u64,
    /// Requests that got no answer (timed out, lost with their connection,
    /// or still waiting at the end).
    pub unanswered: u64,
    /// Connections the load kept open.
    pub connections: u64,
    /// The most connections a trial of the step left without any answer.
    pub silent_connections: u64,
    /// Whether it kept the target (always false for the probe).
    pub ok: bool,
}

impl Step {
    /// Whether a step at `offered` kept p99 under `target_us`, kept up
    /// with the rate, failed few enough of its requests and answered every
    /// connection.
    fn judge(mut self, target_us: u64) -> Step {
        self.ok = self.offered_per_s.is_some_and(|offered| {
            self.p99_us <= target_us
                && self.achieved_per_s >= KEPT_UP * offered
                && self.failed as f64 <= FAILED_AT_MOST * self.requests as f64
                && self.silent_connections == 0
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
/// When the top of the bracket passes, the probe ran slow (a busy machine):
/// the top is raised by this factor, at most [`RAISES`] times, instead of
/// calling the probe's rate the knee.
const RAISE: f64 = 1.25;
const RAISES: u32 = 3;

/// Bisects for the highest passing open-loop rate between zero and 10% over
/// the closed-loop probe's rate, calling `measure` for each step; a top that
/// passes is raised until a step fails, so a probe that ran slow does not
/// cap the knee.
pub fn search(
    target_us: u64,
    probe: Step,
    max_steps: u32,
    mut measure: impl FnMut(f64) -> Result<Step, KneeError>,
) -> Result<Knee, KneeError> {
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
    let mut raised = 0;
    while steps.len() < max_steps as usize {
        let step = measure(next)?.judge(target_us);
        let ok = step.ok;
        steps.push(step);
        if ok {
            lo = next;
            if next >= hi {
                if raised == RAISES {
                    return knee(
                        steps,
                        format!("it kept the target at the highest rate tried, {raised} raises over the closed-loop probe's"),
                    );
                }
                raised += 1;
                hi = next * RAISE;
                next = hi;
                continue;
            }
        } else {
            hi = next;
        }
        if hi - lo <= CLOSED_WITHIN * hi {
            return knee(steps, "the bracket closed within 2%".into());
        }
        next = (lo + hi) / 2.0;
    }
    knee(steps, format!("{max_steps} steps run"))
}

/// Why a search stopped without a knee.
#[derive(Debug, thiserror::Error)]
pub enum KneeError {
    /// A step's cell was not measured: its id, what became of it, and why.
    #[error("{id} {became}: {reason}")]
    NotMeasured {
        id: String,
        became: &'static str,
        reason: String,
    },
    #[error("a measured cell without a summary")]
    NoSummary,
    /// The bisection reached a rate no load can offer.
    #[error("{0}")]
    Rate(String),
    #[error("interrupted")]
    Interrupted,
}

/// A step from the cell that measured it.
pub fn step_of(result: &CellResult, offered: Option<f64>) -> Result<Step, KneeError> {
    if result.status != Status::Ok {
        return Err(KneeError::NotMeasured {
            id: result.id.clone(),
            became: status_words(result.status),
            reason: result
                .reason
                .clone()
                .unwrap_or_else(|| "no reason given".to_string()),
        });
    }
    let s = result.summary.as_ref().ok_or(KneeError::NoSummary)?;
    // Every request sent: the unanswered at their age, where the cell
    // counted them.
    let every = s.latency_with_unanswered.as_ref().unwrap_or(&s.latency);
    Ok(Step {
        offered_per_s: offered,
        achieved_per_s: s.requests_per_s.mean,
        p50_us: every.at(50.0).unwrap_or(0),
        p99_us: every.at(99.0).unwrap_or(0),
        min_us: s.latency.min_us,
        requests: s.requests,
        failed: s.failed_requests,
        unanswered: s.unanswered.unwrap_or(0),
        connections: result.config.load.connections as u64,
        silent_connections: s.silent_connections.unwrap_or(0),
        ok: false,
    })
}

/// A cell's status as the search reports a step that could not be measured.
fn status_words(status: Status) -> &'static str {
    match status {
        Status::Pending => "was not run",
        Status::Ok => "was measured",
        Status::Failed => "failed",
        Status::Skipped => "was skipped",
        Status::Interrupted => "was interrupted",
    }
}

/// What a search found, with the model's view of its probe.
#[derive(Debug, Clone)]
pub struct Found {
    pub knee: Knee,
    /// The model's verdict on the closed-loop probe.
    pub model: Option<Prediction>,
}

/// Probes `base` in closed loop, then bisects with open-loop steps, each a
/// cell `runner` runs; `show` gets each step's row as it comes.
#[allow(clippy::too_many_arguments)]
pub fn find(
    runner: &mut dyn CellRunner,
    base: &CellSpec,
    placement: &Placement,
    target: Duration,
    max_steps: u32,
    progress: &Progress,
    cancel: &AtomicBool,
    mut show: impl FnMut(&str, &Step),
) -> Result<Found, KneeError> {
    let target_us = target.as_micros() as u64;
    let each = estimate(base);
    progress.cell(
        0,
        &format!("{} closed-loop probe", base.id),
        each,
        each * max_steps,
    );
    let probe_result = runner.run_cell(base, progress);
    let probe = step_of(&probe_result, None)?;
    let model = probe_result.prediction(placement);
    show("probe", &probe);
    let mut n = 0;
    let knee = search(target_us, probe, max_steps, |r| {
        n += 1;
        let mut spec = base.clone();
        spec.load.pacing = PacingSpec::Open {
            rate: PerSecond::try_from(r).map_err(KneeError::Rate)?,
        };
        spec.id = format!("{}@{}/s", base.id, thousands(r));
        progress.cell(n, &spec.id, each, each * (max_steps - n as u32));
        let result = runner.run_cell(&spec, progress);
        if cancel.load(Ordering::SeqCst) {
            return Err(KneeError::Interrupted);
        }
        let step = step_of(&result, Some(r))?.judge(target_us);
        show(&n.to_string(), &step);
        Ok(step)
    })?;
    Ok(Found { knee, model })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stack that serves up to `capacity` req/s with a 20 ms p99, and
    /// whose queue grows without bound past it.
    fn stack(capacity: f64) -> impl FnMut(f64) -> Result<Step, KneeError> {
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
                unanswered: 0,
                connections: 8,
                silent_connections: 0,
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
            unanswered: 0,
            connections: 8,
            silent_connections: 0,
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
    fn a_slow_probe_raises_the_top_and_no_rate_stops_at_once() {
        // The probe ran at 500 where the stack serves 700: 10% over it
        // passes, so the top is raised until a step fails.
        let knee = search(50_000, probe(500.0, 5_000), 10, stack(700.0)).unwrap();
        let found = knee.knee_per_s.unwrap();
        assert!((680.0..=700.0).contains(&found), "{found}: {knee:?}");
        assert_eq!(knee.steps[0].offered_per_s, Some(550.0));
        assert!(
            knee.steps[0].ok && knee.steps[1].ok && !knee.steps[2].ok,
            "{knee:?}"
        );
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
        assert!(!s.clone().judge(50_000).ok, "0.2% failed");
        s.failed = 0;
        s.silent_connections = 1;
        assert!(
            !s.judge(50_000).ok,
            "a connection got no answer: its requests wait at any rate"
        );
    }
}

#[cfg(test)]
mod through_a_runner {
    use super::*;
    use crate::lab::fake::{results, Answer, FakeRunner};

    #[test]
    fn the_search_runs_a_probe_then_open_loop_cells_of_the_same_stack() {
        let base = results("scenarios = [\"hello\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\n")
            .cells
            .remove(0)
            .config;
        let placement = Placement::halves(&"0-1".parse().unwrap());
        // A stack that answers 700 req/s at 2 ms, and falls behind past it.
        let mut runner = FakeRunner::new(|spec: &CellSpec| match spec.load.pacing {
            PacingSpec::Closed => Answer::Measured {
                rate: 650,
                latency_us: 2_000,
            },
            PacingSpec::Open { rate } if rate.rate().get() <= 700.0 => Answer::Measured {
                rate: rate.rate().get() as u64,
                latency_us: 2_000,
            },
            PacingSpec::Open { rate } => Answer::Measured {
                rate: 700.min(rate.rate().get() as u64),
                latency_us: 900_000,
            },
        });
        let cancel = AtomicBool::new(false);
        let mut rows = Vec::new();
        let found = find(
            &mut runner,
            &base,
            &placement,
            Duration::from_millis(50),
            8,
            &Progress::new(9),
            &cancel,
            |label, step| rows.push((label.to_string(), step.clone())),
        )
        .unwrap();
        let knee = found.knee.knee_per_s.unwrap();
        assert!((650.0..=700.0).contains(&knee), "{knee}");
        assert_eq!(runner.ran[0], base.id, "the probe is the cell itself");
        assert!(runner.ran[1..]
            .iter()
            .all(|id| id.starts_with(&format!("{}@", base.id))));
        assert_eq!(rows.len(), runner.ran.len(), "every step is shown");
        assert_eq!(rows[0].0, "probe");
        assert!(found.model.is_some(), "the probe is judged by the model");
    }

    #[test]
    fn a_step_that_cannot_be_measured_ends_the_search_with_its_reason() {
        let base = results("scenarios = [\"hello\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\n")
            .cells
            .remove(0)
            .config;
        let placement = Placement::halves(&"0-1".parse().unwrap());
        let mut runner = FakeRunner::new(|_: &CellSpec| Answer::Failed("it would not start"));
        let err = find(
            &mut runner,
            &base,
            &placement,
            Duration::from_millis(50),
            8,
            &Progress::new(9),
            &AtomicBool::new(false),
            |_, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("it would not start"), "{err}");
    }
}
