//! The model: a predicted ceiling for every cell from its configuration, the
//! bound that sets it, and the measurement set against it.
//!
//! Little's law: a stack that can hold `N` requests at once, each for `S`
//! seconds, completes at most `N / S` requests a second. `N` is the smaller
//! of the load's connections and the stack's slots (workers x what each
//! worker can hold at once); `S` is the scenario's wait (the sleep, the
//! upstream's delay, plus its connect cost when every call opens a fresh
//! connection) plus the CPU time one request costs. The cores give a second
//! ceiling, `cores / CPU per request`, on the server's side and on the load
//! generator's; the smallest ceiling binds, and an open-loop load can also
//! be held down by the rate it offers.
//!
//! The wait-bound ceilings come from the configuration alone. The CPU
//! ceilings need what a request costs, and where that cost comes from is
//! recorded ([`CostSource`]): a calibration probe run apart from the trials
//! (the server's and the generator's CPU sets, kernel work included, per
//! request), so the trial can miss the prediction; or, for results without
//! a probe, the trial's own CPU over its own requests, which only restates
//! the trial's utilisation. After the trials, [`usage`] says from the
//! per-CPU figures what actually held the cell.
//!
//! The model depends only on a cell's spec, the number of server CPUs of
//! the placement and what the trials measured ([`Measurement`]); the lab's
//! live table and the reports both ask it, and nothing it computes is stored
//! in results.json.
//!
//! ```
//! use framewut::model::{BoundKind, CostSource, Inputs};
//!
//! // The seed's sleep row: 10 sync workers, 200 connections, 100 ms sleep.
//! let inputs = Inputs {
//!     connections: 200,
//!     slots: Some(10),
//!     slots_words: "10 workers x 1".into(),
//!     wait_ms: 100.0,
//!     wait_words: "100 ms sleep".into(),
//!     upstream: false,
//!     cpu_us_per_request: Some(200.0),
//!     cost_source: CostSource::Calibration,
//!     generator_us_per_request: Some(50.0),
//!     generator_cores: 1,
//!     cores: 1,
//!     cores_words: "1 core".into(),
//!     offered_per_s: None,
//! };
//! let (ceiling, bounds) = inputs.ceiling();
//! assert_eq!(ceiling.kind, BoundKind::Workers);
//! assert_eq!(ceiling.per_s.round(), 100.0);
//! assert_eq!(ceiling.words, "worker concurrency: 10 workers x 1 / 100 ms");
//! assert_eq!(bounds.len(), 3, "the server's CPU, the generator's, the workers");
//! ```

pub mod usage;

use framewut_stacks::variant::{ClientVariant, CpuVariant, DbVariant, SleepVariant};
use framewut_stacks::{Model, Scenario};
use serde::{Deserialize, Serialize};

use crate::format::{count, rate, seconds};
use crate::python::{find_python_stack, App, PythonOptions, SleepMode};
use crate::spec::{CellSpec, PacingSpec, ScenarioSpec, ScenarioVariant, StackSource};
use usage::{Held, Usage};

/// Below this share of its prediction a cell is a surprise.
pub const SURPRISE_BELOW: f64 = 0.7;
/// Above this share of its prediction a cell is a surprise.
pub const SURPRISE_ABOVE: f64 = 1.15;

/// Threads in one tokio runtime's blocking pool (its default
/// `max_blocking_threads`): the most offloaded calls one runtime runs at once.
pub const BLOCKING_POOL: u64 = 512;

/// What holds a cell's throughput down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundKind {
    /// The stack's workers (or its blocking pool) are all busy.
    Workers,
    /// Every connection of the load is waiting on the stack.
    Connections,
    /// Every connection is waiting on the upstream's calls.
    Upstream,
    /// The cores the stack can use are busy.
    Cpu,
    /// The load generator's cores are busy.
    Generator,
    /// An open-loop load asked for no more than this.
    OfferedRate,
}

impl BoundKind {
    /// A word for narrow tables: `workers`, `conns`, `cpu`, `upstream`, `rate`.
    pub fn short(self) -> &'static str {
        match self {
            BoundKind::Workers => "workers",
            BoundKind::Connections => "conns",
            BoundKind::Upstream => "upstream",
            BoundKind::Cpu => "cpu",
            BoundKind::Generator => "gen",
            BoundKind::OfferedRate => "rate",
        }
    }
}

