//! `framewut load URL`: wrk's flags, wrk's output, and a documented JSON
//! result (`docs/load.schema.json`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use framewut_load::{
    parse_duration, CpuSet, Http2, LoadPlan, Pacing, PlanError, Rate, RequestSpec, Segment,
    SegmentSummary, Stop, Summary, Target, TargetOrder, Threshold, TlsError, TlsOptions, Trust,
    MAX_PIPELINE, MAX_RATE, MAX_STREAMS, MAX_THREADS, MIN_RATE,
};

use crate::{exit, signals};

mod text;
use text::spectrum;
pub use text::{header, render};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    framewut load http://127.0.0.1:8080/hello -t1 -c64 -d10s\n  \
    framewut load http://127.0.0.1:8080/hello --rate 2000 -d30s       (open loop, like wrk2)\n  \
    framewut load http://127.0.0.1:8080/hello --requests 10000 --json\n  \
    framewut load http://10.0.0.5:8080/hello -c 256 -d 30s --segment 0/4 --start-at 2026-11-29T12:00:00Z --json\n    \
    (agent 0 of 4; run 1/4, 2/4 and 3/4 with the same flags elsewhere, then `framewut merge`)\n\n\
    framewut load https://localhost:8443/hello --cacert ca.pem        (HTTPS, trusting that CA)\n\n\
    framewut load --targets targets.txt --threshold 'p99<50ms' --threshold 'errors<1%'\n\n\
    A targets file (vegeta's format): a line METHOD URL, its header lines Name: value, an\n\
    optional @body-file line (relative to the file); a blank line between requests; # comments.\n\
    Every URL is on one scheme://host:port. --targets - reads it from standard input.\n\n\
    Exit status:\n  \
    0    the load ran, at least one request succeeded (2xx or 3xx) and no --threshold was crossed\n  \
    1    bad input (a value out of range, a malformed method or header), or the load could not start\n  \
    2    a flag or value that does not parse at all\n  \
    3    the load ran but no request succeeded: every one failed or got an error status\n  \
    4    the load ran, but a --threshold was crossed (each is reported held or crossed)\n  \
    130  interrupted (Ctrl-C); the figures up to the interruption are still printed")]
pub struct LoadArgs {
    /// The URL to load, as http://HOST:PORT/PATH or https://HOST:PORT/PATH
    /// (port 80 or 443 when left out). Left out with --targets.
    #[arg(required_unless_present = "targets")]
    pub url: Option<String>,
    /// Connections to keep open.
    #[arg(short = 'c', long, default_value_t = 10)]
    pub connections: usize,
    /// Threads, each with its own event loop [default: 2, or the
    /// connections when fewer: one connection means one thread].
    #[arg(short = 't', long)]
    pub threads: Option<usize>,
    /// How long to measure, e.g. 10s, 500ms, 2m.
    #[arg(short = 'd', long, default_value = "10s", value_parser = duration_arg, conflicts_with = "requests")]
    pub duration: Duration,
    /// Stop after exactly this many requests instead of after a duration.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Open loop: send at this total rate (requests per second) whatever the
    /// server does, and measure latency from each request's intended send time.
    #[arg(short = 'R', long, value_parser = rate_arg)]
    pub rate: Option<Rate>,
    /// Load for this long first, without counting it.
    #[arg(long, default_value = "0s", value_parser = duration_arg)]
    pub warmup: Duration,
    /// A request unanswered this long counts as a timeout.
    #[arg(long, default_value = "2s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Requests in flight per connection (HTTP/1.1 pipelining); 1 means none, at most 1024.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Speak HTTP/2: h2c (prior knowledge, no upgrade) to an http:// URL, h2 chosen by ALPN over
    /// https://. A server that cannot is told apart: an HTTP/1.1 answer to the preface, or a TLS
    /// handshake that refuses h2, is counted as such.
    #[arg(long)]
    pub http2: bool,
    /// HTTP/2: concurrent streams per connection, as h2load's -m [default: 1]. The requests in
    /// flight are -c x --streams; past the server's SETTINGS_MAX_CONCURRENT_STREAMS the rest wait
    /// on the client, and the wait is reported apart from the latency.
    #[arg(long, value_name = "N", requires = "http2")]
    pub streams: Option<usize>,
    /// HTTP/2: the receive window granted to each stream, in bytes [default: 2^30-1, as
    /// h2load's]; 65535 is the protocol's initial one, a browser-like client's.
    #[arg(long, value_name = "BYTES", requires = "http2")]
    pub h2_window: Option<u32>,
    /// HTTP/2: the receive window granted to the whole connection, in bytes [default: 2^30-1].
    #[arg(long, value_name = "BYTES", requires = "http2")]
    pub h2_connection_window: Option<u32>,
    /// Poll this long (e.g. 50us, at most 1ms) before an idle thread sleeps. On loopback a
    /// sleeping generator is woken at the server's expense; polling spares the server that
    /// work, and the generator's CPU then reads as busy for the time it polled.
    #[arg(long, value_name = "DURATION", value_parser = busy_poll_arg)]
    pub busy_poll: Option<Duration>,
    /// After each wake-up that read something, wait this long (e.g. 20us, at most 1ms) before
    /// looking again, so that answers arriving close together are read together. On loopback
    /// a server that answers one at a time wakes a sleeping generator once per answer, at its
    /// own expense; coalescing spares it most of those. Each answer is read up to this late,
    /// and its latency includes that.
    #[arg(long, value_name = "DURATION", value_parser = coalesce_arg, conflicts_with = "busy_poll")]
    pub coalesce: Option<Duration>,
    /// An extra request header, "Name: value"; repeatable.
    #[arg(short = 'H', long = "header", value_parser = header_arg)]
    pub headers: Vec<(String, String)>,
    /// The request method, sent as written (methods are case-sensitive).
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,
    /// The request body.
    #[arg(long)]
    pub body: Option<String>,
    /// Also print the detailed percentile spectrum.
    #[arg(long)]
    pub latency: bool,
    /// Print the result as JSON (schema: docs/load.schema.json) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Pin the generator's threads to these CPUs, one CPU per thread in turn,
    /// e.g. 1 or 2-3 or 1,3.
    #[arg(long)]
    pub cpus: Option<CpuSet>,
    // HTTPS: whom to trust (curl's flag names) and whether sessions resume.
    /// https: trust the CAs in this PEM file (one or more certificates)
    /// instead of the system's (/etc/ssl/certs/ca-certificates.crt); a
    /// server presenting one of them as its own is trusted, as curl does.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// https: do not verify the server's certificate (as curl -k).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// https: keep a session cache, so reconnects resume their TLS session
    /// instead of a full handshake (counted as resumptions).
    #[arg(long)]
    pub tls_resume: bool,
    // Load agents: one share of a load run from several hosts at once.
    /// Run as agent I of N (0 <= I < N): take this agent's exact share of -c, --rate and
    /// --requests, so that N agents with the same flags run the whole load; -t stays per agent.
    #[arg(long, value_name = "I/N")]
    pub segment: Option<Segment>,
    /// Wait until this wall-clock time before starting (warm-up included), so that agents start
    /// together: RFC 3339 (2026-11-29T12:00:00Z, an offset allowed) or Unix seconds (fractional
    /// allowed); at most an hour ahead.
    #[arg(long, value_name = "TIME", value_parser = start_at_arg)]
    pub start_at: Option<SystemTime>,
    // Request lists, thresholds and the live view.
    /// Send the requests of this targets file (vegeta's format, see below; - reads standard
    /// input) instead of one URL. -H headers are added to every request that lacks them.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "method", "body"])]
    pub targets: Option<PathBuf>,
    /// Which request of the list each request sends: round-robin (one cycle per thread, shared by
    /// its connections: the list's requests share the load evenly), sequential (every connection
    /// sends the list in order, again and again, like a scripted session), or random (uniformly,
    /// from a PRNG seeded with --seed).
    #[arg(long, value_enum, default_value_t = Order::RoundRobin, requires = "targets")]
    pub targets_order: Order,
    /// The seed of --targets-order random: the same seed sends the same sequence.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A pass/fail threshold, repeatable: p50|p75|p90|p99|p99.9|p99.99|mean|max < or > a
    /// duration (p99<50ms), errors < a percentage or count (errors<1%, errors<10; failures and
    /// statuses outside 2xx/3xx, over every attempt), or rate > requests per second (rate>5000).
    /// Each is reported held or crossed; a crossed one makes the exit status 4.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<Threshold>,
    /// No live view: by default, with stderr on a terminal, a status block on stderr shows the
    /// run as it goes (stdout is untouched).
    #[arg(long)]
    pub no_live: bool,
}

fn start_at_arg(s: &str) -> Result<SystemTime, framewut_load::StartAtError> {
    framewut_load::parse_time(s)
}

/// `--targets-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    RoundRobin,
    Sequential,
    Random,
}

