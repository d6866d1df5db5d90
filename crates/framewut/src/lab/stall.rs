//! Whether a trial's stack stalled: a stack that stops answering after its
//! readiness check would otherwise be recorded ok, with the few requests it
//! answered as its rate and no error (a request in flight at the end, or
//! younger than the timeout, is unanswered, not failed).
//!
//! Two signs, each judged against what the stack's design lets it do:
//!
//! - **A silent stretch**: whole seconds of the trial's timeline in which it
//!   served no request while requests waited (always in a closed loop; in an
//!   open loop when the rate asked for at least one), lasting at least 1 s,
//!   a quarter of the trial, and twice the scenario's own wait (a stack that
//!   sleeps for seconds answers in bursts that far apart by design).
//! - **Starved connections beyond design**: more than half of the
//!   connections the stack should answer got no answer in the trial. A sync
//!   pool serves as many connections as it has slots, each for the
//!   connection's life, so the rest starve by design and are not counted; any
//!   other known design answers every connection, each within its turn (the
//!   wait times the connections per slot, or the connections over the rate
//!   the trial measured when that is longer: a stack held by CPU work the
//!   model has no probe for, such as Python's TLS handshakes to an upstream,
//!   turns more slowly than its wait says), and is judged only when the
//!   trial lasts four such turns. An external stack's design is unknown, so
//!   only the silent stretch judges it.

use framewut_load::Summary;
use framewut_stacks::Model;

use crate::model::{model_of, Costs, Cpus, Handshake, Inputs, Measurement};
use crate::spec::{CellSpec, PacingSpec};

/// Why trial `k` of `spec` stalled, if it did; `inputs` is the model's view
/// of the cell.
pub fn stalled(spec: &CellSpec, k: u32, load: &Summary, inputs: &Inputs) -> Option<String> {
    silent_stretch(spec, k, load, inputs).or_else(|| starved(spec, k, load, inputs))
}

/// The model's inputs for the stall checks: the stack's slots and its wait,
/// the CPU a request costs where a probe measured it, and a TLS
/// handshake's cost where one was measured.
pub fn inputs(
    spec: &CellSpec,
    cpus: Cpus,
    calibration: Option<Costs>,
    handshake: Option<Handshake>,
) -> Inputs {
    Inputs::of(
        spec,
        cpus,
        &Measurement {
            requests_per_s: 0.0,
            server_cpu_us_per_request: None,
            calibration,
            usage: None,
            handshake,
        },
    )
}

fn silent_stretch(spec: &CellSpec, k: u32, load: &Summary, inputs: &Inputs) -> Option<String> {
    let elapsed = load.elapsed_s;
    let seconds = elapsed.ceil() as usize;
    // The timeline ends at the last second anything happened in.
    let served = |i: usize| load.timeline.get(i).map_or(0, |s| s.requests);
    let (mut longest, mut run_start) = (None::<(usize, usize)>, None);
    for i in 0..=seconds {
        match (i < seconds && served(i) == 0, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                if longest.is_none_or(|(a, b)| i - start > b - a) {
                    longest = Some((start, i));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    let (from, to) = longest?;
    let (from, to) = (from as f64, (to as f64).min(elapsed));
    let least = 1f64
        .max(spec.load.duration.as_secs_f64() / 4.0)
        .max(2.0 * inputs.wait_ms / 1e3);
    let due = match spec.load.pacing {
        PacingSpec::Closed => spec.load.connections > 0,
        PacingSpec::Open { rate } => rate.rate().get() * (to - from) >= 1.0,
    };
    if to - from < least || !due {
        return None;
    }
    let waiting = match load.unanswered {
        0 => String::new(),
        1 => ", 1 request unanswered".to_string(),
        n => format!(", {n} requests unanswered"),
    };
    Some(format!(
        "stalled: served no request from {from:.1} s to {to:.1} s of trial {k}{waiting}"
    ))
}

fn starved(spec: &CellSpec, k: u32, load: &Summary, inputs: &Inputs) -> Option<String> {
    let model = model_of(spec)?;
    let connections = spec.load.connections as u64;
    let slots = inputs
        .slots
        .unwrap_or(connections)
        .clamp(1, connections.max(1));
    let service_s = inputs.wait_ms / 1e3 + inputs.cpu_us_per_request.unwrap_or(0.0) / 1e6;
    let (answered, turn_s) = if model == Model::SyncPool {
        (slots, service_s)
    } else {
        // At the measured rate each connection is answered about every
        // connections / rate seconds; no answer at all means a stall, which
        // the silent stretch judges.
        let measured_turn_s = if load.requests_per_s > 0.0 {
            connections as f64 / load.requests_per_s
        } else {
            0.0
        };
        (
            connections,
            (service_s * connections.div_ceil(slots) as f64).max(measured_turn_s),
        )
    };
    if load.elapsed_s < (4.0 * turn_s).max(1.0) {
        return None;
    }
    let beyond_design = load
        .silent_connections
        .saturating_sub(connections - answered);
    (2 * beyond_design > answered).then(|| {
        format!(
            "stalled: {} of {connections} connections got no answer in trial {k}, where {} answers {answered} of them",
            load.silent_connections, inputs.slots_words
        )
    })
}
