//! HTTPS: HTTP/1.1 or HTTP/2 over TLS with rustls (ring provider), ALPN
//! `http/1.1` or `h2`, whichever the load speaks and nothing else.
//!
//! Each connection is a rustls `ClientConnection` driven over the
//! non-blocking socket by the engine's own loop: the handshake once per
//! connection (timed, and counted as full or resumed), then the same
//! bytes as a plain load, encrypted. A request's latency does not
//! include its connection's handshake; the handshake histogram carries it.

mod reason;
mod trust;

use std::io::{self, IoSlice, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use rustls::client::Resumption;
use rustls::crypto::ring;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ProtocolVersion};

use self::reason::{io_reason, reason};
pub use self::reason::{
    BAD_NAME, CA_AS_SERVER, CLOSED_IN_HANDSHAKE, EXPIRED, HANDSHAKE_TIMEOUT, NOT_TLS,
    NOT_YET_VALID, UNKNOWN_CA,
};
use crate::transport::{Handshake, Transport};
use crate::LoadPlan;

/// Debian's bundle of the system's trusted CAs (the `ca-certificates`
/// package), used when neither a CA file nor `Insecure` is given.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Whom a server's certificate must be signed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The CAs in the system bundle, [`SYSTEM_CA_BUNDLE`].
    System,
    /// The CAs in this PEM file (one or more certificates), and no others;
    /// a certificate of the file presented by the server as its own is
    /// trusted too, whatever its CA flag, as curl trusts it.
    CaFile(PathBuf),
    /// Anyone: the certificate is not verified (curl's `--insecure`). The
    /// handshake's signature is still checked against the certificate's key.
    Insecure,
}

/// How an `https://` load sets up TLS; ignored for `http://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub trust: Trust,
    /// Keep a session cache so that reconnects resume their session (an
    /// abbreviated handshake) instead of paying a full one.
    pub resume: bool,
}

impl Default for TlsOptions {
    /// The system's CAs, no resumption: every connection a full handshake.
    fn default() -> TlsOptions {
        TlsOptions {
            trust: Trust::System,
            resume: false,
        }
    }
}

/// Why TLS could not be set up for a load, or why the first handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {path}: {why}")]
    CaUnreadable { path: PathBuf, why: io::Error },
    #[error(
        "the CA file {path} holds no PEM certificate: it needs one or more blocks from \
         -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----"
    )]
    NoCaCertificates { path: PathBuf },
    #[error("the CA file {path} is not valid PEM ({why})")]
    BadCaFile { path: PathBuf, why: String },
    #[error("certificate {index} of the CA file {path} is not one rustls can trust ({why})")]
    BadCaCertificate {
        path: PathBuf,
        index: usize,
        why: String,
    },
    #[error("there are no CAs to verify the server with: the system bundle {path} is missing")]
    NoSystemRoots { path: PathBuf },
    #[error("'{host}' is not a host name a certificate can name")]
    BadServerName { host: String },
    /// The first handshake, made before the load, failed.
    #[error("the TLS handshake with {addr} failed: {reason}")]
    Handshake { addr: SocketAddr, reason: String },
}

/// What every TLS connection of a load shares.
pub(crate) struct Setup {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Setup {
    /// The configuration for a load, its session cache when it resumes.
    pub(crate) fn new(plan: &LoadPlan) -> Result<Setup, TlsError> {
        Setup::with(plan, plan.tls.resume)
    }

    fn with(plan: &LoadPlan, resume: bool) -> Result<Setup, TlsError> {
        let host = &plan.target.host;
        let name = ServerName::try_from(host.as_str())
            .map_err(|_| TlsError::BadServerName { host: host.clone() })?
            .to_owned();
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls' default protocol versions");
        let builder = match &plan.tls.trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(trust::Unverified(provider))),
            Trust::CaFile(path) => builder
                .dangerous()
                .with_custom_certificate_verifier(trust::ca_file_verifier(path, provider)?),
            Trust::System => builder.with_root_certificates(trust::system_roots()?),
        };
        let mut config = builder.with_no_client_auth();
        // Only the protocol the load speaks is offered: a server that
        // cannot speak it refuses the handshake, and says so, rather than
        // answering in a protocol the load would misread.
        config.alpn_protocols = match plan.http2 {
            Some(_) => vec![b"h2".to_vec()],
            None => vec![b"http/1.1".to_vec()],
        };
        // rustls keeps a session cache by default; without resumption every
        // connection must pay the full handshake, as a fresh client would.
        config.resumption = if resume {
            Resumption::in_memory_sessions(256)
        } else {
            Resumption::disabled()
        };
        Ok(Setup {
            config: Arc::new(config),
            name,
        })
    }
}

/// A TLS failure after the handshake, carried through `io::Error` to the
/// loop, which counts it under its reason.
#[derive(Debug)]
struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

/// Checks that TLS can be set up for a plan (its CA file reads, its host
/// can be named), without connecting. Nothing for `http://`.
pub fn check_tls(plan: &LoadPlan) -> Result<(), TlsError> {
    if plan.target.https {
        Setup::with(plan, false)?;
    }
    Ok(())
}

