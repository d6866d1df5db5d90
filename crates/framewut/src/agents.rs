//! Merging the summaries of load agents (`framewut load --segment I/N`) into
//! the summary of the whole load, exactly: latency histograms are added
//! (never percentiles averaged), counts and errors summed, timelines lined up
//! by wall-clock second, and rates taken over the union of the agents'
//! windows.
//!
//! Agents of one load run the same flags with segments 0/N to N-1/N; a set
//! that does not fit together (another target, another plan, a segment twice
//! or missing) is refused, each problem named, unless the caller forces it.
//! `framewut merge` and `framewut k8s collect` both call [`merge`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use anyhow::{bail, Context};
use framewut_load::{
    decode_histogram, new_histogram, rfc3339, AgentSummary, AgentsSummary, CpuSummary, Errors,
    Histogram, LatencySummary, PlanSummary, Rate, Second, Segment, SegmentSummary, Stats,
    StatusClasses, Summary, TargetSummary, Threshold, ThresholdResult, TlsSummary, WindowSummary,
    SUMMARY_SCHEMA,
};

/// One agent's summary and where it was read from (a file, a pod).
#[derive(Debug, Clone)]
pub struct AgentResult {
    pub source: String,
    pub summary: Summary,
}

/// Why a set of agents was not merged: every problem found, each saying
/// which agents it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub problems: Vec<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "these results are not the agents of one load:")?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        write!(
            f,
            "Merge only the results of agents run with the same flags and --segment 0/N to \
             N-1/N, or give --force to merge them anyway (the refusals are kept in agents.forced)"
        )
    }
}

impl std::error::Error for Refusal {}

/// Reads every summary in `text`: one JSON document, several concatenated,
/// or one per line. Each gets `source` as its name, numbered when there are
/// several.
pub fn parse_documents(text: &str, source: &str) -> anyhow::Result<Vec<AgentResult>> {
    let mut summaries = Vec::new();
    for (i, doc) in serde_json::Deserializer::from_str(text)
        .into_iter::<Summary>()
        .enumerate()
    {
        let summary = doc.with_context(|| {
            format!(
                "{source}: document {} is not a `framewut load --json` result",
                i + 1
            )
        })?;
        summaries.push(summary);
    }
    if summaries.is_empty() {
        bail!("{source}: no `framewut load --json` result in it");
    }
    let several = summaries.len() > 1;
    Ok(summaries
        .into_iter()
        .enumerate()
        .map(|(i, summary)| AgentResult {
            source: if several {
                format!("{source} #{}", i + 1)
            } else {
                source.to_string()
            },
            summary,
        })
        .collect())
}

