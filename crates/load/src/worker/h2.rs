//! The loop's HTTP/2 steps for one connection: opening streams for the
//! requests queued on it, writing its session's frames, reading its
//! server's, and giving up on streams one at a time. The connection's
//! `inflight` queue holds its requests in the order they were queued: the
//! streams opened first, by ascending id (so in the order they opened),
//! then those still waiting for a stream, `pending` of them.

use std::io;
use std::time::Instant;

use mio::Poll;

use super::conn::{failure, Conn, Failure, Sent, State};
use super::tally::DrainTally;
use super::Meter;
use crate::h2::{frame, Event};
use crate::parse::Response;
use crate::transport::Transport;
use crate::Pacing;

/// The failure kind a request reset by the server counts under.
fn reset_kind(code: u32) -> String {
    format!("RST_STREAM {}", frame::code_label(code))
}

fn goaway_kind(code: u32) -> String {
    format!("GOAWAY {}", frame::code_label(code))
}

/// Where the request on `stream` sits in `inflight`, if it does: a
/// binary search of the opened streams, which are in ascending order.
fn position<T>(c: &Conn<T>, stream: u32) -> Option<usize> {
    let (mut lo, mut hi) = (0, c.inflight.len() - c.pending);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match c.inflight[mid].stream.cmp(&stream) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

impl<T: Transport> Meter<'_, T> {
    /// Opens streams for the requests waiting for one, as far as the
    /// server's limit allows, then writes what the session has queued.
    pub(super) fn h2_flush(&mut self, poll: &Poll, conns: &mut [Conn<T>], i: usize, now: Instant) {
        let h2 = self.work.h2.expect("an HTTP/2 load");
        let measuring = self.measuring(now);
        let c = &mut conns[i];
        // A connection replaced on the way here writes once it is open.
        if c.state != State::Open {
            return;
        }
        let session = c.h2.as_mut().expect("an HTTP/2 session");
        while c.pending > 0 && session.can_open() {
            let k = c.inflight.len() - c.pending;
            let sent = &mut c.inflight[k];
            sent.stream = session.open(h2.requests, sent.target as usize);
            c.pending -= 1;
            // A request that could not open its stream when it was queued
            // waited on the client: its latency starts now, and the wait is
            // counted apart. An open-loop request keeps its intended time,
            // so what the schedule saw still counts whole.
            let waited = now.saturating_duration_since(sent.sent);
            if !waited.is_zero() {
                if measuring && sent.measured {
                    let tally = self.tally.http2.as_mut().expect("an HTTP/2 tally");
                    tally.waited(waited);
                }
                sent.sent = now;
                if self.work.pacing == Pacing::Closed {
                    sent.intended = now;
                }
            }
        }
        let stream = c.stream.as_mut().expect("an open socket");
        loop {
            let bytes = session.unwritten();
            if bytes.is_empty() {
                break;
            }
            match stream.write(bytes) {
                Ok(0) => return self.fail(poll, conns, i, Failure::Write, now),
                Ok(n) => {
                    session.wrote(n);
                    if measuring {
                        self.tally.bytes_sent += n as u64;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let why = failure::<T>(&e, Failure::Write);
                    return self.fail(poll, conns, i, why, now);
                }
            }
        }
        match stream.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                let why = failure::<T>(&e, Failure::Write);
                self.fail(poll, conns, i, why, now)
            }
        }
    }

    /// Reads what the server sent and settles the streams it ended.
    pub(super) fn h2_readable(
        &mut self,
        poll: &Poll,
        conns: &mut [Conn<T>],
        i: usize,
        buf: &mut [u8],
        now: Instant,
        closed: bool,
    ) {
        let requests = self.work.h2.expect("an HTTP/2 load").requests;
        let mut events = std::mem::take(&mut self.events);
        let mut completed = 0;
        loop {
            let c = &mut conns[i];
            let stream = c.stream.as_mut().expect("an open socket");
            match stream.read(buf) {
                Ok(0) => {
                    // Streams still open are lost with the connection; the
                    // requests still waiting for a stream were never sent,
                    // and carry over to the next (as after a GOAWAY).
                    self.events = events;
                    let c = &mut conns[i];
                    let opened = c.inflight.len() - c.pending;
                    let lost: Vec<Sent> = c.inflight.drain(..opened).collect();
                    for sent in lost {
                        self.lost(c, sent, Failure::Read, now);
                    }
                    return self.reopen(poll, conns, i, now);
                }
                Ok(n) => {
                    let drained = stream.drained(n, buf.len());
                    c.last_read = now;
                    if self.measuring(now) {
                        self.tally.received(n as u64, now);
                    }
                    let session = c.h2.as_mut().expect("an HTTP/2 session");
                    let fed = session.feed(requests, &buf[..n], &mut |e| events.push(e));
                    if let Some(h2) = self.tally.http2.as_mut().filter(|h| h.server.is_none()) {
                        h2.server = session.server();
                    }
                    for event in events.drain(..) {
                        completed += self.h2_event(&mut conns[i], event, now);
                    }
                    if let Err(error) = fed {
                        // Say why before closing, as the protocol asks.
                        let c = &mut conns[i];
                        c.h2.as_mut().expect("an HTTP/2 session").close(error.code);
                        let _ = c
                            .stream
                            .as_mut()
                            .expect("an open socket")
                            .write(c.h2.as_ref().expect("an HTTP/2 session").unwritten());
                        self.events = events;
                        let kind = format!("connection error: {}", error.why);
                        return self.fail(poll, conns, i, Failure::Http2(kind), now);
                    }
                    if drained && !closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.events = events;
                    let why = failure::<T>(&e, Failure::Read);
                    return self.fail(poll, conns, i, why, now);
                }
            }
        }
        self.events = events;
        let c = &conns[i];
        if c.h2.as_ref().is_some_and(|s| s.closing()) && c.inflight.len() == c.pending {
            // A GOAWAY (or spent stream ids), and its streams are done: a
            // new connection takes over the requests waiting for a stream.
            return self.reopen(poll, conns, i, now);
        }
        if completed > 0 {
            self.fill(poll, conns, i, now);
        }
        // SETTINGS and PING acknowledgements, window updates, and streams
        // the server's new SETTINGS made room for.
        self.h2_flush(poll, conns, i, now);
    }

    /// Settles what one event says of a stream; returns the answers it counted.
    fn h2_event(&mut self, c: &mut Conn<T>, event: Event, now: Instant) -> usize {
        match event {
            Event::Answered { stream, status } => {
                let Some(k) = position(c, stream) else {
                    return 0;
                };
                let sent = c.inflight.remove(k).expect("a request in flight");
                c.answered |= self.record(
                    sent,
                    Response {
                        status,
                        close: false,
                    },
                    now,
                );
                1
            }
            Event::Reset { stream, code } => {
                if let Some(k) = position(c, stream) {
                    let sent = c.inflight.remove(k).expect("a request in flight");
                    self.lost(c, sent, Failure::Http2(reset_kind(code)), now);
                }
                0
            }
            Event::GoAway { last, code } => {
                // Streams past `last` were never processed: after a
                // graceful GOAWAY (a server that closes connections after
                // so many requests) they wait for the next connection, as
                // the protocol allows (RFC 9113 §8.7); after an error they
                // are lost, counted by the error's code.
                let opened = c.inflight.len() - c.pending;
                let first = c
                    .inflight
                    .range(..opened)
                    .position(|s| s.stream > last)
                    .unwrap_or(opened);
                let stranded: Vec<Sent> = c.inflight.drain(first..opened).collect();
                for mut sent in stranded {
                    if code != frame::NO_ERROR {
                        self.lost(c, sent, Failure::Http2(goaway_kind(code)), now);
                        continue;
                    }
                    if self.counts(&sent, now) {
                        self.tally.http2.as_mut().expect("an HTTP/2 tally").retried += 1;
                    }
                    sent.stream = 0;
                    c.inflight.push_back(sent);
                    c.pending += 1;
                }
                0
            }
        }
    }

    /// Counts one request lost on a connection that goes on.
    pub(super) fn lost(&mut self, c: &mut Conn<T>, sent: Sent, why: Failure, now: Instant) {
        if sent.measured {
            self.measured_inflight -= 1;
        }
        if self.counts(&sent, now) {
            self.tally.unanswered(&sent, now);
            self.tally.failed(why, 1, now);
            c.waited = true;
        }
    }

    /// Gives up on the streams older than the timeout: each is reset
    /// (RST_STREAM CANCEL) and counted, a stream whose request body the
    /// server's windows held as a flow-control stall, the rest as timeouts;
    /// the connection goes on. A connection the server said nothing on for
    /// the whole timeout is replaced instead, with all its requests.
    pub(super) fn h2_expire(&mut self, poll: &Poll, conns: &mut [Conn<T>], i: usize, now: Instant) {
        let timeout = self.work.timeout;
        let stale = |s: &Sent| now.saturating_duration_since(s.sent) > timeout;
        let mut expired = false;
        loop {
            let c = &mut conns[i];
            let Some(&oldest) = c.inflight.front().filter(|s| stale(s)) else {
                break;
            };
            if c.inflight.len() == c.pending {
                // Requests waiting for a stream the server never frees.
                return self.fail(poll, conns, i, Failure::Timeout, now);
            }
            let session = c.h2.as_mut().expect("an HTTP/2 session");
            let stalled = session.stalled(oldest.stream);
            if !stalled && now.saturating_duration_since(c.last_read) > timeout {
                return self.fail(poll, conns, i, Failure::Timeout, now);
            }
            session.cancel(oldest.stream);
            c.inflight.pop_front();
            let why = match stalled {
                true => Failure::Http2("flow-control stall".to_string()),
                false => Failure::Timeout,
            };
            self.lost(c, oldest, why, now);
            expired = true;
        }
        if expired {
            self.fill(poll, conns, i, now);
            self.h2_flush(poll, conns, i, now);
        }
    }
}

