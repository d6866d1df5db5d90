//! A user's own Python app run under the servers framewut knows: which
//! server and worker class can run which kind of app, the concurrency
//! model each gives it, and the command line that starts it.
//!
//! ```
//! use framewut::python::{AppServer, Interface};
//!
//! assert!(AppServer::GunicornGevent.check(Interface::Wsgi, false).is_ok());
//! let refused = AppServer::GunicornSync.check(Interface::Asgi, false).unwrap_err();
//! assert!(refused.to_string().contains("ASGI app under a WSGI worker"));
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use framewut_stacks::Model;
use serde::{Deserialize, Serialize};

use super::launch::{server_args, tls_args, Launch, ServerCert};
use super::stacks::Server;

/// Which calling convention the app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// PEP 3333: `app(environ, start_response)`, a blocking call per request.
    Wsgi,
    /// `async def app(scope, receive, send)`, run on an event loop.
    Asgi,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Wsgi => "wsgi",
            Interface::Asgi => "asgi",
        }
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interface {
    type Err = AppStackError;
    fn from_str(s: &str) -> Result<Interface, AppStackError> {
        match s {
            "wsgi" => Ok(Interface::Wsgi),
            "asgi" => Ok(Interface::Asgi),
            other => Err(AppStackError::UnknownInterface(other.to_string())),
        }
    }
}

/// A server, and for gunicorn its worker class, as a matrix names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppServer {
    GunicornSync,
    GunicornGthread,
    GunicornGevent,
    GunicornMeinheld,
    Uvicorn,
    Granian,
    Hypercorn,
}

impl AppServer {
    pub const ALL: [AppServer; 7] = [
        AppServer::GunicornSync,
        AppServer::GunicornGthread,
        AppServer::GunicornGevent,
        AppServer::GunicornMeinheld,
        AppServer::Granian,
        AppServer::Hypercorn,
        AppServer::Uvicorn,
    ];

    /// The name in matrices and cell ids: `gunicorn-gevent`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppServer::GunicornSync => "gunicorn-sync",
            AppServer::GunicornGthread => "gunicorn-gthread",
            AppServer::GunicornGevent => "gunicorn-gevent",
            AppServer::GunicornMeinheld => "gunicorn-meinheld",
            AppServer::Uvicorn => "uvicorn",
            AppServer::Granian => "granian",
            AppServer::Hypercorn => "hypercorn",
        }
    }

    /// The Python module it needs, as the app's environment reports what
    /// did not import.
    pub fn module(self) -> &'static str {
        match self {
            AppServer::GunicornSync | AppServer::GunicornGthread => "gunicorn",
            AppServer::GunicornGevent => "gevent",
            AppServer::GunicornMeinheld => "meinheld",
            AppServer::Uvicorn => "uvicorn",
            AppServer::Granian => "granian",
            AppServer::Hypercorn => "hypercorn",
        }
    }

    /// The server process framewut starts for an app of this interface.
    fn server(self, interface: Interface) -> Server {
        match (self, interface) {
            (AppServer::GunicornSync, _) => Server::GunicornSync,
            (AppServer::GunicornGthread, _) => Server::GunicornGthread,
            (AppServer::GunicornGevent, _) => Server::GunicornGevent,
            (AppServer::GunicornMeinheld, _) => Server::GunicornMeinheld,
            (AppServer::Uvicorn, _) => Server::Uvicorn,
            (AppServer::Granian, Interface::Wsgi) => Server::GranianWsgi,
            (AppServer::Granian, Interface::Asgi) => Server::GranianAsgi,
            (AppServer::Hypercorn, Interface::Wsgi) => Server::HypercornWsgi,
            (AppServer::Hypercorn, Interface::Asgi) => Server::HypercornAsgi,
        }
    }

    /// Whether a matrix's `threads` sets its threads per worker.
    pub fn uses_threads(self, interface: Interface) -> bool {
        self.server(interface).uses_threads()
    }

    /// Whether it can run an app of this interface, patched or not, or why not.
    pub fn check(self, interface: Interface, patched: bool) -> Result<(), AppStackError> {
        let wsgi_worker = matches!(
            self,
            AppServer::GunicornSync
                | AppServer::GunicornGthread
                | AppServer::GunicornGevent
                | AppServer::GunicornMeinheld
        );
        if wsgi_worker && interface == Interface::Asgi {
            return Err(AppStackError::AsgiUnderWsgi { server: self });
        }
        if self == AppServer::Uvicorn && interface == Interface::Wsgi {
            return Err(AppStackError::WsgiUnderUvicorn);
        }
        if patched && interface == Interface::Asgi {
            return Err(AppStackError::PatchedAsgi { server: self });
        }
        if patched && matches!(self, AppServer::Granian | AppServer::Hypercorn) {
            return Err(AppStackError::PatchedUnderRust { server: self });
        }
        Ok(())
    }

    /// The concurrency model it gives an app of this interface.
    pub fn model(self, interface: Interface) -> Model {
        match self.server(interface) {
            Server::GunicornSync => Model::SyncPool,
            Server::GunicornGthread | Server::GranianWsgi | Server::HypercornWsgi => {
                Model::ThreadPerConnection
            }
            Server::GunicornGevent => Model::Coroutines,
            Server::GunicornMeinheld
            | Server::Uvicorn
            | Server::GranianAsgi
            | Server::HypercornAsgi => Model::EventLoopPerWorker,
        }
    }

    /// Whether gevent patches the app's blocking calls under this server:
    /// gevent's worker always does, others when the app asks (`patched`).
    pub fn patches(self, patched: bool) -> bool {
        self == AppServer::GunicornGevent || patched
    }

    /// Whether it can serve HTTPS: meinheld's worker cannot.
    pub fn serves_tls(self) -> bool {
        self != AppServer::GunicornMeinheld
    }
}

