//! The scenario contract as a checker: does a response conform, and if not, why.
//!
//! The lab calls it before every load, and conformance tests call it against
//! every stack, Rust or Python. [`verify`] judges a response already read;
//! [`fetch`] reads one from a local port with a plain [`TcpStream`]; [`check`]
//! does both and also demands the framing headers (`Server`, `Date` and a
//! `Content-Length` or chunked body). [`fetch_https`] and [`check_https`]
//! do the same over HTTPS with a given rustls configuration.
//!
//! ```no_run
//! use framewut_stacks::contract;
//! use framewut_stacks::Scenario;
//!
//! contract::verify(Scenario::Hello, 200, Some("application/json"), br#"{"message":"helowrld"}"#).unwrap();
//! let why = contract::verify(Scenario::Hello, 200, Some("text/plain"), b"hi").unwrap_err();
//! assert!(why.to_string().contains("text/plain"));
//!
//! // Against a server on 127.0.0.1:8080:
//! contract::check(8080, Scenario::Db).unwrap();
//! ```
//!
//! Judging rules, one per scenario (JSON is compared by value, so spacing
//! such as Python's `{"message": "helowrld"}` is fine):
//! - every scenario: status 200 and a `Content-Type` of `application/json`
//!   (parameters such as `; charset=utf-8` allowed);
//! - `hello`, `sleep`: exactly `{"message":"helowrld"}`;
//! - `upstream`: any JSON document (the stack passes the upstream's body
//!   through; framewut's own upstream answers `{"message":"upstream"}`);
//! - `cpu`: `{"message":[0,1,...,n-1]}` for some n >= 1;
//! - `db`: `{"id":ID,"randomNumber":N}` with both integers in 1..=10000.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::Value;

use crate::Scenario;

/// The hello body every stack serves, byte for byte (22 bytes).
pub const HELLO_BODY: &[u8] = br#"{"message":"helowrld"}"#;

/// The largest id, and randomNumber, of the World table.
pub const WORLD_ROWS: i64 = 10_000;

/// How long [`fetch`] waits for a whole response by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a response breaks the contract, or could not be read. Each message
/// is one sentence naming the path and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// A status other than 200.
    #[error("{} answered status {status}, not 200 (body: {excerpt:?})", .scenario.path())]
    Status {
        /// The scenario asked.
        scenario: Scenario,
        /// The status received.
        status: u16,
        /// The body's first 120 bytes.
        excerpt: String,
    },
    /// No `Content-Type` header.
    #[error("{} has no Content-Type; expected application/json", .scenario.path())]
    NoContentType {
        /// The scenario asked.
        scenario: Scenario,
    },
    /// A `Content-Type` other than `application/json`.
    #[error("{} has Content-Type {value:?}; expected application/json", .scenario.path())]
    ContentType {
        /// The scenario asked.
        scenario: Scenario,
        /// The header's value.
        value: String,
    },
    /// A body that does not parse as JSON.
    #[error("{} body is not JSON ({source}); it starts {start:?}", .scenario.path())]
    NotJson {
        /// The scenario asked.
        scenario: Scenario,
        /// The body's first 60 bytes.
        start: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// JSON, but not the document the scenario serves.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// No `Server` or no `Date` header.
    #[error("{} response has no {name} header", .scenario.path())]
    NoHeader {
        /// The scenario asked.
        scenario: Scenario,
        /// `Server` or `Date`.
        name: &'static str,
    },
    /// A body with neither `Content-Length` nor chunked framing.
    #[error("{} response has neither Content-Length nor chunked framing", .scenario.path())]
    NoFraming {
        /// The scenario asked.
        scenario: Scenario,
    },
    /// Connecting, the TLS handshake, writing or reading failed.
    #[error("GET {path} from {addr}: {step}: {source}")]
    Io {
        /// The path asked for.
        path: String,
        /// The server's address.
        addr: SocketAddr,
        /// `connect`, `set timeout`, `TLS handshake`, `write` or `read`.
        step: &'static str,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
    /// No whole response in time.
    #[error("GET {path} from {addr}: no whole response within {timeout:?}")]
    Timeout {
        /// The path asked for.
        path: String,
        /// The server's address.
        addr: SocketAddr,
        /// How long it waited.
        timeout: Duration,
    },
    /// The server closed the connection before a whole response head.
    #[error("GET {path}: the connection closed after {bytes} bytes, before a whole response head")]
    ClosedInHead {
        /// The path asked for.
        path: String,
        /// The bytes received.
        bytes: usize,
    },
    /// The server closed the connection before the whole framed body.
    #[error("GET {path}: the connection closed before the whole body came")]
    ClosedInBody {
        /// The path asked for.
        path: String,
    },
    /// Bytes that are not an HTTP/1 response.
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

/// How a JSON body differs from the one its scenario serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// `/hello` or `/sleep` without exactly the hello body.
    #[error("{} body is {body}, expected {{\"message\":\"helowrld\"}}", .scenario.path())]
    NotHello {
        /// `Hello` or `Sleep`.
        scenario: Scenario,
        /// The body received.
        body: Value,
    },
    /// `/cpu` without a `message` array as its only key.
    #[error("/cpu body is not an object whose only key \"message\" holds an array")]
    CpuNotList,
    /// `/cpu` with an empty array.
    #[error("/cpu message array is empty")]
    CpuEmpty,
    /// `/cpu` with an item out of sequence.
    #[error("/cpu message[{index}] is {item}, expected {index}")]
    CpuItem {
        /// Its index, the value it should hold.
        index: usize,
        /// The item received.
        item: Value,
    },
    /// `/db` without exactly two keys.
    #[error("/db body is {body}, expected {{\"id\":..,\"randomNumber\":..}}")]
    DbNotRow {
        /// The body received.
        body: Value,
    },
    /// `/db` without an integer `id` or `randomNumber`.
    #[error("/db body {body} has no integer {key:?}")]
    DbNoInteger {
        /// The body received.
        body: Value,
        /// `id` or `randomNumber`.
        key: &'static str,
    },
    /// `/db` with a number outside the World table's range.
    #[error("/db {key} is {number}, outside 1..={WORLD_ROWS}")]
    DbOutOfRange {
        /// `id` or `randomNumber`.
        key: &'static str,
        /// The number received.
        number: i64,
    },
}

/// How received bytes fail to be an HTTP/1 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The head has bytes that are not UTF-8.
    #[error("response head is not UTF-8")]
    HeadNotUtf8,
    /// The first line is not `HTTP/1.x ...`.
    #[error("not an HTTP/1 status line: {0:?}")]
    NotHttp1(String),
    /// The status line has no numeric status.
    #[error("bad status line {0:?}")]
    StatusLine(String),
    /// A header line without a colon.
    #[error("bad header line {0:?}")]
    HeaderLine(String),
    /// A `Content-Length` that is not a number.
    #[error("bad Content-Length {0:?}")]
    ContentLength(String),
    /// A chunk size that is not hexadecimal.
    #[error("bad chunk size {0:?}")]
    ChunkSize(String),
}

