//! A load's report in the form framewut writes as JSON: the plan it ran,
//! rates, latency percentiles with the histogram itself, errors by kind, the
//! timeline and the generator's CPU. `docs/load.schema.json` documents it.

use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::report::{encode_histogram, Errors, LoadReport, Second, Stats, TargetTally};
use crate::wallclock::{rfc3339, unix_seconds};
use crate::{LoadPlan, Pacing, ServerSettings, Stop};

/// The percentiles every summary lists.
pub const PERCENTILES: [f64; 6] = [50.0, 75.0, 90.0, 99.0, 99.9, 99.99];

/// The version of this summary's shape; bumped on any incompatible change.
/// Version 2 counts only successful (2xx and 3xx) responses in `requests`
/// and its rates (version 1 counted every status) and adds the fields that
/// account for every request; a version 1 summary reads with those fields
/// zero or empty. Version 3 adds the fields that let agents on several hosts
/// be merged (`segment`, `window`, `host`, `agents`) and what was measured
/// over HTTPS (`tls`, and `errors.tls`), and the entries of a request list
/// and the thresholds checked (`targets`, `thresholds`); an earlier summary reads with them null.
pub const SUMMARY_SCHEMA: &str = "framewut-load/3";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub plan: PlanSummary,
    /// Successful (2xx and 3xx) responses in the measured phase.
    pub requests: u64,
    pub elapsed_s: f64,
    /// Successful responses per second.
    pub requests_per_s: f64,
    pub bytes: u64,
    pub bytes_per_s: f64,
    /// Bytes of requests written (0 in summaries from before it was kept).
    #[serde(default)]
    pub bytes_sent: u64,
    pub reconnects: u64,
    pub connections_opened: u64,
    pub backlog: u64,
    pub cancelled: bool,
    // Every request accounted (framewut-load/2): absent from version 1
    // summaries, which read as zero or empty.
    /// Responses of any status (wrk's count of requests).
    #[serde(default)]
    pub responses: u64,
    /// Responses with a status outside 2xx and 3xx, per second.
    #[serde(default)]
    pub status_errors_per_s: f64,
    /// Requests that got no answer in the measured phase: timed out, lost
    /// with their connection, or still in flight at the end.
    #[serde(default)]
    pub unanswered: u64,
    /// Answered and unanswered requests together, each unanswered one at its
    /// age (from its intended send time to when it was given up or the load
    /// ended): a lower bound of the latency picture with nothing left out.
    #[serde(default)]
    pub latency_with_unanswered: LatencySummary,
    /// Connections that waited in the measured phase and got no answer in it.
    #[serde(default)]
    pub silent_connections: u64,
    pub errors: Errors,
    /// Latency from the intended send time (the same as the send time in closed loop).
    pub latency: LatencySummary,
    /// Open loop only: latency from the actual send time.
    pub latency_uncorrected: Option<LatencySummary>,
    /// Per thread and whole second: successful requests.
    pub thread_requests_per_s: Stats,
    pub timeline: Vec<Second>,
    // Drift inside a trial (issue 20): absent from earlier summaries, which
    // read as empty.
    /// Successful requests per tenth of a second of the measured phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenths: Vec<u64>,
    /// How many successes complete together (see the load report's
    /// `burst`): the counting granularity of the window; none in summaries
    /// written before framewut measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<f64>,
    pub generator_cpu: CpuSummary,
    // Load agents (framewut-load/3): absent from earlier summaries, which
    // read as null.
    /// This agent's share of a load split over several (`--segment I/N`);
    /// null for a load run whole.
    #[serde(default)]
    pub segment: Option<SegmentSummary>,
    /// The measured window on the wall clock; `timeline` starts at its start.
    #[serde(default)]
    pub window: Option<WindowSummary>,
    /// The host the load ran on; null in a merge of several.
    #[serde(default)]
    pub host: Option<String>,
    /// A merge of several agents' summaries (`framewut merge`): each agent,
    /// and how well their windows lined up; null for one load.
    #[serde(default)]
    pub agents: Option<AgentsSummary>,
    // HTTPS (framewut-load/3): null for http:// loads and absent before.
    /// The TLS handshakes of an `https://` load.
    #[serde(default)]
    pub tls: Option<TlsSummary>,
    /// The streams of an HTTP/2 load; absent for HTTP/1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2Summary>,
    // Request lists (framewut-load/3): absent or empty for a single URL.
    /// Per entry of a request list (`--targets`), in the list's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetSummary>,
    /// Thresholds checked against this load (`--threshold`), held or crossed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<crate::ThresholdResult>,
}

