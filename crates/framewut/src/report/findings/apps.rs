//! Findings for the matrix's own scenarios, the endpoints of a user's app:
//! which server and worker class led each, by how much and how sure, what
//! held each one, where one starved connections or failed requests, and a
//! recommendation stated with the conditions it holds under.

use std::collections::BTreeMap;

use super::{at_load, ids, Finding, Seen, Topic};
use crate::format::{and_list, count, rate, seconds, times};
use crate::report::noise::noise;
use crate::spec::ScenarioSpec;

/// One scenario of the matrix's own at one load, its cells fastest first.
struct Race<'a> {
    scenario: String,
    cells: Vec<Seen<'a>>,
    several_loads: bool,
}

/// A cell's mean rate with the half-width of its 95% interval, as the
/// report's glance and spread table give it.
fn with_noise(s: &Seen) -> (f64, f64) {
    (s.rate(), noise(s.cell).map_or(0.0, |n| n.per_s))
}

/// Whether the trials cannot tell `a` and `b` apart: their rates lie within
/// each other's 95% intervals (the glance's test, so the page agrees).
fn level(a: &Seen, b: &Seen) -> bool {
    let ((ra, na), (rb, nb)) = (with_noise(a), with_noise(b));
    (ra - rb).abs() <= na + nb
}

/// `1,390 ± 96 req/s`.
fn rate_pm(s: &Seen) -> String {
    let (r, n) = with_noise(s);
    format!("{} ± {}", rate(r), rate(n))
}

/// A race's scenario, and its load as [`Seen::load_key`] gives it.
type RaceKey = (String, (String, usize, String));

/// The custom scenarios' cells, grouped by scenario and load, fastest first.
fn races<'a>(seen: &[Seen<'a>]) -> Vec<Race<'a>> {
    let mut groups: BTreeMap<RaceKey, Vec<Seen>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for s in seen {
        let ScenarioSpec::Custom(custom) = &s.cell.config.scenario else {
            continue;
        };
        if !order.contains(&custom.label) {
            order.push(custom.label.clone());
        }
        groups
            .entry((custom.label.clone(), s.load_key()))
            .or_default()
            .push(*s);
    }
    let mut out = Vec::new();
    for name in order {
        let loads = groups.keys().filter(|(n, _)| *n == name).count();
        for ((n, _), cells) in groups.iter().filter(|((n, _), _)| *n == name) {
            let mut cells = cells.clone();
            cells.sort_by(|a, b| b.rate().total_cmp(&a.rate()));
            out.push(Race {
                scenario: n.clone(),
                cells,
                several_loads: loads > 1,
            });
        }
    }
    out
}

/// What held one cell, in words: the model's bound with the rate, the
/// server's user CPU per request where the run split it, and its profile's
/// hottest frame where one was recorded.
fn held(s: &Seen) -> String {
    let mut text = s.explained(false);
    if let Some(user) = s.b.and_then(|b| b.server.user_us) {
        text.push_str(&format!(
            ", {} of its own CPU (user) per request",
            seconds(user / 1e6)
        ));
    }
    if let Some(frame) = s.cell.profile.as_ref().and_then(|p| p.top.first()) {
        text.push_str(&format!(
            ", hottest frame {} ({:.0}% of its samples)",
            frame.name,
            100.0 * frame.self_share
        ));
    }
    text
}

/// Where a cell's stack left connections unanswered or failed requests.
fn trouble(s: &Seen) -> Option<String> {
    let summary = s.cell.summary.as_ref()?;
    let silent = summary.silent_connections.unwrap_or(0);
    let failed = summary.failed_requests;
    if silent == 0 && failed == 0 {
        return None;
    }
    let mut parts = Vec::new();
    if silent > 0 {
        parts.push(format!(
            "left {} of its {} connections without an answer in a trial",
            silent, s.cell.config.load.connections
        ));
    }
    if failed > 0 {
        parts.push(format!("failed {}", count(failed, "request", "requests")));
    }
    Some(format!("{} {}", s.label(), parts.join(" and ")))
}

/// A finding per custom scenario and load: the leader, its lead with the
/// interval, what held every cell, and the troubles; then the
/// recommendation, first of all the findings.
pub(super) fn apps(seen: &[Seen], out: &mut Vec<Finding>) {
    let races = races(seen);
    if races.is_empty() {
        return;
    }
    let mut leaders: Vec<Leaders> = Vec::new();
    for race in &races {
        let at = at_load(&race.cells, race.several_loads);
        // A server that left connections unanswered or failed requests is
        // not one to recommend for the endpoint, however fast.
        let clean: Vec<Seen> = race
            .cells
            .iter()
            .filter(|s| trouble(s).is_none())
            .copied()
            .collect();
        let ranked = if clean.is_empty() {
            &race.cells
        } else {
            &clean
        };
        let first = ranked[0];
        let mut text = format!(
            "{}{at}: {} led with {}",
            race.scenario,
            first.label(),
            rate(first.rate())
        );
        if clean.len() < race.cells.len() && !clean.is_empty() {
            text = format!(
                "{}{at}: of the servers that answered every connection without failing, {} led with {}",
                race.scenario,
                first.label(),
                rate(first.rate())
            );
        }
        let mut tied = Vec::new();
        match ranked.get(1) {
            Some(second) => {
                text.push_str(&format!(
                    " ± {}, {} {}'s {}",
                    rate(with_noise(&first).1),
                    times(first.rate() / second.rate().max(f64::MIN_POSITIVE)),
                    second.label(),
                    rate_pm(second),
                ));
                tied = ranked[1..]
                    .iter()
                    .filter(|other| level(&first, other))
                    .map(|other| other.label().to_string())
                    .collect();
                if !tied.is_empty() {
                    text.push_str(&format!(
                        "; the 95% intervals cannot tell {} from it, so they tie",
                        and_list(&tied)
                    ));
                }
            }
            None => text.push_str(", the only server measured that answered every connection"),
        }
        text.push_str(". What held each: ");
        let held: Vec<String> = race.cells.iter().map(held).collect();
        text.push_str(&held.join("; "));
        text.push('.');
        let troubles: Vec<String> = race.cells.iter().filter_map(trouble).collect();
        if !troubles.is_empty() {
            text.push_str(&format!(
                " Under this load {}: a rate counts only the connections that were answered.",
                troubles.join("; ")
            ));
        }
        out.push(Finding {
            topic: Topic::Apps,
            verdict: None,
            text,
            cells: ids(&race.cells),
        });
        leaders.push(Leaders {
            endpoint: format!("{}{at}", race.scenario),
            leader: first.label().to_string(),
            tied,
        });
    }
    out.insert(0, recommend(&races, &leaders));
}

