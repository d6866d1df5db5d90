//! Variants: how a stack does each scenario's waiting or work.
//!
//! A command line asks for them as `--variant sleep=async,upstream=blocking-fresh`
//! (a [`VariantRequest`]); the stack's [`crate::StackInfo`] then resolves the
//! request into concrete [`Variants`], filling in its defaults and refusing
//! what it cannot do.

use std::fmt;
use std::str::FromStr;

/// A variant that cannot be read, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    /// A value no variant of that kind has.
    #[error("unknown {what} variant {value:?}: expected {expected}")]
    Unknown {
        /// Which kind: `sleep`, `upstream client`, ...
        what: &'static str,
        value: String,
        /// The names that kind has, comma-separated.
        expected: String,
    },
    /// A pair without `=`.
    #[error("variant {0:?} is not key=value (keys: sleep, upstream, cpu, db)")]
    NotKeyValue(String),
    /// A key other than sleep, upstream, cpu and db.
    #[error("unknown variant key {0:?}: expected sleep, upstream, cpu or db")]
    UnknownKey(String),
    /// A full variant list (as results.json stores it) missing a key.
    #[error("variants {text:?} do not name {missing}: expected sleep=..,upstream=..,cpu=..,db=..")]
    Incomplete { text: String, missing: &'static str },
}

/// How `/sleep` waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepVariant {
    /// `std::thread::sleep` on the handler's thread: in an event loop it blocks the loop.
    Blocking,
    /// The runtime's timer: the thread serves others meanwhile.
    Async,
    /// `std::thread::sleep` on the runtime's blocking pool.
    Offload,
}

/// Which client `/upstream` calls with, and where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientVariant {
    /// ureq on the handler's thread: in an event loop it blocks the loop.
    Blocking,
    /// hyper's client on the runtime.
    Async,
    /// ureq on the runtime's blocking pool.
    Offload,
}

/// Whether the upstream client reuses connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnVariant {
    /// Keep-alive connections, reused across requests.
    Pooled,
    /// A new connection for every request.
    Fresh,
}

/// How `/upstream` is fetched: client and connection reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamVariant {
    /// The client and where it runs.
    pub client: ClientVariant,
    /// Pooled or fresh connections.
    pub conn: ConnVariant,
}

/// Where `/cpu` serialises its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuVariant {
    /// On the handler's thread.
    Inline,
    /// On the runtime's blocking pool.
    Offload,
}

/// How `/db` queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbVariant {
    /// A blocking driver (rusqlite, or the `postgres` crate) on the handler's thread.
    Blocking,
    /// tokio-postgres behind a small pool (PostgreSQL only).
    Async,
    /// A blocking driver on the runtime's blocking pool.
    Offload,
}

/// Reads and writes a type through its `FromStr` and `Display`: in
/// results.json a variant is the word the command line takes. Exported for
/// framewut's own words (the Python stacks' variants), which serialise the
/// same way.
#[macro_export]
macro_rules! serde_as_text {
    ($($ty:ty),+) => {
        $(
            impl serde::Serialize for $ty {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_str(self)
                }
            }
            impl<'de> serde::Deserialize<'de> for $ty {
                fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                    text.parse().map_err(serde::de::Error::custom)
                }
            }
        )+
    };
}

macro_rules! names {
    ($ty:ty, $what:literal, $($variant:ident => $name:literal),+) => {
        impl $ty {
            /// The name used on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = VariantError;
            fn from_str(s: &str) -> Result<Self, VariantError> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(VariantError::Unknown {
                        what: $what,
                        value: s.to_string(),
                        expected: [$($name),+].join(", "),
                    }),
                }
            }
        }
    };
}

names!(SleepVariant, "sleep", Blocking => "blocking", Async => "async", Offload => "offload");
names!(ClientVariant, "upstream client", Blocking => "blocking", Async => "async", Offload => "offload");
names!(ConnVariant, "upstream connection", Pooled => "pooled", Fresh => "fresh");
names!(CpuVariant, "cpu", Inline => "inline", Offload => "offload");
names!(DbVariant, "db", Blocking => "blocking", Async => "async", Offload => "offload");

impl fmt::Display for UpstreamVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.client, self.conn)
    }
}

impl FromStr for UpstreamVariant {
    type Err = VariantError;

    /// `blocking-pooled`, `async-fresh`, ...; a bare client (`async`) means pooled.
    fn from_str(s: &str) -> Result<Self, VariantError> {
        let (client, conn) = s.split_once('-').unwrap_or((s, "pooled"));
        Ok(UpstreamVariant {
            client: client.parse()?,
            conn: conn.parse()?,
        })
    }
}

/// Variants asked for on the command line; `None` means the stack's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VariantRequest {
    /// `sleep=...`
    pub sleep: Option<SleepVariant>,
    /// `upstream=...`
    pub upstream: Option<UpstreamVariant>,
    /// `cpu=...`
    pub cpu: Option<CpuVariant>,
    /// `db=...`
    pub db: Option<DbVariant>,
}

