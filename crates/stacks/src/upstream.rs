//! The upstream: a stand-in for the remote endpoint behind `/upstream`.
//!
//! It answers every GET with `{"message":"upstream"}` after a fixed delay,
//! and delays the first response on each new connection by a further connect
//! cost (a stand-in for TCP and TLS set-up to a far host), so a client that
//! reuses connections is visibly faster. It counts connections accepted,
//! requests served and peak concurrent connections, and reports them as JSON
//! on `GET /__stats` (that request is not counted).
//!
//! With [`UpstreamConfig::tls`] it serves HTTPS instead, and a new
//! connection costs a real TLS handshake, CPU and round trips included, in
//! place of the fake connect cost (which must then be zero). `/__stats` then
//! also counts the handshakes completed: `handshakes` (full) and
//! `resumptions` (abbreviated, from a session ticket), as rustls reports
//! each connection's handshake kind. `/__stats` itself is fetched over
//! HTTPS too, on a connection of its own that the counters include.
//!
//! ```no_run
//! use std::time::Duration;
//! use framewut_stacks::upstream::{UpstreamConfig, UpstreamServer};
//!
//! let config = UpstreamConfig {
//!     delay: Duration::from_millis(50),
//!     connect_cost: Duration::from_millis(30),
//!     ..UpstreamConfig::default()
//! };
//! let server = UpstreamServer::start(config).unwrap();
//! println!("upstream on {}", server.local_addr());
//! println!("{}", server.stats());
//! ```

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::{HandshakeKind, ServerConfig};
use serde::Serialize;
use tokio_rustls::TlsAcceptor;

use crate::app::SERVER_NAME;

/// The body the upstream serves.
pub const UPSTREAM_BODY: &[u8] = br#"{"message":"upstream"}"#;

/// How the upstream behaves.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Where to listen; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Wait before every response.
    pub delay: Duration,
    /// Extra wait before the first response on each connection.
    pub connect_cost: Duration,
    /// Runtime threads.
    pub threads: usize,
    /// Serve HTTPS with this configuration: every new connection pays a
    /// real handshake, so `connect_cost` must be zero.
    pub tls: Option<Arc<ServerConfig>>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            delay: Duration::ZERO,
            connect_cost: Duration::ZERO,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            tls: None,
        }
    }
}

/// The upstream's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UpstreamStats {
    /// Connections accepted since start.
    pub connections: u64,
    /// Requests answered since start, not counting `/__stats`.
    pub requests: u64,
    /// Connections open now.
    pub open: u64,
    /// The most connections open at once.
    pub peak_concurrent: u64,
    /// Full TLS handshakes completed (0 over plain HTTP).
    pub handshakes: u64,
    /// TLS handshakes that resumed an earlier session (0 over plain HTTP).
    pub resumptions: u64,
}

impl fmt::Display for UpstreamStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connections {} requests {} peak concurrent {} handshakes {} resumptions {}",
            self.connections,
            self.requests,
            self.peak_concurrent,
            self.handshakes,
            self.resumptions
        )
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    open: AtomicU64,
    peak: AtomicU64,
    handshakes: AtomicU64,
    resumptions: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> UpstreamStats {
        UpstreamStats {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            peak_concurrent: self.peak.load(Ordering::Relaxed),
            handshakes: self.handshakes.load(Ordering::Relaxed),
            resumptions: self.resumptions.load(Ordering::Relaxed),
        }
    }
}

/// A running upstream; it serves until the process ends.
pub struct UpstreamServer {
    addr: SocketAddr,
    counters: Arc<Counters>,
}

fn json(body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static(SERVER_NAME));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

