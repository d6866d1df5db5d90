//! The seed's four conclusions, judged on the cells a run holds: on hello
//! an event loop beats the sync worker; on sleep only a cooperative sleep
//! helps; on an upstream call the client matters, not the server; on CPU
//! work sync and async reach parity.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use framewut_stacks::{Model, Scenario};

use super::{at_load, best, by_load, costs, ids, worst, Family, Finding, Seen, Topic, Verdict};
use crate::format::{micros, rate, times};
use crate::model::{BoundKind, Waiting};
use crate::python::{find_python_stack, AppServer, Server, UpstreamClient};
use crate::spec::{CellSpec, ScenarioVariant, StackSource};

/// Conclusion 1 holds when the best event loop answers at least this many
/// times the best sync stack's rate ("an order of magnitude")...
const HELLO_CONFIRMED: f64 = 10.0;
/// ...and partly when at least this many times.
const HELLO_PARTLY: f64 = 1.5;
/// Conclusion 2 needs the cooperative sleep at least this many times the
/// blocking one's rate...
const SLEEP_HELPS: f64 = 2.0;
/// ...and is only partly true when another way (offload, a thread per
/// connection) reaches at least this share of the cooperative rate.
const SLEEP_ALSO_HELPS: f64 = 0.5;
/// In conclusion 3, a ratio between two cells at least this large means the
/// change between them matters.
const UPSTREAM_MATTERS: f64 = 1.5;
/// Conclusion 4 holds when event loop and sync stack stay within this ratio.
const CPU_PARITY: RangeInclusive<f64> = 0.8..=1.25;
/// Two cells' CPU costs per request differ when apart by more than this share.
const COST_DIFFERS: f64 = 0.15;

/// A cell's reference figure in words, `823.69 req/s`, when its matrix gave one.
fn reference(s: &Seen) -> Option<String> {
    s.cell
        .config
        .reference
        .as_ref()
        .map(|r| rate(r.requests_per_s))
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
        event.why(),
        sync.label(),
        rate(sync.rate()),
        sync.why(),
    )
}

/// Why two cells held by the CPU differ: what a request costs each, or how
/// busy each kept its cores. None unless both are held by the CPU.
fn cpu_reason(a: &Seen, b: &Seen) -> Option<String> {
    if a.p.bound != BoundKind::Cpu || b.p.bound != BoundKind::Cpu {
        return None;
    }
    let (ca, cb) = (a.spent_us()?, b.spent_us()?);
    let costs = format!(
        "{} spent {} of server CPU per request and {} {}",
        a.label(),
        micros(ca),
        b.label(),
        micros(cb)
    );
    let (busy_a, busy_b) = (a.server_cpu_pct(), b.server_cpu_pct());
    Some(if (ca / cb - 1.0).abs() > COST_DIFFERS {
        format!("{costs}, so the gap is mostly what a request costs")
    } else if (busy_a / busy_b.max(f64::MIN_POSITIVE) - 1.0).abs() > COST_DIFFERS {
        format!(
            "{costs}, about the same, so the gap is how busy each kept its CPU: {busy_a:.0}% against {busy_b:.0}% of a core"
        )
    } else {
        format!(
            "{costs}, about the same, as was how busy each kept its CPU ({busy_a:.0}% against {busy_b:.0}% of a core): the gap is these two small differences together ({:.2}x from the CPU a request cost, {:.2}x from the share of a core kept busy)",
            cb / ca,
            busy_a / busy_b.max(f64::MIN_POSITIVE)
        )
    })
}

/// The two cells' requests in parts, and where the slower one's differs:
/// ` Per request, A's server spent ...; B's ...: most of the difference is
/// in user mode (+54 µs).`; empty unless both were taken apart.
fn in_parts(fast: &Seen, slow: &Seen) -> String {
    let (Some(fb), Some(sb)) = (fast.b, slow.b) else {
        return String::new();
    };
    let mut text = format!(
        " Per request, {}'s server spent {}; {}'s {}",
        fast.label(),
        costs::parts(fb),
        slow.label(),
        costs::parts(sb)
    );
    if let Some(diff) = costs::difference(fb, sb) {
        text.push_str(&format!(": {diff}"));
    }
    text.push('.');
    text
}

