//! What one thread counts, and how the threads' counts become a report:
//! a window's [`Tally`] (responses by second, tenth and millisecond,
//! latencies, errors by kind, requests left unanswered), its TLS
//! handshakes, the drain's [`DrainTally`], and [`merge`].

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use framewut_sys::CpuTime;
use hdrhistogram::Histogram;

use super::{Failure, Sent};
use crate::live::Snapshot;
use crate::report::{
    new_histogram, Errors, Http2Report, LoadReport, Second, ServerSettings, TargetTally, TlsReport,
};

/// How one thread's drain went: the requests it waited for after the last
/// window, none of them counted in any window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DrainTally {
    /// From the last window's end until every request was settled, or the limit.
    pub elapsed: Duration,
    /// Requests answered in the drain.
    pub answered: u64,
    /// Requests whose connection the server closed or broke first.
    pub lost: u64,
    /// Requests still unanswered when the limit came.
    pub left: u64,
}

/// What one thread measured.
pub(crate) struct Tally {
    /// Where the window began (the warm-up's end for the first).
    pub start: Instant,
    /// Successful (2xx and 3xx) responses counted.
    pub requests: u64,
    /// Responses of any status counted.
    pub responses: u64,
    pub bytes: u64,
    /// Bytes of requests written (HTTP's, before any TLS).
    pub bytes_sent: u64,
    pub errors: Errors,
    pub reconnects: u64,
    pub opened: u64,
    pub backlog: u64,
    pub latency: Histogram<u64>,
    pub uncorrected: Option<Histogram<u64>>,
    /// Requests given no answer in the window, each at its age when given up
    /// or when the load ended.
    pub unanswered: Histogram<u64>,
    /// Connections that waited in the window and got no answer in it.
    pub silent: u64,
    pub timeline: Vec<Second>,
    /// Successful responses in each tenth of a second of the window.
    pub tenths: Vec<u64>,
    /// The millisecond of the window the last success came in, and how many
    /// came in it so far.
    pub burst_ms: u128,
    pub burst_n: u64,
    /// The sum over the window's milliseconds of the square of the
    /// successes in each: over `requests`, the size of the burst a typical
    /// success came in.
    pub burst_squares: u64,
    pub elapsed: Duration,
    pub cpu: CpuTime,
    /// Per entry of a request list; empty for a single request.
    pub targets: Vec<TargetTally>,
    /// TLS loads only: the handshakes of this thread's connections.
    pub tls: Option<TlsTally>,
    /// HTTP/2 loads only: the streams that waited, and the server's settings.
    pub http2: Option<Http2Tally>,
}

/// What one thread's HTTP/2 connections met in the window.
pub(crate) struct Http2Tally {
    /// Concurrent streams asked of each connection.
    pub streams: usize,
    /// The server's first SETTINGS, warm-up included.
    pub server: Option<ServerSettings>,
    /// Requests that waited on the client for a stream, and how long, in microseconds.
    pub waited: u64,
    pub wait: Histogram<u64>,
    /// Requests a graceful GOAWAY left unprocessed, sent again on a new connection.
    pub retried: u64,
}

impl Http2Tally {
    /// Counts a request that waited `took` for its stream to open.
    pub(super) fn waited(&mut self, took: Duration) {
        self.waited += 1;
        self.wait.saturating_record(micros(took));
    }
}

/// The handshakes one thread's connections completed in the measured phase.
pub(crate) struct TlsTally {
    /// Completed handshakes, full and resumed.
    pub handshakes: u64,
    /// Those that resumed an earlier session.
    pub resumptions: u64,
    /// Each from the TCP connection's establishment to the handshake's end
    /// on the client's side, in microseconds.
    pub latency: Histogram<u64>,
    /// The protocol version and cipher suite of the first handshake, warm-up included.
    pub negotiated: Option<(String, String)>,
}

/// A latency in whole microseconds, at least 1 (the histogram's lowest value).
pub(super) fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

impl TlsTally {
    /// Counts a handshake that took `took` and `resumed` a session or not.
    pub(super) fn handshake(&mut self, took: Duration, resumed: bool) {
        self.handshakes += 1;
        self.resumptions += u64::from(resumed);
        self.latency.saturating_record(micros(took));
    }
}

impl Tally {
    /// An empty tally for a window from `start`: with the uncorrected
    /// latency of an `open_loop` load, the handshakes of a `tls` one, a
    /// tally per entry of a request list of `entries` (none for one
    /// request), and the streams of an HTTP/2 load of `http2` streams.
    pub(super) fn new(
        start: Instant,
        open_loop: bool,
        tls: bool,
        entries: usize,
        http2: Option<usize>,
    ) -> Tally {
        Tally {
            start,
            requests: 0,
            responses: 0,
            bytes: 0,
            bytes_sent: 0,
            errors: Errors::default(),
            reconnects: 0,
            opened: 0,
            backlog: 0,
            latency: new_histogram(),
            uncorrected: open_loop.then(new_histogram),
            unanswered: new_histogram(),
            silent: 0,
            timeline: Vec::new(),
            tenths: Vec::new(),
            burst_ms: u128::MAX,
            burst_n: 0,
            burst_squares: 0,
            elapsed: Duration::ZERO,
            cpu: CpuTime::default(),
            tls: tls.then(|| TlsTally {
                handshakes: 0,
                resumptions: 0,
                latency: new_histogram(),
                negotiated: None,
            }),
            targets: match entries {
                0 | 1 => Vec::new(),
                n => (0..n).map(|_| TargetTally::default()).collect(),
            },
            http2: http2.map(|streams| Http2Tally {
                streams,
                server: None,
                waited: 0,
                wait: new_histogram(),
                retried: 0,
            }),
        }
    }

