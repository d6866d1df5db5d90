//! The shared scenario handlers: every stack wires these, none re-implements them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use framewut_sys::{process_cpu_clock, thread_cpu_clock};
use serde::{Deserialize, Serialize};

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

/// The request header that asks a stack to time its own handler: its value
/// is how many calls to make in a row, 1 to [`MAX_TIMED_CALLS`]. Each call
/// runs where a request's call runs (the same function's frame, on the
/// thread, runtime and blocking pool the stack's model uses, with its
/// allocator as serving left it), and the answer is a [`Timing`] in JSON
/// instead of the handler's body. What a handler costs depends on all of
/// these: the same serialisation takes half as long again on one thread's
/// stack and heap as on another's, so a handler timed anywhere else can
/// miss the server it stands for.
pub const TIME_CALLS_HEADER: &str = "x-framewut-time-calls";

/// The most calls one timed request may ask for.
pub const MAX_TIMED_CALLS: u32 = 1_000_000;

/// The answer to a timed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// The calls made.
    pub calls: u32,
    /// CPU nanoseconds from the first call's start to the last one's end:
    /// the calling thread's where the calls run whole on it (`thread`), so
    /// requests timed at once on other threads do not count; otherwise the
    /// stack's process's, every thread's together, so a handler handed to
    /// a blocking pool pays for the handoff too.
    pub cpu_ns: u64,
    /// Whether `cpu_ns` is the calling thread's CPU time: requests timed
    /// side by side each count only their own calls.
    pub thread: bool,
    /// The last call's status.
    pub status: u16,
    /// The last call's body length.
    pub bytes: u64,
    /// The process that made the calls: one of a stack's workers, so
    /// timings spread over its workers can say how many they reached.
    pub pid: u32,
    /// CPU nanoseconds of the calls' work on the blocking pool's threads it
    /// was handed to, each call timed by the clock of the thread that ran
    /// it: present where the calls hand their work off. `cpu_ns` is then the
    /// process's, handoffs included, which requests timed side by side
    /// would count for one another; this counts each request's work alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offloaded_ns: Option<u64>,
}

/// A timed request's calls from its [`TIME_CALLS_HEADER`], if it has one;
/// a value that is not a count in range is answered with a 400 reply.
pub fn timed_calls(value: Option<&[u8]>) -> Result<Option<u32>, Reply> {
    let Some(value) = value else {
        return Ok(None);
    };
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|calls| (1..=MAX_TIMED_CALLS).contains(calls))
        .map(Some)
        .ok_or_else(|| {
            Reply::error(
                400,
                &format!(
                    "{TIME_CALLS_HEADER} must be a count of calls from 1 to {MAX_TIMED_CALLS}"
                ),
            )
        })
}

/// The clock a timed request's calls are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// The calls run whole on the request's thread.
    Thread,
    /// The calls hand work to other threads (a blocking pool, an async
    /// driver), whose CPU is theirs too.
    Process,
}

impl Clock {
    fn now(self) -> Duration {
        match self {
            Clock::Thread => thread_cpu_clock(),
            Clock::Process => process_cpu_clock(),
        }
    }
}

/// The calls one request makes: one for a plain request, or a timed
/// request's count, after which it answers their [`Timing`].
struct Calls {
    left: u32,
    timed: Option<(u32, Clock, Duration)>,
    /// The CPU the calls' work took on the threads it was handed to.
    offloaded: Option<Duration>,
}

impl Calls {
    fn new(timed: Option<u32>, clock: Clock) -> Calls {
        Calls {
            left: timed.unwrap_or(1),
            timed: timed.map(|calls| (calls, clock, clock.now())),
            offloaded: None,
        }
    }

    /// Whether the calls are timed.
    fn timed(&self) -> bool {
        self.timed.is_some()
    }

    /// Counts what a call's work took on the thread it was handed to.
    fn offloaded(&mut self, work: Option<Duration>) {
        if let Some(work) = work {
            *self.offloaded.get_or_insert(Duration::ZERO) += work;
        }
    }

