//! The engine against hostile servers: each a tiny raw-TCP server on
//! loopback that misbehaves one way. Every load is bounded by a request
//! count (or a short duration) and a short timeout, and every test asserts
//! the exact counts and error kinds, the time it took, and the memory the
//! process reached (nextest runs each test in a process of its own).
//!
//! The counts are exact by construction, not by luck: each server decides
//! per connection what it sends, and a count-bounded load settles each of
//! its requests one way or another.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use framewut_load::{Errors, LoadPlan, LoadReport, Stop, Target};

/// A server whose every connection is handed to `serve` on a thread of its own.
struct Raw {
    port: u16,
    /// Complete request heads the server read, all connections together.
    heads: Arc<AtomicU64>,
}

impl Raw {
    fn start(serve: impl Fn(&mut Conn) + Send + Sync + 'static) -> Raw {
        Raw::on(TcpListener::bind("127.0.0.1:0").unwrap(), serve)
    }

    /// A server on a listener prepared by the caller.
    fn on(listener: TcpListener, serve: impl Fn(&mut Conn) + Send + Sync + 'static) -> Raw {
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(AtomicU64::new(0));
        let serve = Arc::new(serve);
        let counter = heads.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (serve, heads) = (serve.clone(), counter.clone());
                thread::spawn(move || {
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let _ = stream.set_nodelay(true);
                    serve(&mut Conn {
                        stream,
                        pending: Vec::new(),
                        heads,
                    });
                });
            }
        });
        Raw { port, heads }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn heads(&self) -> u64 {
        self.heads.load(Ordering::SeqCst)
    }
}

/// One accepted connection, with what was read past the last request head.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    heads: Arc<AtomicU64>,
}

impl Conn {
    /// Reads until one more request head is complete (a body, if any, is
    /// left in `pending`); false when the client went away first.
    fn head(&mut self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                self.pending.drain(..end + 4);
                self.heads.fetch_add(1, Ordering::SeqCst);
                return true;
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Reads once, then takes every complete request head read so far;
    /// returns how many (0 when the client went away).
    fn heads_in_one_read(&mut self) -> usize {
        let mut buf = [0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => self.pending.extend_from_slice(&buf[..n]),
        }
        let mut n = 0;
        while let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
            self.pending.drain(..end + 4);
            n += 1;
        }
        self.heads.fetch_add(n as u64, Ordering::SeqCst);
        n
    }

    fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Reads and drops everything until the client closes, so that closing
    /// here sends a FIN, not a reset for unread data.
    fn drain(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        while matches!(self.stream.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Answers every request with `response` until the client goes away.
    fn answer_all(&mut self, response: &[u8]) {
        while self.head() && self.send(response) {}
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A one-thread plan with a short timeout.
fn plan(url: &str, connections: usize, stop: Stop, timeout_ms: u64) -> LoadPlan {
    let mut p = LoadPlan::new(Target::parse(url).unwrap());
    p.connections = connections;
    p.threads = 1;
    p.stop = stop;
    p.timeout = Duration::from_millis(timeout_ms);
    p
}

/// Runs a load and checks it ended within `limit` and kept this process
/// (engine and server threads together) under 64 MiB at its peak.
fn run(p: &LoadPlan, limit: Duration) -> LoadReport {
    let started = Instant::now();
    let r = framewut_load::run(p).unwrap();
    let took = started.elapsed();
    assert!(took < limit, "took {took:?}, over {limit:?}");
    let peak = peak_rss_kib();
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    r
}

/// This process's peak resident set, from /proc/self/status.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Errors with only the given kinds set, for exact comparison.
fn only(set: impl FnOnce(&mut Errors)) -> Errors {
    let mut e = Errors::default();
    set(&mut e);
    e
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_server_that_never_answers_gives_one_timeout_per_request() {
    let server = Raw::start(|c| while c.head() {});
    let r = run(&plan(&server.url(), 2, Stop::Requests(4), 200), secs(3));
    assert_eq!(r.errors, only(|e| e.timeout = 4));
    assert_eq!((r.requests, r.responses), (0, 0));
    assert_eq!(r.silent_connections, 2);
    assert_eq!(
        r.connections_opened, 6,
        "each timeout replaces its connection"
    );
}

#[test]
fn a_server_that_stalls_mid_body_gives_timeouts() {
    const PART: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..";
    let server = Raw::start(|c| while c.head() && c.send(PART) {});
    let r = run(&plan(&server.url(), 1, Stop::Requests(3), 200), secs(3));
    assert_eq!(r.errors, only(|e| e.timeout = 3));
    assert_eq!(r.requests, 0);
    assert_eq!(r.bytes, 3 * PART.len() as u64);
}

#[test]
fn a_ten_gigabyte_body_is_given_up_at_the_timeout_in_bounded_memory() {
    let server = Raw::start(|c| {
        if c.head() && c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n") {
            let block = vec![b'x'; 256 * 1024];
            while c.send(&block) {}
        }
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(1), 300), secs(3));
    assert_eq!(r.errors, only(|e| e.timeout = 1));
    assert_eq!(r.requests, 0);
    assert!(r.bytes > 1 << 20, "the body streamed: {} bytes", r.bytes);
}

#[test]
fn endless_headers_are_a_parse_error_at_64_kib() {
    let server = Raw::start(|c| {
        while c.head() && c.send(b"HTTP/1.1 200 OK\r\n") {
            while c.send(b"X-More: and more and more\r\n") {}
        }
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(2), 2000), secs(3));
    assert_eq!(r.errors, only(|e| e.parse = 2));
    assert_eq!(r.requests, 0);
}

#[test]
fn broken_chunking_is_a_parse_error() {
    let server = Raw::start(|c| {
        // A chunk of 4 bytes followed by 5: no CRLF where the chunk ends.
        c.answer_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhello\r\n0\r\n\r\n",
        );
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(3), 1000), secs(3));
    assert_eq!(r.errors, only(|e| e.parse = 3));
}

#[test]
fn a_chunk_size_past_sixty_bits_is_a_parse_error() {
    let server = Raw::start(|c| {
        c.answer_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n");
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(3), 1000), secs(3));
    assert_eq!(r.errors, only(|e| e.parse = 3));
}

#[test]
fn a_reset_connection_gives_read_errors() {
    // Closing with the request unread makes the kernel send a reset.
    let server = Raw::start(|_| thread::sleep(Duration::from_millis(30)));
    let r = run(&plan(&server.url(), 1, Stop::Requests(3), 1000), secs(3));
    assert_eq!(r.errors, only(|e| e.read = 3));
    assert_eq!(r.connections_opened, 4);
}

#[test]
fn a_server_that_closes_before_answering_gives_read_errors() {
    let server = Raw::start(|c| {
        if c.head() {
            let _ = c.stream.shutdown(Shutdown::Write);
            c.drain();
        }
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(3), 1000), secs(3));
    assert_eq!(r.errors, only(|e| e.read = 3));
}

#[test]
fn a_body_cut_short_by_the_close_is_a_read_error() {
    let server = Raw::start(|c| {
        if c.head() && c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort") {
            let _ = c.stream.shutdown(Shutdown::Write);
            c.drain();
        }
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(2), 1000), secs(3));
    assert_eq!(r.errors, only(|e| e.read = 2));
}

#[test]
fn garbage_status_lines_are_parse_errors() {
    for garbage in [
        &b"HTTP/1.1 abc OK\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 99999 Too Long\r\n\r\n",
    ] {
        let server = Raw::start(move |c| c.answer_all(garbage));
        let r = run(&plan(&server.url(), 1, Stop::Requests(2), 1000), secs(3));
        assert_eq!(
            r.errors,
            only(|e| e.parse = 2),
            "{}",
            String::from_utf8_lossy(garbage)
        );
    }
}

#[test]
fn a_full_accept_backlog_gives_connect_errors() {
    // A listener that never accepts: fill its queue until a connect hangs.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Listening again sets the backlog: one waiting connection, soon full.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 1) }, 0);
    let mut held = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
        held.push(s);
        assert!(held.len() < 100, "the backlog never filled");
    }
    let url = format!("http://{addr}/");
    let r = run(&plan(&url, 1, Stop::Requests(2), 200), secs(3));
    assert_eq!(r.errors, only(|e| e.connect = 2));
    assert_eq!(r.requests, 0);
}

#[test]
fn a_refused_port_gives_connect_errors() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let r = run(&plan(&url, 2, Stop::Requests(5), 200), secs(3));
    assert_eq!(r.errors, only(|e| e.connect = 5));
}

