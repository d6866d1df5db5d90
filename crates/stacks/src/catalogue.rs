//! The catalogue of built-in stacks: ids, concurrency models, supported variants.

use std::fmt;

use crate::db::DbTarget;
use crate::variant::{
    ClientVariant, ConnVariant, CpuVariant, DbVariant, SleepVariant, UpstreamVariant,
    VariantRequest, Variants,
};
use crate::BuiltWithout;

/// The concurrency model of a stack, in the words the whole project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// N workers, each serving one connection at a time (gunicorn's sync worker).
    SyncPool,
    /// A thread for every connection.
    ThreadPerConnection,
    /// N independent event loops, one thread each (gunicorn with N gevent or meinheld workers).
    EventLoopPerWorker,
    /// One work-stealing runtime over N threads.
    WorkStealing,
    /// Stackful coroutines (gevent's greenlets).
    Coroutines,
}

impl Model {
    /// Every model, in the order the design lists them.
    pub const ALL: [Model; 5] = [
        Model::SyncPool,
        Model::ThreadPerConnection,
        Model::EventLoopPerWorker,
        Model::WorkStealing,
        Model::Coroutines,
    ];

    /// The model's name: `sync-pool`, `thread-per-connection`,
    /// `event-loop-per-worker`, `work-stealing multi-thread` or `coroutines`.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::SyncPool => "sync-pool",
            Model::ThreadPerConnection => "thread-per-connection",
            Model::EventLoopPerWorker => "event-loop-per-worker",
            Model::WorkStealing => "work-stealing multi-thread",
            Model::Coroutines => "coroutines",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A concurrency model's name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown concurrency model {0:?}: expected sync-pool, thread-per-connection, event-loop-per-worker, work-stealing multi-thread or coroutines")]
pub struct UnknownModel(pub String);

impl std::str::FromStr for Model {
    type Err = UnknownModel;

    fn from_str(name: &str) -> Result<Model, UnknownModel> {
        Model::ALL
            .into_iter()
            .find(|model| model.as_str() == name)
            .ok_or_else(|| UnknownModel(name.to_string()))
    }
}

crate::serde_as_text!(Model);

/// Why a stack cannot be found or cannot run as asked. Each message is one
/// sentence naming the problem and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    /// No built-in stack has this id; the message lists those there are.
    #[error("unknown stack {id:?}: the built-in stacks are {}", built_in_ids())]
    Unknown {
        /// The id asked for.
        id: String,
    },
    /// The stack, or PostgreSQL, is behind a Cargo feature this build left out.
    #[error(transparent)]
    NotBuilt(#[from] BuiltWithout),
    /// A variant the stack does not have.
    #[error("{stack} cannot do {key}={value}: it supports {key}={supported}")]
    Unsupported {
        /// The stack's id.
        stack: &'static str,
        /// `sleep`, `upstream client`, `cpu` or `db`.
        key: &'static str,
        /// The variant asked for.
        value: String,
        /// The variants it has, `|`-separated.
        supported: String,
    },
    /// `db=async` on a SQLite file.
    #[error(
        "{stack} cannot do db=async on SQLite: there is no async SQLite driver here; \
         pass --db postgres://... or pick db=blocking or db=offload"
    )]
    NoAsyncSqlite {
        /// The stack's id.
        stack: &'static str,
    },
    /// `--workers 0`.
    #[error("--workers must be at least 1")]
    NoWorkers,
    /// `--workers` above 1 for a stack with one event loop.
    #[error(
        "{stack} runs exactly one event-loop thread; it cannot run --workers {workers} \
         (use rust/axum/per-core for N loops)"
    )]
    OneEventLoop {
        /// The stack's id.
        stack: &'static str,
        /// The workers asked for.
        workers: usize,
    },
    /// `--workers` above 1 for a stack with a thread per connection.
    #[error("{stack} starts one thread per connection; it takes no --workers {workers}")]
    ThreadPerConnection {
        /// The stack's id.
        stack: &'static str,
        /// The workers asked for.
        workers: usize,
    },
}