/// Says whether a response to `scenario` conforms; if not, why, in one sentence.
pub fn verify(
    scenario: Scenario,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), ContractError> {
    if status != 200 {
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
        return Err(ContractError::Status {
            scenario,
            status,
            excerpt,
        });
    }
    match content_type {
        None => return Err(ContractError::NoContentType { scenario }),
        Some(value) if !is_json_media_type(value) => {
            return Err(ContractError::ContentType {
                scenario,
                value: value.to_string(),
            })
        }
        Some(_) => {}
    }
    let value: Value = serde_json::from_slice(body).map_err(|source| ContractError::NotJson {
        scenario,
        start: String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned(),
        source,
    })?;
    match scenario {
        Scenario::Hello | Scenario::Sleep => {
            if value != serde_json::json!({"message": "helowrld"}) {
                return Err(BodyError::NotHello {
                    scenario,
                    body: value,
                }
                .into());
            }
        }
        Scenario::Upstream => {}
        Scenario::Cpu => verify_cpu(&value)?,
        Scenario::Db => verify_db(&value)?,
    }
    Ok(())
}

fn is_json_media_type(value: &str) -> bool {
    let media = value.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
}

fn verify_cpu(value: &Value) -> Result<(), BodyError> {
    let items = value
        .as_object()
        .filter(|object| object.len() == 1)
        .and_then(|object| object.get("message"))
        .and_then(Value::as_array)
        .ok_or(BodyError::CpuNotList)?;
    if items.is_empty() {
        return Err(BodyError::CpuEmpty);
    }
    for (index, item) in items.iter().enumerate() {
        if item.as_u64() != Some(index as u64) {
            return Err(BodyError::CpuItem {
                index,
                item: item.clone(),
            });
        }
    }
    Ok(())
}

