//! `[[stack]]` entries: a built-in Rust stack, a Python stack or an external
//! command, each checked by its own rules, then resolved per cell into the
//! typed [`StackSource`] the lab runs.

use std::collections::BTreeMap;
use std::time::Duration;

use framewut_stacks::catalogue::{find, Workers};
use framewut_stacks::db::DbTarget;
use framewut_stacks::variant::VariantRequest;
use framewut_stacks::StackInfo;
use toml::Spanned;

use super::app::{check_app, AppKind};
use super::error::{CellsError, MatrixError, Text};
use super::raw::RawStack;
use crate::lab::measure::cpus::Placement;
use crate::python::{find_python_stack, PythonStack, PythonVariants, SleepMode, UpstreamClient};
use crate::spec::{Database, Reference, ScenarioSpec, StackSource};
use crate::urls::{BaseUrl, MetricsUrl};

/// How long a stack has to answer its readiness path, unless its entry says otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What runs a stack, every part of it checked.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    BuiltIn {
        info: &'static StackInfo,
        /// The variants asked for; none leaves the stack's defaults.
        request: Option<VariantRequest>,
        close: bool,
    },
    Python {
        stack: &'static PythonStack,
        request: Option<PythonVariants>,
        sleep: SleepMode,
        client: UpstreamClient,
    },
    External {
        command: String,
        ready: String,
    },
    /// A server already running at `url`, which framewut only loads.
    Remote {
        url: BaseUrl,
        ready: String,
        metrics: Option<MetricsUrl>,
    },
    /// The user's own Python app under one server.
    App(AppKind),
}

/// A checked `[[stack]]` entry.
#[derive(Debug, Clone)]
pub(super) struct Stack {
    /// Its name in cell ids.
    pub(super) label: String,
    source: Kind,
    /// Several values sweep; `None` is the stack's default.
    pub(super) workers: Vec<Option<usize>>,
    pub(super) env: BTreeMap<String, String>,
    pub(super) ready_timeout: Duration,
    /// The scenarios it runs, by name; none runs the matrix's.
    pub(super) scenarios: Option<Vec<String>>,
    pub(super) reference: Option<Reference>,
    /// Served over HTTPS.
    pub(super) tls: bool,
}

/// Any SQLite target and any PostgreSQL target: what a variant is checked
/// against before the scenario's database is known.
fn any_sqlite() -> DbTarget {
    DbTarget::Sqlite("world.sqlite".into())
}

fn any_postgres() -> DbTarget {
    DbTarget::Postgres("postgres://".into())
}

/// A label from an id and the options that set the entry apart:
/// `rust/std/sync-pool:sleep=blocking,close`; a `name` wins.
fn label(name: &Option<String>, id: &str, flags: &[&str]) -> String {
    match name {
        Some(name) => name.clone(),
        None if flags.is_empty() => id.to_string(),
        None => format!("{id}:{}", flags.join(",")),
    }
}

/// The variant's text as written, trimmed, for the label.
fn variant_text(raw: &RawStack) -> Option<&str> {
    raw.variant.as_ref().map(|v| v.get_ref().trim())
}

/// Which key of a `[[stack]]` entry a mistake is about, so that a matrix
/// file can point at it.
#[derive(Debug, Clone, Copy)]
enum Key {
    Id,
    Variant,
    Workers,
    Close,
    Tls,
}

/// A stack entry's mistake and the key it is about.
struct Mistake {
    key: Key,
    message: String,
}

fn at<E: std::fmt::Display>(key: Key) -> impl Fn(E) -> Mistake {
    move |message| Mistake {
        key,
        message: message.to_string(),
    }
}

