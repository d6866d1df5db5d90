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
//! cpu_idle = "shallow"
//! ```
//!
//! Every mistake is reported with the line and column it is on and what was
//! expected there ([`MatrixError`]). Two stages, as everywhere in framewut:
//! the TOML's raw shape ([`RawMatrix`], with spans) is checked once into a
//! [`Matrix`] (each `[[stack]]` by the rules of its kind, each
//! `[[profile]]` by its own), whose [`Matrix::cells`] expands to typed cells
//! that can no longer be wrong.

mod app;
mod custom;
#[cfg(test)]
mod custom_tests;
mod error;
pub mod preset;
mod profile;
mod raw;
pub mod select;
mod stack;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use framewut_stacks::db::DbTarget;
use framewut_stacks::{Scenario, DEFAULT_CPU_N, DEFAULT_SLEEP};
use toml::Spanned;

use crate::lab::measure::cpus::{CpuSet, Placement, PlacementOrigin};
use crate::lab::measure::idle::CpuIdle;
use crate::spec::{
    CellSpec, Database, LoadProfile, Protocol, ScenarioSpec, StackSource, StackSpec,
};
use error::Text;
pub use error::{CellsError, MatrixError};
use profile::{check_profile, Profile, Servers};
pub use raw::{Counts, RawMatrix};
use stack::{check_stack, Stack};
pub use stack::{StackEntry, DEFAULT_READY_TIMEOUT};

/// The upstream stand-in's wait before each answer, unless a matrix says.
pub const DEFAULT_UPSTREAM_DELAY: Duration = Duration::from_millis(50);
/// The upstream stand-in's wait before a new connection's first answer.
pub const DEFAULT_CONNECT_COST: Duration = Duration::from_millis(30);

/// Changes applied to every cell: from `--duration`, `--max-duration`,
/// `--trials` and `--profile`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Every trial measures this long; with `max_duration`, at least this long.
    pub duration: Option<Duration>,
    /// Every trial is sized to the model's rate, up to this long.
    pub max_duration: Option<Duration>,
    pub trials: Option<u32>,
    /// Every cell records where its stack's CPU goes (`--profile`).
    pub cpu_profile: bool,
}

/// A checked matrix, ready to expand into cells once the placement is known.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub description: Option<String>,
    /// Every scenario a stack may run: the built-in ones, then the matrix's own.
    scenarios: Vec<ScenarioSpec>,
    /// The scenarios a stack runs when its entry names none.
    defaults: Vec<String>,
    stacks: Vec<Stack>,
    profiles: Vec<Profile>,
    /// The matrix's own `[placement]`, when it has one.
    pub placement: Option<Placement>,
    /// How deep idle CPUs may sleep while the run measures, when its
    /// `[placement]` says.
    pub cpu_idle: Option<CpuIdle>,
    /// Whether the cells' trials run round-robin (trial 1 of every cell,
    /// then trial 2, ...), a fresh server for each, so that a machine that
    /// drifts during the run drifts under every configuration alike.
    pub interleave: bool,
}

impl Matrix {
    /// The matrix of one stack, one scenario and one closed-loop load of
    /// one trial, from typed values rather than a file (`framewut knee`).
    pub fn single(
        stack: &StackEntry,
        scenario: ScenarioSpec,
        connections: usize,
        duration: Duration,
        warmup: Duration,
    ) -> Result<Matrix, String> {
        let profile = Profile {
            connections: vec![connections],
            duration,
            warmup,
            ..Profile::default_named("default")
        };
        Ok(Matrix {
            description: None,
            defaults: vec![scenario.name().to_string()],
            scenarios: vec![scenario],
            stacks: vec![stack.check()?],
            profiles: vec![profile],
            placement: None,
            cpu_idle: None,
            interleave: false,
        })
    }

    /// Reads a matrix from TOML; `origin` names it in errors. Its relative
    /// paths start from the current directory.
    pub fn parse(origin: &str, text: &str) -> Result<Matrix, MatrixError> {
        Matrix::parse_in(origin, text, Path::new("."))
    }

