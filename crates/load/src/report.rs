//! What a load measured: counts, errors by kind, latency histograms, a
//! per-second timeline, and the generator's own CPU time.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use framewut_sys::CpuTime;
use hdrhistogram::serialization::{
    DeserializeError, Deserializer, Serializer, V2DeflateSerializer,
};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency a histogram holds: one hour, in microseconds.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant bounds are valid")
}

/// Significant digits of a request-list entry's latency histogram: two
/// (1% resolution) keep a long list's histograms small, one per entry and thread.
const TARGET_DIGITS: u8 = 2;

/// What one entry of a request list measured.
#[derive(Debug, Clone)]
pub struct TargetTally {
    /// Responses by status class: 1xx (but 101, an upgrade failure), 2xx,
    /// 3xx, 4xx, 5xx; anything else in the last.
    pub classes: [u64; 6],
    /// Requests that got no answer: read, write, timeout, parse and upgrade
    /// failures, and those unfinished at the end (connect failures precede
    /// any request, so no entry owns them).
    pub failed: u64,
    /// Latency of every answer, in microseconds, 2 significant digits; it
    /// grows to the largest value seen (allocating only then, a few times a
    /// run), so a long list's histograms stay as small as its latencies allow.
    pub latency: Histogram<u64>,
}

impl Default for TargetTally {
    fn default() -> TargetTally {
        let mut latency = Histogram::new(TARGET_DIGITS).expect("a valid precision");
        latency.auto(true);
        TargetTally {
            classes: [0; 6],
            failed: 0,
            latency,
        }
    }
}

impl TargetTally {
    /// Counts one answer with its status and latency.
    pub(crate) fn answered(&mut self, status: u16, latency_us: u64) {
        let class = match status / 100 {
            c @ 1..=5 => c as usize - 1,
            _ => 5,
        };
        self.classes[class] += 1;
        // `record`, not `saturating_record`: saturating clamps to the current
        // size instead of growing.
        self.latency
            .record(latency_us.min(MAX_LATENCY_US))
            .expect("an auto-resizing histogram grows to an hour of microseconds");
    }

    /// Adds another thread's counts for the same entry.
    pub(crate) fn merge(&mut self, other: &TargetTally) {
        for (sum, n) in self.classes.iter_mut().zip(other.classes) {
            *sum += n;
        }
        self.failed += other.failed;
        self.latency
            .add(&other.latency)
            .expect("an auto-resizing histogram takes any values");
    }

    /// Answers of any status.
    pub fn responses(&self) -> u64 {
        self.classes.iter().sum()
    }

    /// Answers with a 2xx or 3xx status: the requests served.
    pub fn succeeded(&self) -> u64 {
        self.classes[1] + self.classes[2]
    }
}

/// Failed requests, by kind. Failures are data, not exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    /// Connections that could not be opened.
    pub connect: u64,
    /// Requests lost to a read failure or the server closing mid-response.
    pub read: u64,
    /// Requests that could not be written.
    pub write: u64,
    /// Requests unanswered within the timeout (their connection is replaced).
    pub timeout: u64,
    /// Responses with a status outside 2xx and 3xx, by status code.
    pub status: BTreeMap<u16, u64>,
    /// Responses that were not valid HTTP/1.1, or that answered no request
    /// sent: each failed request, or the bad response itself when none was
    /// in flight.
    pub parse: u64,
    /// Requests lost to a 101 Switching Protocols: after it the connection no
    /// longer speaks HTTP/1.1, so it is closed and opened again. (Absent from
    /// results written before this kind existed.)
    #[serde(default)]
    pub upgrade: u64,
    /// Requests still in flight when the run ended, younger than the timeout.
    pub unfinished: u64,
    // TLS (framewut-load/3): absent from earlier results, which read as none.
    /// TLS failures: handshakes that failed (each a connection attempt, as a
    /// connect error is) and requests lost to a TLS error after one.
    #[serde(default)]
    pub tls: u64,
    /// The TLS failures by reason: `unknown CA`, `bad name`, `handshake
    /// timeout`, `alert received: ...`.
    #[serde(default)]
    pub tls_reasons: BTreeMap<String, u64>,
    // HTTP/2: absent from earlier results, which read as none.
    /// HTTP/2 failures by kind, each a request lost: `RST_STREAM <code>` (a
    /// stream the server reset; `REFUSED_STREAM` is one past its limit of
    /// concurrent streams), `GOAWAY <code>` (a request the server's GOAWAY
    /// left unprocessed), `flow-control stall` (a request body the server's
    /// windows held past the timeout), and `connection error: <why>` (a
    /// frame or header block that broke the protocol).
    #[serde(default)]
    pub http2: BTreeMap<String, u64>,
}