/// Makes one handshake before a load, so a server that TLS will refuse
/// (an unknown CA, a certificate for another name, no TLS at all) fails
/// at once with its reason instead of as a screen of errors. Nothing for
/// `http://`. The probe never seeds the load's session cache.
pub fn probe_tls(plan: &LoadPlan) -> Result<(), TlsError> {
    if !plan.target.https {
        return Ok(());
    }
    let setup = Setup::with(plan, false)?;
    let addr = plan.target.addr;
    let failed = |reason: String| TlsError::Handshake { addr, reason };
    let mut socket = std::net::TcpStream::connect_timeout(&addr, plan.timeout)
        .map_err(|e| failed(format!("cannot connect: {e}")))?;
    let _ = socket.set_read_timeout(Some(plan.timeout.max(Duration::from_millis(1))));
    let _ = socket.set_write_timeout(Some(plan.timeout.max(Duration::from_millis(1))));
    let mut conn =
        ClientConnection::new(setup.config, setup.name).map_err(|e| failed(reason(&e)))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut socket)
            .map_err(|e| failed(io_reason(&e)))?;
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut socket);
    Ok(())
}

/// One TLS connection over a non-blocking socket.
pub(crate) struct TlsStream {
    socket: TcpStream,
    conn: ClientConnection,
    /// The last socket read came back short: nothing more until the next event.
    drained: bool,
    /// The socket reached its end, or the server sent close_notify.
    closed: bool,
}

/// Room kept for the plaintext of a TLS record already partly buffered
/// inside rustls when more of it is read: the largest record on the wire.
const RECORD_ROOM: usize = 16 * 1024 + 2048 + 5;

impl TlsStream {
    /// Hands request bytes to rustls with `put` and sends what it encrypted.
    /// When rustls' buffer was full and the socket took some of it, `put` is
    /// tried again; when the socket took nothing, `WouldBlock`.
    fn put(
        &mut self,
        mut put: impl FnMut(&mut rustls::Writer<'_>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        loop {
            let n = put(&mut self.conn.writer())?;
            let flushed = self.flush_tls()?;
            if n > 0 {
                return Ok(n);
            }
            if !flushed {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
    }

    /// Writes what rustls has queued; `Ok(false)` when the socket is full.
    fn flush_tls(&mut self) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Decrypts what was fed in; on a TLS error sends rustls' alert and
    /// returns the failure with its reason.
    fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.closed |= state.peer_has_closed();
                // A key update or alert to answer.
                if self.conn.wants_write() {
                    self.flush_tls()?;
                }
                Ok(())
            }
            Err(e) => {
                let _ = self.conn.write_tls(&mut self.socket);
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Failed(reason(&e)),
                ))
            }
        }
    }

    /// Moves decrypted bytes into `out`; 0 when there are none now.
    fn plaintext(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.conn.reader().read(out) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(e),
        }
    }
}

impl Transport for TlsStream {
    type Setup = Setup;
    const HANDSHAKE: bool = true;

    fn wrap(socket: TcpStream, setup: &Setup) -> Result<Self, String> {
        let conn = ClientConnection::new(Arc::clone(&setup.config), setup.name.clone())
            .map_err(|e| reason(&e))?;
        Ok(TlsStream {
            socket,
            conn,
            drained: false,
            closed: false,
        })
    }

    fn socket(&mut self) -> &mut TcpStream {
        &mut self.socket
    }

    fn handshake(&mut self) -> Handshake {
        loop {
            match self.flush_tls() {
                Ok(true) => {}
                Ok(false) => return Handshake::Pending,
                Err(e) => return Handshake::Failed(io_reason(&e)),
            }
            if !self.conn.is_handshaking() {
                return Handshake::Done {
                    resumed: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
                };
            }
            match self.conn.read_tls(&mut self.socket) {
                Ok(0) => return Handshake::Failed(CLOSED_IN_HANDSHAKE.into()),
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        let _ = self.conn.write_tls(&mut self.socket);
                        return Handshake::Failed(reason(&e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Handshake::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Handshake::Failed(io_reason(&e)),
            }
        }
    }

    fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    fn negotiated(&self) -> Option<(String, String)> {
        let version = match self.conn.protocol_version()? {
            ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
            ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
            other => format!("{other:?}"),
        };
        let suite = format!("{:?}", self.conn.negotiated_cipher_suite()?.suite());
        Some((version, suite))
    }

    /// Reads ciphertext into the second half of `buf` and decrypts it into
    /// the first: plaintext is never longer than the ciphertext it came
    /// from (plus one record rustls may hold in part), so all that one
    /// socket read brings is handed over in the same call, and a read that
    /// came back short still means the socket is empty.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let half = buf.len() / 2;
        let (out, cipher) = buf.split_at_mut(half);
        let want = half.saturating_sub(RECORD_ROOM).max(1).min(cipher.len());
        loop {
            let n = self.plaintext(out)?;
            if n > 0 || self.closed {
                return Ok(n);
            }
            let got = match io::Read::read(&mut self.socket, &mut cipher[..want]) {
                Ok(0) => {
                    self.closed = true;
                    continue;
                }
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained = true;
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            self.drained = got < want;
            let mut rest = &cipher[..got];
            let mut n = 0;
            while !rest.is_empty() {
                if self.conn.read_tls(&mut rest)? == 0 {
                    return Err(io::Error::other("rustls took none of the bytes read"));
                }
                self.process()?;
                n += self.plaintext(&mut out[n..])?;
            }
            if n > 0 {
                return Ok(n);
            }
        }
    }

    /// Empty when the socket read came back short, unless the stream has
    /// ended: its end is read next.
    fn drained(&self, _: usize, _: usize) -> bool {
        self.drained && !self.closed
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.put(|w| io::Write::write(w, buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.put(|w| io::Write::write_vectored(w, bufs))
    }

    fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls().map(drop)
    }

    fn tls_failure(error: &io::Error) -> Option<String> {
        error
            .get_ref()
            .and_then(|e| e.downcast_ref::<Failed>())
            .map(|f| f.0.clone())
    }
}
