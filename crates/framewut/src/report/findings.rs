//! Findings: plain sentences generated from a run's results, each carrying
//! its numbers. They explain the scenarios' cells through the model, judge
//! the seed's four conclusions wherever the run holds the cells to judge
//! them with, and name every surprise, failure and saturated generator.
//!
//! The seed's Python vocabulary maps onto the Rust stacks: a sync pool is
//! gunicorn's sync worker; an event loop per worker or a work-stealing
//! runtime is gevent or meinheld; a blocking sleep inside an event loop is
//! an un-patched `time.sleep`; an async client is requests-futures; pooled
//! against fresh connections is a session against `requests.get`.

use std::collections::BTreeMap;

use framewut_stacks::{Model, Scenario};
use serde::{Deserialize, Serialize};

use super::format::{count, micros, rate, seconds, times};
use super::model::{fresh_connections, model_of, waiting_of, BoundKind, Prediction, Waiting};
use crate::lab::matrix::{CellSpec, StackSource};
use crate::lab::results::{CellResult, Results, Status};
use crate::python::{find_python_stack, Server};

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

/// A measured cell with its prediction.
#[derive(Clone, Copy)]
struct Seen<'a> {
    cell: &'a CellResult,
    p: &'a Prediction,
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

    /// The load it ran under, so cells are compared under equal loads.
    fn load_key(&self) -> (String, usize, String) {
        let load = &self.cell.config.load;
        (
            load.profile.clone(),
            load.connections,
            format!("{:?}", load.pacing),
        )
    }

    /// The stack's label, with the load when `with_load`: `rust/std/sync-pool at 32 connections`.
    fn name(&self, with_load: bool) -> String {
        if with_load {
            format!(
                "{} at {}",
                self.label(),
                count(
                    self.cell.config.load.connections as u64,
                    "connection",
                    "connections"
                )
            )
        } else {
            self.label().to_string()
        }
    }

    /// `rust/std/sync-pool 97.5 req/s ≈ 10 workers x 1 / 100 ms` when the
    /// model holds, else the rate against the prediction.
    fn explained(&self, with_load: bool) -> String {
        let mut text = if (0.9..=1.1).contains(&self.p.ratio) {
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
            StackSource::External { .. } => spec.stack.label.clone(),
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

/// The fastest event-loop cell and the fastest sync cell among these, when
/// there are both.
fn best_event_and_sync<'a>(cells: &[Seen<'a>]) -> Option<(Seen<'a>, Seen<'a>)> {
    let on = |f: Family| best(cells.iter().copied().filter(move |s| s.family() == Some(f)));
    Some((on(Family::EventLoop)?, on(Family::Sync)?))
}

/// The two cells a seed conclusion compares, in words: `The best event loop,
/// A, answered 1,234 req/s (why); the best sync stack, B, answered ...`, with
/// `sync_verb` (e.g. `answered `) before the sync stack's rate.
fn event_against_sync(event: &Seen, sync: &Seen, sync_verb: &str) -> String {
    format!(
        "The best event loop, {}, answered {} ({}); the best sync stack, {}, {sync_verb}{} ({})",
        event.label(),
        rate(event.rate()),
        event.p.because,
        sync.label(),
        rate(sync.rate()),
        sync.p.because,
    )
}

/// The measured cells of one scenario, grouped by the load they ran under.
fn by_load<'a>(seen: &[Seen<'a>], scenario: Scenario) -> Vec<Vec<Seen<'a>>> {
    let mut groups: BTreeMap<(String, usize, String), Vec<Seen>> = BTreeMap::new();
    for s in seen
        .iter()
        .filter(|s| s.cell.config.scenario.scenario() == scenario)
    {
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
        format!(" at {} connections", group[0].cell.config.load.connections)
    } else {
        String::new()
    }
}