fn duration_arg(s: &str) -> Result<Duration, framewut_load::DurationError> {
    parse_duration(s)
}

/// The longest wait `--busy-poll` and `--coalesce` take: a longer poll
/// buys nothing a server would notice and keeps an idle generator's core
/// busy, and past it what a wake-up saves the server is worth less than
/// the latency every answer gains.
const MAX_WAIT: Duration = Duration::from_millis(1);

/// A wait above 0 and at most [`MAX_WAIT`]; the error gives an example and
/// says what leaving the flag out does.
fn short_wait(s: &str, example: &str, without: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > MAX_WAIT {
        return Err(format!(
            "{s}: give a time above 0 and at most 1ms, e.g. {example} (leave the flag out to {without})"
        ));
    }
    Ok(d)
}

fn busy_poll_arg(s: &str) -> Result<Duration, String> {
    short_wait(s, "50us", "sleep at once")
}

fn coalesce_arg(s: &str) -> Result<Duration, String> {
    short_wait(s, "20us", "read each answer as it comes")
}

fn rate_arg(s: &str) -> Result<Rate, String> {
    s.parse::<f64>()
        .ok()
        .and_then(Rate::per_second)
        .ok_or_else(|| {
            format!("'{s}' is not a rate: give requests per second above 0, e.g. --rate 1000")
        })
}

