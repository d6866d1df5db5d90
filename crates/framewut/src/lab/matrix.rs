//! Matrix files: the stacks, scenarios and load profiles to cross, and where
//! to run them, read from TOML into a list of fully decided [`CellSpec`]s.
//!
//! ```toml
//! description = "sync pool against work stealing"
//! scenarios = ["hello", "sleep"]
//!
//! [scenario.sleep]
//! duration = "100ms"
//!
//! [[stack]]
//! id = "rust/std/sync-pool"
//! workers = [2, 8]
//!
//! [[stack]]
//! name = "py-http"
//! command = "python3 server.py --port {port} --workers {workers}"
//! ready = "/hello"
//! scenarios = ["hello"]
//!
//! [[profile]]
//! connections = [16, 64]
//! duration = "5s"
//! warmup = "1s"
//! trials = 3
//!
//! [placement]
//! server_cpus = "0"
//! load_cpus = "1"
//! ```
//!
//! Every mistake is reported with the line and column it is on and what was
//! expected there. Two stages, as everywhere in framewut: the TOML's raw
//! shape ([`RawMatrix`], with spans) is checked once into a [`Matrix`], whose
//! [`Matrix::cells`] expands to cells that can no longer be wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use framewut_load::{Pacing, Rate};
use framewut_stacks::catalogue::{find, Workers};
use framewut_stacks::db::DbTarget;
use framewut_stacks::variant::VariantRequest;
use framewut_stacks::Scenario;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::cpus::{CpuSet, Placement, PlacementOrigin};
use super::units;
use crate::python::{find_python_stack, PythonStack, SleepMode, UpstreamClient};

/// The contract's defaults for the scenarios' options.
const DEFAULT_SLEEP: Duration = Duration::from_millis(100);
const DEFAULT_UPSTREAM_DELAY: Duration = Duration::from_millis(50);
const DEFAULT_CONNECT_COST: Duration = Duration::from_millis(30);
const DEFAULT_CPU_N: u32 = 100_000;
/// How long a stack has to answer its readiness path, unless its entry says otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A matrix file that could not be read, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    /// The file name or preset it came from.
    pub origin: String,
    /// 1-based line and column, when the mistake has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The offending line with a caret under the column.
    pub excerpt: Option<String>,
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(
                f,
                "{}: line {line}, column {column}: {}",
                self.origin, self.message
            )?,
            None => write!(f, "{}: {}", self.origin, self.message)?,
        }
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MatrixError {}

struct Text<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Text<'_> {
    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> MatrixError {
        let located = span.map(|span| {
            let start = span.start.min(self.text.len());
            let before = &self.text[..start];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = self.text[line_start..start].chars().count() + 1;
            let line_text = self.text[line_start..].lines().next().unwrap_or("");
            let excerpt = format!(
                "{line:>4} | {line_text}\n     | {}^",
                " ".repeat(column - 1)
            );
            ((line, column), excerpt)
        });
        MatrixError {
            origin: self.origin.to_string(),
            at: located.as_ref().map(|(at, _)| *at),
            message: message.into(),
            excerpt: located.map(|(_, excerpt)| excerpt),
        }
    }
}