/// One ceiling: a rate and the reason for it in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub kind: BoundKind,
    pub per_s: f64,
    /// `worker concurrency: 10 workers x 1 / 100 ms`, `CPU: 1 core / 85 µs per request`.
    pub words: String,
    /// The arithmetic alone, for sentences: `10 workers x 1 / 100 ms`,
    /// `32 connections / 100 ms`, `1 core / 85 µs per request`.
    pub formula: String,
}

/// What the model knows about a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    /// The load's connections: the most requests in flight at once.
    pub connections: u64,
    /// Requests the stack can hold at once; none when only the connections limit it.
    pub slots: Option<u64>,
    /// The slots in words: `10 workers x 1`, `one blocking pool of 512 threads`.
    pub slots_words: String,
    /// What each request waits for, off the CPU.
    pub wait_ms: f64,
    /// The wait in words: `100 ms sleep`, `50 ms upstream delay + 30 ms connect`.
    pub wait_words: String,
    /// Whether the wait is an upstream call.
    pub upstream: bool,
    /// The server's CPU time per request; none before any request.
    pub cpu_us_per_request: Option<f64>,
    /// Where the CPU times per request come from.
    pub cost_source: CostSource,
    /// The load generator's CPU time per request, kernel work included:
    /// from a calibration probe only.
    #[serde(default)]
    pub generator_us_per_request: Option<f64>,
    /// The generator's cores: its threads, at most its CPUs.
    #[serde(default)]
    pub generator_cores: u64,
    /// The cores the stack can keep busy: its CPUs, or fewer when it has fewer threads.
    pub cores: u64,
    /// `1 core`, or `1 core (1 event loop on 2 server CPUs)`.
    pub cores_words: String,
    /// The open-loop rate asked for; none in closed loop.
    pub offered_per_s: Option<f64>,
}

/// The model's verdict on one measured cell, stored in results.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The smallest ceiling.
    pub predicted_per_s: f64,
    /// What sets it.
    pub bound: BoundKind,
    /// The binding bound in words.
    pub because: String,
    /// The binding bound's arithmetic alone: `10 workers x 1 / 100 ms`.
    pub formula: String,
    /// Mean req/s over the trials.
    pub measured_per_s: f64,
    /// `measured / predicted`.
    pub ratio: f64,
    /// Whether the ratio lies outside 0.7-1.15: the cell is worth a closer look.
    pub surprise: bool,
    /// Every ceiling considered, the binding one included.
    pub bounds: Vec<Bound>,
    pub inputs: Inputs,
    /// What held the cell, from the trials' per-CPU figures, when they
    /// were measured: measured, not predicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

/// Where a CPU ceiling's cost per request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// A probe before the trials measured the server's and the generator's
    /// CPU sets per request, kernel work included: a prediction the trial
    /// can miss.
    Calibration,
    /// The trial's own server CPU over its own requests: the ceiling only
    /// restates how busy the trial kept the server.
    Trial,
}

/// How a handler does its scenario's waiting or work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Holds its thread (or event loop) throughout.
    Blocking,
    /// Yields: its worker serves others meanwhile.
    Cooperative,
    /// Runs on the runtime's blocking pool.
    Offload,
}

/// What the model needs to know of a cell's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    model: Model,
    waiting: Waiting,
    /// Requests one worker holds at once when its waits block: 1, or its
    /// threads (gunicorn's gthread, granian's WSGI pool).
    per_worker: u64,
    /// Whether each worker is a Python process, and so runs Python on one
    /// core at a time whatever its threads (the GIL).
    python: bool,
}

/// How an event loop's handler waits in this variant.
fn waiting_in_a_loop(variant: Option<ScenarioVariant>) -> Waiting {
    match variant {
        None => Waiting::Blocking,
        Some(ScenarioVariant::Sleep(v)) => match v {
            SleepVariant::Blocking => Waiting::Blocking,
            SleepVariant::Async => Waiting::Cooperative,
            SleepVariant::Offload => Waiting::Offload,
        },
        Some(ScenarioVariant::Upstream(v)) => match v.client {
            ClientVariant::Blocking => Waiting::Blocking,
            ClientVariant::Async => Waiting::Cooperative,
            ClientVariant::Offload => Waiting::Offload,
        },
        Some(ScenarioVariant::Cpu(v)) => match v {
            CpuVariant::Inline => Waiting::Blocking,
            CpuVariant::Offload => Waiting::Offload,
        },
        Some(ScenarioVariant::Db(v)) => match v {
            DbVariant::Blocking => Waiting::Blocking,
            DbVariant::Async => Waiting::Cooperative,
            DbVariant::Offload => Waiting::Offload,
        },
        Some(ScenarioVariant::PythonSleep(_) | ScenarioVariant::PythonClient(_)) => {
            Waiting::Blocking
        }
    }
}

