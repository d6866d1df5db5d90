//! A small HTTPS server for tests, on an OS-assigned loopback port: rustls
//! over blocking sockets, a thread per connection, with a CA and server
//! certificates the test makes with rcgen. The engine's TLS tests and
//! `framewut load`'s HTTPS tests both use it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{HandshakeKind, ServerConfig, ServerConnection, StreamOwned};

pub const BODY: &[u8] = br#"{"message":"helowrld"}"#;

/// A certificate authority made for one test.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    /// The CA's certificate in PEM, as `--cacert` takes it.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA's PEM into `dir` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.pem()).unwrap();
        path
    }

    /// A server certificate for these names (DNS names or IP addresses)
    /// signed by this CA, with its key.
    pub fn server_cert(&self, names: &[&str]) -> Cert {
        self.server_cert_with(names, |_| {})
    }

    /// A server certificate for these names signed by this CA, its
    /// parameters changed by `shape` (see [`expired`], [`ca_flag`]).
    pub fn server_cert_with(
        &self,
        names: &[&str],
        shape: impl FnOnce(&mut CertificateParams),
    ) -> Cert {
        let mut params = params(names);
        shape(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Cert::new(cert, key)
    }
}

fn params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    CertificateParams::new(names).unwrap()
}

/// Dates that ended years ago.
pub fn expired(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
}

/// CA:TRUE, as `openssl req -x509` sets it on the certificates it makes.
pub fn ca_flag(params: &mut CertificateParams) {
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
}

/// A self-signed server certificate for these names, its parameters
/// changed by `shape`: `self_signed(&["127.0.0.1"], ca_flag)` is what
/// `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext
/// subjectAltName=IP:127.0.0.1` makes.
pub fn self_signed(names: &[&str], shape: impl FnOnce(&mut CertificateParams)) -> Cert {
    let mut params = params(names);
    shape(&mut params);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Cert::new(cert, key)
}

pub struct Cert {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pem: String,
}

impl Cert {
    fn new(cert: rcgen::Certificate, key: KeyPair) -> Cert {
        Cert {
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            pem: cert.pem(),
        }
    }

    /// Writes the certificate (not its key) into `dir/name` as PEM, as
    /// `--cacert` takes it, and returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

/// How the server treats a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answers every request and keeps the connection open.
    KeepAlive,
    /// Answers one request with `Connection: close`, sends close_notify and closes.
    CloseEach,
    /// Accepts TCP and never reads: the ClientHello is never answered.
    Stall,
    /// Completes the handshake, then answers each request in plain text,
    /// outside TLS: the client meets bytes that are no TLS record.
    PlainAfterHandshake,
    /// Speaks no TLS at all: answers what it first reads with a plain
    /// HTTP 400 and closes, as an HTTP server given a ClientHello does.
    PlainHttp,
}

pub struct TlsServer {
    pub port: u16,
    /// Requests answered.
    pub requests: Arc<AtomicU64>,
    /// TCP connections accepted.
    pub connections: Arc<AtomicU64>,
    /// Handshakes the server completed, and those that resumed a session.
    pub handshakes: Arc<AtomicU64>,
    pub resumed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl TlsServer {
    /// A server answering every request with [`BODY`].
    pub fn start(cert: Cert, mode: Mode) -> TlsServer {
        TlsServer::start_with(cert, mode, BODY.to_vec())
    }

    /// A server answering every request with `body`.
    pub fn start_with(cert: Cert, mode: Mode, body: Vec<u8>) -> TlsServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.chain, cert.key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let body = Arc::new(body);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = TlsServer {
            port,
            requests: Arc::default(),
            connections: Arc::default(),
            handshakes: Arc::default(),
            resumed: Arc::default(),
            stop: Arc::default(),
        };
        let (requests, connections, handshakes, resumed, stop) = (
            server.requests.clone(),
            server.connections.clone(),
            server.handshakes.clone(),
            server.resumed.clone(),
            server.stop.clone(),
        );
        thread::spawn(move || {
            // Stalled sockets are held open here until the server stops.
            let mut held = Vec::new();
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                if mode == Mode::Stall {
                    held.push(stream);
                    continue;
                }
                if mode == Mode::PlainHttp {
                    thread::spawn(move || answer_in_plain_http(stream));
                    continue;
                }
                let (config, body, requests, handshakes, resumed) = (
                    config.clone(),
                    body.clone(),
                    requests.clone(),
                    handshakes.clone(),
                    resumed.clone(),
                );
                thread::spawn(move || {
                    serve(
                        stream,
                        config,
                        mode,
                        &body,
                        &requests,
                        &handshakes,
                        &resumed,
                    )
                });
            }
        });
        server
    }

    /// The URL of a path on this server, by `host` (e.g. 127.0.0.1 or localhost).
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The bytes of one response with this body, as the server sends it in `mode`.
pub fn response_len(body_len: usize, mode: Mode) -> usize {
    let close = if mode == Mode::CloseEach { 19 } else { 0 };
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n"
    )
    .len()
        + close
        + body_len
}

/// Reads what comes, answers it with a plain HTTP 400 and closes.
fn answer_in_plain_http(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
        let _ = stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
}

/// Serves one connection until the client closes it (or, in `CloseEach`,
/// after one response).
fn serve(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    mode: Mode,
    body: &[u8],
    requests: &AtomicU64,
    handshakes: &AtomicU64,
    resumed: &AtomicU64,
) {
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, stream);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return;
        }
    }
    handshakes.fetch_add(1, Ordering::SeqCst);
    if tls.conn.handshake_kind() == Some(HandshakeKind::Resumed) {
        resumed.fetch_add(1, Ordering::SeqCst);
    }
    let close = if mode == Mode::CloseEach {
        "Connection: close\r\n"
    } else {
        ""
    };
    let reply = [
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{close}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
        body,
    ]
    .concat();
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            requests.fetch_add(1, Ordering::SeqCst);
            if mode == Mode::PlainAfterHandshake {
                let _ = tls.sock.write_all(&reply);
                continue;
            }
            if tls.write_all(&reply).is_err() {
                return;
            }
            if mode == Mode::CloseEach {
                tls.conn.send_close_notify();
                let _ = tls.flush();
                return;
            }
        }
    }
}