impl VariantRequest {
    /// Adds `key=value[,key=value...]` to the request; a later key wins.
    pub fn add(&mut self, text: &str) -> Result<(), VariantError> {
        for pair in text
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| VariantError::NotKeyValue(pair.to_string()))?;
            match key.trim() {
                "sleep" => self.sleep = Some(value.trim().parse()?),
                "upstream" => self.upstream = Some(value.trim().parse()?),
                "cpu" => self.cpu = Some(value.trim().parse()?),
                "db" => self.db = Some(value.trim().parse()?),
                other => return Err(VariantError::UnknownKey(other.to_string())),
            }
        }
        Ok(())
    }
}

impl FromStr for VariantRequest {
    type Err = VariantError;

    fn from_str(s: &str) -> Result<Self, VariantError> {
        let mut request = VariantRequest::default();
        request.add(s)?;
        Ok(request)
    }
}

/// The keys asked for, in the order sleep, upstream, cpu, db:
/// `sleep=blocking,upstream=async-fresh`; empty when none is.
impl fmt::Display for VariantRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs = [
            self.sleep.map(|v| format!("sleep={v}")),
            self.upstream.map(|v| format!("upstream={v}")),
            self.cpu.map(|v| format!("cpu={v}")),
            self.db.map(|v| format!("db={v}")),
        ];
        let pairs: Vec<String> = pairs.into_iter().flatten().collect();
        f.write_str(&pairs.join(","))
    }
}

/// The variants a running stack uses, every one decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variants {
    /// How `/sleep` waits.
    pub sleep: SleepVariant,
    /// How `/upstream` is fetched.
    pub upstream: UpstreamVariant,
    /// Where `/cpu` works.
    pub cpu: CpuVariant,
    /// How `/db` queries.
    pub db: DbVariant,
}

impl fmt::Display for Variants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sleep={},upstream={},cpu={},db={}",
            self.sleep, self.upstream, self.cpu, self.db
        )
    }
}

/// Reads every variant back from its `Display` form; each key must be there.
impl FromStr for Variants {
    type Err = VariantError;

    fn from_str(s: &str) -> Result<Self, VariantError> {
        let request: VariantRequest = s.parse()?;
        let missing = |what| VariantError::Incomplete {
            text: s.to_string(),
            missing: what,
        };
        Ok(Variants {
            sleep: request.sleep.ok_or_else(|| missing("sleep"))?,
            upstream: request.upstream.ok_or_else(|| missing("upstream"))?,
            cpu: request.cpu.ok_or_else(|| missing("cpu"))?,
            db: request.db.ok_or_else(|| missing("db"))?,
        })
    }
}

serde_as_text!(
    SleepVariant,
    ClientVariant,
    ConnVariant,
    UpstreamVariant,
    CpuVariant,
    DbVariant,
    VariantRequest,
    Variants
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_variant_list() {
        let request: VariantRequest = "sleep=async, upstream=blocking-fresh,cpu=offload"
            .parse()
            .unwrap();
        assert_eq!(request.sleep, Some(SleepVariant::Async));
        assert_eq!(
            request.upstream,
            Some(UpstreamVariant {
                client: ClientVariant::Blocking,
                conn: ConnVariant::Fresh
            })
        );
        assert_eq!(request.cpu, Some(CpuVariant::Offload));
        assert_eq!(request.db, None);
        let bare: UpstreamVariant = "async".parse().unwrap();
        assert_eq!(bare.to_string(), "async-pooled");
    }

    #[test]
    fn variants_and_requests_survive_their_text_and_json() {
        let variants = Variants {
            sleep: SleepVariant::Offload,
            upstream: UpstreamVariant {
                client: ClientVariant::Async,
                conn: ConnVariant::Fresh,
            },
            cpu: CpuVariant::Inline,
            db: DbVariant::Async,
        };
        let text = variants.to_string();
        assert_eq!(text.parse::<Variants>().unwrap(), variants);
        let json = serde_json::to_string(&variants).unwrap();
        assert_eq!(json, format!("{text:?}"));
        assert_eq!(serde_json::from_str::<Variants>(&json).unwrap(), variants);
        let err = "sleep=async,cpu=inline".parse::<Variants>().unwrap_err();
        assert!(err.to_string().contains("upstream"), "{err}");

        let request: VariantRequest = "db=offload, sleep=blocking".parse().unwrap();
        assert_eq!(request.to_string(), "sleep=blocking,db=offload");
        assert_eq!(VariantRequest::default().to_string(), "");
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            serde_json::from_str::<VariantRequest>(&json).unwrap(),
            request
        );
    }

    #[test]
    fn says_what_is_wrong() {
        let err = "sleep=lazy"
            .parse::<VariantRequest>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("blocking, async, offload"), "{err}");
        assert_eq!(
            "colour=blue".parse::<VariantRequest>(),
            Err(VariantError::UnknownKey("colour".into()))
        );
        assert_eq!(
            "sleep".parse::<VariantRequest>(),
            Err(VariantError::NotKeyValue("sleep".into()))
        );
        assert!("upstream=async-sometimes"
            .parse::<VariantRequest>()
            .is_err());
    }
}
