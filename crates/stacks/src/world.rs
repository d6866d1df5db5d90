//! Reading one World row for `/db`: SQLite or PostgreSQL, blocking or async.

use std::cell::RefCell;
#[cfg(feature = "postgres")]
use std::io;
use std::path::{Path, PathBuf};
#[cfg(feature = "postgres")]
use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(feature = "postgres")]
use std::sync::{mpsc, Condvar, Mutex};

use crate::contract::WORLD_ROWS;
use crate::db::DbTarget;
use crate::variant::DbVariant;

const SQLITE_QUERY: &str = "SELECT id, randomNumber FROM World WHERE id = ?1";
#[cfg(feature = "postgres")]
const PG_QUERY: &str = "SELECT id, randomnumber FROM world WHERE id = $1";

/// Connections the async pool opens; tokio-postgres pipelines queries on each.
#[cfg(feature = "postgres")]
const ASYNC_POOL_SIZE: usize = 4;

/// Most connections the blocking pool opens; threads beyond it wait their turn.
#[cfg(feature = "postgres")]
const BLOCKING_POOL_MAX: usize = 64;

/// Why the World table cannot be read. The messages name the database and
/// carry the driver's own error, which is also the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The SQLite file does not open.
    #[error("cannot open SQLite {}: {source}", .path.display())]
    SqliteOpen {
        /// The file.
        path: PathBuf,
        /// rusqlite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The SQLite query failed, e.g. there is no World table.
    #[error("SQLite {}: {source}", .path.display())]
    SqliteQuery {
        /// The file.
        path: PathBuf,
        /// rusqlite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The SQLite file failed the read made at start; the message says how to make it.
    #[error("{source} (make it with `framewut db init --path {}`)", .path.display())]
    SqliteNotReady {
        /// The file.
        path: PathBuf,
        /// The failed open or query.
        #[source]
        source: Box<WorldError>,
    },
    /// No connection to the PostgreSQL server.
    #[cfg(feature = "postgres")]
    #[error("cannot connect to {url}: {source}")]
    PgConnect {
        /// The URL connected to.
        url: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// PostgreSQL refused to prepare the query.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL prepare: {0}")]
    PgPrepare(#[source] postgres::Error),
    /// The PostgreSQL query failed.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL query: {0}")]
    PgQuery(#[source] postgres::Error),
    /// A thread or runtime the PostgreSQL pools need did not start.
    #[cfg(feature = "postgres")]
    #[error("cannot start {what}: {source}")]
    Start {
        /// `the PostgreSQL thread`, `the PostgreSQL runtime` or `a runtime`.
        what: &'static str,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
    /// The thread driving the async pool's connections ended before it answered.
    #[cfg(feature = "postgres")]
    #[error("the PostgreSQL thread died")]
    PgThreadDied,
    /// The helper thread of a blocking PostgreSQL query panicked.
    #[cfg(feature = "postgres")]
    #[error("the PostgreSQL query panicked")]
    PgPanicked,
    /// A blocking query asked of the async pool.
    #[cfg(feature = "postgres")]
    #[error("the async PostgreSQL pool cannot be queried blocking")]
    AsyncPoolBlocking,
    /// An async query asked of a database with only a blocking driver.
    #[cfg(feature = "postgres")]
    #[error("only PostgreSQL has an async driver here")]
    NoAsyncDriver,
    /// This build has no PostgreSQL.
    #[cfg(not(feature = "postgres"))]
    #[error(transparent)]
    NotBuilt(#[from] crate::BuiltWithout),
}

/// One World row.
pub(crate) type Row = (i32, i32);

/// A random id in 1..=10000.
pub(crate) fn random_id() -> i32 {
    fastrand::i32(1..=WORLD_ROWS as i32)
}

/// Where `/db` reads from, opened and checked at start.
pub(crate) enum World {
    /// A SQLite file, read through one connection per thread.
    Sqlite(PathBuf),
    /// PostgreSQL through the blocking `postgres` client.
    #[cfg(feature = "postgres")]
    PgBlocking(BlockingPool),
    /// PostgreSQL through tokio-postgres.
    #[cfg(feature = "postgres")]
    PgAsync(AsyncPool),
}

impl World {
    /// Opens the database for `variant` and reads one row, so that a stack
    /// with a broken database refuses to start rather than failing requests.
    pub fn open(target: &DbTarget, variant: DbVariant) -> Result<World, WorldError> {
        let world = match (target, variant) {
            (DbTarget::Sqlite(path), _) => World::Sqlite(path.clone()),
            #[cfg(feature = "postgres")]
            (DbTarget::Postgres(url), DbVariant::Async) => World::PgAsync(AsyncPool::connect(url)?),
            #[cfg(feature = "postgres")]
            (DbTarget::Postgres(url), _) => World::PgBlocking(BlockingPool::new(url)),
            #[cfg(not(feature = "postgres"))]
            (DbTarget::Postgres(_), _) => {
                return Err(crate::BuiltWithout::POSTGRES.into());
            }
        };
        match &world {
            World::Sqlite(path) => {
                sqlite_row(path, 1).map_err(|err| WorldError::SqliteNotReady {
                    path: path.clone(),
                    source: Box::new(err),
                })?
            }
            #[cfg(feature = "postgres")]
            World::PgBlocking(pool) => pool.query(1)?,
            #[cfg(feature = "postgres")]
            World::PgAsync(pool) => pool.check()?,
        };
        Ok(world)
    }

    /// Reads a row with a blocking driver on the calling thread. Not for
    /// [`World::PgAsync`], and not on a tokio runtime thread for PostgreSQL
    /// (see [`World::query_on_loop`]).
    pub fn query_blocking(&self, id: i32) -> Result<Row, WorldError> {
        match self {
            World::Sqlite(path) => sqlite_row(path, id),
            #[cfg(feature = "postgres")]
            World::PgBlocking(pool) => pool.query(id),
            #[cfg(feature = "postgres")]
            World::PgAsync(_) => Err(WorldError::AsyncPoolBlocking),
        }
    }

    /// Reads a row with a blocking driver from an event-loop thread, blocking
    /// the loop for the query's whole round trip. The `postgres` crate runs
    /// its own runtime and panics on a tokio thread, so its query runs on a
    /// helper thread while the loop thread waits for it: the loop is blocked
    /// all the same, which is the point of this variant.
    pub fn query_on_loop(&self, id: i32) -> Result<Row, WorldError> {
        match self {
            #[cfg(feature = "postgres")]
            World::PgBlocking(_) => std::thread::scope(|scope| {
                scope
                    .spawn(|| self.query_blocking(id))
                    .join()
                    .unwrap_or(Err(WorldError::PgPanicked))
            }),
            _ => self.query_blocking(id),
        }
    }

    /// Reads a row through the async pool.
    #[cfg(feature = "postgres")]
    pub async fn query_async(&self, id: i32) -> Result<Row, WorldError> {
        match self {
            World::PgAsync(pool) => pool.query(id).await,
            _ => Err(WorldError::NoAsyncDriver),
        }
    }

    /// Refuses: a build without PostgreSQL has no async driver (and
    /// [`crate::catalogue`] refuses db=async before a stack starts).
    #[cfg(not(feature = "postgres"))]
    pub async fn query_async(&self, _id: i32) -> Result<Row, WorldError> {
        Err(crate::BuiltWithout::POSTGRES.into())
    }
}

thread_local! {
    static SQLITE: RefCell<Option<(PathBuf, rusqlite::Connection)>> = const { RefCell::new(None) };
}

fn sqlite_row(path: &Path, id: i32) -> Result<Row, WorldError> {
    SQLITE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(open, _)| open != path) {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|source| {
                WorldError::SqliteOpen {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            *slot = Some((path.to_path_buf(), conn));
        }
        let (_, conn) = slot.as_ref().expect("opened above");
        conn.prepare_cached(SQLITE_QUERY)
            .and_then(|mut statement| {
                statement.query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
            })
            .map_err(|source| WorldError::SqliteQuery {
                path: path.to_path_buf(),
                source,
            })
    })
}

/// Blocking `postgres` clients, opened as needed up to [`BLOCKING_POOL_MAX`].
#[cfg(feature = "postgres")]
pub(crate) struct BlockingPool {
    url: String,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[cfg(feature = "postgres")]
struct PoolState {
    idle: Vec<postgres::Client>,
    open: usize,
}

#[cfg(feature = "postgres")]
impl BlockingPool {
    fn new(url: &str) -> BlockingPool {
        BlockingPool {
            url: url.to_string(),
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn query(&self, id: i32) -> Result<Row, WorldError> {
        let mut client = self.checkout()?;
        let result = client
            .query_one(PG_QUERY, &[&id])
            .map(|row| (row.get(0), row.get(1)))
            .map_err(WorldError::PgQuery);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if result.is_ok() {
            state.idle.push(client);
        } else {
            state.open -= 1;
        }
        self.returned.notify_one();
        result
    }

    fn checkout(&self) -> Result<postgres::Client, WorldError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(client) = state.idle.pop() {
                return Ok(client);
            }
            if state.open < BLOCKING_POOL_MAX {
                state.open += 1;
                drop(state);
                return postgres::Client::connect(&self.url, postgres::NoTls).map_err(|source| {
                    self.state.lock().unwrap_or_else(|e| e.into_inner()).open -= 1;
                    WorldError::PgConnect {
                        url: self.url.clone(),
                        source,
                    }
                });
            }
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A few tokio-postgres connections, used round-robin (each pipelines
/// concurrent queries). Their sockets are driven by one extra thread with its
/// own runtime, so the pool serves every stack's runtimes alike.
#[cfg(feature = "postgres")]
pub(crate) struct AsyncPool {
    clients: Vec<(tokio_postgres::Client, tokio_postgres::Statement)>,
    next: AtomicUsize,
}

#[cfg(feature = "postgres")]
impl AsyncPool {
    fn connect(url: &str) -> Result<AsyncPool, WorldError> {
        let (sender, receiver) = mpsc::channel();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("framewut-pg".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(source) => {
                        let _ = sender.send(Err(WorldError::Start {
                            what: "the PostgreSQL runtime",
                            source,
                        }));
                        return;
                    }
                };
                let connected = runtime.block_on(async {
                    let mut clients = Vec::with_capacity(ASYNC_POOL_SIZE);
                    for _ in 0..ASYNC_POOL_SIZE {
                        let (client, connection) =
                            tokio_postgres::connect(&url, tokio_postgres::NoTls)
                                .await
                                .map_err(|source| WorldError::PgConnect {
                                    url: url.clone(),
                                    source,
                                })?;
                        tokio::spawn(connection);
                        let statement = client
                            .prepare(PG_QUERY)
                            .await
                            .map_err(WorldError::PgPrepare)?;
                        clients.push((client, statement));
                    }
                    Ok(clients)
                });
                let failed = connected.is_err();
                let _ = sender.send(connected);
                if !failed {
                    runtime.block_on(std::future::pending::<()>());
                }
            })
            .map_err(|source| WorldError::Start {
                what: "the PostgreSQL thread",
                source,
            })?;
        let clients = receiver.recv().map_err(|_| WorldError::PgThreadDied)??;
        Ok(AsyncPool {
            clients,
            next: AtomicUsize::new(0),
        })
    }

    fn check(&self) -> Result<Row, WorldError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|source| WorldError::Start {
                what: "a runtime",
                source,
            })?;
        runtime.block_on(self.query(1))
    }

    async fn query(&self, id: i32) -> Result<Row, WorldError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        let (client, statement) = &self.clients[index];
        let row = client
            .query_one(statement, &[&id])
            .await
            .map_err(WorldError::PgQuery)?;
        Ok((row.get(0), row.get(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_sqlite_file_is_refused_with_the_way_to_make_it() {
        let dir = format!("framewut-no-world-{}", std::process::id());
        let path = std::env::temp_dir().join(dir).join("world.sqlite");
        let Err(err) = World::open(&DbTarget::Sqlite(path.clone()), DbVariant::Blocking) else {
            panic!("{} opened", path.display());
        };
        let WorldError::SqliteNotReady { source, .. } = &err else {
            panic!("expected SqliteNotReady, got {err:?}");
        };
        assert!(
            matches!(**source, WorldError::SqliteOpen { .. }),
            "{source:?}"
        );
        let message = err.to_string();
        let opening = format!("cannot open SQLite {}: ", path.display());
        let hint = format!(
            "(make it with `framewut db init --path {}`)",
            path.display()
        );
        assert!(message.starts_with(&opening), "{message}");
        assert!(message.ends_with(&hint), "{message}");
    }
}