    /// The second of the window that `now` falls in.
    pub(super) fn second(&mut self, now: Instant) -> &mut Second {
        let s = now.saturating_duration_since(self.start).as_secs() as usize;
        if self.timeline.len() <= s {
            self.timeline.resize(s + 1, Second::default());
        }
        &mut self.timeline[s]
    }

    /// Counts `n` bytes of responses read at `now`.
    pub(super) fn received(&mut self, n: u64, now: Instant) {
        self.bytes += n;
        self.second(now).bytes += n;
    }

    /// Counts a response with `status` to the request `sent`, come at `now`.
    pub(super) fn answered(&mut self, sent: &Sent, status: u16, now: Instant) {
        self.responses += 1;
        let latency = micros(now.saturating_duration_since(sent.intended));
        self.latency.saturating_record(latency);
        if let Some(t) = self.targets.get_mut(sent.target as usize) {
            t.answered(status, latency);
        }
        if let Some(h) = self.uncorrected.as_mut() {
            h.saturating_record(micros(now.saturating_duration_since(sent.sent)));
        }
        // Only a success is a request served; any other status is an error
        // by its code, answered but not counted in the rate.
        let bad = !(200..400).contains(&status);
        if bad {
            *self.errors.status.entry(status).or_default() += 1;
        } else {
            self.requests += 1;
        }
        let second = self.second(now);
        second.requests += u64::from(!bad);
        second.errors += u64::from(bad);
        if !bad {
            let ms = now.saturating_duration_since(self.start).as_millis();
            // One more success in a millisecond that had n adds (n+1)² - n².
            if ms == self.burst_ms {
                self.burst_n += 1;
            } else {
                self.burst_ms = ms;
                self.burst_n = 1;
            }
            self.burst_squares += 2 * self.burst_n - 1;
            let tenth = (ms / 100) as usize;
            if self.tenths.len() <= tenth {
                self.tenths.resize(tenth + 1, 0);
            }
            self.tenths[tenth] += 1;
        }
    }

    /// Records a request that got no answer at its age: from its intended
    /// send time to `now`, a lower bound of the latency it would have had;
    /// and counts it failed against its entry. Its error is counted apart.
    pub(super) fn unanswered(&mut self, sent: &Sent, now: Instant) {
        self.unanswered
            .saturating_record(micros(now.saturating_duration_since(sent.intended)));
        if let Some(t) = self.targets.get_mut(sent.target as usize) {
            t.failed += 1;
        }
    }

    /// Counts `lost` requests (or bad responses) lost at `now` to a
    /// connection's failure, as errors of its kind.
    pub(super) fn failed(&mut self, why: Failure, lost: u64, now: Instant) {
        let errors = &mut self.errors;
        match why {
            Failure::Read => errors.read += lost,
            Failure::Write => errors.write += lost,
            Failure::Timeout => errors.timeout += lost,
            Failure::Parse => errors.parse += lost,
            Failure::Upgrade => errors.upgrade += lost,
            Failure::Tls(reason) => errors.count_tls(reason, lost),
            Failure::Http2(kind) => errors.count_http2(kind, lost),
        }
        self.second(now).errors += lost;
    }

    /// Counts a connection attempt that failed at `now`: its connect, or
    /// (with `tls`, the reason) its TLS handshake.
    pub(super) fn attempt_failed(&mut self, tls: Option<String>, now: Instant) {
        match tls {
            None => self.errors.connect += 1,
            Some(reason) => self.errors.count_tls(reason, 1),
        }
        self.second(now).errors += 1;
    }

    /// Counts a request still in flight when the window ends at `now`: at
    /// its age, and as a timeout when sent longer than `timeout` ago, else
    /// as unfinished.
    pub(super) fn in_flight_at_end(&mut self, sent: &Sent, now: Instant, timeout: Duration) {
        self.unanswered(sent, now);
        if now.saturating_duration_since(sent.sent) > timeout {
            self.errors.timeout += 1;
        } else {
            self.errors.unfinished += 1;
        }
    }

    /// Copies the running counts where a live view reads them, with the
    /// number of `open` connections.
    pub(super) fn publish(&self, slot: &Mutex<Snapshot>, open: usize) {
        let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
        s.requests = self.requests;
        s.responses = self.responses;
        s.errors.clone_from(&self.errors);
        s.open = open as u64;
        s.latency.reset();
        s.latency
            .add(&self.latency)
            .expect("histograms share their bounds");
    }