/// Merges agents' summaries into the summary of the whole load. Refuses a
/// set that is not the agents of one load unless `force`, in which case the
/// refusals are recorded in `agents.forced`. An error of another kind (no
/// agents, a histogram that does not decode) cannot be forced.
pub fn merge(agents: &[AgentResult], force: bool) -> anyhow::Result<Summary> {
    if agents.is_empty() {
        bail!("no agents to merge: give their `framewut load --json` results");
    }
    let problems = check(agents);
    if !problems.is_empty() && !force {
        return Err(Refusal { problems }.into());
    }
    let summaries: Vec<&Summary> = agents.iter().map(|a| &a.summary).collect();
    let first = summaries[0];

    let windows: Option<Vec<(f64, f64)>> = summaries
        .iter()
        .map(|s| s.window.as_ref().map(|w| (w.start_unix_s, w.end_unix_s)))
        .collect();
    let elapsed_s = match &windows {
        Some(w) => union_length(w),
        // Without wall-clock windows (summaries older than framewut-load/3,
        // merged by force) the agents are taken to have run side by side.
        None => summaries.iter().map(|s| s.elapsed_s).fold(0.0, f64::max),
    };
    let per_second = |n: u64| {
        if elapsed_s > 0.0 {
            n as f64 / elapsed_s
        } else {
            0.0
        }
    };
    let sum = |f: fn(&Summary) -> u64| summaries.iter().map(|s| f(s)).sum::<u64>();

    let requests = sum(|s| s.requests);
    let responses = sum(|s| s.responses);
    let bytes = sum(|s| s.bytes);
    let mut errors = Errors::default();
    for s in &summaries {
        errors.merge(&s.errors);
    }
    let latency = add_histograms(agents, "latency", |s| Some(&s.latency))?;
    let with_unanswered = add_histograms(agents, "latency_with_unanswered", |s| {
        Some(&s.latency_with_unanswered)
    })?;
    let uncorrected = if summaries.iter().any(|s| s.latency_uncorrected.is_some()) {
        Some(add_histograms(agents, "latency_uncorrected", |s| {
            s.latency_uncorrected.as_ref()
        })?)
    } else {
        None
    };

    let tls = if summaries.iter().any(|s| s.tls.is_some()) {
        let handshakes = add_histograms(agents, "tls.handshake_latency", |s| {
            s.tls.as_ref().map(|t| &t.handshake_latency)
        })?;
        let first_tls = summaries.iter().find_map(|s| s.tls.as_ref());
        Some(TlsSummary {
            handshakes: summaries
                .iter()
                .filter_map(|s| s.tls.as_ref())
                .map(|t| t.handshakes)
                .sum(),
            resumptions: summaries
                .iter()
                .filter_map(|s| s.tls.as_ref())
                .map(|t| t.resumptions)
                .sum(),
            handshake_latency: LatencySummary::of(&handshakes),
            protocol: first_tls.and_then(|t| t.protocol.clone()),
            cipher_suite: first_tls.and_then(|t| t.cipher_suite.clone()),
        })
    } else {
        None
    };

    let targets = merge_targets(agents)?;

    let user_s: f64 = summaries.iter().map(|s| s.generator_cpu.user_s).sum();
    let system_s: f64 = summaries.iter().map(|s| s.generator_cpu.system_s).sum();
    let cpu_s = user_s + system_s;

    let whole_segment = summaries[0].segment.filter(|_| {
        summaries
            .iter()
            .all(|s| s.segment.map(whole_of) == first.segment.map(whole_of))
    });
    let plan = PlanSummary {
        url: first.plan.url.clone(),
        method: first.plan.method.clone(),
        connections: summaries.iter().map(|s| s.plan.connections).sum(),
        threads: summaries.iter().map(|s| s.plan.threads).sum(),
        pacing: first.plan.pacing.clone(),
        rate: match whole_segment {
            Some(seg) if seg.whole_rate.is_some() => seg.whole_rate,
            _ => {
                let rates: Vec<f64> = summaries.iter().filter_map(|s| s.plan.rate).collect();
                (!rates.is_empty()).then(|| rates.iter().sum())
            }
        },
        duration_s: first.plan.duration_s,
        stop_requests: first
            .plan
            .stop_requests
            .map(|_| summaries.iter().filter_map(|s| s.plan.stop_requests).sum()),
        warmup_s: first.plan.warmup_s,
        timeout_s: first.plan.timeout_s,
        pipeline: first.plan.pipeline,
        busy_poll_us: first.plan.busy_poll_us,
    };

    let earliest = windows
        .as_ref()
        .map(|w| w.iter().map(|(s, _)| *s).fold(f64::INFINITY, f64::min));
    let timeline = align_timelines(&summaries, earliest);
    let list: Vec<AgentSummary> = agents
        .iter()
        .map(|a| AgentSummary {
            source: a.source.clone(),
            host: a.summary.host.clone(),
            segment: a.summary.segment,
            window: a.summary.window.clone(),
            connections: a.summary.plan.connections,
            threads: a.summary.plan.threads,
            requests: a.summary.requests,
            requests_per_s: a.summary.requests_per_s,
            generator_cpu: a.summary.generator_cpu,
            saturated: a.summary.generator_saturated(),
        })
        .collect();
    let (start_spread_s, not_overlapping) = match &windows {
        Some(w) => (
            w.iter().map(|(s, _)| *s).fold(f64::NEG_INFINITY, f64::max) - earliest.unwrap_or(0.0),
            lone_windows(w),
        ),
        None => (0.0, Vec::new()),
    };
    let window = windows.as_ref().map(|w| {
        let start = earliest.unwrap_or(0.0);
        let end = w.iter().map(|(_, e)| *e).fold(f64::NEG_INFINITY, f64::max);
        let at = |t: f64| std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
        WindowSummary {
            start_unix_s: start,
            end_unix_s: end,
            start: rfc3339(at(start)),
            end: rfc3339(at(end)),
        }
    });

    let mut merged = Summary {
        schema: SUMMARY_SCHEMA.to_string(),
        plan,
        requests,
        elapsed_s,
        requests_per_s: per_second(requests),
        bytes,
        bytes_per_s: per_second(bytes),
        reconnects: sum(|s| s.reconnects),
        connections_opened: sum(|s| s.connections_opened),
        backlog: sum(|s| s.backlog),
        cancelled: summaries.iter().any(|s| s.cancelled),
        responses,
        status_errors_per_s: per_second(errors.status_total()),
        unanswered: sum(|s| s.unanswered),
        latency_with_unanswered: LatencySummary::of(&with_unanswered),
        silent_connections: sum(|s| s.silent_connections),
        errors,
        latency: LatencySummary::of(&latency),
        latency_uncorrected: uncorrected.as_ref().map(LatencySummary::of),
        thread_requests_per_s: pooled_thread_stats(&summaries),
        timeline,
        generator_cpu: CpuSummary {
            user_s,
            system_s,
            per_100k_requests_s: (responses > 0).then(|| cpu_s * 100_000.0 / responses as f64),
            cores_busy: if elapsed_s > 0.0 {
                cpu_s / elapsed_s
            } else {
                0.0
            },
        },
        segment: None,
        window,
        host: None,
        agents: Some(AgentsSummary {
            count: agents.len(),
            start_spread_s,
            not_overlapping,
            saturated: list.iter().filter(|a| a.saturated).count(),
            forced: problems,
            list,
        }),
        tls,
        targets,
        thresholds: Vec::new(),
    };
    merged.thresholds = recheck_thresholds(agents, &merged);
    Ok(merged)
}