pub(super) fn hello(seen: &[Seen], out: &mut Vec<Finding>) {
    let groups = by_load(seen, Scenario::Hello);
    let several = groups.len() > 1;
    for group in &groups {
        let Some((event, sync)) = best_event_and_sync(group) else {
            continue;
        };
        let r = event.rate() / sync.rate().max(f64::MIN_POSITIVE);
        let verdict = if r >= HELLO_CONFIRMED {
            Verdict::Confirmed
        } else if r >= HELLO_PARTLY {
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
                let figure = reference(&sync).map_or(String::new(), |r| format!(" ({r})"));
                text.push_str(&format!(" The seed's sync worker closed the connection after every response{figure}; this sync stack keeps connections alive."));
            }
            if let Some(reason) = cpu_reason(&event, &sync) {
                text.push_str(&format!(" Both are held by the CPU: {reason}."));
            }
        }
        let (fast, slow) = if event.rate() >= sync.rate() {
            (&event, &sync)
        } else {
            (&sync, &event)
        };
        text.push_str(&in_parts(fast, slow));
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
        StackSource::App { server, .. } => *server == AppServer::GunicornSync,
        StackSource::External { .. } | StackSource::Remote { .. } => false,
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

pub(super) fn sleep(seen: &[Seen], out: &mut Vec<Finding>) {
    let cells: Vec<Seen> = seen
        .iter()
        .copied()
        .filter(|s| s.cell.config.scenario.is(Scenario::Sleep))
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
        let helps = |s: &Seen| s.rate() >= SLEEP_ALSO_HELPS * coop.rate();
        let others: Vec<Seen> = [offload, blocking.filter(|b| b.id() != blocked.id())]
            .into_iter()
            .flatten()
            .filter(helps)
            .collect();
        let verdict = if r < SLEEP_HELPS {
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
            blocked.why()
        );
        for other in &others {
            text.push_str(&format!(
                " But {} also reached {} without a cooperative sleep ({}), so waiting cooperatively is one way to overlap the waits, not the only one.",
                other.label(),
                rate(other.rate()),
                other.why()
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
    match spec.variant() {
        Some(ScenarioVariant::PythonClient(client)) => match client {
            UpstreamClient::Fresh => "a new client per call (fresh connections)".to_string(),
            UpstreamClient::Session => "a pooled session".to_string(),
            UpstreamClient::Futures => "requests-futures (a pooled session)".to_string(),
        },
        Some(ScenarioVariant::Upstream(v)) => {
            let conn = if spec.fresh_connections() {
                "fresh connections"
            } else {
                "pooled connections"
            };
            format!("{} client, {conn}", v.client)
        }
        _ => "the stack's own client".to_string(),
    }
}

/// The upstream client library, whatever its connections: `blocking`,
/// `async`, `offload`, or `requests` for the Python stacks.
fn client_of(s: &Seen) -> String {
    match s.cell.config.variant() {
        Some(ScenarioVariant::Upstream(v)) => v.client.to_string(),
        Some(ScenarioVariant::PythonClient(_)) => "requests".to_string(),
        _ => String::new(),
    }
}

/// The seed's figures for the step from a fresh connection per call to a
/// pooled client, from these cells' references: ` (110 req/s to 252 req/s)`,
/// or nothing when the matrix gave none.
fn seed_step(fresh: &Seen, pooled: &Seen) -> String {
    match (reference(fresh), reference(pooled)) {
        (Some(from), Some(to)) => format!(" ({from} to {to})"),
        _ => String::new(),
    }
}

/// Per stack, a fresh-connection cell and a pooled one with the same client:
/// what pooling alone changes.
fn pooling_alone<'a>(by_stack: &BTreeMap<String, Vec<Seen<'a>>>) -> Vec<(Seen<'a>, Seen<'a>)> {
    by_stack
        .values()
        .filter_map(|cells| {
            cells.iter().find_map(|fresh| {
                if !fresh.cell.config.fresh_connections() {
                    return None;
                }
                cells
                    .iter()
                    .find(|p| {
                        !p.cell.config.fresh_connections() && client_of(p) == client_of(fresh)
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

pub(super) fn upstream<'a>(seen: &[Seen<'a>], out: &mut Vec<Finding>) {
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
                    .filter(|s| !s.cell.config.fresh_connections())
                    .collect(),
            )
            .map(|found| (found, false)),
        };
        let rc = client.as_ref().map(|c| c.0);
        let rs = server.as_ref().map(|s| s.0 .0);
        let verdict = match (rc, rs) {
            (Some(rc), Some(rs)) if rc >= UPSTREAM_MATTERS && rs < UPSTREAM_MATTERS => {
                Verdict::Confirmed
            }
            (Some(rc), _) if rc >= UPSTREAM_MATTERS => Verdict::Partly,
            (Some(_), _) => Verdict::Refuted,
            (None, Some(rs)) if rs < UPSTREAM_MATTERS => Verdict::Confirmed,
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
            if lo.cell.config.fresh_connections() && !hi.cell.config.fresh_connections() {
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
                if lo.cell.config.fresh_connections()
                    && !hi.cell.config.fresh_connections()
                    && client_of(lo) == client_of(hi)
                {
                    text.push_str(&format!(
                        " That is the seed's requests to requests-futures step{}: pooling, not asynchrony.",
                        seed_step(lo, hi)
                    ));
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
            let (fresh, pooled) = pooling[0];
            text.push_str(&format!(
                " Pooling connections alone, with the same client, took {}: the seed's requests to requests-futures step{}, {}.",
                parts.join(", "),
                seed_step(&fresh, &pooled),
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
                hi.why(),
                lo.label(),
                rate(lo.rate()),
                lo.why(),
                times(*rs)
            ));
            if *rs >= UPSTREAM_MATTERS && lo.p.bound == BoundKind::Workers {
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

pub(super) fn cpu(seen: &[Seen], out: &mut Vec<Finding>) {
    let groups = by_load(seen, Scenario::Cpu);
    let several = groups.len() > 1;
    for group in &groups {
        let Some((event, sync)) = best_event_and_sync(group) else {
            continue;
        };
        let r = event.rate() / sync.rate().max(f64::MIN_POSITIVE);
        let verdict = if CPU_PARITY.contains(&r) {
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
        let (fast, slow) = if event.rate() >= sync.rate() {
            (&event, &sync)
        } else {
            (&sync, &event)
        };
        text.push_str(&in_parts(fast, slow));
        out.push(Finding {
            topic: Topic::SeedCpu,
            verdict: Some(verdict),
            text,
            cells: vec![event.id().to_string(), sync.id().to_string()],
        });
    }
}