/// Every finding of a run whose cells carry their predictions.
pub fn findings(results: &Results) -> Vec<Finding> {
    let seen: Vec<Seen> = results
        .cells
        .iter()
        .filter(|c| matches!(c.status, Status::Ok | Status::Interrupted))
        .filter_map(|cell| cell.prediction.as_ref().map(|p| Seen { cell, p }))
        .collect();
    let mut out = Vec::new();
    seed_hello(&seen, &mut out);
    sleep(&seen, &mut out);
    seed_upstream(&seen, &mut out);
    seed_cpu(&seen, &mut out);
    surprises(&seen, &mut out);
    errors(results, &mut out);
    generator(&seen, &mut out);
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

/// Why two cells held by the CPU differ: what a request costs each, or how
/// busy each kept its cores. None unless both are held by the CPU.
fn cpu_reason(a: &Seen, b: &Seen) -> Option<String> {
    if a.p.bound != BoundKind::Cpu || b.p.bound != BoundKind::Cpu {
        return None;
    }
    let (ca, cb) = (a.cpu_us()?, b.cpu_us()?);
    let costs = format!(
        "{} spent {} of server CPU per request and {} {}",
        a.label(),
        micros(ca),
        b.label(),
        micros(cb)
    );
    Some(if (ca / cb - 1.0).abs() > 0.15 {
        format!("{costs}, so the gap is mostly what a request costs")
    } else {
        format!(
            "{costs}, about the same, so the gap is how busy each kept its CPU: {:.0}% against {:.0}% of a core",
            a.server_cpu_pct(),
            b.server_cpu_pct()
        )
    })
}

fn seed_hello(seen: &[Seen], out: &mut Vec<Finding>) {
    let groups = by_load(seen, Scenario::Hello);
    let several = groups.len() > 1;
    for group in &groups {
        let Some((event, sync)) = best_event_and_sync(group) else {
            continue;
        };
        let r = event.rate() / sync.rate().max(f64::MIN_POSITIVE);
        let verdict = if r >= 10.0 {
            Verdict::Confirmed
        } else if r >= 1.5 {
            Verdict::Partly
        } else {
            Verdict::Refuted
        };
        let mut text = format!(
            "Seed conclusion 1 (on hello, an event loop beats the sync worker by an order of magnitude): {}{}. {}: {} as many.",
            verdict.words(),
            at_load(group, several),
            event_against_sync(&event, &sync, "answered "),
            times(r)
        );
        if verdict != Verdict::Confirmed {
            if closes_connections(&sync.cell.config) {
                text.push_str(&format!(" Like the seed's sync worker, {} closes the connection after every response, so each request also pays for a new connection.", sync.label()));
            } else {
                text.push_str(" The seed's sync worker closed the connection after every response (823 req/s with read errors); this sync stack keeps connections alive.");
            }
            if let Some(reason) = cpu_reason(&event, &sync) {
                text.push_str(&format!(" Both are held by the CPU: {reason}."));
            }
        }
        out.push(Finding {
            topic: Topic::SeedHello,
            verdict: Some(verdict),
            text,
            cells: vec![event.id().to_string(), sync.id().to_string()],
        });
    }
}

/// Whether a cell's stack closes the connection after every response, as
/// gunicorn's sync worker does.
fn closes_connections(spec: &CellSpec) -> bool {
    match &spec.stack.source {
        StackSource::BuiltIn { close, .. } => *close,
        StackSource::Python { id, .. } => {
            find_python_stack(id).is_ok_and(|s| s.server == Server::GunicornSync)
        }
        StackSource::External { .. } => false,
    }
}

/// The kinds of sleep cell the seed's second conclusion is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SleepKind {
    SyncPool,
    ThreadPerConnection,
    BlockingInLoop,
    Cooperative,
    Offload,
}

impl SleepKind {
    fn of(s: &Seen) -> Option<SleepKind> {
        Some(match (s.model()?, s.waiting()?) {
            (Model::SyncPool, _) => SleepKind::SyncPool,
            (Model::ThreadPerConnection, _) => SleepKind::ThreadPerConnection,
            (_, Waiting::Blocking) => SleepKind::BlockingInLoop,
            (_, Waiting::Cooperative) => SleepKind::Cooperative,
            (_, Waiting::Offload) => SleepKind::Offload,
        })
    }

    fn lead(self) -> &'static str {
        match self {
            SleepKind::SyncPool => "The sync pool held a worker for the whole of every sleep",
            SleepKind::ThreadPerConnection => {
                "A thread per connection let every connection sleep at once"
            }
            SleepKind::BlockingInLoop => {
                "A blocking sleep inside an event loop serialised each worker (the seed's un-patched time.sleep)"
            }
            SleepKind::Cooperative => {
                "A cooperative sleep let every connection wait at once (the seed's monkey-patched sleep under gevent)"
            }
            SleepKind::Offload => {
                "Offloading the sleep to the runtime's blocking pool overlapped the waits as well"
            }
        }
    }
}

