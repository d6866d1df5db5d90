//! The World database: where it lives, making the SQLite file, and a
//! throwaway PostgreSQL server.
//!
//! TechEmpower's World table: 10,000 rows, `id` 1..=10000 and `randomNumber`
//! random in 1..=10000. [`init_sqlite`] makes it as a SQLite file;
//! [`TempPostgres::start`] runs a private PostgreSQL server in a temporary
//! directory, seeds the same table, and removes everything when dropped:
//!
//! ```no_run
//! let pg = framewut_stacks::db::TempPostgres::start().unwrap();
//! println!("seeded PostgreSQL at {}", pg.url());
//! drop(pg); // stops the server and removes its directory
//! ```

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};
#[cfg(feature = "postgres")]
use std::{
    net::{Ipv4Addr, TcpListener},
    os::unix::fs::PermissionsExt,
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use crate::contract::WORLD_ROWS;

/// Where `/db` reads the World table from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://...`).
    Postgres(String),
}

impl DbTarget {
    /// Reads `--db`: `postgres://...` or `postgresql://...` is PostgreSQL;
    /// `sqlite:PATH` or a plain path is a SQLite file.
    pub fn parse(text: &str) -> DbTarget {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            DbTarget::Postgres(text.to_string())
        } else {
            DbTarget::Sqlite(PathBuf::from(text.strip_prefix("sqlite:").unwrap_or(text)))
        }
    }
}

impl fmt::Display for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbTarget::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            DbTarget::Postgres(url) => f.write_str(url),
        }
    }
}

/// What went wrong with a database.
#[derive(Debug)]
pub enum DbError {
    /// A file or process operation failed.
    Io(String, io::Error),
    /// SQLite said no.
    Sqlite(String, rusqlite::Error),
    /// PostgreSQL said no.
    #[cfg(feature = "postgres")]
    Postgres(String, postgres::Error),
    /// This build has no PostgreSQL support.
    #[cfg(not(feature = "postgres"))]
    NotBuilt(crate::BuiltWithout),
    /// The PostgreSQL server programs are not installed.
    MissingBinaries(String),
    /// The server did not come up, or the table is not what it should be.
    Setup(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Io(what, err) => write!(f, "{what}: {err}"),
            DbError::Sqlite(what, err) => write!(f, "{what}: {err}"),
            #[cfg(feature = "postgres")]
            DbError::Postgres(what, err) => write!(f, "{what}: {err}"),
            #[cfg(not(feature = "postgres"))]
            DbError::NotBuilt(refusal) => fmt::Display::fmt(refusal, f),
            DbError::MissingBinaries(what) | DbError::Setup(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Io(_, err) => Some(err),
            DbError::Sqlite(_, err) => Some(err),
            #[cfg(feature = "postgres")]
            DbError::Postgres(_, err) => Some(err),
            #[cfg(not(feature = "postgres"))]
            DbError::NotBuilt(_) => None,
            DbError::MissingBinaries(_) | DbError::Setup(_) => None,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DbError {
    let what = what.into();
    move |err| DbError::Io(what, err)
}

/// The SQLite file used when no `--db` is given: `world.sqlite` in
/// framewut's data directory ([`crate::data_dir`]).
pub fn default_sqlite_path() -> PathBuf {
    crate::data_dir().join("world.sqlite")
}

/// Whether [`init_sqlite`] made the file or found it ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// The file was made and seeded.
    Created,
    /// A complete World table was already there.
    AlreadyThere,
}

/// Makes `path` a SQLite file holding a seeded World table, unless one is
/// already there. Safe to run from several processes at once: the table is
/// built in a private file and renamed into place.
pub fn init_sqlite(path: &Path) -> Result<InitOutcome, DbError> {
    if path.exists() && sqlite_is_ready(path)? {
        return Ok(InitOutcome::AlreadyThere);
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let _ = fs::remove_file(&partial);
    let sqlite = |what: &str| {
        let what = format!("{what} {}", partial.display());
        move |err| DbError::Sqlite(what, err)
    };
    let mut conn = rusqlite::Connection::open(&partial).map_err(sqlite("cannot create"))?;
    let tx = conn.transaction().map_err(sqlite("cannot write"))?;
    tx.execute_batch("CREATE TABLE World (id INTEGER PRIMARY KEY, randomNumber INTEGER NOT NULL);")
        .map_err(sqlite("cannot create the World table in"))?;
    {
        let mut insert = tx
            .prepare("INSERT INTO World (id, randomNumber) VALUES (?1, ?2)")
            .map_err(sqlite("cannot write"))?;
        for id in 1..=WORLD_ROWS {
            insert
                .execute((id, fastrand::i64(1..=WORLD_ROWS)))
                .map_err(sqlite("cannot write"))?;
        }
    }
    tx.commit().map_err(sqlite("cannot write"))?;
    drop(conn);
    fs::rename(&partial, path).map_err(io_err(format!(
        "cannot move {} to {}",
        partial.display(),
        path.display()
    )))?;
    Ok(InitOutcome::Created)
}

fn sqlite_is_ready(path: &Path) -> Result<bool, DbError> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|err| DbError::Sqlite(format!("cannot open {}", path.display()), err))?;
    let count: rusqlite::Result<(i64, i64, i64)> =
        conn.query_row("SELECT COUNT(*), MIN(id), MAX(id) FROM World", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        });
    Ok(count.is_ok_and(|found| found == (WORLD_ROWS, 1, WORLD_ROWS)))
}