    /// Ends the window at `at`, with `cpu` spent in it, and opens the next
    /// one's tally there (which keeps what TLS negotiated); returns the
    /// ended window's.
    pub(super) fn end_window(&mut self, at: Instant, cpu: CpuTime) -> Tally {
        let mut next = Tally::new(
            at,
            self.uncorrected.is_some(),
            self.tls.is_some(),
            self.targets.len(),
            self.http2.as_ref().map(|h| h.streams),
        );
        if let (Some(next), Some(ended)) = (next.tls.as_mut(), self.tls.as_ref()) {
            next.negotiated.clone_from(&ended.negotiated);
        }
        if let (Some(next), Some(ended)) = (next.http2.as_mut(), self.http2.as_ref()) {
            next.server = ended.server;
        }
        std::mem::replace(self, next).ended(at, cpu)
    }

    /// This tally as its window's: ended at `at`, with `cpu` spent in it.
    pub(super) fn ended(mut self, at: Instant, cpu: CpuTime) -> Tally {
        self.elapsed = at.saturating_duration_since(self.start);
        self.cpu = cpu;
        self
    }
}

/// One window's report from each thread's tally of it; `started` is the
/// window's wall-clock start.
pub(crate) fn merge(tallies: Vec<Tally>, cancelled: bool, started: SystemTime) -> LoadReport {
    let mut report = LoadReport {
        elapsed: Duration::ZERO,
        requests: 0,
        responses: 0,
        bytes: 0,
        bytes_sent: 0,
        errors: Errors::default(),
        reconnects: 0,
        connections_opened: 0,
        backlog: 0,
        latency: new_histogram(),
        latency_uncorrected: None,
        unanswered: new_histogram(),
        silent_connections: 0,
        timeline: Vec::new(),
        tenths: Vec::new(),
        burst: 0.0,
        thread_seconds: Vec::new(),
        cpu: CpuTime::default(),
        cancelled,
        started,
        tls: None,
        targets: Vec::new(),
        drain: None,
        http2: None,
    };
    for t in tallies {
        report.elapsed = report.elapsed.max(t.elapsed);
        report.requests += t.requests;
        report.responses += t.responses;
        report.silent_connections += t.silent;
        report.bytes += t.bytes;
        report.bytes_sent += t.bytes_sent;
        report.errors.merge(&t.errors);
        report.reconnects += t.reconnects;
        report.connections_opened += t.opened;
        report.backlog += t.backlog;
        report
            .latency
            .add(&t.latency)
            .expect("histograms share their bounds");
        report
            .unanswered
            .add(&t.unanswered)
            .expect("histograms share their bounds");
        if let Some(u) = t.uncorrected {
            report
                .latency_uncorrected
                .get_or_insert_with(new_histogram)
                .add(&u)
                .expect("histograms share their bounds");
        }
        if report.timeline.len() < t.timeline.len() {
            report.timeline.resize(t.timeline.len(), Second::default());
        }
        for (sum, s) in report.timeline.iter_mut().zip(&t.timeline) {
            sum.requests += s.requests;
            sum.errors += s.errors;
            sum.bytes += s.bytes;
        }
        if t.requests > 0 {
            report.burst += t.burst_squares as f64 / t.requests as f64;
        }
        if report.tenths.len() < t.tenths.len() {
            report.tenths.resize(t.tenths.len(), 0);
        }
        for (sum, n) in report.tenths.iter_mut().zip(&t.tenths) {
            *sum += n;
        }
        report
            .thread_seconds
            .push(t.timeline.iter().map(|s| s.requests).collect());
        report.cpu = report.cpu + t.cpu;
        if let Some(t) = t.tls {
            let tls = report.tls.get_or_insert_with(|| TlsReport {
                handshakes: 0,
                resumptions: 0,
                handshake_latency: new_histogram(),
                protocol: None,
                cipher_suite: None,
            });
            tls.handshakes += t.handshakes;
            tls.resumptions += t.resumptions;
            tls.handshake_latency
                .add(&t.latency)
                .expect("histograms share their bounds");
            if let (None, Some((version, suite))) = (&tls.protocol, t.negotiated) {
                tls.protocol = Some(version);
                tls.cipher_suite = Some(suite);
            }
        }
        if let Some(t) = t.http2 {
            let h2 = report.http2.get_or_insert_with(|| Http2Report {
                streams: t.streams,
                server: None,
                waited: 0,
                wait: new_histogram(),
                retried: 0,
            });
            h2.server = h2.server.or(t.server);
            h2.waited += t.waited;
            h2.retried += t.retried;
            h2.wait.add(&t.wait).expect("histograms share their bounds");
        }
        if report.targets.is_empty() {
            report.targets = t.targets;
        } else {
            for (sum, entry) in report.targets.iter_mut().zip(&t.targets) {
                sum.merge(entry);
            }
        }
    }
    report
}

#[cfg(test)]
mod tests;
