//! The Python stacks as data: which app, which server, which concurrency
//! model, which variants, and the command line that starts each.
//!
//! ```
//! use framewut::python::{find_python_stack, SleepMode};
//!
//! let stack = find_python_stack("python/gevent/gunicorn-gevent").unwrap();
//! assert_eq!(stack.model.as_str(), "coroutines");
//! assert_eq!(stack.sleep, &[SleepMode::Cooperative]);
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub use framewut_stacks::Model;

use super::env::{Meinheld, PythonEnv};
pub use super::variants::{PythonVariants, SleepMode, UpstreamClient};

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
}

impl Server {
    /// Whether `threads` sets the threads of each worker.
    pub fn uses_threads(self) -> bool {
        matches!(self, Server::GunicornGthread | Server::GranianWsgi)
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

/// The Python stack with this id, or a message listing the ids there are.
pub fn find_python_stack(id: &str) -> Result<&'static PythonStack, String> {
    STACKS.iter().find(|stack| stack.id == id).ok_or_else(|| {
        let ids: Vec<&str> = STACKS.iter().map(|stack| stack.id).collect();
        format!("no Python stack {id:?}; there are: {}", ids.join(", "))
    })
}

/// A stack's process-level options, passed as `FRAMEWUT_*` environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonOptions {
    /// How long `/sleep` waits.
    pub sleep: Duration,
    /// How `/sleep` waits; `None` is the stack's default.
    pub sleep_mode: Option<SleepMode>,
    /// The URL `/upstream` fetches.
    pub upstream_url: Option<String>,
    /// The upstream client; `None` is the stack's default.
    pub client: Option<UpstreamClient>,
    /// `/cpu` returns `0..cpu_n`.
    pub cpu_n: u64,
    /// A SQLite file path or a `postgres://` URL, for `/db`.
    pub db: Option<String>,
    /// Threads per worker, for servers that use them (gthread, granian WSGI).
    pub threads: u32,
    // HTTPS on both sides of the stack.
    /// Serve HTTPS with this certificate and key (PEM; the key PKCS#8).
    pub tls: Option<ServerCert>,
    /// The CA file the `/upstream` client trusts, for an https:// upstream.
    pub upstream_ca: Option<PathBuf>,
}

/// A server certificate and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for PythonOptions {
    /// The contract's defaults: 100 ms sleep, n = 100000, 10 threads per worker.
    fn default() -> PythonOptions {
        PythonOptions {
            sleep: Duration::from_millis(100),
            sleep_mode: None,
            upstream_url: None,
            client: None,
            cpu_n: 100_000,
            db: None,
            threads: 10,
            tls: None,
            upstream_ca: None,
        }
    }
}

/// Everything needed to start a stack: a program, its arguments, environment
/// and working directory. [`Launch::command`] turns it into a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The virtual environment's interpreter.
    pub program: PathBuf,
    /// `-m SERVER ...`.
    pub args: Vec<String>,
    /// Added to the inherited environment.
    pub env: Vec<(String, String)>,
    /// The apps' directory.
    pub cwd: PathBuf,
}

impl Launch {
    /// A [`Command`] that starts the stack; the caller adds stdio and process-group settings.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd);
        command
    }

    /// The command line as one shell-like string, for logs and reports.
    pub fn display(&self) -> String {
        let env = self.env.iter().map(|(key, value)| format!("{key}={value}"));
        let argv =
            std::iter::once(self.program.display().to_string()).chain(self.args.iter().cloned());
        env.chain(argv).collect::<Vec<_>>().join(" ")
    }
}

impl PythonStack {
    /// The sleep mode and upstream client this stack runs with, the defaults
    /// filling in what `variants` leaves open; refuses what it cannot do.
    pub fn resolve(&self, variants: PythonVariants) -> Result<(SleepMode, UpstreamClient), String> {
        let sleep = variants.sleep.unwrap_or(self.sleep[0]);
        if !self.sleep.contains(&sleep) {
            return Err(format!(
                "{} sleeps {} only; its app and worker class decide, not an option",
                self.id, self.sleep[0]
            ));
        }
        let client = variants.client.unwrap_or(self.clients[0]);
        if !self.clients.contains(&client) {
            let names: Vec<&str> = self.clients.iter().map(|client| client.as_str()).collect();
            return Err(format!(
                "{} has no {client} upstream client; it has {}",
                self.id,
                names.join(", ")
            ));
        }
        Ok((sleep, client))
    }

