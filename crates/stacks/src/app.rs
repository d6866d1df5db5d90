//! The shared scenario handlers: every stack wires these, none re-implements them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::client::{Fetched, UpstreamClient, UpstreamError};
use crate::contract::HELLO_BODY;
use crate::variant::{ClientVariant, CpuVariant, DbVariant, SleepVariant, Variants};
use crate::world::{random_id, Row, World, WorldError};
use crate::{Scenario, ServeConfig, ServeError};

/// The `Server` header value every stack sends.
pub const SERVER_NAME: &str = "framewut";

/// A response, before a framework frames it: always `application/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The JSON body.
    pub body: Bytes,
}

impl Reply {
    fn ok(body: Bytes) -> Reply {
        Reply { status: 200, body }
    }

    fn error(status: u16, message: &str) -> Reply {
        let body = serde_json::to_vec(&serde_json::json!({ "error": message }))
            .unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            body: Bytes::from(body),
        }
    }

    /// The reply to a path that is not part of the contract.
    pub fn not_found() -> Reply {
        Reply::error(
            404,
            "not found: the paths are /hello, /sleep, /upstream, /cpu and /db",
        )
    }

    /// The reason phrase for the status line.
    pub fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            505 => "HTTP Version Not Supported",
            _ => "Status",
        }
    }
}

/// The state behind the handlers: options, clients and the database.
pub struct App {
    variants: Variants,
    sleep: Duration,
    cpu_n: u32,
    upstream: Option<UpstreamClient>,
    world: World,
}

#[derive(Serialize)]
struct CpuBody {
    message: Vec<u32>,
}

fn hello() -> Bytes {
    Bytes::from_static(HELLO_BODY)
}

fn cpu_body(n: u32) -> Bytes {
    let body = CpuBody {
        message: (0..n).collect(),
    };
    Bytes::from(serde_json::to_vec(&body).expect("a list of integers serialises"))
}

/// One call of a scenario's own work, as a stack's handler does it, with
/// no server around it: the `/cpu` body's serialisation, or a `/db` read of
/// one random row (a blocking read, on the calling thread). Returns the body
/// it made. For measuring what the handler costs alone; `None` for the
/// scenarios whose cost is a wait, not work.
pub fn handler_alone(
    scenario: Scenario,
    cpu_n: u32,
    db: &crate::db::DbTarget,
) -> Result<Option<Box<dyn FnMut() -> Bytes>>, WorldError> {
    Ok(match scenario {
        Scenario::Cpu => Some(Box::new(move || cpu_body(cpu_n))),
        Scenario::Db => {
            let world = World::open(db, DbVariant::Blocking)?;
            Some(Box::new(move || {
                row_reply(world.query_blocking(random_id())).body
            }))
        }
        Scenario::Hello | Scenario::Sleep | Scenario::Upstream => None,
    })
}

fn row_reply(row: Result<Row, WorldError>) -> Reply {
    match row {
        Ok((id, random_number)) => Reply::ok(Bytes::from(format!(
            "{{\"id\":{id},\"randomNumber\":{random_number}}}"
        ))),
        Err(err) => Reply::error(500, &err.to_string()),
    }
}

fn upstream_reply(fetched: Result<Fetched, UpstreamError>) -> Reply {
    match fetched {
        Ok(Fetched { status, body }) => Reply { status, body },
        Err(err) => Reply::error(502, &err.to_string()),
    }
}

fn offload_failed() -> Reply {
    Reply::error(500, "the blocking task failed")
}

impl App {
    /// Builds the app for a stack: connects the upstream clients and opens the
    /// database, failing with one sentence if either is unusable.
    pub(crate) fn new(config: &ServeConfig) -> Result<App, ServeError> {
        let upstream = config
            .upstream
            .as_deref()
            .map(|url| {
                UpstreamClient::new(
                    url,
                    config.variants.upstream.conn,
                    config.upstream_ca.as_deref(),
                )
            })
            .transpose()
            .map_err(ServeError::Upstream)?;
        Ok(App {
            variants: config.variants,
            sleep: config.sleep,
            cpu_n: config.cpu_n,
            upstream,
            world: World::open(&config.db, config.variants.db).map_err(ServeError::World)?,
        })
    }

    fn no_upstream() -> Reply {
        Reply::error(503, "no upstream: start the stack with --upstream URL")
    }