/// Who led one endpoint, and who tied with it.
struct Leaders {
    endpoint: String,
    leader: String,
    tied: Vec<String>,
}

impl Leaders {
    fn holds(&self, label: &str) -> bool {
        self.leader == label || self.tied.iter().any(|t| t == label)
    }

    /// `quote (tied with a and b)`, or `quote, where a led (tied with b)`
    /// when `label` is not the leader.
    fn words(&self, label: Option<&str>) -> String {
        let others: Vec<&str> = std::iter::once(self.leader.as_str())
            .chain(self.tied.iter().map(String::as_str))
            .filter(|l| Some(*l) != label)
            .collect();
        match (label, others.as_slice()) {
            (Some(_), []) => self.endpoint.clone(),
            (Some(_), others) => format!("{} (tied with {})", self.endpoint, and_list(others)),
            (None, [leader]) => format!("on {} {leader} led", self.endpoint),
            (None, [leader, rest @ ..]) => format!(
                "on {} {leader} led, tied with {}",
                self.endpoint,
                and_list(rest)
            ),
            (None, []) => unreachable!("an endpoint has a leader"),
        }
    }
}

/// One recommendation for the whole run: the server that led or tied for
/// the lead on most endpoints, the endpoints others led, the servers left
/// out for starving connections, and the conditions it holds under.
fn recommend(races: &[Race], leaders: &[Leaders]) -> Finding {
    let mut labels: Vec<&str> = leaders
        .iter()
        .flat_map(|l| std::iter::once(l.leader.as_str()).chain(l.tied.iter().map(String::as_str)))
        .collect();
    labels.sort_unstable();
    labels.dedup();
    let score = |label: &str| {
        (
            leaders.iter().filter(|l| l.holds(label)).count(),
            leaders.iter().filter(|l| l.leader == label).count(),
        )
    };
    let best = labels
        .iter()
        .copied()
        .max_by(|a, b| score(a).cmp(&score(b)).then(b.cmp(a)))
        .expect("a race has a leader");
    let (held, rest): (Vec<&Leaders>, Vec<&Leaders>) = leaders.iter().partition(|l| l.holds(best));
    let held_words: Vec<String> = held.iter().map(|l| l.words(Some(best))).collect();
    let mut text = if rest.is_empty() {
        format!(
            "Recommendation: run it under {best}, which led or tied for the lead on every endpoint measured: {}.",
            held_words.join("; ")
        )
    } else {
        let rest_words: Vec<String> = rest.iter().map(|l| l.words(None)).collect();
        format!(
            "Recommendation: {best} led or tied for the lead on {} of the {} endpoints: {}. Elsewhere {}: which server to choose turns on which endpoints carry your traffic.",
            held.len(),
            leaders.len(),
            held_words.join("; "),
            rest_words.join("; ")
        )
    };
    let mut troubled: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for race in races {
        for s in race.cells.iter().filter(|s| trouble(s).is_some()) {
            troubled.entry(s.label()).or_default().push(&race.scenario);
        }
    }
    if !troubled.is_empty() {
        let list: Vec<String> = troubled
            .iter()
            .map(|(label, on)| format!("{label} on {}", on.join(", ")))
            .collect();
        text.push_str(&format!(
            " Left out of the lead where they left connections unanswered or failed requests: {}.",
            list.join("; ")
        ));
    }
    let cell = &races[0].cells[0].cell.config;
    let connections: Vec<usize> = {
        let mut c: Vec<usize> = races
            .iter()
            .flat_map(|r| r.cells.iter().map(|s| s.cell.config.load.connections))
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let conns: Vec<String> = connections.iter().map(usize::to_string).collect();
    let cores = races[0].cells[0].p.inputs.cores;
    text.push_str(&format!(
        " This holds on these endpoints, at {} connections, with {} per server, on {} of this machine; other loads, worker counts or cores can change the order.",
        conns.join(" and "),
        count(cell.stack.workers as u64, "worker", "workers"),
        count(cores, "server core", "server cores"),
    ));
    Finding {
        topic: Topic::Recommendation,
        verdict: None,
        text,
        cells: races.iter().flat_map(|r| ids(&r.cells)).collect(),
    }
}
