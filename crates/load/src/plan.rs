//! What a load is: validated once, with the modes as enums, so the engine
//! never meets an invalid combination.

use std::fmt;
use std::time::Duration;

use framewut_sys::CpuSet;

use crate::{Target, TlsOptions};

/// Requests per second, as a total over all connections. Always positive.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// A rate in requests per second; `None` unless positive and finite.
    pub fn per_second(value: f64) -> Option<Rate> {
        (value.is_finite() && value > 0.0).then_some(Rate(value))
    }

    /// The rate in requests per second.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} req/s", self.0)
    }
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// As fast as responses come back: each connection sends its next request
    /// when the previous answer is in (wrk).
    Closed,
    /// A fixed total rate on a schedule that does not wait for the server
    /// (wrk2). Latency runs from each request's *intended* send time, so a
    /// stalled server shows in the tail instead of slowing the schedule down.
    Open(Rate),
}

/// When the measured phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long.
    After(Duration),
    /// After exactly this many requests have been sent and settled (answered
    /// or failed). Every attempt counts: a request that fails uses up one.
    Requests(u64),
}

/// The request every connection sends, serialised once before the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: String,
    /// Extra headers, in order. `Host` and `Content-Length` are added unless given.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Default for RequestSpec {
    fn default() -> Self {
        RequestSpec {
            method: "GET".to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Deepest pipeline accepted: far past what any server gains from, and it
/// keeps the queued copies of the request (one set per thread) small.
pub const MAX_PIPELINE: usize = 1024;
/// Most concurrent streams asked of one HTTP/2 connection: far past the
/// 100 to 250 servers advertise, so a limit of the server's always shows.
pub const MAX_STREAMS: usize = 4096;
/// The windows an HTTP/2 load grants by default, per stream and for the
/// connection: 2^30 - 1 bytes, as h2load's and oha's, so a server is never
/// held up by the client's flow control.
pub const DEFAULT_H2_WINDOW: u32 = (1 << 30) - 1;

/// An HTTP/2 load: its streams and the flow-control windows it grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2 {
    /// Concurrent streams per connection (h2load's `-m`): the requests in
    /// flight on each. Past the server's SETTINGS_MAX_CONCURRENT_STREAMS the
    /// rest wait on the client for a stream to end, and are counted as waiting.
    pub streams: usize,
    /// Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE).
    pub stream_window: u32,
    /// The connection's receive window.
    pub connection_window: u32,
}

impl Default for Http2 {
    fn default() -> Http2 {
        Http2 {
            streams: 1,
            stream_window: DEFAULT_H2_WINDOW,
            connection_window: DEFAULT_H2_WINDOW,
        }
    }
}

/// Most threads accepted: each runs its own event loop, and more of them
/// than a machine has CPUs only measure the scheduler.
pub const MAX_THREADS: usize = 1024;
/// Slowest open-loop rate accepted, requests per second: one request every
/// 1,000 s, so the schedule's intervals stay far inside what a `Duration` holds.
pub const MIN_RATE: f64 = 1e-3;
/// Fastest open-loop rate accepted, requests per second.
pub const MAX_RATE: f64 = 1e9;

/// A whole load, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub target: Target,
    pub request: RequestSpec,
    /// Connections kept open, spread over the threads.
    pub connections: usize,
    /// Threads, each with its own event loop.
    pub threads: usize,
    pub pacing: Pacing,
    pub stop: Stop,
    /// Load applied before the measured phase and not counted.
    pub warmup: Duration,
    /// A request unanswered this long is counted as a timeout and its connection replaced.
    pub timeout: Duration,
    /// Requests in flight per connection (HTTP/1.1 pipelining); 1 means none.
    pub pipeline: usize,
    /// Speak HTTP/2 rather than HTTP/1.1: h2c with prior knowledge for an
    /// `http://` target, h2 chosen by ALPN for an `https://` one.
    pub http2: Option<Http2>,
    /// CPUs the engine's threads are pinned to, one CPU per thread, dealt
    /// round-robin; `None` leaves them where the OS puts them.
    pub cpus: Option<CpuSet>,
    /// HTTPS only: whom to trust and whether to resume sessions.
    pub tls: TlsOptions,
    // A list of requests (`framewut load --targets`).
    /// Requests sent instead of `target`'s path with `request` when not
    /// empty, all to `target`'s address and `Host`: a connection serves any
    /// of them. Empty for a single-URL load.
    pub targets: Vec<TargetRequest>,
    /// How each request picks its entry of `targets`.
    pub order: TargetOrder,
    /// How long a thread with nothing to do keeps polling before it sleeps;
    /// zero sleeps at once. On loopback the server's CPU pays for waking a
    /// sleeping generator, so polling a little spares the server that work
    /// at the cost of the generator's own CPU.
    pub busy_poll: Duration,
    /// How long a thread that has just read something waits before it
    /// looks again, so that answers arriving close together are read in
    /// one wake-up; zero looks at once. Each answer is read up to this
    /// late, and its latency includes that. On loopback every wake-up of a
    /// sleeping generator costs the server's CPU, and a server whose
    /// answers come one at a time wakes it once per answer.
    pub coalesce: Duration,
    /// Measured windows, back to back after the one warm-up, each as long
    /// as [`Stop::After`] says: one load whose windows are reported apart
    /// ([`run_windows`](crate::run_windows)), so no window starts cold or
    /// inherits requests another load abandoned. 1 for a single window.
    pub windows: u32,
    /// After the last window, how long to wait for the requests already
    /// sent before closing their connections; `None` closes them at once.
    /// A server that does not notice a closed connection (gunicorn's sync
    /// worker, meinheld, gevent) still computes the answers to requests
    /// left in flight, so a load followed by another on the same server
    /// drains first, and the next load starts on a server with no work left.
    pub drain: Option<Duration>,
}

