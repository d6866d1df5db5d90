//! The model: a predicted ceiling for every cell from its configuration, the
//! bound that sets it, and the measurement set against it.
//!
//! Little's law: a stack that can hold `N` requests at once, each for `S`
//! seconds, completes at most `N / S` requests a second. `N` is the smaller
//! of the load's connections and the stack's slots (workers x what each
//! worker can hold at once); `S` is the scenario's wait (the sleep, the
//! upstream's delay, plus its connect cost when every call opens a fresh
//! connection) plus the CPU time one request costs. A new connection's cost
//! is the upstream's fake connect cost over plain HTTP, and over TLS the
//! real handshake: the upstream's CPU per handshake and the round trips,
//! measured by a probe before the cell ([`Handshake`]; the client's side is
//! the stack's own CPU, counted with its CPU per request); the upstream's
//! handshake CPU is then a ceiling of its own ([`BoundKind::UpstreamCpu`]). The cores give a second
//! ceiling, `cores / CPU per request`, on the server's side and on the load
//! generator's; the smallest ceiling binds, and an open-loop load can also
//! be held down by the rate it offers.
//!
//! The wait-bound ceilings come from the configuration alone. The CPU
//! ceilings need what a request costs, and where that cost comes from is
//! recorded ([`CostSource`]): a calibration measured apart from the trials
//! (the window of their load just before them, or a closed-loop probe of
//! its own for an open-loop cell: the server's and the generator's CPU
//! sets, kernel work included, per request), so the trial can miss the
//! prediction; or, for results without one, the trial's own CPU over its
//! own requests, which only restates
//! the trial's utilisation. After the trials, [`usage`] says from the
//! per-CPU figures what actually held the cell.
//!
//! The model depends only on a cell's spec, the number of server CPUs of
//! the placement and what the trials measured ([`Measurement`]); the lab's
//! live table and the reports both ask it, and nothing it computes is stored
//! in results.json.
//!
//! ```
//! use framewut::model::{BoundKind, CostSource, Inputs};
//!
//! // The seed's sleep row: 10 sync workers, 200 connections, 100 ms sleep.
//! let inputs = Inputs {
//!     connections: 200,
//!     streams: 1,
//!     slots: Some(10),
//!     slots_words: "10 workers x 1".into(),
//!     wait_ms: 100.0,
//!     wait_words: "100 ms sleep".into(),
//!     upstream: false,
//!     cpu_us_per_request: Some(200.0),
//!     cost_source: CostSource::Calibration,
//!     generator_us_per_request: Some(50.0),
//!     generator_cores: 1,
//!     cores: 1,
//!     cores_words: "1 core".into(),
//!     offered_per_s: None,
//!     upstream_handshake_us: None,
//!     upstream_cores: None,
//!     unjudged: None,
//! };
//! let (ceiling, bounds) = inputs.ceiling();
//! assert_eq!(ceiling.kind, BoundKind::Workers);
//! assert_eq!(ceiling.per_s.round(), 100.0);
//! assert_eq!(ceiling.words, "worker concurrency: 10 workers x 1 / 100 ms");
//! assert_eq!(bounds.len(), 3, "the server's CPU, the generator's, the workers");
//! ```

mod inputs;
pub mod little;
mod shape;
pub mod usage;
pub mod usl;

use serde::{Deserialize, Serialize};

use crate::format::{count, rate, seconds};
use crate::spec::{CellSpec, StackSource};
pub use shape::{model_of, waiting_of, Waiting};
use usage::{Held, Usage};

/// Below this share of its prediction a cell is a surprise.
pub const SURPRISE_BELOW: f64 = 0.7;
/// Above this share of its prediction a cell is a surprise.
pub const SURPRISE_ABOVE: f64 = 1.15;

/// Threads in one tokio runtime's blocking pool (its default
/// `max_blocking_threads`): the most offloaded calls one runtime runs at once.
pub const BLOCKING_POOL: u64 = 512;

