//! How the phases of a cell follow one another on one stack without
//! leaking into each other, and how long its trials last.
//!
//! A stack answers as soon as one of its workers does, while the others
//! may still be booting; a load that ends leaves requests in flight, and
//! gunicorn's sync worker, meinheld and gevent compute the answer to each
//! even after its connection closed. Whatever a phase leaves behind, the
//! next would measure. So the lab lets every phase finish before the next
//! begins on the same stack: a load followed by another drains (it waits
//! for the answers to what it sent), then the stack must be idle for a
//! whole [`TURN`] before the next load starts. The trials themselves are
//! windows of one load on the same connections, back to back, so no trial
//! starts cold or inherits another's queue.
//!
//! A trial long enough to mean something spans [`ROUNDS`] rounds per
//! connection: at 200 connections against a server that answers 100
//! requests a second, a round takes 2 s, and a 2 s trial would give each
//! connection about one answer. A profile's `max_duration` lets the lab
//! size each trial to the model's predicted rate; where that cap or a fixed
//! duration leaves fewer rounds, the table and the findings say the rate
//! is rough.

use std::time::{Duration, Instant};

use framewut_load::Summary;

use crate::lab::results::CellResult;
use crate::model::{CostSource, Costs, Cpus, Inputs, Measurement};
use crate::spec::{CellSpec, PacingSpec, ScenarioSpec, StackSource};

/// Rounds per connection a trial sized to the model's rate spans.
pub const ROUNDS: f64 = 10.0;

/// A trial of fewer rounds per connection than this, as measured, gives a
/// rough rate: "about ten" allows for a rate a little above the model's.
pub const ROUGH_BELOW: f64 = 8.0;

/// How long a stack's CPU is watched for being idle.
pub const TURN: Duration = Duration::from_millis(200);

/// A stack is idle when it used less than this share of one core over a
/// turn: a sleeping gunicorn arbiter and its workers use far less, a
/// worker still importing its app or answering an abandoned request far more.
pub const IDLE_SHARE: f64 = 0.1;

/// How long each trial of `spec` measures: its profile's `duration`, or
/// with `max_duration`, [`ROUNDS`] rounds per connection at the rate the
/// model predicts from `inputs`, at least `duration` and at most
/// `max_duration`, in whole tenths of a second.
pub fn trial_length(spec: &CellSpec, inputs: &Inputs) -> Duration {
    let (least, Some(most)) = (spec.load.duration, spec.load.max_duration) else {
        return spec.load.duration;
    };
    if !matches!(spec.load.pacing, PacingSpec::Closed) {
        return least;
    }
    let (ceiling, _) = inputs.ceiling();
    if !(ceiling.per_s.is_finite() && ceiling.per_s > 0.0) {
        return least;
    }
    let wanted = ROUNDS * spec.load.in_flight() as f64 / ceiling.per_s;
    let tenths = (wanted * 10.0).ceil().min(1e9);
    Duration::from_millis(tenths as u64 * 100).clamp(least, most)
}

/// Rounds per connection one trial spanned: the answers it counted over
/// its connections (its successes, in results written before answers of
/// any status were counted). None in open loop, where the schedule, not
/// the connections, sets the pace.
pub fn rounds(spec: &CellSpec, trial: &Summary) -> Option<f64> {
    // Per request in flight: an HTTP/2 connection's streams each take turns.
    let in_flight = spec.load.in_flight();
    (matches!(spec.load.pacing, PacingSpec::Closed) && in_flight > 0)
        .then(|| trial.responses.max(trial.requests) as f64 / in_flight as f64)
}

/// The fewest rounds per connection any trial of a cell spanned, when
/// that is fewer than [`ROUGH_BELOW`]: its rate is rough.
pub fn rough(cell: &CellResult) -> Option<f64> {
    cell.trials
        .iter()
        .filter_map(|t| rounds(&cell.config, &t.load))
        .min_by(f64::total_cmp)
        .filter(|r| *r < ROUGH_BELOW)
}

/// `2.0 rounds per connection`, `1 round per connection`.
pub fn rounds_words(rounds: f64) -> String {
    if (rounds - 1.0).abs() < 0.05 {
        "1 round per connection".to_string()
    } else {
        format!("{rounds:.1} rounds per connection")
    }
}

/// What a request is assumed to cost a stack before any probe has run:
/// only for the time estimate of `--dry-run` and `list presets`, never for
/// a prediction. CPython spends about 0.2 µs an integer of the cpu
/// scenario's JSON and a few hundred µs on a request's HTTP and WSGI
/// plumbing; a Rust stack about 8 ns an integer and some µs a request. A
/// custom scenario's request, once its service probe has timed one alone
/// (`service_us`), is assumed to be all CPU: the longest trials it can need.
fn prior_cost(spec: &CellSpec, service_us: Option<f64>) -> Costs {
    let python = matches!(
        spec.stack.source,
        StackSource::Python { .. } | StackSource::App { .. }
    );
    let (per_request_us, per_int_us) = if python { (300.0, 0.2) } else { (10.0, 0.008) };
    let server_us = match (&spec.scenario, service_us) {
        (ScenarioSpec::Cpu { n }, _) => per_request_us + per_int_us * f64::from(*n),
        (ScenarioSpec::Custom(_), Some(us)) => us,
        _ => per_request_us,
    };
    Costs {
        server_us,
        generator_us: 5.0,
    }
}