fn header_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!(
            "'{s}' is not a header: write it as \"Name: value\""
        )),
    }
}

impl LoadArgs {
    /// Turns the arguments into a plan the engine can run, or says what is wrong.
    pub fn plan(&self) -> anyhow::Result<LoadPlan> {
        let mut plan = match (&self.targets, &self.url) {
            (Some(path), _) => {
                let list = crate::targets::read(path)?;
                let mut plan = LoadPlan::new(list.target);
                plan.targets = list.requests;
                for entry in &mut plan.targets {
                    let own = entry.request.headers.clone();
                    entry.request.headers.extend(
                        self.headers
                            .iter()
                            .filter(|(name, _)| {
                                !own.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
                            })
                            .cloned(),
                    );
                }
                plan.order = match self.targets_order {
                    Order::RoundRobin => TargetOrder::RoundRobin,
                    Order::Sequential => TargetOrder::Sequential,
                    Order::Random => TargetOrder::Random { seed: self.seed },
                };
                plan
            }
            (None, Some(url)) => LoadPlan::new(Target::parse(url)?),
            (None, None) => anyhow::bail!(
                "no URL: give one, e.g. http://127.0.0.1:8080/hello, or --targets FILE"
            ),
        };
        let https = plan.target.https;
        if !https && (self.cacert.is_some() || self.insecure || self.tls_resume) {
            anyhow::bail!(
                "--cacert, --insecure and --tls-resume are for https:// URLs; '{}' is plain \
                 http: leave them out, or load the server's https:// URL",
                plan.target.url
            );
        }
        plan.tls = TlsOptions {
            trust: match (&self.cacert, self.insecure) {
                (Some(file), _) => Trust::CaFile(file.clone()),
                (None, true) => Trust::Insecure,
                (None, false) => Trust::System,
            },
            resume: self.tls_resume,
        };
        // Before the TLS check: it offers the ALPN protocol the load speaks.
        plan.http2 = self.http2.then(|| {
            let default = Http2::default();
            Http2 {
                streams: self.streams.unwrap_or(default.streams),
                stream_window: self.h2_window.unwrap_or(default.stream_window),
                connection_window: self
                    .h2_connection_window
                    .unwrap_or(default.connection_window),
            }
        });
        framewut_load::check_tls(&plan).map_err(|e| anyhow::anyhow!(with_tls_advice(&e)))?;
        plan.connections = self.connections;
        plan.threads = self
            .threads
            .unwrap_or_else(|| default_threads(self.connections));
        plan.stop = match self.requests {
            Some(n) => Stop::Requests(n),
            None => Stop::After(self.duration),
        };
        plan.pacing = match self.rate {
            Some(r) => Pacing::Open(r),
            None => Pacing::Closed,
        };
        plan.warmup = self.warmup;
        plan.timeout = self.timeout;
        plan.pipeline = self.pipeline;
        plan.busy_poll = self.busy_poll.unwrap_or_default();
        plan.coalesce = self.coalesce.unwrap_or_default();
        plan.cpus = self.cpus.clone();
        plan.request = RequestSpec {
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.clone().unwrap_or_default().into_bytes(),
        };
        plan.validate()
            .map_err(|e| anyhow::anyhow!(with_flag_advice(&e)))?;
        Ok(plan)
    }
}

