//! The Python stacks as data: which app, which server, which concurrency
//! model and which variants each has. The command line that starts one is
//! made by [`PythonStack::launch`].
//!
//! ```
//! use framewut::python::{find_python_stack, SleepMode};
//!
//! let stack = find_python_stack("python/gevent/gunicorn-gevent").unwrap();
//! assert_eq!(stack.model.as_str(), "coroutines");
//! assert_eq!(stack.sleep, &[SleepMode::Cooperative]);
//! ```

pub use framewut_stacks::Model;

use super::env::{Meinheld, PythonEnv};
use super::error::PythonStackError;
use super::variants::{PythonVariants, SleepMode, UpstreamClient};

/// The Python application a stack serves (a module under `python/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// `wsgi_app`: plain WSGI, no framework.
    Wsgi,
    /// `werkzeug_app`: Werkzeug's Request and Response.
    Werkzeug,
    /// `flask_app`: a Flask route per scenario.
    Flask,
    /// `gevent_app`: the plain WSGI app after gevent's `monkey.patch_all()`.
    Gevent,
    /// `asgi_app`: raw ASGI with asyncio and httpx.
    Asgi,
}

impl App {
    /// The module's name, as servers load it (`module:app`).
    pub fn module(self) -> &'static str {
        match self {
            App::Wsgi => "wsgi_app",
            App::Werkzeug => "werkzeug_app",
            App::Flask => "flask_app",
            App::Gevent => "gevent_app",
            App::Asgi => "asgi_app",
        }
    }
}

/// The server, and for gunicorn its worker class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// gunicorn's default `sync` worker: one request at a time, and the
    /// connection closed after each response.
    GunicornSync,
    /// gunicorn's `gthread` worker: a pool of threads per worker process.
    GunicornGthread,
    /// gunicorn's `gevent` worker, which monkey-patches the process itself.
    GunicornGevent,
    /// meinheld's gunicorn worker: a picoev event loop per worker process.
    GunicornMeinheld,
    /// uvicorn on uvloop with httptools.
    Uvicorn,
    /// granian serving ASGI: Rust I/O, one asyncio (uvloop) loop per worker.
    GranianAsgi,
    /// granian serving WSGI: Rust I/O, a pool of blocking Python threads per worker.
    GranianWsgi,
    /// hypercorn serving ASGI on a uvloop loop per worker.
    HypercornAsgi,
    /// hypercorn serving WSGI: each request on the loop's default thread pool.
    HypercornWsgi,
}

impl Server {
    /// Whether `threads` sets the threads of each worker.
    pub fn uses_threads(self) -> bool {
        matches!(self, Server::GunicornGthread | Server::GranianWsgi)
    }

    /// Whether it serves HTTP/2 beside HTTP/1.1 on the same port, as the
    /// built-in stacks whose [`framewut_stacks::StackInfo::http2`] is true
    /// do: h2c with prior knowledge in cleartext, h2 by ALPN over TLS.
    pub fn serves_http2(self) -> bool {
        match self {
            // granian runs with `--http auto` (server_args): hyper-util's
            // auto builder with the same HTTP/1 settings as `--http 1`, and
            // h2 before http/1.1 in its ALPN.
            Server::GranianAsgi | Server::GranianWsgi => true,
            // hypercorn speaks HTTP/2 (through the h2 package) without any
            // option: it answers HTTP/2's preface in cleartext and offers h2
            // by ALPN over TLS.
            Server::HypercornAsgi | Server::HypercornWsgi => true,
            // gunicorn's workers and meinheld have no HTTP/2 at all, and
            // uvicorn parses only HTTP/1 (httptools or h11).
            Server::GunicornSync
            | Server::GunicornGthread
            | Server::GunicornGevent
            | Server::GunicornMeinheld
            | Server::Uvicorn => false,
        }
    }
}

