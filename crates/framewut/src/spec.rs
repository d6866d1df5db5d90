//! The cell spec: one stack x one scenario x one load, every choice made and
//! typed, as the lab runs it and results.json records it.
//!
//! A matrix file ([`crate::lab::matrix`]) is checked and expanded into these;
//! the lab, the model and the reports read them and never parse a string of
//! them again. Their JSON is results.json's `config` of each cell
//! (`docs/results.schema.json`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use framewut_load::{Pacing, Rate, RequestSpec};
use framewut_stacks::variant::{
    ConnVariant, CpuVariant, DbVariant, SleepVariant, UpstreamVariant, VariantRequest, Variants,
};
use framewut_stacks::{Model, Scenario};
use serde::{Deserialize, Serialize};

use crate::python::{AppServer, Interface, PythonVariants, SleepMode, UpstreamClient};
use crate::units;
use crate::urls::{BaseUrl, MetricsUrl};

/// Which database `/db` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    /// A SQLite file framewut makes and seeds for the run.
    Sqlite,
    /// PostgreSQL: the URL given, or a throwaway server framewut starts.
    Postgres,
}

/// A rate in requests per second that is positive and finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct PerSecond(Rate);

impl PerSecond {
    pub fn rate(self) -> Rate {
        self.0
    }
}

impl TryFrom<f64> for PerSecond {
    type Error = String;
    fn try_from(value: f64) -> Result<Self, String> {
        Rate::per_second(value).map(PerSecond).ok_or_else(|| {
            format!("a rate of {value}: give a positive number of requests per second, e.g. 1000")
        })
    }
}

impl From<PerSecond> for f64 {
    fn from(rate: PerSecond) -> f64 {
        rate.0.get()
    }
}

/// A figure recorded elsewhere for the same question, carried beside the
/// measurement so a report can show both: for the seed presets, the req/s the
/// seed recorded for the row (../seed/MATRIX.md). The model never uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Requests per second.
    pub requests_per_s: f64,
    /// Where the figure comes from, e.g. `seed: plain WSGI / sync worker`.
    pub source: String,
}

/// What a cell's scenario is, with its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum ScenarioSpec {
    Hello,
    Sleep {
        #[serde(rename = "sleep_ms", with = "units::millis")]
        sleep: Duration,
    },
    Upstream {
        /// The upstream's wait before each answer.
        #[serde(rename = "delay_ms", with = "units::millis")]
        delay: Duration,
        /// The upstream's wait before a new connection's first answer: the
        /// fake cost of a plain-HTTP connection; zero over TLS, where the
        /// real handshake is the cost.
        #[serde(rename = "connect_cost_ms", with = "units::millis")]
        connect_cost: Duration,
        // An upstream served over HTTPS.
        /// Whether the upstream serves HTTPS (`framewut upstream --tls`) and
        /// the stack calls it with the test CA.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        tls: bool,
    },
    Cpu {
        n: u32,
    },
    Db {
        database: Database,
        /// An existing PostgreSQL server's URL; none starts a throwaway one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// The matrix's own requests (`[scenario.NAME]` with a path or targets).
    Custom(CustomScenario),
}

impl ScenarioSpec {
    /// The built-in scenario; none for a custom one.
    pub fn scenario(&self) -> Option<Scenario> {
        match self {
            ScenarioSpec::Hello => Some(Scenario::Hello),
            ScenarioSpec::Sleep { .. } => Some(Scenario::Sleep),
            ScenarioSpec::Upstream { .. } => Some(Scenario::Upstream),
            ScenarioSpec::Cpu { .. } => Some(Scenario::Cpu),
            ScenarioSpec::Db { .. } => Some(Scenario::Db),
            ScenarioSpec::Custom(_) => None,
        }
    }

    /// Its name in cell ids and reports: a built-in's (`hello`) or the
    /// matrix's for a custom one (`search`).
    pub fn name(&self) -> &str {
        match self {
            ScenarioSpec::Custom(custom) => &custom.label,
            builtin => builtin.scenario().map_or("", Scenario::as_str),
        }
    }

    /// Whether it is this built-in scenario.
    pub fn is(&self, scenario: Scenario) -> bool {
        self.scenario() == Some(scenario)
    }

    /// The upstream stand-in the stack calls, when it calls one: this
    /// scenario's, or the one a custom scenario uses.
    pub fn upstream(&self) -> Option<UpstreamNeed> {
        match self {
            ScenarioSpec::Upstream {
                delay,
                connect_cost,
                tls,
            } => Some(UpstreamNeed {
                delay: *delay,
                connect_cost: *connect_cost,
                tls: *tls,
            }),
            ScenarioSpec::Custom(custom) => custom.uses.iter().find_map(ScenarioSpec::upstream),
            _ => None,
        }
    }