impl UpstreamServer {
    /// Raises the open-file limit, binds, and starts serving on background
    /// threads. A connect cost together with TLS is refused: the handshake
    /// is the connect cost there.
    pub fn start(config: UpstreamConfig) -> io::Result<UpstreamServer> {
        if config.tls.is_some() && !config.connect_cost.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a connect cost is for plain HTTP only: over TLS each new connection pays a real handshake",
            ));
        }
        framewut_sys::raise_open_file_limit();
        let listener = crate::stack::bind(config.addr, false)?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .enable_all()
            .build()?;
        let shared = Arc::clone(&counters);
        crate::stack::spawn("upstream".into(), move || {
            let _ = runtime.block_on(accept_loop(listener, config, shared));
        })?;
        Ok(UpstreamServer { addr, counters })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters now.
    pub fn stats(&self) -> UpstreamStats {
        self.counters.snapshot()
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    config: UpstreamConfig,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let listener = crate::stack::tokio_listener(listener)?;
    let body = Bytes::from_static(UPSTREAM_BODY);
    let acceptor = config.tls.clone().map(TlsAcceptor::from);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(crate::stack::ACCEPT_BACKOFF).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let open = counters.open.fetch_add(1, Ordering::Relaxed) + 1;
        counters.peak.fetch_max(open, Ordering::Relaxed);
        let first = Arc::new(AtomicBool::new(true));
        let service_counters = Arc::clone(&counters);
        let (delay, connect_cost, body) = (config.delay, config.connect_cost, body.clone());
        let service = service_fn(move |request: Request<Incoming>| {
            let counters = Arc::clone(&service_counters);
            let first = Arc::clone(&first);
            let body = body.clone();
            async move {
                if request.uri().path() == "/__stats" {
                    let stats = serde_json::to_vec(&counters.snapshot()).unwrap_or_default();
                    return Ok::<_, Infallible>(json(Bytes::from(stats)));
                }
                let mut wait = delay;
                if first.swap(false, Ordering::Relaxed) {
                    wait += connect_cost;
                }
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                counters.requests.fetch_add(1, Ordering::Relaxed);
                Ok(json(body))
            }
        });
        let counters = Arc::clone(&counters);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A client may shut down its side once the request is sent and
            // still expects the answer: hyper would otherwise take the
            // half-close for the end of the connection and answer nothing.
            let mut http = http1::Builder::new();
            http.half_close(true);
            match acceptor {
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                }
                // A failed handshake counts as neither kind: the client
                // gave up or refused the certificate.
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let counter = match stream.get_ref().1.handshake_kind() {
                            Some(HandshakeKind::Resumed) => &counters.resumptions,
                            _ => &counters.handshakes,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            }
            counters.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};

    use super::*;

    /// A client that shuts down its write side after the request still
    /// gets the answer, as from any real server.
    #[test]
    fn answers_a_half_closed_request() {
        let server = UpstreamServer::start(UpstreamConfig {
            threads: 1,
            ..UpstreamConfig::default()
        })
        .unwrap();
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
        assert!(text.ends_with(r#"{"message":"upstream"}"#), "{text:?}");
        assert_eq!(server.stats().requests, 1);
    }

    /// GETs `/` `times` times on one HTTPS connection, reading each answer whole.
    fn https_gets(port: u16, client: &Arc<rustls::ClientConfig>, times: usize) {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::clone(client), name).unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        for _ in 0..times {
            tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while !answer.ends_with(UPSTREAM_BODY) {
                let n = tls.read(&mut buf).unwrap();
                assert!(
                    n > 0,
                    "closed early: {:?}",
                    String::from_utf8_lossy(&answer)
                );
                answer.extend_from_slice(&buf[..n]);
            }
        }
    }

    /// Over TLS every new connection is one handshake, counted by kind: a
    /// client without a session pays a full one each time, one that kept
    /// the ticket from its last connection resumes, and requests on an
    /// open connection pay none.
    #[test]
    fn counts_each_connections_handshake_by_kind() {
        let dir =
            std::env::temp_dir().join(format!("framewut-upstream-tls-{}", std::process::id()));
        let ca = crate::tls::TestCa::ensure(&dir).unwrap();
        let server = UpstreamServer::start(UpstreamConfig {
            threads: 1,
            tls: Some(ca.server_config().unwrap()),
            ..UpstreamConfig::default()
        })
        .unwrap();
        let port = server.local_addr().port();
        let mut fresh = (*ca.client_config().unwrap()).clone();
        fresh.resumption = rustls::client::Resumption::disabled();
        let fresh = Arc::new(fresh);
        for _ in 0..3 {
            https_gets(port, &fresh, 1);
        }
        https_gets(port, &fresh, 4);
        let stats = server.stats();
        assert_eq!((stats.handshakes, stats.resumptions), (4, 0), "{stats:?}");
        assert_eq!((stats.connections, stats.requests), (4, 7), "{stats:?}");

        let resuming = ca.client_config().unwrap();
        for _ in 0..3 {
            https_gets(port, &resuming, 1);
        }
        let stats = server.stats();
        assert_eq!((stats.handshakes, stats.resumptions), (5, 2), "{stats:?}");

        let refused = UpstreamServer::start(UpstreamConfig {
            connect_cost: Duration::from_millis(1),
            tls: Some(ca.server_config().unwrap()),
            ..UpstreamConfig::default()
        });
        let why = refused.err().unwrap().to_string();
        assert!(why.contains("real handshake"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
