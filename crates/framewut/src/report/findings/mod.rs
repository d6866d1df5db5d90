//! Findings: plain sentences generated from a run's results, each carrying
//! its numbers. They explain the scenarios' cells through the model, judge
//! the seed's four conclusions wherever the run holds the cells to judge
//! them with (`seed`), name every surprise, failure and saturated
//! generator (`health`), and check the cells against queueing theory
//! (`queueing`: Little's law where it fails, the Universal Scalability Law
//! on each sweep of connections). The seed's own figures come from the matrix's
//! `reference` entries, never from these sentences.
//!
//! The seed's Python vocabulary maps onto the Rust stacks: a sync pool is
//! gunicorn's sync worker; an event loop per worker or a work-stealing
//! runtime is gevent or meinheld; a blocking sleep inside an event loop is
//! an un-patched `time.sleep`; an async client is requests-futures; pooled
//! against fresh connections is a session against `requests.get`.

mod apps;
mod costs;
mod health;
mod queueing;
mod seed;
mod tls;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use framewut_stacks::{Model, Scenario};
use serde::{Deserialize, Serialize};

pub(crate) use queueing::little;

use super::breakdown::Breakdown;
use super::scaling::SweepFit;
use super::CellPrediction;
use crate::format::{rate, times};
use crate::lab::results::{CellResult, Results, Status};
use crate::model::{model_of, waiting_of, Prediction, Waiting};
use crate::spec::StackSource;

/// A cell whose measurement lies within this share of its prediction is
/// told as the model's arithmetic (`≈ 10 workers x 1 / 100 ms`).
const EXPLAINED_WITHIN: RangeInclusive<f64> = 0.9..=1.1;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// The seed's first conclusion: on hello, an event loop beats the sync worker.
    SeedHello,
    /// The seed's second: on sleep, only a cooperative sleep helps.
    SeedSleep,
    /// The seed's third: on upstream, the client matters more than the server.
    SeedUpstream,
    /// The seed's fourth: on CPU work, sync and async reach parity.
    SeedCpu,
    /// How one kind of cell behaved, through the model.
    Explained,
    /// A cell far from its prediction.
    Surprise,
    /// Requests that failed.
    Errors,
    /// Cells whose load generator was the limit.
    Generator,
    /// The server and the generator shared cores.
    Placement,
    /// What TLS cost: HTTPS against plain HTTP, and pooling against an HTTPS upstream.
    Tls,
    // Url stacks.
    /// A bound the model could not judge: a url stack's server CPU unmeasured.
    Unjudged,
    // Issue 18: trials long enough to mean something.
    /// Trials too short for every connection's turn to average out.
    Rough,
    /// A rate whose trials spread widely, and where the spread came from.
    Spread,
    // Issue 20: comparisons that hold.
    /// Trials whose rate trended or stepped while they measured.
    Drift,
    // Issue 19: checks from queueing theory.
    /// A closed-loop cell with fewer requests in flight than connections.
    LittlesLaw,
    /// The Universal Scalability Law fitted to a sweep of connections.
    Scalability,
    /// Where the leading stack's request and the others' differ, part by part.
    Costs,
    /// A cpu or db cell's ceiling predicted from parts measured apart.
    Parts,
    // Issue 22: the user's own app.
    /// Which server led one of the matrix's own scenarios, and why.
    Apps,
    /// Which server to run the app under, and the conditions that holds under.
    Recommendation,
}

/// How a seed conclusion fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Confirmed,
    /// True in direction, not in size or not alone.
    Partly,
    Refuted,
}

impl Verdict {
    fn words(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Partly => "partly confirmed",
            Verdict::Refuted => "not confirmed",
        }
    }
}

/// One sentence or a few, with the cells they rest on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub topic: Topic,
    /// For the seed's conclusions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    pub text: String,
    /// The ids of the cells it rests on.
    pub cells: Vec<String>,
}

/// Which side of the seed's sync/async divide a stack is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Blocking I/O, a thread per request in progress (gunicorn sync).
    Sync,
    /// Event loops (gevent, meinheld).
    EventLoop,
}

fn family(model: Model) -> Family {
    match model {
        Model::SyncPool | Model::ThreadPerConnection => Family::Sync,
        Model::EventLoopPerWorker | Model::WorkStealing | Model::Coroutines => Family::EventLoop,
    }
}

/// A measured cell with its prediction and its request in parts.
#[derive(Clone, Copy)]
struct Seen<'a> {
    cell: &'a CellResult,
    p: &'a Prediction,
    b: Option<&'a Breakdown>,
}