    /// The database the stack reads, when it reads one.
    pub fn database(&self) -> Option<(Database, Option<&str>)> {
        match self {
            ScenarioSpec::Db { database, url } => Some((*database, url.as_deref())),
            ScenarioSpec::Custom(custom) => custom.uses.iter().find_map(ScenarioSpec::database),
            _ => None,
        }
    }
}

/// The upstream stand-in a cell starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamNeed {
    pub delay: Duration,
    pub connect_cost: Duration,
    pub tls: bool,
}

/// A scenario a matrix describes as requests to the stack rather than as
/// one of the built-in handlers: the user's own endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomScenario {
    /// Its name in the matrix (`[scenario.NAME]`) and in cell ids.
    pub label: String,
    /// The requests a load sends, taking turns: one for a single request,
    /// more for a request list.
    pub requests: Vec<CustomRequest>,
    /// The targets file the requests were read from, as the matrix names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<String>,
    /// What a correct answer is.
    pub expect: Expect,
    /// The built-in scenarios whose services the stack needs for these
    /// requests (`upstream`, `db`): framewut starts them as for those
    /// scenarios and passes their addresses in the stack's environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<ScenarioSpec>,
}

/// One request of a custom scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRequest {
    pub method: String,
    /// Path and query, from `/`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}

impl CustomRequest {
    /// `GET /items`, for messages.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The request as the load generator sends it.
    pub fn request_spec(&self) -> RequestSpec {
        RequestSpec {
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.clone().into_bytes(),
        }
    }
}

/// What a custom scenario's correct answer is: its status, and optionally
/// its content type's start and a text its body holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

impl Default for Expect {
    fn default() -> Expect {
        Expect {
            status: 200,
            content_type: None,
            contains: None,
        }
    }
}

impl Expect {
    /// Why an answer is not what was expected, if it is not.
    pub fn check(
        &self,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        if status != self.status {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(format!(
                "it answered {status}, expected {}; the body began {text:?}",
                self.status
            ));
        }
        if let Some(expected) = &self.content_type {
            let got = content_type.unwrap_or("");
            if !got
                .to_ascii_lowercase()
                .starts_with(&expected.to_ascii_lowercase())
            {
                return Err(format!(
                    "its Content-Type is {got:?}, expected {expected:?}"
                ));
            }
        }
        if let Some(text) = &self.contains {
            let body = String::from_utf8_lossy(body);
            if !body.contains(text.as_str()) {
                return Err(format!("its body does not hold {text:?}"));
            }
        }
        Ok(())
    }
}

/// Where a stack comes from and how it is started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StackSource {
    /// One of framewut's own stacks, run as `framewut serve ID ...`.
    BuiltIn {
        id: String,
        /// The concurrency model, in the project's words.
        model: Model,
        /// The variants asked for, as `--variant` takes them; none means the stack's defaults.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant_request: Option<VariantRequest>,
        /// Every variant, decided: `sleep=async,upstream=async-pooled,cpu=inline,db=blocking`.
        variants: Variants,
        /// Whether the connection is closed after every response (`serve --close`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        close: bool,
    },
    /// A Python stack, run from framewut's own virtual environment.
    Python {
        id: String,
        model: Model,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant_request: Option<PythonVariants>,
        /// How `/sleep` waits: `blocking` or `cooperative`.
        sleep: SleepMode,
        /// The `/upstream` client: `fresh`, `session` or `futures`.
        client: UpstreamClient,
    },
    /// A command the user gave, run through `sh -c` after its `{port}` and
    /// `{workers}` placeholders are filled in.
    External {
        command: String,
        /// The path polled until the stack answers.
        ready_path: String,
    },
    /// The user's own Python app under one server, from an environment of
    /// its own: the app's requirements and the servers, pinned.
    App {
        /// `module:attribute`, as the server imports it.
        app: String,
        interface: Interface,
        /// The directory the app is imported from.
        dir: PathBuf,
        /// Its requirements file.
        requirements: PathBuf,
        server: AppServer,
        /// The concurrency model the server gives the app.
        model: Model,
        /// Threads per worker, for a server that runs requests on threads.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        threads: Option<u32>,
        /// Whether the app expects gevent's monkey-patching, which framewut
        /// then applies before importing it (gevent's worker patches anyway).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        patched: bool,
        /// The path polled until the app answers.
        ready_path: String,
    },
    // A server framewut does not start.
    /// A server already running, here or on another host, that framewut
    /// loads at `url` but neither starts nor stops.
    Remote {
        /// Its base URL, `http://host:port`; the scenario's path is appended.
        url: BaseUrl,
        /// The path polled until the stack answers.
        ready_path: String,
        /// A Prometheus endpoint giving its CPU time; none leaves its CPU unmeasured.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<MetricsUrl>,
    },
}