/// What `--workers` means for a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// N threads or event loops.
    Configurable,
    /// Always one event-loop thread; `--workers` above 1 is refused.
    One,
    /// One thread per connection; `--workers` above 1 is refused.
    PerConnection,
}

/// Which server code runs a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    StdSyncPool,
    StdThreadPerConn,
    HyperCurrent,
    HyperMulti,
    #[cfg(feature = "axum")]
    AxumMulti,
    #[cfg(feature = "axum")]
    AxumPerCore,
    #[cfg(feature = "actix")]
    ActixWorkers,
    FastPerCore,
    #[cfg(feature = "may")]
    MayCoroutines,
}

/// One built-in stack: a stable id, its concurrency model and what it can do.
#[derive(Debug)]
pub struct StackInfo {
    /// Stable, readable id, e.g. `rust/axum/tokio-multi`.
    pub id: &'static str,
    /// Its concurrency model.
    pub model: Model,
    /// One sentence on what it is.
    pub description: &'static str,
    /// What `--workers` means.
    pub workers: Workers,
    /// Supported `sleep=` variants, the default first.
    pub sleep: &'static [SleepVariant],
    /// Supported upstream clients, the default first; each goes with pooled or fresh.
    pub client: &'static [ClientVariant],
    /// Supported `cpu=` variants, the default first.
    pub cpu: &'static [CpuVariant],
    /// Supported `db=` variants (the default is `async` on PostgreSQL where
    /// supported, else `blocking`).
    pub db: &'static [DbVariant],
    /// Whether `--close` (close the connection after every response) is supported.
    pub close: bool,
    pub(crate) engine: Engine,
    // HTTPS (issue 12).
    /// Whether it can serve HTTPS (`framewut serve --tls`).
    pub tls: bool,
    // HTTP/2 (issue 24).
    /// Whether it serves HTTP/2 beside HTTP/1.1 on the same port: h2c with
    /// prior knowledge in cleartext, and h2 chosen by ALPN over TLS (its TLS
    /// configuration then offers h2 before http/1.1). A client that speaks
    /// HTTP/1.1 gets HTTP/1.1 either way. [`crate::contract::check_http2`]
    /// tells whether a server really does.
    pub http2: bool,
}

const SYNC_SLEEP: &[SleepVariant] = &[SleepVariant::Blocking];
const SYNC_CLIENT: &[ClientVariant] = &[ClientVariant::Blocking];
const SYNC_CPU: &[CpuVariant] = &[CpuVariant::Inline];
const SYNC_DB: &[DbVariant] = &[DbVariant::Blocking];
const ASYNC_SLEEP: &[SleepVariant] = &[
    SleepVariant::Async,
    SleepVariant::Blocking,
    SleepVariant::Offload,
];
const ASYNC_CLIENT: &[ClientVariant] = &[
    ClientVariant::Async,
    ClientVariant::Blocking,
    ClientVariant::Offload,
];
const ASYNC_CPU: &[CpuVariant] = &[CpuVariant::Inline, CpuVariant::Offload];
const ASYNC_DB: &[DbVariant] = &[
    DbVariant::Blocking,
    #[cfg(feature = "postgres")]
    DbVariant::Async,
    DbVariant::Offload,
];

const fn sync_stack(
    id: &'static str,
    model: Model,
    workers: Workers,
    description: &'static str,
    engine: Engine,
) -> StackInfo {
    StackInfo {
        id,
        model,
        description,
        workers,
        sleep: SYNC_SLEEP,
        client: SYNC_CLIENT,
        cpu: SYNC_CPU,
        db: SYNC_DB,
        close: true,
        engine,
        tls: true,
        http2: false,
    }
}

/// An event-loop stack: as [`sync_stack`], with the async variants and no `--close`.
const fn async_stack(
    id: &'static str,
    model: Model,
    workers: Workers,
    description: &'static str,
    engine: Engine,
) -> StackInfo {
    StackInfo {
        sleep: ASYNC_SLEEP,
        client: ASYNC_CLIENT,
        cpu: ASYNC_CPU,
        db: ASYNC_DB,
        close: false,
        ..sync_stack(id, model, workers, description, engine)
    }
}

