//! One cell's trials on a started stack: its service probe and
//! calibration, its measured windows back to back (run by
//! [`super::windows`]), the counting and profiling windows of its last
//! start, its parts timed once it is quiet, and the judging of its trials
//! (a stall, a trial with no request, a saturated generator, late
//! wake-ups).

use super::*;
use crate::format::micros;
use crate::lab::measure::profile::ProfileError;
use crate::lab::results::idle_lateness;
use crate::model::usage::{COMPETING, LATE_US};
use crate::spec::Protocol;
use framewut_load::Http2;

/// Below this share of a core over its trials, a stack is profiled where
/// it waits: running, it would give a profiler a few samples a second.
const HARDLY_RAN: f64 = 0.05;

/// What to catch in a stack's profile, from the CPU it `used` over its
/// trials' `wall` time (none where it could not be read): running, unless
/// it hardly ran.
fn caught_for(used: Option<Duration>, wall: Duration) -> Caught {
    match used {
        Some(used) if used.as_secs_f64() < HARDLY_RAN * wall.as_secs_f64() => Caught::Waiting,
        _ => Caught::Running,
    }
}

/// Judges a cell's trials, whoever started its server: the first stall
/// fails the cell; a trial that completed nothing, and a generator that
/// was saturated, are warnings.
pub(super) fn judge_trials(
    spec: &CellSpec,
    model: &crate::model::Inputs,
    result: &mut CellResult,
) -> Result<(), Halt> {
    stall::judge_trials(spec, &result.trials, model, &mut result.warnings).map_err(Halt::Failed)?;
    if result.trials.iter().any(|t| t.load.requests == 0) {
        result.warnings.push(format!(
            "a trial completed no request in {:?}: lengthen it (--duration) or raise the profile's timeout",
            spec.load.duration
        ));
    }
    judge_wakeups(result);
    if result.trials.iter().any(|t| t.generator_saturated) {
        result.warnings.push(format!(
            "the load generator's CPUs were over {:.0}% busy: this rate says more about the generator than the server",
            SATURATED * 100.0
        ));
    }
    Ok(())
}

/// The words every wake-up warning has, by which [`judge_wakeups`] finds
/// the ones it wrote before.
const WOKE: &str = "woke a sleeping thread";

/// Says, once for the cell's trials so far (a later start's trials merged
/// in replace what was said of the earlier ones), on which CPU sets the
/// cell did not keep busy a sleeper woke [`LATE_US`] or more late on
/// average: every wait of the cell ran about that much longer, whatever
/// the stack did.
pub(super) fn judge_wakeups(result: &mut CellResult) {
    result.warnings.retain(|w| !w.contains(WOKE));
    for (set, late, used) in idle_lateness(&result.trials) {
        if late >= LATE_US {
            result.warnings.push(format!(
                "{set} {WOKE} {} late on average over the trials (about 0.1 ms on a quiet machine), though the cell kept them less than {:.0}% busy (steal took {:.0}% of them, other processes {:.0}%): the host or another process held them, and each of the cell's waits ran about that much longer",
                micros(late),
                COMPETING * 100.0,
                used.steal * 100.0,
                used.other * 100.0
            ));
        }
    }
}

