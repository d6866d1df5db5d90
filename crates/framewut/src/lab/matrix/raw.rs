//! A matrix file's shape as written: the TOML tables and keys, with the
//! spans of the values that the checks may need to point at.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::lab::measure::cpus::CpuSet;
use crate::lab::measure::idle::CpuIdle;
use crate::spec::{Database, PerSecond, Reference};
use crate::units;

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

/// A list of scenario names, each with its place for errors.
pub(super) type Names = Spanned<Vec<Spanned<String>>>;

fn de_scenarios<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Names>, D::Error> {
    let names = Names::deserialize(d)?;
    if names.get_ref().is_empty() {
        return Err(de::Error::custom(
            "an empty list of scenarios: name at least one of hello, sleep, upstream, cpu, db, or a [scenario.NAME] of the matrix's own",
        ));
    }
    Ok(Some(names))
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
    pub(super) description: Option<String>,
    /// The scenarios every stack runs unless its entry names its own.
    #[serde(default, deserialize_with = "de_scenarios")]
    pub(super) scenarios: Option<Names>,
    /// Options of the scenarios.
    #[serde(default)]
    pub(super) scenario: RawScenarioOptions,
    #[serde(default, rename = "stack")]
    pub(super) stacks: Vec<Spanned<RawStack>>,
    #[serde(default, rename = "profile")]
    pub(super) profiles: Vec<Spanned<RawProfile>>,
    #[serde(default)]
    pub(super) placement: RawPlacement,
    /// Run the cells' trials round-robin, a fresh server for each.
    #[serde(default)]
    pub(super) interleave: bool,
}

/// `[scenario.*]`: the built-in scenarios' options, and the matrix's own
/// scenarios under any other name (flattened, so their values carry no
/// spans: their mistakes point at the `[scenario]` table).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawScenarioOptions {
    #[serde(default)]
    pub(super) sleep: RawSleep,
    #[serde(default)]
    pub(super) upstream: RawUpstream,
    #[serde(default)]
    pub(super) cpu: RawCpu,
    #[serde(default)]
    pub(super) db: RawDb,
    #[serde(flatten)]
    pub(super) custom: BTreeMap<String, RawCustom>,
}

/// A scenario of the matrix's own: one request or a request list, and
/// what a correct answer is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCustom {
    #[serde(default)]
    pub(super) path: Option<String>,
    #[serde(default)]
    pub(super) method: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) body: Option<String>,
    #[serde(default)]
    pub(super) body_file: Option<String>,
    /// A request list in the targets format, with paths for URLs.
    #[serde(default)]
    pub(super) targets: Option<String>,
    #[serde(default)]
    pub(super) expect: RawExpect,
    /// Built-in scenarios whose services the requests need: upstream, db.
    #[serde(default)]
    pub(super) uses: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    #[serde(default)]
    pub(super) status: Option<u16>,
    #[serde(default)]
    pub(super) content_type: Option<String>,
    #[serde(default)]
    pub(super) contains: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSleep {
    #[serde(default, deserialize_with = "units::text_opt")]
    pub(super) duration: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    #[serde(default, deserialize_with = "units::text_opt")]
    pub(super) delay: Option<Duration>,
    #[serde(default, deserialize_with = "units::text_opt")]
    pub(super) connect_cost: Option<Duration>,
    // The upstream over HTTPS.
    #[serde(default)]
    pub(super) tls: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCpu {
    #[serde(default)]
    pub(super) n: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDb {
    #[serde(default)]
    pub(super) database: Option<Database>,
    #[serde(default)]
    pub(super) url: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStack {
    #[serde(default)]
    pub(super) id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) command: Option<String>,
    #[serde(default)]
    pub(super) workers: Option<Spanned<Counts>>,
    #[serde(default)]
    pub(super) variant: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) ready: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "units::text_opt")]
    pub(super) ready_timeout: Option<Duration>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "de_scenarios")]
    pub(super) scenarios: Option<Names>,
    #[serde(default)]
    pub(super) close: Option<Spanned<bool>>,
    #[serde(default)]
    pub(super) reference: Option<Spanned<Reference>>,
    // The stack served over HTTPS.
    #[serde(default)]
    pub(super) tls: Option<Spanned<bool>>,
    // A server framewut does not start.
    /// The base URL of a server already running: `http://host:port`.
    #[serde(default)]
    pub(super) url: Option<Spanned<String>>,
    /// A Prometheus endpoint giving that server's CPU time.
    #[serde(default)]
    pub(super) metrics: Option<Spanned<String>>,
    // The user's own Python app.
    /// `module:attribute` of a WSGI or ASGI app.
    #[serde(default)]
    pub(super) app: Option<Spanned<String>>,
    /// `wsgi` (the default) or `asgi`.
    #[serde(default)]
    pub(super) interface: Option<Spanned<String>>,
    /// The app's directory, relative to the matrix file.
    #[serde(default)]
    pub(super) dir: Option<Spanned<String>>,
    /// The app's requirements file, relative to the matrix file.
    #[serde(default)]
    pub(super) requirements: Option<Spanned<String>>,
    /// The servers and worker classes to run the app under.
    #[serde(default)]
    pub(super) servers: Option<Spanned<Vec<String>>>,
    /// Threads per worker for the servers that use them; a list sweeps.
    #[serde(default)]
    pub(super) threads: Option<Spanned<Counts>>,
    /// Whether the app expects gevent's monkey-patching.
    #[serde(default)]
    pub(super) patched: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProfile {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) connections: Option<Counts>,
    #[serde(default)]
    pub(super) threads: Option<Spanned<usize>>,
    #[serde(default, deserialize_with = "units::text_opt")]
    pub(super) duration: Option<Duration>,
    #[serde(default, deserialize_with = "units::text_opt")]
    pub(super) max_duration: Option<Duration>,
    #[serde(default, deserialize_with = "units::text_opt")]
    pub(super) warmup: Option<Duration>,
    #[serde(default, deserialize_with = "units::text_opt")]
    pub(super) timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_rate")]
    pub(super) rate: Option<PerSecond>,
    #[serde(default)]
    pub(super) trials: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) fresh_server: Option<bool>,
    /// How many starts of the stack the trials are spread over.
    #[serde(default)]
    pub(super) servers: Option<Spanned<u32>>,
    /// Pass/fail thresholds every cell of the profile is checked against.
    #[serde(default)]
    pub(super) thresholds: Option<Spanned<Vec<String>>>,
    // A connection per request.
    #[serde(default)]
    pub(super) close: Option<bool>,
    /// Record where each stack's CPU goes after the trials.
    #[serde(default)]
    pub(super) cpu_profile: Option<bool>,
    // HTTP/2.
    /// `"http/1.1"`, `"h2"`, or a list of them, which sweeps.
    #[serde(default)]
    pub(super) protocol: Option<Spanned<Protocols>>,
    /// HTTP/2's concurrent streams per connection.
    #[serde(default)]
    pub(super) streams: Option<Spanned<usize>>,
}

/// One protocol name or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Protocols {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlacement {
    #[serde(default, deserialize_with = "de_cpus")]
    pub(super) server_cpus: Option<CpuSet>,
    #[serde(default, deserialize_with = "de_cpus")]
    pub(super) load_cpus: Option<CpuSet>,
    /// How deep idle CPUs may sleep while the run measures.
    #[serde(default)]
    pub(super) cpu_idle: Option<CpuIdle>,
}