/// An event-loop stack that also serves HTTP/2: as [`async_stack`], with
/// [`StackInfo::http2`].
const fn async_http2_stack(
    id: &'static str,
    model: Model,
    workers: Workers,
    description: &'static str,
    engine: Engine,
) -> StackInfo {
    StackInfo {
        http2: true,
        ..async_stack(id, model, workers, description, engine)
    }
}

/// The stacks this build has: those of a family whose feature is off are left out.
static STACKS: &[StackInfo] = &[
    sync_stack(
        "rust/std/sync-pool",
        Model::SyncPool,
        Workers::Configurable,
        "N threads, each serving one connection at a time with blocking I/O, like gunicorn's sync worker",
        Engine::StdSyncPool,
    ),
    sync_stack(
        "rust/std/thread-per-conn",
        Model::ThreadPerConnection,
        Workers::PerConnection,
        "a new thread for every connection, blocking I/O",
        Engine::StdThreadPerConn,
    ),
    async_http2_stack(
        "rust/hyper/tokio-current",
        Model::EventLoopPerWorker,
        Workers::One,
        "hyper on one current-thread tokio runtime: one event loop, like one gevent worker",
        Engine::HyperCurrent,
    ),
    async_http2_stack(
        "rust/hyper/tokio-multi",
        Model::WorkStealing,
        Workers::Configurable,
        "hyper on tokio's work-stealing runtime with N worker threads",
        Engine::HyperMulti,
    ),
    #[cfg(feature = "axum")]
    async_http2_stack(
        "rust/axum/tokio-multi",
        Model::WorkStealing,
        Workers::Configurable,
        "axum on tokio's work-stealing runtime with N worker threads",
        Engine::AxumMulti,
    ),
    #[cfg(feature = "axum")]
    async_http2_stack(
        "rust/axum/per-core",
        Model::EventLoopPerWorker,
        Workers::Configurable,
        "axum on N current-thread runtimes sharing the port through SO_REUSEPORT, like gunicorn with N event-loop workers",
        Engine::AxumPerCore,
    ),
    #[cfg(feature = "actix")]
    async_http2_stack(
        "rust/actix/workers",
        Model::EventLoopPerWorker,
        Workers::Configurable,
        "actix-web with N workers, each a single-threaded runtime",
        Engine::ActixWorkers,
    ),
    async_stack(
        "rust/fast/per-core",
        Model::EventLoopPerWorker,
        Workers::Configurable,
        "framewut's own small HTTP/1.1 server on N current-thread runtimes sharing the port through SO_REUSEPORT",
        Engine::FastPerCore,
    ),
    #[cfg(feature = "may")]
    StackInfo {
        id: "rust/may/coroutines",
        model: Model::Coroutines,
        description: "stackful coroutines (may) on N scheduler threads, a coroutine per connection, like gevent's greenlets",
        workers: Workers::Configurable,
        sleep: &[SleepVariant::Async, SleepVariant::Blocking],
        client: SYNC_CLIENT,
        cpu: SYNC_CPU,
        db: SYNC_DB,
        close: false,
        engine: Engine::MayCoroutines,
        tls: true,
        http2: false,
    },
];

/// The stacks behind a Cargo feature, with its name: a build without the
/// feature leaves them out of [`STACKS`], and [`find`] says how to get them.
const OPTIONAL: &[(&str, &str)] = &[
    ("rust/axum/tokio-multi", "axum"),
    ("rust/axum/per-core", "axum"),
    ("rust/actix/workers", "actix"),
    ("rust/may/coroutines", "may"),
];

/// Every stack built into this binary.
pub fn stacks() -> &'static [StackInfo] {
    STACKS
}

/// The built-in stack with this id; a stack whose feature this build left
/// out is refused with the command that builds it in.
pub fn find(id: &str) -> Result<&'static StackInfo, StackError> {
    if let Some(stack) = STACKS.iter().find(|stack| stack.id == id) {
        return Ok(stack);
    }
    if let Some(&(what, feature)) = OPTIONAL.iter().find(|(optional, _)| *optional == id) {
        return Err(BuiltWithout { what, feature }.into());
    }
    Err(StackError::Unknown { id: id.to_string() })
}