    /// Reads a matrix whose relative paths (an app's directory and
    /// requirements, a request list, a body file) start from `base`: the
    /// matrix file's own directory.
    pub fn parse_in(origin: &str, text: &str, base: &Path) -> Result<Matrix, MatrixError> {
        let src = Text { origin, text, base };
        let raw: RawMatrix =
            toml::from_str(text).map_err(|e| src.error(e.span(), e.message().trim()))?;
        Matrix::check(&src, raw)
    }

    fn check(src: &Text, raw: RawMatrix) -> Result<Matrix, MatrixError> {
        let mut raw = raw;
        let customs = std::mem::take(&mut raw.scenario.custom);
        let opts = &raw.scenario;
        if let Some(n) = &opts.cpu.n {
            if *n.get_ref() == 0 {
                return Err(src.error(
                    Some(n.span()),
                    "n = 0: /cpu needs at least one number, e.g. n = 100000",
                ));
            }
        }
        let upstream_tls = opts.upstream.tls.as_ref().is_some_and(|t| *t.get_ref());
        if let (true, Some(_)) = (upstream_tls, opts.upstream.connect_cost) {
            return Err(src.error(
                opts.upstream.tls.as_ref().map(Spanned::span),
                "connect_cost is the fake cost of a plain-HTTP connection; over tls the upstream's real handshake is the cost: leave connect_cost out",
            ));
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
                // Over TLS the handshake itself is the connection's cost.
                connect_cost: if upstream_tls {
                    Duration::ZERO
                } else {
                    opts.upstream.connect_cost.unwrap_or(DEFAULT_CONNECT_COST)
                },
                tls: upstream_tls,
            },
            Scenario::Cpu => ScenarioSpec::Cpu {
                n: opts.cpu.n.as_ref().map_or(DEFAULT_CPU_N, |n| *n.get_ref()),
            },
            Scenario::Db => ScenarioSpec::Db {
                database,
                url: opts.db.url.as_ref().map(|u| u.get_ref().clone()),
            },
        };
        let mut scenarios: Vec<ScenarioSpec> =
            Scenario::ALL.into_iter().map(scenario_spec).collect();
        for (name, custom) in customs {
            scenarios.push(custom::check_custom(src, &name, custom, &scenario_spec)?);
        }
        let known = |names: &raw::Names| -> Result<Vec<String>, MatrixError> {
            for spanned in names.get_ref() {
                let name = spanned.get_ref();
                if !scenarios.iter().any(|s| s.name() == name) {
                    let all: Vec<&str> = scenarios.iter().map(ScenarioSpec::name).collect();
                    return Err(src.error(
                        Some(spanned.span()),
                        format!(
                            "unknown scenario {name:?}: expected {}, or a [scenario.{name}] table with its path",
                            all.join(", ")
                        ),
                    ));
                }
            }
            Ok(names
                .get_ref()
                .iter()
                .map(|n| n.get_ref().clone())
                .collect())
        };
        let defaults = match &raw.scenarios {
            Some(names) => known(names)?,
            // A matrix of its own scenarios runs those; else the five.
            None if scenarios.len() > Scenario::ALL.len() => scenarios[Scenario::ALL.len()..]
                .iter()
                .map(|s| s.name().to_string())
                .collect(),
            None => Scenario::ALL.map(|s| s.as_str().to_string()).to_vec(),
        };