fn sleep(seen: &[Seen], out: &mut Vec<Finding>) {
    let cells: Vec<Seen> = seen
        .iter()
        .copied()
        .filter(|s| s.cell.config.scenario.scenario() == Scenario::Sleep)
        .collect();
    let mut kinds: BTreeMap<SleepKind, Vec<Seen>> = BTreeMap::new();
    for s in &cells {
        if let Some(kind) = SleepKind::of(s) {
            kinds.entry(kind).or_default().push(*s);
        }
    }
    let several = by_load(seen, Scenario::Sleep).len() > 1;
    for (kind, group) in &kinds {
        let parts: Vec<String> = group.iter().map(|s| s.explained(several)).collect();
        out.push(Finding {
            topic: Topic::Explained,
            verdict: None,
            text: format!("{}: {}.", kind.lead(), parts.join("; ")),
            cells: ids(group),
        });
    }

    for group in by_load(seen, Scenario::Sleep) {
        let load = at_load(&group, several);
        let of = |k: SleepKind| {
            group
                .iter()
                .copied()
                .filter(move |s| SleepKind::of(s) == Some(k))
        };
        let blocking = best(
            of(SleepKind::SyncPool)
                .chain(of(SleepKind::BlockingInLoop))
                .chain(of(SleepKind::ThreadPerConnection)),
        );
        let serialising = best(of(SleepKind::SyncPool).chain(of(SleepKind::BlockingInLoop)));
        let (Some(coop), Some(blocked)) = (best(of(SleepKind::Cooperative)), serialising) else {
            continue;
        };
        let offload = best(of(SleepKind::Offload));
        let r = coop.rate() / blocked.rate().max(f64::MIN_POSITIVE);
        let helps = |s: &Seen| s.rate() >= 0.5 * coop.rate();
        let others: Vec<Seen> = [offload, blocking.filter(|b| b.id() != blocked.id())]
            .into_iter()
            .flatten()
            .filter(helps)
            .collect();
        let verdict = if r < 2.0 {
            Verdict::Refuted
        } else if others.is_empty() {
            Verdict::Confirmed
        } else {
            Verdict::Partly
        };
        let mut text = format!(
            "Seed conclusion 2 (on sleep, only a cooperative sleep helps; a blocking sleep serialises each worker): {}{load}. A cooperative sleep on {} reached {}, {} the {} of {} whose blocking sleep held its workers ({}).",
            verdict.words(),
            coop.label(),
            rate(coop.rate()),
            times(r),
            rate(blocked.rate()),
            blocked.label(),
            blocked.p.because
        );
        for other in &others {
            text.push_str(&format!(
                " But {} also reached {} without a cooperative sleep ({}), so waiting cooperatively is one way to overlap the waits, not the only one.",
                other.label(),
                rate(other.rate()),
                other.p.because
            ));
        }
        let mut cells = vec![coop.id().to_string(), blocked.id().to_string()];
        cells.extend(others.iter().map(|s| s.id().to_string()));
        out.push(Finding {
            topic: Topic::SeedSleep,
            verdict: Some(verdict),
            text,
            cells,
        });
    }
}

/// The upstream client of a cell in the seed's terms.
fn client_words(s: &Seen) -> String {
    let spec = &s.cell.config;
    let variant = spec.variant.as_deref().unwrap_or("blocking-pooled");
    if let StackSource::Python { .. } = spec.stack.source {
        return match variant {
            "fresh" => "a new client per call (fresh connections)".to_string(),
            "session" => "a pooled session".to_string(),
            "futures" => "requests-futures (a pooled session)".to_string(),
            other => format!("the {other} client"),
        };
    }
    let client = variant.split('-').next().unwrap_or(variant);
    let conn = if fresh_connections(spec) {
        "fresh connections"
    } else {
        "pooled connections"
    };
    format!("{client} client, {conn}")
}

/// The upstream client library, whatever its connections: `blocking`,
/// `async`, `offload`, or `requests` for the Python stacks.
fn client_of(s: &Seen) -> String {
    let v = s.cell.config.variant.as_deref().unwrap_or("");
    match s.cell.config.stack.source {
        StackSource::Python { .. } => "requests".to_string(),
        _ => v.split('-').next().unwrap_or(v).to_string(),
    }
}

/// Per stack, a fresh-connection cell and a pooled one with the same client:
/// what pooling alone changes.
fn pooling_alone<'a>(by_stack: &BTreeMap<String, Vec<Seen<'a>>>) -> Vec<(Seen<'a>, Seen<'a>)> {
    by_stack
        .values()
        .filter_map(|cells| {
            cells.iter().find_map(|fresh| {
                if !fresh_connections(&fresh.cell.config) {
                    return None;
                }
                cells
                    .iter()
                    .find(|p| {
                        !fresh_connections(&p.cell.config) && client_of(p) == client_of(fresh)
                    })
                    .map(|pooled| (*fresh, *pooled))
            })
        })
        .collect()
}