/// One Python stack.
#[derive(Debug)]
pub struct PythonStack {
    /// Stable, readable id, e.g. `python/flask/gunicorn-meinheld`.
    pub id: &'static str,
    /// The application.
    pub app: App,
    /// The server that runs it.
    pub server: Server,
    /// Its concurrency model.
    pub model: Model,
    /// How `/sleep` waits; the first is the default. Only the ASGI app offers
    /// a choice: elsewhere the app and worker class decide.
    pub sleep: &'static [SleepMode],
    /// The upstream clients it can use; the first is the default.
    pub clients: &'static [UpstreamClient],
    /// One sentence on what it is and why it behaves as it does.
    pub description: &'static str,
}

const BLOCKING: &[SleepMode] = &[SleepMode::Blocking];
const COOPERATIVE: &[SleepMode] = &[SleepMode::Cooperative];
const ASYNC_SLEEPS: &[SleepMode] = &[SleepMode::Cooperative, SleepMode::Blocking];
const REQUESTS_CLIENTS: &[UpstreamClient] = &[
    UpstreamClient::Fresh,
    UpstreamClient::Session,
    UpstreamClient::Futures,
];
const HTTPX_CLIENTS: &[UpstreamClient] = &[UpstreamClient::Session, UpstreamClient::Fresh];

static STACKS: &[PythonStack] = &[
    PythonStack {
        id: "python/wsgi/gunicorn-sync",
        app: App::Wsgi,
        server: Server::GunicornSync,
        model: Model::SyncPool,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "plain WSGI on gunicorn's sync worker: one request per worker at a time, connection closed after each",
    },
    PythonStack {
        id: "python/wsgi/gunicorn-gthread",
        app: App::Wsgi,
        server: Server::GunicornGthread,
        model: Model::ThreadPerConnection,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "plain WSGI on gunicorn's gthread worker: each worker serves as many requests at once as it has threads",
    },
    PythonStack {
        id: "python/wsgi/gunicorn-meinheld",
        app: App::Wsgi,
        server: Server::GunicornMeinheld,
        model: Model::EventLoopPerWorker,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "plain WSGI on meinheld's picoev loop: fast parsing, but any blocking call holds the whole worker",
    },
    PythonStack {
        id: "python/werkzeug/gunicorn-sync",
        app: App::Werkzeug,
        server: Server::GunicornSync,
        model: Model::SyncPool,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "Werkzeug on gunicorn's sync worker",
    },
    PythonStack {
        id: "python/werkzeug/gunicorn-meinheld",
        app: App::Werkzeug,
        server: Server::GunicornMeinheld,
        model: Model::EventLoopPerWorker,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "Werkzeug on meinheld's event loop",
    },
    PythonStack {
        id: "python/flask/gunicorn-sync",
        app: App::Flask,
        server: Server::GunicornSync,
        model: Model::SyncPool,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "Flask on gunicorn's sync worker, the textbook deployment",
    },
    PythonStack {
        id: "python/flask/gunicorn-gthread",
        app: App::Flask,
        server: Server::GunicornGthread,
        model: Model::ThreadPerConnection,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "Flask on gunicorn's gthread worker: blocking calls hold one thread, not the worker",
    },
    PythonStack {
        id: "python/flask/gunicorn-gevent",
        app: App::Flask,
        server: Server::GunicornGevent,
        model: Model::Coroutines,
        sleep: COOPERATIVE,
        clients: REQUESTS_CLIENTS,
        description: "Flask on gunicorn's gevent worker, which monkey-patches the process, so sleep and requests yield",
    },
    PythonStack {
        id: "python/flask/gunicorn-meinheld",
        app: App::Flask,
        server: Server::GunicornMeinheld,
        model: Model::EventLoopPerWorker,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "Flask on meinheld's event loop (the seed's Flask row really ran Werkzeug; this one runs Flask)",
    },
    PythonStack {
        id: "python/flask/granian",
        app: App::Flask,
        server: Server::GranianWsgi,
        model: Model::ThreadPerConnection,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "Flask on granian's WSGI interface: Rust I/O, requests run on a pool of Python threads",
    },
    PythonStack {
        id: "python/gevent/gunicorn-gevent",
        app: App::Gevent,
        server: Server::GunicornGevent,
        model: Model::Coroutines,
        sleep: COOPERATIVE,
        clients: REQUESTS_CLIENTS,
        description: "the monkey-patched WSGI app on gunicorn's gevent worker: a greenlet per connection, patched sleep yields",
    },
    PythonStack {
        id: "python/gevent/gunicorn-meinheld",
        app: App::Gevent,
        server: Server::GunicornMeinheld,
        model: Model::EventLoopPerWorker,
        sleep: BLOCKING,
        clients: REQUESTS_CLIENTS,
        description: "the monkey-patched app on meinheld: the patched sleep waits in gevent's hub, which meinheld's loop never yields to, so it blocks",
    },
    PythonStack {
        id: "python/asgi/uvicorn",
        app: App::Asgi,
        server: Server::Uvicorn,
        model: Model::EventLoopPerWorker,
        sleep: ASYNC_SLEEPS,
        clients: HTTPX_CLIENTS,
        description: "raw ASGI on uvicorn (uvloop, httptools): asyncio.sleep and httpx yield to the loop",
    },
    PythonStack {
        id: "python/asgi/granian",
        app: App::Asgi,
        server: Server::GranianAsgi,
        model: Model::EventLoopPerWorker,
        sleep: ASYNC_SLEEPS,
        clients: HTTPX_CLIENTS,
        description: "raw ASGI on granian: Rust I/O under an asyncio (uvloop) loop per worker",
    },
];