impl Errors {
    /// Responses with a bad status.
    pub fn status_total(&self) -> u64 {
        self.status.values().sum()
    }

    /// Every failure of every kind.
    pub fn total(&self) -> u64 {
        self.connect
            + self.read
            + self.write
            + self.timeout
            + self.status_total()
            + self.parse
            + self.upgrade
            + self.unfinished
            + self.tls
            + self.http2_total()
    }

    /// HTTP/2 failures of every kind.
    pub fn http2_total(&self) -> u64 {
        self.http2.values().sum()
    }

    /// Counts `n` HTTP/2 failures of this kind.
    pub(crate) fn count_http2(&mut self, kind: String, n: u64) {
        *self.http2.entry(kind).or_default() += n;
    }

    /// Counts `n` TLS failures for this reason.
    pub(crate) fn count_tls(&mut self, reason: String, n: u64) {
        self.tls += n;
        *self.tls_reasons.entry(reason).or_default() += n;
    }

    /// Adds another set of counts to this one.
    pub fn merge(&mut self, other: &Errors) {
        self.connect += other.connect;
        self.read += other.read;
        self.write += other.write;
        self.timeout += other.timeout;
        self.parse += other.parse;
        self.upgrade += other.upgrade;
        self.unfinished += other.unfinished;
        for (code, n) in &other.status {
            *self.status.entry(*code).or_default() += n;
        }
        self.tls += other.tls;
        for (reason, n) in &other.tls_reasons {
            *self.tls_reasons.entry(reason.clone()).or_default() += n;
        }
        for (kind, n) in &other.http2 {
            *self.http2.entry(kind.clone()).or_default() += n;
        }
    }
}

/// One second of the measured phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Second {
    /// Successful (2xx and 3xx) responses completed in this second.
    pub requests: u64,
    /// Failures counted in this second.
    pub errors: u64,
    /// Bytes read in this second.
    pub bytes: u64,
}

/// Everything one load measured. Built by merging each thread's own counts.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Length of the measured phase.
    pub elapsed: Duration,
    /// Successful (2xx and 3xx) responses: the requests served.
    pub requests: u64,
    /// Responses of any status (wrk's count of requests).
    pub responses: u64,
    /// Bytes read from the server.
    pub bytes: u64,
    /// Bytes of requests written to the server.
    pub bytes_sent: u64,
    pub errors: Errors,
    /// Connections replaced in the measured phase: closed by the server, or
    /// dropped by the engine after a timeout or a bad response.
    pub reconnects: u64,
    /// Connections opened in the measured phase: the first ones too when it
    /// starts without a warm-up, and none of the warm-up's.
    pub connections_opened: u64,
    /// Open loop only: requests the schedule wanted sent that never were,
    /// because every connection was busy. The server could not keep the rate.
    pub backlog: u64,
    /// Latency of every response, of any status, in microseconds. In open
    /// loop it runs from each request's intended send time (coordinated
    /// omission corrected).
    pub latency: Histogram<u64>,
    /// Open loop only: latency from the actual send time, as an uncorrected
    /// generator would report it.
    pub latency_uncorrected: Option<Histogram<u64>>,
    /// Requests that got no answer in the measured phase (timed out, lost
    /// with their connection, or still in flight at the end), each at its
    /// age: from its intended send time to when it was given up or the load
    /// ended, a lower bound of its latency.
    pub unanswered: Histogram<u64>,
    /// Connections that waited in the measured phase (had a request or a
    /// connect attempt end in it, or one still in flight at the end) and got
    /// no answer in it: the ones a server starved.
    pub silent_connections: u64,
    /// Successful requests, errors and bytes per second of the measured phase.
    pub timeline: Vec<Second>,
    /// Successful requests per tenth of a second of the measured phase: the
    /// shape of a short window (a trend, a step) that whole seconds hide.
    pub tenths: Vec<u64>,
    /// How many successes complete together: per thread, the size of the
    /// millisecond's burst a typical success came in (the mean of each
    /// millisecond's count weighted by that count), summed over threads.
    /// Connections in lockstep (a sleep answered to all at once) make it
    /// their number; a steady stream, its rate per millisecond. A window's
    /// edge can cut a burst, so a rate is counted to within about this many
    /// requests.
    pub burst: f64,
    /// Successful requests per second, per thread (for wrk's Req/Sec line).
    pub thread_seconds: Vec<Vec<u64>>,
    /// The generator threads' own CPU time during the measured phase.
    pub cpu: CpuTime,
    /// Whether the run was cut short by cancellation.
    pub cancelled: bool,
    /// The wall-clock time the measured phase began (after the warm-up):
    /// where `timeline` starts, so agents on other hosts line up.
    pub started: SystemTime,
    /// HTTPS loads only: the handshakes.
    pub tls: Option<TlsReport>,
    /// Per entry of a request list, in its order; empty for a single request.
    pub targets: Vec<TargetTally>,
    /// The drain after the last window, when the plan asked for one.
    pub drain: Option<DrainReport>,
    /// HTTP/2 loads only: the streams and the server's settings.
    pub http2: Option<Http2Report>,
}