impl fmt::Display for AppServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AppServer {
    type Err = AppStackError;
    fn from_str(s: &str) -> Result<AppServer, AppStackError> {
        AppServer::ALL
            .into_iter()
            .find(|server| server.as_str() == s)
            .ok_or_else(|| AppStackError::UnknownServer(s.to_string()))
    }
}

/// Why an app cannot run under a server as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppStackError {
    #[error("unknown interface {0:?}: an app is \"wsgi\" or \"asgi\"")]
    UnknownInterface(String),
    #[error("unknown server {0:?}: expected one of gunicorn-sync, gunicorn-gthread, gunicorn-gevent, gunicorn-meinheld, granian, hypercorn, uvicorn")]
    UnknownServer(String),
    #[error("an ASGI app under a WSGI worker: {server} calls the app as app(environ, start_response) and cannot await it; run an ASGI app under uvicorn, granian or hypercorn")]
    AsgiUnderWsgi { server: AppServer },
    #[error("uvicorn serves ASGI apps; for a WSGI app choose granian or hypercorn, which serve both, or a gunicorn worker")]
    WsgiUnderUvicorn,
    #[error("patched = true under {server}: gevent's monkey-patching replaces the blocking calls an asyncio loop relies on; an ASGI app waits with await, not with patched calls")]
    PatchedAsgi { server: AppServer },
    #[error("patched = true under {server}: its requests run on threads its Rust core starts, where gevent's hub never runs, so patched calls would block them; patch under gunicorn-gevent or gunicorn-meinheld")]
    PatchedUnderRust { server: AppServer },
    #[error("an app needs at least one worker and one thread")]
    NoWorkers,
    #[error("meinheld's worker cannot serve HTTPS: it reads the socket itself and ignores gunicorn's --certfile")]
    NoTls,
}

/// The module framewut imports a patched app through: it patches, then
/// imports the app, so a server that does not patch runs it patched.
pub const PATCH_SHIM: &str = "framewut_patched";

/// The shim's text: `APP` names the app's module and attribute.
pub fn patch_shim(module: &str, attribute: &str) -> String {
    format!(
        "from gevent import monkey\n\nmonkey.patch_all()\n\nfrom {module} import {attribute} as app  # noqa: E402\n"
    )
}

/// What starting an app under a server needs beyond the server.
#[derive(Debug, Clone)]
pub struct AppLaunch<'a> {
    /// The environment's interpreter.
    pub python: &'a Path,
    /// The app's directory: the working directory, first on PYTHONPATH.
    pub dir: &'a Path,
    /// `module:attribute`.
    pub target: &'a str,
    pub interface: Interface,
    /// Where the patch shim lives when the app is patched by framewut.
    pub shim_dir: Option<&'a Path>,
    pub port: u16,
    pub workers: u32,
    pub threads: u32,
    pub tls: Option<&'a ServerCert>,
}

