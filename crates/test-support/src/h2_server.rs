//! A small HTTP/2 server for tests, on an OS-assigned loopback port: h2c
//! with prior knowledge, or h2 over TLS with ALPN, a thread per
//! connection, its frames written by hand so that a test can make it
//! misbehave in exactly one way: limit concurrent streams, reset streams,
//! send GOAWAY, or never grant a request body any window. It counts what
//! it did, so a test can check the load engine's counts against it.
//!
//! It reads the client's header blocks without decoding them (every
//! request is answered the same way), and answers each request once the
//! client has sent it whole and the server has read all the client had
//! sent so far, so a test sees how many streams were open at once.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::tls_server::{Cert, BODY};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How the server behaves; the default answers every request with 200
/// and [`BODY`], and limits nothing.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// SETTINGS_MAX_CONCURRENT_STREAMS to send and hold clients to: a
    /// stream past it is refused (RST_STREAM REFUSED_STREAM).
    pub max_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE to send; the server never sends a
    /// WINDOW_UPDATE, so a request body larger than it never arrives.
    pub initial_window: Option<u32>,
    /// Resets every n-th request (RST_STREAM with this error code) instead
    /// of answering it.
    pub reset_every: Option<(u64, u32)>,
    /// After answering this many requests on a connection, sends GOAWAY
    /// with this error code (0, NO_ERROR, for a graceful one) naming the
    /// last stream it answered, and closes.
    pub goaway_after: Option<(u64, u32)>,
    /// The status to answer with (200 when 0): a status the HPACK static
    /// table lacks is sent as a literal.
    pub status: u16,
    /// How long to wait before answering what was read.
    pub delay: Duration,
}

/// What the server did, counted as it went.
#[derive(Debug, Default)]
pub struct Counts {
    /// Requests answered.
    pub answered: AtomicU64,
    /// Streams reset by the server, refused ones included.
    pub reset: AtomicU64,
    /// Streams refused past the limit.
    pub refused: AtomicU64,
    /// Requests left unprocessed by a GOAWAY (streams past its last id).
    pub stranded: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// The most streams any connection had open at once.
    pub max_open: AtomicU64,
    /// Streams the client reset (RST_STREAM from the client).
    pub cancelled: AtomicU64,
}

pub struct H2Server {
    pub port: u16,
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl H2Server {
    /// An h2c server (prior knowledge, no TLS).
    pub fn start(behaviour: Behaviour) -> H2Server {
        H2Server::start_on(behaviour, None)
    }

    /// An h2 server over TLS, with ALPN `h2` and this certificate.
    pub fn start_tls(behaviour: Behaviour, cert: Cert) -> H2Server {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.chain, cert.key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        H2Server::start_on(behaviour, Some(Arc::new(config)))
    }

    fn start_on(behaviour: Behaviour, tls: Option<Arc<ServerConfig>>) -> H2Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = H2Server {
            port,
            counts: Arc::default(),
            stop: Arc::default(),
        };
        let (counts, stop) = (server.counts.clone(), server.stop.clone());
        let behaviour = Arc::new(behaviour);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                counts.connections.fetch_add(1, Ordering::SeqCst);
                let (counts, behaviour, tls, stop) =
                    (counts.clone(), behaviour.clone(), tls.clone(), stop.clone());
                thread::spawn(move || match tls {
                    None => {
                        Connection::new(stream.try_clone().unwrap(), &behaviour, &counts, &stop)
                            .serve()
                    }
                    Some(config) => {
                        let Ok(conn) = ServerConnection::new(config) else {
                            return;
                        };
                        let tls = StreamOwned::new(conn, stream.try_clone().unwrap());
                        Connection::new(tls, &behaviour, &counts, &stop).serve()
                    }
                });
            }
        });
        server
    }

    /// The URL of a path on this server, with the scheme its transport asks.
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for H2Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Connection<'a, S> {
    io: S,
    behaviour: &'a Behaviour,
    counts: &'a Counts,
    stop: &'a AtomicBool,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// Streams whose request is still arriving, and those wholly received.
    open: BTreeSet<u32>,
    ready: Vec<u32>,
    answered: u64,
    seen: u64,
    last: u32,
    goaway: bool,
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

impl<'a, S: Read + Write> Connection<'a, S> {
    fn new(io: S, behaviour: &'a Behaviour, counts: &'a Counts, stop: &'a AtomicBool) -> Self {
        Connection {
            io,
            behaviour,
            counts,
            stop,
            inbuf: Vec::new(),
            out: Vec::new(),
            open: BTreeSet::new(),
            ready: Vec::new(),
            answered: 0,
            seen: 0,
            last: 0,
            goaway: false,
        }
    }