/// The ids of the stacks this build has, comma-separated.
fn built_in_ids() -> String {
    let ids: Vec<&str> = STACKS.iter().map(|stack| stack.id).collect();
    ids.join(", ")
}

fn names<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("|")
}

impl StackInfo {
    /// The supported variants in one line, defaults first:
    /// `sleep=async|blocking|offload upstream=(async|blocking|offload)-(pooled|fresh) ...`.
    pub fn variants_summary(&self) -> String {
        format!(
            "sleep={} upstream=({})-(pooled|fresh) cpu={} db={}",
            names(self.sleep),
            names(self.client),
            names(self.cpu),
            names(self.db)
        )
    }

    /// Resolves a request against what this stack supports, filling in the
    /// defaults; refuses, in one sentence, what it cannot do.
    pub fn resolve(&self, request: &VariantRequest, db: &DbTarget) -> Result<Variants, StackError> {
        fn pick<T: Copy + PartialEq + fmt::Display>(
            stack: &'static str,
            key: &'static str,
            wanted: Option<T>,
            default: T,
            supported: &[T],
        ) -> Result<T, StackError> {
            let value = wanted.unwrap_or(default);
            if supported.contains(&value) {
                Ok(value)
            } else {
                Err(StackError::Unsupported {
                    stack,
                    key,
                    value: value.to_string(),
                    supported: names(supported),
                })
            }
        }
        let upstream = request.upstream.unwrap_or(UpstreamVariant {
            client: self.client[0],
            conn: ConnVariant::Pooled,
        });
        pick(
            self.id,
            "upstream client",
            Some(upstream.client),
            self.client[0],
            self.client,
        )?;
        if !cfg!(feature = "postgres")
            && (matches!(db, DbTarget::Postgres(_)) || request.db == Some(DbVariant::Async))
        {
            return Err(BuiltWithout::POSTGRES.into());
        }
        let db_default = match db {
            DbTarget::Postgres(_) if self.db.contains(&DbVariant::Async) => DbVariant::Async,
            _ => DbVariant::Blocking,
        };
        let db_variant = pick(self.id, "db", request.db, db_default, self.db)?;
        if db_variant == DbVariant::Async && !matches!(db, DbTarget::Postgres(_)) {
            return Err(StackError::NoAsyncSqlite { stack: self.id });
        }
        Ok(Variants {
            sleep: pick(self.id, "sleep", request.sleep, self.sleep[0], self.sleep)?,
            upstream,
            cpu: pick(self.id, "cpu", request.cpu, self.cpu[0], self.cpu)?,
            db: db_variant,
        })
    }