impl<'a> Seen<'a> {
    fn id(&self) -> &'a str {
        &self.cell.id
    }

    fn label(&self) -> &'a str {
        &self.cell.config.stack.label
    }

    fn rate(&self) -> f64 {
        self.p.measured_per_s
    }

    fn model(&self) -> Option<Model> {
        model_of(&self.cell.config)
    }

    fn family(&self) -> Option<Family> {
        self.model().map(family)
    }

    fn waiting(&self) -> Option<Waiting> {
        waiting_of(&self.cell.config)
    }

    fn cpu_us(&self) -> Option<f64> {
        self.p.inputs.cpu_us_per_request
    }

    /// The server CPU a request cost in the trials themselves.
    fn spent_us(&self) -> Option<f64> {
        self.cell
            .summary
            .as_ref()
            .and_then(|s| s.server_cpu_us_per_request)
    }

    /// The bound that explains the rate, for a sentence that quotes the
    /// rate beside it: the bound alone when the rate lies within
    /// [`EXPLAINED_WITHIN`] of it, else with the ratio, so that a rate
    /// and a cost quoted together never contradict each other:
    /// `1.29x the model's CPU: 1 core / 269 µs per request`.
    fn why(&self) -> String {
        if EXPLAINED_WITHIN.contains(&self.p.ratio) {
            self.p.because.clone()
        } else {
            format!("{} the model's {}", times(self.p.ratio), self.p.because)
        }
    }

    /// The load it ran under, so cells are compared under equal loads.
    fn load_key(&self) -> (String, usize, String) {
        let load = &self.cell.config.load;
        (
            load.profile.clone(),
            load.connections,
            format!("{:?} {:?} x{}", load.pacing, load.protocol, load.streams),
        )
    }

    /// The stack's label, with the load when `with_load`: `rust/std/sync-pool at 32 connections`.
    fn name(&self, with_load: bool) -> String {
        if with_load {
            let load = &self.cell.config.load;
            // A matrix with named profiles may load a stack at the same
            // connections twice (kept alive, and a connection per request).
            let profile = match load.profile.as_str() {
                "default" => String::new(),
                named => format!(" ({named} profile)"),
            };
            format!("{} at {}{profile}", self.label(), load.size_words())
        } else {
            self.label().to_string()
        }
    }

    /// `rust/std/sync-pool 97.5 req/s ≈ 10 workers x 1 / 100 ms` when the
    /// model holds, else the rate against the prediction.
    fn explained(&self, with_load: bool) -> String {
        let mut text = if EXPLAINED_WITHIN.contains(&self.p.ratio) {
            format!(
                "{} {} ≈ {}",
                self.name(with_load),
                rate(self.rate()),
                self.p.formula
            )
        } else {
            format!(
                "{} {} ({} of the model's {}: {})",
                self.name(with_load),
                rate(self.rate()),
                times(self.p.ratio),
                rate(self.p.predicted_per_s),
                self.p.because
            )
        };
        if let Some(r) = &self.cell.config.reference {
            text.push_str(&format!(" [{}: {}]", r.source, rate(r.requests_per_s)));
        }
        text
    }

    /// The stack whatever its variants: its id and workers.
    fn stack_key(&self) -> String {
        let spec = &self.cell.config;
        match &spec.stack.source {
            StackSource::BuiltIn { id, .. } | StackSource::Python { id, .. } => {
                format!("{id} x{}", spec.stack.workers)
            }
            StackSource::App { .. } | StackSource::External { .. } | StackSource::Remote { .. } => {
                spec.stack.label.clone()
            }
        }
    }

    fn server_cpu_pct(&self) -> f64 {
        self.cell.summary.as_ref().map_or(0.0, |s| s.server_cpu_pct)
    }
}

fn best<'a>(cells: impl Iterator<Item = Seen<'a>>) -> Option<Seen<'a>> {
    cells.max_by(|a, b| a.rate().total_cmp(&b.rate()))
}

fn worst<'a>(cells: impl Iterator<Item = Seen<'a>>) -> Option<Seen<'a>> {
    cells.min_by(|a, b| a.rate().total_cmp(&b.rate()))
}

/// The measured cells of one scenario, grouped by the load they ran under.
fn by_load<'a>(seen: &[Seen<'a>], scenario: Scenario) -> Vec<Vec<Seen<'a>>> {
    let mut groups: BTreeMap<(String, usize, String), Vec<Seen>> = BTreeMap::new();
    for s in seen.iter().filter(|s| s.cell.config.scenario.is(scenario)) {
        groups.entry(s.load_key()).or_default().push(*s);
    }
    groups.into_values().collect()
}

fn ids(cells: &[Seen]) -> Vec<String> {
    cells.iter().map(|s| s.id().to_string()).collect()
}

/// Words for a group's load, when the run has more than one: ` at 32 connections`.
fn at_load(group: &[Seen], several: bool) -> String {
    if several {
        format!(" at {}", group[0].cell.config.load.size_words())
    } else {
        String::new()
    }
}

/// Every finding of a run, given each cell's prediction in the run's order
/// and the fits of its sweeps.
pub fn findings(
    results: &Results,
    predictions: &[CellPrediction],
    sweeps: &[SweepFit],
) -> Vec<Finding> {
    let seen: Vec<Seen> = results
        .cells
        .iter()
        .zip(predictions)
        .filter(|(c, _)| matches!(c.status, Status::Ok | Status::Interrupted))
        .filter_map(|(cell, p)| {
            Some(Seen {
                cell,
                p: p.prediction.as_ref()?,
                // Taken apart only where the server's time was split
                // (results from before framewut split it have none).
                b: p.breakdown
                    .as_ref()
                    .filter(|b| b.server.user_us.is_some() && b.server.kernel_us.is_some()),
            })
        })
        .collect();
    let mut out = Vec::new();
    seed::hello(&seen, &mut out);
    seed::sleep(&seen, &mut out);
    seed::upstream(&seen, &mut out);
    seed::cpu(&seen, &mut out);
    tls::served(&seen, &mut out);
    tls::upstream(&seen, &mut out);
    health::surprises(&seen, &mut out);
    health::errors(results, &mut out);
    health::generator(&seen, &mut out);
    health::unjudged(results, &mut out);
    health::rough(results, &mut out);
    health::spread(results, &mut out);
    health::drift(results, &mut out);
    queueing::littles_law(results, predictions, &mut out);
    queueing::scalability(sweeps, &mut out);
    costs::explain(&seen, &mut out);
    costs::from_parts(results, predictions, &mut out);
    apps::apps(&seen, &mut out);
    if results.placement.shared {
        let p = &results.placement.placement;
        out.push(Finding {
            topic: Topic::Placement,
            verdict: None,
            text: format!(
                "The server (CPUs {}) and the load generator (CPUs {}) shared cores, so they competed for them and every rate here says less about the server than it seems.",
                p.server_cpus, p.load_cpus
            ),
            cells: Vec::new(),
        });
    }
    out
}