/// What an HTTP/2 load asked for and met.
#[derive(Debug, Clone)]
pub struct Http2Report {
    /// Concurrent streams asked of each connection.
    pub streams: usize,
    /// The server's settings, from the first SETTINGS frame of the load
    /// (warm-up included); `None` when no connection got that far.
    pub server: Option<ServerSettings>,
    /// Requests of the measured phase that waited on the client for a
    /// stream: past the server's limit of concurrent streams, or before its
    /// SETTINGS came. Their latency runs from when their stream opened;
    /// the wait is here, so it is never charged to the server unseen.
    pub waited: u64,
    /// How long each of those waited, in microseconds.
    pub wait: Histogram<u64>,
    /// Requests a graceful GOAWAY (NO_ERROR) left unprocessed, sent again
    /// on a new connection, as RFC 9113 §8.7 allows: a server that closes
    /// connections after so many requests (nginx's keepalive_requests) costs
    /// them a wait, not an error.
    pub retried: u64,
}

/// The settings an HTTP/2 server sent (RFC 9113 §6.5.2); those it did not
/// send keep their initial values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSettings {
    /// SETTINGS_MAX_CONCURRENT_STREAMS; `None` when it sets no limit.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE: how much of a request body it takes
    /// before a WINDOW_UPDATE.
    pub initial_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE.
    pub max_frame_size: u32,
    /// SETTINGS_HEADER_TABLE_SIZE: its decoder's table.
    pub header_table_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE; `None` when it sets no limit.
    pub max_header_list_size: Option<u32>,
}

impl Default for ServerSettings {
    fn default() -> ServerSettings {
        ServerSettings {
            max_concurrent_streams: None,
            initial_window_size: 65_535,
            max_frame_size: 16_384,
            header_table_size: 4_096,
            max_header_list_size: None,
        }
    }
}

/// The wait after a load's last window for the answers to the requests it
/// had already sent ([`LoadPlan::drain`](crate::LoadPlan::drain)). None of
/// these requests is counted in any window: each was counted there as
/// unanswered at its age.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DrainReport {
    /// From the last window's end until every request was settled or the
    /// limit came (the slowest thread's).
    pub elapsed: Duration,
    /// Requests answered in the drain.
    pub answered: u64,
    /// Requests whose connection the server closed or broke before answering.
    pub lost: u64,
    /// Requests still unanswered at the limit: the server may still be
    /// working on them.
    pub left: u64,
}

/// The TLS handshakes of an HTTPS load's measured phase. A request's
/// latency never includes its connection's handshake: this carries it.
#[derive(Debug, Clone)]
pub struct TlsReport {
    /// Completed handshakes, full and resumed.
    pub handshakes: u64,
    /// Handshakes that resumed an earlier session (with `TlsOptions::resume`).
    pub resumptions: u64,
    /// Each handshake from the TCP connection's establishment to its end on
    /// the client's side, in microseconds.
    pub handshake_latency: Histogram<u64>,
    /// The protocol version negotiated, e.g. `TLSv1.3`, by the first
    /// handshake (warm-up included); `None` when none completed.
    pub protocol: Option<String>,
    /// The cipher suite negotiated, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: Option<String>,
}