    /// Answers a request on a thread that may block: the sync stacks' handler.
    pub fn handle_blocking(&self, scenario: Scenario) -> Reply {
        match scenario {
            Scenario::Hello => Reply::ok(hello()),
            Scenario::Sleep => {
                std::thread::sleep(self.sleep);
                Reply::ok(hello())
            }
            Scenario::Upstream => match &self.upstream {
                Some(client) => upstream_reply(client.fetch_blocking()),
                None => Self::no_upstream(),
            },
            Scenario::Cpu => Reply::ok(cpu_body(self.cpu_n)),
            Scenario::Db => row_reply(self.world.query_blocking(random_id())),
        }
    }

    /// Answers a request in a may coroutine: as [`App::handle_blocking`],
    /// except that `sleep=async` yields to the coroutine scheduler.
    #[cfg(feature = "may")]
    pub fn handle_in_coroutine(&self, scenario: Scenario) -> Reply {
        if scenario == Scenario::Sleep && self.variants.sleep == SleepVariant::Async {
            may::coroutine::sleep(self.sleep);
            return Reply::ok(hello());
        }
        self.handle_blocking(scenario)
    }

    /// Answers a request on a tokio runtime: the async stacks' handler. The
    /// variants decide whether the work blocks this thread, awaits, or goes
    /// to the runtime's blocking pool.
    pub async fn handle(self: &Arc<Self>, scenario: Scenario) -> Reply {
        match scenario {
            Scenario::Hello => Reply::ok(hello()),
            Scenario::Sleep => {
                match self.variants.sleep {
                    SleepVariant::Blocking => std::thread::sleep(self.sleep),
                    SleepVariant::Async => tokio::time::sleep(self.sleep).await,
                    SleepVariant::Offload => {
                        let sleep = self.sleep;
                        if tokio::task::spawn_blocking(move || std::thread::sleep(sleep))
                            .await
                            .is_err()
                        {
                            return offload_failed();
                        }
                    }
                }
                Reply::ok(hello())
            }
            Scenario::Upstream => {
                let Some(client) = &self.upstream else {
                    return Self::no_upstream();
                };
                match self.variants.upstream.client {
                    ClientVariant::Blocking => upstream_reply(client.fetch_blocking()),
                    ClientVariant::Async => upstream_reply(client.fetch_async().await),
                    ClientVariant::Offload => {
                        self.offload(|app| app.handle_blocking(Scenario::Upstream))
                            .await
                    }
                }
            }
            Scenario::Cpu => match self.variants.cpu {
                CpuVariant::Inline => Reply::ok(cpu_body(self.cpu_n)),
                CpuVariant::Offload => self.offload(|app| app.handle_blocking(Scenario::Cpu)).await,
            },
            Scenario::Db => match self.variants.db {
                DbVariant::Blocking => row_reply(self.world.query_on_loop(random_id())),
                DbVariant::Async => row_reply(self.world.query_async(random_id()).await),
                DbVariant::Offload => self.offload(|app| app.handle_blocking(Scenario::Db)).await,
            },
        }
    }

    async fn offload(self: &Arc<Self>, work: fn(&App) -> Reply) -> Reply {
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&app))
            .await
            .unwrap_or_else(|_| offload_failed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_the_contract() {
        assert_eq!(hello().len(), 22);
        assert_eq!(&cpu_body(4)[..], br#"{"message":[0,1,2,3]}"#);
        assert_eq!(cpu_body(100_000).len(), 588_903);
        let reply = row_reply(Ok((7, 42)));
        assert_eq!(&reply.body[..], br#"{"id":7,"randomNumber":42}"#);
        let timeout = upstream_reply(Err(UpstreamError::Timeout {
            url: "http://127.0.0.1:9/".into(),
            after: Duration::from_secs(30),
        }));
        assert_eq!(timeout.status, 502);
        assert_eq!(
            &timeout.body[..],
            br#"{"error":"GET http://127.0.0.1:9/: no answer within 30s"}"#
        );
        let error = Reply::error(502, "refused \"x\"");
        assert_eq!(&error.body[..], br#"{"error":"refused \"x\""}"#);
    }

    #[test]
    fn the_handler_alone_makes_the_bodies_the_handlers_make() {
        let db = crate::db::DbTarget::parse("sqlite:/nonexistent/world.sqlite");
        let mut cpu = handler_alone(Scenario::Cpu, 4, &db).unwrap().unwrap();
        assert_eq!(&cpu()[..], br#"{"message":[0,1,2,3]}"#);
        assert!(handler_alone(Scenario::Hello, 4, &db).unwrap().is_none());
        // A database that cannot be opened is the error World::open gives.
        assert!(handler_alone(Scenario::Db, 4, &db).is_err());
    }
}