impl Lab {
    pub(super) fn measure(
        &mut self,
        spec: &CellSpec,
        progress: &Progress,
        group: &mut Group,
        (served, wiring): (Served, &Wiring),
        parts: Vec<Part>,
        result: &mut CellResult,
    ) -> Result<(), Halt> {
        let Served { port, ca } = served;
        // The parts are the stack's, then the upstream's, then the database's.
        let has_upstream = spec.scenario.upstream().is_some();
        let ready_path = match &spec.stack.source {
            StackSource::External { ready_path, .. }
            | StackSource::Remote { ready_path, .. }
            | StackSource::App { ready_path, .. } => ready_path.clone(),
            StackSource::BuiltIn { .. } | StackSource::Python { .. } => "/hello".to_string(),
        };
        progress.phase("waiting until it answers");
        self.wait_ready(group, port, &ready_path, spec.stack.ready_timeout, ca)?;
        progress.phase("verifying the response");
        let tls = match ca {
            None => None,
            Some(ca) => Some(
                ca.client_config()
                    .map_err(|e| Halt::Failed(e.to_string()))?,
            ),
        };
        let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
        aim::verify(spec, addr, &format!("127.0.0.1:{port}"), tls.as_ref())
            .map_err(Halt::Failed)?;

        let sampler = Sampler::start(parts, &self.placement.load_cpus).with_witness(
            Witness::start(&self.placement.server_cpus, &self.placement.load_cpus),
        );
        // The stack answered as soon as one worker did; the rest may still
        // be booting, and their start would be measured as its work.
        progress.phase("waiting for its workers to finish starting");
        let limit = spec.stack.ready_timeout;
        let rest = self.settle(&sampler, Phase::Start, None, limit);
        self.note_unsettled(&rest, result);
        result.settling.push(rest);
        // A Python stack's workers time their handler before its load,
        // while the stack is idle for sure: after it, a sync worker may
        // still be answering what its closed connections sent.
        let in_stack = matches!(spec.stack.source, StackSource::BuiltIn { .. });
        if !in_stack {
            self.time_parts(
                spec,
                (served, wiring),
                &sampler,
                "its start",
                progress,
                result,
            );
        }
        let mut plan = LoadPlan::new(Target::loopback(port, aim::first_path(spec), ca.is_some()));
        if let Some(ca) = ca {
            // Every new connection pays a full handshake, as a client
            // without a session cache does.
            plan.tls = TlsOptions {
                trust: Trust::CaFile(ca.ca.clone()),
                resume: false,
            };
        }
        self.shape_plan(&mut plan, spec);
        // A custom scenario states no wait: the time one request holds the
        // stack is measured instead, one connection at a time so nothing
        // queues, before any other load.
        if matches!(spec.scenario, ScenarioSpec::Custom(_)) && !spec.load.calibrated {
            progress.phase("timing one request alone");
            let mut one = plan.clone();
            one.connections = 1;
            one.threads = 1;
            let probe = (&one, Phase::Service, &sampler, has_upstream);
            self.probe_apart(probe, spec, progress, result, |r| &mut r.service)?;
        }
        // A closed-loop cell's calibration is the first window of the load
        // its trials are the later windows of: measured in the steady state
        // the trials run in, after the warm-up, and apart from them. An
        // open-loop cell's is a closed-loop load of its own before its
        // trials, which waits for the answers to what it sent and for the
        // stack to be idle, so the trials inherit none of its work.
        let closed = matches!(spec.load.pacing, PacingSpec::Closed);
        let inline_probe = calibrates(spec) && closed;
        if calibrates(spec) && !closed {
            progress.phase("calibrating");
            let probe = (&plan, Phase::Calibration, &sampler, has_upstream);
            self.probe_apart(probe, spec, progress, result, |r| &mut r.calibration)?;
        }
        let cpus = Cpus {
            server: self.placement.server_cpus.count(),
            generator: self.placement.load_cpus.count(),
        };
        // Trials are sized to the model's rate: from the separate probe
        // where one ran, else before anything is measured (a prior cost
        // for a CPU-bound cell whose probe shares the trials' load).
        let length = if inline_probe {
            let service_us = result.service.as_ref().and_then(Trial::service_us);
            phases::trial_length(spec, &phases::estimated_inputs(spec, cpus, service_us))
        } else {
            phases::trial_length(spec, &stall::inputs(spec, cpus, result))
        };
        // The trials are windows of one load, each warmed up by the one
        // before it (the first by the warm-up, or the calibration), on the
        // same connections: none starts cold, and none inherits requests
        // another abandoned. The last start of a cell's stack runs one
        // more window, in which perf counts each side's system calls.
        let trials = spec.load.trials;
        let first = u32::from(inline_probe);
        let counted_at = first + trials;
        let profiling = spec.load.last_start && spec.load.cpu_profile;
        let profiled_at = counted_at + u32::from(spec.load.last_start);
        plan.warmup = spec.load.warmup;
        plan.stop = Stop::After(length);
        plan.windows = profiled_at + u32::from(profiling);
        let mut counting: Option<(Result<Counting, CountError>, Result<Counting, CountError>)> =
            None;
        let mut counted = None;
        let mut recording: Option<Result<profile::Recording, ProfileError>> = None;
        let mut recorded: Option<Result<profile::Profile, ProfileError>> = None;
        // When the trials began, and the stack's CPU by then: a stack that
        // hardly ran in them is profiled where it waits.
        let mut trials_began: Option<(Instant, Option<Duration>)> = None;
        let load_cpus = self.placement.load_cpus.clone();
        let python_bin = match (&spec.stack.source, &self.python) {
            (StackSource::Python { .. }, Some(Ok(env))) => Some(env.bin()),
            (StackSource::App { requirements, .. }, _) => self
                .apps
                .get(requirements)
                .and_then(|e| e.as_ref().ok())
                .map(AppEnv::bin),
            _ => None,
        };
        let output = profile::Output {
            run_dir: self.dir.clone(),
            dir: "profiles".into(),
            name: spec.id.replace(['/', ':', '='], "_"),
            title: format!("{} at {} connections", spec.id, spec.load.connections),
        };
        let (mut measured, _) = self.windowed_load(
            &plan,
            &sampler,
            has_upstream,
            spec,
            progress,
            &|k| {
                if k < first {
                    "calibration window".to_string()
                } else if k < counted_at {
                    format!("trial {}/{trials}", k + 1 - first)
                } else if k < profiled_at {
                    "counting system calls".to_string()
                } else {
                    "recording where its CPU goes".to_string()
                }
            },
            &mut |k| {
                if !spec.load.last_start {
                    return;
                }
                if k == first {
                    trials_began = Some((Instant::now(), sampler.stack_cpu()));
                }
                if k == counted_at {
                    let server = sampler.stack_pids();
                    let generator = syscalls::load_threads();
                    counting = Some((
                        Counting::start(Counted::Processes(&server), &load_cpus),
                        Counting::start(Counted::Threads(&generator), &load_cpus),
                    ));
                } else if k == profiled_at {
                    if let Some((server, generator)) = counting.take() {
                        counted = Some((
                            server.and_then(Counting::finish),
                            generator.and_then(Counting::finish),
                        ));
                    }
                }
                if profiling && k == profiled_at {
                    recording = Some(match profile::Profiler::for_stack(&spec.stack.source) {
                        Some(profiler) => {
                            let pids: Vec<u32> =
                                sampler.stack_pids().into_iter().map(|p| p as u32).collect();
                            let caught = match (trials_began, sampler.stack_cpu()) {
                                (Some((at, Some(before))), Some(now)) => {
                                    caught_for(Some(now.saturating_sub(before)), at.elapsed())
                                }
                                _ => caught_for(None, Duration::ZERO),
                            };
                            profile::start(profiler, &pids, python_bin.as_deref(), caught, &output)
                        }
                        None => Err(ProfileError::NotOurs),
                    });
                } else if let Some(started) = recording.take() {
                    recorded = Some(started.and_then(|r| r.finish()));
                }
            },
        )?;
        // A built-in stack times its own handler once its load has warmed
        // it (a cold handler runs slower for its first second of calls).
        if in_stack {
            self.time_parts(
                spec,
                (served, wiring),
                &sampler,
                "its load",
                progress,
                result,
            );
        }
        if inline_probe && !measured.is_empty() {
            result.calibration = Some(measured.remove(0));
        }
        if profiling && measured.len() as u32 > trials + 1 {
            measured.pop();
            match recorded {
                Some(Ok(profile)) => result.profile = Some(profile),
                Some(Err(why)) => result.profile_note = Some(why.to_string()),
                None => {}
            }
        }
        if spec.load.last_start && measured.len() as u32 > trials {
            let window = measured.pop().expect("the counting window");
            if let Some((server, generator)) = counted {
                result.syscalls = Some(Syscalls::of(
                    window.load.elapsed_s,
                    window.load.responses,
                    server,
                    generator,
                ));
            }
        }
        result.trials.extend(measured);
        if result.trials.last().is_none_or(|t| t.load.cancelled) {
            return Err(Halt::Interrupted(format!(
                "stopped by a signal during trial {}/{trials}",
                result.trials.len().max(1)
            )));
        }
        if let Some(status) = group.exited() {
            return Err(Halt::Failed(format!(
                "the stack exited during the trials ({status})"
            )));
        }
        let model = stall::inputs(spec, cpus, result);
        judge_trials(spec, &model, result)
    }