/// A count, or a list of counts to sweep: `workers = 4` or `workers = [1, 4]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<usize>);

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Counts, D::Error> {
        struct CountsVisitor;
        impl<'de> Visitor<'de> for CountsVisitor {
            type Value = Counts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive whole number or a non-empty list of them, e.g. 4 or [1, 4]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Counts, E> {
                if v > 0 {
                    Ok(Counts(vec![v as usize]))
                } else {
                    Err(E::invalid_value(de::Unexpected::Signed(v), &self))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Counts, E> {
                self.visit_i64(v as i64)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Counts, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<i64>()? {
                    if v <= 0 {
                        return Err(de::Error::invalid_value(de::Unexpected::Signed(v), &self));
                    }
                    out.push(v as usize);
                }
                if out.is_empty() {
                    return Err(de::Error::invalid_length(0, &self));
                }
                Ok(Counts(out))
            }
        }
        d.deserialize_any(CountsVisitor)
    }
}

fn de_scenario<'de, D: Deserializer<'de>>(d: D) -> Result<Scenario, D::Error> {
    String::deserialize(d)?.parse().map_err(de::Error::custom)
}

fn de_scenarios<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Scenario>>, D::Error> {
    #[derive(Deserialize)]
    struct Name(#[serde(deserialize_with = "de_scenario")] Scenario);
    let names = Vec::<Name>::deserialize(d)?;
    if names.is_empty() {
        return Err(de::Error::custom(
            "an empty list of scenarios: name at least one of hello, sleep, upstream, cpu, db",
        ));
    }
    Ok(Some(names.into_iter().map(|n| n.0).collect()))
}

fn de_cpus<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CpuSet>, D::Error> {
    String::deserialize(d)?
        .parse()
        .map(Some)
        .map_err(de::Error::custom)
}

fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PerSecond>, D::Error> {
    let value = f64::deserialize(d)?;
    PerSecond::try_from(value)
        .map(Some)
        .map_err(de::Error::custom)
}

/// A matrix file's shape, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatrix {
    /// One line on what the matrix is for.
    #[serde(default)]
    description: Option<String>,
    /// The scenarios every stack runs unless its entry names its own.
    #[serde(default, deserialize_with = "de_scenarios")]
    scenarios: Option<Vec<Scenario>>,
    /// Options of the scenarios.
    #[serde(default)]
    scenario: RawScenarioOptions,
    #[serde(default, rename = "stack")]
    stacks: Vec<Spanned<RawStack>>,
    #[serde(default, rename = "profile")]
    profiles: Vec<Spanned<RawProfile>>,
    #[serde(default)]
    placement: RawPlacement,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenarioOptions {
    #[serde(default)]
    sleep: RawSleep,
    #[serde(default)]
    upstream: RawUpstream,
    #[serde(default)]
    cpu: RawCpu,
    #[serde(default)]
    db: RawDb,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSleep {
    #[serde(default, deserialize_with = "units::text_opt")]
    duration: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    #[serde(default, deserialize_with = "units::text_opt")]
    delay: Option<Duration>,
    #[serde(default, deserialize_with = "units::text_opt")]
    connect_cost: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCpu {
    #[serde(default)]
    n: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDb {
    #[serde(default)]
    database: Option<Database>,
    #[serde(default)]
    url: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    #[serde(default)]
    id: Option<Spanned<String>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    workers: Option<Spanned<Counts>>,
    #[serde(default)]
    variant: Option<Spanned<String>>,
    #[serde(default)]
    ready: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "units::text_opt")]
    ready_timeout: Option<Duration>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "de_scenarios")]
    scenarios: Option<Vec<Scenario>>,
    #[serde(default)]
    close: Option<Spanned<bool>>,
    #[serde(default)]
    reference: Option<Spanned<Reference>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    connections: Option<Counts>,
    #[serde(default)]
    threads: Option<Spanned<usize>>,
    #[serde(default, deserialize_with = "units::text_opt")]
    duration: Option<Duration>,
    #[serde(default, deserialize_with = "units::text_opt")]
    warmup: Option<Duration>,
    #[serde(default, deserialize_with = "units::text_opt")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_rate")]
    rate: Option<PerSecond>,
    #[serde(default)]
    trials: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlacement {
    #[serde(default, deserialize_with = "de_cpus")]
    server_cpus: Option<CpuSet>,
    #[serde(default, deserialize_with = "de_cpus")]
    load_cpus: Option<CpuSet>,
}

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
        /// The upstream's wait before a new connection's first answer.
        #[serde(rename = "connect_cost_ms", with = "units::millis")]
        connect_cost: Duration,
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
}

impl ScenarioSpec {
    pub fn scenario(&self) -> Scenario {
        match self {
            ScenarioSpec::Hello => Scenario::Hello,
            ScenarioSpec::Sleep { .. } => Scenario::Sleep,
            ScenarioSpec::Upstream { .. } => Scenario::Upstream,
            ScenarioSpec::Cpu { .. } => Scenario::Cpu,
            ScenarioSpec::Db { .. } => Scenario::Db,
        }
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
        model: String,
        /// The variants asked for, as `--variant` takes them; none means the stack's defaults.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant_request: Option<String>,
        /// Every variant, decided: `sleep=async,upstream=async-pooled,cpu=inline,db=blocking`.
        variants: String,
        /// Whether the connection is closed after every response (`serve --close`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        close: bool,
    },
    /// A Python stack, run from framewut's own virtual environment.
    Python {
        id: String,
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant_request: Option<String>,
        /// How `/sleep` waits: `blocking` or `cooperative`.
        sleep: String,
        /// The `/upstream` client: `fresh`, `session` or `futures`.
        client: String,
    },
    /// A command the user gave, run through `sh -c` after its `{port}` and
    /// `{workers}` placeholders are filled in.
    External {
        command: String,
        /// The path polled until the stack answers.
        ready_path: String,
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

/// How one cell is loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadProfile {
    /// The profile's name in the matrix.
    pub profile: String,
    pub connections: usize,
    pub threads: usize,
    #[serde(rename = "duration_s", with = "units::secs")]
    pub duration: Duration,
    #[serde(rename = "warmup_s", with = "units::secs")]
    pub warmup: Duration,
    #[serde(rename = "timeout_s", with = "units::secs")]
    pub timeout: Duration,
    pub pacing: PacingSpec,
    pub trials: u32,
}

/// One stack x one scenario x one load: everything needed to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSpec {
    /// Stable, readable: `rust/axum/tokio-multi/hello/c64`.
    pub id: String,
    pub stack: StackSpec,
    pub scenario: ScenarioSpec,
    /// The variant that decides how this cell's scenario runs, when the
    /// stack has one (`async`, `blocking-fresh`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub load: LoadProfile,
    /// A figure to show beside this cell's measurement, from the matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// Changes applied to every cell: from `--duration` and `--trials`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub duration: Option<Duration>,
    pub trials: Option<u32>,
}

#[derive(Debug, Clone)]
enum Kind {
    BuiltIn {
        id: &'static str,
        model: &'static str,
        request: Option<String>,
        parsed: VariantRequest,
        close: bool,
    },
    Python {
        stack: &'static PythonStack,
        request: Option<String>,
        sleep: SleepMode,
        client: UpstreamClient,
    },
    External {
        command: String,
        ready: String,
    },
}

/// Reads a Python stack's `variant`: `sleep=blocking|cooperative`,
/// `upstream=fresh|session|futures`, refusing what the stack cannot do.
fn python_variant(
    stack: &PythonStack,
    text: &str,
) -> Result<(Option<SleepMode>, Option<UpstreamClient>), String> {
    let (mut sleep, mut client) = (None, None);
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("variant {pair:?} is not key=value (keys: sleep, upstream)"))?;
        match key.trim() {
            "sleep" => {
                let mode: SleepMode = value.trim().parse()?;
                if !stack.sleep.contains(&mode) {
                    return Err(format!(
                        "{} sleeps {} only; its app and worker class decide",
                        stack.id, stack.sleep[0]
                    ));
                }
                sleep = Some(mode);
            }
            "upstream" => {
                let c: UpstreamClient = value.trim().parse()?;
                if !stack.clients.contains(&c) {
                    let names: Vec<&str> = stack.clients.iter().map(|c| c.as_str()).collect();
                    return Err(format!(
                        "{} has no {c} upstream client; it has {}",
                        stack.id,
                        names.join(", ")
                    ));
                }
                client = Some(c);
            }
            other => {
                return Err(format!(
                    "unknown variant key {other:?} for a Python stack: expected sleep or upstream"
                ))
            }
        }
    }
    Ok((sleep, client))
}