/// What holds a cell's throughput down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundKind {
    /// The stack's workers (or its blocking pool) are all busy.
    Workers,
    /// Every connection of the load is waiting on the stack.
    Connections,
    /// Every connection is waiting on the upstream's calls.
    Upstream,
    /// The cores the stack can use are busy.
    Cpu,
    /// The load generator's cores are busy.
    Generator,
    /// An open-loop load asked for no more than this.
    OfferedRate,
    /// The upstream's cores are busy with the TLS handshakes of the
    /// stack's fresh connections.
    UpstreamCpu,
}

impl BoundKind {
    /// A word for narrow tables: `workers`, `conns`, `cpu`, `upstream`, `rate`.
    pub fn short(self) -> &'static str {
        match self {
            BoundKind::Workers => "workers",
            BoundKind::Connections => "conns",
            BoundKind::Upstream => "upstream",
            BoundKind::Cpu => "cpu",
            BoundKind::Generator => "gen",
            BoundKind::OfferedRate => "rate",
            BoundKind::UpstreamCpu => "up cpu",
        }
    }
}

/// One ceiling: a rate and the reason for it in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub kind: BoundKind,
    pub per_s: f64,
    /// `worker concurrency: 10 workers x 1 / 100 ms`, `CPU: 1 core / 85 µs per request`.
    pub words: String,
    /// The arithmetic alone, for sentences: `10 workers x 1 / 100 ms`,
    /// `32 connections / 100 ms`, `1 core / 85 µs per request`.
    pub formula: String,
}

/// What the model knows about a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    /// The load's connections: the most requests in flight at once. Over
    /// HTTP/2, every stream of every connection.
    pub connections: u64,
    /// HTTP/2's streams per connection (1 for HTTP/1.1, and absent): the
    /// requests in flight are then `connections` streams, that many to a
    /// connection.
    #[serde(default = "one_stream", skip_serializing_if = "is_one_stream")]
    pub streams: u64,
    /// Requests the stack can hold at once; none when only the connections limit it.
    pub slots: Option<u64>,
    /// The slots in words: `10 workers x 1`, `one blocking pool of 512 threads`.
    pub slots_words: String,
    /// What each request waits for, off the CPU.
    pub wait_ms: f64,
    /// The wait in words: `100 ms sleep`, `50 ms upstream delay + 30 ms connect`.
    pub wait_words: String,
    /// Whether the wait is an upstream call.
    pub upstream: bool,
    /// The server's CPU time per request; none before any request.
    pub cpu_us_per_request: Option<f64>,
    /// Where the CPU times per request come from.
    pub cost_source: CostSource,
    /// The load generator's CPU time per request, kernel work included:
    /// from a calibration only.
    #[serde(default)]
    pub generator_us_per_request: Option<f64>,
    /// The generator's cores: its threads, at most its CPUs.
    #[serde(default)]
    pub generator_cores: u64,
    /// The cores the stack can keep busy: its CPUs, or fewer when it has fewer threads.
    pub cores: u64,
    /// `1 core`, or `1 core (1 event loop on 2 server CPUs)`.
    pub cores_words: String,
    /// The open-loop rate asked for; none in closed loop.
    pub offered_per_s: Option<f64>,
    // What a new TLS connection to the upstream costs it.
    /// The upstream's CPU per call, when every call opens a new TLS
    /// connection: its side of one handshake, from the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_handshake_us: Option<f64>,
    /// The cores the upstream runs on (its threads follow its CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_cores: Option<u64>,
    // A url stack's server may be out of framewut's sight.
    /// The bound the model cannot judge for want of a measurement, in
    /// words; its ceiling is left out rather than guessed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unjudged: Option<String>,
}

