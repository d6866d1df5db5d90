//! Findings about the health of a run: cells far from their prediction,
//! requests that failed or connections left without an answer, and a load
//! generator that was the limit.

use framewut_stacks::Model;

use super::{ids, Finding, Seen, Topic};
use crate::format::{count, micros, rate, seconds, thousands, times};
use crate::lab::results::{CellResult, Results, Status, SATURATED};
use crate::lab::runner::drift::{self, Drift};
use crate::lab::runner::phases;
use crate::model::{model_of, BoundKind};
use crate::python::{find_python_stack, AppServer, Server};
use crate::spec::StackSource;
use crate::stats::mean_ci95;

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
            if let Some(moved) = cost_moved(s) {
                text.push_str(&moved);
            }
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

/// Above this share, what a request cost in the trials differs from what
/// the calibration measured enough to move a CPU ceiling out of its margins.
const COST_MOVED: f64 = 0.1;

/// For a cell held by its CPU whose trials spent more or less CPU per
/// request than its calibration measured: the measured cause of the miss.
fn cost_moved(s: &Seen) -> Option<String> {
    if s.p.bound != BoundKind::Cpu {
        return None;
    }
    let (calibrated, spent) = (s.cpu_us()?, s.spent_us()?);
    let change = spent / calibrated - 1.0;
    (change.abs() > COST_MOVED).then(|| {
        format!(
            " Each request cost the server {} of CPU in the trials against {} in the calibration window ({:+.0}%): the ceiling moved with what a request cost, so the CPU explains the rate ({} x {} = {:.2} cores busy), and what changed is the cost itself (the machine's speed, or the work a request does).",
            micros(spent),
            micros(calibrated),
            100.0 * change,
            rate(s.rate()),
            micros(spent),
            s.rate() * spent / 1e6
        )
    })
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

/// gunicorn's keep-alive, in seconds, which framewut leaves at its default:
/// how long meinheld's worker (`set_keepalive`) lets a kept-alive
/// connection wait for its next request to be read.
pub const GUNICORN_KEEPALIVE_S: f64 = 2.0;

/// Whether the stack runs under meinheld's gunicorn worker.
fn under_meinheld(source: &StackSource) -> bool {
    match source {
        StackSource::Python { id, .. } => {
            find_python_stack(id).is_ok_and(|s| s.server == Server::GunicornMeinheld)
        }
        StackSource::App { server, .. } => *server == AppServer::GunicornMeinheld,
        _ => false,
    }
}

/// A meinheld cell whose requests failed as read errors while each
/// connection waited longer than gunicorn's keep-alive for its turn (its
/// connections over its rate, in seconds): meinheld closed connections
/// whose request had come but was not read in time. With `--keep-alive 30`
/// the same load, meinheld's cpu handler on 200 connections at 42 req/s,
/// lost no request (against 13 and 256 read errors at the default).
fn keepalive_closed(cell: &CellResult) -> Option<f64> {
    let summary = cell.summary.as_ref()?;
    let rate = summary.requests_per_s.mean;
    let turn = cell.config.load.connections as f64 / rate;
    (summary.errors.read > 0
        && rate > 0.0
        && turn > GUNICORN_KEEPALIVE_S
        && under_meinheld(&cell.config.stack.source))
    .then_some(turn)
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
        let python = matches!(spec.stack.source, StackSource::Python { .. });
        let rough = phases::rough(cell);
        if silent > 0 && python && model_of(spec) == Some(Model::Coroutines) && rough.is_none() {
            text.push_str(&format!(
                " It kept serving meanwhile ({} on {:.0}% of a core): a gevent worker reads a keep-alive connection's next request without yielding to its hub when the request is already there, so each worker kept answering the connections it had started on and left the rest waiting, accepts included.",
                rate(summary.requests_per_s.mean),
                summary.server_cpu_pct
            ));
        }
        if let Some(rounds) = rough.filter(|_| silent > 0) {
            text.push_str(&format!(
                " With {} in a trial, some connections get no turn in it by design; the silent count is partly the window's.",
                phases::rounds_words(rounds)
            ));
        }
        if let Some(turn) = keepalive_closed(cell) {
            text.push_str(&format!(
                " Its meinheld worker closes a kept-alive connection whose next request it has not read within gunicorn's keep-alive, {} by default (--keep-alive); at {} over {} connections a connection's turn came every {}, so some were closed with their request unread, which the generator counts as read errors.",
                seconds(GUNICORN_KEEPALIVE_S),
                rate(summary.requests_per_s.mean),
                cell.config.load.connections,
                seconds(turn)
            ));
        }
        if model_of(spec) == Some(Model::SyncPool) && spec.load.connections > spec.stack.workers {
            text.push_str(&format!(
                " A sync pool serves one connection at a time per worker, so at any moment {} of the {} connections waited for a worker to be free, as with gunicorn's sync worker.",
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

/// The cells whose trials were too short for their connections' turns to
/// average out: each with its rounds per connection, and what set the
/// length (the profile's cap, or a fixed duration).
pub(super) fn rough(results: &Results, out: &mut Vec<Finding>) {
    let rough: Vec<(&CellResult, f64)> = results
        .cells
        .iter()
        .filter(|c| c.status == Status::Ok)
        .filter_map(|c| phases::rough(c).map(|r| (c, r)))
        .collect();
    if rough.is_empty() {
        return;
    }
    let parts: Vec<String> = rough
        .iter()
        .map(|(c, r)| {
            let length = c
                .trials
                .first()
                .map_or(0.0, |t| t.load.plan.duration_s.unwrap_or(t.load.elapsed_s));
            let why = match c.config.load.max_duration {
                Some(cap) if length >= cap.as_secs_f64() - 0.05 => {
                    format!(
                        "trials cut to the profile's max_duration of {}",
                        seconds(cap.as_secs_f64())
                    )
                }
                _ => format!("trials of {}", seconds(length)),
            };
            format!(
                "{} ({}: a rough rate; {why})",
                c.id,
                phases::rounds_words(*r)
            )
        })
        .collect();
    out.push(Finding {
        topic: Topic::Rough,
        verdict: None,
        text: format!(
            "{} spanned fewer than {:.0} rounds per connection (answers over connections), so a connection got few turns in a trial and its silent connections and tail say more about the window than the server: {}. A trial of {:.0} rounds lasts {:.0} x connections / rate; raise the profile's max_duration (or --duration) to measure it so.",
            if rough.len() == 1 { "A cell's trials" } else { "These cells' trials" },
            phases::ROUGH_BELOW,
            parts.join("; "),
            phases::ROUNDS,
            phases::ROUNDS,
        ),
        cells: rough.iter().map(|(c, _)| c.id.clone()).collect(),
    });
}

/// The cells with trials whose rate trended or stepped while measured: each
/// trial's first and last thirds, and what such a move means.
pub(super) fn drift(results: &Results, out: &mut Vec<Finding>) {
    let drifted: Vec<(&CellResult, Vec<(usize, Drift)>)> = results
        .cells
        .iter()
        .filter(|c| c.status == Status::Ok)
        .map(|c| (c, drift::trials(c)))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    if drifted.is_empty() {
        return;
    }
    let parts: Vec<String> = drifted
        .iter()
        .map(|(c, trials)| {
            let each: Vec<String> = trials
                .iter()
                .map(|(k, d)| {
                    format!(
                        "trial {k} from {} to {} req/s ({:+.0}%)",
                        thousands(d.first_per_s),
                        thousands(d.last_per_s),
                        d.change() * 100.0
                    )
                })
                .collect();
            format!("{}: {}", c.id, each.join(", "))
        })
        .collect();
    out.push(Finding {
        topic: Topic::Drift,
        verdict: None,
        text: format!(
            "{} moved while they measured, their last third's rate {:.0}% or more from their first's (Welch on their tenths of a second, p <= 0.01): {}. A rate that rises says the trial began before the stack was warm (its warm-up, after a start of its server or the trial before, was too short: lengthen the profile's warmup); one that falls says the server degrades under the load, or the machine slowed; either way its mean is not a steady state.",
            if parts.len() == 1 { "A cell's trials" } else { "These cells' trials" },
            drift::DRIFT * 100.0,
            parts.join("; ")
        ),
        cells: drifted.iter().map(|(c, _)| c.id.clone()).collect(),
    });
}

/// A 95% interval wider than this share of its mean gets a finding on
/// where its spread came from.
const WIDE: f64 = 0.1;

/// Each cell whose trials' rates spread widely, with the measured cause
/// where the trials show one: a server CPU busy in every trial while the
/// same request cost more in some (the machine's speed moved under it), or
/// requests that failed or waited in some trials and not in others (the
/// stack's own behaviour).
pub(super) fn spread(results: &Results, out: &mut Vec<Finding>) {
    // Two trials make any interval wide (Student's t of one degree of
    // freedom is 12.7): that is the trial count's, not a spread to explain.
    for cell in results
        .cells
        .iter()
        .filter(|c| c.status == Status::Ok && c.trials.len() >= 3)
    {
        let rates: Vec<f64> = cell.trials.iter().map(|t| t.load.requests_per_s).collect();
        let Some((mean, half)) = mean_ci95(&rates).filter(|(m, h)| *m > 0.0 && h / m > WIDE) else {
            continue;
        };
        let costs: Vec<f64> = cell
            .trials
            .iter()
            .filter(|t| t.load.responses > 0)
            .map(|t| t.server.cpu_s * 1e6 / t.load.responses as f64)
            .collect();
        let busy: Vec<f64> = cell.trials.iter().map(|t| t.server.cpu_pct).collect();
        let cores = results.placement.placement.server_cpus.count() as f64;
        let lowest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let failed: Vec<u64> = cell
            .trials
            .iter()
            .map(|t| crate::lab::results::failed_requests(&t.load.errors))
            .collect();
        let mut text = format!(
            "{}: its trials ran at {} req/s, a 95% interval of ±{:.0}% around {}.",
            cell.id,
            rates
                .iter()
                .map(|r| crate::format::thousands(*r))
                .collect::<Vec<_>>()
                .join(", "),
            100.0 * half / mean,
            rate(mean)
        );
        let saturated = costs.len() == rates.len() && lowest(&busy) >= 90.0 * cores.min(1.0);
        let failures = failed.iter().sum::<u64>();
        let spread = |v: &[f64]| highest(v) / lowest(v) - 1.0;
        // The load generator runs the same code for every answer: where
        // its cost per answer moved with the server's, the machine did.
        let generator: Vec<f64> = cell
            .trials
            .iter()
            .filter(|t| t.load.responses > 0)
            .map(|t| {
                let g = &t.load.generator_cpu;
                (g.user_s + g.system_s) * 1e6 / t.load.responses as f64
            })
            .collect();
        let slowest = rates
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(k, _)| k);
        if let Some(taken) = others_in(&cell.trials[slowest]) {
            text.push_str(&format!(
                " Its slowest, trial {}, shared its CPUs with other processes: {taken}; that trial measured them too.",
                slowest + 1
            ));
        } else if saturated && spread(&costs) >= 0.5 * spread(&rates) {
            let wasted = if failures > 0 {
                format!(
                    ", or CPU it spent on the {} that got no answer",
                    count(failures, "request", "requests")
                )
            } else {
                String::new()
            };
            let cause = if generator.len() == costs.len()
                && spread(&generator) >= 0.5 * spread(&costs)
            {
                format!(
                    "the load generator, which does the same work for every answer, spent {} to {} on one in the same trials: the whole machine ran slower in some trials than in others (a shared host's neighbours, the host's own work), not the stack",
                    micros(lowest(&generator)),
                    micros(highest(&generator))
                )
            } else {
                format!(
                    "the load generator's cost per answer held steadier, so the change was in the work the stack did for each answer{wasted}"
                )
            };
            text.push_str(&format!(
                " Its server's CPU was {:.0}% to {:.0}% busy in every trial while an answer cost it {} to {} of CPU, and {cause}; on a quieter machine, or with more trials, the interval narrows.",
                lowest(&busy),
                highest(&busy),
                micros(lowest(&costs)),
                micros(highest(&costs))
            ));
        } else if failed[slowest] > 0 {
            text.push_str(&format!(
                " Its slowest, trial {}, is the one where {} failed: the stack's own behaviour changed in it.",
                slowest + 1,
                count(failed[slowest], "request", "requests")
            ));
        }
        out.push(Finding {
            topic: Topic::Spread,
            verdict: None,
            text,
            cells: vec![cell.id.clone()],
        });
    }
}

/// Processes other than the measured ones took at least this share of a
/// CPU set in a trial: enough to slow it.
const OTHERS_TOOK: f64 = 0.05;

/// What other processes took of each CPU set in a trial, in words, when
/// they took enough of either to slow it.
fn others_in(trial: &crate::lab::results::Trial) -> Option<String> {
    let cpus = trial.cpus.as_ref()?;
    let share = |u: &crate::lab::measure::cpustat::CpuSetUsage| {
        if u.total_s > 0.0 {
            u.other_s / u.total_s
        } else {
            0.0
        }
    };
    let (server, generator) = (share(&cpus.server), share(&cpus.generator));
    (server.max(generator) >= OTHERS_TOOK).then(|| {
        format!(
            "{:.0}% of the server's CPUs and {:.0}% of the generator's",
            100.0 * server,
            100.0 * generator
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake::{results, trial};

    /// 200 connections at 40 req/s come round every 5 s, past gunicorn's
    /// keep-alive: meinheld's read errors are its keep-alive closing them.
    /// The same errors under another server, or with turns inside the
    /// keep-alive, are not put down to it.
    #[test]
    fn meinheld_read_errors_past_gunicorns_keepalive_are_its_keepalive() {
        let text = |stack: &str, rate: u64| {
            let mut run = results(&format!(
                "scenarios = [\"cpu\"]\n[[stack]]\nid = \"{stack}\"\n[[profile]]\nconnections = 200\n"
            ));
            let cell = &mut run.cells[0];
            cell.status = Status::Ok;
            let mut t = trial(rate, &[5_000_000; 10], 0, 1.0);
            t.load.errors.read = 13;
            cell.trials = vec![t];
            cell.summarise();
            let mut out = Vec::new();
            errors(&run, &mut out);
            out.into_iter().map(|f| f.text).collect::<String>()
        };
        let meinheld = text("python/wsgi/gunicorn-meinheld", 40);
        assert!(
            meinheld.contains("13 read errors")
                && meinheld.contains("gunicorn's keep-alive, 2 s by default")
                && meinheld.contains("a connection's turn came every 5 s"),
            "{meinheld}"
        );
        assert!(!text("python/gevent/gunicorn-gevent", 40).contains("keep-alive"));
        assert!(!text("python/wsgi/gunicorn-meinheld", 400).contains("keep-alive"));
    }
}