    /// Times a cpu or db cell's parts ([`Lab::parts`]) on its last start,
    /// once its stack is idle after `after` (its start, its load).
    pub(super) fn time_parts(
        &self,
        spec: &CellSpec,
        (served, wiring): (Served, &Wiring),
        sampler: &Sampler,
        after: &str,
        progress: &Progress,
        result: &mut CellResult,
    ) {
        if !spec.load.last_start
            || !matches!(
                spec.scenario,
                ScenarioSpec::Cpu { .. } | ScenarioSpec::Db { .. }
            )
        {
            return;
        }
        progress.phase("timing the handler alone");
        let rest = phases::wait_quiet(
            || sampler.stack_cpu(),
            spec.load.timeout,
            || self.cancelled(),
        );
        let timed = if rest.quiet {
            self.parts(spec, served, wiring.db, wiring.python)
        } else {
            Err(PartsError::Busy {
                busy: rest.busy,
                waited: rest.waited,
                after: after.to_string(),
            })
        };
        match timed {
            Ok(parts) => result.parts = parts,
            Err(why) => result.parts_note = Some(why.to_string()),
        }
    }

    /// Gives a cell's plan its profile: connections, threads, pacing,
    /// timeout, duration, `Connection: close` when the profile asks, and the
    /// generator's CPUs. The warm-up is set per load (probe or trial).
    pub(super) fn shape_plan(&self, plan: &mut LoadPlan, spec: &CellSpec) {
        if spec.load.close {
            plan.request
                .headers
                .push(("Connection".to_string(), "close".to_string()));
        }
        if let ScenarioSpec::Custom(custom) = &spec.scenario {
            aim::aim(plan, custom);
        }
        plan.connections = spec.load.connections;
        plan.threads = spec.load.threads;
        plan.http2 = (spec.load.protocol == Protocol::H2).then(|| Http2 {
            streams: spec.load.streams,
            ..Http2::default()
        });
        plan.pacing = spec.load.pacing.pacing();
        plan.timeout = spec.load.timeout;
        plan.cpus = Some(self.placement.load_cpus.clone());
        plan.stop = Stop::After(spec.load.duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_that_hardly_ran_is_caught_waiting() {
        let second = Duration::from_secs(1);
        let busy = Some(Duration::from_millis(300));
        assert_eq!(caught_for(busy, second), Caught::Running);
        assert_eq!(
            caught_for(Some(Duration::from_millis(10)), second),
            Caught::Waiting
        );
        assert_eq!(caught_for(Some(Duration::ZERO), second), Caught::Waiting);
        // A CPU that could not be read is no reason to change the profile.
        assert_eq!(caught_for(None, second), Caught::Running);
    }
}
