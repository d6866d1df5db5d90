//! Starting a Python stack: its process-level options, and the command line,
//! environment and working directory ([`Launch`]) that serve it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::env::PythonEnv;
use super::error::PythonStackError;
use super::stacks::{App, PythonStack, Server};
use super::variants::{PythonVariants, SleepMode, UpstreamClient};

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
    /// The command line and environment that serve this stack on
    /// `127.0.0.1:port` with `workers` worker processes.
    pub fn launch(
        &self,
        env: &PythonEnv,
        port: u16,
        workers: u32,
        options: &PythonOptions,
    ) -> Result<Launch, PythonStackError> {
        if let Some(reason) = self.unavailable(env) {
            return Err(PythonStackError::Unavailable {
                id: self.id,
                reason,
            });
        }
        if workers == 0 || options.threads == 0 {
            return Err(PythonStackError::NoWorkers { id: self.id });
        }
        let (sleep_mode, client) = self.resolve(PythonVariants {
            sleep: options.sleep_mode,
            client: options.client,
        })?;
        let target = format!("{}:app", self.app.module());
        let mut args = server_args(self.server, &target, port, workers, options.threads);
        if let Some(tls) = &options.tls {
            self.serves_tls()?;
            // The options go before the app, which stays the last argument.
            let app = args.pop().expect("server_args ends with the app");
            args.extend(tls_args(self.server, tls));
            args.push(app);
        }
        Ok(self.finish(env, args, client, sleep_mode, options))
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

/// The interpreter's arguments that serve `target` (`module:attribute`)
/// on `127.0.0.1:port`: `-m SERVER` and the server's own flags, the app last.
pub(super) fn server_args(
    server: Server,
    target: &str,
    port: u16,
    workers: u32,
    threads: u32,
) -> Vec<String> {
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
        if server.uses_threads() {
            args.extend(["--threads", &threads]);
        }
        args.extend(["--log-level", "warning"]);
        args
    };
    // `--http auto` serves HTTP/1.1 and HTTP/2 on the one port (h2c by its
    // preface, h2 by ALPN over TLS), with the same HTTP/1 settings as `1`.
    let granian = |interface| {
        let mut args = vec![
            "-m",
            "granian",
            "--interface",
            interface,
            "--http",
            "auto",
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
        if server.uses_threads() {
            args.extend(["--blocking-threads", &threads]);
        }
        args
    };
    // hypercorn tells a WSGI app from an ASGI one by a prefix on its path.
    let hypercorn_target = match server {
        Server::HypercornAsgi => format!("asgi:{target}"),
        Server::HypercornWsgi => format!("wsgi:{target}"),
        _ => String::new(),
    };
    let hypercorn = || {
        vec![
            "-m",
            "hypercorn",
            "--bind",
            &bind,
            "--workers",
            &workers,
            "--worker-class",
            "uvloop",
            "--log-level",
            "warning",
        ]
    };
    let mut args = match server {
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
        Server::HypercornAsgi | Server::HypercornWsgi => hypercorn(),
    };
    let target = match server {
        Server::HypercornAsgi | Server::HypercornWsgi => hypercorn_target.as_str(),
        _ => target,
    };
    args.push(target);
    args.into_iter().map(str::to_string).collect()
}

/// The server's own options for serving HTTPS with `tls`.
pub(super) fn tls_args(server: Server, tls: &ServerCert) -> Vec<String> {
    let (cert, key) = (
        tls.cert.display().to_string(),
        tls.key.display().to_string(),
    );
    let (cert_flag, key_flag) = match server {
        Server::GunicornSync
        | Server::GunicornGthread
        | Server::GunicornGevent
        | Server::GunicornMeinheld
        | Server::HypercornAsgi
        | Server::HypercornWsgi => ("--certfile", "--keyfile"),
        Server::Uvicorn => ("--ssl-certfile", "--ssl-keyfile"),
        Server::GranianAsgi | Server::GranianWsgi => ("--ssl-certificate", "--ssl-keyfile"),
    };
    vec![cert_flag.into(), cert, key_flag.into(), key]
}
