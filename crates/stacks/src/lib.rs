//! framewut's built-in Rust server stacks, and what they serve.
//!
//! Every stack answers the same five paths of the scenario contract
//! (`/hello`, `/sleep`, `/upstream`, `/cpu`, `/db`) through one shared set of
//! handlers ([`app`]), so frameworks differ only where they really differ:
//! their HTTP code and their concurrency model. The [`catalogue`] lists the
//! stacks with their ids, models and variants; [`start`] runs one in this
//! process on background threads. Beside them: the [`contract`] checker, the
//! [`upstream`] stand-in, and the World [`db`]. Each stack and the upstream
//! can serve HTTPS ([`ServeConfig::tls`]), and the upstream clients call an
//! `https://` upstream, with framewut's own test CA ([`tls`]). The hyper,
//! axum and actix stacks also serve HTTP/2 on the same port
//! ([`StackInfo::http2`]): h2c with prior knowledge, and h2 by ALPN over TLS.
//!
//! ```no_run
//! use framewut_stacks::{catalogue, contract, start, Scenario, ServeConfig};
//!
//! let stack = catalogue::find("rust/axum/tokio-multi").unwrap();
//! let mut config = ServeConfig::new(stack);
//! config.variants = stack.resolve(&"sleep=offload".parse().unwrap(), &config.db).unwrap();
//! let running = start(config).unwrap();
//! contract::check(running.local_addr().port(), Scenario::Sleep).unwrap();
//! let h2 = contract::check_http2(running.local_addr(), None).unwrap();
//! assert_eq!(h2.max_concurrent_streams, Some(framewut_stacks::HTTP2_MAX_CONCURRENT_STREAMS));
//! ```

pub mod app;
pub mod catalogue;
mod client;
pub mod contract;
mod date;
pub mod db;
mod http1;
mod scenario;
mod stack;
pub mod tls;
pub mod upstream;
pub mod variant;
mod world;

use std::ffi::OsString;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use catalogue::{stacks, Model, StackError, StackInfo};
pub use client::UpstreamError;
pub use scenario::{Scenario, UnknownScenario};
pub use world::WorldError;

use catalogue::Engine;
use db::DbTarget;
use variant::{VariantRequest, Variants};

/// `/sleep`'s wait when none is given.
pub const DEFAULT_SLEEP: Duration = Duration::from_millis(100);

/// `/cpu`'s n when none is given: about 590 KB of JSON.
pub const DEFAULT_CPU_N: u32 = 100_000;

/// The SETTINGS_MAX_CONCURRENT_STREAMS the hyper and axum stacks advertise
/// over HTTP/2: how many requests a client may have in flight on one
/// connection (more wait for a stream to end). It is hyper's own default,
/// stated here so that both stacks advertise the same and a new hyper cannot
/// change it unnoticed. actix-web advertises no limit (it has no such
/// setting); the other stacks speak only HTTP/1.1.
pub const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 200;

/// framewut's data directory, where its SQLite World file and Python
/// environment live: `$FRAMEWUT_DATA_DIR`, else `$XDG_DATA_HOME/framewut`,
/// else `~/.local/share/framewut` (an empty variable counts as unset).
pub fn data_dir() -> PathBuf {
    data_dir_from(|name| std::env::var_os(name))
}

/// [`data_dir`] with the environment read through `var`.
fn data_dir_from(var: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let var = |name| var(name).filter(|value| !value.is_empty());
    if let Some(dir) = var("FRAMEWUT_DATA_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("framewut");
    }
    let home = var("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local").join("share").join("framewut")
}

/// Everything a stack needs to start, every choice made.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The stack to run.
    pub stack: &'static StackInfo,
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Worker threads or event loops (see [`StackInfo::resolve_workers`]).
    pub workers: usize,
    /// The variants, resolved by [`StackInfo::resolve`].
    pub variants: Variants,
    /// `/sleep`'s wait.
    pub sleep: Duration,
    /// `/cpu`'s n.
    pub cpu_n: u32,
    /// The URL `/upstream` fetches, if any.
    pub upstream: Option<String>,
    /// Where `/db` reads.
    pub db: DbTarget,
    /// Close the connection after every response (`Connection: close`).
    pub close: bool,
    // HTTPS (issue 12).
    /// Serve HTTPS with this configuration (stacks whose [`StackInfo::tls`] is true).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The CA file (PEM) an `https://` upstream is trusted through
    /// [default: framewut's test CA, `tls::TestCa::default_dir()`].
    pub upstream_ca: Option<PathBuf>,
}

impl ServeConfig {
    /// The stack's defaults: 127.0.0.1 on a free port, its default workers and
    /// variants, the contract's sleep and n, no upstream, the default SQLite file.
    pub fn new(stack: &'static StackInfo) -> ServeConfig {
        let db = DbTarget::Sqlite(db::default_sqlite_path());
        ServeConfig {
            stack,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            workers: stack.resolve_workers(None).unwrap_or(1),
            variants: stack
                .resolve(&VariantRequest::default(), &db)
                .expect("a stack's defaults are supported"),
            sleep: DEFAULT_SLEEP,
            cpu_n: DEFAULT_CPU_N,
            upstream: None,
            db,
            close: false,
            tls: None,
            upstream_ca: None,
        }
    }
}