/// The model's inputs for a cell before anything but a custom scenario's
/// service probe is measured, with the prior cost of a request (see
/// `prior_cost`): what the time estimate sizes trials by.
pub fn estimated_inputs(spec: &CellSpec, cpus: Cpus, service_us: Option<f64>) -> Inputs {
    let mut inputs = Inputs::of(
        spec,
        cpus,
        &Measurement {
            requests_per_s: 0.0,
            server_cpu_us_per_request: None,
            calibration: Some(prior_cost(spec, service_us)),
            usage: None,
            handshake: None,
            service_us: None,
        },
    );
    inputs.cost_source = CostSource::Calibration;
    inputs
}

/// The trial length [`trial_length`] gives with the [`estimated_inputs`]
/// of one server core: the length `--dry-run` shows and the estimate uses.
pub fn estimated_length(spec: &CellSpec) -> Duration {
    trial_length(
        spec,
        &estimated_inputs(
            spec,
            Cpus {
                server: 1,
                generator: 1,
            },
            None,
        ),
    )
}

/// How a wait for an idle stack ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quiet {
    /// From the start of the wait to the end of the first idle turn, or to
    /// the limit.
    pub waited: Duration,
    /// Whether a whole turn was idle before the limit.
    pub quiet: bool,
    /// The CPU of the last turn, as a share of one core.
    pub busy: f64,
}

/// Watches the CPU time `cpu` reads (cumulative; none once the stack has
/// no process left) turn by turn, until one turn uses less than
/// [`IDLE_SHARE`] of a core, `limit` passes, or `stop` says so.
pub fn wait_quiet(
    mut cpu: impl FnMut() -> Option<Duration>,
    limit: Duration,
    stop: impl Fn() -> bool,
) -> Quiet {
    let start = Instant::now();
    let mut last = cpu();
    loop {
        let turn_start = Instant::now();
        std::thread::sleep(TURN);
        let now = cpu();
        let (Some(before), Some(after)) = (last, now) else {
            // Nothing left to watch: nothing left working.
            return Quiet {
                waited: start.elapsed(),
                quiet: true,
                busy: 0.0,
            };
        };
        let busy = after.saturating_sub(before).as_secs_f64()
            / turn_start.elapsed().as_secs_f64().max(1e-9);
        if busy < IDLE_SHARE || start.elapsed() >= limit || stop() {
            return Quiet {
                waited: start.elapsed(),
                quiet: busy < IDLE_SHARE,
                busy,
            };
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake;

    fn cell(toml_profile: &str) -> CellSpec {
        fake::cell(&format!(
            "scenarios = [\"sleep\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\nworkers = 10\n[[profile]]\nconnections = 200\n{toml_profile}"
        ))
    }

    fn inputs(spec: &CellSpec) -> Inputs {
        estimated_inputs(
            spec,
            Cpus {
                server: 1,
                generator: 1,
            },
            None,
        )
    }

    #[test]
    fn a_capped_trial_spans_ten_rounds_at_the_models_rate_within_its_bounds() {
        // 10 workers / (100 ms + the prior 10 µs of CPU) = 99.99 req/s: a
        // round of 200 connections takes 2 s, ten take 20.002 s, in whole
        // tenths of a second.
        let spec = cell("duration = \"2s\"\nmax_duration = \"30s\"");
        assert_eq!(
            trial_length(&spec, &inputs(&spec)),
            Duration::from_millis(20_100)
        );
        let spec = cell("duration = \"2s\"\nmax_duration = \"6s\"");
        assert_eq!(trial_length(&spec, &inputs(&spec)), Duration::from_secs(6));
        // Without a cap the duration is the duration.
        let spec = cell("duration = \"2s\"");
        assert_eq!(trial_length(&spec, &inputs(&spec)), Duration::from_secs(2));
    }

    #[test]
    fn a_fast_cell_keeps_its_least_duration() {
        let spec = cell("duration = \"2s\"\nmax_duration = \"30s\"");
        let mut fast = inputs(&spec);
        fast.wait_ms = 1.0;
        // 10 workers / 1 ms = 10,000 req/s: ten rounds take 0.2 s.
        assert_eq!(trial_length(&spec, &fast), Duration::from_secs(2));
    }

    #[test]
    fn rounds_count_the_answers_per_connection() {
        let spec = cell("duration = \"2s\"");
        let trial = fake::trial(400, &[1000], 0, 0.1);
        assert_eq!(rounds(&spec, &trial.load), Some(2.0));
    }

    #[test]
    fn a_stack_is_quiet_after_its_first_idle_turn() {
        // Busy for two turns (a core each), then idle.
        let mut used = Duration::ZERO;
        let mut turns = 0;
        let q = wait_quiet(
            || {
                turns += 1;
                if turns <= 3 {
                    used += TURN;
                }
                Some(used)
            },
            Duration::from_secs(10),
            || false,
        );
        assert!(q.quiet, "{q:?}");
        assert!(q.busy < IDLE_SHARE);
        assert!(q.waited >= 3 * TURN, "{q:?}");
    }

    #[test]
    fn a_stack_busy_past_the_limit_is_not_quiet() {
        let mut used = Duration::ZERO;
        let q = wait_quiet(
            || {
                used += TURN;
                Some(used)
            },
            TURN,
            || false,
        );
        assert!(!q.quiet, "{q:?}");
        assert!(q.busy > 0.5, "{q:?}");
    }
}
