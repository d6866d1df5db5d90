//! What TLS cost: per stack, HTTPS against plain HTTP on the same load (the
//! server's CPU per request, and what a handshake adds when every request
//! opens a connection); and, against an HTTPS upstream, what pooling the
//! client's connections saves, beside the seed's 110 -> 252 req/s.

use std::collections::BTreeMap;

use framewut_stacks::Scenario;

use super::{Finding, Seen, Topic};
use crate::format::{micros, rate, times};
use crate::python::UpstreamClient;
use crate::spec::{ScenarioVariant, StackSource};

/// The server's CPU per request: what the trials spent, else the
/// calibration's.
fn server_us(s: &Seen) -> Option<f64> {
    s.spent_us().or(s.cpu_us())
}

/// The stack whatever its TLS, with its load: the key HTTPS and plain
/// HTTP cells are paired on.
fn pair_key(s: &Seen) -> Option<(String, usize, String, bool)> {
    let spec = &s.cell.config;
    let id = match &spec.stack.source {
        StackSource::BuiltIn { id, .. } | StackSource::Python { id, .. } => id.clone(),
        StackSource::App { .. } => spec.stack.label.clone(),
        StackSource::External { .. } | StackSource::Remote { .. } => return None,
    };
    Some((
        format!("{id} x{} {}", spec.stack.workers, spec.scenario.name()),
        spec.load.connections,
        spec.load.profile.clone(),
        spec.load.close,
    ))
}

/// Per stack and load, the cell served over HTTPS beside the same cell over
/// plain HTTP: the rates, the server's CPU per request, and, with a
/// connection per request, what one handshake cost the server, set beside
/// the probe's rustls figure.
pub(super) fn served(seen: &[Seen], out: &mut Vec<Finding>) {
    let mut pairs: BTreeMap<_, (Option<Seen>, Option<Seen>)> = BTreeMap::new();
    for s in seen {
        let Some(key) = pair_key(s) else { continue };
        let entry = pairs.entry(key).or_default();
        if s.cell.config.stack.tls {
            entry.1 = Some(*s);
        } else {
            entry.0 = Some(*s);
        }
    }
    for ((_, _, _, close), pair) in pairs {
        let (Some(plain), Some(https)) = pair else {
            continue;
        };
        let mut text = format!(
            "{} over HTTPS answered {} against {} over plain HTTP ({})",
            https.name(true),
            rate(https.rate()),
            rate(plain.rate()),
            times(https.rate() / plain.rate().max(f64::MIN_POSITIVE)),
        );
        if let (Some(tls_us), Some(plain_us)) = (server_us(&https), server_us(&plain)) {
            let extra = tls_us - plain_us;
            if close {
                text.push_str(&format!(
                    "; with a connection per request the server spent {} of CPU per request against {}: a handshake cost it about {}",
                    micros(tls_us),
                    micros(plain_us),
                    micros(extra)
                ));
                if let Some(h) = https.cell.handshake {
                    text.push_str(&format!(
                        " (the probe's rustls server side alone: {}; the rest is the connection's set-up and teardown in the stack)",
                        micros(h.server_us)
                    ));
                }
            } else {
                text.push_str(&format!(
                    "; on kept-alive connections the server spent {} of CPU per request against {}: {} for the encryption",
                    micros(tls_us),
                    micros(plain_us),
                    micros(extra)
                ));
            }
        }
        text.push('.');
        out.push(Finding {
            topic: Topic::Tls,
            verdict: None,
            text,
            cells: vec![plain.id().to_string(), https.id().to_string()],
        });
    }
}

/// A pooled client in words: `a requests.Session`, `requests-futures`, or
/// the Rust variant's own word (`async-pooled`).
fn pooled_client(s: &Seen) -> String {
    match s.cell.config.variant() {
        Some(ScenarioVariant::PythonClient(UpstreamClient::Session)) => {
            "a requests.Session".to_string()
        }
        Some(ScenarioVariant::PythonClient(UpstreamClient::Futures)) => {
            "requests-futures".to_string()
        }
        Some(other) => other.to_string(),
        None => "the stack's own client".to_string(),
    }
}

/// Per stack and load against an HTTPS upstream: the fresh client's rate
/// against each pooled one's, and the seed's own step from its references.
pub(super) fn upstream(seen: &[Seen], out: &mut Vec<Finding>) {
    let mut stacks: BTreeMap<_, Vec<Seen>> = BTreeMap::new();
    for s in seen
        .iter()
        .filter(|s| s.cell.config.scenario.is(Scenario::Upstream) && s.cell.config.upstream_tls())
    {
        if let Some(key) = pair_key(s) {
            stacks.entry(key).or_default().push(*s);
        }
    }
    for cells in stacks.values() {
        let Some(fresh) = cells.iter().find(|s| s.cell.config.fresh_connections()) else {
            continue;
        };
        let pooled: Vec<&Seen> = cells
            .iter()
            .filter(|s| !s.cell.config.fresh_connections())
            .collect();
        if pooled.is_empty() {
            continue;
        }
        let steps: Vec<String> = pooled
            .iter()
            .map(|p| {
                format!(
                    "{} with {} ({})",
                    rate(p.rate()),
                    pooled_client(p),
                    times(p.rate() / fresh.rate().max(f64::MIN_POSITIVE))
                )
            })
            .collect();
        let mut text = format!(
            "Against an HTTPS upstream, {} answered {} with a new connection per call ({}), and {}",
            fresh.name(true),
            rate(fresh.rate()),
            fresh.why(),
            steps.join(", ")
        );
        if let Some(h) = fresh.cell.handshake {
            text.push_str(&format!(
                "; a rustls handshake cost {} of client CPU and {} of the upstream's (the probe; Python's requests runs OpenSSL instead, and builds a new TLS context with every requests.get)",
                micros(h.client_us),
                micros(h.server_us)
            ));
        }
        let seed = pooled.iter().find_map(|p| {
            let from = fresh.cell.config.reference.as_ref()?;
            let to = p.cell.config.reference.as_ref()?;
            Some((from.requests_per_s, to.requests_per_s))
        });
        if let Some((from, to)) = seed {
            text.push_str(&format!(
                ". The seed went from {} to {} ({}) against its remote page",
                rate(from),
                rate(to),
                times(to / from)
            ));
        }
        text.push('.');
        let mut cells = vec![fresh.id().to_string()];
        cells.extend(pooled.iter().map(|p| p.id().to_string()));
        out.push(Finding {
            topic: Topic::Tls,
            verdict: None,
            text,
            cells,
        });
    }
}