/// One entry of a request list: a path on the plan's host, and its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRequest {
    /// The URL as written, to name the entry in reports.
    pub url: String,
    /// Path and query, at least `/`.
    pub path: String,
    pub request: RequestSpec,
}

/// How the requests of a list take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetOrder {
    /// One cycle through the list per engine thread, shared by its
    /// connections: each request a thread sends takes the next entry, so the
    /// entries share the load evenly whatever the server answers. Threads
    /// start their cycles where the ones before them leave off, so a count of
    /// requests divisible by the list's length sends each entry equally often
    /// (when no warm-up request or failed connect takes a turn too).
    #[default]
    RoundRobin,
    /// One cycle per connection, from the first entry: every connection
    /// sends the list in its order, again and again, as a scripted client
    /// session would.
    Sequential,
    /// Each request takes an entry at random, uniformly, from a fast PRNG
    /// (xorshift64*) seeded with this value plus the thread's number, so a
    /// run with one thread repeats its sequence exactly.
    Random { seed: u64 },
}

/// A plan that cannot run, and why. The messages say what is wrong with the
/// values, not which flag or key to change: a caller that knows where the
/// values came from (command-line flags, a matrix file) words that advice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("0 connections: a load needs at least one")]
    NoConnections,
    #[error("0 threads: a load needs at least one")]
    NoThreads,
    #[error(
        "{threads} threads for {connections} connections: each thread needs at least one \
         connection, so use at most {connections} threads or more connections"
    )]
    MoreThreadsThanConnections { threads: usize, connections: usize },
    #[error("a pipeline depth of 0: the depth is the requests in flight per connection, 1 for no pipelining")]
    NoPipelineDepth,
    #[error("a timeout of 0: a request needs a positive time to be answered")]
    NoTimeout,
    #[error("a duration of 0: the measured phase needs a positive length")]
    NoDuration,
    #[error("0 requests: the measured phase needs at least one")]
    NoRequests,
    #[error("a pipeline depth of {depth}: the deepest is {MAX_PIPELINE}")]
    PipelineTooDeep { depth: usize },
    #[error("{threads} threads: the most is {MAX_THREADS}, and more than the CPUs only measure the scheduler")]
    TooManyThreads { threads: usize },
    /// The rate as given, in requests per second (as text, so the error stays `Eq`).
    #[error("a rate of {rate} req/s: give between {MIN_RATE} and {MAX_RATE} requests per second")]
    RateOutOfRange { rate: String },
    #[error(
        "the method {method:?} is not an HTTP method: a method is one token of letters, digits \
         and !#$%&'*+-.^_`|~ (RFC 9110), e.g. GET or POST, and is sent as written"
    )]
    BadMethod { method: String },
    #[error(
        "the header name {name:?} is not a token: a name has letters, digits and \
         !#$%&'*+-.^_`|~ only (RFC 9110), e.g. X-Request-Id"
    )]
    BadHeaderName { name: String },
    #[error(
        "the value of header {name:?} has a control character (CR, LF or another): a header \
         value is one line of text"
    )]
    BadHeaderValue { name: String },
    #[error(
        "a Content-Length of {given:?} for a body of {body} bytes: the length is computed from \
         the body, so leave the header out or make it {body}"
    )]
    LengthDisagrees { given: String, body: usize },
    #[error(
        "a Transfer-Encoding header: the body is sent whole with a Content-Length computed from \
         it, so a transfer coding would disagree with it; leave the header out"
    )]
    TransferEncodingGiven,
    // Request lists (`--targets`).
    /// One entry of the request list is refused (`index` counts from 0).
    #[error("request {} of the list ({url}): {error}", .index + 1)]
    InTarget {
        index: usize,
        url: String,
        error: Box<PlanError>,
    },
    #[error(
        "a request list that mixes HEAD with other methods: a HEAD answer has no body whatever \
         its headers say, and a connection reads its answers by one rule; load the HEAD \
         requests in a list of their own"
    )]
    MixedHead,
    #[error("0 streams per connection: an HTTP/2 load needs at least one")]
    NoStreams,
    #[error("{streams} streams per connection: the most is {MAX_STREAMS}")]
    TooManyStreams { streams: usize },
    #[error(
        "a pipeline depth of {depth} over HTTP/2: HTTP/2 has no pipelining, its connections \
         carry concurrent streams instead; ask for streams"
    )]
    PipelineOverHttp2 { depth: usize },
    #[error(
        "an HTTP/2 {which} window of {size} bytes: give between {min} and 2^31-1 (2147483647)"
    )]
    BadWindow {
        which: &'static str,
        size: u32,
        min: u32,
    },
    #[error("0 windows: a load measures at least one")]
    NoWindows,
    #[error(
        "{windows} windows of a count of requests: windows are lengths of time, so give the \
         load a duration"
    )]
    WindowsOfACount { windows: u32 },
}

