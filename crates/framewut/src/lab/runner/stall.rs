//! Whether a trial's stack stalled: a stack that stops answering after its
//! readiness check would otherwise be recorded ok, with the few requests it
//! answered as its rate and no error (a request in flight at the end, or
//! younger than the timeout, is unanswered, not failed).
//!
//! Two signs, each judged against what the stack's design lets it do:
//!
//! - **A silent stretch**: whole seconds of the trial's timeline in which it
//!   served no request while requests waited (always in a closed loop; in an
//!   open loop when the rate asked for at least one). Inside the trial it
//!   must last at least 1 s, a quarter of the trial, and twice the
//!   scenario's own wait (a stack that sleeps for seconds answers in bursts
//!   that far apart by design); one that runs to the trial's end, a stack
//!   that stopped and never came back, needs only 1 s, twice the wait and
//!   four of the gaps between answers that the model's rate predicts. A
//!   silent stack is stalled only if it is idle too: one whose CPU was busy
//!   through the stretch was working on something the trial did not see
//!   answered (a queue longer than the trial, or another phase's requests),
//!   and that is said as a warning instead. Where its CPU was not sampled
//!   (a url stack), silence is a stall.
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

use framewut_stacks::Model;

use crate::lab::results::{CellResult, Trial};
use crate::model::{model_of, Cpus, Inputs, Measurement};
use crate::spec::{CellSpec, PacingSpec};

/// A stack whose CPU averaged at least this share of one core through a
/// silent stretch was working, not stalled.
pub const WORKING_SHARE: f64 = 0.25;

/// What a trial's silence means.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It neither answered nor worked: the cell fails with this reason.
    Stalled(String),
    /// It answered nothing for a while but its CPU was busy: a warning.
    Working(String),
}

/// Judges every trial of a cell: the first stall's reason as an error; a
/// stack that was working without answering, or starving connections, as
/// one warning for the cell (the first trial's words, and how many more
/// trials said the same).
pub fn judge_trials(
    spec: &CellSpec,
    trials: &[Trial],
    inputs: &Inputs,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let mut working = Vec::new();
    for (k, trial) in trials.iter().enumerate() {
        match judge(spec, k as u32 + 1, trial, inputs) {
            Some(Verdict::Stalled(why)) => return Err(why),
            Some(Verdict::Working(why)) => working.push(why),
            None => {}
        }
    }
    if let Some(first) = working.first() {
        warnings.push(match working.len() - 1 {
            0 => first.clone(),
            1 => format!("{first} (and so in 1 more trial)"),
            n => format!("{first} (and so in {n} more trials)"),
        });
    }
    Ok(())
}

/// What trial `k` of `spec` says of its stack, if anything is wrong;
/// `inputs` is the model's view of the cell.
pub fn judge(spec: &CellSpec, k: u32, trial: &Trial, inputs: &Inputs) -> Option<Verdict> {
    silent_stretch(spec, k, trial, inputs).or_else(|| starved(spec, k, trial, inputs))
}

/// The model's inputs for the stall checks: the stack's slots and its wait,
/// and what the cell's probes measured so far: the CPU a request costs,
/// a TLS handshake's cost, a custom scenario's service time.
pub fn inputs(spec: &CellSpec, cpus: Cpus, result: &CellResult) -> Inputs {
    Inputs::of(
        spec,
        cpus,
        &Measurement {
            requests_per_s: 0.0,
            server_cpu_us_per_request: None,
            calibration: result.calibration.as_ref().and_then(Trial::costs),
            usage: None,
            handshake: result.handshake,
            service_us: result.service.as_ref().and_then(Trial::service_us),
        },
    )
}

fn silent_stretch(spec: &CellSpec, k: u32, trial: &Trial, inputs: &Inputs) -> Option<Verdict> {
    let load = &trial.load;
    let elapsed = load.elapsed_s;
    let seconds = elapsed.ceil() as usize;
    // The timeline ends at the last second anything happened in.
    let served = |i: usize| load.timeline.get(i).map_or(0, |s| s.requests);
    let mut stretches = Vec::new();
    let mut run_start = None;
    for i in 0..=seconds {
        match (i < seconds && served(i) == 0, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                stretches.push((start as f64, (i as f64).min(elapsed)));
                run_start = None;
            }
            _ => {}
        }
    }
    let wait_s = inputs.wait_ms / 1e3;
    let inside = 1f64
        .max(spec.load.duration.as_secs_f64().min(elapsed) / 4.0)
        .max(2.0 * wait_s);
    let (ceiling, _) = inputs.ceiling();
    let gap_s = if ceiling.per_s.is_finite() && ceiling.per_s > 0.0 {
        1.0 / ceiling.per_s
    } else {
        0.0
    };
    let at_end = 1f64.max(2.0 * wait_s).max(4.0 * gap_s);
    let due = |from: f64, to: f64| match spec.load.pacing {
        PacingSpec::Closed => spec.load.connections > 0,
        PacingSpec::Open { rate } => rate.rate().get() * (to - from) >= 1.0,
    };
    let (from, to) = stretches
        .into_iter()
        .filter(|&(from, to)| {
            let least = if to >= elapsed { at_end } else { inside };
            to - from >= least && due(from, to)
        })
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))?;
    let waiting = match load.unanswered {
        0 => String::new(),
        1 => ", 1 request unanswered".to_string(),
        n => format!(", {n} requests unanswered"),
    };
    let busy = busy_share(&trial.server.cpu_timeline_s, from, to);
    // A stack that answered earlier in the trial and then no more.
    let never = if to >= elapsed && from > 0.0 {
        " and never again"
    } else {
        ""
    };
    match busy {
        Some(busy) if busy >= WORKING_SHARE => Some(Verdict::Working(format!(
            "it answered nothing from {from:.1} s to {to:.1} s of trial {k}{never}{waiting}, while its CPU was {:.0}% busy: it was working, not stalled, on requests the trial did not see answered (a queue longer than the trial, or another phase's)",
            100.0 * busy
        ))),
        Some(busy) => Some(Verdict::Stalled(format!(
            "stalled: served no request from {from:.1} s to {to:.1} s of trial {k}{never}{waiting}, with its CPU {:.0}% busy",
            100.0 * busy
        ))),
        None => Some(Verdict::Stalled(format!(
            "stalled: served no request from {from:.1} s to {to:.1} s of trial {k}{never}{waiting}"
        ))),
    }
}