/// The TLS handshakes of an HTTPS load's measured phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsSummary {
    /// Completed handshakes, full and resumed.
    pub handshakes: u64,
    /// Handshakes that resumed an earlier session.
    pub resumptions: u64,
    /// Each handshake from the TCP connection's establishment to its end on
    /// the client's side; not part of any request's latency.
    pub handshake_latency: LatencySummary,
    /// The protocol version negotiated, e.g. `TLSv1.3`; null when no handshake completed.
    pub protocol: Option<String>,
    /// The cipher suite negotiated, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: Option<String>,
}

/// What one entry of a request list measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    pub method: String,
    pub url: String,
    /// Requests settled in the measured phase: answered or failed.
    pub requests: u64,
    /// Answers by status class.
    pub responses: StatusClasses,
    /// Requests that got no answer (read, write, timeout, parse, upgrade,
    /// unfinished).
    pub failed: u64,
    /// Failed requests and answers outside 2xx and 3xx.
    pub errors: u64,
    /// Latency of this entry's answers, from a histogram with 2 significant digits.
    pub latency: LatencySummary,
}

/// Answers by status class. A 101 is an upgrade failure and counts under `1xx`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusClasses {
    #[serde(rename = "1xx")]
    pub informational: u64,
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "3xx")]
    pub redirection: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
    /// Any status outside 100-599.
    pub other: u64,
}

impl TargetSummary {
    fn of(entry: &crate::TargetRequest, t: &TargetTally) -> TargetSummary {
        let [informational, success, redirection, client_error, server_error, other] = t.classes;
        TargetSummary {
            method: entry.request.method.clone(),
            url: entry.url.clone(),
            requests: t.responses() + t.failed,
            responses: StatusClasses {
                informational,
                success,
                redirection,
                client_error,
                server_error,
                other,
            },
            failed: t.failed,
            errors: t.failed + t.responses() - t.succeeded(),
            latency: LatencySummary::of(&t.latency),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub url: String,
    pub method: String,
    pub connections: usize,
    pub threads: usize,
    /// `closed` or `open`.
    pub pacing: String,
    /// Open loop only: the total rate asked for.
    pub rate: Option<f64>,
    /// Set when the stop is a duration.
    pub duration_s: Option<f64>,
    /// Set when the stop is a request count.
    pub stop_requests: Option<u64>,
    pub warmup_s: f64,
    pub timeout_s: f64,
    pub pipeline: usize,
    /// `--busy-poll`: how long an idle thread polled before sleeping, in
    /// microseconds; absent when it slept at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_poll_us: Option<u64>,
    /// `--coalesce`: how long a thread that had just read something waited
    /// before it looked again, in microseconds; absent when it looked at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalesce_us: Option<u64>,
    /// The HTTP spoken: `http/1.1`, `h2c` (HTTP/2 with prior knowledge
    /// over TCP) or `h2` (over TLS, chosen by ALPN). Absent in summaries
    /// from before HTTP/2, which were all HTTP/1.1.
    #[serde(default = "http1")]
    pub protocol: String,
    /// HTTP/2 loads: the streams per connection and the windows granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2PlanSummary>,
}

fn http1() -> String {
    "http/1.1".to_string()
}

/// What an HTTP/2 load asked of each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Http2PlanSummary {
    /// Concurrent streams per connection: requests in flight are
    /// connections x streams.
    pub streams: usize,
    /// The receive windows granted, per stream and for the connection, in bytes.
    pub stream_window: u32,
    pub connection_window: u32,
}

/// What an HTTP/2 load met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Http2Summary {
    /// The server's SETTINGS, from its first; null when no connection got that far.
    pub server: Option<ServerSettings>,
    /// Requests that waited on the client for a stream (past the server's
    /// limit of concurrent streams, or before its SETTINGS came); their
    /// latency runs from when their stream opened.
    pub waited: u64,
    /// How long those waited.
    pub wait: LatencySummary,
    /// Requests a graceful GOAWAY left unprocessed, sent again on a new connection.
    pub retried: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples in the histogram.
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub stdev_us: f64,
    pub max_us: u64,
    /// Share of samples within one standard deviation of the mean, in percent.
    pub within_stdev_pct: f64,
    pub percentiles: Vec<Percentile>,
    /// The whole histogram, HdrHistogram V2 compressed, base64 (`HISTF...`).
    pub histogram: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    pub percentile: f64,
    pub us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuSummary {
    pub user_s: f64,
    pub system_s: f64,
    /// Context switches of the generator's threads: to wait (voluntary),
    /// and taken off their CPU (involuntary). Absent in summaries from
    /// before they were kept.
    #[serde(default)]
    pub voluntary_switches: Option<u64>,
    #[serde(default)]
    pub involuntary_switches: Option<u64>,
    /// CPU seconds per 100,000 responses of any status; absent when none came.
    pub per_100k_requests_s: Option<f64>,
    /// CPU time over elapsed time, summed over threads (1.0 = one core busy).
    pub cores_busy: f64,
}

/// One agent's share of a load split over several, with the whole it is a
/// share of, so that a merge can check the shares fit together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentSummary {
    /// This agent, counted from 0.
    pub index: u32,
    /// Agents in all.
    pub count: u32,
    /// The whole load's connections, over all agents.
    pub whole_connections: usize,
    /// Open loop: the whole load's rate, over all agents.
    pub whole_rate: Option<f64>,
    /// Set when the whole load stops after a request count.
    pub whole_stop_requests: Option<u64>,
}

