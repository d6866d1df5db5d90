//! The parts of a CPU-bound request, measured apart from the cell's load:
//! the handler's own work alone in the stack's runtime (timed by the idle
//! stack itself, a built-in Rust stack or framewut's Python apps in their
//! workers, one call a request and calls in a row), and what writing its
//! response to a loopback socket costs the kernel. With the stack's own
//! cost per request from its hello cell, they predict a cpu or db cell's
//! ceiling without its own load (`report::parts`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use framewut_stacks::app::{Timing, MAX_TIMED_CALLS, TIME_CALLS_HEADER};
use framewut_stacks::contract;
use framewut_stacks::db::DbTarget;
use framewut_stacks::Scenario;
use framewut_sys::thread_cpu_clock;
use rustls::ClientConfig;
use serde::{Deserialize, Serialize};

use super::cpus::CpuSet;
use crate::python::PythonEnv;

/// How long each part is timed for, in CPU time, after a warm-up of its
/// own: hundreds of calls of a 1 ms handler, tens of thousands of a 10 µs
/// one.
const TIMED: Duration = Duration::from_millis(500);
const WARMUP: Duration = Duration::from_millis(100);

/// How long a timed request may take: its calls are sized to [`TIMED`] of
/// CPU, and a stack shares its CPUs with nothing else while it answers.
const TIMED_REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// The hello body's length: the response every stack's hello cell writes,
/// whose write its cost per request already holds.
pub const HELLO_BYTES: u64 = 22;

/// The parts of a request measured alone, on one of the server's CPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parts {
    /// What the handler's work is, in words: `json.dumps of 100000 ints in
    /// CPython 3.11.7`.
    pub what: String,
    /// CPU microseconds of one call of the handler's work as the stack's
    /// requests make it, one call each between the work of serving them:
    /// the mean over requests sent side by side over the cell's
    /// connections (up to 32) where each call can be timed alone (by its
    /// thread's clock, or its blocking pool thread's plus the handoff),
    /// else one after another on one kept-alive connection
    /// ([`stack_handler`]).
    pub handler_us: f64,
    /// Calls timed for `handler_us`.
    pub calls: u64,
    /// The stack's processes that timed those calls: gunicorn's workers
    /// that took them, 1 for a built-in stack. None in results written
    /// before framewut counted them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u32>,
    /// The handler called in a row in one request's frame, its caches hot
    /// from the call before: a floor under `handler_us`, which the cell's
    /// requests, each with the stack's own work between its calls, do not
    /// reach (a World row read from SQLite: 11 µs in a row, 16 µs a
    /// request). None in results written before framewut timed both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_row_us: Option<f64>,
    /// The body one call made.
    pub body_bytes: u64,
    /// CPU microseconds the writer's kernel spent writing a body that size
    /// to a loopback socket whose reader is on the generator's CPUs.
    pub write_us: f64,
    /// The same for a hello body, whose write the stack's hello cell
    /// already counts: the model adds only what this body's write costs
    /// beyond it.
    #[serde(default)]
    pub hello_write_us: f64,
    /// How busy the generator's CPUs were while the handler was timed (1.0
    /// is all busy), with work that was not framewut's: on a machine whose
    /// cores share their caches or their physical core, work beside the
    /// timing slows it, and a part timed so says so. None where /proc/stat
    /// could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beside_busy: Option<f64>,
}

/// Above this share of the generator's CPUs busy beside it, a handler's
/// timing was disturbed enough to say so.
pub const DISTURBED: f64 = 0.5;

impl Parts {
    /// What writing this response costs beyond writing a hello one.
    pub fn extra_write_us(&self) -> f64 {
        (self.write_us - self.hello_write_us).max(0.0)
    }
}

/// Times `work` on this thread for [`TIMED`] of CPU after a few warm-up
/// calls: CPU microseconds per call, calls, and the last body's length.
fn time_calls(mut work: impl FnMut() -> usize) -> (f64, u64, u64) {
    let mut bytes = work();
    let warming = thread_cpu_clock();
    while thread_cpu_clock() - warming < WARMUP {
        bytes = work();
    }
    let start = thread_cpu_clock();
    let mut calls = 0u64;
    while thread_cpu_clock() - start < TIMED || calls < 5 {
        bytes = work();
        calls += 1;
    }
    let spent = thread_cpu_clock() - start;
    (
        spent.as_secs_f64() * 1e6 / calls as f64,
        calls,
        bytes as u64,
    )
}