#[derive(Debug, Clone)]
struct Stack {
    label: String,
    source: Kind,
    /// Several values sweep; `None` is the stack's default.
    workers: Vec<Option<usize>>,
    env: BTreeMap<String, String>,
    ready_timeout: Duration,
    scenarios: Option<Vec<Scenario>>,
    reference: Option<Reference>,
}

#[derive(Debug, Clone)]
struct Profile {
    name: String,
    connections: Vec<usize>,
    threads: Option<usize>,
    duration: Duration,
    warmup: Duration,
    timeout: Duration,
    pacing: PacingSpec,
    trials: u32,
}

/// A checked matrix, ready to expand into cells once the placement is known.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub description: Option<String>,
    scenarios: Vec<ScenarioSpec>,
    stacks: Vec<Stack>,
    profiles: Vec<Profile>,
    /// The matrix's own `[placement]`, when it has one.
    pub placement: Option<Placement>,
}

impl Matrix {
    /// Reads a matrix from TOML; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Matrix, MatrixError> {
        let src = Text { origin, text };
        let raw: RawMatrix =
            toml::from_str(text).map_err(|e| src.error(e.span(), e.message().trim()))?;
        Matrix::check(&src, raw)
    }

    fn check(src: &Text, raw: RawMatrix) -> Result<Matrix, MatrixError> {
        let opts = &raw.scenario;
        if let Some(n) = &opts.cpu.n {
            if *n.get_ref() == 0 {
                return Err(src.error(
                    Some(n.span()),
                    "n = 0: /cpu needs at least one number, e.g. n = 100000",
                ));
            }
        }
        let database = opts.db.database.unwrap_or(Database::Sqlite);
        if let Some(url) = &opts.db.url {
            if database != Database::Postgres
                || !matches!(DbTarget::parse(url.get_ref()), DbTarget::Postgres(_))
            {
                return Err(src.error(
                    Some(url.span()),
                    "url is for PostgreSQL: set database = \"postgres\" and give a postgres:// URL",
                ));
            }
        }
        let scenario_spec = |s: Scenario| match s {
            Scenario::Hello => ScenarioSpec::Hello,
            Scenario::Sleep => ScenarioSpec::Sleep {
                sleep: opts.sleep.duration.unwrap_or(DEFAULT_SLEEP),
            },
            Scenario::Upstream => ScenarioSpec::Upstream {
                delay: opts.upstream.delay.unwrap_or(DEFAULT_UPSTREAM_DELAY),
                connect_cost: opts.upstream.connect_cost.unwrap_or(DEFAULT_CONNECT_COST),
            },
            Scenario::Cpu => ScenarioSpec::Cpu {
                n: opts.cpu.n.as_ref().map_or(DEFAULT_CPU_N, |n| *n.get_ref()),
            },
            Scenario::Db => ScenarioSpec::Db {
                database,
                url: opts.db.url.as_ref().map(|u| u.get_ref().clone()),
            },
        };
        let scenarios = raw
            .scenarios
            .clone()
            .unwrap_or_else(|| Scenario::ALL.to_vec())
            .into_iter()
            .map(scenario_spec)
            .collect();

        if raw.stacks.is_empty() {
            return Err(src.error(
                None,
                "no stacks: add at least one [[stack]] with an id (see `framewut list stacks`) or a command",
            ));
        }
        let stacks = raw
            .stacks
            .into_iter()
            .map(|s| check_stack(src, s))
            .collect::<Result<Vec<_>, _>>()?;

        let profiles = if raw.profiles.is_empty() {
            vec![Profile::default_named("default")]
        } else {
            let named = raw.profiles.len() > 1;
            raw.profiles
                .into_iter()
                .enumerate()
                .map(|(i, p)| check_profile(src, p, i, named))
                .collect::<Result<Vec<_>, _>>()?
        };

        let placement = match (raw.placement.server_cpus, raw.placement.load_cpus) {
            (None, None) => None,
            (server, load) => {
                let halves = Placement::halves(&CpuSet::allowed());
                Some(Placement {
                    server_cpus: server.unwrap_or(halves.server_cpus),
                    load_cpus: load.unwrap_or(halves.load_cpus),
                    origin: PlacementOrigin::Matrix,
                })
            }
        };
        Ok(Matrix {
            description: raw.description,
            scenarios,
            stacks,
            profiles,
            placement,
        })
    }

    /// Every cell, in order: stacks, then their workers, then scenarios, then
    /// profiles and their connections. Thread counts left open take the
    /// generator's CPUs, at most one per connection.
    pub fn cells(
        &self,
        placement: &Placement,
        overrides: &Overrides,
    ) -> Result<Vec<CellSpec>, String> {
        let mut cells: Vec<CellSpec> = Vec::new();
        for stack in &self.stacks {
            for workers in &stack.workers {
                let label = if stack.workers.len() > 1 {
                    format!(
                        "{}:w{}",
                        stack.label,
                        workers.unwrap_or(placement.server_cpus.count())
                    )
                } else {
                    stack.label.clone()
                };
                for scenario in &self.scenarios {
                    if stack
                        .scenarios
                        .as_ref()
                        .is_some_and(|only| !only.contains(&scenario.scenario()))
                    {
                        continue;
                    }
                    let (source, workers, variant) =
                        stack.resolve(*workers, scenario, placement)?;
                    for profile in &self.profiles {
                        for &connections in &profile.connections {
                            let mut id = format!("{label}/{}/c{connections}", scenario.scenario());
                            if self.profiles.len() > 1 {
                                id = format!("{id}@{}", profile.name);
                            }
                            let threads = profile
                                .threads
                                .unwrap_or(placement.load_cpus.count())
                                .min(connections);
                            cells.push(CellSpec {
                                id,
                                stack: StackSpec {
                                    label: label.clone(),
                                    source: source.clone(),
                                    workers,
                                    env: stack.env.clone(),
                                    ready_timeout: stack.ready_timeout,
                                },
                                scenario: scenario.clone(),
                                variant: variant.clone(),
                                load: LoadProfile {
                                    profile: profile.name.clone(),
                                    connections,
                                    threads,
                                    duration: overrides.duration.unwrap_or(profile.duration),
                                    warmup: profile.warmup,
                                    timeout: profile.timeout,
                                    pacing: profile.pacing,
                                    trials: overrides.trials.unwrap_or(profile.trials),
                                },
                                reference: stack.reference.clone(),
                            });
                        }
                    }
                }
            }
        }
        let mut ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "two cells share the id {}: give the [[stack]] entries distinct names (name = \"...\")",
                pair[0]
            ));
        }
        Ok(cells)
    }
}

