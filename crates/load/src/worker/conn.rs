//! One connection's state machine: connecting, its TLS handshake, writing
//! its queued requests, reading their responses, and what a failure costs
//! it. The loop drives it on each readiness event; what it counts goes in
//! the loop's current tally.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Poll, Token};

use super::Meter;
use crate::h2::Session;
use crate::parse::{ParseError, Parser, Response};
use crate::transport::{Handshake, Transport};

/// How long a connection waits before trying again after a failed connect.
const RECONNECT_DELAY: Duration = Duration::from_millis(10);
/// Requests of a list handed to one `writev`; a deeper pipeline takes more calls.
const WRITEV_MAX: usize = 64;

/// A request queued on a connection.
#[derive(Clone, Copy)]
pub(super) struct Sent {
    /// When the schedule wanted it sent (the send time itself in closed loop).
    pub(super) intended: Instant,
    pub(super) sent: Instant,
    pub(super) measured: bool,
    /// The entry of the request list it sent (0 for a single request).
    pub(super) target: u32,
    /// HTTP/2: its stream, once opened; 0 while it waits for one.
    pub(super) stream: u32,
}

/// Where a connection stands.
#[derive(PartialEq, Eq)]
pub(super) enum State {
    Connecting,
    /// TCP is connected and the TLS handshake is under way (since `since`).
    Handshaking,
    Open,
    /// Waiting to connect again after a failed attempt.
    Down {
        retry_at: Instant,
    },
}

/// One connection, over its successive sockets.
pub(super) struct Conn<T> {
    pub(super) stream: Option<T>,
    pub(super) state: State,
    pub(super) since: Instant,
    pub(super) parser: Parser,
    pub(super) inflight: VecDeque<Sent>,
    /// Requests at the back of `inflight` not yet wholly written, and how
    /// far into the first of them the last write got.
    pub(super) pending: usize,
    phase: usize,
    /// The entry of the request list this connection sends next (sequential order).
    pub(super) next: u32,
    /// Listed as able to take another open-loop request.
    pub(super) listed: bool,
    /// Whether this connection (any of its successive sockets) had an outcome
    /// counted in the window, and whether one of them was an answer: one
    /// without the other is a connection the server left silent.
    pub(super) waited: bool,
    pub(super) answered: bool,
    /// HTTP/2 loads: the connection's protocol state, for its current socket.
    pub(super) h2: Option<Box<Session>>,
    /// When bytes last came from the server (HTTP/2: a connection that
    /// says nothing for the timeout is replaced, not just its streams).
    pub(super) last_read: Instant,
}

/// Why a connection failed: the kind of error its lost requests count as.
pub(super) enum Failure {
    Read,
    Write,
    Timeout,
    Parse,
    Upgrade,
    /// A TLS failure after the handshake, with its reason.
    Tls(String),
    /// An HTTP/2 failure, of this kind (see `Errors::http2`).
    Http2(String),
}

impl<T> Conn<T> {
    /// A connection not yet connected, due to connect at `now`.
    pub(super) fn new(now: Instant, no_body: bool, pipeline: usize) -> Conn<T> {
        Conn {
            stream: None,
            state: State::Down { retry_at: now },
            since: now,
            parser: Parser::new(no_body),
            inflight: VecDeque::with_capacity(pipeline),
            pending: 0,
            phase: 0,
            next: 0,
            listed: false,
            waited: false,
            answered: false,
            h2: None,
            last_read: now,
        }
    }
}

/// Requests queued on a connection none of whose bytes were written yet:
/// those a response cannot be answering.
fn unstarted<T>(c: &Conn<T>) -> usize {
    c.pending - usize::from(c.phase > 0)
}

/// How a failed read or write counts: as a TLS failure with its reason,
/// or as the socket failure `otherwise`.
pub(super) fn failure<T: Transport>(error: &io::Error, otherwise: Failure) -> Failure {
    T::tls_failure(error).map_or(otherwise, Failure::Tls)
}