/// A built-in stack, its variants, workers and `close` checked against what
/// it can do.
fn built_in(
    id: &str,
    variant: Option<&str>,
    workers: &[usize],
    close: bool,
    tls: bool,
) -> Result<Kind, Mistake> {
    let info = find(id).map_err(at(Key::Id))?;
    let request = variant
        .map(|v| v.parse::<VariantRequest>().map_err(|e| e.to_string()))
        .transpose()
        .map_err(at(Key::Variant))?;
    let asked = request.unwrap_or_default();
    info.resolve(&asked, &any_sqlite())
        .or_else(|_| info.resolve(&asked, &any_postgres()))
        .map_err(at(Key::Variant))?;
    for n in workers {
        info.resolve_workers(Some(*n)).map_err(at(Key::Workers))?;
    }
    if close && !info.close {
        return Err(at(Key::Close)(format!(
            "{} cannot close the connection after every response; only the rust/std stacks can",
            info.id
        )));
    }
    if tls && !info.tls {
        let able: Vec<&str> = framewut_stacks::stacks()
            .iter()
            .filter(|s| s.tls)
            .map(|s| s.id)
            .collect();
        return Err(at(Key::Tls)(format!(
            "{} cannot serve HTTPS; the built-in stacks that can: {}",
            info.id,
            able.join(", ")
        )));
    }
    Ok(Kind::BuiltIn {
        info,
        request,
        close,
    })
}

/// A Python stack and its variants, checked against what it can do.
fn python(id: &str, variant: Option<&str>, tls: bool) -> Result<Kind, Mistake> {
    let stack = find_python_stack(id).map_err(at(Key::Id))?;
    if tls {
        stack.serves_tls().map_err(at(Key::Tls))?;
    }
    let request = variant
        .map(str::parse::<PythonVariants>)
        .transpose()
        .map_err(at(Key::Variant))?;
    let (sleep, client) = stack
        .resolve(request.unwrap_or_default())
        .map_err(at(Key::Variant))?;
    Ok(Kind::Python {
        stack,
        request,
        sleep,
        client,
    })
}

/// The entry's stack id: `rust/std/sync-pool`, `python/flask/gunicorn-sync`.
fn kind_id(kind: &Kind) -> &'static str {
    match kind {
        Kind::BuiltIn { info, .. } => info.id,
        Kind::Python { stack, .. } => stack.id,
        Kind::External { .. } | Kind::Remote { .. } | Kind::App(_) => {
            unreachable!("an external, remote or app stack has a name, not an id")
        }
    }
}

/// A built-in or Python stack by id, checked, with the span of each key
/// to point at.
fn check_by_id(
    src: &Text,
    raw: &RawStack,
    id: &Spanned<String>,
) -> Result<(String, Kind), MatrixError> {
    if let Some(ready) = &raw.ready {
        return Err(src.error(
            Some(ready.span()),
            "ready is for external stacks; a built-in or Python stack is polled on /hello",
        ));
    }
    let close = raw.close.as_ref().is_some_and(|c| *c.get_ref());
    let tls = raw.tls.as_ref().is_some_and(|t| *t.get_ref());
    let variant = variant_text(raw);
    let kind = if id.get_ref().starts_with("python/") {
        python(id.get_ref(), variant, tls)
    } else {
        let workers = raw.workers.as_ref().map_or(&[][..], |w| &w.get_ref().0);
        built_in(id.get_ref(), variant, workers, close, tls)
    };
    let kind = kind.map_err(|m| {
        let span = match m.key {
            Key::Id => Some(id.span()),
            Key::Variant => raw.variant.as_ref().map(Spanned::span),
            Key::Workers => raw.workers.as_ref().map(Spanned::span),
            Key::Close => raw.close.as_ref().map(Spanned::span),
            Key::Tls => raw.tls.as_ref().map(Spanned::span),
        };
        src.error(span, m.message)
    })?;
    let close = matches!(kind, Kind::BuiltIn { close: true, .. });
    let flags: Vec<&str> = variant
        .into_iter()
        .chain(close.then_some("close"))
        .chain(tls.then_some("tls"))
        .collect();
    Ok((label(&raw.name, kind_id(&kind), &flags), kind))
}