    fn serve(mut self) {
        let mut settings = Vec::new();
        if let Some(max) = self.behaviour.max_streams {
            settings.extend_from_slice(&[0, 3]);
            settings.extend_from_slice(&max.to_be_bytes());
        }
        if let Some(window) = self.behaviour.initial_window {
            settings.extend_from_slice(&[0, 4]);
            settings.extend_from_slice(&window.to_be_bytes());
        }
        frame(&mut self.out, 0x4, 0, 0, &settings);
        let mut buf = vec![0u8; 64 * 1024];
        let mut preface = false;
        loop {
            if self.stop.load(Ordering::SeqCst) || self.flush().is_err() {
                return;
            }
            let n = match self.io.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            self.inbuf.extend_from_slice(&buf[..n]);
            if !preface {
                if self.inbuf.len() < PREFACE.len() {
                    continue;
                }
                if !self.inbuf.starts_with(PREFACE) {
                    return;
                }
                self.inbuf.drain(..PREFACE.len());
                preface = true;
            }
            if !self.frames() {
                return;
            }
            self.counts
                .max_open
                .fetch_max(self.open.len() as u64, Ordering::SeqCst);
            if !self.ready.is_empty() {
                thread::sleep(self.behaviour.delay);
                self.answer();
            }
            if self.goaway && self.open.is_empty() {
                let _ = self.flush();
                return;
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out)?;
            self.io.flush()?;
            self.out.clear();
        }
        Ok(())
    }

    /// Handles every complete frame read; false when the connection must end.
    fn frames(&mut self) -> bool {
        let mut at = 0;
        while self.inbuf.len() >= at + 9 {
            let h = &self.inbuf[at..at + 9];
            let len = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
            let (kind, flags) = (h[3], h[4]);
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            if self.inbuf.len() < at + 9 + len {
                break;
            }
            let payload = self.inbuf[at + 9..at + 9 + len].to_vec();
            at += 9 + len;
            match kind {
                // HEADERS: a new stream (CONTINUATION is not expected of
                // the small blocks tests send).
                0x1 => self.headers(stream, flags & 0x1 != 0),
                // DATA: the request is whole at END_STREAM.
                0x0 if flags & 0x1 != 0 && self.open.contains(&stream) => self.ready.push(stream),
                0x3 => {
                    self.counts.cancelled.fetch_add(1, Ordering::SeqCst);
                    self.open.remove(&stream);
                    self.ready.retain(|&s| s != stream);
                }
                0x4 if flags & 0x1 == 0 => frame(&mut self.out, 0x4, 0x1, 0, &[]),
                0x6 if flags & 0x1 == 0 => frame(&mut self.out, 0x6, 0x1, 0, &payload),
                0x7 => return false,
                _ => {}
            }
        }
        self.inbuf.drain(..at);
        true
    }

    fn headers(&mut self, stream: u32, end_stream: bool) {
        if self.goaway {
            self.counts.stranded.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if self
            .behaviour
            .max_streams
            .is_some_and(|max| self.open.len() as u64 >= u64::from(max))
        {
            self.counts.refused.fetch_add(1, Ordering::SeqCst);
            self.counts.reset.fetch_add(1, Ordering::SeqCst);
            frame(&mut self.out, 0x3, 0, stream, &7u32.to_be_bytes());
            return;
        }
        self.open.insert(stream);
        if end_stream {
            self.ready.push(stream);
        }
    }

    /// Answers (or resets) every request wholly received.
    fn answer(&mut self) {
        let status = match self.behaviour.status {
            0 => 200,
            s => s,
        };
        let block: Vec<u8> = match status {
            200 => vec![0x88],
            404 => vec![0x8d],
            s => {
                let mut b = vec![0x08, 3];
                b.extend_from_slice(s.to_string().as_bytes());
                b
            }
        };
        for stream in std::mem::take(&mut self.ready) {
            self.open.remove(&stream);
            if self.goaway {
                continue;
            }
            self.seen += 1;
            if let Some((n, code)) = self.behaviour.reset_every {
                if self.seen.is_multiple_of(n) {
                    self.counts.reset.fetch_add(1, Ordering::SeqCst);
                    frame(&mut self.out, 0x3, 0, stream, &code.to_be_bytes());
                    continue;
                }
            }
            frame(&mut self.out, 0x1, 0x4, stream, &block);
            frame(&mut self.out, 0x0, 0x1, stream, BODY);
            self.counts.answered.fetch_add(1, Ordering::SeqCst);
            self.answered += 1;
            self.last = self.last.max(stream);
            if let Some((_, code)) = self
                .behaviour
                .goaway_after
                .filter(|&(n, _)| n == self.answered)
            {
                let mut payload = self.last.to_be_bytes().to_vec();
                payload.extend_from_slice(&code.to_be_bytes());
                frame(&mut self.out, 0x7, 0, 0, &payload);
                self.goaway = true;
            }
        }
        if self.goaway {
            let stranded = self.open.len() as u64;
            self.counts.stranded.fetch_add(stranded, Ordering::SeqCst);
            self.open.clear();
        }
    }
}