/// The best and worst of some cells and how far apart they are; none for one cell.
fn spread<'a>(cells: &[Seen<'a>]) -> Option<(f64, Seen<'a>, Seen<'a>)> {
    let hi = best(cells.iter().copied())?;
    let lo = worst(cells.iter().copied())?;
    (cells.len() > 1).then(|| (hi.rate() / lo.rate().max(f64::MIN_POSITIVE), hi, lo))
}

fn seed_upstream<'a>(seen: &[Seen<'a>], out: &mut Vec<Finding>) {
    let groups = by_load(seen, Scenario::Upstream);
    let several = groups.len() > 1;
    for group in &groups {
        // The client's effect: one stack, several clients.
        let mut by_stack: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
        for s in group {
            by_stack.entry(s.stack_key()).or_default().push(*s);
        }
        let client = by_stack
            .values()
            .filter_map(|cells| spread(cells))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        // The server's effect: the best sync stack against the best event
        // loop with the same client, as the seed compared them (requests on
        // every server); failing that, each with pooled connections and its
        // own client (a fresh connection per call is the client's doing).
        let pair = |cells: Vec<Seen<'a>>| {
            let (event, sync) = best_event_and_sync(&cells)?;
            spread(&[event, sync])
        };
        let mut by_client: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
        for s in group {
            by_client.entry(client_words(s)).or_default().push(*s);
        }
        let same_client = by_client
            .into_values()
            .filter_map(pair)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let server = match same_client {
            Some(found) => Some((found, true)),
            None => pair(
                group
                    .iter()
                    .copied()
                    .filter(|s| !fresh_connections(&s.cell.config))
                    .collect(),
            )
            .map(|found| (found, false)),
        };
        let rc = client.as_ref().map(|c| c.0);
        let rs = server.as_ref().map(|s| s.0 .0);
        let verdict = match (rc, rs) {
            (Some(rc), Some(rs)) if rc >= 1.5 && rs < 1.5 => Verdict::Confirmed,
            (Some(rc), _) if rc >= 1.5 => Verdict::Partly,
            (Some(_), _) => Verdict::Refuted,
            (None, Some(rs)) if rs < 1.5 => Verdict::Confirmed,
            (None, Some(_)) => Verdict::Refuted,
            (None, None) => continue,
        };
        let claim = if client.is_some() {
            "on a real upstream call sync and async servers fare about the same; what helps is the client library"
        } else {
            "on a real upstream call sync and async servers fare about the same"
        };
        let mut text = format!(
            "Seed conclusion 3 ({claim}): {}{}.",
            verdict.words(),
            at_load(group, several)
        );
        let mut cells = Vec::new();
        if let Some((rc, hi, lo)) = &client {
            text.push_str(&format!(
                " Changing the client of {} from {} to {} took it from {} to {} ({}).",
                hi.stack_key().split(' ').next().unwrap_or(""),
                client_words(lo),
                client_words(hi),
                rate(lo.rate()),
                rate(hi.rate()),
                times(*rc)
            ));
            if fresh_connections(&lo.cell.config) && !fresh_connections(&hi.cell.config) {
                text.push_str(&format!(
                    " A fresh connection per call pays the upstream's connect cost every time ({}), as the seed's requests.get did.",
                    lo.p.inputs.wait_words
                ));
            }
            cells.extend([hi.id().to_string(), lo.id().to_string()]);
        }
        // What pooling alone changes, leaving out the change just told.
        let told = client.as_ref().map(|(_, hi, lo)| (lo.id(), hi.id()));
        let pooling: Vec<(Seen, Seen)> = pooling_alone(&by_stack)
            .into_iter()
            .filter(|(fresh, pooled)| told != Some((fresh.id(), pooled.id())))
            .collect();
        if told.is_some() && pooling.is_empty() {
            if let Some((_, hi, lo)) = &client {
                if fresh_connections(&lo.cell.config)
                    && !fresh_connections(&hi.cell.config)
                    && client_of(lo) == client_of(hi)
                {
                    text.push_str(" That is the seed's requests to requests-futures step (110 to 252 req/s): pooling, not asynchrony.");
                }
            }
        }
        if !pooling.is_empty() {
            let parts: Vec<String> = pooling
                .iter()
                .map(|(fresh, pooled)| {
                    format!(
                        "{} from {} to {} ({})",
                        fresh.stack_key().split(' ').next().unwrap_or(""),
                        rate(fresh.rate()),
                        rate(pooled.rate()),
                        times(pooled.rate() / fresh.rate().max(f64::MIN_POSITIVE))
                    )
                })
                .collect();
            text.push_str(&format!(
                " Pooling connections alone, with the same client, took {}: the seed's requests to requests-futures step (110 to 252 req/s), {}.",
                parts.join(", "),
                if pooling.len() > 1 {
                    "on every server that ran both"
                } else {
                    "on the one server that ran both"
                }
            ));
            for (fresh, pooled) in &pooling {
                cells.extend([fresh.id().to_string(), pooled.id().to_string()]);
            }
        }
        if let Some(((rs, hi, lo), same)) = &server {
            let with = if *same {
                format!("with the same client ({})", client_words(hi))
            } else {
                "each with pooled connections and its own client".to_string()
            };
            text.push_str(&format!(
                " Between servers {with}, {} answered {} ({}) and {} {} ({}): {} apart.",
                hi.label(),
                rate(hi.rate()),
                hi.p.because,
                lo.label(),
                rate(lo.rate()),
                lo.p.because,
                times(*rs)
            ));
            if *rs >= 1.5 && lo.p.bound == BoundKind::Workers {
                text.push_str(
                    " The slower one is held by its workers, each blocked for the whole call, so here the server does matter.",
                );
            }
            cells.extend([hi.id().to_string(), lo.id().to_string()]);
        } else {
            text.push_str(" This run holds no sync and event-loop pair with pooled connections, so it cannot compare servers.");
        }
        if client.is_none() {
            text.push_str(" It holds one client per stack, so it cannot judge the client's part.");
        }
        out.push(Finding {
            topic: Topic::SeedUpstream,
            verdict: Some(verdict),
            text,
            cells,
        });
    }
}

