//! The scenario contract as a checker: does a response conform, and if not, why.
//!
//! The lab calls it before every load, and conformance tests call it against
//! every stack, Rust or Python. [`verify`] judges a response already read;
//! [`fetch`] reads one from a local port with a plain
//! [`TcpStream`](std::net::TcpStream); [`check`] does both and also demands
//! the framing headers (`Server`, `Date` and a `Content-Length` or chunked
//! body). [`fetch_https`] and [`check_https`] do the same over HTTPS with a
//! given rustls configuration. [`check_http2`] checks `/hello` over HTTP/2
//! (h2c, or h2 over TLS) and reports what the server advertised
//! ([`Http2Facts`]).
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

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use serde_json::Value;

use crate::Scenario;

mod client;
mod http2;
#[cfg(test)]
mod tests;

pub use client::{fetch, fetch_at, fetch_https, fetch_with, send, send_repeated, Ask, Response};
pub use http2::{check_http2, Http2Facts};

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
    /// The HTTP/2 check ([`check_http2`]) failed before a whole response:
    /// no connection, a TLS handshake or ALPN without h2, a server that does
    /// not speak HTTP/2, or a stream it reset.
    #[error("HTTP/2 GET {path} from {addr}: {step}: {source}")]
    Http2 {
        /// The path asked for.
        path: String,
        /// The server's address.
        addr: SocketAddr,
        /// `connect`, `TLS handshake`, `ALPN`, `HTTP/2 handshake`, `open a
        /// stream`, `send the request`, `read the response head` or `read the body`.
        step: &'static str,
        /// What went wrong there: the OS's, rustls' or h2's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A response to an HTTP/2 request that says another version.
    #[error("an HTTP/2 request was answered as {version}")]
    NotHttp2 {
        /// The version the response carried.
        version: String,
    },
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
