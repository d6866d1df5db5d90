//! Findings about the health of a run: cells far from their prediction,
//! requests that failed or connections left without an answer, and a load
//! generator that was the limit.

use framewut_stacks::Model;

use super::{ids, Finding, Seen, Topic};
use crate::format::{count, micros, rate, seconds, times};
use crate::lab::results::{Results, SATURATED};
use crate::model::{model_of, BoundKind};

/// Whether a surprise is a cell held by the CPU that left its CPU idle,
/// with no saturated generator to blame and no per-CPU figures to say more.
fn idle_cpu(s: &Seen) -> bool {
    s.p.held.is_none()
        && s.p.bound == BoundKind::Cpu
        && s.p.ratio < 1.0
        && s.cell
            .summary
            .as_ref()
            .is_some_and(|x| !x.generator_saturated)
}

pub(super) fn surprises(seen: &[Seen], out: &mut Vec<Finding>) {
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
        if let Some(held) = &s.p.held {
            text.push_str(&format!(
                " Measured, it was held by {}: {}.",
                held.by.words(),
                held.words
            ));
        } else if summary.generator_saturated {
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
        (
            errors.upgrade,
            "request lost to a 101 upgrade",
            "requests lost to a 101 upgrade",
        ),
        (errors.tls, "TLS failure", "TLS failures"),
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

/// Each cell with failed requests or starved connections, in one finding:
/// a connection that waited a whole trial for nothing is as much a failure
/// as an error, though no request of it may have failed outright.
pub(super) fn errors(results: &Results, out: &mut Vec<Finding>) {
    for cell in &results.cells {
        let Some(summary) = &cell.summary else {
            continue;
        };
        let silent = summary.silent_connections.unwrap_or(0);
        if summary.failed_requests == 0 && silent == 0 {
            continue;
        }
        let mut text = format!("{}:", cell.id);
        if silent > 0 {
            text.push_str(&format!(
                " {silent} of {} connections got no answer in a trial.",
                cell.config.load.connections
            ));
        }
        if summary.failed_requests > 0 {
            // Successes and failures are apart (a bad status is a failure,
            // not a request served), so together they are every request settled.
            text.push_str(&format!(
                " {} of {} failed ({}).",
                count(summary.failed_requests, "request", "requests"),
                summary.requests + summary.failed_requests,
                error_kinds(&summary.errors)
            ));
        }
        if let (Some(unanswered @ 1..), Some(with), Some(p99)) = (
            summary.unanswered,
            summary.latency_with_unanswered.as_ref(),
            summary.latency.at(99.0),
        ) {
            text.push_str(&format!(
                " {} no answer; counted at their age, the 99th percentile is at least {} (the answered alone: {}).",
                if unanswered == 1 {
                    "1 request got".to_string()
                } else {
                    format!("{unanswered} requests got")
                },
                micros(with.at(99.0).unwrap_or(0) as f64),
                micros(p99 as f64)
            ));
        }
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

pub(super) fn generator(seen: &[Seen], out: &mut Vec<Finding>) {
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
            "The load generator was over {:.0}% busy in {}: {}. Those rates say more about the generator than the servers; give it more cores (--load-cpus).",
            SATURATED * 100.0,
            count(saturated.len() as u64, "cell", "cells"),
            list.join(", ")
        ),
        cells: ids(&saturated),
    });
}

/// The bounds the model left unjudged, cell by cell: a url stack whose
/// server's CPU framewut could not see, said instead of guessed at.
pub(super) fn unjudged(results: &Results, out: &mut Vec<Finding>) {
    for cell in &results.cells {
        if let Some(words) = cell.unjudged(&results.placement.placement) {
            out.push(Finding {
                topic: Topic::Unjudged,
                verdict: None,
                text: format!("{}: the model does not judge {words}.", cell.id),
                cells: vec![cell.id.clone()],
            });
        }
    }
}
