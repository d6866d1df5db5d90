//! One engine thread: its own event loop over its share of the connections.
//!
//! There is one loop for every mode; the plan's enums decide what it does at
//! the few points where closed and open loop, or duration and count, differ.
//! The loop keeps one edge-triggered registration per socket for its whole
//! life, writes the next request straight after parsing a complete response,
//! and reads a socket once per readiness event unless the read filled the
//! buffer: about two system calls per request.
//!
//! The loop is generic over the connection's [`Transport`], plain TCP or
//! TLS, and compiled for each: a plain load runs no TLS code at all.
//!
//! The loop is here; what it drives is in modules of their own: one
//! connection's state machine in [`conn`], the open-loop schedule and the
//! count's quota in [`schedule`], the choice of a request list's entries in
//! [`pick`], and what is counted, and how the threads' counts are merged,
//! in [`tally`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use framewut_sys::CpuTime;
use mio::{Events, Poll};

use crate::h2::{Encoded, Event, Windows};
use crate::live::Snapshot;
use crate::parse::Response;
use crate::tls::HANDSHAKE_TIMEOUT;
use crate::transport::Transport;
use crate::{Pacing, Stop, TargetOrder};

use alarm::Alarm;
use conn::{Conn, Failure, Sent, State};
use pick::Picker;
use schedule::Schedule;
use tally::DrainTally;
pub(crate) use tally::{merge, Tally};

mod alarm;
mod conn;
mod h2;
mod pick;
mod schedule;
mod tally;

/// How often timeouts and delayed reconnects are checked.
const TICK: Duration = Duration::from_millis(10);
/// Bytes read per `read` call; large enough that a 590 KB body takes few calls.
const READ_BUF: usize = 256 * 1024;
/// How often a watched load copies its tallies for the live view.
const PUBLISH: Duration = Duration::from_millis(200);
/// How late a coalescing thread's nap may end.
const COALESCE_SLACK: Duration = Duration::from_micros(1);

/// What one thread is asked to do.
pub(crate) struct Work<'a> {
    pub addr: SocketAddr,
    /// Every request of the load, serialised once; most loads have one.
    pub requests: &'a [Vec<u8>],
    pub order: TargetOrder,
    /// Where this thread's round-robin cycle starts.
    pub first: u64,
    /// Where this thread copies its tallies for a live view, if one watches.
    pub live: Option<&'a Mutex<Snapshot>>,
    pub connections: usize,
    pub pipeline: usize,
    pub pacing: Pacing,
    pub stop: Stop,
    /// This thread's share of a request count, when the stop is a count.
    pub quota: u64,
    /// This thread's share of an open-loop rate, requests per second.
    pub rate: f64,
    pub timeout: Duration,
    pub busy_poll: Duration,
    pub coalesce: Duration,
    pub no_body: bool,
    pub start: Instant,
    pub warmup_end: Instant,
    /// Measured windows, each `Stop::After`'s length, back to back.
    pub windows: u32,
    /// How long to wait after the last window for the requests already sent.
    pub drain: Option<Duration>,
    pub cancel: &'a AtomicBool,
    /// HTTP/2 loads: the requests as HTTP/2 encodes them, and the windows
    /// granted; `pipeline` is then the streams per connection.
    pub h2: Option<Http2Work<'a>>,
}

/// What an HTTP/2 load's threads share.
#[derive(Clone, Copy)]
pub(crate) struct Http2Work<'a> {
    pub requests: &'a [Encoded],
    pub windows: Windows,
}

/// What one thread measured: a tally per window, and its drain.
pub(crate) struct Finished {
    pub windows: Vec<Tally>,
    pub drain: Option<DrainTally>,
}

/// The loop's state apart from the connections, so both can be borrowed at once.
struct Meter<'a, T: Transport> {
    work: &'a Work<'a>,
    setup: &'a T::Setup,
    /// The current window's tally.
    tally: Tally,
    /// A single request: all the copies a connection may have queued, back
    /// to back, so a pipelined batch goes in one `write`.
    batch: Vec<u8>,
    picker: Picker,
    schedule: Schedule,
    measured_inflight: u64,
    /// Connections that may take an open-loop request.
    ready: Vec<usize>,
    /// HTTP/2: what a read meant, kept between reads for its capacity.
    events: Vec<Event>,
}