impl Profile {
    fn default_named(name: &str) -> Profile {
        Profile {
            name: name.to_string(),
            connections: vec![64],
            threads: None,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            pacing: PacingSpec::Closed,
            trials: 1,
        }
    }
}

fn check_profile(
    src: &Text,
    raw: Spanned<RawProfile>,
    index: usize,
    named: bool,
) -> Result<Profile, MatrixError> {
    let span = raw.span();
    let raw = raw.into_inner();
    let name = match raw.name {
        Some(name) => name,
        None if named => {
            return Err(src.error(
                Some(span),
                format!("profile {} has no name: with several [[profile]] entries each needs name = \"...\" (it goes into the cell ids)", index + 1),
            ))
        }
        None => "default".to_string(),
    };
    let mut profile = Profile::default_named(&name);
    if let Some(c) = raw.connections {
        profile.connections = c.0;
    }
    if let Some(t) = raw.threads {
        let max = *profile.connections.iter().min().expect("at least one");
        if *t.get_ref() == 0 || *t.get_ref() > max {
            return Err(src.error(
                Some(t.span()),
                format!(
                    "threads = {}: expected 1 to {max} (each thread needs a connection of its own)",
                    t.get_ref()
                ),
            ));
        }
        profile.threads = Some(*t.get_ref());
    }
    if let Some(t) = raw.trials {
        if *t.get_ref() == 0 {
            return Err(src.error(Some(t.span()), "trials = 0: expected at least 1"));
        }
        profile.trials = *t.get_ref();
    }
    for (value, default, what) in [
        (raw.duration, &mut profile.duration, "duration"),
        (raw.timeout, &mut profile.timeout, "timeout"),
    ] {
        if let Some(d) = value {
            if d.is_zero() {
                return Err(src.error(
                    Some(span.clone()),
                    format!(
                        "{what} of 0 in profile {name:?}: expected a positive duration, e.g. 5s"
                    ),
                ));
            }
            *default = d;
        }
    }
    if let Some(w) = raw.warmup {
        profile.warmup = w;
    }
    if let Some(rate) = raw.rate {
        profile.pacing = PacingSpec::Open { rate };
    }
    Ok(profile)
}