/// The agents' lines that follow `load`'s text output for a merge: each
/// agent, the spread of their starts, and what to doubt.
pub fn render_agents(s: &Summary) -> String {
    let mut out = String::new();
    let Some(agents) = &s.agents else {
        return out;
    };
    let w = &mut out;
    writeln!(
        w,
        "Agents: {} merged, starts spread over {:.1}ms",
        agents.count,
        agents.start_spread_s * 1000.0
    )
    .unwrap();
    for a in &agents.list {
        let segment = a
            .segment
            .map_or("-".to_string(), |g| format!("{}/{}", g.index, g.count));
        let start = a.window.as_ref().map_or("-", |w| w.start.as_str());
        write!(
            w,
            "  {segment:>5} {:<20} start {start}  {} requests, {:.2}/sec, generator {:.2} cores busy of {} threads",
            a.host.as_deref().unwrap_or("-"),
            a.requests,
            a.requests_per_s,
            a.generator_cpu.cores_busy,
            a.threads
        )
        .unwrap();
        writeln!(w, "{}", if a.saturated { " (saturated)" } else { "" }).unwrap();
    }
    for &i in &agents.not_overlapping {
        writeln!(
            w,
            "Note: {}'s window does not overlap most other agents' windows: its load did not \
             run alongside theirs, so the merged rate understates what they did together",
            agents.list[i].source
        )
        .unwrap();
    }
    if agents.saturated > 0 {
        writeln!(
            w,
            "Note: {} of {} agents kept their generator threads busy almost all the time; their \
             share may say more about the agents than the server. Give them more threads or \
             more agents.",
            agents.saturated, agents.count
        )
        .unwrap();
    }
    for p in &agents.forced {
        writeln!(w, "Forced: {p}").unwrap();
    }
    out
}