/// A plan error as the flags that set the values would fix it.
fn with_flag_advice(error: &PlanError) -> String {
    match error {
        PlanError::NoConnections => "0 connections: give at least one with -c, e.g. -c 64".into(),
        PlanError::NoThreads => "0 threads: give at least one with -t, e.g. -t 2".into(),
        PlanError::MoreThreadsThanConnections {
            threads,
            connections,
        } => format!(
            "{threads} threads for {connections} connections: each thread needs at least one \
             connection; use -t {connections} or more connections"
        ),
        PlanError::NoPipelineDepth => {
            "a pipeline depth of 0: use --pipeline 1 for no pipelining, or e.g. --pipeline 16"
                .into()
        }
        PlanError::NoTimeout => "a timeout of 0: give a positive one, e.g. --timeout 2s".into(),
        PlanError::NoDuration => "a duration of 0: give a positive one, e.g. -d 10s".into(),
        PlanError::NoRequests => "0 requests: give at least one, e.g. --requests 1000".into(),
        PlanError::PipelineTooDeep { depth } => format!(
            "--pipeline {depth} is too deep: the deepest is {MAX_PIPELINE}; servers gain nothing \
             past a few dozen, e.g. --pipeline 16"
        ),
        PlanError::TooManyThreads { threads } => format!(
            "-t {threads} is too many threads: the most is {MAX_THREADS}; use about one per free \
             CPU, e.g. -t 2"
        ),
        PlanError::RateOutOfRange { rate } => format!(
            "--rate {rate} is out of range: give between {MIN_RATE} and {MAX_RATE} requests per \
             second, e.g. --rate 1000"
        ),
        PlanError::BadMethod { method } => format!(
            "-m {method:?} is not an HTTP method: give one token of letters, digits and \
             !#$%&'*+-.^_`|~, e.g. -m GET or -m POST (sent as written)"
        ),
        PlanError::BadHeaderName { name } => format!(
            "-H {name:?}: a header name has letters, digits and !#$%&'*+-.^_`|~ only, \
             e.g. -H 'X-Request-Id: 1'"
        ),
        PlanError::BadHeaderValue { name } => format!(
            "-H {name:?}: the value has a control character (CR, LF or another); give a header's \
             value on one line, and each header with its own -H"
        ),
        PlanError::LengthDisagrees { given, body } => format!(
            "-H 'Content-Length: {given}' disagrees with the {body}-byte --body: leave it out, \
             framewut computes it from the body"
        ),
        PlanError::TransferEncodingGiven => {
            "-H 'Transfer-Encoding: ...' is refused: framewut sends --body whole with a \
             Content-Length computed from it; leave the header out"
                .into()
        }
        PlanError::InTarget { error, .. } => {
            format!("{error} (with the -H headers added to the --targets list)")
        }
        PlanError::MixedHead => format!("--targets: {error}"),
        PlanError::NoStreams => {
            "--streams 0: an HTTP/2 connection needs at least one, e.g. --streams 16".into()
        }
        PlanError::TooManyStreams { streams } => format!(
            "--streams {streams} is too many: the most is {MAX_STREAMS}; servers allow 100 to 250 \
             at once, e.g. --streams 16"
        ),
        PlanError::PipelineOverHttp2 { depth } => format!(
            "--pipeline {depth} with --http2: HTTP/2 has no pipelining; its connections carry \
             concurrent streams instead, e.g. --streams {depth}"
        ),
        PlanError::BadWindow { which, size, min } => format!(
            "--{flag} {size}: give between {min} and 2147483647 (2^31-1) bytes",
            flag = match *which {
                "stream" => "h2-window",
                _ => "h2-connection-window",
            }
        ),
        // The command line sets no windows: these come from a caller's own plan.
        PlanError::NoWindows | PlanError::WindowsOfACount { .. } => error.to_string(),
    }
}