/// What one TLS handshake costs, measured by the lab's probe before the
/// cell: full handshakes (no resumption) between rustls' client and server
/// in one thread on the server's CPUs, each side's calls timed by the
/// thread's CPU clock, and a TCP connect on loopback for the round trip.
/// The model uses the server's side (the upstream stand-in runs rustls);
/// a client's side is its stack's own CPU, measured with the stack, so a
/// Python client's OpenSSL is counted as what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    /// The handshakes timed.
    pub handshakes: u32,
    /// The client's CPU per handshake, in microseconds.
    pub client_us: f64,
    /// The server's CPU per handshake, in microseconds.
    pub server_us: f64,
    /// The round trips the client waits before it can send its request,
    /// counted from the handshake's flights (1 for TLS 1.3), TCP's not included.
    pub round_trips: u32,
    /// One round trip on loopback: the median time of a TCP connect, in microseconds.
    pub rtt_us: f64,
}

impl Handshake {
    /// What a new TLS connection adds to a call's wait, in seconds: the
    /// server's handshake CPU and the round trips of TCP's connect and of
    /// TLS. The client's own handshake CPU is not part of it: it is spent
    /// by the client's process, and so counted in the stack's CPU per
    /// request, whatever TLS library the client runs.
    pub fn wait_s(&self) -> f64 {
        (self.server_us + f64::from(1 + self.round_trips) * self.rtt_us) / 1e6
    }

    /// `850 µs TLS connect (827 µs upstream CPU, 2 round trips)`.
    pub fn words(&self, server: &str) -> String {
        format!(
            "{} TLS connect ({} {server} CPU, {} round trips)",
            seconds(self.wait_s()),
            seconds(self.server_us / 1e6),
            1 + self.round_trips
        )
    }
}

/// The model's verdict on one measured cell, stored in results.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The smallest ceiling.
    pub predicted_per_s: f64,
    /// What sets it.
    pub bound: BoundKind,
    /// The binding bound in words.
    pub because: String,
    /// The binding bound's arithmetic alone: `10 workers x 1 / 100 ms`.
    pub formula: String,
    /// Mean req/s over the trials.
    pub measured_per_s: f64,
    /// `measured / predicted`.
    pub ratio: f64,
    /// Whether the ratio lies outside 0.7-1.15: the cell is worth a closer look.
    pub surprise: bool,
    /// Every ceiling considered, the binding one included.
    pub bounds: Vec<Bound>,
    pub inputs: Inputs,
    /// What held the cell, from the trials' per-CPU figures, when they
    /// were measured: measured, not predicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

/// Where a CPU ceiling's cost per request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// A calibration before the trials (a window of their load, or a probe
    /// of its own) measured the server's and the generator's CPU sets per
    /// request, kernel work included: a prediction the trial can miss.
    Calibration,
    /// The trial's own server CPU over its own requests: the ceiling only
    /// restates how busy the trial kept the server.
    Trial,
}

fn one_stream() -> u64 {
    1
}

fn is_one_stream(n: &u64) -> bool {
    *n == 1
}

impl Inputs {
    /// The requests in flight in words: `64 connections`, or over HTTP/2
    /// `64 streams (4 connections x 16)`.
    fn in_flight_words(&self) -> String {
        match self.streams {
            0 | 1 => count(self.connections, "connection", "connections"),
            streams => format!(
                "{} ({} x {streams})",
                count(self.connections, "stream", "streams"),
                count(self.connections / streams, "connection", "connections")
            ),
        }
    }

    /// The time one request holds its slot in words, and what it is made of
    /// when that is worth saying: `80 ms` and `50 ms upstream delay + 30 ms
    /// connect`, or `100 ms` and `100 ms sleep + 6.2 ms CPU`.
    fn service_words(&self, service_s: f64, cpu_s: f64) -> (String, String) {
        let wait_s = self.wait_ms / 1e3;
        if wait_s <= 0.0 {
            return (format!("{} CPU per request", seconds(cpu_s)), String::new());
        }
        let detail = if cpu_s >= 0.05 * service_s {
            format!(" ({} + {} CPU)", self.wait_words, seconds(cpu_s))
        } else if self.wait_words.contains('+') {
            format!(" ({})", self.wait_words)
        } else {
            String::new()
        };
        (seconds(service_s), detail)
    }