fn check_stack(src: &Text, raw: Spanned<RawStack>) -> Result<Stack, MatrixError> {
    let span = raw.span();
    let raw = raw.into_inner();
    let workers: Vec<Option<usize>> = match &raw.workers {
        Some(w) => w.get_ref().0.iter().map(|n| Some(*n)).collect(),
        None => vec![None],
    };
    let (label, source) = match (&raw.id, &raw.command) {
        (Some(_), Some(_)) => {
            return Err(src.error(
                Some(span),
                "a stack has an id (built-in Rust or Python) or a command (external), not both",
            ))
        }
        (None, None) => {
            return Err(src.error(
                Some(span),
                "a stack needs an id (a built-in Rust or Python stack: see `framewut list stacks`) or a command with {port}",
            ))
        }
        (Some(id), None) if id.get_ref().starts_with("python/") => {
            let stack = find_python_stack(id.get_ref()).map_err(|e| src.error(Some(id.span()), e))?;
            if let Some(ready) = &raw.ready {
                return Err(src.error(Some(ready.span()), "ready is for external stacks; a Python stack is polled on /hello"));
            }
            let (request, sleep, client) = match &raw.variant {
                Some(v) => {
                    let (sleep, client) = python_variant(stack, v.get_ref()).map_err(|e| src.error(Some(v.span()), e))?;
                    (Some(v.get_ref().trim().to_string()), sleep, client)
                }
                None => (None, None, None),
            };
            let label = match (&raw.name, &request) {
                (Some(name), _) => name.clone(),
                (None, Some(v)) => format!("{}:{v}", stack.id),
                (None, None) => stack.id.to_string(),
            };
            (
                label,
                Kind::Python {
                    stack,
                    request,
                    sleep: sleep.unwrap_or(stack.sleep[0]),
                    client: client.unwrap_or(stack.clients[0]),
                },
            )
        }
        (Some(id), None) => {
            let info = find(id.get_ref()).map_err(|e| src.error(Some(id.span()), e))?;
            if let Some(ready) = &raw.ready {
                return Err(src.error(Some(ready.span()), "ready is for external stacks; a built-in stack is polled on /hello"));
            }
            let (request, parsed) = match &raw.variant {
                Some(v) => {
                    let parsed: VariantRequest = v.get_ref().parse().map_err(|e| src.error(Some(v.span()), e))?;
                    (Some(v.get_ref().trim().to_string()), parsed)
                }
                None => (None, VariantRequest::default()),
            };
            let any_db = DbTarget::Sqlite("world.sqlite".into());
            let pg = DbTarget::Postgres("postgres://".into());
            if let Err(e) = info.resolve(&parsed, &any_db).or_else(|_| info.resolve(&parsed, &pg)) {
                return Err(src.error(raw.variant.as_ref().map(Spanned::span), e));
            }
            if let Some(w) = &raw.workers {
                for n in &w.get_ref().0 {
                    info.resolve_workers(Some(*n)).map_err(|e| src.error(Some(w.span()), e))?;
                }
            }
            let close = raw.close.as_ref().is_some_and(|c| *c.get_ref());
            if let Some(c) = raw.close.as_ref().filter(|_| close && !info.close) {
                return Err(src.error(Some(c.span()), format!("{} cannot close the connection after every response; only the rust/std stacks can", info.id)));
            }
            let flags: Vec<&str> = request.iter().map(String::as_str).chain(close.then_some("close")).collect();
            let label = match &raw.name {
                Some(name) => name.clone(),
                None if flags.is_empty() => info.id.to_string(),
                None => format!("{}:{}", info.id, flags.join(",")),
            };
            (
                label,
                Kind::BuiltIn {
                    id: info.id,
                    model: info.model.as_str(),
                    request,
                    parsed,
                    close,
                },
            )
        }
        (None, Some(command)) => {
            if !command.contains("{port}") {
                return Err(src.error(
                    Some(span),
                    "an external stack's command must contain {port}, where framewut puts the port it picked",
                ));
            }
            let Some(name) = &raw.name else {
                return Err(src.error(Some(span), "an external stack needs a name = \"...\" (it goes into the cell ids)"));
            };
            if let Some(v) = &raw.variant {
                return Err(src.error(Some(v.span()), "variant is for built-in stacks; put an external stack's options in its command"));
            }
            let ready = match &raw.ready {
                Some(r) if !r.get_ref().starts_with('/') => {
                    return Err(src.error(Some(r.span()), "ready is a path starting with /, e.g. \"/hello\""))
                }
                Some(r) => r.get_ref().clone(),
                None => "/hello".to_string(),
            };
            (
                name.clone(),
                Kind::External {
                    command: command.clone(),
                    ready,
                },
            )
        }
    };
    if label.is_empty() || label.chars().any(char::is_whitespace) {
        return Err(src.error(
            Some(span),
            format!("stack name {label:?}: expected a non-empty name without spaces"),
        ));
    }
    if let Some(c) = raw
        .close
        .as_ref()
        .filter(|_| !matches!(source, Kind::BuiltIn { .. }))
    {
        return Err(src.error(
            Some(c.span()),
            "close is for the built-in rust/std stacks; gunicorn's sync worker closes after every response by itself",
        ));
    }
    let reference = match raw.reference {
        None => None,
        Some(r) => {
            let at = Some(r.span());
            let r = r.into_inner();
            if !(r.requests_per_s.is_finite() && r.requests_per_s > 0.0) {
                return Err(src.error(
                    at,
                    format!(
                        "a reference of {} req/s: expected a positive number",
                        r.requests_per_s
                    ),
                ));
            }
            if raw.scenarios.as_ref().is_none_or(|only| only.len() != 1) {
                return Err(src.error(
                    at,
                    "a reference is one figure for one scenario: give this stack scenarios = [\"...\"] naming exactly one",
                ));
            }
            Some(r)
        }
    };
    Ok(Stack {
        label,
        source,
        workers,
        env: raw.env,
        ready_timeout: raw.ready_timeout.unwrap_or(DEFAULT_READY_TIMEOUT),
        scenarios: raw.scenarios,
        reference,
    })
}