/// A TLS set-up or first-handshake failure as one sentence: its cause,
/// then the flag or the change that gets past it.
fn with_tls_advice(error: &TlsError) -> String {
    use framewut_load::{
        BAD_NAME, CA_AS_SERVER, CLOSED_IN_HANDSHAKE, EXPIRED, HANDSHAKE_TIMEOUT, NOT_TLS,
        NOT_YET_VALID, UNKNOWN_CA,
    };
    let TlsError::Handshake { addr, reason } = error else {
        let advice = match error {
            TlsError::NoSystemRoots { .. } => {
                "give the server's CA with --cacert FILE, skip verification with --insecure, or \
                 install Debian's ca-certificates package"
            }
            TlsError::BadServerName { .. } => "load the server by an IP address or a DNS name",
            _ => {
                "give --cacert the PEM file of the CA that signed the server's certificate, or \
                  the server's certificate itself"
            }
        };
        return format!("{error}; {advice}");
    };
    let skip = "or skip verification with --insecure";
    match reason.as_str() {
        UNKNOWN_CA => format!(
            "the certificate {addr} presented is signed by no CA framewut trusts: give that CA's \
             certificate, or the server's own, with --cacert FILE, {skip}"
        ),
        BAD_NAME => format!(
            "the certificate {addr} presented does not name the URL's host: load the server by a \
             name its certificate has, {skip}"
        ),
        EXPIRED => format!(
            "the certificate {addr} presented has expired: renew it (or set this machine's clock \
             right, if it is wrong), {skip}"
        ),
        NOT_YET_VALID => format!(
            "the certificate {addr} presented is not valid yet: check this machine's clock and the \
             certificate's dates, {skip}"
        ),
        CA_AS_SERVER => format!(
            "{addr} presented a CA certificate (CA:TRUE) as its own: give that very certificate \
             with --cacert FILE, which trusts it as the server's (as curl does), {skip}"
        ),
        NOT_TLS => format!(
            "{addr} did not answer the TLS handshake in TLS: if it serves plain HTTP, load its \
             http:// URL; if not, check the port"
        ),
        HANDSHAKE_TIMEOUT => format!(
            "{addr} accepted the connection but did not complete a TLS handshake within \
             --timeout: does it speak TLS on this port?"
        ),
        CLOSED_IN_HANDSHAKE => format!(
            "{addr} closed the connection during the TLS handshake: does it speak TLS on this \
             port, and TLS 1.2 or 1.3?"
        ),
        other => format!(
            "the TLS handshake with {addr} failed ({other}): does the server speak TLS on this \
             port?"
        ),
    }
}

/// `-t`'s default where the connections allow it.
pub const DEFAULT_THREADS: usize = 2;

/// The threads a load of `connections` runs on when `-t` is not given:
/// [`DEFAULT_THREADS`], or fewer where there are fewer connections (one
/// connection, one thread).
fn default_threads(connections: usize) -> usize {
    DEFAULT_THREADS.min(connections.max(1))
}