fn verify_db(value: &Value) -> Result<(), BodyError> {
    let object = value
        .as_object()
        .filter(|object| object.len() == 2)
        .ok_or_else(|| BodyError::DbNotRow {
            body: value.clone(),
        })?;
    for key in ["id", "randomNumber"] {
        let number =
            object
                .get(key)
                .and_then(Value::as_i64)
                .ok_or_else(|| BodyError::DbNoInteger {
                    body: value.clone(),
                    key,
                })?;
        if !(1..=WORLD_ROWS).contains(&number) {
            return Err(BodyError::DbOutOfRange { key, number });
        }
    }
    Ok(())
}

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

/// Verifies a whole response: [`verify`], plus `Server`, `Date` and a
/// `Content-Length` or chunked framing.
pub fn verify_response(scenario: Scenario, response: &Response) -> Result<(), ContractError> {
    for name in ["Server", "Date"] {
        if response.header(name).is_none() {
            return Err(ContractError::NoHeader { scenario, name });
        }
    }
    if !response.has_framing() {
        return Err(ContractError::NoFraming { scenario });
    }
    verify(
        scenario,
        response.status,
        response.header("content-type"),
        &response.body,
    )
}

/// Fetches `path` from 127.0.0.1:`port` and verifies it with [`verify_response`].
pub fn check(port: u16, scenario: Scenario) -> Result<(), ContractError> {
    let response = fetch(port, scenario.path(), DEFAULT_TIMEOUT)?;
    verify_response(scenario, &response)
}

/// [`check`] for a server at any address: `host` is the `Host` header,
/// as the URL gave it.
pub fn check_at(addr: SocketAddr, host: &str, scenario: Scenario) -> Result<(), ContractError> {
    let response = fetch_at(addr, host, scenario.path(), DEFAULT_TIMEOUT)?;
    verify_response(scenario, &response)
}

/// GETs `path` from 127.0.0.1:`port` on a new connection (sending
/// `Connection: close`) and reads the whole response within `timeout`.
pub fn fetch(port: u16, path: &str, timeout: Duration) -> Result<Response, ContractError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    fetch_at(addr, &format!("127.0.0.1:{port}"), path, timeout)
}

/// Fetches `path` over HTTPS from 127.0.0.1:`port` and verifies it with
/// [`verify_response`]; `config` says which certificates to trust.
pub fn check_https(
    port: u16,
    scenario: Scenario,
    config: &Arc<ClientConfig>,
) -> Result<(), ContractError> {
    let response = fetch_https(port, scenario.path(), DEFAULT_TIMEOUT, config)?;
    verify_response(scenario, &response)
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
    let stream = connect(addr, path, timeout)?;
    let Some(config) = tls else {
        return exchange(stream, addr, &host, path, headers, timeout);
    };
    let fail = |source| ContractError::Io {
        path: path.to_string(),
        addr,
        step: "TLS handshake",
        source,
    };
    let name = ServerName::from(addr.ip());
    let conn = ClientConnection::new(Arc::clone(config), name)
        .map_err(|err| fail(io::Error::other(err)))?;
    let mut tls = StreamOwned::new(conn, stream);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).map_err(fail)?;
    }
    exchange(tls, addr, &host, path, headers, timeout)
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
    exchange(stream, addr, host, path, &[], timeout)
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