    /// Every ceiling that applies, and the one that binds (the smallest; the
    /// CPU wins a tie, being the likelier reason).
    pub fn ceiling(&self) -> (Bound, Vec<Bound>) {
        let cpu_s = self.cpu_us_per_request.unwrap_or(0.0) / 1e6;
        let mut bounds = Vec::new();
        let measured_in = match self.cost_source {
            CostSource::Calibration => "",
            CostSource::Trial => " (the trial's own)",
        };
        if cpu_s > 0.0 && self.unjudged.is_none() {
            let formula = format!(
                "{} / {} per request{measured_in}",
                self.cores_words,
                seconds(cpu_s)
            );
            bounds.push(Bound {
                kind: BoundKind::Cpu,
                per_s: self.cores as f64 / cpu_s,
                words: format!("CPU: {formula}"),
                formula,
            });
        }
        if let Some(generator_s) = self.generator_us_per_request.map(|us| us / 1e6) {
            if generator_s > 0.0 {
                let formula = format!(
                    "{} / {} per request",
                    count(self.generator_cores, "generator core", "generator cores"),
                    seconds(generator_s)
                );
                bounds.push(Bound {
                    kind: BoundKind::Generator,
                    per_s: self.generator_cores as f64 / generator_s,
                    words: format!("generator CPU: {formula}"),
                    formula,
                });
            }
        }
        let service_s = self.wait_ms / 1e3 + cpu_s;
        if service_s > 0.0 {
            let held = self
                .slots
                .map_or(self.connections, |s| s.min(self.connections));
            let per_s = held as f64 / service_s;
            let (service, detail) = self.service_words(service_s, cpu_s);
            let connections = self.in_flight_words();
            let (kind, words, formula) = match self.slots {
                Some(slots) if slots < self.connections => {
                    let formula = format!("{} / {service}{detail}", self.slots_words);
                    (
                        BoundKind::Workers,
                        format!("worker concurrency: {formula}"),
                        formula,
                    )
                }
                _ if self.upstream => {
                    let formula = format!("{connections} / {service} per call{detail}");
                    (BoundKind::Upstream, format!("upstream: {formula}"), formula)
                }
                _ => (
                    BoundKind::Connections,
                    match self.streams {
                        0 | 1 => format!("connections: {} / {service}{detail}", self.connections),
                        _ => format!("connections: {connections} / {service}{detail}"),
                    },
                    format!("{connections} / {service}{detail}"),
                ),
            };
            bounds.push(Bound {
                kind,
                per_s,
                words,
                formula,
            });
        }
        if let (Some(us), Some(cores)) = (self.upstream_handshake_us, self.upstream_cores) {
            if us > 0.0 {
                let formula = format!(
                    "{} / {} of TLS handshake per call",
                    count(cores, "upstream core", "upstream cores"),
                    seconds(us / 1e6)
                );
                bounds.push(Bound {
                    kind: BoundKind::UpstreamCpu,
                    per_s: cores as f64 * 1e6 / us,
                    words: format!("upstream CPU: {formula}"),
                    formula,
                });
            }
        }
        if let Some(offered) = self.offered_per_s {
            bounds.push(Bound {
                kind: BoundKind::OfferedRate,
                per_s: offered,
                words: format!("offered rate: {}", rate(offered)),
                formula: format!("{} offered", rate(offered)),
            });
        }
        let binding = bounds
            .iter()
            .fold(None::<&Bound>, |best, b| match best {
                Some(best) if best.per_s <= b.per_s => Some(best),
                _ => Some(b),
            })
            .cloned()
            .unwrap_or(Bound {
                kind: BoundKind::Connections,
                per_s: f64::INFINITY,
                words: "nothing: no wait and no CPU time was measured".to_string(),
                formula: String::new(),
            });
        (binding, bounds)
    }
}