fn check_external(
    src: &Text,
    raw: &RawStack,
    command: &str,
    span: std::ops::Range<usize>,
) -> Result<(String, Kind), MatrixError> {
    if !command.contains("{port}") {
        return Err(src.error(
            Some(span),
            "an external stack's command must contain {port}, where framewut puts the port it picked",
        ));
    }
    let Some(name) = &raw.name else {
        return Err(src.error(
            Some(span),
            "an external stack needs a name = \"...\" (it goes into the cell ids)",
        ));
    };
    if let Some(v) = &raw.variant {
        return Err(src.error(
            Some(v.span()),
            "variant is for built-in stacks; put an external stack's options in its command",
        ));
    }
    let ready = match &raw.ready {
        Some(r) if !r.get_ref().starts_with('/') => {
            return Err(src.error(
                Some(r.span()),
                "ready is a path starting with /, e.g. \"/hello\"",
            ))
        }
        Some(r) => r.get_ref().clone(),
        None => "/hello".to_string(),
    };
    Ok((
        name.clone(),
        Kind::External {
            command: command.to_string(),
            ready,
        },
    ))
}

/// A server framewut does not start: its base URL, the path that says it
/// is up, and the metrics endpoint that gives its CPU, each checked.
fn check_remote(
    src: &Text,
    raw: &RawStack,
    url: &Spanned<String>,
) -> Result<(String, Kind), MatrixError> {
    let at = |s: &Spanned<String>| Some(s.span());
    if let Some(v) = &raw.variant {
        return Err(src.error(
            at(v),
            "variant is for built-in stacks; a url stack runs as it was started",
        ));
    }
    if let Some(w) = &raw.workers {
        return Err(src.error(
            Some(w.span()),
            "framewut cannot set the workers of a server it does not start; leave workers out (say them in its name)",
        ));
    }
    if !raw.env.is_empty() {
        return Err(src.error(
            at(url),
            "env is for the processes framewut starts; a url stack's server was started by someone else",
        ));
    }
    let base = BaseUrl::parse(url.get_ref()).map_err(|e| src.error(at(url), e.to_string()))?;
    let metrics = match &raw.metrics {
        Some(m) => {
            Some(MetricsUrl::parse(m.get_ref()).map_err(|e| src.error(at(m), e.to_string()))?)
        }
        None => None,
    };
    let ready = match &raw.ready {
        Some(r) if !r.get_ref().starts_with('/') => {
            return Err(src.error(at(r), "ready is a path starting with /, e.g. \"/hello\""))
        }
        Some(r) => r.get_ref().clone(),
        None => "/hello".to_string(),
    };
    let label = raw
        .name
        .clone()
        .unwrap_or_else(|| format!("remote/{}", base.authority()));
    Ok((
        label,
        Kind::Remote {
            url: base,
            ready,
            metrics,
        },
    ))
}

/// A reference figure is one number for one scenario.
fn check_reference(src: &Text, raw: &mut RawStack) -> Result<Option<Reference>, MatrixError> {
    let Some(r) = raw.reference.take() else {
        return Ok(None);
    };
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
    if raw
        .scenarios
        .as_ref()
        .is_none_or(|only| only.get_ref().len() != 1)
    {
        return Err(src.error(
            at,
            "a reference is one figure for one scenario: give this stack scenarios = [\"...\"] naming exactly one",
        ));
    }
    Ok(Some(r))
}

/// A built-in or Python stack named by id with its variants and workers, as
/// a command line gives one (`framewut knee`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackEntry {
    pub id: String,
    /// Variants as a matrix takes them, e.g. `sleep=blocking`.
    pub variant: Option<String>,
    /// Workers; none is the stack's default.
    pub workers: Option<usize>,
}