/// A stack as one cell runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackSpec {
    /// The stack's name in cell ids: its id or the matrix's `name`.
    pub label: String,
    pub source: StackSource,
    /// Worker threads, processes or event loops.
    pub workers: usize,
    /// Extra environment for the stack's process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(rename = "ready_timeout_s", with = "units::secs")]
    pub ready_timeout: Duration,
    // A stack served over HTTPS.
    /// Whether the stack serves HTTPS with the test CA's certificate, and
    /// is loaded over https:// trusting that CA.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
}

/// Closed or open loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum PacingSpec {
    Closed,
    Open { rate: PerSecond },
}

impl PacingSpec {
    pub fn pacing(self) -> Pacing {
        match self {
            PacingSpec::Closed => Pacing::Closed,
            PacingSpec::Open { rate } => Pacing::Open(rate.rate()),
        }
    }
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// How one cell is loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadProfile {
    /// The profile's name in the matrix.
    pub profile: String,
    pub connections: usize,
    pub threads: usize,
    /// How long a trial measures; with `max_duration`, the least it does.
    #[serde(rename = "duration_s", with = "units::secs")]
    pub duration: Duration,
    // Trials long enough to mean something (issue 18).
    /// The longest a trial may measure: a trial then lasts
    /// [`ROUNDS`](crate::lab::runner::phases::ROUNDS) rounds per connection at the rate
    /// the model predicts, at least `duration` and at most this. None
    /// measures every trial for `duration`.
    #[serde(
        rename = "max_duration_s",
        default,
        skip_serializing_if = "Option::is_none",
        with = "units::secs_opt"
    )]
    pub max_duration: Option<Duration>,
    #[serde(rename = "warmup_s", with = "units::secs")]
    pub warmup: Duration,
    #[serde(rename = "timeout_s", with = "units::secs")]
    pub timeout: Duration,
    pub pacing: PacingSpec,
    pub trials: u32,
    // Replicates where the variance lives (issue 20).
    /// How many starts of the stack the trials are spread over: 1 runs
    /// every trial on one server process; `trials` gives each trial a
    /// server of its own. A comparison's replicates are the servers, not
    /// the trials: two trials of one process share its start and its moment.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub servers: u32,
    /// Set for a later start of a cell's stack, whose first start measured
    /// its calibration: this one measures none. Never saved.
    #[serde(skip)]
    pub calibrated: bool,
    /// Set for the last start of a cell's stack: after its trials, one more
    /// window of the same load counts the system calls of each side, apart
    /// from every measured trial. Never saved.
    #[serde(skip)]
    pub last_start: bool,
    /// Whether the last start records where the stack's CPU goes, in a
    /// window of its own after the trials (a profile's `cpu_profile`, or
    /// `--profile`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cpu_profile: bool,
    /// Pass/fail thresholds the cell is checked against (a profile's
    /// `thresholds`), in canonical form, e.g. `p99 < 50ms`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<framewut_load::Threshold>,
    // A connection per request, so that every request pays a
    // connection's set-up (a TLS handshake over HTTPS).
    /// Whether every request asks the server to close its connection
    /// (`Connection: close`), and the generator opens a new one for the next.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub close: bool,
    // HTTP/2 (issue 24): absent in results from before it, which were all HTTP/1.1.
    /// The HTTP the generator speaks: h2 is h2c with prior knowledge in
    /// cleartext, and h2 chosen by ALPN over TLS.
    #[serde(default, skip_serializing_if = "Protocol::is_http1")]
    pub protocol: Protocol,
    /// HTTP/2's concurrent streams per connection: the requests in flight
    /// are connections x streams. 1 for HTTP/1.1.
    #[serde(default = "one_usize", skip_serializing_if = "is_one_usize")]
    pub streams: usize,
}

/// Which HTTP a cell's generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    #[serde(rename = "http/1.1")]
    Http1,
    #[serde(rename = "h2")]
    H2,
}

impl Protocol {
    fn is_http1(&self) -> bool {
        *self == Protocol::Http1
    }

