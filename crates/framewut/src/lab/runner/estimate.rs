//! How long a cell will take, before it runs: its start, its calibration,
//! its trials and its profile, from its spec and the model's priors; and
//! what decides whether it is calibrated or speaks TLS.

use std::time::Duration;

use super::phases;
use crate::model::Cpus;
use crate::spec::{CellSpec, PacingSpec, ScenarioSpec, StackSource};

/// How long an open-loop cell's calibration probe warms up, and how long it
/// measures: long enough for thousands of requests of a CPU-bound cell and
/// a hundred clock ticks of /proc/stat, short beside the trials. (A
/// closed-loop cell's calibration is a window of its trials' load.)
pub(super) const PROBE_WARMUP: Duration = Duration::from_millis(1000);
pub(super) const PROBE: Duration = Duration::from_millis(1000);

/// About how long a profiler takes to start, stop and fold its samples.
pub(super) const PROFILE_FOLDING: Duration = Duration::from_secs(4);

/// Whether a cell gets a calibration: a scenario with no wait, whose
/// ceiling is the CPU's on one side or the other, on a server whose CPUs
/// are this machine's to read (not a url stack's), not measured already by
/// an earlier start of its stack.
pub fn calibrates(spec: &CellSpec) -> bool {
    !spec.load.calibrated
        && matches!(
            spec.scenario,
            ScenarioSpec::Hello
                | ScenarioSpec::Cpu { .. }
                | ScenarioSpec::Db { .. }
                | ScenarioSpec::Custom(_)
        )
        && !matches!(spec.stack.source, StackSource::Remote { .. })
}

/// Whether a cell's stack or its upstream speaks TLS, and so whether a
/// handshake probe runs before it.
pub fn speaks_tls(spec: &CellSpec) -> bool {
    spec.stack.tls || spec.upstream_tls()
}

/// A rough time for one cell: start-up and the wait for its workers to
/// finish starting (for every start of its stack), the warm-up, the calibration (a window as long as a trial, or an
/// open-loop cell's probe and its drain), and every trial at the length the
/// model sizes it to. CPU-bound cells are sized with a prior cost per
/// request on one server core ([`phases::estimated_inputs`]): the
/// calibration that measures it has not run.
pub fn estimate(spec: &CellSpec) -> Duration {
    let (start, boot) = match spec.stack.source {
        StackSource::BuiltIn { .. } => (Duration::from_millis(400), Duration::ZERO),
        // gunicorn's workers import the app after they answer the first
        // request: seconds of CPU on one core for 10 workers.
        StackSource::Python { .. } | StackSource::App { .. } => {
            (Duration::from_millis(1500), Duration::from_millis(1000))
        }
        StackSource::External { .. } => (Duration::from_millis(1500), Duration::ZERO),
        StackSource::Remote { .. } => (Duration::from_millis(100), Duration::ZERO),
    };
    let upstream = match spec.scenario.upstream() {
        Some(_) => Duration::from_millis(300),
        None => Duration::ZERO,
    };
    let inputs = phases::estimated_inputs(
        spec,
        Cpus {
            server: 1,
            generator: 1,
        },
        None,
    );
    let length = phases::estimated_length(spec);
    let closed = matches!(spec.load.pacing, PacingSpec::Closed);

    // A custom scenario's service probe: one connection, before the rest.
    let service = match spec.scenario {
        ScenarioSpec::Custom(_) => PROBE_WARMUP + PROBE + phases::TURN,
        _ => Duration::ZERO,
    };
    let mut probe = match (calibrates(spec), closed) {
        // The calibration window of the trials' own load.
        (true, true) => length,
        // A probe of its own, then its drain of about one round.
        (true, false) => {
            let (ceiling, _) = inputs.ceiling();
            let round = if ceiling.per_s.is_finite() && ceiling.per_s > 0.0 {
                Duration::from_secs_f64((spec.load.connections as f64 / ceiling.per_s).min(60.0))
            } else {
                Duration::ZERO
            };
            PROBE_WARMUP + PROBE + round + phases::TURN
        }
        (false, _) => Duration::ZERO,
    };
    if speaks_tls(spec) {
        probe += Duration::from_millis(150);
    }
    let each = start + boot + phases::TURN + upstream + service + probe + spec.load.warmup;
    // The last start counts system calls in one more window, and records
    // a profile in another when asked (then folds and draws it).
    let count = match (spec.load.last_start, spec.load.cpu_profile) {
        (false, _) => Duration::ZERO,
        (true, false) => length,
        (true, true) => length * 2 + PROFILE_FOLDING,
    };
    count
        + spec
            .load
            .trials_per_server()
            .into_iter()
            .map(|trials| each + length * trials + Duration::from_millis(200))
            .sum::<Duration>()
}
