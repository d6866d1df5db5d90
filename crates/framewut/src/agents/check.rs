//! Whether a set of agents' results are the agents of one load: the same
//! target and plan, each segment once, each share what its segment says.

use std::collections::{BTreeMap, BTreeSet};

use framewut_load::{Rate, Segment, SegmentSummary, Summary};

use super::AgentResult;

/// An agent's request list as one line, to compare agents by.
pub(super) fn request_list(s: &Summary) -> String {
    if s.targets.is_empty() {
        return "one URL".to_string();
    }
    let entries: Vec<String> = s
        .targets
        .iter()
        .map(|t| format!("{} {}", t.method, t.url))
        .collect();
    format!("the list [{}]", entries.join(", "))
}

/// Everything that keeps `agents` from being the agents of one load.
pub(super) fn check(agents: &[AgentResult]) -> Vec<String> {
    let mut problems = Vec::new();
    // Agents grouped by one value (those without it left out); more than
    // one group is a problem.
    let mut differ = |what: &str, value: &dyn Fn(&Summary) -> Option<String>| {
        let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for a in agents {
            if let Some(v) = value(&a.summary) {
                groups.entry(v).or_default().push(&a.source);
            }
        }
        if groups.len() > 1 {
            let parts: Vec<String> = groups
                .iter()
                .map(|(v, sources)| format!("{v} in {}", sources.join(", ")))
                .collect();
            problems.push(format!("different {what}: {}", parts.join("; ")));
        }
    };
    differ("targets", &|s| Some(s.plan.url.clone()));
    differ("methods", &|s| Some(s.plan.method.clone()));
    differ("request lists", &|s| Some(request_list(s)));
    differ("pacings", &|s| Some(format!("{} loop", s.plan.pacing)));
    differ("stops", &|s| {
        Some(
            s.plan
                .duration_s
                .map_or("a request count".to_string(), |d| {
                    format!("a duration of {d}s")
                }),
        )
    });
    differ("warm-ups", &|s| Some(format!("{}s", s.plan.warmup_s)));
    differ("timeouts", &|s| Some(format!("{}s", s.plan.timeout_s)));
    differ("pipeline depths", &|s| Some(s.plan.pipeline.to_string()));
    differ("protocols", &|s| Some(s.plan.protocol.clone()));
    differ("streams per connection", &|s| {
        s.plan.http2.map(|h| h.streams.to_string())
    });
    differ("agent counts", &|s| {
        s.segment.map(|g| format!("{} agents", g.count))
    });
    differ("whole loads", &|s| {
        s.segment.map(|g| {
            let (connections, rate, requests) = whole_of(g);
            format!(
                "{connections} connections{}{}",
                rate.map_or(String::new(), |r| format!(" at {r} req/s")),
                requests.map_or(String::new(), |n| format!(" for {n} requests"))
            )
        })
    });

    let mut seen: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for a in agents {
        let s = &a.summary;
        let Some(g) = s.segment else {
            problems.push(format!(
                "{} is not an agent's result (it has no segment): run each agent with \
                 --segment I/N",
                a.source
            ));
            continue;
        };
        seen.entry(g.index).or_default().push(&a.source);
        if let Some(p) = share_problem(s, g) {
            problems.push(format!("{}: {p}", a.source));
        }
    }
    for (index, sources) in &seen {
        if sources.len() > 1 {
            problems.push(format!(
                "segment {index} appears {} times ({}): give each agent's result once",
                sources.len(),
                sources.join(", ")
            ));
        }
    }
    let counts: BTreeSet<u32> = agents
        .iter()
        .filter_map(|a| a.summary.segment.map(|g| g.count))
        .collect();
    if let [count] = counts.iter().copied().collect::<Vec<_>>()[..] {
        let missing: Vec<String> = (0..count)
            .filter(|i| !seen.contains_key(i))
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "segments missing: {} (of {count} agents); give every agent's result",
                missing.join(", ")
            ));
        }
    }
    problems
}

/// What is wrong with an agent's plan as the share its segment says it is.
fn share_problem(s: &Summary, g: SegmentSummary) -> Option<String> {
    let segment = Segment::new(g.index, g.count).ok()?;
    let connections = segment.share(g.whole_connections as u64) as usize;
    if s.plan.connections != connections {
        return Some(format!(
            "segment {segment} of {} connections should have {connections}, it ran {}",
            g.whole_connections, s.plan.connections
        ));
    }
    if let (Some(whole), Some(n)) = (g.whole_stop_requests, s.plan.stop_requests) {
        if n != segment.share(whole) {
            return Some(format!(
                "segment {segment} of {whole} requests should run {}, it ran {n}",
                segment.share(whole)
            ));
        }
    }
    if let (Some(whole), Some(rate)) = (g.whole_rate.and_then(Rate::per_second), s.plan.rate) {
        let share = segment.share_rate(whole).map_or(0.0, Rate::get);
        if share != rate {
            return Some(format!(
                "segment {segment} of {} req/s should run at {share} req/s, it ran at {rate}",
                whole.get()
            ));
        }
    }
    (s.plan.pacing == "open" && g.whole_rate.is_none())
        .then(|| format!("segment {segment} ran open loop but records no whole rate"))
}

/// The whole load a segment is a share of.
pub(super) fn whole_of(g: SegmentSummary) -> (usize, Option<f64>, Option<u64>) {
    (g.whole_connections, g.whole_rate, g.whole_stop_requests)
}
