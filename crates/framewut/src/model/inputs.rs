//! What the model knows about a cell, read from its configuration, the
//! CPUs of its placement and what was measured: the slots that hold
//! requests, the wait each one holds its slot for, the cores the stack can
//! use and what a request costs, which the ceilings are computed from.

use framewut_stacks::Model;

use super::shape::{shape, worker_noun, Shape};
use super::{unjudged, CostSource, Cpus, Inputs, Measurement, Waiting, BLOCKING_POOL};
use crate::format::{count, seconds};
use crate::spec::{CellSpec, PacingSpec, Protocol, ScenarioSpec, StackSource};

impl Inputs {
    /// The model's inputs for a cell: its configuration, the CPUs of the
    /// placement, and what a request costs (from the calibration when there
    /// is one, else from the trial).
    pub fn of(spec: &CellSpec, cpus: Cpus, measured: &Measurement) -> Inputs {
        let (cost_source, cpu_us_per_request, generator_us_per_request) = match measured.calibration
        {
            Some(c) => (
                CostSource::Calibration,
                Some(c.server_us),
                Some(c.generator_us),
            ),
            None => (CostSource::Trial, measured.server_cpu_us_per_request, None),
        };
        let (server_cpus, generator_cpus) = (cpus.server, cpus.generator);
        // The requests in flight: a connection's, or each of its HTTP/2 streams'.
        let connections = spec.load.in_flight() as u64;
        let workers = spec.stack.workers as u64;
        let shape = shape(spec);
        let remote = matches!(spec.stack.source, StackSource::Remote { .. });
        let (slots, slots_words) = match shape {
            None if remote => (None, "a url stack's concurrency is unknown".to_string()),
            None => (
                None,
                "an external stack's concurrency is unknown".to_string(),
            ),
            Some(Shape {
                model: Model::ThreadPerConnection,
                python: false,
                ..
            }) => (None, "a thread per connection".to_string()),
            Some(Shape {
                waiting: Waiting::Cooperative,
                ..
            }) => (
                None,
                match spec.load.streams {
                    1 => "cooperative waits: one per connection",
                    _ => "cooperative waits: one per stream",
                }
                .to_string(),
            ),
            Some(Shape {
                model: Model::WorkStealing,
                waiting: Waiting::Offload,
                ..
            }) => (
                Some(BLOCKING_POOL),
                format!("one blocking pool of {BLOCKING_POOL} threads"),
            ),
            Some(Shape {
                waiting: Waiting::Offload,
                ..
            }) => (
                Some(workers * BLOCKING_POOL),
                format!(
                    "{} x {BLOCKING_POOL} blocking threads",
                    count(workers, "runtime", "runtimes")
                ),
            ),
            Some(Shape {
                model, per_worker, ..
            }) => {
                let (one, many) = worker_noun(model);
                let each = if per_worker == 1 {
                    "1".to_string()
                } else {
                    count(per_worker, "thread", "threads")
                };
                (
                    Some(workers * per_worker),
                    format!("{} x {each}", count(workers, one, many)),
                )
            }
        };
        // The threads that run handlers, and so the cores the stack can use.
        let threads = match shape {
            None => None,
            Some(Shape { python: true, .. }) => Some(workers),
            Some(Shape {
                waiting: Waiting::Offload,
                ..
            }) => None,
            Some(Shape {
                model: Model::ThreadPerConnection,
                ..
            }) => Some(connections),
            Some(_) => Some(workers),
        };
        // An HTTP/2 connection's streams are served by the worker that took
        // the connection (a per-core runtime, an actix worker, a Python
        // worker process), so few connections use few workers; only a
        // work-stealing runtime spreads one connection's streams (hyper
        // spawns a task per stream).
        let pinned = spec.load.protocol == Protocol::H2
            && shape.is_some_and(|s| s.model != Model::WorkStealing);
        let threads = match pinned {
            true => threads.map(|t| t.min(spec.load.connections as u64)),
            false => threads,
        };
        let cpus = server_cpus as u64;
        let cores = threads.map_or(cpus, |t| t.min(cpus)).max(1);
        let cores_words = if remote {
            format!("{} of the server's host", count(cores, "core", "cores"))
        } else if cores < cpus {
            let (one, many) = shape.map_or(("thread", "threads"), |s| worker_noun(s.model));
            format!(
                "{} ({} on {} server CPUs)",
                count(cores, "core", "cores"),
                count(cores, one, many),
                cpus
            )
        } else {
            count(cores, "core", "cores")
        };
        let (wait_ms, wait_words, upstream) = match &spec.scenario {
            ScenarioSpec::Sleep { sleep } => {
                let s = sleep.as_secs_f64();
                (s * 1e3, format!("{} sleep", seconds(s)), false)
            }
            ScenarioSpec::Upstream {
                delay, tls: true, ..
            } => {
                let delay = delay.as_secs_f64();
                match (spec.fresh_connections(), measured.handshake) {
                    (true, Some(h)) => (
                        (delay + h.wait_s()) * 1e3,
                        format!(
                            "{} upstream delay + {}",
                            seconds(delay),
                            h.words("upstream")
                        ),
                        true,
                    ),
                    (true, None) => (
                        delay * 1e3,
                        format!(
                            "{} upstream delay + an unmeasured TLS handshake",
                            seconds(delay)
                        ),
                        true,
                    ),
                    (false, _) => (
                        delay * 1e3,
                        format!("{} upstream delay (pooled TLS)", seconds(delay)),
                        true,
                    ),
                }
            }
            ScenarioSpec::Upstream {
                delay,
                connect_cost,
                ..
            } => {
                let delay = delay.as_secs_f64();
                if spec.fresh_connections() {
                    let connect = connect_cost.as_secs_f64();
                    (
                        (delay + connect) * 1e3,
                        format!(
                            "{} upstream delay + {} connect",
                            seconds(delay),
                            seconds(connect)
                        ),
                        true,
                    )
                } else {
                    (
                        delay * 1e3,
                        format!("{} upstream delay", seconds(delay)),
                        true,
                    )
                }
            }
            ScenarioSpec::Hello | ScenarioSpec::Cpu { .. } | ScenarioSpec::Db { .. } => {
                (0.0, "no wait".to_string(), false)
            }
            // No configuration states a custom scenario's wait: it is what
            // one request took alone, less the CPU a request costs.
            ScenarioSpec::Custom(_) => match measured.service_us {
                Some(us) => {
                    let wait_us = (us - cpu_us_per_request.unwrap_or(0.0)).max(0.0);
                    (
                        wait_us / 1e3,
                        format!(
                            "{} measured wait (one connection's {} less the CPU)",
                            seconds(wait_us / 1e6),
                            seconds(us / 1e6)
                        ),
                        false,
                    )
                }
                None => (0.0, "an unmeasured wait".to_string(), false),
            },
        };
        let upstream_handshake_us = measured
            .handshake
            .filter(|_| spec.upstream_tls() && spec.fresh_connections())
            .map(|h| h.server_us);
        Inputs {
            connections,
            streams: spec.load.streams as u64,
            slots,
            slots_words,
            wait_ms,
            wait_words,
            upstream,
            cpu_us_per_request,
            cost_source,
            generator_us_per_request,
            generator_cores: spec.load.threads.min(generator_cpus).max(1) as u64,
            cores,
            cores_words,
            offered_per_s: match spec.load.pacing {
                PacingSpec::Closed => None,
                PacingSpec::Open { rate } => Some(rate.rate().get()),
            },
            upstream_handshake_us,
            // The upstream stand-in runs a thread per CPU on the server's CPUs.
            upstream_cores: upstream_handshake_us.map(|_| cpus),
            unjudged: unjudged(spec, server_cpus, cpu_us_per_request.is_some()),
        }
    }
}
