//! The contract's own HTTP/1 client: one GET on a new connection, plain or
//! over TLS, read to a whole [`Response`] with any chunked body de-chunked.
//!
//! It is deliberately small and strict, so that what it accepts is what the
//! contract asks of every stack: a response head that is HTTP/1, then a body
//! framed by `Content-Length`, by chunks, or by the connection's close.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::{ContractError, Malformed};

/// A response as read off the wire by [`fetch`], body de-chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked framing removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of this name (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the body came with a `Content-Length` or chunked framing.
    pub fn has_framing(&self) -> bool {
        self.header("content-length").is_some()
            || self
                .header("transfer-encoding")
                .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
    }
}

/// GETs `path` from 127.0.0.1:`port` on a new connection (sending
/// `Connection: close`) and reads the whole response within `timeout`.
pub fn fetch(port: u16, path: &str, timeout: Duration) -> Result<Response, ContractError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    fetch_at(addr, &format!("127.0.0.1:{port}"), path, timeout)
}

/// As [`fetch`], over HTTPS: a full TLS handshake with 127.0.0.1 as the
/// server name, trusting what `config` trusts. A refused certificate is an
/// [`ContractError::Io`] at the `TLS handshake` step, with rustls' reason.
pub fn fetch_https(
    port: u16,
    path: &str,
    timeout: Duration,
    config: &Arc<ClientConfig>,
) -> Result<Response, ContractError> {
    fetch_with(port, path, &[], timeout, Some(config))
}

/// GETs `path` from 127.0.0.1:`port` with extra request `headers`, over
/// HTTPS when given a client `tls` configuration (as [`fetch_https`]), else
/// as [`fetch`].
pub fn fetch_with(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Response, ContractError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let host = format!("127.0.0.1:{port}");
    send(addr, &host, &Ask::get(path, headers), timeout, tls)
}

/// [`fetch`] from any address, with `host` as the `Host` header: a server
/// on another machine, or a metrics endpoint.
pub fn fetch_at(
    addr: SocketAddr,
    host: &str,
    path: &str,
    timeout: Duration,
) -> Result<Response, ContractError> {
    let stream = connect(addr, path, timeout)?;
    exchange(stream, addr, host, &Ask::get(path, &[]), timeout, true)
}

/// One request for [`send`]: any method, headers and body.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl<'a> Ask<'a> {
    fn get(path: &'a str, headers: &'a [(&'a str, &'a str)]) -> Ask<'a> {
        Ask {
            method: "GET",
            path,
            headers,
            body: &[],
        }
    }
}

/// Sends `ask` to `addr` on a new connection, with `host` as its `Host`
/// header, over HTTPS when given a client `tls` configuration, and reads
/// the whole response within `timeout`.
pub fn send(
    addr: SocketAddr,
    host: &str,
    ask: &Ask,
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Response, ContractError> {
    let stream = connect(addr, ask.path, timeout)?;
    match tls {
        None => exchange(stream, addr, host, ask, timeout, true),
        Some(config) => exchange(
            handshake(stream, addr, ask.path, config)?,
            addr,
            host,
            ask,
            timeout,
            true,
        ),
    }
}

/// Sends `ask` `times` times in a row on one kept-alive connection to
/// `addr`, as [`send`] sends it once, each request after the whole
/// response to the last: the server serves them as it serves a load's
/// connection, not a new one each. A response that says `Connection:
/// close` (gunicorn's sync worker closes after every answer) ends its
/// connection, and the next request goes on a new one, as a load's
/// connection reconnects. The responses, in order.
pub fn send_repeated(
    addr: SocketAddr,
    host: &str,
    ask: &Ask,
    times: u32,
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Vec<Response>, ContractError> {
    let mut responses = Vec::with_capacity(times as usize);
    while responses.len() < times as usize {
        let stream = connect(addr, ask.path, timeout)?;
        match tls {
            None => until_closed(stream, addr, host, ask, timeout, times, &mut responses)?,
            Some(config) => until_closed(
                handshake(stream, addr, ask.path, config)?,
                addr,
                host,
                ask,
                timeout,
                times,
                &mut responses,
            )?,
        }
    }
    Ok(responses)
}

/// Sends `ask` on one connection, each request after the last's response,
/// until `responses` holds `times` of them or a response closes the
/// connection; the last request asks to close it.
fn until_closed(
    mut stream: impl Read + Write,
    addr: SocketAddr,
    host: &str,
    ask: &Ask,
    timeout: Duration,
    times: u32,
    responses: &mut Vec<Response>,
) -> Result<(), ContractError> {
    while responses.len() < times as usize {
        let last = responses.len() + 1 == times as usize;
        let response = exchange(&mut stream, addr, host, ask, timeout, last)?;
        let closes = response
            .header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"));
        responses.push(response);
        if closes {
            break;
        }
    }
    Ok(())
}

/// A TLS client session on `stream`, its handshake done, with `addr`'s IP
/// as the server name, trusting what `config` trusts.
fn handshake(
    stream: TcpStream,
    addr: SocketAddr,
    path: &str,
    config: &Arc<ClientConfig>,
) -> Result<StreamOwned<ClientConnection, TcpStream>, ContractError> {
    let fail = |source| ContractError::Io {
        path: path.to_string(),
        addr,
        step: "TLS handshake",
        source,
    };
    let conn = ClientConnection::new(Arc::clone(config), ServerName::from(addr.ip()))
        .map_err(|err| fail(io::Error::other(err)))?;
    let mut tls = StreamOwned::new(conn, stream);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).map_err(fail)?;
    }
    Ok(tls)
}

