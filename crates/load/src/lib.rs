//! framewut's load engine: a wrk-class HTTP/1.1 and HTTP/2 load generator as a library.
//!
//! It speaks HTTP/1.1 itself over keep-alive connections, with `T` threads
//! that each run their own event loop over their share of `C` connections.
//! The request (or each of a list's, picked by index) is serialised once;
//! responses are parsed in place from a reused buffer and their bodies
//! counted, never kept; nothing is allocated per request. Latency goes into one HDR histogram per thread (microseconds,
//! 3 significant digits), merged at the end, so memory stays bounded however
//! long the run.
//!
//! Two pacings: closed loop, as fast as responses come back (wrk), and open
//! loop at a fixed total rate (wrk2), where latency runs from each request's
//! intended send time so a stalled server shows in the tail.
//!
//! `https://` URLs are loaded over TLS (rustls, ALPN `http/1.1`), one
//! handshake per connection, timed and counted apart from the requests
//! ([`TlsOptions`] says whom to trust and whether sessions resume). The
//! loop is compiled once per transport, so a plain load runs no TLS code.
//!
//! A plan with [`Http2`] speaks HTTP/2 instead, in the same loop: h2c with
//! prior knowledge over plain TCP, h2 chosen by ALPN over TLS, with
//! [`Http2::streams`] concurrent streams per connection. Its frames and
//! the part of HPACK it needs are the engine's own, so it too allocates
//! nothing per request: each request's header block is encoded once.
//!
//! ```no_run
//! use std::time::Duration;
//! use framewut_load::{LoadPlan, Stop, Target};
//!
//! let mut plan = LoadPlan::new(Target::parse("http://127.0.0.1:8080/hello").unwrap());
//! plan.connections = 64;
//! plan.threads = 1;
//! plan.stop = Stop::After(Duration::from_secs(5));
//! let report = framewut_load::run(&plan).unwrap();
//! println!("{:.0} req/s, p99 {} us", report.rate(), report.latency.value_at_quantile(0.99));
//! ```

mod duration;
mod h2;
mod live;
mod parse;
mod plan;
mod report;
mod segment;
mod summary;
mod target;
mod threshold;
mod tls;
mod transport;
mod wallclock;
mod worker;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use mio::Poll;

pub use duration::{format_duration, parse_duration, DurationError};
pub use framewut_sys::{CpuSet, CpuTime};
pub use hdrhistogram::Histogram;
pub use live::{Live, Snapshot};
pub use plan::{
    Http2, LoadPlan, Pacing, PlanError, Rate, RequestSpec, Stop, TargetOrder, TargetRequest,
    DEFAULT_H2_WINDOW, MAX_PIPELINE, MAX_RATE, MAX_STREAMS, MAX_THREADS, MIN_RATE,
};
pub use report::{
    decode_histogram, encode_histogram, new_histogram, DrainReport, Errors, HistogramError,
    Http2Report, LoadReport, Second, ServerSettings, Stats, TargetTally, TlsReport,
};
pub use segment::{Segment, SegmentError, MAX_SEGMENTS};
pub use summary::{
    host_name, AgentSummary, AgentsSummary, CpuSummary, Http2PlanSummary, Http2Summary,
    LatencySummary, Percentile, PlanSummary, SegmentSummary, StatusClasses, Summary, TargetSummary,
    TlsSummary, WindowSummary, PERCENTILES, SATURATED_SHARE, SUMMARY_SCHEMA,
};
pub use target::{Target, TargetError, UrlProblem};
pub use threshold::{
    Measured, Metric, Threshold, ThresholdError, ThresholdResult, Unit, THRESHOLD_GRAMMAR,
};
pub use tls::{
    check_tls, probe_tls, TlsError, TlsOptions, Trust, BAD_NAME, CA_AS_SERVER, CLOSED_IN_HANDSHAKE,
    EXPIRED, HANDSHAKE_TIMEOUT, NOT_TLS, NOT_YET_VALID, SYSTEM_CA_BUNDLE, UNKNOWN_CA,
};
pub use wallclock::{
    parse_time, rfc3339, rfc3339_seconds, unix_seconds, wait_until, StartAtError, MAX_START_AHEAD,
    MAX_START_LATE,
};

/// File descriptors kept free for everything that is not a load connection.
const SPARE_FDS: u64 = 32;