/// Sends the GET, with `host` as its `Host` header, on a connected stream
/// and reads the whole response.
fn exchange(
    mut stream: impl Read + Write,
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response, ContractError> {
    let fail = |step, source| ContractError::Io {
        path: path.to_string(),
        addr,
        step,
        source,
    };
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
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
fn parse_response(raw: &[u8]) -> Result<Option<Response>, Malformed> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn hello_accepts_any_json_spacing_and_rejects_other_bodies() {
        verify(Scenario::Hello, 200, JSON, HELLO_BODY).unwrap();
        let python = br#"{"message": "helowrld"}"#;
        verify(
            Scenario::Sleep,
            200,
            Some("application/json; charset=utf-8"),
            python,
        )
        .unwrap();
        assert!(matches!(
            verify(Scenario::Hello, 200, JSON, br#"{"message":"hello"}"#),
            Err(ContractError::Body(BodyError::NotHello { .. }))
        ));
        let why = verify(Scenario::Hello, 500, JSON, HELLO_BODY).unwrap_err();
        assert!(matches!(why, ContractError::Status { status: 500, .. }));
        assert_eq!(
            why.to_string(),
            r#"/hello answered status 500, not 200 (body: "{\"message\":\"helowrld\"}")"#
        );
        let why = verify(Scenario::Hello, 200, None, HELLO_BODY).unwrap_err();
        assert!(matches!(why, ContractError::NoContentType { .. }));
        assert!(why.to_string().contains("Content-Type"), "{why}");
        assert!(matches!(
            verify(Scenario::Hello, 200, Some("text/html"), HELLO_BODY),
            Err(ContractError::ContentType { .. })
        ));
    }

    #[test]
    fn cpu_wants_the_whole_sequence() {
        verify(Scenario::Cpu, 200, JSON, br#"{"message":[0,1,2]}"#).unwrap();
        let why = verify(Scenario::Cpu, 200, JSON, br#"{"message":[0,2]}"#).unwrap_err();
        assert_eq!(why.to_string(), "/cpu message[1] is 2, expected 1");
        assert!(matches!(
            verify(Scenario::Cpu, 200, JSON, br#"{"message":[]}"#),
            Err(ContractError::Body(BodyError::CpuEmpty))
        ));
        assert!(matches!(
            verify(Scenario::Cpu, 200, JSON, br#"[0,1]"#),
            Err(ContractError::Body(BodyError::CpuNotList))
        ));
    }

    #[test]
    fn db_wants_a_world_row_in_range() {
        verify(Scenario::Db, 200, JSON, br#"{"id":1,"randomNumber":10000}"#).unwrap();
        let body = |text: &[u8]| match verify(Scenario::Db, 200, JSON, text) {
            Err(ContractError::Body(why)) => why,
            other => panic!("expected a body error, got {other:?}"),
        };
        assert_eq!(
            body(br#"{"id":0,"randomNumber":5}"#),
            BodyError::DbOutOfRange {
                key: "id",
                number: 0
            }
        );
        assert_eq!(
            body(br#"{"id":10001,"randomNumber":5}"#).to_string(),
            "/db id is 10001, outside 1..=10000"
        );
        assert!(matches!(body(br#"{"id":3}"#), BodyError::DbNotRow { .. }));
        assert!(matches!(
            body(br#"{"id":"3","randomNumber":5}"#),
            BodyError::DbNoInteger { key: "id", .. }
        ));
    }

    #[test]
    fn upstream_wants_json() {
        verify(Scenario::Upstream, 200, JSON, br#"{"message":"upstream"}"#).unwrap();
        let why = verify(Scenario::Upstream, 200, JSON, b"<html>").unwrap_err();
        assert!(matches!(why, ContractError::NotJson { .. }));
        assert!(
            why.to_string().starts_with("/upstream body is not JSON ("),
            "{why}"
        );
        assert!(std::error::Error::source(&why).is_some());
        assert!(matches!(
            verify(Scenario::Upstream, 502, JSON, br#"{"error":"refused"}"#),
            Err(ContractError::Status { status: 502, .. })
        ));
    }

    #[test]
    fn parses_content_length_and_chunked_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n\r\nhi";
        let response = parse_response(raw).unwrap().unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"hi"[..])
        );
        assert_eq!(response.header("server"), Some("x"));
        assert_eq!(parse_response(&raw[..raw.len() - 1]), Ok(None));

        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3\r\n!!!\r\n0\r\n\r\n";
        let response = parse_response(chunked).unwrap().unwrap();
        assert_eq!(response.body, b"hi!!!");
        assert!(response.has_framing());
    }

    #[test]
    fn malformed_responses_say_what_is_wrong() {
        assert_eq!(
            parse_response(b"SPDY/3 200 OK\r\n\r\n"),
            Err(Malformed::NotHttp1("SPDY/3 200 OK".into()))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\n"),
            Err(Malformed::ContentLength("two".into()))
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            parse_response(chunked).unwrap_err().to_string(),
            r#"bad chunk size "zz""#
        );
    }

    #[test]
    fn a_closed_port_is_an_io_error_that_keeps_its_cause() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let why = fetch(port, "/hello", Duration::from_secs(2)).unwrap_err();
        let ContractError::Io {
            step: "connect",
            source,
            ..
        } = &why
        else {
            panic!("expected a connect error, got {why:?}");
        };
        assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
        let prefix = format!("GET /hello from 127.0.0.1:{port}: connect: ");
        assert!(why.to_string().starts_with(&prefix), "{why}");
    }

    #[test]
    fn verify_response_demands_server_date_and_framing() {
        let mut response = Response {
            status: 200,
            headers: vec![
                ("Server".into(), "framewut".into()),
                ("Date".into(), "Thu, 01 Jan 2026 00:00:00 GMT".into()),
                ("Content-Type".into(), "application/json".into()),
                ("Content-Length".into(), "22".into()),
            ],
            body: HELLO_BODY.to_vec(),
        };
        verify_response(Scenario::Hello, &response).unwrap();
        response.headers.remove(1);
        let why = verify_response(Scenario::Hello, &response).unwrap_err();
        assert_eq!(why.to_string(), "/hello response has no Date header");
    }
}