impl LoadPlan {
    /// A plan with wrk's defaults: 10 connections, 2 threads, closed loop,
    /// 10 seconds, 2 s timeout, no warm-up, no pipelining; for HTTPS, the
    /// system's CAs and no session resumption.
    pub fn new(target: Target) -> LoadPlan {
        LoadPlan {
            target,
            request: RequestSpec::default(),
            connections: 10,
            threads: 2,
            pacing: Pacing::Closed,
            stop: Stop::After(Duration::from_secs(10)),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(2),
            pipeline: 1,
            http2: None,
            cpus: None,
            tls: TlsOptions::default(),
            targets: Vec::new(),
            order: TargetOrder::RoundRobin,
            busy_poll: Duration::ZERO,
            coalesce: Duration::ZERO,
            windows: 1,
            drain: None,
        }
    }

    /// Checks the combinations no type rules out.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.connections == 0 {
            return Err(PlanError::NoConnections);
        }
        if self.threads == 0 {
            return Err(PlanError::NoThreads);
        }
        if self.threads > self.connections {
            return Err(PlanError::MoreThreadsThanConnections {
                threads: self.threads,
                connections: self.connections,
            });
        }
        if self.threads > MAX_THREADS {
            return Err(PlanError::TooManyThreads {
                threads: self.threads,
            });
        }
        if self.pipeline == 0 {
            return Err(PlanError::NoPipelineDepth);
        }
        if self.pipeline > MAX_PIPELINE {
            return Err(PlanError::PipelineTooDeep {
                depth: self.pipeline,
            });
        }
        if let Some(h2) = self.http2 {
            h2.validate(self.pipeline)?;
        }
        if let Pacing::Open(r) = self.pacing {
            if !(MIN_RATE..=MAX_RATE).contains(&r.get()) {
                return Err(PlanError::RateOutOfRange {
                    rate: format!("{:e}", r.get()),
                });
            }
        }
        self.request.validate()?;
        for (index, t) in self.targets.iter().enumerate() {
            t.request.validate().map_err(|e| PlanError::InTarget {
                index,
                url: t.url.clone(),
                error: Box::new(e),
            })?;
        }
        let heads = self
            .targets
            .iter()
            .filter(|t| t.request.method == "HEAD")
            .count();
        if heads != 0 && heads != self.targets.len() {
            return Err(PlanError::MixedHead);
        }
        if self.timeout.is_zero() {
            return Err(PlanError::NoTimeout);
        }
        match (self.windows, self.stop) {
            (0, _) => return Err(PlanError::NoWindows),
            (windows @ 2.., Stop::Requests(_)) => {
                return Err(PlanError::WindowsOfACount { windows })
            }
            _ => {}
        }
        match self.stop {
            Stop::After(d) if d.is_zero() => Err(PlanError::NoDuration),
            Stop::Requests(0) => Err(PlanError::NoRequests),
            _ => Ok(()),
        }
    }

    /// The request bytes exactly as they go on the wire (the first of a list).
    pub fn request_bytes(&self) -> Vec<u8> {
        self.all_request_bytes().swap_remove(0)
    }

    /// Every request of the load, each serialised once: the single request,
    /// or each entry of `targets` in order.
    pub fn all_request_bytes(&self) -> Vec<Vec<u8>> {
        if self.targets.is_empty() {
            return vec![serialise(
                &self.target.path,
                &self.target.host_header,
                &self.request,
            )];
        }
        self.targets
            .iter()
            .map(|t| serialise(&t.path, &self.target.host_header, &t.request))
            .collect()
    }

    /// Whether the method's responses carry no body (HEAD; methods are
    /// case-sensitive, so `head` is some other method). A list is all HEAD
    /// or none (validated).
    /// Every request of the load as HTTP/2 encodes it (see
    /// [`all_request_bytes`](Self::all_request_bytes)).
    pub(crate) fn all_h2_requests(&self) -> Vec<crate::h2::Encoded> {
        fn request<'a>(path: &'a str, r: &'a RequestSpec) -> crate::h2::Request<'a> {
            crate::h2::Request {
                method: &r.method,
                path,
                headers: &r.headers,
                body: &r.body,
            }
        }
        let requests: Vec<crate::h2::Request> = match self.targets.is_empty() {
            true => vec![request(&self.target.path, &self.request)],
            false => self
                .targets
                .iter()
                .map(|t| request(&t.path, &t.request))
                .collect(),
        };
        crate::h2::encode(&requests, self.target.https, &self.target.host_header)
    }

    pub(crate) fn expects_no_body(&self) -> bool {
        match self.targets.first() {
            Some(t) => t.request.method == "HEAD",
            None => self.request.method == "HEAD",
        }
    }
}