    /// Counts a call that answered `reply`; the reply to send once the
    /// last call is made.
    fn made(&mut self, reply: Reply) -> Option<Reply> {
        self.left -= 1;
        if self.left > 0 {
            return None;
        }
        Some(match self.timed {
            None => reply,
            Some((calls, clock, start)) => {
                let timing = Timing {
                    calls,
                    cpu_ns: (clock.now() - start).as_nanos() as u64,
                    thread: clock == Clock::Thread,
                    status: reply.status,
                    bytes: reply.body.len() as u64,
                    pid: std::process::id(),
                    offloaded_ns: self.offloaded.map(|d| d.as_nanos() as u64),
                };
                Reply::ok(Bytes::from(
                    serde_json::to_vec(&timing).expect("a timing serialises"),
                ))
            }
        })
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

    /// Answers a request on a thread that may block: the sync stacks'
    /// handler. `timed` is a timed request's count of calls
    /// ([`TIME_CALLS_HEADER`]), made in this one frame.
    pub fn handle_blocking(&self, scenario: Scenario, timed: Option<u32>) -> Reply {
        let mut calls = Calls::new(timed, Clock::Thread);
        loop {
            let reply = self.answer_blocking(scenario);
            if let Some(reply) = calls.made(reply) {
                return reply;
            }
        }
    }

    #[inline(always)]
    fn answer_blocking(&self, scenario: Scenario) -> Reply {
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
    pub fn handle_in_coroutine(&self, scenario: Scenario, timed: Option<u32>) -> Reply {
        let yields = scenario == Scenario::Sleep && self.variants.sleep == SleepVariant::Async;
        // A coroutine that yields may go on on another worker thread.
        let clock = if yields {
            Clock::Process
        } else {
            Clock::Thread
        };
        let mut calls = Calls::new(timed, clock);
        loop {
            let reply = if yields {
                may::coroutine::sleep(self.sleep);
                Reply::ok(hello())
            } else {
                self.answer_blocking(scenario)
            };
            if let Some(reply) = calls.made(reply) {
                return reply;
            }
        }
    }

    /// Answers a request on a tokio runtime: the async stacks' handler. The
    /// variants decide whether the work blocks this thread, awaits, or goes
    /// to the runtime's blocking pool. `timed` is a timed request's count of
    /// calls ([`TIME_CALLS_HEADER`]), made in this one future.
    pub async fn handle(self: &Arc<Self>, scenario: Scenario, timed: Option<u32>) -> Reply {
        let inline = match scenario {
            Scenario::Cpu => self.variants.cpu == CpuVariant::Inline,
            Scenario::Db => self.variants.db == DbVariant::Blocking,
            Scenario::Hello => true,
            Scenario::Sleep | Scenario::Upstream => false,
        };
        let clock = if inline {
            Clock::Thread
        } else {
            Clock::Process
        };
        let mut calls = Calls::new(timed, clock);
        loop {
            let (reply, offloaded) = self.answer(scenario, calls.timed()).await;
            calls.offloaded(offloaded);
            if let Some(reply) = calls.made(reply) {
                return reply;
            }
        }
    }

    /// One call's reply, and, for a timed call whose work was handed to the
    /// blocking pool, that work's CPU on the pool's thread.
    #[inline(always)]
    async fn answer(
        self: &Arc<Self>,
        scenario: Scenario,
        timed: bool,
    ) -> (Reply, Option<Duration>) {
        let reply = match scenario {
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
                            return (offload_failed(), None);
                        }
                    }
                }
                Reply::ok(hello())
            }
            Scenario::Upstream => {
                let Some(client) = &self.upstream else {
                    return (Self::no_upstream(), None);
                };
                match self.variants.upstream.client {
                    ClientVariant::Blocking => upstream_reply(client.fetch_blocking()),
                    ClientVariant::Async => upstream_reply(client.fetch_async().await),
                    ClientVariant::Offload => {
                        return self.offload(Scenario::Upstream, timed).await;
                    }
                }
            }
            Scenario::Cpu => match self.variants.cpu {
                CpuVariant::Inline => Reply::ok(cpu_body(self.cpu_n)),
                CpuVariant::Offload => return self.offload(Scenario::Cpu, timed).await,
            },
            Scenario::Db => match self.variants.db {
                DbVariant::Blocking => row_reply(self.world.query_on_loop(random_id())),
                DbVariant::Async => row_reply(self.world.query_async(random_id()).await),
                DbVariant::Offload => return self.offload(Scenario::Db, timed).await,
            },
        };
        (reply, None)
    }

    /// Answers `scenario` on the blocking pool; a timed call also says what
    /// the work took of the pool thread's CPU.
    async fn offload(
        self: &Arc<Self>,
        scenario: Scenario,
        timed: bool,
    ) -> (Reply, Option<Duration>) {
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let start = timed.then(thread_cpu_clock);
            let reply = app.answer_blocking(scenario);
            (reply, start.map(|start| thread_cpu_clock() - start))
        })
        .await
        .unwrap_or_else(|_| (offload_failed(), None))
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
    fn a_timed_request_makes_its_calls_and_answers_what_they_cost() {
        assert_eq!(timed_calls(None), Ok(None));
        assert_eq!(timed_calls(Some(b" 200 ")), Ok(Some(200)));
        for bad in [&b"0"[..], b"1000001", b"-1", b"ten", b"\xff"] {
            let refused = timed_calls(Some(bad)).unwrap_err();
            assert_eq!(refused.status, 400, "{bad:?}");
        }
        let mut plain = Calls::new(None, Clock::Thread);
        assert_eq!(plain.made(Reply::ok(hello())), Some(Reply::ok(hello())));
        let mut timed = Calls::new(Some(3), Clock::Thread);
        for _ in 0..2 {
            assert_eq!(timed.made(Reply::ok(cpu_body(10_000))), None);
        }
        let answer = timed.made(Reply::ok(cpu_body(10_000))).unwrap();
        let timing: Timing = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!((timing.calls, timing.status), (3, 200));
        assert_eq!(timing.bytes, cpu_body(10_000).len() as u64);
        assert_eq!(timing.pid, std::process::id());
        assert!(timing.thread, "{timing:?}");
        // Three serialisations of ten thousand ints take well over a
        // microsecond of this process's CPU, on any machine.
        assert!(timing.cpu_ns > 1_000, "{timing:?}");
        // Nothing was handed off, so no offloaded work is claimed.
        assert_eq!(timing.offloaded_ns, None);
    }

    #[test]
    fn a_timed_request_adds_up_the_work_it_handed_off() {
        let mut timed = Calls::new(Some(2), Clock::Process);
        assert!(timed.timed());
        timed.offloaded(Some(Duration::from_micros(300)));
        assert_eq!(timed.made(Reply::ok(hello())), None);
        timed.offloaded(None);
        timed.offloaded(Some(Duration::from_micros(200)));
        let answer = timed.made(Reply::ok(hello())).unwrap();
        let timing: Timing = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(timing.offloaded_ns, Some(500_000), "{timing:?}");
        assert!(!timing.thread, "{timing:?}");
        assert!(!Calls::new(None, Clock::Thread).timed());
    }
}