/// Why a load could not start. Once started, a load always finishes with a
/// report: failed requests are counted in it, not raised.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The plan itself is impossible.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// More connections than this process may open files.
    #[error(
        "{asked} connections need more open files than this process may have ({limit}, the hard limit); \
         use at most {usable} connections, or raise the hard limit (ulimit -Hn) first",
        usable = .limit.saturating_sub(SPARE_FDS)
    )]
    TooManyConnections { asked: usize, limit: u64 },
    /// TLS cannot be set up for an `https://` load.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The operating system gave the load no epoll instance for a thread.
    #[error(
        "cannot create an epoll instance: {source} \
         (the process may be out of file descriptors or memory)"
    )]
    Epoll {
        #[source]
        source: std::io::Error,
    },
    /// A load of several windows was asked to report as one.
    #[error("a load of {windows} windows reports each apart: run it with run_windows")]
    SeveralWindows { windows: u32 },
}

/// Runs a load to its end and returns what it measured.
pub fn run(plan: &LoadPlan) -> Result<LoadReport, LoadError> {
    run_until(plan, &AtomicBool::new(false))
}

/// Runs a load until its end or until `cancel` becomes true (checked every
/// few milliseconds); a cancelled run still reports what it measured.
pub fn run_until(plan: &LoadPlan, cancel: &AtomicBool) -> Result<LoadReport, LoadError> {
    run_watched(plan, cancel, None)
}

/// [`run_until`], with each thread copying its running tallies into `live`
/// (made with [`Live::new`] for `plan.threads`) every 200 ms for a live view.
/// A plan of several windows is run with [`run_windows`].
pub fn run_watched(
    plan: &LoadPlan,
    cancel: &AtomicBool,
    live: Option<&Live>,
) -> Result<LoadReport, LoadError> {
    if plan.windows > 1 {
        return Err(LoadError::SeveralWindows {
            windows: plan.windows,
        });
    }
    let mut windows = execute(plan, cancel, live)?;
    Ok(windows.swap_remove(0))
}

/// Runs a load of `plan.windows` measured windows after one warm-up, on
/// the same connections throughout, and reports each window apart, in
/// order: a request in flight across a boundary counts in the window its
/// answer lands in, as in a load of its own it would count in the window
/// after its warm-up. The last report carries the drain, when the plan
/// asks for one. A cancelled load reports the windows it reached, the last
/// of them cut short.
pub fn run_windows(plan: &LoadPlan, cancel: &AtomicBool) -> Result<Vec<LoadReport>, LoadError> {
    execute(plan, cancel, None)
}