/// The SQL that makes and seeds the World table in PostgreSQL (unquoted names,
/// as TechEmpower's scripts make it: `world(id, randomnumber)`).
#[cfg(feature = "postgres")]
const PG_SEED: &str = "
CREATE TABLE IF NOT EXISTS world (id integer PRIMARY KEY, randomnumber integer NOT NULL);
INSERT INTO world (id, randomnumber)
  SELECT g, 1 + floor(random() * 10000)::integer FROM generate_series(1, 10000) AS g
  ON CONFLICT (id) DO NOTHING;
";

/// Makes and seeds the World table in the PostgreSQL database at `url`,
/// idempotently. Uses the blocking client: call it outside any async runtime.
#[cfg(feature = "postgres")]
pub fn seed_postgres(url: &str) -> Result<(), DbError> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|err| DbError::Postgres(format!("cannot connect to {url}"), err))?;
    client
        .batch_execute(PG_SEED)
        .map_err(|err| DbError::Postgres("cannot seed the world table".into(), err))
}

/// A private PostgreSQL server in a temporary directory, listening on
/// 127.0.0.1 on a free port (and a unix socket in that directory only),
/// with a seeded World table. Dropping it stops the server (by PID) and
/// removes the directory.
#[derive(Debug)]
pub struct TempPostgres {
    child: Child,
    dir: PathBuf,
    url: String,
    port: u16,
}

/// The programs of a PostgreSQL installation.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    /// `initdb`.
    pub initdb: PathBuf,
    /// `postgres`, the server.
    pub postgres: PathBuf,
}

/// The hint shown when PostgreSQL is not installed.
pub const PG_INSTALL_HINT: &str =
    "PostgreSQL's server programs (initdb, postgres) were not found in PATH or /usr/lib/postgresql/*/bin; install them with `apt-get install postgresql`";

/// Finds `initdb` and `postgres`: Debian's /usr/lib/postgresql/VERSION/bin
/// (newest first), then PATH.
pub fn find_pg_binaries() -> Result<PgBinaries, DbError> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|dir| PgBinaries {
            initdb: dir.join("initdb"),
            postgres: dir.join("postgres"),
        })
        .find(|bins| bins.initdb.is_file() && bins.postgres.is_file())
        .ok_or_else(|| DbError::MissingBinaries(PG_INSTALL_HINT.into()))
}

/// The uid and gid to run PostgreSQL as: our own, or the `postgres` user's when
/// we are root (PostgreSQL refuses to run as root).
#[cfg(feature = "postgres")]
fn pg_user() -> Result<Option<(u32, u32)>, DbError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    // SAFETY: getpwnam takes a NUL-terminated name and returns a pointer to
    // static storage or null; we copy the two ids out at once.
    let entry = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    if entry.is_null() {
        return Err(DbError::Setup(
            "running as root, and PostgreSQL refuses to run as root, but there is no `postgres` user to run it as; `apt-get install postgresql` creates one".into(),
        ));
    }
    // SAFETY: entry is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some((uid, gid)))
}

/// A command that runs as `user` when given, with signals unblocked (the
/// caller may have blocked SIGTERM and SIGINT to wait for them itself, and a
/// child would inherit that mask and could not be stopped), and that the
/// kernel kills if its parent dies: a server left behind by a process killed
/// with SIGKILL would otherwise run on, holding its port and its files.
#[cfg(feature = "postgres")]
fn command(program: &Path, user: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(program);
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec. The death
    // signal is asked for after the uid and gid are set (a change of
    // credentials clears it); if the parent died before the request, the
    // child is already an orphan and does not start.
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "the parent died before the child started",
                ));
            }
            Ok(())
        });
    }
    command
}

#[cfg(feature = "postgres")]
fn free_port() -> Result<u16, DbError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err("cannot find a free port"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(io_err("cannot find a free port"))
}

/// The name of a throwaway server's directory under the temporary
/// directory: `framewut-pg-<pid of the process that made it>-<n>`.
const PG_DIR_PREFIX: &str = "framewut-pg-";