fn seed_cpu(seen: &[Seen], out: &mut Vec<Finding>) {
    let groups = by_load(seen, Scenario::Cpu);
    let several = groups.len() > 1;
    for group in &groups {
        let Some((event, sync)) = best_event_and_sync(group) else {
            continue;
        };
        let r = event.rate() / sync.rate().max(f64::MIN_POSITIVE);
        let verdict = if (0.8..=1.25).contains(&r) {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        };
        let mut text = format!(
            "Seed conclusion 4 (on CPU work, sync and async reach parity): {}{}. {}: a ratio of {}.",
            verdict.words(),
            at_load(group, several),
            event_against_sync(&event, &sync, ""),
            times(r)
        );
        if verdict == Verdict::Confirmed && event.p.bound == BoundKind::Cpu {
            text.push_str(" An event loop cannot overlap work that needs the CPU itself.");
        } else if let Some(reason) = cpu_reason(&event, &sync) {
            text.push_str(&format!(" Here {reason}."));
        }
        out.push(Finding {
            topic: Topic::SeedCpu,
            verdict: Some(verdict),
            text,
            cells: vec![event.id().to_string(), sync.id().to_string()],
        });
    }
}

/// Whether a surprise is a cell held by the CPU that left its CPU idle,
/// with no saturated generator to blame.
fn idle_cpu(s: &Seen) -> bool {
    s.p.bound == BoundKind::Cpu
        && s.p.ratio < 1.0
        && s.cell
            .summary
            .as_ref()
            .is_some_and(|x| !x.generator_saturated)
}