pub fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let whole = args.plan()?;
    let plan = match args.segment {
        Some(segment) => segment_plan(segment, &whole)?,
        None => whole.clone(),
    };
    if let Some(at) = args.start_at {
        // A start time already passed or far off is refused before anything is printed.
        framewut_load::wait_until(at, SystemTime::now())?;
    }
    plan.target.probe(plan.timeout)?;
    framewut_load::probe_tls(&plan).map_err(|e| anyhow::anyhow!(with_tls_advice(&e)))?;
    if !args.json {
        crate::outln!("{}", header(&plan))?;
    }
    if let Some(at) = args.start_at {
        if !wait_for_start(at, args.json)? {
            eprintln!("framewut: interrupted before the start time; nothing was loaded");
            return Ok(ExitCode::from(exit::INTERRUPTED));
        }
    }
    let report = if !args.no_live && framewut_sys::stderr_is_terminal() {
        let live = framewut_load::Live::new(plan.threads);
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let view = scope.spawn(|| crate::live::show(&plan, &live, &done));
            let report = framewut_load::run_watched(&plan, signals::stop_flag(), Some(&live));
            done.store(true, Ordering::Relaxed);
            view.join().expect("the live view panicked");
            report
        })
    } else {
        framewut_load::run_until(&plan, signals::stop_flag())
    }
    .context("the load could not start")?;
    let mut summary = Summary::of(&plan, &report);
    summary.thresholds = args.thresholds.iter().map(|t| t.check(&summary)).collect();
    summary.segment = args.segment.map(|segment| SegmentSummary {
        index: segment.index(),
        count: segment.count(),
        whole_connections: whole.connections,
        whole_rate: match whole.pacing {
            Pacing::Open(r) => Some(r.get()),
            Pacing::Closed => None,
        },
        whole_stop_requests: match whole.stop {
            Stop::Requests(n) => Some(n),
            Stop::After(_) => None,
        },
    });
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        crate::out!("{}", render(&summary))?;
        if let Some(h) = report.latency_uncorrected.as_ref().filter(|_| args.latency) {
            crate::out!("{}", spectrum("Uncorrected latency spectrum", h))?;
        }
        if args.latency {
            crate::out!("{}", spectrum("Latency spectrum", &report.latency))?;
        }
    }
    Ok(if summary.cancelled {
        ExitCode::from(exit::INTERRUPTED)
    } else {
        verdict(&summary)
    })
}

/// The exit status of a load that ran to its end (or of a merge of agents'
/// loads), saying on stderr why when it is not 0: nothing succeeded (3),
/// or a threshold was crossed (4).
pub fn verdict(summary: &Summary) -> ExitCode {
    let crossed = summary.thresholds.iter().filter(|t| !t.held).count();
    if summary.requests == 0 {
        eprintln!(
            "framewut: no request succeeded: none got a 2xx or 3xx answer in the measured phase \
             (exit status {})",
            exit::NOTHING_SUCCEEDED
        );
        ExitCode::from(exit::NOTHING_SUCCEEDED)
    } else if crossed > 0 {
        eprintln!(
            "framewut: {crossed} of {} thresholds crossed (exit status {})",
            summary.thresholds.len(),
            exit::THRESHOLD_CROSSED
        );
        ExitCode::from(exit::THRESHOLD_CROSSED)
    } else {
        ExitCode::SUCCESS
    }
}

/// This agent's share of the whole load, saying on stderr when it runs fewer
/// threads than asked because it has fewer connections.
fn segment_plan(segment: Segment, whole: &LoadPlan) -> anyhow::Result<LoadPlan> {
    let plan = segment.share_plan(whole)?;
    if plan.threads < whole.threads {
        eprintln!(
            "framewut: segment {segment} has {} of the {} connections, so it runs {} {}, not {} \
             (each thread needs a connection)",
            plan.connections,
            whole.connections,
            plan.threads,
            if plan.threads == 1 {
                "thread"
            } else {
                "threads"
            },
            whole.threads
        );
    }
    Ok(plan)
}

/// Sleeps until `at` (a start time in the past by up to a second starts at
/// once); false if interrupted first.
fn wait_for_start(at: SystemTime, quiet: bool) -> anyhow::Result<bool> {
    let wait = framewut_load::wait_until(at, SystemTime::now())?;
    if !quiet {
        crate::outln!(
            "  waiting {:.1}s for the start time {}",
            wait.as_secs_f64(),
            framewut_load::rfc3339(at)
        )?;
    }
    let stop = signals::stop_flag();
    let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
    // Short naps, so Ctrl-C is answered at once and the start is not overslept.
    while let Ok(left) = at.duration_since(SystemTime::now()) {
        if stopped() {
            return Ok(false);
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
    Ok(!stopped())
}