/// An agent's request list as one line, to compare agents by.
fn request_list(s: &Summary) -> String {
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

/// The agents' request-list entries added up, entry by entry: counts summed,
/// histograms added exactly. Empty when the agents' lists differ (a merge
/// by force) or there is none.
fn merge_targets(agents: &[AgentResult]) -> anyhow::Result<Vec<TargetSummary>> {
    let first = &agents[0].summary;
    if agents
        .iter()
        .any(|a| request_list(&a.summary) != request_list(first))
    {
        return Ok(Vec::new());
    }
    let mut merged = Vec::with_capacity(first.targets.len());
    for (i, entry) in first.targets.iter().enumerate() {
        let field = format!("targets[{i}].latency");
        let latency = add_histograms(agents, &field, |s| Some(&s.targets[i].latency))?;
        let mut sum = TargetSummary {
            requests: 0,
            responses: StatusClasses::default(),
            failed: 0,
            errors: 0,
            latency: LatencySummary::of(&latency),
            ..entry.clone()
        };
        for t in agents.iter().map(|a| &a.summary.targets[i]) {
            sum.requests += t.requests;
            sum.failed += t.failed;
            sum.errors += t.errors;
            let (r, add) = (&mut sum.responses, &t.responses);
            r.informational += add.informational;
            r.success += add.success;
            r.redirection += add.redirection;
            r.client_error += add.client_error;
            r.server_error += add.server_error;
            r.other += add.other;
        }
        merged.push(sum);
    }
    Ok(merged)
}

/// Every threshold any agent checked, checked again against the merged
/// result: an agent's own verdict was on its share alone.
fn recheck_thresholds(agents: &[AgentResult], merged: &Summary) -> Vec<ThresholdResult> {
    let mut seen = BTreeSet::new();
    agents
        .iter()
        .flat_map(|a| &a.summary.thresholds)
        .filter(|t| seen.insert(t.threshold.clone()))
        .filter_map(|t| t.threshold.parse::<Threshold>().ok())
        .map(|t| t.check(merged))
        .collect()
}

/// Everything that keeps `agents` from being the agents of one load.
fn check(agents: &[AgentResult]) -> Vec<String> {
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
fn whole_of(g: SegmentSummary) -> (usize, Option<f64>, Option<u64>) {
    (g.whole_connections, g.whole_rate, g.whole_stop_requests)
}

/// The sum of one histogram of every agent (those that have it).
fn add_histograms(
    agents: &[AgentResult],
    field: &str,
    of: impl Fn(&Summary) -> Option<&LatencySummary>,
) -> anyhow::Result<Histogram<u64>> {
    let mut sum = new_histogram();
    for a in agents {
        if let Some(lat) = of(&a.summary) {
            let h = decode_histogram(&lat.histogram)
                .with_context(|| format!("{}: {field}.histogram", a.source))?;
            sum.add(&h)
                .with_context(|| format!("{}: {field}.histogram is out of range", a.source))?;
        }
    }
    Ok(sum)
}

/// Total length of the union of `[start, end]` windows.
fn union_length(windows: &[(f64, f64)]) -> f64 {
    let mut sorted = windows.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in sorted {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    total + current.map_or(0.0, |(s, e)| e - s)
}

/// Positions of the windows that miss more than half of the other windows:
/// the agents that ran apart from the rest. (Missing any one would also
/// name every agent an outlier misses.)
fn lone_windows(windows: &[(f64, f64)]) -> Vec<usize> {
    let others = windows.len().saturating_sub(1);
    (0..windows.len())
        .filter(|&i| {
            let (s, e) = windows[i];
            let missed = windows
                .iter()
                .enumerate()
                .filter(|&(j, &(sj, ej))| j != i && (s >= ej || sj >= e))
                .count();
            2 * missed > others
        })
        .collect()
}

/// The agents' timelines summed by wall-clock second: second `k` of an
/// agent whose window starts `d` seconds after the earliest goes to merged
/// second `k + round(d)`, the one it overlaps most.
fn align_timelines(summaries: &[&Summary], earliest: Option<f64>) -> Vec<Second> {
    let mut merged: Vec<Second> = Vec::new();
    for s in summaries {
        let offset = match (earliest, &s.window) {
            (Some(e), Some(w)) => (w.start_unix_s - e).round().max(0.0) as usize,
            _ => 0,
        };
        if merged.len() < offset + s.timeline.len() {
            merged.resize(offset + s.timeline.len(), Second::default());
        }
        for (k, second) in s.timeline.iter().enumerate() {
            let m = &mut merged[offset + k];
            m.requests += second.requests;
            m.errors += second.errors;
            m.bytes += second.bytes;
        }
    }
    merged
}

/// Per-thread, per-second request rates of all agents pooled: each agent's
/// mean and spread weighted by its samples (threads times whole seconds).
fn pooled_thread_stats(summaries: &[&Summary]) -> Stats {
    let weight = |s: &Summary| (s.plan.threads as f64) * s.elapsed_s.floor().max(1.0);
    let n: f64 = summaries.iter().map(|s| weight(s)).sum();
    if n == 0.0 {
        return Stats::default();
    }
    let mean = summaries
        .iter()
        .map(|s| weight(s) * s.thread_requests_per_s.mean)
        .sum::<f64>()
        / n;
    let variance = summaries
        .iter()
        .map(|s| {
            let t = &s.thread_requests_per_s;
            weight(s) * (t.stdev.powi(2) + (t.mean - mean).powi(2))
        })
        .sum::<f64>()
        / n;
    Stats {
        mean,
        stdev: variance.sqrt(),
        max: summaries
            .iter()
            .map(|s| s.thread_requests_per_s.max)
            .fold(0.0, f64::max),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use framewut_load::{CpuTime, LoadPlan, LoadReport, Stop, Target};

    use super::*;

    const T0: f64 = 1_795_953_600.0;

    /// Agent `index` of `count` of a 7-connection, 2-second closed-loop load
    /// on one thread, its window starting at `T0 + offset_s`, with these
    /// latencies (µs), one request per latency, spread over two seconds.
    fn agent(index: u32, count: u32, offset_s: f64, latencies: &[u64]) -> AgentResult {
        let mut whole = LoadPlan::new(Target::parse("http://127.0.0.1:1/hello").unwrap());
        whole.connections = 7;
        whole.threads = 1;
        whole.stop = Stop::After(Duration::from_secs(2));
        let segment = Segment::new(index, count).unwrap();
        let plan = segment.share_plan(&whole).unwrap();
        let mut latency = new_histogram();
        for v in latencies {
            latency.record(*v).unwrap();
        }
        let n = latencies.len() as u64;
        let report = LoadReport {
            elapsed: Duration::from_secs(2),
            requests: n,
            responses: n + 1,
            bytes: 100 * n,
            errors: Errors {
                timeout: 1,
                status: [(503, 1)].into(),
                ..Errors::default()
            },
            reconnects: 0,
            connections_opened: plan.connections as u64,
            backlog: 0,
            latency,
            latency_uncorrected: None,
            unanswered: new_histogram(),
            silent_connections: 0,
            timeline: vec![
                Second {
                    requests: n / 2,
                    errors: 1,
                    bytes: 0,
                },
                Second {
                    requests: n - n / 2,
                    errors: 1,
                    bytes: 0,
                },
            ],
            thread_seconds: vec![vec![n / 2, n - n / 2]],
            cpu: CpuTime {
                user: Duration::from_millis(100),
                system: Duration::from_millis(50),
            },
            cancelled: false,
            started: UNIX_EPOCH + Duration::from_secs_f64(T0 + offset_s),
            tls: None,
            targets: Vec::new(),
        };
        let mut summary = Summary::of(&plan, &report);
        summary.segment = Some(SegmentSummary {
            index,
            count,
            whole_connections: 7,
            whole_rate: None,
            whole_stop_requests: None,
        });
        AgentResult {
            source: format!("agent-{index}.json"),
            summary,
        }
    }

    fn three() -> Vec<AgentResult> {
        vec![
            agent(0, 3, 0.0, &[100, 200, 300, 400]),
            agent(1, 3, 0.0, &[1_000, 2_000]),
            agent(2, 3, 0.0, &[50_000, 60_000]),
        ]
    }

    fn refusal(agents: &[AgentResult]) -> Vec<String> {
        merge(agents, false)
            .unwrap_err()
            .downcast::<Refusal>()
            .unwrap()
            .problems
    }

    #[test]
    fn adds_histograms_counts_and_errors_exactly() {
        let merged = merge(&three(), false).unwrap();
        let mut all = new_histogram();
        for v in [100, 200, 300, 400, 1_000, 2_000, 50_000, 60_000] {
            all.record(v).unwrap();
        }
        assert_eq!(merged.latency, LatencySummary::of(&all));
        assert_eq!(merged.requests, 8);
        assert_eq!(merged.responses, 11);
        assert_eq!(merged.errors.timeout, 3);
        assert_eq!(merged.errors.status, [(503, 3)].into());
        assert_eq!(merged.plan.connections, 7);
        assert_eq!(merged.plan.threads, 3);
        assert_eq!(merged.elapsed_s, 2.0);
        assert_eq!(merged.requests_per_s, 4.0);
        let cpu = &merged.generator_cpu;
        assert!((cpu.user_s - 0.3).abs() < 1e-9 && (cpu.system_s - 0.15).abs() < 1e-9);
        assert!((cpu.cores_busy - 0.225).abs() < 1e-9, "{cpu:?}");
        let timeline: Vec<u64> = merged.timeline.iter().map(|s| s.requests).collect();
        assert_eq!(timeline, [4, 4]);
        let agents = merged.agents.unwrap();
        assert_eq!(agents.count, 3);
        assert!(agents.forced.is_empty() && agents.not_overlapping.is_empty());
        assert_eq!(agents.list[1].requests, 2);
        assert_eq!(merged.segment, None);
    }

    #[test]
    fn adds_the_agents_tls_handshakes_and_their_histograms_exactly() {
        let mut agents = vec![agent(0, 2, 0.0, &[100]), agent(1, 2, 0.0, &[100])];
        let mut all = new_histogram();
        for (a, handshakes) in agents.iter_mut().zip([[900, 1_100], [2_000, 40_000]]) {
            let mut h = new_histogram();
            for v in handshakes {
                h.record(v).unwrap();
                all.record(v).unwrap();
            }
            a.summary.tls = Some(TlsSummary {
                handshakes: 2,
                resumptions: 1,
                handshake_latency: LatencySummary::of(&h),
                protocol: Some("TLSv1.3".into()),
                cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
            });
        }
        let tls = merge(&agents, false).unwrap().tls.unwrap();
        assert_eq!((tls.handshakes, tls.resumptions), (4, 2));
        assert_eq!(tls.handshake_latency, LatencySummary::of(&all));
        assert_eq!(tls.protocol.as_deref(), Some("TLSv1.3"));
        assert!(merge(&agents[..1], true).unwrap().tls.is_some());
    }

    #[test]
    fn adds_request_list_entries_and_checks_the_agents_thresholds_on_the_whole() {
        let mut agents = vec![agent(0, 2, 0.0, &[100, 200]), agent(1, 2, 0.0, &[5_000])];
        let mut all = new_histogram();
        for a in &mut agents {
            let own = decode_histogram(&a.summary.latency.histogram).unwrap();
            all.add(&own).unwrap();
            a.summary.targets = vec![TargetSummary {
                method: "GET".into(),
                url: "http://127.0.0.1:1/hello".into(),
                requests: own.len(),
                responses: StatusClasses {
                    success: own.len(),
                    ..StatusClasses::default()
                },
                failed: 0,
                errors: 0,
                latency: LatencySummary::of(&own),
            }];
            // Agent 0's share alone holds p99 < 1ms; the whole does not.
            let threshold: Threshold = "p99<1ms".parse().unwrap();
            a.summary.thresholds = vec![threshold.check(&a.summary)];
        }
        assert!(agents[0].summary.thresholds[0].held);
        let merged = merge(&agents, false).unwrap();
        assert_eq!(merged.targets.len(), 1);
        assert_eq!(merged.targets[0].requests, 3);
        assert_eq!(merged.targets[0].responses.success, 3);
        assert_eq!(merged.targets[0].latency, LatencySummary::of(&all));
        assert_eq!(merged.thresholds.len(), 1);
        assert!(!merged.thresholds[0].held, "{:?}", merged.thresholds);

        agents[1].summary.targets[0].url = "http://127.0.0.1:1/other".into();
        let refusal = merge(&agents, false).unwrap_err().to_string();
        assert!(refusal.contains("different request lists"), "{refusal}");
        assert!(merge(&agents, true).unwrap().targets.is_empty());
    }

    #[test]
    fn reports_the_start_spread_and_lines_timelines_up_by_wall_clock_second() {
        let agents = vec![agent(0, 2, 0.0, &[100, 200]), agent(1, 2, 0.3, &[100, 200])];
        let merged = merge(&agents, false).unwrap();
        let block = merged.agents.as_ref().unwrap();
        assert!((block.start_spread_s - 0.3).abs() < 1e-6, "{block:?}");
        assert!(block.not_overlapping.is_empty());
        // The union of [0, 2] and [0.3, 2.3].
        assert!((merged.elapsed_s - 2.3).abs() < 1e-6);
        assert_eq!(merged.timeline.len(), 2);
        assert!(render_agents(&merged).contains("starts spread over 300.0ms"));

        // 1.3 s late: its seconds go one later, and the timeline is 3 long.
        let late = vec![agent(0, 2, 0.0, &[100, 200]), agent(1, 2, 1.3, &[100, 200])];
        let merged = merge(&late, false).unwrap();
        let timeline: Vec<u64> = merged.timeline.iter().map(|s| s.requests).collect();
        assert_eq!(timeline, [1, 2, 1]);
    }

    #[test]
    fn names_an_agent_whose_window_misses_the_others() {
        let agents = vec![
            agent(0, 3, 0.0, &[100]),
            agent(1, 3, 0.5, &[100]),
            agent(2, 3, 20.0, &[100]),
        ];
        let merged = merge(&agents, false).unwrap();
        assert_eq!(merged.agents.as_ref().unwrap().not_overlapping, [2]);
        // The rate is over the union: 2.5 s and 2 s apart, not 22 s.
        assert!(
            (merged.elapsed_s - 4.5).abs() < 1e-6,
            "{}",
            merged.elapsed_s
        );
        assert!(render_agents(&merged)
            .contains("agent-2.json's window does not overlap most other agents' windows"));
    }

    #[test]
    fn refuses_agents_of_different_loads_saying_why_unless_forced() {
        let mut other = three();
        other[2].summary.plan.url = "http://127.0.0.1:2/hello".into();
        let problems = refusal(&other);
        assert_eq!(
            problems,
            [
                "different targets: http://127.0.0.1:1/hello in agent-0.json, agent-1.json; \
              http://127.0.0.1:2/hello in agent-2.json"
            ]
        );
        let forced = merge(&other, true).unwrap();
        assert_eq!(forced.agents.unwrap().forced, problems);

        let mut open = three();
        open[0].summary.plan.pacing = "open".into();
        assert!(refusal(&open)[0].starts_with("different pacings: closed loop in"));

        let mut longer = three();
        longer[1].summary.plan.duration_s = Some(5.0);
        assert!(refusal(&longer)[0].starts_with("different stops: a duration of 2s in"));

        let twice = vec![three()[0].clone(), three()[0].clone(), three()[2].clone()];
        assert_eq!(
            refusal(&twice),
            [
                "segment 0 appears 2 times (agent-0.json, agent-0.json): give each agent's \
                 result once",
                "segments missing: 1/3 (of 3 agents); give every agent's result"
            ]
        );

        let mut counts = three();
        counts.push(agent(3, 4, 0.0, &[100]));
        let problems = refusal(&counts);
        assert!(
            problems[0].starts_with("different agent counts: 3 agents in"),
            "{problems:?}"
        );

        let mut plain = three();
        plain[1].summary.segment = None;
        assert!(refusal(&plain).contains(
            &"agent-1.json is not an agent's result (it has no segment): run each agent with \
              --segment I/N"
                .to_string()
        ));

        let mut share = three();
        share[2].summary.plan.connections = 3;
        assert!(refusal(&share).contains(
            &"agent-2.json: segment 2/3 of 7 connections should have 2, it ran 3".to_string()
        ));
        let text = merge(&share, false).unwrap_err().to_string();
        assert!(text.contains("or give --force"), "{text}");
    }

    #[test]
    fn a_merge_with_no_agents_or_a_broken_histogram_is_an_error_even_forced() {
        assert!(merge(&[], true)
            .unwrap_err()
            .to_string()
            .contains("no agents"));
        let mut broken = three();
        broken[1].summary.latency.histogram = "TWFu".into();
        let err = format!("{:#}", merge(&broken, true).unwrap_err());
        assert!(err.starts_with("agent-1.json: latency.histogram"), "{err}");
    }

    #[test]
    fn reads_one_document_several_concatenated_or_one_per_line() {
        let a = serde_json::to_string_pretty(&three()[0].summary).unwrap();
        let b = serde_json::to_string(&three()[1].summary).unwrap();
        let one = parse_documents(&a, "a.json").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].source, "a.json");
        let several = parse_documents(&format!("{a}{a}\n{b}\n{b}\n"), "-").unwrap();
        assert_eq!(several.len(), 4);
        assert_eq!(several[3].source, "- #4");
        let err = parse_documents(&format!("{b}\n{{\"x\":1}}"), "pod-1").unwrap_err();
        assert!(
            err.to_string().starts_with("pod-1: document 2 is not"),
            "{err}"
        );
        let err = parse_documents(" \n", "empty.json").unwrap_err();
        assert!(
            err.to_string().contains("no `framewut load --json` result"),
            "{err}"
        );
    }

    #[test]
    fn union_length_counts_overlaps_once() {
        assert_eq!(union_length(&[(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]), 4.0);
        assert_eq!(union_length(&[(0.0, 10.0), (1.0, 2.0)]), 10.0);
    }
}