#[test]
fn one_byte_every_100_ms_is_a_timeout_not_a_hang() {
    let server = Raw::start(|c| {
        if c.head() {
            for b in OK {
                if !c.send(&[*b]) {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(1), 500), secs(2));
    assert_eq!(r.errors, only(|e| e.timeout = 1));
    // About one byte per 100 ms of the 500 ms: fewer on a busy machine, never all.
    assert!(
        (1..=8).contains(&r.bytes),
        "{} bytes by the timeout",
        r.bytes
    );
}

#[test]
fn error_statuses_are_counted_by_code() {
    let server = Raw::start(|c| {
        let mut n = 0;
        while c.head() {
            n += 1;
            let code = if n % 2 == 0 { 503 } else { 200 };
            let head = format!("HTTP/1.1 {code} X\r\nContent-Length: 2\r\n\r\nok");
            if !c.send(head.as_bytes()) {
                return;
            }
        }
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(10), 1000), secs(3));
    assert_eq!(
        r.errors,
        only(|e| {
            e.status.insert(503, 5);
        })
    );
    assert_eq!((r.requests, r.responses), (5, 10));
}

#[test]
fn interim_responses_before_the_answer_are_skipped() {
    let server = Raw::start(|c| {
        c.answer_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(5), 1000), secs(3));
    assert_eq!(r.errors, Errors::default());
    assert_eq!(r.requests, 5);
}

// The defects: each test failed before its fix.

#[test]
fn conflicting_content_lengths_are_a_parse_error_not_a_success() {
    // RFC 9112 section 6.3: 50 then 5 leaves the framing unknowable.
    let server = Raw::start(|c| {
        c.answer_all(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nContent-Length: 5\r\n\r\nhello");
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(3), 1000), secs(3));
    assert_eq!(r.errors, only(|e| e.parse = 3));
    assert_eq!(r.requests, 0);
    // The same length twice is one length (RFC 9110 section 8.6).
    let server = Raw::start(|c| {
        c.answer_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(3), 1000), secs(3));
    assert_eq!(r.errors, Errors::default());
    assert_eq!(r.requests, 3);
}

#[test]
fn a_bad_response_with_no_request_in_flight_is_counted() {
    // Each connection: the answer, then garbage nobody asked for, in one write.
    let server = Raw::start(|c| {
        if c.head() && c.send(&[OK, b"garbage\r\n\r\n"].concat()) {
            c.drain();
        }
    });
    let r = run(&plan(&server.url(), 1, Stop::Requests(4), 1000), secs(3));
    assert_eq!(r.requests, 4);
    assert_eq!(r.errors, only(|e| e.parse = 4));
}

#[test]
fn a_server_answering_twice_never_gets_more_answers_counted_than_it_was_asked() {
    // Every request read is answered twice, all in one write per read.
    let server = Raw::start(|c| loop {
        let n = c.heads_in_one_read();
        if n == 0 || !c.send(&OK.repeat(2 * n)) {
            return;
        }
    });
    let mut p = plan(&server.url(), 1, Stop::Requests(300), 1000);
    p.pipeline = 100;
    let r = run(&p, secs(3));
    assert!(
        r.responses <= server.heads(),
        "{} answers counted for {} requests",
        r.responses,
        server.heads()
    );
    // The extra answers show; each connection they came on is replaced,
    // out of step as it is, before it can answer a request wrongly.
    assert_eq!(r.requests, 300);
    assert_eq!(r.errors, only(|e| e.parse = 3));
    assert_eq!(r.connections_opened, 4);
}

#[test]
fn a_response_never_answers_a_request_still_waiting_to_be_written() {
    // The server reads one request head, answers three, and reads no more:
    // the other two requests cannot leave the client. Their 5 MB bodies are
    // more than the client's send buffer (4 MiB at most, tcp_wmem) and the
    // server's receive buffer (set to 16 KiB here) hold together.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let size: libc::c_int = 16 * 1024;
    let set = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    let server = Raw::on(listener, |c| {
        if c.head() && c.send(&OK.repeat(3)) {
            thread::sleep(Duration::from_secs(2));
        }
    });
    let mut p = plan(&server.url(), 1, Stop::Requests(3), 1000);
    p.pipeline = 3;
    p.request.method = "POST".into();
    p.request.body = vec![b'b'; 5 << 20];
    let r = run(&p, secs(3));
    assert_eq!(r.requests, 1, "only the request that went out is answered");
    assert_eq!(r.errors, only(|e| e.parse = 2));
}

#[test]
fn requests_behind_a_close_delimited_response_are_lost_not_carried_over() {
    // HTTP/1.0 with no length: the body runs to the close, after one answer.
    let server = Raw::start(|c| {
        if c.head() && c.send(b"HTTP/1.0 200 OK\r\n\r\nbody") {
            let _ = c.stream.shutdown(Shutdown::Write);
            c.drain();
        }
    });
    let mut p = plan(&server.url(), 1, Stop::Requests(16), 1000);
    p.pipeline = 8;
    let r = run(&p, secs(3));
    assert_eq!(r.requests, 2);
    assert_eq!(r.errors, only(|e| e.read = 14));
    assert_eq!(
        server.heads(),
        2,
        "the server read one request per connection"
    );
}

#[test]
fn more_than_64_headers_are_not_an_error() {
    let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..300 {
        response.extend_from_slice(format!("X-Header-{i}: value\r\n").as_bytes());
    }
    response.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    let server = Raw::start(move |c| c.answer_all(&response));
    let r = run(&plan(&server.url(), 1, Stop::Requests(20), 1000), secs(3));
    assert_eq!(r.errors, Errors::default());
    assert_eq!(r.requests, 20);
}

#[test]
fn a_101_switching_protocols_is_an_upgrade_error_not_a_timeout() {
    let server = Raw::start(|c| {
        if c.head()
            && c.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi")
        {
            c.drain();
        }
    });
    let mut p = plan(&server.url(), 1, Stop::Requests(6), 2000);
    p.pipeline = 2;
    let r = run(&p, secs(1));
    // Each connection: the upgraded request and the one pipelined behind it.
    assert_eq!(r.errors, only(|e| e.upgrade = 6));
    assert_eq!(r.requests, 0);
    assert_eq!(r.connections_opened, 4);
}