        if raw.stacks.is_empty() {
            return Err(src.error(
                None,
                "no stacks: add at least one [[stack]] with an id (see `framewut list stacks`) or a command",
            ));
        }
        let mut stacks = Vec::new();
        for entry in raw.stacks {
            let span = entry
                .get_ref()
                .scenarios
                .as_ref()
                .map(Spanned::span)
                .unwrap_or(entry.span());
            if let Some(names) = &entry.get_ref().scenarios {
                known(names)?;
            }
            for stack in check_stack(src, entry)? {
                let names = stack.scenarios.as_ref().unwrap_or(&defaults);
                let runs = scenarios
                    .iter()
                    .filter(|s| names.iter().any(|n| n == s.name()));
                for scenario in runs {
                    if let Some(why) = stack.refuses(scenario) {
                        return Err(src.error(Some(span.clone()), why));
                    }
                }
                stacks.push(stack);
            }
        }

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
            defaults,
            stacks,
            profiles,
            placement,
            cpu_idle: raw.placement.cpu_idle,
            interleave: raw.interleave,
        })
    }

    /// Every cell, in order: stacks, then their workers, then scenarios, then
    /// profiles and their connections. Thread counts left open take the
    /// generator's CPUs, at most one per connection.
    pub fn cells(
        &self,
        placement: &Placement,
        overrides: &Overrides,
    ) -> Result<Vec<CellSpec>, CellsError> {
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
                let names = stack.scenarios.as_ref().unwrap_or(&self.defaults);
                for scenario in &self.scenarios {
                    if !names.iter().any(|n| n == scenario.name()) {
                        continue;
                    }
                    let (source, workers) = stack.resolve(*workers, scenario, placement)?;
                    for profile in &self.profiles {
                        if profile.servers != Servers::Count(1)
                            && matches!(source, StackSource::Remote { .. })
                        {
                            return Err(CellsError::RemoteRestart {
                                profile: profile.name.clone(),
                                stack: stack.label.clone(),
                            });
                        }
                        if profile.protocols.contains(&Protocol::H2) && stack.lacks_http2() {
                            return Err(CellsError::NoHttp2 {
                                profile: profile.name.clone(),
                                stack: stack.label.clone(),
                            });
                        }
                        for (&connections, &protocol) in profile
                            .connections
                            .iter()
                            .flat_map(|c| profile.protocols.iter().map(move |p| (c, p)))
                        {
                            let streams = match protocol {
                                Protocol::Http1 => 1,
                                Protocol::H2 => profile.streams,
                            };
                            let mut id = format!("{label}/{}/c{connections}", scenario.name());
                            if protocol == Protocol::H2 {
                                id = format!("{id}-h2x{streams}");
                            }
                            if self.profiles.len() > 1 {
                                id = format!("{id}@{}", profile.name);
                            }
                            let threads = profile
                                .threads
                                .unwrap_or(placement.load_cpus.count())
                                .min(connections);
                            let duration = overrides.duration.unwrap_or(profile.duration);
                            let trials = overrides.trials.unwrap_or(profile.trials);
                            // `--duration` alone measures every trial for
                            // exactly that long; `--max-duration` sizes them.
                            let (duration, max_duration) = match overrides.max_duration {
                                Some(most) => (duration.min(most), Some(most)),
                                None if overrides.duration.is_some() => (duration, None),
                                None => (duration, profile.max_duration),
                            };
                            cells.push(CellSpec {
                                id,
                                stack: StackSpec {
                                    label: label.clone(),
                                    source: source.clone(),
                                    workers,
                                    env: stack.env.clone(),
                                    ready_timeout: stack.ready_timeout,
                                    tls: stack.tls,
                                },
                                scenario: scenario.clone(),
                                load: LoadProfile {
                                    profile: profile.name.clone(),
                                    connections,
                                    threads,
                                    duration,
                                    max_duration,
                                    warmup: profile.warmup,
                                    timeout: profile.timeout,
                                    pacing: profile.pacing,
                                    trials,
                                    servers: profile.servers.for_trials(trials),
                                    calibrated: false,
                                    last_start: false,
                                    cpu_profile: overrides.cpu_profile || profile.cpu_profile,
                                    thresholds: profile.thresholds.clone(),
                                    close: profile.close,
                                    protocol,
                                    streams,
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
            return Err(CellsError::SameId(pair[0].to_string()));
        }
        Ok(cells)
    }
}