/// Directories of throwaway PostgreSQL servers whose maker is gone: left by
/// a process killed before it could remove them (its server died with it).
pub fn orphaned_pg_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let maker = name
                .to_str()
                .and_then(|n| n.strip_prefix(PG_DIR_PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            maker.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .map(|entry| entry.path())
        .collect()
}

impl TempPostgres {
    /// Runs initdb in a new temporary directory, starts the server there, waits
    /// until it answers, and seeds the World table. Uses blocking clients:
    /// call it outside any async runtime.
    #[cfg(feature = "postgres")]
    pub fn start() -> Result<TempPostgres, DbError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let bins = find_pg_binaries()?;
        let user = pg_user()?;
        let dir = std::env::temp_dir().join(format!(
            "{PG_DIR_PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        let guard = DirGuard(dir.clone());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("cannot set the mode of {}", dir.display())))?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(io_err(format!(
                "cannot hand {} to the postgres user",
                dir.display()
            )))?;
        }
        let data = dir.join("data");
        let initdb = command(&bins.initdb, user)
            .current_dir(&dir)
            .args([
                "--no-sync",
                "--auth=trust",
                "--encoding=UTF8",
                "--username=framewut",
                "-D",
            ])
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err(format!("cannot run {}", bins.initdb.display())))?;
        if !initdb.status.success() {
            return Err(DbError::Setup(format!(
                "initdb failed ({}): {}",
                initdb.status,
                String::from_utf8_lossy(&initdb.stderr).trim()
            )));
        }
        let port = free_port()?;
        let log_path = dir.join("postgres.log");
        let log = fs::File::create(&log_path)
            .map_err(io_err(format!("cannot create {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(io_err("cannot duplicate the log file"))?;
        let child = command(&bins.postgres, user)
            .current_dir(&dir)
            .arg("-D")
            .arg(&data)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-p",
                &port.to_string(),
                "-k",
            ])
            .arg(&dir)
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args(["-c", "max_connections=300", "-c", "shared_buffers=64MB"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_err(format!("cannot run {}", bins.postgres.display())))?;
        std::mem::forget(guard);
        let mut server = TempPostgres {
            child,
            dir,
            url: format!("postgres://framewut@127.0.0.1:{port}/postgres"),
            port,
        };
        server.wait_ready(Duration::from_secs(30))?;
        seed_postgres(&server.url)?;
        Ok(server)
    }

    /// Refuses: this build has no PostgreSQL client to seed a server with.
    #[cfg(not(feature = "postgres"))]
    pub fn start() -> Result<TempPostgres, DbError> {
        Err(DbError::NotBuilt(crate::BuiltWithout::POSTGRES))
    }

    #[cfg(feature = "postgres")]
    fn wait_ready(&mut self, limit: Duration) -> Result<(), DbError> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(DbError::Setup(format!(
                    "postgres exited ({status}) before it was ready: {}",
                    self.log_tail()
                )));
            }
            if postgres::Client::connect(&self.url, postgres::NoTls).is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(DbError::Setup(format!(
                    "postgres did not accept connections within {limit:?}: {}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[cfg(feature = "postgres")]
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// The connection URL, e.g. `postgres://framewut@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: it ends sessions and exits.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill with a PID we started and have not yet reaped.
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes a directory unless forgotten: cleans up after a failed start.
#[cfg(feature = "postgres")]
struct DirGuard(PathBuf);

#[cfg(feature = "postgres")]
impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throwaway_servers_directory_is_orphaned_once_its_maker_is_gone() {
        // PIDs never reach a billion (the kernel's limit is 2^22).
        let dead = std::env::temp_dir().join(format!("{PG_DIR_PREFIX}999999999-0"));
        let mine = std::env::temp_dir().join(format!("{PG_DIR_PREFIX}{}-77", std::process::id()));
        for dir in [&dead, &mine] {
            fs::create_dir_all(dir).unwrap();
        }
        let orphaned = orphaned_pg_dirs();
        assert!(orphaned.contains(&dead), "{orphaned:?}");
        assert!(!orphaned.contains(&mine), "its maker runs: {orphaned:?}");
        for dir in [&dead, &mine] {
            fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn parses_db_targets() {
        assert_eq!(
            DbTarget::parse("postgres://u@h/db"),
            DbTarget::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            DbTarget::parse("sqlite:/tmp/w.db"),
            DbTarget::Sqlite("/tmp/w.db".into())
        );
        assert_eq!(DbTarget::parse("w.db"), DbTarget::Sqlite("w.db".into()));
    }

    #[test]
    fn init_sqlite_seeds_once() {
        let dir = std::env::temp_dir().join(format!("framewut-db-test-{}", std::process::id()));
        let path = dir.join("world.sqlite");
        assert_eq!(init_sqlite(&path).unwrap(), InitOutcome::Created);
        assert_eq!(init_sqlite(&path).unwrap(), InitOutcome::AlreadyThere);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let (min, max): (i64, i64) = conn
            .query_row(
                "SELECT MIN(randomNumber), MAX(randomNumber) FROM World",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert!(min >= 1 && max <= WORLD_ROWS && min < max);
        fs::remove_dir_all(&dir).unwrap();
    }
}