    /// The number of workers to run, or a one-line refusal.
    pub fn resolve_workers(&self, asked: Option<usize>) -> Result<usize, StackError> {
        match (self.workers, asked) {
            (_, Some(0)) => Err(StackError::NoWorkers),
            (Workers::Configurable, Some(n)) => Ok(n),
            (Workers::Configurable, None) => {
                Ok(std::thread::available_parallelism().map_or(1, usize::from))
            }
            (Workers::One | Workers::PerConnection, None | Some(1)) => Ok(1),
            (Workers::One, Some(workers)) => Err(StackError::OneEventLoop {
                stack: self.id,
                workers,
            }),
            (Workers::PerConnection, Some(workers)) => Err(StackError::ThreadPerConnection {
                stack: self.id,
                workers,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sqlite() -> DbTarget {
        DbTarget::Sqlite(PathBuf::from("world.sqlite"))
    }

    #[test]
    fn ids_are_unique_and_findable() {
        for stack in stacks() {
            assert_eq!(find(stack.id).unwrap().id, stack.id);
            assert_eq!(
                stacks().iter().filter(|other| other.id == stack.id).count(),
                1
            );
        }
        let unknown = find("rust/nope").unwrap_err();
        assert_eq!(
            unknown,
            StackError::Unknown {
                id: "rust/nope".into()
            }
        );
        assert!(unknown.to_string().contains("rust/std/sync-pool"));
    }

    #[test]
    fn sync_pool_refuses_async_sleep() {
        let stack = find("rust/std/sync-pool").unwrap();
        let request: VariantRequest = "sleep=async".parse().unwrap();
        let err = stack.resolve(&request, &sqlite()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rust/std/sync-pool cannot do sleep=async: it supports sleep=blocking"
        );
        assert!(matches!(err, StackError::Unsupported { key: "sleep", .. }));
    }

    #[test]
    fn a_stack_of_a_feature_is_built_in_or_refused_naming_the_feature() {
        for &(what, feature) in OPTIONAL {
            match find(what) {
                Ok(stack) => assert_eq!(stack.id, what),
                Err(err) => assert_eq!(err, StackError::NotBuilt(BuiltWithout { what, feature })),
            }
        }
        let may = BuiltWithout {
            what: "rust/may/coroutines",
            feature: "may",
        };
        assert_eq!(
            may.to_string(),
            "this build of framewut has no rust/may/coroutines: it was built without the `may` \
             feature; build it in with `cargo build --release --features may`"
        );
    }

    #[cfg(all(feature = "actix", feature = "axum", feature = "may"))]
    #[test]
    fn with_every_feature_every_stack_is_built_in() {
        assert_eq!(stacks().len(), 9);
        for (id, _) in OPTIONAL {
            assert!(stacks().iter().any(|stack| stack.id == *id), "{id}");
        }
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn without_postgres_its_urls_and_db_async_are_refused() {
        let stack = find("rust/hyper/tokio-multi").unwrap();
        let pg = DbTarget::Postgres("postgres://localhost/x".into());
        let refusal = StackError::NotBuilt(BuiltWithout::POSTGRES);
        let none = VariantRequest::default();
        assert_eq!(stack.resolve(&none, &pg).unwrap_err(), refusal);
        let request: VariantRequest = "db=async".parse().unwrap();
        assert_eq!(stack.resolve(&request, &sqlite()).unwrap_err(), refusal);
        assert_eq!(stack.db, [DbVariant::Blocking, DbVariant::Offload]);
    }

    #[cfg(all(feature = "axum", feature = "postgres"))]
    #[test]
    fn defaults_follow_the_stack_and_the_database() {
        let axum = find("rust/axum/tokio-multi").unwrap();
        let none = VariantRequest::default();
        let variants = axum.resolve(&none, &sqlite()).unwrap();
        assert_eq!(
            variants.to_string(),
            "sleep=async,upstream=async-pooled,cpu=inline,db=blocking"
        );
        let pg = DbTarget::Postgres("postgres://localhost/x".into());
        assert_eq!(axum.resolve(&none, &pg).unwrap().db, DbVariant::Async);
        let request: VariantRequest = "db=async".parse().unwrap();
        let err = axum.resolve(&request, &sqlite()).unwrap_err();
        assert_eq!(
            err,
            StackError::NoAsyncSqlite {
                stack: "rust/axum/tokio-multi"
            }
        );
        assert!(err.to_string().contains("SQLite"), "{err}");
    }

    #[test]
    fn models_read_back_their_names() {
        for model in Model::ALL {
            assert_eq!(model.as_str().parse::<Model>(), Ok(model));
            let json = serde_json::to_string(&model).unwrap();
            assert_eq!(serde_json::from_str::<Model>(&json).unwrap(), model);
        }
        assert!("green threads".parse::<Model>().is_err());
    }

    #[test]
    fn workers_are_checked() {
        let current = find("rust/hyper/tokio-current").unwrap();
        assert_eq!(current.resolve_workers(None), Ok(1));
        let err = current.resolve_workers(Some(4)).unwrap_err();
        assert!(matches!(err, StackError::OneEventLoop { workers: 4, .. }));
        assert!(
            err.to_string().contains("exactly one event-loop thread"),
            "{err}"
        );
        let pool = find("rust/std/sync-pool").unwrap();
        assert_eq!(pool.resolve_workers(Some(4)), Ok(4));
        assert_eq!(pool.resolve_workers(Some(0)), Err(StackError::NoWorkers));
        let per_conn = find("rust/std/thread-per-conn").unwrap();
        assert!(matches!(
            per_conn.resolve_workers(Some(2)),
            Err(StackError::ThreadPerConnection { workers: 2, .. })
        ));
    }
}