/// For a url stack, the bound the model cannot judge, in words: the
/// server's CPU when it was not measured (`cpu_known` false), or its CPU
/// ceiling when the cores it ran on are unknown (`server_cpus` 0: a process
/// counter, which does not say its host's cores). None for a stack framewut
/// starts, whose CPU it always measures.
pub fn unjudged(spec: &CellSpec, server_cpus: usize, cpu_known: bool) -> Option<String> {
    let StackSource::Remote { metrics, .. } = &spec.stack.source else {
        return None;
    };
    if !cpu_known {
        Some(match metrics {
            None => "the server's CPU: it runs where framewut cannot see it and its [[stack]] gives no metrics endpoint, so whether its cores held the rate is not judged; add metrics = \"http://HOST:9100/metrics\" (node_exporter) to judge it".to_string(),
            Some(url) => format!("the server's CPU: its metrics ({url}) could not be read for every trial, so whether its cores held the rate is not judged"),
        })
    } else if server_cpus == 0 {
        Some("the server's CPU ceiling: its metrics give the process's CPU time but not how many cores its host has, so the ceiling is not judged; node_exporter's node_cpu_seconds_total gives both".to_string())
    } else {
        None
    }
}

/// Rounds to four significant figures, so results.json stays readable.
fn round4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The CPUs of a placement, counted: the server's and the load generator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpus {
    pub server: usize,
    pub generator: usize,
}

/// What a calibration measured apart from the trials: the CPU time
/// one request costs each side's CPU set, the kernel's work for it included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub server_us: f64,
    pub generator_us: f64,
}

/// What was measured of a cell that the model needs: the trials' rate it
/// sets against its ceiling, the trials' own server CPU per request, the
/// calibration's costs when one was measured, and the trials' per-CPU figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Mean req/s over the trials.
    pub requests_per_s: f64,
    /// Server CPU microseconds per completed request in the trials; none
    /// before any request.
    pub server_cpu_us_per_request: Option<f64>,
    /// What a request cost, from the calibration before the trials.
    pub calibration: Option<Costs>,
    /// How the CPU sets spent the trials.
    pub usage: Option<Usage>,
    /// What a TLS handshake cost, from the probe before a cell that speaks TLS.
    pub handshake: Option<Handshake>,
    /// For a custom scenario, the mean time one request took with one
    /// connection and nothing queued: its service time, measured.
    pub service_us: Option<f64>,
}

impl Prediction {
    /// The model's verdict on a measured cell placed on `cpus`; none when
    /// nothing sets a finite ceiling.
    pub fn of(spec: &CellSpec, cpus: Cpus, measured: Measurement) -> Option<Prediction> {
        let mut inputs = Inputs::of(spec, cpus, &measured);
        inputs.cpu_us_per_request = inputs.cpu_us_per_request.map(round4);
        inputs.generator_us_per_request = inputs.generator_us_per_request.map(round4);
        let (binding, mut bounds) = inputs.ceiling();
        if !binding.per_s.is_finite() {
            return None;
        }
        let ratio = measured.requests_per_s / binding.per_s;
        for b in &mut bounds {
            b.per_s = round4(b.per_s);
        }
        Some(Prediction {
            predicted_per_s: round4(binding.per_s),
            bound: binding.kind,
            because: binding.words,
            formula: binding.formula,
            measured_per_s: round4(measured.requests_per_s),
            ratio: (ratio * 1000.0).round() / 1000.0,
            surprise: !(SURPRISE_BELOW..=SURPRISE_ABOVE).contains(&ratio),
            bounds,
            inputs,
            held: measured.usage.map(|u| u.held()),
        })
    }
}

#[cfg(test)]
mod tests;