/// Runs one thread's share of the load on `poll`, its own epoll instance.
pub(crate) fn run<T: Transport>(work: &Work, setup: &T::Setup, mut poll: Poll) -> Finished {
    if !work.coalesce.is_zero() {
        // A coalescing nap of some microseconds would otherwise last the
        // default slack, 50 µs, longer. Refused, it only naps longer.
        let _ = framewut_sys::set_timer_slack(COALESCE_SLACK);
    }
    let mut events = Events::with_capacity(1024);
    let mut alarm = Alarm::new(&poll, work.start);
    let mut buf = vec![0u8; READ_BUF];
    let mut meter = Meter::<T> {
        work,
        setup,
        tally: Tally::new(
            work.warmup_end,
            matches!(work.pacing, Pacing::Open(_)),
            T::HANDSHAKE,
            work.requests.len(),
            work.h2.map(|_| work.pipeline),
        ),
        batch: match work.requests {
            [one] => one.repeat(work.pipeline),
            _ => Vec::new(),
        },
        picker: Picker::new(work.requests.len(), work.order, work.first),
        schedule: Schedule::new(
            work.start,
            matches!(work.pacing, Pacing::Open(_)).then_some(work.rate),
            matches!(work.stop, Stop::Requests(_)).then_some(work.quota),
        ),
        measured_inflight: 0,
        ready: Vec::with_capacity(work.connections),
        events: Vec::new(),
    };
    let now = Instant::now();
    let mut conns: Vec<Conn<T>> = (0..work.connections)
        .map(|_| Conn::new(now, work.no_body, work.pipeline))
        .collect();
    for i in 0..conns.len() {
        meter.connect(&poll, &mut conns, i, now);
    }

    let mut cpu_start = (work.warmup_end <= now).then(CpuTime::this_thread);
    let mut next_tick = now + TICK;
    let mut next_publish = now;
    let window = match work.stop {
        Stop::After(d) => Some(d),
        Stop::Requests(_) => None,
    };
    let mut end = window.map(|d| work.warmup_end + d);
    let mut finished_windows = Vec::new();
    let mut now = now;
    loop {
        if cpu_start.is_none() && now >= work.warmup_end {
            cpu_start = Some(CpuTime::this_thread());
        }
        if work.cancel.load(Ordering::Relaxed) {
            break;
        }
        if let (Some(e), Some(d)) = (end, window) {
            if now >= e {
                if finished_windows.len() as u32 + 1 >= work.windows {
                    break;
                }
                // The next window takes over the same connections and the
                // requests in flight on them, as a load of its own would
                // take over its warm-up's.
                let cpu =
                    cpu_start.map_or_else(CpuTime::default, |s| CpuTime::this_thread().since(s));
                cpu_start = Some(CpuTime::this_thread());
                finished_windows.push(meter.close_window(&mut conns, e, cpu));
                end = Some(e + d);
                continue;
            }
        }
        if end.is_none() && meter.schedule.quota_spent() && meter.measured_inflight == 0 {
            break;
        }
        // What must not wait: the end of the window, and an open-loop
        // request due on a connection ready for it.
        let mut deadline = Duration::MAX;
        if let Some(e) = end {
            deadline = e.saturating_duration_since(now);
        }
        if let Some(due) = meter.schedule.next_due() {
            if !meter.ready.is_empty() {
                deadline = deadline.min(due.saturating_duration_since(now));
            }
        }
        let to_tick = next_tick.saturating_duration_since(now);
        // The poll's timeout is in whole milliseconds: the alarm wakes the
        // loop at that moment itself, not up to a millisecond after it.
        if !deadline.is_zero() && deadline < to_tick {
            alarm.wake_after(now, deadline);
        }
        let mut wait = to_tick.min(deadline);
        // Coalescing: a thread that has just read something lets more
        // answers gather before it looks again, as a network card holds
        // its interrupts. A sleep on its own timer costs the server
        // nothing, where a wake-up by the server's write costs it one.
        // Timeouts and reconnects, checked each tick, can wait for it.
        if !work.coalesce.is_zero() && events.iter().any(|e| e.token() != alarm::TOKEN) {
            let nap = work.coalesce.min(deadline);
            std::thread::sleep(nap);
            wait = wait.saturating_sub(nap);
        }
        // With busy polling, look without sleeping for a while first: on
        // loopback, waking a sleeping generator costs the server's CPU (the
        // wake-up is done by whoever sends the packet).
        let spin = work.busy_poll;
        let spin_until = now + spin.min(wait);
        loop {
            let timeout = if !spin.is_zero() && Instant::now() < spin_until {
                Duration::ZERO
            } else {
                wait.saturating_sub(spin)
            };
            if let Err(e) = poll.poll(&mut events, Some(timeout)) {
                assert_eq!(
                    e.kind(),
                    io::ErrorKind::Interrupted,
                    "epoll_wait failed: {e}"
                );
            }
            if !events.is_empty() || !timeout.is_zero() || Instant::now() >= now + wait {
                break;
            }
        }
        now = Instant::now();
        for event in events.iter() {
            if event.token() == alarm::TOKEN {
                continue;
            }
            let i = event.token().0;
            match conns[i].state {
                State::Connecting => meter.on_connecting(&poll, &mut conns, i, now),
                State::Handshaking => meter.on_handshaking(&poll, &mut conns, i, now),
                State::Open => {
                    if event.is_writable()
                        && (conns[i].pending > 0
                            || conns[i].h2.is_some()
                            || conns[i].stream.as_ref().is_some_and(T::wants_write))
                    {
                        meter.flush(&poll, &mut conns, i, now);
                    }
                    if (event.is_readable() || event.is_read_closed() || event.is_error())
                        && conns[i].state == State::Open
                    {
                        meter.on_readable(
                            &poll,
                            &mut conns,
                            i,
                            &mut buf,
                            now,
                            event.is_read_closed(),
                        );
                    }
                }
                State::Down { .. } => {}
            }
        }
        if matches!(work.pacing, Pacing::Open(_)) {
            meter.dispatch(&poll, &mut conns, now);
        }
        if now >= next_tick {
            meter.tick(&poll, &mut conns, now);
            next_tick = now + TICK;
            if let Some(slot) = work.live.filter(|_| now >= next_publish) {
                let open = conns.iter().filter(|c| c.state == State::Open).count();
                meter.tally.publish(slot, open);
                next_publish = now + PUBLISH;
            }
        }
    }

    let finished = Instant::now();
    // Closing the timer takes it out of the epoll set the drain polls.
    drop(alarm);
    // What is left is counted where the window ended, as between windows:
    // the thread wakes a little after that end, and a request falling due
    // in between was never the window's to send.
    let ended = end.map_or(finished, |e| e.min(finished));
    meter.settle_leftovers(&conns, ended);
    let cancelled = work.cancel.load(Ordering::Relaxed);
    let cpu = cpu_start.map_or_else(CpuTime::default, |s| CpuTime::this_thread().since(s));
    finished_windows.push(meter.tally.ended(ended, cpu));
    let drain = work
        .drain
        .filter(|_| !cancelled)
        .map(|limit| drain(&mut poll, &mut events, &mut conns, &mut buf, limit, work.h2));
    Finished {
        windows: finished_windows,
        drain,
    }
}