fn shape(spec: &CellSpec) -> Option<Shape> {
    let scenario = spec.scenario.scenario();
    match &spec.stack.source {
        StackSource::BuiltIn { model, .. } => {
            let waiting = match model {
                Model::SyncPool | Model::ThreadPerConnection => Waiting::Blocking,
                Model::EventLoopPerWorker | Model::WorkStealing | Model::Coroutines => {
                    waiting_in_a_loop(spec.variant())
                }
            };
            Some(Shape {
                model: *model,
                waiting,
                per_worker: 1,
                python: false,
            })
        }
        StackSource::Python {
            id, model, sleep, ..
        } => {
            let stack = find_python_stack(id).ok()?;
            let waiting = match scenario {
                Scenario::Sleep if *sleep == SleepMode::Cooperative => Waiting::Cooperative,
                Scenario::Upstream | Scenario::Db
                    if stack.app == App::Asgi || *model == Model::Coroutines =>
                {
                    Waiting::Cooperative
                }
                _ => Waiting::Blocking,
            };
            let per_worker = if stack.server.uses_threads() {
                u64::from(PythonOptions::default().threads)
            } else {
                1
            };
            Some(Shape {
                model: *model,
                waiting,
                per_worker,
                python: true,
            })
        }
        StackSource::External { .. } => None,
    }
}

/// The concurrency model of a cell's stack, when framewut knows it.
pub fn model_of(spec: &CellSpec) -> Option<Model> {
    shape(spec).map(|s| s.model)
}

/// How a cell's handler waits, when framewut knows its stack.
pub fn waiting_of(spec: &CellSpec) -> Option<Waiting> {
    shape(spec).map(|s| s.waiting)
}