    /// Its name in matrices and results: `http/1.1` or `h2`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "http/1.1",
            Protocol::H2 => "h2",
        }
    }
}

fn one_usize() -> usize {
    1
}

fn is_one_usize(n: &usize) -> bool {
    *n == 1
}

impl LoadProfile {
    /// The requests the generator keeps in flight in closed loop: one per
    /// connection, or one per stream of each HTTP/2 connection.
    pub fn in_flight(&self) -> usize {
        self.connections * self.streams
    }

    /// The load's size in words: `64 connections`, or `4 connections x 16
    /// streams (h2)`.
    pub fn size_words(&self) -> String {
        match self.protocol {
            Protocol::Http1 => {
                crate::format::count(self.connections as u64, "connection", "connections")
            }
            Protocol::H2 => format!(
                "{} x {} (h2)",
                crate::format::count(self.connections as u64, "connection", "connections"),
                crate::format::count(self.streams as u64, "stream", "streams")
            ),
        }
    }

    /// How many trials each start of the stack runs, in order: the trials
    /// shared out as evenly as they go, the earlier starts taking the rest.
    pub fn trials_per_server(&self) -> Vec<u32> {
        let servers = self.servers.clamp(1, self.trials.max(1));
        (0..servers)
            .map(|k| self.trials / servers + u32::from(k < self.trials % servers))
            .collect()
    }
}

/// One stack x one scenario x one load: everything needed to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSpec {
    /// Stable, readable: `rust/axum/tokio-multi/hello/c64`.
    pub id: String,
    pub stack: StackSpec,
    pub scenario: ScenarioSpec,
    pub load: LoadProfile,
    /// A figure to show beside this cell's measurement, from the matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// How a cell's scenario waits or works inside its stack: the one variant
/// of the stack's that the scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioVariant {
    Sleep(SleepVariant),
    Upstream(UpstreamVariant),
    Cpu(CpuVariant),
    Db(DbVariant),
    /// A Python stack's sleep.
    PythonSleep(SleepMode),
    /// A Python stack's upstream client.
    PythonClient(UpstreamClient),
}

impl ScenarioVariant {
    /// Whether the upstream client opens a new connection for every call.
    pub fn fresh_connections(self) -> bool {
        match self {
            ScenarioVariant::Upstream(v) => v.conn == ConnVariant::Fresh,
            ScenarioVariant::PythonClient(client) => !client.pooled(),
            _ => false,
        }
    }
}

/// The variant's own word: `async`, `blocking-fresh`, `futures`.
impl fmt::Display for ScenarioVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioVariant::Sleep(v) => v.fmt(f),
            ScenarioVariant::Upstream(v) => v.fmt(f),
            ScenarioVariant::Cpu(v) => v.fmt(f),
            ScenarioVariant::Db(v) => v.fmt(f),
            ScenarioVariant::PythonSleep(v) => v.fmt(f),
            ScenarioVariant::PythonClient(v) => v.fmt(f),
        }
    }
}

impl CellSpec {
    /// The variant that decides how this cell's scenario runs, when the
    /// stack has one: none for hello, and none for an external or remote stack.
    pub fn variant(&self) -> Option<ScenarioVariant> {
        let scenario = self.scenario.scenario()?;
        match &self.stack.source {
            StackSource::BuiltIn { variants, .. } => match scenario {
                Scenario::Hello => None,
                Scenario::Sleep => Some(ScenarioVariant::Sleep(variants.sleep)),
                Scenario::Upstream => Some(ScenarioVariant::Upstream(variants.upstream)),
                Scenario::Cpu => Some(ScenarioVariant::Cpu(variants.cpu)),
                Scenario::Db => Some(ScenarioVariant::Db(variants.db)),
            },
            StackSource::Python { sleep, client, .. } => match scenario {
                Scenario::Sleep => Some(ScenarioVariant::PythonSleep(*sleep)),
                Scenario::Upstream => Some(ScenarioVariant::PythonClient(*client)),
                Scenario::Hello | Scenario::Cpu | Scenario::Db => None,
            },
            StackSource::External { .. } | StackSource::Remote { .. } | StackSource::App { .. } => {
                None
            }
        }
    }

    /// Whether the cell's upstream client opens a new connection for every call.
    pub fn fresh_connections(&self) -> bool {
        self.variant()
            .is_some_and(ScenarioVariant::fresh_connections)
    }

    /// Whether the cell's upstream serves HTTPS.
    pub fn upstream_tls(&self) -> bool {
        self.scenario.upstream().is_some_and(|u| u.tls)
    }
}