impl AppServer {
    /// The command line that serves the app on `127.0.0.1:port`.
    pub fn launch(self, app: &AppLaunch) -> Result<Launch, AppStackError> {
        if app.workers == 0 || app.threads == 0 {
            return Err(AppStackError::NoWorkers);
        }
        let server = self.server(app.interface);
        // gevent's worker patches by itself: the shim is for the others.
        let (target, pythonpath) = match app.shim_dir {
            Some(shim) if self != AppServer::GunicornGevent => (
                format!("{PATCH_SHIM}:app"),
                format!("{}:{}", shim.display(), app.dir.display()),
            ),
            _ => (app.target.to_string(), app.dir.display().to_string()),
        };
        let mut args = server_args(server, &target, app.port, app.workers, app.threads);
        if let Some(tls) = app.tls {
            if !self.serves_tls() {
                return Err(AppStackError::NoTls);
            }
            let target = args.pop().expect("server_args ends with the app");
            args.extend(tls_args(server, tls));
            args.push(target);
        }
        Ok(Launch {
            program: app.python.to_path_buf(),
            args,
            env: vec![
                ("PYTHONPATH".to_string(), pythonpath),
                ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
            ],
            cwd: app.dir.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(server: AppServer, interface: Interface, shim: Option<&Path>) -> Launch {
        server
            .launch(&AppLaunch {
                python: Path::new("/venv/bin/python"),
                dir: Path::new("/srv/shop"),
                target: "shop:app",
                interface,
                shim_dir: shim,
                port: 8080,
                workers: 2,
                threads: 4,
                tls: None,
            })
            .unwrap()
    }

    #[test]
    fn every_server_runs_the_users_app_from_its_directory() {
        for server in AppServer::ALL {
            let interface = if server == AppServer::Uvicorn {
                Interface::Asgi
            } else {
                Interface::Wsgi
            };
            let l = launch(server, interface, None);
            assert_eq!(l.cwd, Path::new("/srv/shop"));
            assert!(l.args.last().unwrap().ends_with("shop:app"), "{:?}", l.args);
            assert!(l.args.contains(&"2".to_string()), "workers: {:?}", l.args);
            assert!(
                l.env.contains(&("PYTHONPATH".into(), "/srv/shop".into())),
                "{:?}",
                l.env
            );
        }
        let gthread = launch(AppServer::GunicornGthread, Interface::Wsgi, None);
        assert!(
            gthread.display().contains("--threads 4"),
            "{}",
            gthread.display()
        );
    }

    #[test]
    fn a_patched_app_goes_through_the_shim_except_under_gevents_worker() {
        let shim = Path::new("/data/shim");
        let meinheld = launch(AppServer::GunicornMeinheld, Interface::Wsgi, Some(shim));
        assert_eq!(meinheld.args.last().unwrap(), "framewut_patched:app");
        assert!(meinheld
            .env
            .contains(&("PYTHONPATH".into(), "/data/shim:/srv/shop".into())));
        let gevent = launch(AppServer::GunicornGevent, Interface::Wsgi, Some(shim));
        assert_eq!(gevent.args.last().unwrap(), "shop:app");
        assert!(patch_shim("shop.wsgi", "application")
            .contains("from shop.wsgi import application as app"));
    }

    #[test]
    fn combinations_that_cannot_work_are_refused_with_the_reason() {
        for server in [
            AppServer::GunicornSync,
            AppServer::GunicornGthread,
            AppServer::GunicornGevent,
            AppServer::GunicornMeinheld,
        ] {
            let why = server
                .check(Interface::Asgi, false)
                .unwrap_err()
                .to_string();
            assert!(why.contains("ASGI app under a WSGI worker"), "{why}");
        }
        assert!(AppServer::Uvicorn.check(Interface::Wsgi, false).is_err());
        assert!(AppServer::Uvicorn.check(Interface::Asgi, true).is_err());
        assert!(AppServer::Granian.check(Interface::Wsgi, true).is_err());
        assert!(AppServer::GunicornMeinheld
            .check(Interface::Wsgi, true)
            .is_ok());
        for server in [AppServer::Granian, AppServer::Hypercorn] {
            assert!(server.check(Interface::Wsgi, false).is_ok());
            assert!(server.check(Interface::Asgi, false).is_ok());
        }
        assert_eq!(
            "gunicorn-gevent".parse::<AppServer>().unwrap(),
            AppServer::GunicornGevent
        );
        let unknown = "waitress".parse::<AppServer>().unwrap_err().to_string();
        assert!(unknown.contains("gunicorn-sync"), "{unknown}");
    }
}