/// Why a part could not be timed.
#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    /// The test CA's client configuration cannot be made.
    #[error(transparent)]
    Tls(#[from] framewut_stacks::tls::TlsError),
    #[error("the stack could not time its handler: {0}")]
    Ask(#[source] contract::ContractError),
    #[error("the stack answered a timed request with {status} and no timing ({source})")]
    NoTiming {
        status: u16,
        #[source]
        source: serde_json::Error,
    },
    #[error("the handler answered {0} when timed")]
    HandlerStatus(u16),
    #[error("cannot time a write to loopback: {0}")]
    Loopback(#[source] std::io::Error),
    /// A thread of the write's timing panicked.
    #[error("the {0} panicked")]
    Panicked(&'static str),
    /// The stack was still busy from its load.
    #[error("the stack was still {:.0}% busy {:.1} s after {after}, so its handler was not timed alone", 100.0 * .busy, .waited.as_secs_f64())]
    Busy {
        busy: f64,
        waited: Duration,
        after: String,
    },
}

/// A handler timed: CPU microseconds per call and the calls timed, the
/// last body's length, the work in words, the floor of its calls in a row
/// ([`Parts::in_row_us`]), and the workers that timed it.
pub struct Timed {
    pub us: f64,
    pub calls: u64,
    pub bytes: u64,
    pub what: String,
    pub in_row_us: Option<f64>,
    /// The stack's processes that timed the requests of one call each.
    pub workers: u32,
}

/// The most requests of one call each timed for a stack's handler.
const MOST_REQUESTS: u32 = 2_000;

/// Over many connections at once, up to this many requests each: enough
/// that each spends most of its time sending in step with the others, not
/// opening its connection.
const MOST_PER_CONNECTION: u32 = 50;

/// The fewest requests of one call each timed for a stack's handler; over
/// several connections at once, enough that each of a pre-fork server's
/// workers (gunicorn's ten) times several.
const FEWEST_REQUESTS: u32 = 20;
const FEWEST_AT_ONCE: u32 = 100;

/// The most connections timed requests go over at once, a thread each:
/// enough to keep a server's cores busy (eight kept may's one busy), few
/// enough that none waits past a server's keep-alive for its turn
/// (meinheld resets a connection whose next request it has not read
/// within gunicorn's 2 s, and a hundred connections at once to ten
/// workers spending 13 ms a request wait that long).
const MOST_AT_ONCE: u32 = 32;

/// A stack's handler of `scenario`, timed by the running stack itself
/// (`TIME_CALLS_HEADER`), on the threads and with the allocator that serve
/// its requests. First in a row in one request's frame: one call sizes a
/// warm-up of 100 ms, which sizes the calls to 500 ms of CPU. Then as
/// requests make it: one call a request, as many as make about 500 ms of
/// the handler's CPU (20 to 2,000).
///
/// Where the stack's calls run whole on their thread and are timed by its
/// clock, those requests go over `at_once` connections at once (the cell's
/// load's, up to 32; at least 100 requests, and up to 50 a connection
/// where that is more than 2,000), each sending its share one after
/// another, as the load does: the stack never idles between calls, and its
/// threads or workers run them side by side. One at a time, a core left
/// idle between requests runs each call colder (a World row read from
/// SQLite on may's coroutines: 9.3 µs a call one at a time, 5.0 µs eight
/// at once, 4.3 µs under the cell's load), ten gunicorn workers sharing a
/// core each run json.dumps a fifth slower than one alone, and one worker
/// would time them all. A handler that hands its work to a blocking pool
/// says what the work took on the pool's thread, by that thread's clock:
/// its requests go at once too, and the work they time is added to what
/// the handoff costs, the process's CPU a request less the work's, from
/// requests sent one at a time (the process's clock would count requests
/// timed at once for one another). At once, the work meets some of what it
/// meets under load: serialising /cpu on the pool under 200 connections on
/// one core took 25 page faults and 1.1 preemptions a request, and 183 µs
/// of kernel CPU against 73 µs on the runtime's own thread. A handler
/// timed by its process's clock with nothing to say of its own thread's
/// goes one request after another on one connection.
///
/// Each connection first sends as many requests again, untimed, to warm
/// what the stack keeps per connection. The requests are sent from
/// threads on the generator's CPUs (`load`), as the load's are, not beside
/// the stack. Asked of an idle stack: a built-in one once its load has
/// warmed it.
pub fn stack_handler(
    port: u16,
    tls: Option<&Arc<ClientConfig>>,
    (scenario, cpu_n, db): (Scenario, u32, Option<&str>),
    at_once: u32,
    load: &CpuSet,
) -> Result<Option<Timed>, PartsError> {
    if !matches!(scenario, Scenario::Cpu | Scenario::Db) {
        return Ok(None);
    }
    let addr = std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let host = format!("127.0.0.1:{port}");
    let timed = |calls: u32, requests: u32, connections: u32| -> Result<Vec<Timing>, PartsError> {
        let calls = calls.clamp(1, MAX_TIMED_CALLS).to_string();
        let headers = [(TIME_CALLS_HEADER, calls.as_str())];
        let ask = contract::Ask {
            method: "GET",
            path: scenario.path(),
            headers: &headers,
            body: &[],
        };
        let connections = connections.clamp(1, requests.clamp(1, MOST_AT_ONCE));
        let responses = std::thread::scope(|scope| {
            let senders: Vec<_> = (0..connections)
                .map(|i| {
                    let share = requests / connections + u32::from(i < requests % connections);
                    let (host, ask) = (&host, &ask);
                    scope.spawn(move || {
                        load.pin_this_thread();
                        let sent = 2 * share;
                        let mut answers = contract::send_repeated(
                            addr,
                            host,
                            ask,
                            sent,
                            TIMED_REQUEST_LIMIT,
                            tls,
                        )?;
                        // The first half warms the connection's thread and
                        // what it keeps (a thread-per-connection stack's
                        // SQLite connection and its page cache), as a
                        // load's warm-up does before its trial counts.
                        Ok::<_, contract::ContractError>(answers.split_off(share as usize))
                    })
                })
                .collect();
            senders.into_iter().try_fold(Vec::new(), |mut all, sender| {
                all.extend(sender.join().expect("a timed request's sender panicked")?);
                Ok(all)
            })
        });
        responses
            .map_err(PartsError::Ask)?
            .into_iter()
            .map(|response| {
                let timing: Timing = serde_json::from_slice(&response.body).map_err(|source| {
                    PartsError::NoTiming {
                        status: response.status,
                        source,
                    }
                })?;
                if timing.status != 200 {
                    return Err(PartsError::HandlerStatus(timing.status));
                }
                Ok(timing)
            })
            .collect()
    };
    let calls_of = |t: &[Timing]| t.iter().map(|t| u64::from(t.calls)).sum::<u64>().max(1) as f64;
    let per_call = |t: &[Timing]| t.iter().map(|t| t.cpu_ns).sum::<u64>() as f64 / calls_of(t);
    let per_work =
        |t: &[Timing]| t.iter().filter_map(|t| t.offloaded_ns).sum::<u64>() as f64 / calls_of(t);
    let first = timed(1, 1, 1)?;
    let warm = timed(
        (WARMUP.as_nanos() as f64 / per_call(&first).max(1.0)).ceil() as u32,
        1,
        1,
    )?;
    let calls = (TIMED.as_nanos() as f64 / per_call(&warm).max(1.0)).ceil() as u32;
    let in_row = timed(calls.max(5), 1, 1)?;
    let offloaded = in_row.iter().all(|t| t.offloaded_ns.is_some());
    let (connections, fewest) = if offloaded || in_row.iter().all(|t| t.thread) {
        (at_once, FEWEST_AT_ONCE)
    } else {
        (1, FEWEST_REQUESTS)
    };
    let requests = (TIMED.as_nanos() as f64 / per_call(&in_row).max(1.0)).ceil() as u32;
    let most = MOST_REQUESTS.max(MOST_PER_CONNECTION.saturating_mul(connections));
    let each = timed(1, requests.clamp(fewest, most), connections)?;
    let us = if offloaded {
        // The work side by side on the pool's threads, each call by its own
        // thread's clock, plus what handing it off costs the process: the
        // process's CPU a request less the work's, one request at a time.
        let alone = timed(1, requests.clamp(FEWEST_REQUESTS, MOST_REQUESTS), 1)?;
        per_work(&each) + (per_call(&alone) - per_work(&alone)).max(0.0)
    } else {
        per_call(&each)
    };
    let workers: std::collections::BTreeSet<u32> = each.iter().map(|t| t.pid).collect();
    let target = DbTarget::parse(db.unwrap_or(""));
    Ok(Some(Timed {
        us: us / 1e3,
        calls: each.len() as u64,
        bytes: each.last().map_or(0, |t| t.bytes),
        what: match scenario {
            Scenario::Cpu => format!("serde_json of {cpu_n} ints"),
            _ => format!("a read of one World row from {target}"),
        },
        in_row_us: Some(per_call(&in_row) / 1e3),
        workers: workers.len() as u32,
    }))
}

/// The Python handler of `scenario` timed by the running stack's workers,
/// as [`stack_handler`] times a built-in stack's: the apps answer the same
/// header with the CPU time of the worker's thread that ran the calls, so
/// the handler is timed in the process, interpreter and heap that serve
/// the cell, between the server's own work on each request, and across its
/// workers, which take `at_once` connections at once and share the
/// server's cores as under load.
pub fn python_handler(
    port: u16,
    tls: Option<&Arc<ClientConfig>>,
    env: &PythonEnv,
    (scenario, cpu_n, db): (Scenario, u32, Option<&str>),
    (at_once, load): (u32, &CpuSet),
) -> Result<Option<Timed>, PartsError> {
    let version = &env.python_version;
    Ok(
        stack_handler(port, tls, (scenario, cpu_n, db), at_once, load)?.map(|timed| Timed {
            what: match scenario {
                Scenario::Cpu => format!("json.dumps of {cpu_n} ints in CPython {version}"),
                _ => format!("a read of one World row in CPython {version}"),
            },
            ..timed
        }),
    )
}

/// CPU microseconds of writing `bytes` to a loopback TCP socket from one of
/// `server` CPUs while a reader on `load` CPUs drains it.
pub fn write_cost(bytes: u64, server: &CpuSet, load: &CpuSet) -> Result<f64, PartsError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(PartsError::Loopback)?;
    let port = listener.local_addr().map_err(PartsError::Loopback)?.port();
    let load = load.clone();
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        load.pin_this_thread();
        let (mut stream, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 16];
        while stream.read(&mut buf)? > 0 {}
        Ok(())
    });
    let server = server.clone();
    let writer = std::thread::spawn(move || -> std::io::Result<f64> {
        server.pin_this_thread();
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_nodelay(true)?;
        let body = vec![b'7'; bytes.max(1) as usize];
        let mut result = Ok(());
        let (us, _, _) = time_calls(|| {
            if result.is_ok() {
                result = stream.write_all(&body);
            }
            body.len()
        });
        result?;
        Ok(us)
    });
    let us = writer
        .join()
        .map_err(|_| PartsError::Panicked("writer"))?
        .map_err(PartsError::Loopback)?;
    reader
        .join()
        .map_err(|_| PartsError::Panicked("reader"))?
        .map_err(PartsError::Loopback)?;
    Ok(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_more_bytes_costs_the_kernel_more() {
        let cpus = CpuSet::allowed();
        let small = write_cost(100, &cpus, &cpus).unwrap();
        let large = write_cost(1_000_000, &cpus, &cpus).unwrap();
        assert!(
            small > 0.0 && large > 5.0 * small,
            "{small} µs and {large} µs"
        );
    }
}