    /// Whether the stack can serve HTTPS, or why not.
    pub fn serves_tls(&self) -> Result<(), String> {
        match self.server {
            Server::GunicornMeinheld => Err(format!(
                "{} cannot serve HTTPS: meinheld's worker reads the socket itself and ignores gunicorn's --certfile; the gunicorn sync, gthread and gevent workers, uvicorn and granian can",
                self.id
            )),
            Server::GunicornSync
            | Server::GunicornGthread
            | Server::GunicornGevent
            | Server::Uvicorn
            | Server::GranianAsgi
            | Server::GranianWsgi => Ok(()),
        }
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

    /// The command line and environment that serve this stack on
    /// `127.0.0.1:port` with `workers` worker processes.
    pub fn launch(
        &self,
        env: &PythonEnv,
        port: u16,
        workers: u32,
        options: &PythonOptions,
    ) -> Result<Launch, String> {
        if let Some(reason) = self.unavailable(env) {
            return Err(format!("{} cannot run: {reason}", self.id));
        }
        if workers == 0 || options.threads == 0 {
            return Err(format!(
                "{} needs at least one worker and one thread",
                self.id
            ));
        }
        let (sleep_mode, client) = self.resolve(PythonVariants {
            sleep: options.sleep_mode,
            client: options.client,
        })?;
        let mut args = self.server_args(port, workers, options.threads);
        if let Some(tls) = &options.tls {
            self.serves_tls()?;
            // The options go before the app, which stays the last argument.
            let app = args.pop().expect("server_args ends with the app");
            args.extend(self.tls_args(tls));
            args.push(app);
        }
        Ok(self.finish(env, args, client, sleep_mode, options))
    }

    /// The interpreter's arguments: `-m SERVER` and the server's own flags.
    fn server_args(&self, port: u16, workers: u32, threads: u32) -> Vec<String> {
        let target = format!("{}:app", self.app.module());
        let (port, workers, threads) = (port.to_string(), workers.to_string(), threads.to_string());
        let bind = format!("127.0.0.1:{port}");
        let gunicorn = |class| {
            let mut args = vec![
                "-m",
                "gunicorn",
                "--bind",
                &bind,
                "--workers",
                &workers,
                "--worker-class",
                class,
            ];
            if self.server.uses_threads() {
                args.extend(["--threads", &threads]);
            }
            args.extend(["--log-level", "warning"]);
            args
        };
        let granian = |interface| {
            let mut args = vec![
                "-m",
                "granian",
                "--interface",
                interface,
                "--http",
                "1",
                "--no-ws",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--workers",
                &workers,
                "--loop",
                "uvloop",
                "--no-access-log",
                "--log-level",
                "warning",
            ];
            if self.server.uses_threads() {
                args.extend(["--blocking-threads", &threads]);
            }
            args
        };
        let mut args = match self.server {
            Server::GunicornSync => gunicorn("sync"),
            Server::GunicornGthread => gunicorn("gthread"),
            Server::GunicornGevent => gunicorn("gevent"),
            Server::GunicornMeinheld => gunicorn("meinheld.gmeinheld.MeinheldWorker"),
            Server::Uvicorn => vec![
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--workers",
                &workers,
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            Server::GranianAsgi => granian("asgi"),
            Server::GranianWsgi => granian("wsgi"),
        };
        args.push(&target);
        args.into_iter().map(str::to_string).collect()
    }

    /// The server's own options for serving HTTPS with `tls`.
    fn tls_args(&self, tls: &ServerCert) -> Vec<String> {
        let (cert, key) = (
            tls.cert.display().to_string(),
            tls.key.display().to_string(),
        );
        let (cert_flag, key_flag) = match self.server {
            Server::GunicornSync
            | Server::GunicornGthread
            | Server::GunicornGevent
            | Server::GunicornMeinheld => ("--certfile", "--keyfile"),
            Server::Uvicorn => ("--ssl-certfile", "--ssl-keyfile"),
            Server::GranianAsgi | Server::GranianWsgi => ("--ssl-certificate", "--ssl-keyfile"),
        };
        vec![cert_flag.into(), cert, key_flag.into(), key]
    }

    fn finish(
        &self,
        env: &PythonEnv,
        args: Vec<String>,
        client: UpstreamClient,
        sleep_mode: SleepMode,
        options: &PythonOptions,
    ) -> Launch {
        let mut vars = vec![
            ("PYTHONPATH", env.apps.display().to_string()),
            ("PYTHONUNBUFFERED", "1".to_string()),
            ("FRAMEWUT_SLEEP_MS", options.sleep.as_millis().to_string()),
            ("FRAMEWUT_CLIENT", client.as_str().to_string()),
            ("FRAMEWUT_CPU_N", options.cpu_n.to_string()),
        ];
        if self.app == App::Asgi {
            vars.push(("FRAMEWUT_SLEEP", sleep_mode.as_str().to_string()));
        }
        if let Some(url) = &options.upstream_url {
            vars.push(("FRAMEWUT_UPSTREAM_URL", url.clone()));
        }
        if let Some(db) = &options.db {
            vars.push(("FRAMEWUT_DB", db.clone()));
        }
        if let Some(ca) = &options.upstream_ca {
            // requests (fresh, Session and requests-futures alike) trusts
            // REQUESTS_CA_BUNDLE, httpx trusts SSL_CERT_FILE: the test CA
            // and nothing else, as the Rust clients' --upstream-ca.
            let ca = ca.display().to_string();
            vars.push(("REQUESTS_CA_BUNDLE", ca.clone()));
            vars.push(("SSL_CERT_FILE", ca));
        }
        Launch {
            program: env.python(),
            args,
            env: vars
                .into_iter()
                .map(|(key, value)| (key.to_string(), value))
                .collect(),
            cwd: env.apps.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(meinheld: Meinheld) -> PythonEnv {
        PythonEnv {
            venv: PathBuf::from("/data/venv"),
            apps: PathBuf::from("/data/python"),
            python_version: "3.11.7".into(),
            meinheld,
            installed_now: false,
        }
    }

    #[test]
    fn ids_are_unique_and_name_app_and_server() {
        for (i, stack) in STACKS.iter().enumerate() {
            assert!(
                STACKS[..i].iter().all(|other| other.id != stack.id),
                "{} twice",
                stack.id
            );
            let parts: Vec<&str> = stack.id.split('/').collect();
            assert_eq!(parts.len(), 3, "{}", stack.id);
            assert_eq!(parts[0], "python");
            assert_eq!(
                format!("{}_app", parts[1]),
                stack.app.module(),
                "{}",
                stack.id
            );
            assert!(
                !stack.sleep.is_empty() && !stack.clients.is_empty(),
                "{}",
                stack.id
            );
        }
    }

    #[test]
    fn every_seed_row_has_a_stack() {
        for id in [
            "python/wsgi/gunicorn-sync",
            "python/wsgi/gunicorn-meinheld",
            "python/werkzeug/gunicorn-meinheld",
            "python/flask/gunicorn-meinheld",
            "python/gevent/gunicorn-gevent",
            "python/gevent/gunicorn-meinheld",
        ] {
            assert!(find_python_stack(id).is_ok(), "{id}");
        }
        assert!(find_python_stack("python/wsgi/nope")
            .unwrap_err()
            .contains("python/asgi/uvicorn"));
    }

    #[test]
    fn gunicorn_binds_loopback_with_its_worker_class() {
        let stack = find_python_stack("python/flask/gunicorn-gthread").unwrap();
        let options = PythonOptions {
            upstream_url: Some("http://127.0.0.1:9/".into()),
            client: Some(UpstreamClient::Futures),
            threads: 4,
            ..PythonOptions::default()
        };
        let launch = stack
            .launch(&env(Meinheld::Installed), 5000, 10, &options)
            .unwrap();
        assert_eq!(launch.program, PathBuf::from("/data/venv/bin/python"));
        assert_eq!(
            launch.args.join(" "),
            "-m gunicorn --bind 127.0.0.1:5000 --workers 10 --worker-class gthread --threads 4 \
             --log-level warning flask_app:app"
        );
        let var = |key: &str| {
            launch
                .env
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(var("FRAMEWUT_CLIENT"), Some("futures"));
        assert_eq!(var("FRAMEWUT_SLEEP_MS"), Some("100"));
        assert_eq!(var("FRAMEWUT_UPSTREAM_URL"), Some("http://127.0.0.1:9/"));
        assert_eq!(var("FRAMEWUT_DB"), None);
        assert_eq!(var("PYTHONPATH"), Some("/data/python"));
    }

    #[test]
    fn asgi_servers_take_a_sleep_mode_and_bind_loopback() {
        let options = PythonOptions {
            sleep_mode: Some(SleepMode::Blocking),
            ..PythonOptions::default()
        };
        for id in ["python/asgi/uvicorn", "python/asgi/granian"] {
            let stack = find_python_stack(id).unwrap();
            let launch = stack
                .launch(&env(Meinheld::Installed), 8001, 2, &options)
                .unwrap();
            let line = launch.display();
            assert!(line.contains("FRAMEWUT_SLEEP=blocking"), "{line}");
            assert!(
                line.contains("--host 127.0.0.1 --port 8001 --workers 2"),
                "{line}"
            );
            assert!(line.ends_with("asgi_app:app"), "{line}");
        }
    }

    #[test]
    fn refuses_what_a_stack_cannot_do() {
        let installed = env(Meinheld::Installed);
        let cooperative = PythonOptions {
            sleep_mode: Some(SleepMode::Cooperative),
            ..PythonOptions::default()
        };
        let futures = PythonOptions {
            client: Some(UpstreamClient::Futures),
            ..PythonOptions::default()
        };
        for (id, options, why) in [
            (
                "python/wsgi/gunicorn-sync",
                cooperative,
                "sleeps blocking only",
            ),
            ("python/asgi/uvicorn", futures, "session, fresh"),
        ] {
            let err = find_python_stack(id)
                .unwrap()
                .launch(&installed, 5000, 1, &options)
                .unwrap_err();
            assert!(err.contains(why), "{id}: {err}");
        }
        let sync = find_python_stack("python/wsgi/gunicorn-sync").unwrap();
        assert!(sync
            .launch(&installed, 5000, 0, &PythonOptions::default())
            .is_err());
    }

    #[test]
    fn meinheld_stacks_say_why_when_meinheld_is_missing() {
        let missing = env(Meinheld::Missing("no compiler".into()));
        let meinheld = find_python_stack("python/wsgi/gunicorn-meinheld").unwrap();
        let err = meinheld
            .launch(&missing, 5000, 1, &PythonOptions::default())
            .unwrap_err();
        assert!(err.contains("no compiler"), "{err}");
        let sync = find_python_stack("python/wsgi/gunicorn-sync").unwrap();
        assert!(sync
            .launch(&missing, 5000, 1, &PythonOptions::default())
            .is_ok());
    }

    #[test]
    fn modes_parse_from_their_names() {
        assert_eq!(
            "futures".parse::<UpstreamClient>(),
            Ok(UpstreamClient::Futures)
        );
        assert!("pooled"
            .parse::<UpstreamClient>()
            .unwrap_err()
            .contains("fresh, session, futures"));
        assert_eq!(
            "cooperative".parse::<SleepMode>(),
            Ok(SleepMode::Cooperative)
        );
        assert!(UpstreamClient::Session.pooled() && !UpstreamClient::Fresh.pooled());
    }

    #[test]
    fn servers_that_can_serve_https_get_their_own_options_and_clients_the_ca() {
        let options = PythonOptions {
            tls: Some(ServerCert {
                cert: PathBuf::from("/ca/cert.pem"),
                key: PathBuf::from("/ca/key.pem"),
            }),
            upstream_ca: Some(PathBuf::from("/ca/ca.pem")),
            ..PythonOptions::default()
        };
        for (id, flags) in [
            (
                "python/wsgi/gunicorn-sync",
                "--certfile /ca/cert.pem --keyfile /ca/key.pem",
            ),
            (
                "python/gevent/gunicorn-gevent",
                "--certfile /ca/cert.pem --keyfile /ca/key.pem",
            ),
            (
                "python/asgi/uvicorn",
                "--ssl-certfile /ca/cert.pem --ssl-keyfile /ca/key.pem",
            ),
            (
                "python/asgi/granian",
                "--ssl-certificate /ca/cert.pem --ssl-keyfile /ca/key.pem",
            ),
        ] {
            let stack = find_python_stack(id).unwrap();
            let launch = stack
                .launch(&env(Meinheld::Installed), 8443, 2, &options)
                .unwrap();
            let line = launch.display();
            assert!(line.contains(flags), "{id}: {line}");
            assert!(
                line.ends_with(&format!("{}:app", stack.app.module())),
                "{id}: the app stays last: {line}"
            );
            for var in ["REQUESTS_CA_BUNDLE=/ca/ca.pem", "SSL_CERT_FILE=/ca/ca.pem"] {
                assert!(line.contains(var), "{id}: {line}");
            }
        }
        let meinheld = find_python_stack("python/wsgi/gunicorn-meinheld").unwrap();
        let why = meinheld
            .launch(&env(Meinheld::Installed), 8443, 2, &options)
            .unwrap_err();
        assert!(why.contains("cannot serve HTTPS"), "{why}");
        let plain = find_python_stack("python/wsgi/gunicorn-sync")
            .unwrap()
            .launch(
                &env(Meinheld::Installed),
                8000,
                2,
                &PythonOptions::default(),
            )
            .unwrap()
            .display();
        assert!(
            !plain.contains("certfile") && !plain.contains("CA_BUNDLE"),
            "{plain}"
        );
    }
}
