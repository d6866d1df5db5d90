//! `[[profile]]` entries: how hard, how long and how often each cell is loaded.

use std::time::Duration;

use toml::Spanned;

use super::error::{MatrixError, Text};
use super::raw::{Protocols, RawProfile};
use crate::spec::{PacingSpec, Protocol};

/// How many times a cell's stack is started for its trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Servers {
    /// This many starts, at most one per trial (`servers = N`).
    Count(u32),
    /// A start for every trial, however many (`fresh_server = true`).
    PerTrial,
}

impl Servers {
    /// The starts for `trials` trials.
    pub(super) fn for_trials(self, trials: u32) -> u32 {
        match self {
            Servers::Count(n) => n.min(trials),
            Servers::PerTrial => trials,
        }
    }
}

/// A checked `[[profile]]`: the loads every cell of the matrix gets.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    pub(super) name: String,
    /// Several values sweep.
    pub(super) connections: Vec<usize>,
    /// `None` takes the generator's CPUs, at most one per connection.
    pub(super) threads: Option<usize>,
    pub(super) duration: Duration,
    /// The longest a trial may last, when trials are sized to the model's rate.
    pub(super) max_duration: Option<Duration>,
    pub(super) warmup: Duration,
    pub(super) timeout: Duration,
    pub(super) pacing: PacingSpec,
    pub(super) trials: u32,
    /// How many starts of the stack the trials are spread over.
    pub(super) servers: Servers,
    /// Thresholds each cell is checked against, in canonical form.
    pub(super) thresholds: Vec<framewut_load::Threshold>,
    /// A connection per request (`Connection: close`).
    pub(super) close: bool,
    /// Where each stack's CPU goes, recorded after the trials.
    pub(super) cpu_profile: bool,
    /// Several values sweep.
    pub(super) protocols: Vec<Protocol>,
    /// HTTP/2's concurrent streams per connection.
    pub(super) streams: usize,
}

impl Profile {
    pub(super) fn default_named(name: &str) -> Profile {
        Profile {
            name: name.to_string(),
            connections: vec![64],
            threads: None,
            duration: Duration::from_secs(5),
            max_duration: None,
            warmup: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            pacing: PacingSpec::Closed,
            trials: 1,
            servers: Servers::Count(1),
            thresholds: Vec::new(),
            close: false,
            cpu_profile: false,
            protocols: vec![Protocol::Http1],
            streams: 1,
        }
    }
}

pub(super) fn check_profile(
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
    if let Some(max) = raw.max_duration {
        if max < profile.duration {
            return Err(src.error(
                Some(span.clone()),
                format!(
                    "max_duration of {max:?} in profile {name:?} is shorter than its duration ({:?}): \
                     a trial lasts at least duration and at most max_duration",
                    profile.duration
                ),
            ));
        }
        profile.max_duration = Some(max);
    }
    profile.servers = match (raw.fresh_server, raw.servers) {
        (Some(_), Some(n)) => {
            return Err(src.error(
                Some(n.span()),
                format!("profile {name:?} sets both fresh_server and servers: keep one (fresh_server = true is a server for every trial)"),
            ))
        }
        (_, Some(n)) if *n.get_ref() == 0 => {
            return Err(src.error(
                Some(n.span()),
                "servers = 0: expected at least 1 (the starts of the stack the trials are spread over)",
            ))
        }
        (_, Some(n)) => Servers::Count(*n.get_ref()),
        (Some(true), None) => Servers::PerTrial,
        (Some(false) | None, None) => Servers::Count(1),
    };
    if let Some(thresholds) = raw.thresholds {
        let span = thresholds.span();
        for text in thresholds.into_inner() {
            let threshold: framewut_load::Threshold =
                text.parse().map_err(|e: framewut_load::ThresholdError| {
                    src.error(
                        Some(span.clone()),
                        format!("thresholds in profile {name:?}: {e}"),
                    )
                })?;
            profile.thresholds.push(threshold);
        }
    }
    profile.close = raw.close.unwrap_or(false);
    profile.cpu_profile = raw.cpu_profile.unwrap_or(false);
    if let Some(w) = raw.warmup {
        profile.warmup = w;
    }
    if let Some(rate) = raw.rate {
        profile.pacing = PacingSpec::Open { rate };
    }
    if let Some(protocols) = raw.protocol {
        let span = protocols.span();
        let names = match protocols.into_inner() {
            Protocols::One(name) => vec![name],
            Protocols::Many(names) => names,
        };
        let mut chosen = Vec::new();
        for name in names {
            let protocol = match name.as_str() {
                "http/1.1" => Protocol::Http1,
                "h2" => Protocol::H2,
                other => {
                    return Err(src.error(
                        Some(span),
                        format!("protocol {other:?} in profile {name:?}: expected \"http/1.1\" or \"h2\" (h2 is h2c in cleartext, h2 by ALPN over tls), or a list of them"),
                    ))
                }
            };
            if chosen.contains(&protocol) {
                return Err(src.error(
                    Some(span),
                    format!("protocol {:?} twice in profile {name:?}", protocol.name()),
                ));
            }
            chosen.push(protocol);
        }
        if chosen.is_empty() {
            return Err(src.error(
                Some(span),
                format!("protocol = [] in profile {name:?}: expected \"http/1.1\", \"h2\" or both"),
            ));
        }
        if profile.close && chosen.contains(&Protocol::H2) {
            return Err(src.error(Some(span), format!("profile {name:?} sets close = true with h2: an HTTP/2 connection carries many requests and has no Connection: close; load h2 in a profile without close")));
        }
        profile.protocols = chosen;
    }
    if let Some(streams) = raw.streams {
        let n = *streams.get_ref();
        if n == 0 || n > framewut_load::MAX_STREAMS {
            return Err(src.error(
                Some(streams.span()),
                format!(
                    "streams = {n}: expected 1 to {}",
                    framewut_load::MAX_STREAMS
                ),
            ));
        }
        // One stream a connection is what HTTP/1.1 has too; more are HTTP/2's.
        if n > 1 && !profile.protocols.contains(&Protocol::H2) {
            return Err(src.error(Some(streams.span()), format!("streams = {n} in profile {name:?}, which loads HTTP/1.1 only: streams are HTTP/2's; add protocol = \"h2\" (or [\"http/1.1\", \"h2\"])")));
        }
        profile.streams = n;
    }
    Ok(profile)
}