impl Stack {
    /// The source, worker count and scenario variant one cell runs with.
    fn resolve(
        &self,
        workers: Option<usize>,
        scenario: &ScenarioSpec,
        placement: &Placement,
    ) -> Result<(StackSource, usize, Option<String>), String> {
        match &self.source {
            Kind::BuiltIn {
                id,
                model,
                request,
                parsed,
                close,
            } => {
                let info = find(id)?;
                let workers = match (info.workers, workers) {
                    (Workers::Configurable, None) => placement.server_cpus.count(),
                    (_, asked) => info.resolve_workers(asked.or(Some(1)))?,
                };
                let db = match scenario {
                    ScenarioSpec::Db {
                        database: Database::Postgres,
                        ..
                    } => DbTarget::Postgres("postgres://".into()),
                    _ => DbTarget::Sqlite("world.sqlite".into()),
                };
                let variants = info
                    .resolve(parsed, &db)
                    .map_err(|e| format!("{}: {e}", self.label))?;
                let variant = match scenario.scenario() {
                    Scenario::Hello => None,
                    Scenario::Sleep => Some(variants.sleep.to_string()),
                    Scenario::Upstream => Some(variants.upstream.to_string()),
                    Scenario::Cpu => Some(variants.cpu.to_string()),
                    Scenario::Db => Some(variants.db.to_string()),
                };
                Ok((
                    StackSource::BuiltIn {
                        id: id.to_string(),
                        model: model.to_string(),
                        variant_request: request.clone(),
                        variants: variants.to_string(),
                        close: *close,
                    },
                    workers,
                    variant,
                ))
            }
            Kind::Python {
                stack,
                request,
                sleep,
                client,
            } => Ok((
                StackSource::Python {
                    id: stack.id.to_string(),
                    model: stack.model.as_str().to_string(),
                    variant_request: request.clone(),
                    sleep: sleep.to_string(),
                    client: client.to_string(),
                },
                workers.unwrap_or(placement.server_cpus.count()),
                match scenario.scenario() {
                    Scenario::Sleep => Some(sleep.to_string()),
                    Scenario::Upstream => Some(client.to_string()),
                    _ => None,
                },
            )),
            Kind::External { command, ready } => Ok((
                StackSource::External {
                    command: command.clone(),
                    ready_path: ready.clone(),
                },
                workers.unwrap_or(placement.server_cpus.count()),
                None,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_cores() -> Placement {
        Placement::halves(&"0-1".parse().unwrap())
    }

    fn cells(text: &str) -> Vec<CellSpec> {
        Matrix::parse("m.toml", text)
            .unwrap()
            .cells(&two_cores(), &Overrides::default())
            .unwrap()
    }

    fn error(text: &str) -> MatrixError {
        Matrix::parse("m.toml", text).unwrap_err()
    }

    #[test]
    fn expands_stacks_workers_scenarios_and_connections() {
        let cells = cells(
            r#"
scenarios = ["hello", "sleep"]
[scenario.sleep]
duration = "20ms"
[[stack]]
id = "rust/std/sync-pool"
workers = [1, 4]
[[stack]]
id = "rust/axum/tokio-multi"
variant = "sleep=blocking"
scenarios = ["sleep"]
[[profile]]
connections = [8, 32]
duration = "2s"
trials = 3
"#,
        );
        let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "rust/std/sync-pool:w1/hello/c8",
                "rust/std/sync-pool:w1/hello/c32",
                "rust/std/sync-pool:w1/sleep/c8",
                "rust/std/sync-pool:w1/sleep/c32",
                "rust/std/sync-pool:w4/hello/c8",
                "rust/std/sync-pool:w4/hello/c32",
                "rust/std/sync-pool:w4/sleep/c8",
                "rust/std/sync-pool:w4/sleep/c32",
                "rust/axum/tokio-multi:sleep=blocking/sleep/c8",
                "rust/axum/tokio-multi:sleep=blocking/sleep/c32",
            ]
        );
        let last = cells.last().unwrap();
        assert_eq!(last.variant.as_deref(), Some("blocking"));
        assert_eq!(last.stack.workers, 1, "the server's one CPU");
        assert_eq!(
            last.scenario,
            ScenarioSpec::Sleep {
                sleep: Duration::from_millis(20)
            }
        );
        assert_eq!((last.load.threads, last.load.trials), (1, 3));
        assert_eq!(last.load.duration, Duration::from_secs(2));
    }

    #[test]
    fn overrides_apply_to_every_cell() {
        let matrix = Matrix::parse(
            "m",
            "[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]",
        )
        .unwrap();
        let overrides = Overrides {
            duration: Some(Duration::from_millis(500)),
            trials: Some(2),
        };
        let cells = matrix.cells(&two_cores(), &overrides).unwrap();
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].load.duration, Duration::from_millis(500));
        assert_eq!(cells[0].load.trials, 2);
        assert_eq!(cells[0].load.pacing, PacingSpec::Closed);
    }