impl LoadReport {
    /// Successful (2xx and 3xx) responses per second of the measured phase.
    pub fn rate(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }

    /// Responses with a status outside 2xx and 3xx per second.
    pub fn status_error_rate(&self) -> f64 {
        per_second(self.errors.status_total(), self.elapsed)
    }

    /// Answered and unanswered requests together, the unanswered at their
    /// age: the latency picture with nothing left out.
    pub fn latency_with_unanswered(&self) -> Histogram<u64> {
        let mut h = self.latency.clone();
        h.add(&self.unanswered)
            .expect("histograms share their bounds");
        h
    }

    /// Bytes read per second.
    pub fn transfer_rate(&self) -> f64 {
        per_second(self.bytes, self.elapsed)
    }

    /// Generator CPU seconds spent per 100,000 responses of any status (the
    /// generator's work is the same whatever the status).
    pub fn cpu_per_100k(&self) -> Option<f64> {
        (self.responses > 0)
            .then(|| self.cpu.total().as_secs_f64() * 100_000.0 / self.responses as f64)
    }

    /// Mean, standard deviation and maximum of each thread's successful
    /// requests per whole second (a partial last second is left out).
    pub fn thread_rate_stats(&self) -> Stats {
        let whole = self.elapsed.as_secs() as usize;
        let samples: Vec<f64> = self
            .thread_seconds
            .iter()
            .flat_map(|t| t.iter().take(whole.max(1)).map(|n| *n as f64))
            .collect();
        Stats::of(&samples)
    }
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        0.0
    } else {
        n as f64 / elapsed.as_secs_f64()
    }
}

/// Mean, standard deviation and maximum of some samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub mean: f64,
    pub stdev: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Stats {
            mean,
            stdev: var.sqrt(),
            max: samples.iter().cloned().fold(f64::MIN, f64::max),
        }
    }
}

/// Encodes a histogram in HdrHistogram's V2 compressed form, base64: the
/// `HISTFAAA...` text any HdrHistogram tool reads.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serialising into memory cannot fail");
    BASE64.encode(&bytes)
}

/// Why a text is not a histogram [`decode_histogram`] can read.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// Not standard, padded base64.
    #[error("the histogram is not valid base64 ({0})")]
    NotBase64(base64::DecodeError),
    /// Base64, but not an HdrHistogram in a form this library reads.
    #[error("the histogram does not decode ({0})")]
    Undecodable(DeserializeError),
}

/// Decodes what [`encode_histogram`] wrote (or any V2 compressed base64 histogram).
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, HistogramError> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(HistogramError::NotBase64)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HistogramError::Undecodable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_text_is_padded_standard_base64_of_the_v2_compressed_form() {
        for values in [&[1][..], &[7, 8], &[1, 50, 1000, 123_456]] {
            let mut h = new_histogram();
            for v in values {
                h.record(*v).unwrap();
            }
            let text = encode_histogram(&h);
            assert_eq!(text.len() % 4, 0, "padded: {text}");
            let bytes = BASE64.decode(&text).unwrap();
            // HdrHistogram's cookie for the V2 compressed form, big-endian.
            assert_eq!(&bytes[..4], &[0x1c, 0x84, 0x93, 0x14], "{text}");
            assert_eq!(decode_histogram(&format!(" {text}\n")).unwrap(), h);
        }
    }

    #[test]
    fn refuses_text_that_is_not_a_histogram() {
        let err = decode_histogram("HISTF*AAA").unwrap_err();
        assert!(matches!(err, HistogramError::NotBase64(_)), "{err}");
        // "Man": valid base64 of three bytes that are no histogram.
        let err = decode_histogram("TWFu").unwrap_err();
        assert!(matches!(err, HistogramError::Undecodable(_)), "{err}");
    }

    #[test]
    fn histograms_survive_the_v2_log_form() {
        let mut h = new_histogram();
        for v in [1, 50, 1000, 123_456, 2_000_000] {
            h.record(v).unwrap();
        }
        let text = encode_histogram(&h);
        assert!(text.starts_with("HISTF"), "{text}");
        let back = decode_histogram(&text).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert_eq!(back.max(), h.max());
    }
}
