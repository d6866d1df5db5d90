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

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use anyhow::{bail, Context};
use framewut_load::{
    decode_histogram, new_histogram, rfc3339, AgentSummary, AgentsSummary, CpuSummary, Errors,
    Histogram, Http2Summary, LatencySummary, PlanSummary, Second, Stats, StatusClasses, Summary,
    TargetSummary, ThresholdResult, TlsSummary, WindowSummary, SUMMARY_SCHEMA,
};

mod check;
use check::{check, request_list, whole_of};

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

    let http2 = if summaries.iter().any(|s| s.http2.is_some()) {
        let wait = add_histograms(agents, "http2.wait", |s| s.http2.as_ref().map(|h| &h.wait))?;
        let all = || summaries.iter().filter_map(|s| s.http2.as_ref());
        Some(Http2Summary {
            server: all().find_map(|h| h.server),
            waited: all().map(|h| h.waited).sum(),
            wait: LatencySummary::of(&wait),
            retried: all().map(|h| h.retried).sum(),
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
        coalesce_us: first.plan.coalesce_us,
        protocol: first.plan.protocol.clone(),
        http2: first.plan.http2,
    };

    let earliest = windows
        .as_ref()
        .map(|w| w.iter().map(|(s, _)| *s).fold(f64::INFINITY, f64::min));
    let timeline = align_timelines(&summaries, earliest);
    let tenths = align_tenths(&summaries, earliest);
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
        bytes_sent: sum(|s| s.bytes_sent),
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
        tenths,
        // Each agent's bursts are its own, as each thread's are.
        burst: summaries.iter().map(|s| s.burst).sum(),
        generator_cpu: CpuSummary {
            user_s,
            system_s,
            voluntary_switches: summaries
                .iter()
                .map(|s| s.generator_cpu.voluntary_switches)
                .sum(),
            involuntary_switches: summaries
                .iter()
                .map(|s| s.generator_cpu.involuntary_switches)
                .sum(),
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
        http2,
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
        .filter(|t| seen.insert(t.threshold.to_string()))
        .map(|t| t.threshold.check(merged))
        .collect()
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

/// The agents' tenths of a second summed by wall-clock tenth, as
/// [`align_timelines`] does with seconds.
fn align_tenths(summaries: &[&Summary], earliest: Option<f64>) -> Vec<u64> {
    let mut merged: Vec<u64> = Vec::new();
    for s in summaries {
        let offset = match (earliest, &s.window) {
            (Some(e), Some(w)) => ((w.start_unix_s - e) * 10.0).round().max(0.0) as usize,
            _ => 0,
        };
        if merged.len() < offset + s.tenths.len() {
            merged.resize(offset + s.tenths.len(), 0);
        }
        for (k, n) in s.tenths.iter().enumerate() {
            merged[offset + k] += n;
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
mod tests;
