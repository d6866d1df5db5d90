//! How a Python stack waits and calls: its sleep mode and upstream client,
//! and the variants a matrix asks for, read and written as the words the
//! matrix and results.json use.

use std::fmt;
use std::str::FromStr;

use super::error::PythonVariantError;

/// How `/sleep` waits in a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepMode {
    /// `time.sleep` holds the worker (or its thread) for the whole wait.
    Blocking,
    /// The wait yields, and the worker serves others meanwhile: gevent-patched
    /// `time.sleep` under gevent's hub, or `asyncio.sleep`.
    Cooperative,
}

impl SleepMode {
    /// `blocking` or `cooperative`.
    pub fn as_str(self) -> &'static str {
        match self {
            SleepMode::Blocking => "blocking",
            SleepMode::Cooperative => "cooperative",
        }
    }
}

/// How `/upstream` calls the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamClient {
    /// A new connection per call: `requests.get`, or a new `httpx.AsyncClient` (ASGI).
    Fresh,
    /// One pooled client per process: `requests.Session`, or one `httpx.AsyncClient` (ASGI).
    Session,
    /// One requests-futures `FuturesSession` per process, waited on at once.
    Futures,
}

impl UpstreamClient {
    /// `fresh`, `session` or `futures`: the value of `FRAMEWUT_CLIENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamClient::Fresh => "fresh",
            UpstreamClient::Session => "session",
            UpstreamClient::Futures => "futures",
        }
    }

    /// Whether the client reuses connections across calls.
    pub fn pooled(self) -> bool {
        self != UpstreamClient::Fresh
    }
}

macro_rules! display_and_parse {
    ($ty:ty, $what:literal, $($variant:ident),+) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = PythonVariantError;

            fn from_str(text: &str) -> Result<Self, PythonVariantError> {
                [$(<$ty>::$variant),+]
                    .into_iter()
                    .find(|value| value.as_str() == text)
                    .ok_or_else(|| {
                        let names: Vec<&str> = [$(<$ty>::$variant),+].iter().map(|v| v.as_str()).collect();
                        PythonVariantError::Unknown {
                            what: $what,
                            value: text.to_string(),
                            expected: names.join(", "),
                        }
                    })
            }
        }
    };
}

display_and_parse!(SleepMode, "sleep mode", Blocking, Cooperative);
display_and_parse!(UpstreamClient, "upstream client", Fresh, Session, Futures);

framewut_stacks::serde_as_text!(SleepMode, UpstreamClient, PythonVariants);

/// A Python stack's variants as a matrix asks for them:
/// `sleep=blocking|cooperative`, `upstream=fresh|session|futures`; `None`
/// leaves the stack's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PythonVariants {
    pub sleep: Option<SleepMode>,
    pub client: Option<UpstreamClient>,
}

impl FromStr for PythonVariants {
    type Err = PythonVariantError;

    fn from_str(text: &str) -> Result<Self, PythonVariantError> {
        let mut variants = PythonVariants::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| PythonVariantError::NotKeyValue(pair.to_string()))?;
            match key.trim() {
                "sleep" => variants.sleep = Some(value.trim().parse()?),
                "upstream" => variants.client = Some(value.trim().parse()?),
                other => return Err(PythonVariantError::UnknownKey(other.to_string())),
            }
        }
        Ok(variants)
    }
}

/// The keys given, sleep first: `sleep=cooperative,upstream=futures`.
impl fmt::Display for PythonVariants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = [
            self.sleep.map(|s| format!("sleep={s}")),
            self.client.map(|c| format!("upstream={c}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        f.write_str(&pairs.join(","))
    }
}