/// The measured window (after any warm-up) on the wall clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    /// Unix seconds, fractional.
    pub start_unix_s: f64,
    pub end_unix_s: f64,
    /// The same instants in RFC 3339, UTC.
    pub start: String,
    pub end: String,
}

impl WindowSummary {
    /// The window from `start` for `elapsed`.
    pub fn of(start: SystemTime, elapsed: Duration) -> WindowSummary {
        WindowSummary {
            start_unix_s: unix_seconds(start),
            end_unix_s: unix_seconds(start + elapsed),
            start: rfc3339(start),
            end: rfc3339(start + elapsed),
        }
    }
}

/// Several agents' summaries merged into one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentsSummary {
    /// Agents merged.
    pub count: usize,
    /// The latest window start less the earliest: clock skew between the
    /// hosts plus how late each agent started.
    pub start_spread_s: f64,
    /// Agents (positions in `list`) whose window misses more than half of
    /// the other agents' windows: their load did not run alongside the rest.
    pub not_overlapping: Vec<usize>,
    /// Agents whose generator was busy almost all the time.
    pub saturated: usize,
    /// The checks `--force` overrode, each as the refusal it would have been.
    pub forced: Vec<String>,
    pub list: Vec<AgentSummary>,
}

/// One agent in a merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    /// Where its summary was read from.
    pub source: String,
    pub host: Option<String>,
    pub segment: Option<SegmentSummary>,
    pub window: Option<WindowSummary>,
    pub connections: usize,
    pub threads: usize,
    /// Successful responses, and per second of its own window.
    pub requests: u64,
    pub requests_per_s: f64,
    pub generator_cpu: CpuSummary,
    /// Its generator was busy almost all the time: its share of the rate
    /// may say more about the agent than the server.
    pub saturated: bool,
}

impl Default for LatencySummary {
    /// The summary of an empty histogram.
    fn default() -> LatencySummary {
        LatencySummary::of(&crate::new_histogram())
    }
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        let empty = h.is_empty();
        let (mean, stdev) = if empty {
            (0.0, 0.0)
        } else {
            (h.mean(), h.stdev())
        };
        let within = if empty {
            0.0
        } else {
            let lo = (mean - stdev).max(0.0) as u64;
            let hi = (mean + stdev).ceil() as u64;
            let n: u64 = h
                .iter_recorded()
                .filter(|v| (lo..=hi).contains(&v.value_iterated_to()))
                .map(|v| v.count_at_value())
                .sum();
            100.0 * n as f64 / h.len() as f64
        };
        LatencySummary {
            count: h.len(),
            min_us: if empty { 0 } else { h.min() },
            mean_us: mean,
            stdev_us: stdev,
            max_us: h.max(),
            within_stdev_pct: within,
            percentiles: PERCENTILES
                .iter()
                .map(|p| Percentile {
                    percentile: *p,
                    us: if empty { 0 } else { h.value_at_percentile(*p) },
                })
                .collect(),
            histogram: encode_histogram(h),
        }
    }

    /// The value at one of [`PERCENTILES`], in microseconds.
    pub fn at(&self, percentile: f64) -> Option<u64> {
        self.percentiles
            .iter()
            .find(|p| (p.percentile - percentile).abs() < 1e-9)
            .map(|p| p.us)
    }
}