/// After the last window: sends nothing more and waits, up to `limit`, for
/// the answers to the requests already wholly sent, closing each
/// connection as its last answer comes in. A request not wholly written
/// can get no answer, so it is dropped with its connection.
fn drain<T: Transport>(
    poll: &mut Poll,
    events: &mut Events,
    conns: &mut [Conn<T>],
    buf: &mut [u8],
    limit: Duration,
    http2: Option<Http2Work>,
) -> DrainTally {
    let start = Instant::now();
    let deadline = start + limit;
    let mut tally = DrainTally::default();
    let close = |poll: &Poll, c: &mut Conn<T>| {
        if let Some(mut stream) = c.stream.take() {
            let _ = poll.registry().deregister(stream.socket());
        }
    };
    let mut waiting = 0;
    for c in conns.iter_mut() {
        match (c.state == State::Open, c.h2.as_ref()) {
            (false, _) => c.inflight.clear(),
            // HTTP/2: the streams whose requests were wholly written.
            (true, Some(session)) => c.inflight.retain(|s| session.whole(s.stream)),
            (true, None) => c.inflight.truncate(c.inflight.len() - c.pending),
        }
        c.pending = 0;
        let sent = c.inflight.len();
        if sent == 0 {
            close(poll, c);
        } else {
            waiting += 1;
        }
    }
    while waiting > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if let Err(e) = poll.poll(events, Some(deadline - now)) {
            assert_eq!(
                e.kind(),
                io::ErrorKind::Interrupted,
                "epoll_wait failed: {e}"
            );
        }
        for event in events.iter() {
            let c = &mut conns[event.token().0];
            if c.stream.is_none() {
                continue;
            }
            let settled = if let Some(h2) = http2 {
                h2::drain_read(c, h2.requests, buf, &mut tally)
            } else {
                loop {
                    let stream = c.stream.as_mut().expect("an open socket");
                    match stream.read(buf) {
                        Ok(0) => {
                            if let Ok(Some(_)) = c.parser.eof() {
                                if c.inflight.pop_front().is_some() {
                                    tally.answered += 1;
                                }
                            }
                            break true;
                        }
                        Ok(n) => {
                            let drained = stream.drained(n, buf.len());
                            let inflight = &mut c.inflight;
                            let mut answered = 0;
                            let result = c.parser.feed(&buf[..n], &mut |_: Response| {
                                if inflight.pop_front().is_some() {
                                    answered += 1;
                                }
                            });
                            tally.answered += answered;
                            if !matches!(result, Ok(false)) || c.inflight.is_empty() {
                                break true;
                            }
                            if drained {
                                break false;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break true,
                    }
                }
            };
            if settled {
                tally.lost += c.inflight.len() as u64;
                c.inflight.clear();
                close(poll, c);
                waiting -= 1;
            }
        }
    }
    tally.left = conns.iter().map(|c| c.inflight.len() as u64).sum();
    tally.elapsed = start.elapsed();
    tally
}

impl<T: Transport> Meter<'_, T> {
    fn measuring(&self, now: Instant) -> bool {
        now >= self.work.warmup_end
    }

    /// Whether a request's outcome at `now` is counted. A timed load counts
    /// every outcome inside its window, whenever the request was sent: in a
    /// closed loop each connection has a request in flight when the warm-up
    /// ends, and leaving out how those end takes a whole round trip off the
    /// window (seconds, where a blocking server queues many connections), or
    /// hides a connection that waited through it. A count-bounded load
    /// counts exactly the requests it sent in its measured phase.
    fn counts(&self, sent: &Sent, now: Instant) -> bool {
        match self.work.stop {
            Stop::After(_) => self.measuring(now),
            Stop::Requests(_) => sent.measured,
        }
    }

    /// Gives a connection its next requests: closed loop sends up to the
    /// pipeline depth; open loop lists it for the schedule.
    fn fill(&mut self, poll: &Poll, conns: &mut [Conn<T>], i: usize, now: Instant) {
        match self.work.pacing {
            Pacing::Closed => {
                let room = self.work.pipeline - conns[i].inflight.len();
                let mut n = 0;
                while n < room && self.may_issue(now) {
                    self.queue(&mut conns[i], now, now);
                    n += 1;
                }
                if n > 0 {
                    self.flush(poll, conns, i, now);
                }
            }
            Pacing::Open(_) => {
                if !conns[i].listed && conns[i].inflight.len() < self.work.pipeline {
                    conns[i].listed = true;
                    self.ready.push(i);
                }
            }
        }
    }

    fn may_issue(&self, intended: Instant) -> bool {
        !self.measuring(intended) || !self.schedule.quota_spent()
    }

    /// Records one request as sent and queues its bytes.
    fn queue(&mut self, c: &mut Conn<T>, intended: Instant, now: Instant) {
        let measured = self.measuring(intended);
        self.schedule.issue(measured);
        self.measured_inflight += u64::from(measured);
        let target = self.picker.pick(&mut c.next);
        c.inflight.push_back(Sent {
            intended,
            sent: now,
            measured,
            target,
            stream: 0,
        });
        c.pending += 1;
    }

    /// Sends open-loop requests whose intended time has come, oldest first.
    fn dispatch(&mut self, poll: &Poll, conns: &mut [Conn<T>], now: Instant) {
        while let Some(due) = self.schedule.next_due() {
            if due > now {
                break;
            }
            let Some(i) = self.ready.pop() else {
                break;
            };
            conns[i].listed = false;
            if conns[i].state != State::Open || conns[i].inflight.len() >= self.work.pipeline {
                continue;
            }
            self.queue(&mut conns[i], due, now);
            self.flush(poll, conns, i, now);
            if conns[i].state == State::Open && conns[i].inflight.len() < self.work.pipeline {
                conns[i].listed = true;
                self.ready.push(i);
            }
        }
    }

    /// Replaces connections whose oldest request is past the timeout, and
    /// retries connections whose connect failed.
    fn tick(&mut self, poll: &Poll, conns: &mut [Conn<T>], now: Instant) {
        let timeout = self.work.timeout;
        for i in 0..conns.len() {
            let h2 = self.work.h2.is_some();
            if h2 && conns[i].state != State::Open && !conns[i].inflight.is_empty() {
                self.h2_abandon(&mut conns[i], now);
            }
            match conns[i].state {
                State::Open if h2 => self.h2_expire(poll, conns, i, now),
                State::Open => {
                    let stale = conns[i]
                        .inflight
                        .front()
                        .is_some_and(|s| now.saturating_duration_since(s.sent) > timeout);
                    if stale {
                        self.fail(poll, conns, i, Failure::Timeout, now);
                    }
                }
                State::Connecting if now.saturating_duration_since(conns[i].since) > timeout => {
                    if let Some(mut stream) = conns[i].stream.take() {
                        let _ = poll.registry().deregister(stream.socket());
                    }
                    self.connect_failed(conns, i, now);
                }
                // A server that stalls mid-handshake is given the request
                // timeout, then the attempt fails and is made again.
                State::Handshaking if now.saturating_duration_since(conns[i].since) > timeout => {
                    self.attempt_failed(conns, i, now, Some(HANDSHAKE_TIMEOUT.to_string()));
                }
                State::Down { retry_at }
                    if now >= retry_at && !(self.measuring(now) && self.schedule.quota_spent()) =>
                {
                    self.connect(poll, conns, i, now);
                }
                _ => {}
            }
        }
    }

    /// Ends the current window at `at` (a boundary between two windows):
    /// counts what is in flight as the end of a load would, and opens the
    /// next window's tally. Returns the ended window's.
    fn close_window(&mut self, conns: &mut [Conn<T>], at: Instant, cpu: CpuTime) -> Tally {
        self.settle_leftovers(conns, at);
        for c in conns.iter_mut() {
            c.waited = false;
            c.answered = false;
        }
        self.tally.end_window(at, cpu)
    }

    /// At the end, counts requests still in flight: as timeouts when older
    /// than the timeout, else as unfinished, each at its age; the
    /// connections left silent; and the open-loop backlog.
    fn settle_leftovers(&mut self, conns: &[Conn<T>], now: Instant) {
        for c in conns {
            let mut waited = c.waited;
            for s in &c.inflight {
                if !self.counts(s, now) {
                    continue;
                }
                waited = true;
                self.tally.in_flight_at_end(s, now, self.work.timeout);
            }
            // A connection still in its TLS handshake that never got an
            // answer waited too: the server left it silent before it could
            // send a request (a sync pool's busy workers accept no more).
            waited |= T::HANDSHAKE && c.state == State::Handshaking;
            self.tally.silent += u64::from(waited && !c.answered);
        }
        self.tally.backlog = self.schedule.backlog(now);
    }
}
