//! The contract's HTTP/2 check: one GET of `/hello` over a new HTTP/2
//! connection, h2c with prior knowledge in cleartext or h2 chosen by ALPN
//! over TLS, with the h2 crate's client, which shows the server's SETTINGS.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, DATE, SERVER};
use hyper::{Request, Version};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{verify, ContractError, DEFAULT_TIMEOUT};
use crate::Scenario;

/// What the HTTP/2 check learned about a server's HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Facts {
    /// The SETTINGS_MAX_CONCURRENT_STREAMS the server advertised: how many
    /// requests one connection may have in flight. `None` when it
    /// advertised no limit, as actix-web does.
    pub max_concurrent_streams: Option<u32>,
}

/// GETs `/hello` from `addr` over HTTP/2 on a new connection and checks the
/// answer as [`super::check`] checks it over HTTP/1.1: status 200, the hello
/// body, `application/json`, `Server` and `Date` (HTTP/2 frames every body,
/// so no framing header is asked for). With no `tls` it speaks h2c with
/// prior knowledge (it opens with HTTP/2's preface, no `Upgrade`); with a
/// client configuration it trusts what that trusts, offers only h2 by ALPN,
/// and demands that the server choose it. A server that speaks only
/// HTTP/1.1 fails the check. Call it outside any async runtime: it runs one
/// of its own for the exchange, which must end within [`DEFAULT_TIMEOUT`].
pub fn check_http2(
    addr: SocketAddr,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Http2Facts, ContractError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| fail(addr, "start a runtime", err))?;
    runtime.block_on(async {
        tokio::time::timeout(DEFAULT_TIMEOUT, connect(addr, tls))
            .await
            .unwrap_or_else(|_| {
                Err(ContractError::Timeout {
                    path: Scenario::Hello.path().to_string(),
                    addr,
                    timeout: DEFAULT_TIMEOUT,
                })
            })
    })
}

/// The check's failure at `step`, with its cause.
fn fail(
    addr: SocketAddr,
    step: &'static str,
    source: impl Into<Box<dyn StdError + Send + Sync>>,
) -> ContractError {
    ContractError::Http2 {
        path: Scenario::Hello.path().to_string(),
        addr,
        step,
        source: source.into(),
    }
}

/// Connects, over TLS when given a configuration, and runs the exchange.
async fn connect(
    addr: SocketAddr,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Http2Facts, ContractError> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|err| fail(addr, "connect", err))?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = tls else {
        return exchange(tcp, addr, "http").await;
    };
    let mut config = ClientConfig::clone(config);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::from(addr.ip()), tcp)
        .await
        .map_err(|err| fail(addr, "TLS handshake", err))?;
    match stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => exchange(stream, addr, "https").await,
        chosen => Err(fail(
            addr,
            "ALPN",
            io::Error::other(format!(
                "the server chose {}, not h2",
                chosen.map_or("no protocol".to_string(), |protocol| format!(
                    "{:?}",
                    String::from_utf8_lossy(protocol)
                ))
            )),
        )),
    }
}

/// HTTP/2's handshake on `io`, one GET of `/hello`, and the checks.
async fn exchange<T>(io: T, addr: SocketAddr, scheme: &str) -> Result<Http2Facts, ContractError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let scenario = Scenario::Hello;
    let (send, connection) = h2::client::handshake(io)
        .await
        .map_err(|err| fail(addr, "HTTP/2 handshake", err))?;
    // The connection reads and writes the frames; it ends with the runtime.
    drop(tokio::spawn(connection));
    let mut send = send
        .ready()
        .await
        .map_err(|err| fail(addr, "open a stream", err))?;
    // HTTP/2 takes :scheme and :authority from the URI, so it is absolute.
    let request = Request::get(format!("{scheme}://{addr}{}", scenario.path()))
        .body(())
        .expect("a GET of an absolute URI is a valid request");
    let (response, _) = send
        .send_request(request, true)
        .map_err(|err| fail(addr, "send the request", err))?;
    let (head, mut body) = response
        .await
        .map_err(|err| fail(addr, "read the response head", err))?
        .into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk: Bytes = chunk.map_err(|err| fail(addr, "read the body", err))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    if head.version != Version::HTTP_2 {
        return Err(ContractError::NotHttp2 {
            version: format!("{:?}", head.version),
        });
    }
    for (header, name) in [(SERVER, "Server"), (DATE, "Date")] {
        if !head.headers.contains_key(header) {
            return Err(ContractError::NoHeader { scenario, name });
        }
    }
    let content_type = head
        .headers
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("(not text)"));
    verify(scenario, head.status.as_u16(), content_type, &bytes)?;
    // The server's SETTINGS is the first frame it sends, so with a whole
    // response in, they have been applied. Before they are, and when they
    // carry no limit, h2 keeps usize::MAX, more than any SETTINGS value.
    let streams = send.current_max_send_streams();
    Ok(Http2Facts {
        max_concurrent_streams: u32::try_from(streams).ok(),
    })
}