impl Http2 {
    fn validate(&self, pipeline: usize) -> Result<(), PlanError> {
        if self.streams == 0 {
            return Err(PlanError::NoStreams);
        }
        if self.streams > MAX_STREAMS {
            return Err(PlanError::TooManyStreams {
                streams: self.streams,
            });
        }
        if pipeline != 1 {
            return Err(PlanError::PipelineOverHttp2 { depth: pipeline });
        }
        let max = crate::h2::frame::MAX_WINDOW;
        // A stream window may be as small as the server likes to be held
        // to; the connection's only grows from its initial 65,535.
        for (which, size, min) in [
            ("stream", self.stream_window, 1),
            (
                "connection",
                self.connection_window,
                crate::h2::frame::DEFAULT_WINDOW,
            ),
        ] {
            if !(min..=max).contains(&size) {
                return Err(PlanError::BadWindow { which, size, min });
            }
        }
        Ok(())
    }
}

fn serialise(path: &str, host: &str, r: &RequestSpec) -> Vec<u8> {
    let has = |name: &str| r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut out = format!("{} {} HTTP/1.1\r\n", r.method, path);
    if !has("host") {
        out.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !r.body.is_empty() && !has("content-length") {
        out.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&r.body);
    bytes
}

impl RequestSpec {
    /// Refuses anything that would put a malformed request on the wire: a
    /// method or header name that is not a token, a header value that would
    /// break the line, or framing headers that disagree with the body.
    pub fn validate(&self) -> Result<(), PlanError> {
        if !is_token(&self.method) {
            return Err(PlanError::BadMethod {
                method: self.method.clone(),
            });
        }
        for (name, value) in &self.headers {
            if !is_token(name) {
                return Err(PlanError::BadHeaderName { name: name.clone() });
            }
            // RFC 9110 section 5.5: visible characters, spaces and tabs, and
            // bytes past ASCII; no other control character.
            if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err(PlanError::BadHeaderValue { name: name.clone() });
            }
            if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(PlanError::TransferEncodingGiven);
            }
            if name.eq_ignore_ascii_case("content-length")
                && value.trim().parse::<usize>().ok() != Some(self.body.len())
            {
                return Err(PlanError::LengthDisagrees {
                    given: value.clone(),
                    body: self.body.len(),
                });
            }
        }
        Ok(())
    }
}