fn surprises(seen: &[Seen], out: &mut Vec<Finding>) {
    let all: Vec<Seen> = seen.iter().copied().filter(|s| s.p.surprise).collect();
    let idle: Vec<Seen> = all.iter().copied().filter(idle_cpu).collect();
    if !idle.is_empty() {
        let parts: Vec<String> = idle
            .iter()
            .map(|s| {
                let summary = s
                    .cell
                    .summary
                    .as_ref()
                    .expect("a prediction needs a summary");
                format!(
                    "{} {} ({} of {}; server {:.0}% of a core, generator {:.0}% busy)",
                    s.id(),
                    rate(s.rate()),
                    times(s.p.ratio),
                    s.p.formula,
                    summary.server_cpu_pct,
                    summary.generator_busy * 100.0
                )
            })
            .collect();
        out.push(Finding {
            topic: Topic::Surprise,
            verdict: None,
            text: format!(
                "{} measured well below the CPU ceiling the model gives {}, though neither the server's CPU nor the load generator's was saturated: {}. The model counts only the server's own CPU time; the rest of each round trip held {} back: the generator's work, the loopback path, waking each side on its CPU, or other processes on the same CPUs.",
                if idle.len() == 1 { "A cell" } else { "These cells" },
                if idle.len() == 1 { "it" } else { "them" },
                parts.join("; "),
                if idle.len() == 1 { "it" } else { "them" },
            ),
            cells: ids(&idle),
        });
    }
    for s in all.iter().filter(|s| !idle_cpu(s)) {
        let summary = s
            .cell
            .summary
            .as_ref()
            .expect("a prediction needs a summary");
        let mut text = format!(
            "{} is a surprise: {} is {} the model's {} ({}).",
            s.id(),
            rate(s.rate()),
            times(s.p.ratio),
            rate(s.p.predicted_per_s),
            s.p.because
        );
        if summary.generator_saturated {
            text.push_str(" The load generator was saturated, so the rate is the generator's.");
        } else if s.p.ratio > 1.0 {
            text.push_str(" It did better than its configuration allows: the stack does not work as its concurrency model says, or the model's inputs are wrong.");
        } else if let (Some(p50), Some(p99)) = (summary.latency.at(50.0), summary.latency.at(99.0))
        {
            text.push_str(&format!(
                " The model expects each request to hold its slot {}; the median request took {} and the 99th percentile {}.",
                seconds(s.p.inputs.wait_ms / 1e3 + s.cpu_us().unwrap_or(0.0) / 1e6),
                micros(p50 as f64),
                micros(p99 as f64)
            ));
        }
        if summary.failed_requests > 0 {
            text.push_str(&format!(
                " {} failed.",
                count(summary.failed_requests, "request", "requests")
            ));
        }
        out.push(Finding {
            topic: Topic::Surprise,
            verdict: None,
            text,
            cells: vec![s.id().to_string()],
        });
    }
}

/// Failures by kind in words: `44 timeouts, 2 read errors, 3 HTTP 500`.
fn error_kinds(errors: &framewut_load::Errors) -> String {
    let mut parts = Vec::new();
    for (n, one, many) in [
        (errors.connect, "connect error", "connect errors"),
        (errors.read, "read error", "read errors"),
        (errors.write, "write error", "write errors"),
        (errors.timeout, "timeout", "timeouts"),
        (errors.parse, "unparsable response", "unparsable responses"),
    ] {
        if n > 0 {
            parts.push(count(n, one, many));
        }
    }
    for (status, n) in &errors.status {
        parts.push(format!("{n} x HTTP {status}"));
    }
    parts.join(", ")
}

fn errors(results: &Results, out: &mut Vec<Finding>) {
    for cell in &results.cells {
        let Some(summary) = &cell.summary else {
            continue;
        };
        if summary.failed_requests == 0 {
            continue;
        }
        let mut text = format!(
            "{}: {} of {} failed ({}).",
            cell.id,
            count(summary.failed_requests, "request", "requests"),
            summary.requests + summary.failed_requests,
            error_kinds(&summary.errors)
        );
        let spec = &cell.config;
        if model_of(spec) == Some(Model::SyncPool) && spec.load.connections > spec.stack.workers {
            text.push_str(&format!(
                " A sync pool serves one connection at a time per worker, so {} of the {} connections waited for a worker to be free, as with gunicorn's sync worker.",
                spec.load.connections - spec.stack.workers,
                spec.load.connections
            ));
        }
        out.push(Finding {
            topic: Topic::Errors,
            verdict: None,
            text,
            cells: vec![cell.id.clone()],
        });
    }
}

fn generator(seen: &[Seen], out: &mut Vec<Finding>) {
    let saturated: Vec<Seen> = seen
        .iter()
        .copied()
        .filter(|s| {
            s.cell
                .summary
                .as_ref()
                .is_some_and(|x| x.generator_saturated)
        })
        .collect();
    if saturated.is_empty() {
        return;
    }
    let list: Vec<String> = saturated
        .iter()
        .map(|s| format!("{} ({})", s.id(), rate(s.rate())))
        .collect();
    out.push(Finding {
        topic: Topic::Generator,
        verdict: None,
        text: format!(
            "The load generator was over 90% busy in {}: {}. Those rates say more about the generator than the servers; give it more cores (--load-cpus).",
            count(saturated.len() as u64, "cell", "cells"),
            list.join(", ")
        ),
        cells: ids(&saturated),
    });
}
