//! Reading one World row for `/db`: SQLite or PostgreSQL, blocking or async.

use std::cell::RefCell;
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
    pub fn open(target: &DbTarget, variant: DbVariant) -> Result<World, String> {
        let world = match (target, variant) {
            (DbTarget::Sqlite(path), _) => World::Sqlite(path.clone()),
            #[cfg(feature = "postgres")]
            (DbTarget::Postgres(url), DbVariant::Async) => World::PgAsync(AsyncPool::connect(url)?),
            #[cfg(feature = "postgres")]
            (DbTarget::Postgres(url), _) => World::PgBlocking(BlockingPool::new(url)?),
            #[cfg(not(feature = "postgres"))]
            (DbTarget::Postgres(_), _) => {
                return Err(crate::built_without("PostgreSQL", "postgres"));
            }
        };
        match &world {
            World::Sqlite(path) => sqlite_row(path, 1).map_err(|err| {
                format!(
                    "{err} (make it with `framewut db init --path {}`)",
                    path.display()
                )
            })?,
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
    pub fn query_blocking(&self, id: i32) -> Result<Row, String> {
        match self {
            World::Sqlite(path) => sqlite_row(path, id),
            #[cfg(feature = "postgres")]
            World::PgBlocking(pool) => pool.query(id),
            #[cfg(feature = "postgres")]
            World::PgAsync(_) => Err("the async PostgreSQL pool cannot be queried blocking".into()),
        }
    }

    /// Reads a row with a blocking driver from an event-loop thread, blocking
    /// the loop for the query's whole round trip. The `postgres` crate runs
    /// its own runtime and panics on a tokio thread, so its query runs on a
    /// helper thread while the loop thread waits for it: the loop is blocked
    /// all the same, which is the point of this variant.
    pub fn query_on_loop(&self, id: i32) -> Result<Row, String> {
        match self {
            #[cfg(feature = "postgres")]
            World::PgBlocking(_) => std::thread::scope(|scope| {
                scope
                    .spawn(|| self.query_blocking(id))
                    .join()
                    .unwrap_or_else(|_| Err("the PostgreSQL query panicked".into()))
            }),
            _ => self.query_blocking(id),
        }
    }

    /// Reads a row through the async pool.
    #[cfg(feature = "postgres")]
    pub async fn query_async(&self, id: i32) -> Result<Row, String> {
        match self {
            World::PgAsync(pool) => pool.query(id).await,
            _ => Err("only PostgreSQL has an async driver here".into()),
        }
    }

    /// Refuses: a build without PostgreSQL has no async driver (and
    /// [`crate::catalogue`] refuses db=async before a stack starts).
    #[cfg(not(feature = "postgres"))]
    pub async fn query_async(&self, _id: i32) -> Result<Row, String> {
        Err(crate::built_without("PostgreSQL", "postgres"))
    }
}

thread_local! {
    static SQLITE: RefCell<Option<(PathBuf, rusqlite::Connection)>> = const { RefCell::new(None) };
}

fn sqlite_row(path: &Path, id: i32) -> Result<Row, String> {
    SQLITE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(open, _)| open != path) {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = rusqlite::Connection::open_with_flags(path, flags)
                .map_err(|err| format!("cannot open SQLite {}: {err}", path.display()))?;
            *slot = Some((path.to_path_buf(), conn));
        }
        let (_, conn) = slot.as_ref().expect("opened above");
        conn.prepare_cached(SQLITE_QUERY)
            .and_then(|mut statement| {
                statement.query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
            })
            .map_err(|err| format!("SQLite {}: {err}", path.display()))
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
    fn new(url: &str) -> Result<BlockingPool, String> {
        Ok(BlockingPool {
            url: url.to_string(),
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        })
    }

    fn query(&self, id: i32) -> Result<Row, String> {
        let mut client = self.checkout()?;
        let result = client
            .query_one(PG_QUERY, &[&id])
            .map(|row| (row.get(0), row.get(1)))
            .map_err(|err| format!("PostgreSQL query: {err}"));
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if result.is_ok() {
            state.idle.push(client);
        } else {
            state.open -= 1;
        }
        self.returned.notify_one();
        result
    }

    fn checkout(&self) -> Result<postgres::Client, String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(client) = state.idle.pop() {
                return Ok(client);
            }
            if state.open < BLOCKING_POOL_MAX {
                state.open += 1;
                drop(state);
                return postgres::Client::connect(&self.url, postgres::NoTls).map_err(|err| {
                    self.state.lock().unwrap_or_else(|e| e.into_inner()).open -= 1;
                    format!("cannot connect to {}: {err}", self.url)
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
    fn connect(url: &str) -> Result<AsyncPool, String> {
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
                    Err(err) => {
                        let _ =
                            sender.send(Err(format!("cannot start the PostgreSQL runtime: {err}")));
                        return;
                    }
                };
                let connected = runtime.block_on(async {
                    let mut clients = Vec::with_capacity(ASYNC_POOL_SIZE);
                    for _ in 0..ASYNC_POOL_SIZE {
                        let (client, connection) =
                            tokio_postgres::connect(&url, tokio_postgres::NoTls)
                                .await
                                .map_err(|err| format!("cannot connect to {url}: {err}"))?;
                        tokio::spawn(connection);
                        let statement = client
                            .prepare(PG_QUERY)
                            .await
                            .map_err(|err| format!("PostgreSQL prepare: {err}"))?;
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
            .map_err(|err| format!("cannot start the PostgreSQL thread: {err}"))?;
        let clients = receiver
            .recv()
            .map_err(|_| "the PostgreSQL thread died".to_string())??;
        Ok(AsyncPool {
            clients,
            next: AtomicUsize::new(0),
        })
    }

    fn check(&self) -> Result<Row, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|err| format!("cannot start a runtime: {err}"))?;
        runtime.block_on(self.query(1))
    }

    async fn query(&self, id: i32) -> Result<Row, String> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        let (client, statement) = &self.clients[index];
        let row = client
            .query_one(statement, &[&id])
            .await
            .map_err(|err| format!("PostgreSQL query: {err}"))?;
        Ok((row.get(0), row.get(1)))
    }
}