/// Every Python stack, in a stable order.
pub fn python_stacks() -> &'static [PythonStack] {
    STACKS
}

/// The Python stack with this id, or an error listing the ids there are.
pub fn find_python_stack(id: &str) -> Result<&'static PythonStack, PythonStackError> {
    STACKS.iter().find(|stack| stack.id == id).ok_or_else(|| {
        let ids: Vec<&str> = STACKS.iter().map(|stack| stack.id).collect();
        PythonStackError::NoSuchStack {
            id: id.to_string(),
            ids: ids.join(", "),
        }
    })
}

impl PythonStack {
    /// The sleep mode and upstream client this stack runs with, the defaults
    /// filling in what `variants` leaves open; refuses what it cannot do.
    pub fn resolve(
        &self,
        variants: PythonVariants,
    ) -> Result<(SleepMode, UpstreamClient), PythonStackError> {
        let sleep = variants.sleep.unwrap_or(self.sleep[0]);
        if !self.sleep.contains(&sleep) {
            return Err(PythonStackError::FixedSleep {
                id: self.id,
                only: self.sleep[0],
            });
        }
        let client = variants.client.unwrap_or(self.clients[0]);
        if !self.clients.contains(&client) {
            let names: Vec<&str> = self.clients.iter().map(|client| client.as_str()).collect();
            return Err(PythonStackError::NoClient {
                id: self.id,
                client,
                clients: names.join(", "),
            });
        }
        Ok((sleep, client))
    }

    /// Whether the stack can serve HTTPS, or why not.
    pub fn serves_tls(&self) -> Result<(), PythonStackError> {
        match self.server {
            Server::GunicornMeinheld => Err(PythonStackError::NoTls { id: self.id }),
            Server::GunicornSync
            | Server::GunicornGthread
            | Server::GunicornGevent
            | Server::Uvicorn
            | Server::GranianAsgi
            | Server::GranianWsgi
            | Server::HypercornAsgi
            | Server::HypercornWsgi => Ok(()),
        }
    }

    /// Whether the stack serves HTTP/2 beside HTTP/1.1 ([`Server::serves_http2`]).
    pub fn serves_http2(&self) -> bool {
        self.server.serves_http2()
    }

    /// Whether the stack runs on meinheld, which may be missing from the environment.
    pub fn needs_meinheld(&self) -> bool {
        self.server == Server::GunicornMeinheld
    }

    /// Why this stack cannot run in `env`, if it cannot.
    pub fn unavailable(&self, env: &PythonEnv) -> Option<String> {
        match &env.meinheld {
            Meinheld::Missing(reason) if self.needs_meinheld() => Some(reason.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "stacks_tests.rs"]
mod tests;
