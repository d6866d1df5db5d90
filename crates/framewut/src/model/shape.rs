//! What the model needs to know of a cell's stack: its concurrency model,
//! how its handler waits in the cell's scenario, and how many requests one
//! worker holds at once. Every model and variant is matched by name, so a
//! new one cannot go without a rule here.

use framewut_stacks::variant::{ClientVariant, CpuVariant, DbVariant, SleepVariant};
use framewut_stacks::{Model, Scenario};

use crate::python::{find_python_stack, App, AppServer, Interface, PythonOptions, SleepMode};
use crate::spec::{CellSpec, ScenarioVariant, StackSource};

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
pub(super) struct Shape {
    pub(super) model: Model,
    pub(super) waiting: Waiting,
    /// Requests one worker holds at once when its waits block: 1, or its
    /// threads (gunicorn's gthread, granian's WSGI pool).
    pub(super) per_worker: u64,
    /// Whether each worker is a Python process, and so runs Python on one
    /// core at a time whatever its threads (the GIL).
    pub(super) python: bool,
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

pub(super) fn shape(spec: &CellSpec) -> Option<Shape> {
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
                Some(Scenario::Sleep) if *sleep == SleepMode::Cooperative => Waiting::Cooperative,
                Some(Scenario::Upstream | Scenario::Db)
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
        StackSource::App {
            model,
            server,
            interface,
            threads,
            patched,
            ..
        } => {
            // An app's waits are its own: a worker class that makes them
            // yield (gevent's patches, an ASGI app's awaits) holds none of
            // its worker while they last; any other holds it throughout.
            let waiting = match (server, interface) {
                (AppServer::GunicornGevent, _) => Waiting::Cooperative,
                (_, Interface::Asgi) => Waiting::Cooperative,
                _ if *patched && *server != AppServer::GunicornMeinheld => Waiting::Cooperative,
                _ => Waiting::Blocking,
            };
            let per_worker = match (server, interface) {
                (AppServer::Hypercorn, Interface::Wsgi) => hypercorn_pool(),
                _ if server.uses_threads(*interface) => u64::from(threads.unwrap_or(1)),
                _ => 1,
            };
            Some(Shape {
                model: *model,
                waiting,
                per_worker,
                python: true,
            })
        }
        StackSource::External { .. } | StackSource::Remote { .. } => None,
    }
}

/// The threads hypercorn runs a WSGI app's requests on in each worker: its
/// loop's default executor, which Python sizes to min(32, CPUs + 4).
fn hypercorn_pool() -> u64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    (cpus + 4).min(32)
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
pub(super) fn worker_noun(model: Model) -> (&'static str, &'static str) {
    match model {
        Model::EventLoopPerWorker => ("event loop", "event loops"),
        Model::WorkStealing => ("runtime thread", "runtime threads"),
        Model::SyncPool | Model::ThreadPerConnection | Model::Coroutines => ("worker", "workers"),
    }
}