impl StackEntry {
    /// The entry checked as a `[[stack]]` with these keys would be.
    pub(super) fn check(&self) -> Result<Stack, String> {
        let variant = self.variant.as_deref().map(str::trim);
        let workers: Vec<usize> = self.workers.into_iter().collect();
        let kind = if self.id.starts_with("python/") {
            python(&self.id, variant, false)
        } else {
            built_in(&self.id, variant, &workers, false, false)
        }
        .map_err(|m| m.message)?;
        let flags: Vec<&str> = variant.into_iter().collect();
        Ok(Stack {
            label: label(&None, kind_id(&kind), &flags),
            source: kind,
            workers: vec![self.workers],
            env: BTreeMap::new(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            scenarios: None,
            reference: None,
            tls: false,
        })
    }
}

/// Checks one `[[stack]]` entry by the rules of its kind: one stack, or
/// for an app one per server it runs under.
pub(super) fn check_stack(src: &Text, raw: Spanned<RawStack>) -> Result<Vec<Stack>, MatrixError> {
    let span = raw.span();
    let mut raw = raw.into_inner();
    let kinds = match (&raw.id, &raw.command, &raw.url, &raw.app) {
        (None, None, None, None) => {
            return Err(src.error(
                Some(span),
                "a stack needs an id (a built-in Rust or Python stack: see `framewut list stacks`), a command with {port}, the url of a server already running, or the app = \"module:attribute\" of your own Python app",
            ))
        }
        (Some(id), None, None, None) => vec![check_by_id(src, &raw, id)?],
        (None, Some(command), None, None) => {
            vec![check_external(src, &raw, command, span.clone())?]
        }
        (None, None, Some(url), None) => vec![check_remote(src, &raw, url)?],
        (None, None, None, Some(app)) => check_app(src, &raw, app)?,
        _ => {
            return Err(src.error(
                Some(span),
                "a stack has one of an id (built-in Rust or Python), a command (external), a url (a server already running) or an app (your own Python app), not several",
            ))
        }
    };
    let app_keys = [
        raw.interface.as_ref().map(|_| "interface"),
        raw.dir.as_ref().map(|_| "dir"),
        raw.requirements.as_ref().map(|_| "requirements"),
        raw.servers.as_ref().map(|_| "servers"),
        raw.threads.as_ref().map(|_| "threads"),
        raw.patched.as_ref().map(|_| "patched"),
    ];
    if let (None, Some(key)) = (&raw.app, app_keys.into_iter().flatten().next()) {
        return Err(src.error(
            Some(span),
            format!("{key} is for an app stack (app = \"module:attribute\"); this entry has none"),
        ));
    }
    let reference = check_reference(src, &mut raw)?;
    let scenarios = raw.scenarios.take().map(|names| {
        names
            .into_inner()
            .into_iter()
            .map(Spanned::into_inner)
            .collect::<Vec<String>>()
    });
    kinds
        .into_iter()
        .map(|(label, source)| {
            finish_stack(
                src,
                &raw,
                span.clone(),
                label,
                source,
                scenarios.clone(),
                reference.clone(),
            )
        })
        .collect()
}

/// The checks every kind shares, and the stack they make.
fn finish_stack(
    src: &Text,
    raw: &RawStack,
    span: std::ops::Range<usize>,
    label: String,
    source: Kind,
    scenarios: Option<Vec<String>>,
    reference: Option<Reference>,
) -> Result<Stack, MatrixError> {
    if let Some(m) = raw
        .metrics
        .as_ref()
        .filter(|_| !matches!(source, Kind::Remote { .. }))
    {
        return Err(src.error(
            Some(m.span()),
            "metrics is for a url stack; framewut measures the processes it starts itself",
        ));
    }
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
    if let Some(t) = raw
        .tls
        .as_ref()
        .filter(|t| *t.get_ref() && matches!(source, Kind::External { .. }))
    {
        return Err(src.error(
            Some(t.span()),
            "tls is for built-in and Python stacks, whose HTTPS options framewut knows; an external stack is loaded over plain http://",
        ));
    }
    let tls = raw.tls.as_ref().is_some_and(|t| *t.get_ref());
    let workers = match &raw.workers {
        Some(w) => w.get_ref().0.iter().map(|n| Some(*n)).collect(),
        None => vec![None],
    };
    Ok(Stack {
        label,
        source,
        workers,
        env: raw.env.clone(),
        ready_timeout: raw.ready_timeout.unwrap_or(DEFAULT_READY_TIMEOUT),
        scenarios,
        reference,
        tls,
    })
}

impl Stack {
    /// Whether it is known not to serve HTTP/2: a built-in or Python stack
    /// says; a server framewut does not know is taken at its word.
    pub(super) fn lacks_http2(&self) -> bool {
        match &self.source {
            Kind::BuiltIn { info, .. } => !info.http2,
            Kind::Python { stack, .. } => !stack.serves_http2(),
            Kind::External { .. } | Kind::Remote { .. } | Kind::App(_) => false,
        }
    }