impl Summary {
    pub fn of(plan: &LoadPlan, report: &LoadReport) -> Summary {
        let elapsed = report.elapsed.as_secs_f64();
        Summary {
            schema: SUMMARY_SCHEMA.to_string(),
            plan: PlanSummary {
                url: plan.target.url.clone(),
                method: plan.request.method.clone(),
                connections: plan.connections,
                threads: plan.threads,
                pacing: match plan.pacing {
                    Pacing::Closed => "closed",
                    Pacing::Open(_) => "open",
                }
                .to_string(),
                rate: match plan.pacing {
                    Pacing::Closed => None,
                    Pacing::Open(r) => Some(r.get()),
                },
                duration_s: match plan.stop {
                    Stop::After(d) => Some(d.as_secs_f64()),
                    Stop::Requests(_) => None,
                },
                stop_requests: match plan.stop {
                    Stop::After(_) => None,
                    Stop::Requests(n) => Some(n),
                },
                warmup_s: plan.warmup.as_secs_f64(),
                timeout_s: plan.timeout.as_secs_f64(),
                pipeline: plan.pipeline,
                busy_poll_us: (!plan.busy_poll.is_zero())
                    .then_some(plan.busy_poll.as_micros() as u64),
                coalesce_us: (!plan.coalesce.is_zero()).then_some(plan.coalesce.as_micros() as u64),
                protocol: match (plan.http2, plan.target.https) {
                    (None, _) => "http/1.1",
                    (Some(_), false) => "h2c",
                    (Some(_), true) => "h2",
                }
                .to_string(),
                http2: plan.http2.map(|h2| Http2PlanSummary {
                    streams: h2.streams,
                    stream_window: h2.stream_window,
                    connection_window: h2.connection_window,
                }),
            },
            requests: report.requests,
            elapsed_s: elapsed,
            requests_per_s: report.rate(),
            bytes: report.bytes,
            bytes_per_s: report.transfer_rate(),
            bytes_sent: report.bytes_sent,
            reconnects: report.reconnects,
            connections_opened: report.connections_opened,
            backlog: report.backlog,
            cancelled: report.cancelled,
            responses: report.responses,
            status_errors_per_s: report.status_error_rate(),
            unanswered: report.unanswered.len(),
            latency_with_unanswered: LatencySummary::of(&report.latency_with_unanswered()),
            silent_connections: report.silent_connections,
            errors: report.errors.clone(),
            latency: LatencySummary::of(&report.latency),
            latency_uncorrected: report.latency_uncorrected.as_ref().map(LatencySummary::of),
            thread_requests_per_s: report.thread_rate_stats(),
            timeline: report.timeline.clone(),
            tenths: report.tenths.clone(),
            burst: Some(report.burst),
            generator_cpu: CpuSummary {
                user_s: report.cpu.user.as_secs_f64(),
                system_s: report.cpu.system.as_secs_f64(),
                voluntary_switches: Some(report.cpu.voluntary_switches),
                involuntary_switches: Some(report.cpu.involuntary_switches),
                per_100k_requests_s: report.cpu_per_100k(),
                cores_busy: if elapsed > 0.0 {
                    report.cpu.total().as_secs_f64() / elapsed
                } else {
                    0.0
                },
            },
            segment: None,
            window: Some(WindowSummary::of(report.started, report.elapsed)),
            host: host_name(),
            agents: None,
            tls: report.tls.as_ref().map(|t| TlsSummary {
                handshakes: t.handshakes,
                resumptions: t.resumptions,
                handshake_latency: LatencySummary::of(&t.handshake_latency),
                protocol: t.protocol.clone(),
                cipher_suite: t.cipher_suite.clone(),
            }),
            http2: report.http2.as_ref().map(|h| Http2Summary {
                server: h.server,
                waited: h.waited,
                wait: LatencySummary::of(&h.wait),
                retried: h.retried,
            }),
            targets: plan
                .targets
                .iter()
                .zip(&report.targets)
                .map(|(entry, t)| TargetSummary::of(entry, t))
                .collect(),
            thresholds: Vec::new(),
        }
    }

    /// Whether the generator's threads were busy almost all the time (over
    /// [`SATURATED_SHARE`] of the elapsed time each): then the rate may say
    /// more about the generator than the server.
    pub fn generator_saturated(&self) -> bool {
        self.generator_cpu.cores_busy > SATURATED_SHARE * self.plan.threads as f64
    }
}

/// The share of its threads' time above which a generator counts as saturated.
pub const SATURATED_SHARE: f64 = 0.9;

/// This host's name as the kernel has it; `None` if it cannot be read.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}