/// Why a stack did not start.
///
/// The database and upstream variants show the inner error's whole message,
/// which already names the driver's error, and leave it out of
/// [`source`](std::error::Error::source) so that an `Error: {:#}` line does
/// not print that message twice; match the variant to reach the inner error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--close` asked of a stack that keeps connections open.
    #[error("{stack} does not support --close; only the rust/std stacks do")]
    NoClose {
        /// The stack's id.
        stack: &'static str,
    },
    /// `--tls` asked of a stack that cannot serve HTTPS.
    #[error("{stack} cannot serve TLS; `framewut list stacks` marks the stacks that can")]
    NoTls {
        /// The stack's id.
        stack: &'static str,
    },
    /// The default SQLite file could not be made.
    #[error("{0}")]
    Database(db::DbError),
    /// The database does not answer a query.
    #[error("{0}")]
    World(WorldError),
    /// The upstream URL is unusable.
    #[error("{0}")]
    Upstream(UpstreamError),
    /// Binding or starting threads failed.
    #[error("cannot start the server: {0}")]
    Io(#[from] io::Error),
}

/// A stack serving on background threads until the process ends.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
}

impl Running {
    /// The address it listens on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Starts a stack: raises the open-file limit to its hard limit, builds the
/// shared app (connecting its upstream client and database), binds, and
/// serves on background threads. Call it outside any
/// async runtime. When it returns, the port accepts connections.
pub fn start(config: ServeConfig) -> Result<Running, ServeError> {
    if config.close && !config.stack.close {
        return Err(ServeError::NoClose {
            stack: config.stack.id,
        });
    }
    if config.tls.is_some() && !config.stack.tls {
        return Err(ServeError::NoTls {
            stack: config.stack.id,
        });
    }
    if let DbTarget::Sqlite(path) = &config.db {
        if *path == db::default_sqlite_path() {
            db::init_sqlite(path).map_err(ServeError::Database)?;
        }
    }
    framewut_sys::raise_open_file_limit();
    let app = Arc::new(app::App::new(&config)?);
    let (at, workers, close) = (config.addr, config.workers, config.close);
    let (tls, http2) = (config.tls, config.stack.http2);
    // The tokio stacks take tokio-rustls' acceptor; the rest take the
    // configuration. A stack that serves HTTP/2 gets a copy that offers h2
    // by ALPN before http/1.1; actix adds h2 to its configuration's ALPN
    // itself.
    let acceptor = tls.as_ref().map(|server| {
        tokio_rustls::TlsAcceptor::from(if http2 {
            crate::tls::offering_h2(server)
        } else {
            Arc::clone(server)
        })
    });
    let addr = match config.stack.engine {
        Engine::StdSyncPool => stack::on_one(at, |listener| {
            stack::std_threads::sync_pool(listener, app, workers, close, tls)
        }),
        Engine::StdThreadPerConn => stack::on_one(at, |listener| {
            stack::std_threads::thread_per_conn(listener, app, close, tls)
        }),
        Engine::HyperCurrent => stack::on_one(at, |listener| {
            stack::hyper::current(listener, app, acceptor)
        }),
        Engine::HyperMulti => stack::on_one(at, |listener| {
            stack::hyper::multi(listener, app, workers, acceptor)
        }),
        #[cfg(feature = "axum")]
        Engine::AxumMulti => stack::on_one(at, |listener| {
            stack::axum::multi(listener, app, workers, acceptor)
        }),
        #[cfg(feature = "axum")]
        Engine::AxumPerCore => stack::on_many(at, workers, |listeners| {
            stack::axum::per_core(listeners, app, acceptor)
        }),
        #[cfg(feature = "actix")]
        Engine::ActixWorkers => stack::on_one(at, |listener| {
            stack::actix::workers(listener, app, workers, tls)
        }),
        Engine::FastPerCore => stack::on_many(at, workers, |listeners| {
            stack::fast::per_core(listeners, app, acceptor)
        }),
        #[cfg(feature = "may")]
        Engine::MayCoroutines => stack::on_one(at, |listener| {
            stack::coroutines::start(listener, app, workers, close, tls)
        }),
    }?;
    Ok(Running { addr })
}

/// The refusal of something this build left out: what it is, the Cargo
/// feature that brings it, and (in the message) the command that builds it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this build of framewut has no {what}: it was built without the `{feature}` feature; \
     build it in with `cargo build --release --features {feature}`"
)]
pub struct BuiltWithout {
    /// A stack id, or `PostgreSQL`.
    pub what: &'static str,
    /// The Cargo feature that brings it.
    pub feature: &'static str,
}

impl BuiltWithout {
    /// PostgreSQL: `postgres://` databases and `db=async`.
    pub const POSTGRES: BuiltWithout = BuiltWithout {
        what: "PostgreSQL",
        feature: "postgres",
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir_with(vars: &[(&str, &str)]) -> PathBuf {
        data_dir_from(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        })
    }

    #[test]
    fn the_data_dir_follows_framewut_then_xdg_then_home() {
        let home = ("HOME", "/home/ann");
        let xdg = ("XDG_DATA_HOME", "/xdg");
        let own = ("FRAMEWUT_DATA_DIR", "/srv/fw");
        assert_eq!(data_dir_with(&[home, xdg, own]), PathBuf::from("/srv/fw"));
        assert_eq!(data_dir_with(&[home, xdg]), PathBuf::from("/xdg/framewut"));
        assert_eq!(
            data_dir_with(&[home, ("XDG_DATA_HOME", ""), ("FRAMEWUT_DATA_DIR", "")]),
            PathBuf::from("/home/ann/.local/share/framewut"),
            "empty variables count as unset"
        );
    }
}
