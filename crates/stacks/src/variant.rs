//! Variants: how a stack does each scenario's waiting or work.
//!
//! A command line asks for them as `--variant sleep=async,upstream=blocking-fresh`
//! (a [`VariantRequest`]); the stack's [`crate::StackInfo`] then resolves the
//! request into concrete [`Variants`], filling in its defaults and refusing
//! what it cannot do.

use std::fmt;
use std::str::FromStr;

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
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(format!(
                        concat!("unknown ", $what, " variant {:?}: expected {}"),
                        s,
                        [$($name),+].join(", ")
                    )),
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
    type Err = String;

    /// `blocking-pooled`, `async-fresh`, ...; a bare client (`async`) means pooled.
    fn from_str(s: &str) -> Result<Self, String> {
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
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        for pair in text
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                format!("variant {pair:?} is not key=value (keys: sleep, upstream, cpu, db)")
            })?;
            match key.trim() {
                "sleep" => self.sleep = Some(value.trim().parse()?),
                "upstream" => self.upstream = Some(value.trim().parse()?),
                "cpu" => self.cpu = Some(value.trim().parse()?),
                "db" => self.db = Some(value.trim().parse()?),
                other => {
                    return Err(format!(
                        "unknown variant key {other:?}: expected sleep, upstream, cpu or db"
                    ))
                }
            }
        }
        Ok(())
    }
}

impl FromStr for VariantRequest {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut request = VariantRequest::default();
        request.add(s)?;
        Ok(request)
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
    fn says_what_is_wrong() {
        let err = "sleep=lazy".parse::<VariantRequest>().unwrap_err();
        assert!(err.contains("blocking, async, offload"), "{err}");
        assert!("colour=blue"
            .parse::<VariantRequest>()
            .unwrap_err()
            .contains("colour"));
        assert!("sleep"
            .parse::<VariantRequest>()
            .unwrap_err()
            .contains("key=value"));
        assert!("upstream=async-sometimes"
            .parse::<VariantRequest>()
            .is_err());
    }
}