impl<T: Transport> Meter<'_, T> {
    /// Gives up, as timeouts, on requests carried over from a connection
    /// that went away when no new connection opened in time for them.
    pub(super) fn h2_abandon(&mut self, c: &mut Conn<T>, now: Instant) {
        let timeout = self.work.timeout;
        if c.inflight
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.sent) > timeout)
        {
            while let Some(sent) = c.inflight.pop_front() {
                self.lost(c, sent, Failure::Timeout, now);
            }
            c.pending = 0;
        }
    }
}

/// The drain's read of one HTTP/2 connection: counts the answers among
/// its streams and returns whether it is settled (every stream ended, or
/// the connection closed or broke).
pub(super) fn drain_read<T: Transport>(
    c: &mut Conn<T>,
    requests: &[crate::h2::Encoded],
    buf: &mut [u8],
    tally: &mut DrainTally,
) -> bool {
    loop {
        let stream = c.stream.as_mut().expect("an open socket");
        match stream.read(buf) {
            Ok(0) => return true,
            Ok(n) => {
                let drained = stream.drained(n, buf.len());
                let session = c.h2.as_mut().expect("an HTTP/2 session");
                let mut ended = Vec::new();
                let fed = session.feed(requests, &buf[..n], &mut |e| ended.push(e));
                // Window updates, so a large answer is not held up.
                let _ = stream.write(session.unwritten()).map(|n| session.wrote(n));
                let _ = stream.flush();
                for event in ended {
                    match event {
                        Event::Answered { stream, .. } => {
                            if let Some(k) = position(c, stream) {
                                c.inflight.remove(k);
                                tally.answered += 1;
                            }
                        }
                        Event::Reset { stream, .. } => {
                            if let Some(k) = position(c, stream) {
                                c.inflight.remove(k);
                                tally.lost += 1;
                            }
                        }
                        Event::GoAway { .. } => {}
                    }
                }
                if fed.is_err() || c.inflight.is_empty() {
                    return true;
                }
                if drained {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}
