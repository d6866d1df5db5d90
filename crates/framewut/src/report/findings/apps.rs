//! Findings for the matrix's own scenarios, the endpoints of a user's app:
//! which server and worker class led each, by how much and how sure, what
//! held each one, where one starved connections or failed requests, and a
//! recommendation stated with the conditions it holds under.

use std::collections::BTreeMap;

use super::{at_load, ids, Finding, Seen, Topic};
use crate::format::{count, rate, seconds, times};
use crate::report::evidence::replicate_rates;
use crate::report::noise::trial_rates;
use crate::spec::ScenarioSpec;
use crate::stats::Welch;

/// Below this p-value (Welch's t-test on the two cells' replicates) the
/// leader's lead is told as a lead; above it, as a tie.
const LEADS_BELOW: f64 = 0.05;

/// One scenario of the matrix's own at one load, its cells fastest first.
struct Race<'a> {
    scenario: String,
    cells: Vec<Seen<'a>>,
    several_loads: bool,
}

/// How the leader stands against the runner-up.
struct Lead {
    /// leader / runner-up.
    ratio: f64,
    /// The difference in req/s, and the half-width of its 95% interval.
    difference: f64,
    ci: Option<f64>,
    p: Option<f64>,
    /// What the test's replicates were.
    between: &'static str,
}

impl Lead {
    /// How `first` stands against `second`, tested on their replicates.
    fn of(first: &Seen, second: &Seen) -> Lead {
        let starts = |s: &Seen| replicate_rates(s.cell);
        let (a, b, between) = if starts(first).len() > 1 && starts(second).len() > 1 {
            (
                starts(second),
                starts(first),
                "between starts of each server",
            )
        } else {
            (
                trial_rates(second.cell),
                trial_rates(first.cell),
                "between trials of one start each, so a second run may differ more",
            )
        };
        let welch = Welch::test(&a, &b);
        Lead {
            ratio: first.rate() / second.rate().max(f64::MIN_POSITIVE),
            difference: first.rate() - second.rate(),
            ci: welch.as_ref().map(|w| w.ci95()),
            p: welch.map(|w| w.p),
            between,
        }
    }
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
    let mut leaders: Vec<(String, Vec<String>)> = Vec::new();
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
        let mut tied = vec![first.label().to_string()];
        match ranked.get(1) {
            Some(second) => {
                let lead = Lead::of(&first, second);
                let interval = lead.ci.map_or(String::new(), |c| {
                    format!(" ± {} (95%, {})", rate(c), lead.between)
                });
                text.push_str(&format!(
                    ", {} {}'s {}: ahead by {}{interval}",
                    times(lead.ratio),
                    second.label(),
                    rate(second.rate()),
                    rate(lead.difference),
                ));
                if !lead.p.is_some_and(|p| p < LEADS_BELOW) {
                    tied.push(second.label().to_string());
                    text.push_str(&format!(
                        "; that lead is within the spread (Welch p = {:.2}), so the two tie",
                        lead.p.unwrap_or(1.0)
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
        leaders.push((format!("{}{at}", race.scenario), tied));
    }
    out.insert(0, recommend(&races, &leaders));
}

/// One recommendation for the whole run: the server that led most of the
/// endpoints, with the endpoints another led, and the conditions.
fn recommend(races: &[Race], leaders: &[(String, Vec<String>)]) -> Finding {
    let mut wins: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (scenario, tied) in leaders {
        for label in tied {
            wins.entry(label).or_default().push(scenario);
        }
    }
    let mut ranked: Vec<(&str, Vec<&str>)> = wins.into_iter().collect();
    ranked.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let (best, led) = &ranked[0];
    let all = leaders.len();
    let mut text = if led.len() == all {
        format!("Recommendation: run it under {best}, which led (or tied for the lead on) every endpoint measured: {}.", led.join(", "))
    } else {
        let others: Vec<String> = ranked[1..]
            .iter()
            .map(|(label, led)| format!("{label} on {}", led.join(", ")))
            .collect();
        format!(
            "Recommendation: {best} led (or tied for the lead on) {} of the {all} endpoints ({}); {} led elsewhere: {}. The choice turns on which endpoints carry your traffic.",
            led.len(),
            led.join(", "),
            if others.len() == 1 { "another" } else { "others" },
            others.join("; ")
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