    #[test]
    fn external_stacks_and_open_loop() {
        let cells = cells(
            r#"
scenarios = ["hello"]
[[stack]]
name = "py"
command = "python3 -m srv {port}"
env = { A = "1" }
[[profile]]
rate = 250.5
connections = 4
"#,
        );
        assert_eq!(cells[0].id, "py/hello/c4");
        assert_eq!(
            cells[0].stack.source,
            StackSource::External {
                command: "python3 -m srv {port}".into(),
                ready_path: "/hello".into()
            }
        );
        assert_eq!(cells[0].stack.env["A"], "1");
        assert!(
            matches!(cells[0].load.pacing, PacingSpec::Open { rate } if rate.rate().get() == 250.5)
        );
    }

    #[test]
    fn syntax_and_type_errors_say_where_and_what_was_expected() {
        let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\nworkers = \"many\"\n");
        assert_eq!(e.at, Some((3, 11)), "{e}");
        assert!(
            e.message
                .contains("a positive whole number or a non-empty list"),
            "{e}"
        );
        let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\ncolour = 1\n");
        assert_eq!(e.at.map(|a| a.0), Some(3), "{e}");
        assert!(
            e.message.contains("unknown field `colour`") && e.message.contains("expected one of"),
            "{e}"
        );
        let e = error("scenarios = [\"hello\", \"slep\"]\n");
        assert_eq!(e.at, Some((1, 23)), "{e}");
        assert!(
            e.message
                .contains("expected hello, sleep, upstream, cpu or db"),
            "{e}"
        );
        let e = error("[[profile]]\nduration = \"10\"\n");
        assert_eq!(e.at, Some((2, 12)), "{e}");
        assert!(e.message.contains("no unit"), "{e}");
        let e = error("[[stack]\n");
        assert_eq!(e.at.map(|a| a.0), Some(1), "{e}");
        assert!(e.to_string().starts_with("m.toml: line 1, column"), "{e}");
        assert!(e.to_string().contains("   1 | [[stack]"), "{e}");
    }

    #[test]
    fn meaning_errors_point_at_the_entry() {
        let e = error("[[stack]]\nid = \"rust/nope\"\n");
        assert_eq!(e.at, Some((2, 6)), "{e}");
        assert!(e.message.contains("rust/std/sync-pool"), "{e}");
        let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\nvariant = \"sleep=async\"\n");
        assert_eq!(e.at, Some((3, 11)), "{e}");
        assert!(e.message.contains("supports sleep=blocking"), "{e}");
        let e = error("[[stack]]\nid = \"rust/hyper/tokio-current\"\nworkers = 4\n");
        assert!(e.message.contains("exactly one event-loop thread"), "{e}");
        let e = error("[[stack]]\nname = \"x\"\ncommand = \"srv\"\n");
        assert!(e.message.contains("{port}"), "{e}");
        let e = error("[[stack]]\ncommand = \"srv {port}\"\n");
        assert!(e.message.contains("name"), "{e}");
        let e = error(
            "[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\nconnections = 2\nthreads = 3\n",
        );
        assert_eq!(e.at, Some((5, 11)), "{e}");
        assert!(error("description = \"x\"\n").message.contains("no stacks"));
        let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\nname = \"a\"\n[[profile]]\nconnections = 2\n");
        assert!(e.message.contains("profile 2 has no name"), "{e}");
    }

    #[test]
    fn python_stacks_take_their_own_variants() {
        let cells = cells(
            "scenarios = [\"sleep\", \"upstream\"]\n[[stack]]\nid = \"python/wsgi/gunicorn-sync\"\nworkers = 4\nvariant = \"upstream=futures\"\n",
        );
        assert_eq!(
            cells[0].id,
            "python/wsgi/gunicorn-sync:upstream=futures/sleep/c64"
        );
        assert_eq!(cells[0].variant.as_deref(), Some("blocking"));
        assert_eq!(cells[1].variant.as_deref(), Some("futures"));
        assert!(
            matches!(&cells[1].stack.source, StackSource::Python { model, .. } if model == "sync-pool")
        );
        let e = error(
            "[[stack]]\nid = \"python/wsgi/gunicorn-sync\"\nvariant = \"sleep=cooperative\"\n",
        );
        assert_eq!(e.at, Some((3, 11)), "{e}");
        assert!(e.message.contains("sleeps blocking only"), "{e}");
        assert!(error("[[stack]]\nid = \"python/nope\"\n").at.is_some());
    }

    #[test]
    fn the_documented_example_reads() {
        let doc = include_str!("../../../../docs/lab.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let matrix = Matrix::parse("docs/lab.md", example).unwrap();
        let cells = matrix.cells(&two_cores(), &Overrides::default()).unwrap();
        assert!(
            cells.iter().any(|c| c.id == "my-server/cpu/c64@open"),
            "{:?}",
            cells.iter().map(|c| &c.id).collect::<Vec<_>>()
        );
        assert!(cells
            .iter()
            .any(|c| c.id == "rust/std/sync-pool:w10/db/c16@closed"));
        assert_eq!(matrix.placement.unwrap().origin, PlacementOrigin::Matrix);
        let shown = error(
            "[[stack]]\nid = \"rust/std/sync-pool\"\n\n[[profile]]\nconnections = \"lots\"\n",
        )
        .to_string();
        let documented = doc
            .split("```text\nError: my-matrix.toml")
            .nth(1)
            .unwrap()
            .split("\n```")
            .next()
            .unwrap();
        assert_eq!(shown.replacen("m.toml", "", 1), documented);
    }

    #[test]
    fn duplicate_cell_ids_are_refused() {
        let matrix = Matrix::parse(
            "m",
            "scenarios = [\"hello\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\n[[stack]]\nid = \"rust/std/sync-pool\"\n",
        )
        .unwrap();
        let err = matrix
            .cells(&two_cores(), &Overrides::default())
            .unwrap_err();
        assert!(
            err.contains("rust/std/sync-pool/hello/c64") && err.contains("name"),
            "{err}"
        );
    }

    #[test]
    fn placement_from_the_file() {
        let m = Matrix::parse("m", "[[stack]]\nid = \"rust/std/sync-pool\"\n[placement]\nserver_cpus = \"1\"\nload_cpus = \"0\"\n").unwrap();
        let p = m.placement.unwrap();
        assert_eq!(
            (p.server_cpus.to_string(), p.load_cpus.to_string()),
            ("1".into(), "0".into())
        );
        assert_eq!(p.origin, PlacementOrigin::Matrix);
        let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\n[placement]\nserver_cpus = \"x\"\n");
        assert_eq!(e.at.map(|a| a.0), Some(4), "{e}");
    }

    #[test]
    fn references_and_close_reach_the_cells() {
        let cells = cells(
            r#"
[[stack]]
id = "rust/std/sync-pool"
close = true
scenarios = ["hello"]
reference = { requests_per_s = 823.69, source = "seed: plain WSGI / sync worker" }
[[stack]]
id = "rust/std/sync-pool"
scenarios = ["hello"]
"#,
        );
        assert_eq!(cells[0].id, "rust/std/sync-pool:close/hello/c64");
        assert!(matches!(
            cells[0].stack.source,
            StackSource::BuiltIn { close: true, .. }
        ));
        assert_eq!(
            cells[0].reference,
            Some(Reference {
                requests_per_s: 823.69,
                source: "seed: plain WSGI / sync worker".into()
            })
        );
        assert_eq!(cells[1].id, "rust/std/sync-pool/hello/c64");
        assert!(matches!(
            cells[1].stack.source,
            StackSource::BuiltIn { close: false, .. }
        ));
        assert_eq!(cells[1].reference, None);
        let json = serde_json::to_value(&cells[0]).unwrap();
        assert_eq!(json["stack"]["source"]["close"], true);
        assert_eq!(json["reference"]["requests_per_s"], 823.69);
        let json = serde_json::to_value(&cells[1]).unwrap();
        assert!(json["stack"]["source"].get("close").is_none(), "{json}");
        assert!(json.get("reference").is_none(), "{json}");
    }

    #[test]
    fn references_and_close_are_refused_where_they_mean_nothing() {
        let reference = "reference = { requests_per_s = 100, source = \"x\" }";
        let e = error(&format!(
            "[[stack]]\nid = \"rust/std/sync-pool\"\n{reference}\n"
        ));
        assert_eq!(e.at.map(|a| a.0), Some(3), "{e}");
        assert!(e.message.contains("exactly one"), "{e}");
        let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]\nreference = { requests_per_s = -1.0, source = \"x\" }\n");
        assert!(e.message.contains("positive"), "{e}");
        let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]\nreference = { rps = 1 }\n");
        assert!(e.message.contains("unknown field `rps`"), "{e}");
        let e = error("[[stack]]\nid = \"rust/axum/per-core\"\nclose = true\n");
        assert_eq!(e.at, Some((3, 9)), "{e}");
        assert!(e.message.contains("only the rust/std stacks"), "{e}");
        let e = error("[[stack]]\nid = \"python/wsgi/gunicorn-sync\"\nclose = true\n");
        assert!(
            e.message.contains("closes after every response by itself"),
            "{e}"
        );
    }

    #[test]
    fn cells_survive_json() {
        for cell in cells("[[stack]]\nid = \"rust/axum/tokio-multi\"\n[scenario.db]\ndatabase = \"sqlite\"\n[[profile]]\nrate = 100\n") {
            let json = serde_json::to_string(&cell).unwrap();
            let back: CellSpec = serde_json::from_str(&json).unwrap();
            assert_eq!(back, cell, "{json}");
        }
    }
}