/// What one worker of this model is called.
fn worker_noun(model: Model) -> (&'static str, &'static str) {
    match model {
        Model::EventLoopPerWorker => ("event loop", "event loops"),
        Model::WorkStealing => ("runtime thread", "runtime threads"),
        Model::SyncPool | Model::ThreadPerConnection | Model::Coroutines => ("worker", "workers"),
    }
}

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
        let connections = spec.load.connections as u64;
        let workers = spec.stack.workers as u64;
        let shape = shape(spec);
        let (slots, slots_words) = match shape {
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
            }) => (None, "cooperative waits: one per connection".to_string()),
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
        let cpus = server_cpus as u64;
        let cores = threads.map_or(cpus, |t| t.min(cpus)).max(1);
        let cores_words = if cores < cpus {
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
                delay,
                connect_cost,
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
        };
        Inputs {
            connections,
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
        }
    }

    /// The time one request holds its slot in words, and what it is made of
    /// when that is worth saying: `80 ms` and `50 ms upstream delay + 30 ms
    /// connect`, or `100 ms` and `100 ms sleep + 6.2 ms CPU`.
    fn service_words(&self, service_s: f64, cpu_s: f64) -> (String, String) {
        let wait_s = self.wait_ms / 1e3;
        if wait_s <= 0.0 {
            return (format!("{} CPU per request", seconds(cpu_s)), String::new());
        }
        let detail = if cpu_s >= 0.05 * service_s {
            format!(" ({} + {} CPU)", self.wait_words, seconds(cpu_s))
        } else if self.wait_words.contains('+') {
            format!(" ({})", self.wait_words)
        } else {
            String::new()
        };
        (seconds(service_s), detail)
    }

    /// Every ceiling that applies, and the one that binds (the smallest; the
    /// CPU wins a tie, being the likelier reason).
    pub fn ceiling(&self) -> (Bound, Vec<Bound>) {
        let cpu_s = self.cpu_us_per_request.unwrap_or(0.0) / 1e6;
        let mut bounds = Vec::new();
        let measured_in = match self.cost_source {
            CostSource::Calibration => "",
            CostSource::Trial => " (the trial's own)",
        };
        if cpu_s > 0.0 {
            let formula = format!(
                "{} / {} per request{measured_in}",
                self.cores_words,
                seconds(cpu_s)
            );
            bounds.push(Bound {
                kind: BoundKind::Cpu,
                per_s: self.cores as f64 / cpu_s,
                words: format!("CPU: {formula}"),
                formula,
            });
        }
        if let Some(generator_s) = self.generator_us_per_request.map(|us| us / 1e6) {
            if generator_s > 0.0 {
                let formula = format!(
                    "{} / {} per request",
                    count(self.generator_cores, "generator core", "generator cores"),
                    seconds(generator_s)
                );
                bounds.push(Bound {
                    kind: BoundKind::Generator,
                    per_s: self.generator_cores as f64 / generator_s,
                    words: format!("generator CPU: {formula}"),
                    formula,
                });
            }
        }
        let service_s = self.wait_ms / 1e3 + cpu_s;
        if service_s > 0.0 {
            let held = self
                .slots
                .map_or(self.connections, |s| s.min(self.connections));
            let per_s = held as f64 / service_s;
            let (service, detail) = self.service_words(service_s, cpu_s);
            let connections = count(self.connections, "connection", "connections");
            let (kind, words, formula) = match self.slots {
                Some(slots) if slots < self.connections => {
                    let formula = format!("{} / {service}{detail}", self.slots_words);
                    (
                        BoundKind::Workers,
                        format!("worker concurrency: {formula}"),
                        formula,
                    )
                }
                _ if self.upstream => {
                    let formula = format!("{connections} / {service} per call{detail}");
                    (BoundKind::Upstream, format!("upstream: {formula}"), formula)
                }
                _ => (
                    BoundKind::Connections,
                    format!("connections: {} / {service}{detail}", self.connections),
                    format!("{connections} / {service}{detail}"),
                ),
            };
            bounds.push(Bound {
                kind,
                per_s,
                words,
                formula,
            });
        }
        if let Some(offered) = self.offered_per_s {
            bounds.push(Bound {
                kind: BoundKind::OfferedRate,
                per_s: offered,
                words: format!("offered rate: {}", rate(offered)),
                formula: format!("{} offered", rate(offered)),
            });
        }
        let binding = bounds
            .iter()
            .fold(None::<&Bound>, |best, b| match best {
                Some(best) if best.per_s <= b.per_s => Some(best),
                _ => Some(b),
            })
            .cloned()
            .unwrap_or(Bound {
                kind: BoundKind::Connections,
                per_s: f64::INFINITY,
                words: "nothing: no wait and no CPU time was measured".to_string(),
                formula: String::new(),
            });
        (binding, bounds)
    }
}

/// Rounds to four significant figures, so results.json stays readable.
fn round4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The CPUs of a placement, counted: the server's and the load generator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpus {
    pub server: usize,
    pub generator: usize,
}

/// What a calibration probe measured apart from the trials: the CPU time
/// one request costs each side's CPU set, the kernel's work for it included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub server_us: f64,
    pub generator_us: f64,
}

/// What was measured of a cell that the model needs: the trials' rate it
/// sets against its ceiling, the trials' own server CPU per request, the
/// calibration's costs when a probe ran, and the trials' per-CPU figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Mean req/s over the trials.
    pub requests_per_s: f64,
    /// Server CPU microseconds per completed request in the trials; none
    /// before any request.
    pub server_cpu_us_per_request: Option<f64>,
    /// What a request cost, from the probe before the trials.
    pub calibration: Option<Costs>,
    /// How the CPU sets spent the trials.
    pub usage: Option<Usage>,
}