/// Moves a connection's write position on by `n` bytes written.
fn written_out<T>(c: &mut Conn<T>, requests: &[Vec<u8>], mut n: usize) {
    if let [one] = requests {
        let total = c.phase + n;
        c.pending -= total / one.len();
        c.phase = total % one.len();
        return;
    }
    while n > 0 {
        let sent = c.inflight[c.inflight.len() - c.pending];
        let left = requests[sent.target as usize].len() - c.phase;
        if n < left {
            c.phase += n;
            return;
        }
        n -= left;
        c.pending -= 1;
        c.phase = 0;
    }
}

impl<T: Transport> Meter<'_, T> {
    /// Opens a new socket for connection `i` and registers it with epoll.
    /// A socket epoll will not take (the kernel out of memory, or the
    /// user's limit of watched descriptors reached) counts as a failed
    /// connect of this connection and is tried again like one: as with a
    /// connect the system refuses, one connection's attempt failed, and
    /// the rest of the load goes on and reports it, rather than the whole
    /// load ending without a report.
    pub(super) fn connect(&mut self, poll: &Poll, conns: &mut [Conn<T>], i: usize, now: Instant) {
        let c = &mut conns[i];
        c.parser.reset();
        // Nothing is in flight on a connection being opened, but for the
        // requests an HTTP/2 GOAWAY left waiting for a stream: they carry over.
        c.pending = c.inflight.len();
        c.phase = 0;
        c.since = now;
        c.last_read = now;
        c.h2 = self.work.h2.map(|h2| Box::new(Session::new(h2.windows)));
        let registered = TcpStream::connect(self.work.addr).and_then(|mut stream| {
            let _ = stream.set_nodelay(true);
            poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match registered {
            Ok(stream) => {
                // Like every count, only in the measured phase: the
                // warm-up's connections are not a window's.
                if self.measuring(now) {
                    self.tally.opened += 1;
                }
                match T::wrap(stream, self.setup) {
                    Ok(stream) => {
                        c.stream = Some(stream);
                        c.state = State::Connecting;
                    }
                    Err(reason) => self.attempt_failed(conns, i, now, Some(reason)),
                }
            }
            Err(_) => self.connect_failed(conns, i, now),
        }
    }

    pub(super) fn connect_failed(&mut self, conns: &mut [Conn<T>], i: usize, now: Instant) {
        self.attempt_failed(conns, i, now, None);
    }

    /// A connection attempt that failed: its connect, or (with `tls`, the
    /// reason) its TLS handshake. Either way no request went out on it;
    /// the attempt is counted once, and tried again after a pause.
    pub(super) fn attempt_failed(
        &mut self,
        conns: &mut [Conn<T>],
        i: usize,
        now: Instant,
        tls: Option<String>,
    ) {
        let c = &mut conns[i];
        // Closing the socket takes it out of epoll.
        c.stream = None;
        c.state = State::Down {
            retry_at: now + RECONNECT_DELAY,
        };
        if self.measuring(now) {
            if !self.schedule.spend_attempt() {
                return;
            }
            c.waited = true;
            self.tally.attempt_failed(tls, now);
        }
    }

    pub(super) fn on_connecting(
        &mut self,
        poll: &Poll,
        conns: &mut [Conn<T>],
        i: usize,
        now: Instant,
    ) {
        let stream = conns[i]
            .stream
            .as_mut()
            .expect("a connecting socket")
            .socket();
        let failed = match stream.take_error() {
            Ok(Some(_)) | Err(_) => true,
            Ok(None) => match stream.peer_addr() {
                Ok(_) => false,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => true,
            },
        };
        if failed {
            self.connect_failed(conns, i, now);
            return;
        }
        if T::HANDSHAKE {
            conns[i].state = State::Handshaking;
            conns[i].since = now;
            self.on_handshaking(poll, conns, i, now);
        } else {
            conns[i].state = State::Open;
            self.fill(poll, conns, i, now);
        }
    }

    /// Drives a TLS handshake; once it is done the connection opens and
    /// takes its requests. The handshake is timed apart from any request.
    pub(super) fn on_handshaking(
        &mut self,
        poll: &Poll,
        conns: &mut [Conn<T>],
        i: usize,
        now: Instant,
    ) {
        let stream = conns[i].stream.as_mut().expect("a handshaking socket");
        match stream.handshake() {
            Handshake::Pending => {}
            Handshake::Failed(reason) => self.attempt_failed(conns, i, now, Some(reason)),
            Handshake::Done { .. } if self.work.h2.is_some() && stream.alpn() != Some(b"h2") => {
                let chose = match stream.alpn() {
                    Some(p) => format!("it chose {}", String::from_utf8_lossy(p)),
                    None => "it chose no protocol".to_string(),
                };
                let reason = format!("the server did not agree to HTTP/2 in ALPN: {chose}");
                self.attempt_failed(conns, i, now, Some(reason));
            }
            Handshake::Done { resumed } => {
                let measuring = self.measuring(now);
                let tls = self.tally.tls.as_mut().expect("a TLS tally");
                // What was negotiated is said even when every handshake
                // came before the measured phase (keep-alive after a warm-up).
                if tls.negotiated.is_none() {
                    tls.negotiated = stream.negotiated();
                }
                if measuring {
                    tls.handshake(now.saturating_duration_since(conns[i].since), resumed);
                }
                conns[i].state = State::Open;
                self.fill(poll, conns, i, now);
            }
        }
    }

    pub(super) fn flush(&mut self, poll: &Poll, conns: &mut [Conn<T>], i: usize, now: Instant) {
        if self.work.h2.is_some() {
            return self.h2_flush(poll, conns, i, now);
        }
        let requests = self.work.requests;
        while conns[i].pending > 0 {
            let c = &mut conns[i];
            let stream = c.stream.as_mut().expect("an open socket");
            let written = match requests {
                [one] => stream.write(&self.batch[c.phase..c.pending * one.len()]),
                _ => {
                    let mut slices = [IoSlice::new(&[]); WRITEV_MAX];
                    let first = c.inflight.len() - c.pending;
                    let k = c.pending.min(WRITEV_MAX);
                    for (j, slice) in slices[..k].iter_mut().enumerate() {
                        let bytes = &requests[c.inflight[first + j].target as usize];
                        *slice = IoSlice::new(if j == 0 { &bytes[c.phase..] } else { bytes });
                    }
                    stream.write_vectored(&slices[..k])
                }
            };
            match written {
                Ok(0) => return self.fail(poll, conns, i, Failure::Write, now),
                Ok(n) => {
                    written_out(c, requests, n);
                    if self.measuring(now) {
                        self.tally.bytes_sent += n as u64;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(poll, conns, i, failure::<T>(&e, Failure::Write), now),
            }
        }
        // TLS: request bytes taken but still encrypted in its buffer go out
        // when the socket has room again (for plain TCP this is nothing).
        let stream = conns[i].stream.as_mut().expect("an open socket");
        match stream.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.fail(poll, conns, i, failure::<T>(&e, Failure::Write), now),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_readable(
        &mut self,
        poll: &Poll,
        conns: &mut [Conn<T>],
        i: usize,
        buf: &mut [u8],
        now: Instant,
        closed: bool,
    ) {
        if self.work.h2.is_some() {
            return self.h2_readable(poll, conns, i, buf, now, closed);
        }
        let mut completed = 0;
        loop {
            let c = &mut conns[i];
            let stream = c.stream.as_mut().expect("an open socket");
            match stream.read(buf) {
                Ok(0) => {
                    match c.parser.eof() {
                        Ok(Some(r)) if c.inflight.len() > unstarted(c) => {
                            let sent = c.inflight.pop_front().expect("a request in flight");
                            c.answered |= self.record(sent, r, now);
                        }
                        Ok(Some(_)) => return self.fail(poll, conns, i, Failure::Parse, now),
                        Ok(None) => {}
                        Err(()) => return self.fail(poll, conns, i, Failure::Read, now),
                    }
                    // Requests behind the last response are lost with the
                    // connection: they must not wait on the next one.
                    if !conns[i].inflight.is_empty() {
                        return self.fail(poll, conns, i, Failure::Read, now);
                    }
                    return self.reopen(poll, conns, i, now);
                }
                Ok(n) => {
                    // For plain TCP this is `n < buf.len()`: a short read
                    // emptied the socket.
                    let drained = stream.drained(n, buf.len());
                    if self.measuring(now) {
                        self.tally.received(n as u64, now);
                    }
                    // Only a request whose bytes began going out can be
                    // answered; the rest of the queue waits on the socket.
                    let waiting = unstarted(c);
                    let mut done = std::mem::take(&mut c.inflight);
                    let mut responses = 0;
                    let mut answered = false;
                    let mut unsolicited = false;
                    let result = c.parser.feed(&buf[..n], &mut |r: Response| {
                        if done.len() > waiting {
                            responses += 1;
                            let sent = done.pop_front().expect("a request in flight");
                            answered |= self.record(sent, r, now);
                        } else {
                            unsolicited = true;
                        }
                    });
                    c.inflight = done;
                    c.answered |= answered;
                    completed += responses;
                    match result {
                        // A response to no request sent: this connection's
                        // responses are out of step with its requests, and
                        // any later one would be counted against the wrong one.
                        _ if unsolicited => return self.fail(poll, conns, i, Failure::Parse, now),
                        Err(ParseError::Switched) => {
                            return self.fail(poll, conns, i, Failure::Upgrade, now)
                        }
                        Err(_) => return self.fail(poll, conns, i, Failure::Parse, now),
                        Ok(true) => {
                            if !conns[i].inflight.is_empty() {
                                return self.fail(poll, conns, i, Failure::Read, now);
                            }
                            return self.reopen(poll, conns, i, now);
                        }
                        Ok(false) => {}
                    }
                    if drained && !closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(poll, conns, i, failure::<T>(&e, Failure::Read), now),
            }
        }
        if completed > 0 {
            self.fill(poll, conns, i, now);
        }
    }

    /// Counts one response against the request it answers; returns whether
    /// it was counted as an answer.
    pub(super) fn record(&mut self, sent: Sent, r: Response, now: Instant) -> bool {
        if sent.measured {
            self.measured_inflight -= 1;
        }
        if !self.counts(&sent, now) {
            return false;
        }
        self.tally.answered(&sent, r.status, now);
        true
    }

    /// Counts every request in flight on a connection as failed, then
    /// replaces it. A bad response that took no request with it (none was in
    /// flight) is counted itself, so no broken response goes unseen.
    pub(super) fn fail(
        &mut self,
        poll: &Poll,
        conns: &mut [Conn<T>],
        i: usize,
        why: Failure,
        now: Instant,
    ) {
        let mut lost = 0;
        while let Some(s) = conns[i].inflight.pop_front() {
            if s.measured {
                self.measured_inflight -= 1;
            }
            if self.counts(&s, now) {
                self.tally.unanswered(&s, now);
                lost += 1;
            }
        }
        if lost == 0
            && matches!(why, Failure::Parse | Failure::Upgrade | Failure::Tls(_))
            && self.measuring(now)
        {
            lost = 1;
        }
        if lost > 0 {
            conns[i].waited = true;
            self.tally.failed(why, lost, now);
        }
        self.reopen(poll, conns, i, now);
    }

    /// Closes a connection and opens a new one in its place.
    pub(super) fn reopen(&mut self, poll: &Poll, conns: &mut [Conn<T>], i: usize, now: Instant) {
        if let Some(mut stream) = conns[i].stream.take() {
            let _ = poll.registry().deregister(stream.socket());
        }
        if self.measuring(now) {
            self.tally.reconnects += 1;
        }
        self.connect(poll, conns, i, now);
    }
}
