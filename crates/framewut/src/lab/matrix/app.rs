//! A `[[stack]]` entry with an `app`: the user's own Python app, run under
//! each of its `servers`, checked into one stack per server (and per
//! `threads` value for the servers that run requests on threads).

use std::path::PathBuf;

use toml::Spanned;

use super::error::{MatrixError, Text};
use super::raw::RawStack;
use super::stack::Kind;
use crate::python::{AppServer, Interface};

/// One server of an app entry, checked.
#[derive(Debug, Clone)]
pub(super) struct AppKind {
    pub(super) app: String,
    pub(super) interface: Interface,
    pub(super) dir: PathBuf,
    pub(super) requirements: PathBuf,
    pub(super) server: AppServer,
    pub(super) threads: Option<u32>,
    pub(super) patched: bool,
    pub(super) ready: String,
}

/// Every server and thread count of an app entry, with the label of each:
/// `NAME/SERVER`, and `:tN` where threads sweep.
pub(super) fn check_app(
    src: &Text,
    raw: &RawStack,
    app: &Spanned<String>,
) -> Result<Vec<(String, Kind)>, MatrixError> {
    let at = |s: &Spanned<String>| Some(s.span());
    let target = app.get_ref();
    match target.split_once(':') {
        Some((module, attribute))
            if !module.is_empty()
                && !attribute.is_empty()
                && module.split('.').all(is_identifier)
                && attribute.split('.').all(is_identifier) => {}
        _ => {
            return Err(src.error(
                at(app),
                format!("app = {target:?} is not MODULE:ATTRIBUTE, e.g. \"shop.wsgi:application\""),
            ))
        }
    }
    if let Some(v) = &raw.variant {
        return Err(src.error(
            at(v),
            "variant is for built-in stacks; an app's options are its servers, workers, threads and patched",
        ));
    }
    let Some(name) = &raw.name else {
        return Err(src.error(
            at(app),
            "an app needs a name = \"...\" (its cells are NAME/SERVER/...)",
        ));
    };
    let interface = match &raw.interface {
        Some(i) => i
            .get_ref()
            .parse::<Interface>()
            .map_err(|e| src.error(at(i), e.to_string()))?,
        None => Interface::Wsgi,
    };
    let dir = match &raw.dir {
        Some(d) => {
            let path = src.path(d.get_ref());
            if !path.is_dir() {
                return Err(src.error(
                    at(d),
                    format!(
                        "the app's directory {} does not exist (dir is relative to the matrix file)",
                        path.display()
                    ),
                ));
            }
            path
        }
        None => src.path("."),
    };
    let Some(requirements) = &raw.requirements else {
        return Err(src.error(
            at(app),
            "an app needs requirements = \"requirements.txt\": framewut installs them, with the servers, into an environment of the app's own",
        ));
    };
    let requirements_path = src.path(requirements.get_ref());
    if !requirements_path.is_file() {
        return Err(src.error(
            at(requirements),
            format!(
                "the requirements file {} does not exist: give the app's requirements file (relative to the matrix file), or an empty file for an app with none",
                requirements_path.display()
            ),
        ));
    }
    let Some(servers) = &raw.servers else {
        return Err(src.error(
            at(app),
            format!(
                "an app needs servers = [...] to run it under: {}",
                AppServer::ALL.map(AppServer::as_str).join(", ")
            ),
        ));
    };
    let servers_span = Some(servers.span());
    if servers.get_ref().is_empty() {
        return Err(src.error(servers_span, "servers = []: name at least one server"));
    }
    let patched = raw.patched.unwrap_or(false);
    let threads: Vec<usize> = raw
        .threads
        .as_ref()
        .map_or_else(Vec::new, |t| t.get_ref().0.clone());
    let ready = match &raw.ready {
        Some(r) if !r.get_ref().starts_with('/') => {
            return Err(src.error(at(r), "ready is a path starting with /, e.g. \"/\""))
        }
        Some(r) => r.get_ref().clone(),
        None => "/".to_string(),
    };
    let mut stacks = Vec::new();
    for word in servers.get_ref() {
        let server = word
            .parse::<AppServer>()
            .map_err(|e| src.error(servers_span.clone(), e.to_string()))?;
        server
            .check(interface, patched)
            .map_err(|e| src.error(servers_span.clone(), format!("{server}: {e}")))?;
        if raw.tls.as_ref().is_some_and(|t| *t.get_ref()) && !server.serves_tls() {
            return Err(src.error(
                servers_span.clone(),
                "tls = true, but meinheld's worker cannot serve HTTPS: it reads the socket itself and ignores gunicorn's --certfile",
            ));
        }
        let label = format!("{name}/{server}");
        let kind = |threads: Option<u32>| {
            Kind::App(AppKind {
                app: target.clone(),
                interface,
                dir: dir.clone(),
                requirements: requirements_path.clone(),
                server,
                threads,
                patched,
                ready: ready.clone(),
            })
        };
        match threads.as_slice() {
            _ if !server.uses_threads(interface) => stacks.push((label, kind(None))),
            [] => stacks.push((label, kind(Some(DEFAULT_THREADS)))),
            [one] => stacks.push((label, kind(Some(*one as u32)))),
            many => {
                for n in many {
                    stacks.push((format!("{label}:t{n}"), kind(Some(*n as u32))));
                }
            }
        }
    }
    Ok(stacks)
}

/// Threads per worker for a server that uses them, unless the entry says:
/// gthread's and granian's pools as framewut's own Python stacks run them.
pub const DEFAULT_THREADS: u32 = 10;

fn is_identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}