/// A new connection to `addr` whose reads and writes time out.
fn connect(addr: SocketAddr, path: &str, timeout: Duration) -> Result<TcpStream, ContractError> {
    let fail = |step, source| ContractError::Io {
        path: path.to_string(),
        addr,
        step,
        source,
    };
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|err| fail("connect", err))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|err| fail("set timeout", err))?;
    Ok(stream)
}

/// Sends the request, with `host` as its `Host` header and `Connection:
/// close` when `close` says, on a connected stream and reads the whole
/// response.
fn exchange(
    mut stream: impl Read + Write,
    addr: SocketAddr,
    host: &str,
    ask: &Ask,
    timeout: Duration,
    close: bool,
) -> Result<Response, ContractError> {
    let path = ask.path;
    let fail = |step, source| ContractError::Io {
        path: path.to_string(),
        addr,
        step,
        source,
    };
    let mut request = format!("{} {path} HTTP/1.1\r\nHost: {host}\r\n", ask.method);
    if close {
        request.push_str("Connection: close\r\n");
    }
    for (name, value) in ask.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let has_length = ask
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
    if !ask.body.is_empty() && !has_length {
        request.push_str(&format!("Content-Length: {}\r\n", ask.body.len()));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(ask.body);
    stream
        .write_all(&request)
        .map_err(|err| fail("write", err))?;
    let mut raw = Vec::new();
    let deadline = std::time::Instant::now() + timeout;
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if let Some(response) = parse_response(&raw)? {
            return Ok(response);
        }
        if std::time::Instant::now() > deadline {
            return Err(ContractError::Timeout {
                path: path.to_string(),
                addr,
                timeout,
            });
        }
        match stream.read(&mut chunk) {
            // A TLS peer that closes without close_notify reads as an
            // unexpected end; for an HTTP/1 response that is just the end.
            Ok(0) => return finish_at_eof(raw, path),
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                return finish_at_eof(raw, path)
            }
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(fail("read", err)),
        }
    }
}

/// A response whose body runs to the end of the connection.
fn finish_at_eof(raw: Vec<u8>, path: &str) -> Result<Response, ContractError> {
    let Some((status, headers, head_len)) = parse_head(&raw)? else {
        return Err(ContractError::ClosedInHead {
            path: path.to_string(),
            bytes: raw.len(),
        });
    };
    let response = Response {
        status,
        headers,
        body: raw[head_len..].to_vec(),
    };
    if response.has_framing() {
        return Err(ContractError::ClosedInBody {
            path: path.to_string(),
        });
    }
    Ok(response)
}

/// Parses a whole response, or `None` when more bytes are needed.
pub(super) fn parse_response(raw: &[u8]) -> Result<Option<Response>, Malformed> {
    let Some((status, headers, head_len)) = parse_head(raw)? else {
        return Ok(None);
    };
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[head_len..];
    if response
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
    {
        return Ok(dechunk(rest)?.map(|body| {
            response.body = body;
            response
        }));
    }
    match response.header("content-length") {
        Some(value) => {
            let length: usize = value
                .trim()
                .parse()
                .map_err(|_| Malformed::ContentLength(value.to_string()))?;
            if rest.len() < length {
                return Ok(None);
            }
            response.body = rest[..length].to_vec();
            Ok(Some(response))
        }
        None => Ok(None),
    }
}

type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(raw: &[u8]) -> Result<Option<Head>, Malformed> {
    let Some(end) = raw.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| Malformed::HeadNotUtf8)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(Malformed::NotHttp1(status_line.to_string()));
    }
    let status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| Malformed::StatusLine(status_line.to_string()))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Malformed::HeaderLine(line.to_string()))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some((status, headers, end + 4)))
}

fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, Malformed> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|window| window == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap_or("");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Malformed::ChunkSize(size_text.to_string()))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(Some(body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