/// Whether `text` is an RFC 9110 token: one or more tchars.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LoadPlan {
        LoadPlan::new(Target::parse("http://127.0.0.1:8080/x").unwrap())
    }

    #[test]
    fn serialises_the_request_once_with_host_and_length() {
        let mut p = plan();
        p.request.method = "POST".into();
        p.request.body = b"abc".to_vec();
        p.request.headers.push(("X-A".into(), "1".into()));
        assert_eq!(
            String::from_utf8(p.request_bytes()).unwrap(),
            "POST /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc"
        );
    }

    #[test]
    fn refuses_impossible_plans_naming_the_values() {
        let mut p = plan();
        p.connections = 0;
        assert_eq!(p.validate(), Err(PlanError::NoConnections));
        let mut p = plan();
        p.threads = 20;
        let err = p.validate().unwrap_err();
        assert_eq!(
            err,
            PlanError::MoreThreadsThanConnections {
                threads: 20,
                connections: 10
            }
        );
        assert!(
            err.to_string().starts_with("20 threads for 10 connections"),
            "{err}"
        );
        assert!(!err.to_string().contains("-t"), "no flag advice: {err}");
        assert!(Rate::per_second(0.0).is_none());
        let mut p = plan();
        p.stop = Stop::After(Duration::ZERO);
        assert_eq!(p.validate(), Err(PlanError::NoDuration));
        let mut p = plan();
        p.stop = Stop::Requests(0);
        assert_eq!(p.validate(), Err(PlanError::NoRequests));
        assert_eq!(plan().validate(), Ok(()));
    }

    #[test]
    fn refuses_requests_that_would_be_malformed_on_the_wire() {
        let with = |f: &dyn Fn(&mut RequestSpec)| {
            let mut p = plan();
            f(&mut p.request);
            p.validate()
        };
        for method in ["", "G ET", "GET /x HTTP/1.1\r\nX: y", "GÉT"] {
            assert_eq!(
                with(&|r| r.method = method.into()),
                Err(PlanError::BadMethod {
                    method: method.into()
                })
            );
        }
        assert_eq!(with(&|r| r.method = "purge".into()), Ok(()));
        let mut p = plan();
        p.request.method = "purge".into();
        assert!(
            p.request_bytes().starts_with(b"purge /x HTTP/1.1\r\n"),
            "the method is sent as written"
        );
        let mut p = plan();
        p.request.method = "head".into();
        assert!(!p.expects_no_body(), "methods are case-sensitive");
        p.request.method = "HEAD".into();
        assert!(p.expects_no_body());
        assert!(matches!(
            with(&|r| r.headers.push(("X A".into(), "1".into()))),
            Err(PlanError::BadHeaderName { .. })
        ));
        assert!(matches!(
            with(&|r| r
                .headers
                .push(("X-A".into(), "1\r\nX-Injected: yes".into()))),
            Err(PlanError::BadHeaderValue { .. })
        ));
        assert_eq!(
            with(&|r| r.headers.push(("X-A".into(), "a\tb".into()))),
            Ok(())
        );
        assert_eq!(
            with(&|r| r.headers.push(("Content-Length".into(), "100".into()))),
            Err(PlanError::LengthDisagrees {
                given: "100".into(),
                body: 0
            })
        );
        assert_eq!(
            with(&|r| {
                r.body = b"abc".to_vec();
                r.headers.push(("content-length".into(), "3".into()));
            }),
            Ok(())
        );
        assert_eq!(
            with(&|r| {
                r.body = b"x".to_vec();
                r.headers
                    .push(("Transfer-Encoding".into(), "chunked".into()));
            }),
            Err(PlanError::TransferEncodingGiven)
        );
    }

    #[test]
    fn bounds_the_pipeline_the_threads_and_the_rate() {
        let mut p = plan();
        p.pipeline = MAX_PIPELINE + 1;
        assert_eq!(
            p.validate(),
            Err(PlanError::PipelineTooDeep {
                depth: MAX_PIPELINE + 1
            })
        );
        p.pipeline = MAX_PIPELINE;
        assert_eq!(p.validate(), Ok(()));
        let mut p = plan();
        p.connections = 5000;
        p.threads = MAX_THREADS + 1;
        assert!(matches!(
            p.validate(),
            Err(PlanError::TooManyThreads { .. })
        ));
        for rate in [1e-19, MAX_RATE * 2.0] {
            let mut p = plan();
            p.pacing = Pacing::Open(Rate::per_second(rate).unwrap());
            assert_eq!(
                p.validate(),
                Err(PlanError::RateOutOfRange {
                    rate: format!("{rate:e}")
                })
            );
        }
    }
}