impl Prediction {
    /// The model's verdict on a measured cell placed on `cpus`; none when
    /// nothing sets a finite ceiling.
    pub fn of(spec: &CellSpec, cpus: Cpus, measured: Measurement) -> Option<Prediction> {
        let mut inputs = Inputs::of(spec, cpus, &measured);
        inputs.cpu_us_per_request = inputs.cpu_us_per_request.map(round4);
        inputs.generator_us_per_request = inputs.generator_us_per_request.map(round4);
        let (binding, mut bounds) = inputs.ceiling();
        if !binding.per_s.is_finite() {
            return None;
        }
        let ratio = measured.requests_per_s / binding.per_s;
        for b in &mut bounds {
            b.per_s = round4(b.per_s);
        }
        Some(Prediction {
            predicted_per_s: round4(binding.per_s),
            bound: binding.kind,
            because: binding.words,
            formula: binding.formula,
            measured_per_s: round4(measured.requests_per_s),
            ratio: (ratio * 1000.0).round() / 1000.0,
            surprise: !(SURPRISE_BELOW..=SURPRISE_ABOVE).contains(&ratio),
            bounds,
            inputs,
            held: measured.usage.map(|u| u.held()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::cpus::Placement;
    use crate::lab::matrix::{Matrix, Overrides};

    fn placement(server: &str) -> Placement {
        Placement::halves(&format!("{server},7").parse().unwrap())
    }

    /// A placement with this many server CPUs and one generator CPU.
    fn on(server: usize) -> Cpus {
        Cpus {
            server,
            generator: 1,
        }
    }

    /// A measurement whose only cost is the trial's own server CPU per request.
    fn trial_cost(cpu_us: f64) -> Measurement {
        Measurement {
            requests_per_s: 0.0,
            server_cpu_us_per_request: Some(cpu_us),
            calibration: None,
            usage: None,
        }
    }

    /// The number of CPUs in a list such as `0` or `0-1`.
    fn cpus(list: &str) -> usize {
        list.parse::<crate::lab::cpus::CpuSet>().unwrap().count()
    }

    fn cell(stack: &str, scenarios: &str) -> CellSpec {
        let text = format!(
            "scenarios = [{scenarios}]\n[scenario.sleep]\nduration = \"100ms\"\n\
             [scenario.upstream]\ndelay = \"50ms\"\nconnect_cost = \"30ms\"\n\
             [[stack]]\n{stack}\n[[profile]]\nconnections = 32\n"
        );
        let matrix = Matrix::parse("test", &text).unwrap();
        matrix
            .cells(&placement("0"), &Overrides::default())
            .unwrap()
            .remove(0)
    }

    fn ceiling(stack: &str, scenario: &str, cpu_us: f64, cpus_list: &str) -> Bound {
        let spec = cell(stack, scenario);
        Inputs::of(&spec, on(self::cpus(cpus_list)), &trial_cost(cpu_us))
            .ceiling()
            .0
    }

    #[test]
    fn a_blocking_wait_holds_each_worker() {
        let b = ceiling(
            "id = \"rust/std/sync-pool\"\nworkers = 10",
            "\"sleep\"",
            50.0,
            "0",
        );
        assert_eq!(b.kind, BoundKind::Workers);
        assert!((b.per_s - 10.0 / 0.10005).abs() < 1e-6);
        assert_eq!(b.words, "worker concurrency: 10 workers x 1 / 100 ms");

        let b = ceiling(
            "id = \"rust/hyper/tokio-current\"\nvariant = \"sleep=blocking\"",
            "\"sleep\"",
            50.0,
            "0",
        );
        assert_eq!(b.words, "worker concurrency: 1 event loop x 1 / 100 ms");
    }

    #[test]
    fn a_cooperative_wait_is_held_by_the_connections() {
        let b = ceiling(
            "id = \"rust/axum/tokio-multi\"\nworkers = 1",
            "\"sleep\"",
            50.0,
            "0",
        );
        assert_eq!(b.kind, BoundKind::Connections);
        assert_eq!(b.words, "connections: 32 / 100 ms");
    }

    #[test]
    fn offload_uses_the_blocking_pool() {
        let spec = cell(
            "id = \"rust/axum/per-core\"\nworkers = 2\nvariant = \"sleep=offload\"",
            "\"sleep\"",
        );
        let inputs = Inputs::of(&spec, on(1), &trial_cost(50.0));
        assert_eq!(inputs.slots, Some(1024));
        assert_eq!(inputs.slots_words, "2 runtimes x 512 blocking threads");
        assert_eq!(inputs.ceiling().0.kind, BoundKind::Connections);
    }

    #[test]
    fn cpu_binds_when_there_is_no_wait_and_cores_count_threads() {
        let b = ceiling(
            "id = \"rust/axum/tokio-multi\"\nworkers = 1",
            "\"cpu\"",
            4000.0,
            "0-1",
        );
        assert_eq!(b.kind, BoundKind::Cpu);
        assert_eq!(b.per_s, 250.0);
        assert_eq!(
            b.words,
            "CPU: 1 core (1 runtime thread on 2 server CPUs) / 4 ms per request (the trial's own)"
        );
        let b = ceiling(
            "id = \"rust/std/thread-per-conn\"",
            "\"hello\"",
            85.0,
            "0-1",
        );
        assert_eq!(
            b.words,
            "CPU: 2 cores / 85 µs per request (the trial's own)"
        );
    }

    #[test]
    fn upstream_waits_include_the_connect_cost_of_fresh_connections() {
        let b = ceiling(
            "id = \"rust/axum/tokio-multi\"\nworkers = 1\nvariant = \"upstream=async-fresh\"",
            "\"upstream\"",
            100.0,
            "0",
        );
        assert_eq!(b.kind, BoundKind::Upstream);
        assert!((b.per_s - 32.0 / 0.0801).abs() < 1e-6);
        assert_eq!(
            b.words,
            "upstream: 32 connections / 80 ms per call (50 ms upstream delay + 30 ms connect)"
        );
        let b = ceiling(
            "id = \"rust/std/sync-pool\"\nworkers = 10",
            "\"upstream\"",
            100.0,
            "0",
        );
        assert_eq!(b.words, "worker concurrency: 10 workers x 1 / 50 ms");
    }

    #[test]
    fn external_stacks_are_bound_by_connections_and_cpu_only() {
        let spec = cell(
            "name = \"ext\"\ncommand = \"true {port}\"\nready = \"/\"",
            "\"sleep\"",
        );
        let inputs = Inputs::of(&spec, on(1), &trial_cost(10.0));
        assert_eq!(inputs.slots, None);
        assert_eq!(inputs.ceiling().0.kind, BoundKind::Connections);
    }

    #[test]
    fn python_workers_hold_their_threads_and_one_core_each() {
        let b = ceiling(
            "id = \"python/flask/gunicorn-gthread\"\nworkers = 2",
            "\"sleep\"",
            300.0,
            "0-1",
        );
        assert_eq!(b.kind, BoundKind::Workers);
        assert_eq!(
            b.words,
            "worker concurrency: 2 workers x 10 threads / 100 ms"
        );
        let b = ceiling(
            "id = \"python/gevent/gunicorn-gevent\"\nworkers = 1",
            "\"sleep\"",
            300.0,
            "0-1",
        );
        assert_eq!(b.words, "connections: 32 / 100 ms");
        let b = ceiling(
            "id = \"python/wsgi/gunicorn-meinheld\"\nworkers = 1",
            "\"cpu\"",
            5000.0,
            "0-1",
        );
        assert_eq!(
            b.words,
            "CPU: 1 core (1 event loop on 2 server CPUs) / 5 ms per request (the trial's own)"
        );
    }

    #[test]
    fn a_calibrated_cell_is_held_by_the_busier_side_and_says_so() {
        let spec = cell("id = \"rust/axum/tokio-multi\"\nworkers = 1", "\"hello\"");
        let measured = Measurement {
            requests_per_s: 110_000.0,
            server_cpu_us_per_request: Some(5.0),
            calibration: Some(Costs {
                server_us: 8.5,
                generator_us: 8.0,
            }),
            usage: None,
        };
        let p = Prediction::of(&spec, on(1), measured).unwrap();
        assert_eq!(p.inputs.cost_source, CostSource::Calibration);
        assert_eq!(
            p.inputs.cpu_us_per_request,
            Some(8.5),
            "the probe's cost, not the trial's"
        );
        assert_eq!(p.bound, BoundKind::Cpu);
        assert_eq!(p.because, "CPU: 1 core / 8.5 µs per request");
        assert!((p.predicted_per_s - 117_600.0).abs() < 100.0, "{p:?}");
        assert!(!p.surprise, "{}", p.ratio);
        let generator = p
            .bounds
            .iter()
            .find(|b| b.kind == BoundKind::Generator)
            .unwrap();
        assert_eq!(
            generator.words,
            "generator CPU: 1 generator core / 8 µs per request"
        );

        let uncalibrated = Prediction::of(&spec, on(1), trial_cost(5.0)).unwrap();
        assert_eq!(uncalibrated.inputs.cost_source, CostSource::Trial);
        assert!(
            uncalibrated.because.ends_with("(the trial's own)"),
            "{}",
            uncalibrated.because
        );
    }

    #[test]
    fn rounds_to_four_figures() {
        assert_eq!(round4(97.5384615), 97.54);
        assert_eq!(round4(1939.153), 1939.0);
        assert_eq!(round4(0.000123456), 0.0001235);
    }
}