fn execute(
    plan: &LoadPlan,
    cancel: &AtomicBool,
    live: Option<&Live>,
) -> Result<Vec<LoadReport>, LoadError> {
    plan.validate()?;
    let limit = framewut_sys::raise_open_file_limit();
    if plan.connections as u64 + SPARE_FDS > limit {
        return Err(LoadError::TooManyConnections {
            asked: plan.connections,
            limit,
        });
    }
    // TLS is set up once, before any thread starts: a bad CA file fails here.
    let tls = match plan.target.https {
        true => Some(tls::Setup::new(plan)?),
        false => None,
    };
    let tls = tls.as_ref();
    // Each thread's epoll instance is made here, before any thread starts:
    // a process that cannot have one fails before the load, as the other
    // threads would otherwise run the whole load before it could be told.
    let polls = (0..plan.threads)
        .map(|_| Poll::new())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| LoadError::Epoll { source })?;
    let requests = plan.all_request_bytes();
    let h2_requests = match plan.http2 {
        Some(_) => plan.all_h2_requests(),
        None => Vec::new(),
    };
    let h2_requests = &h2_requests;
    let threads = plan.threads;
    let share = |total: u64, i: usize| {
        total / threads as u64 + u64::from((i as u64) < total % threads as u64)
    };
    // Each thread's round-robin cycle starts where the shares of the threads
    // before it end, so a count of requests cycles through a list as one
    // sequence would; a timed load starts them spread over the list.
    let first = |i: usize| -> u64 {
        let per = match plan.stop {
            Stop::Requests(n) => (0..i).map(|j| share(n, j)).sum(),
            Stop::After(_) => i as u64,
        };
        per % requests.len() as u64
    };
    let barrier = Arc::new(Barrier::new(threads + 1));
    let start = Arc::new(OnceLock::<Instant>::new());
    // Taken beside `start`, so the measured window has a wall-clock position.
    let mut wall_start = SystemTime::now();

    let tallies = std::thread::scope(|scope| {
        let handles: Vec<_> = polls
            .into_iter()
            .enumerate()
            .map(|(i, poll)| {
                let barrier = Arc::clone(&barrier);
                let start = Arc::clone(&start);
                let requests = &requests;
                let live = live.and_then(|l| l.slots.get(i));
                std::thread::Builder::new()
                    .name(format!("framewut-load-{i}"))
                    .spawn_scoped(scope, move || {
                        if let Some(cpus) = &plan.cpus {
                            // A CPU this process may not use is left to the
                            // OS rather than failing the load.
                            cpus.round_robin(i).pin_this_thread();
                        }
                        barrier.wait();
                        let start = *start.get().expect("set before the barrier opens");
                        let work = worker::Work {
                            addr: plan.target.addr,
                            requests,
                            // Each thread draws its own random sequence.
                            order: match plan.order {
                                TargetOrder::Random { seed } => TargetOrder::Random {
                                    seed: seed.wrapping_add(i as u64),
                                },
                                order => order,
                            },
                            first: first(i),
                            live,
                            connections: share(plan.connections as u64, i) as usize,
                            // An HTTP/2 connection's requests in flight are its streams.
                            pipeline: plan.http2.map_or(plan.pipeline, |h2| h2.streams),
                            pacing: plan.pacing,
                            stop: plan.stop,
                            quota: match plan.stop {
                                Stop::Requests(n) => share(n, i),
                                Stop::After(_) => u64::MAX,
                            },
                            rate: match plan.pacing {
                                Pacing::Open(r) => r.get() / threads as f64,
                                Pacing::Closed => 0.0,
                            },
                            timeout: plan.timeout,
                            busy_poll: plan.busy_poll,
                            coalesce: plan.coalesce,
                            no_body: plan.expects_no_body(),
                            start,
                            warmup_end: start + plan.warmup,
                            windows: plan.windows,
                            drain: plan.drain,
                            cancel,
                            h2: plan.http2.map(|h2| worker::Http2Work {
                                requests: h2_requests,
                                windows: h2::Windows {
                                    stream: h2.stream_window,
                                    connection: h2.connection_window,
                                },
                            }),
                        };
                        match tls {
                            Some(setup) => worker::run::<tls::TlsStream>(&work, setup, poll),
                            None => worker::run::<mio::net::TcpStream>(&work, &(), poll),
                        }
                    })
                    .expect("spawning a load thread")
            })
            .collect();
        start.set(Instant::now()).expect("set once");
        wall_start = SystemTime::now();
        barrier.wait();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load thread panicked"))
            .collect::<Vec<_>>()
    });
    let cancelled = cancel.load(std::sync::atomic::Ordering::Relaxed);
    // Threads cancelled at different moments may have reached different
    // windows: only those every thread reached are reported.
    let reached = tallies.iter().map(|f| f.windows.len()).min().unwrap_or(0);
    let mut drain: Option<DrainReport> = None;
    let mut per_window: Vec<Vec<worker::Tally>> = (0..reached).map(|_| Vec::new()).collect();
    for finished in tallies {
        if let Some(d) = finished.drain {
            let sum = drain.get_or_insert_with(DrainReport::default);
            sum.elapsed = sum.elapsed.max(d.elapsed);
            sum.answered += d.answered;
            sum.lost += d.lost;
            sum.left += d.left;
        }
        for (k, tally) in finished.windows.into_iter().take(reached).enumerate() {
            per_window[k].push(tally);
        }
    }
    let window = match plan.stop {
        Stop::After(d) => d,
        Stop::Requests(_) => Duration::ZERO,
    };
    let mut reports: Vec<LoadReport> = per_window
        .into_iter()
        .enumerate()
        .map(|(k, tallies)| {
            worker::merge(
                tallies,
                cancelled,
                wall_start + plan.warmup + window * k as u32,
            )
        })
        .collect();
    if let Some(last) = reports.last_mut() {
        last.drain = drain;
    }
    Ok(reports)
}