/// The stack's CPU over the whole seconds `from` to `to` of its sampled
/// timeline, as a share of one core; none where it was not sampled.
fn busy_share(timeline: &[f64], from: f64, to: f64) -> Option<f64> {
    let (a, b) = (
        from.floor() as usize,
        (to.ceil() as usize).min(timeline.len()),
    );
    (b > a).then(|| timeline[a..b].iter().sum::<f64>() / (b - a) as f64)
}

fn starved(spec: &CellSpec, k: u32, trial: &Trial, inputs: &Inputs) -> Option<Verdict> {
    let load = &trial.load;
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
    if 2 * beyond_design <= answered {
        return None;
    }
    // A stack that kept serving at half its predicted rate or more, or
    // kept its CPU busy, favoured some connections over the others: it
    // starved them, and its rate is still its rate.
    let (ceiling, _) = inputs.ceiling();
    let busy = trial.server.cpu_pct / 100.0;
    let serving = ceiling.per_s.is_finite() && load.requests_per_s >= 0.5 * ceiling.per_s;
    if serving || busy >= WORKING_SHARE {
        return Some(Verdict::Working(format!(
            "{} of {connections} connections got no answer in trial {k}, where {} answers {answered} of them, while it served {} with its CPU {:.0}% busy: it favoured some connections over the rest, which starved",
            load.silent_connections,
            inputs.slots_words,
            crate::format::rate(load.requests_per_s),
            100.0 * busy
        )));
    }
    Some(Verdict::Stalled(format!(
        "stalled: {} of {connections} connections got no answer in trial {k}, where {} answers {answered} of them",
        load.silent_connections, inputs.slots_words
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake;
    use crate::spec::CellSpec;
    use framewut_load::Second;

    fn cell() -> CellSpec {
        fake::cell("scenarios = [\"hello\"]\n[[stack]]\nid = \"rust/std/thread-per-conn\"\n[[profile]]\nconnections = 16\nduration = \"8s\"\n")
    }

    /// An 8 s trial that served 1,000 requests a second until `stop`, then
    /// none, its stack's CPU `busy` cores a second all along.
    fn trial(stop: usize, busy: f64) -> Trial {
        let mut t = fake::trial(1000, &[1000], 0, 0.1);
        t.load.elapsed_s = 8.0;
        t.load.timeline = (0..8)
            .map(|i| Second {
                requests: if i < stop { 1000 } else { 0 },
                ..Second::default()
            })
            .collect();
        t.server.cpu_timeline_s = vec![busy; 8];
        t
    }

    fn inputs(spec: &CellSpec) -> Inputs {
        let mut i = Inputs::of(
            spec,
            Cpus {
                server: 1,
                generator: 1,
            },
            &Measurement {
                requests_per_s: 0.0,
                server_cpu_us_per_request: None,
                calibration: Some(crate::model::Costs {
                    server_us: 1000.0,
                    generator_us: 10.0,
                }),
                usage: None,
                handshake: None,
                service_us: None,
            },
        );
        i.wait_ms = 0.0;
        i
    }

    #[test]
    fn a_stack_that_stops_three_quarters_in_is_stalled_from_that_second() {
        let spec = cell();
        let verdict = judge(&spec, 2, &trial(6, 0.0), &inputs(&spec));
        let Some(Verdict::Stalled(why)) = verdict else {
            panic!("{verdict:?}")
        };
        assert!(
            why.starts_with(
                "stalled: served no request from 6.0 s to 8.0 s of trial 2 and never again"
            ),
            "{why}"
        );
    }

    #[test]
    fn a_silent_stack_whose_cpu_is_busy_is_working_not_stalled() {
        let spec = cell();
        let verdict = judge(&spec, 1, &trial(0, 0.95), &inputs(&spec));
        let Some(Verdict::Working(why)) = verdict else {
            panic!("{verdict:?}")
        };
        assert!(
            why.contains("95% busy: it was working, not stalled"),
            "{why}"
        );
    }

    #[test]
    fn a_stack_that_answers_throughout_is_fine() {
        let spec = cell();
        assert_eq!(judge(&spec, 1, &trial(8, 0.9), &inputs(&spec)), None);
    }

    #[test]
    fn a_short_gap_inside_the_trial_is_not_a_stall() {
        let spec = cell();
        let mut t = trial(8, 0.0);
        t.load.timeline[3].requests = 0;
        // One silent second of eight, inside the trial: shorter than a quarter.
        assert_eq!(judge(&spec, 1, &t, &inputs(&spec)), None);
    }
}