    /// Why this stack cannot run `scenario`, if it cannot: a built-in or
    /// Python stack serves only the five built-in handlers, and an app
    /// only its own endpoints.
    pub(super) fn refuses(&self, scenario: &ScenarioSpec) -> Option<String> {
        let custom = matches!(scenario, ScenarioSpec::Custom(_));
        match &self.source {
            Kind::BuiltIn { .. } | Kind::Python { .. } if custom => Some(format!(
                "{} serves the built-in scenarios only, so it cannot run {:?}, a scenario of this matrix's own; give the entry scenarios = [...] naming built-in ones",
                self.label,
                scenario.name()
            )),
            Kind::App(_) if !custom => Some(format!(
                "{} is your app, which does not serve framewut's built-in {:?} scenario; give the entry scenarios = [...] naming [scenario.NAME] tables with your app's paths",
                self.label,
                scenario.name()
            )),
            _ => None,
        }
    }

    /// The source and worker count one cell runs with.
    pub(super) fn resolve(
        &self,
        workers: Option<usize>,
        scenario: &ScenarioSpec,
        placement: &Placement,
    ) -> Result<(StackSource, usize), CellsError> {
        let refused = |source| CellsError::Stack {
            stack: self.label.clone(),
            source,
        };
        match &self.source {
            Kind::BuiltIn {
                info,
                request,
                close,
            } => {
                let workers = match (info.workers, workers) {
                    (Workers::Configurable, None) => placement.server_cpus.count(),
                    (_, asked) => info.resolve_workers(asked.or(Some(1))).map_err(refused)?,
                };
                let db = match scenario {
                    ScenarioSpec::Db {
                        database: Database::Postgres,
                        ..
                    } => any_postgres(),
                    _ => any_sqlite(),
                };
                let variants = info
                    .resolve(&request.unwrap_or_default(), &db)
                    .map_err(refused)?;
                Ok((
                    StackSource::BuiltIn {
                        id: info.id.to_string(),
                        model: info.model,
                        variant_request: *request,
                        variants,
                        close: *close,
                    },
                    workers,
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
                    model: stack.model,
                    variant_request: *request,
                    sleep: *sleep,
                    client: *client,
                },
                workers.unwrap_or(placement.server_cpus.count()),
            )),
            Kind::External { command, ready } => Ok((
                StackSource::External {
                    command: command.clone(),
                    ready_path: ready.clone(),
                },
                workers.unwrap_or(placement.server_cpus.count()),
            )),
            Kind::App(app) => Ok((
                StackSource::App {
                    app: app.app.clone(),
                    interface: app.interface,
                    dir: app.dir.clone(),
                    requirements: app.requirements.clone(),
                    server: app.server,
                    model: app.server.model(app.interface),
                    threads: app.threads,
                    patched: app.patched,
                    ready_path: app.ready.clone(),
                },
                workers.unwrap_or(placement.server_cpus.count()),
            )),
            // Its workers are not framewut's to know: 0 says so.
            Kind::Remote {
                url,
                ready,
                metrics,
            } => Ok((
                StackSource::Remote {
                    url: url.clone(),
                    ready_path: ready.clone(),
                    metrics: metrics.clone(),
                },
                0,
            )),
        }
    }
}
