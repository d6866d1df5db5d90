//! The scenario contract as a checker: does a response conform, and if not, why.
//!
//! The lab calls it before every load, and conformance tests call it against
//! every stack, Rust or Python. [`verify`] judges a response already read;
//! [`fetch`] reads one from a local port with a plain [`TcpStream`]; [`check`]
//! does both and also demands the framing headers (`Server`, `Date` and a
//! `Content-Length` or chunked body).
//!
//! ```no_run
//! use framewut_stacks::contract;
//! use framewut_stacks::Scenario;
//!
//! contract::verify(Scenario::Hello, 200, Some("application/json"), br#"{"message":"helowrld"}"#).unwrap();
//! let why = contract::verify(Scenario::Hello, 200, Some("text/plain"), b"hi").unwrap_err();
//! assert!(why.contains("text/plain"));
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

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::Scenario;

/// The hello body every stack serves, byte for byte (22 bytes).
pub const HELLO_BODY: &[u8] = br#"{"message":"helowrld"}"#;

/// The largest id, and randomNumber, of the World table.
pub const WORLD_ROWS: i64 = 10_000;

/// How long [`fetch`] waits for a whole response by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Says whether a response to `scenario` conforms; if not, why, in one sentence.
pub fn verify(
    scenario: Scenario,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let path = scenario.path();
    if status != 200 {
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
        return Err(format!(
            "{path} answered status {status}, not 200 (body: {excerpt:?})"
        ));
    }
    match content_type {
        None => {
            return Err(format!(
                "{path} has no Content-Type; expected application/json"
            ))
        }
        Some(value) if !is_json_media_type(value) => {
            return Err(format!(
                "{path} has Content-Type {value:?}; expected application/json"
            ))
        }
        Some(_) => {}
    }
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        format!(
            "{path} body is not JSON ({err}); it starts {:?}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        )
    })?;
    match scenario {
        Scenario::Hello | Scenario::Sleep => {
            if value != serde_json::json!({"message": "helowrld"}) {
                return Err(format!(
                    "{path} body is {value}, expected {{\"message\":\"helowrld\"}}"
                ));
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

fn verify_cpu(value: &Value) -> Result<(), String> {
    let items = value
        .as_object()
        .filter(|object| object.len() == 1)
        .and_then(|object| object.get("message"))
        .and_then(Value::as_array)
        .ok_or("/cpu body is not an object whose only key \"message\" holds an array")?;
    if items.is_empty() {
        return Err("/cpu message array is empty".into());
    }
    for (index, item) in items.iter().enumerate() {
        if item.as_u64() != Some(index as u64) {
            return Err(format!("/cpu message[{index}] is {item}, expected {index}"));
        }
    }
    Ok(())
}

fn verify_db(value: &Value) -> Result<(), String> {
    let object = value
        .as_object()
        .filter(|object| object.len() == 2)
        .ok_or_else(|| {
            format!("/db body is {value}, expected {{\"id\":..,\"randomNumber\":..}}")
        })?;
    for key in ["id", "randomNumber"] {
        let number = object
            .get(key)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("/db body {value} has no integer {key:?}"))?;
        if !(1..=WORLD_ROWS).contains(&number) {
            return Err(format!("/db {key} is {number}, outside 1..={WORLD_ROWS}"));
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
pub fn verify_response(scenario: Scenario, response: &Response) -> Result<(), String> {
    let path = scenario.path();
    for name in ["Server", "Date"] {
        if response.header(name).is_none() {
            return Err(format!("{path} response has no {name} header"));
        }
    }
    if !response.has_framing() {
        return Err(format!(
            "{path} response has neither Content-Length nor chunked framing"
        ));
    }
    verify(
        scenario,
        response.status,
        response.header("content-type"),
        &response.body,
    )
}

/// Fetches `path` from 127.0.0.1:`port` and verifies it with [`verify_response`].
pub fn check(port: u16, scenario: Scenario) -> Result<(), String> {
    let response = fetch(port, scenario.path(), DEFAULT_TIMEOUT)?;
    verify_response(scenario, &response)
}

/// GETs `path` from 127.0.0.1:`port` on a new connection (sending
/// `Connection: close`) and reads the whole response within `timeout`.
pub fn fetch(port: u16, path: &str, timeout: Duration) -> Result<Response, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let fail = |what: &str, err: std::io::Error| format!("GET {path} from {addr}: {what}: {err}");
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|err| fail("connect", err))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|err| fail("set timeout", err))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
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
            return Err(format!(
                "GET {path} from {addr}: no whole response within {timeout:?}"
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return finish_at_eof(raw, path),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(fail("read", err)),
        }
    }
}

/// A response whose body runs to the end of the connection.
fn finish_at_eof(raw: Vec<u8>, path: &str) -> Result<Response, String> {
    let Some((status, headers, head_len)) = parse_head(&raw)? else {
        return Err(format!(
            "GET {path}: the connection closed after {} bytes, before a whole response head",
            raw.len()
        ));
    };
    let response = Response {
        status,
        headers,
        body: raw[head_len..].to_vec(),
    };
    if response.has_framing() {
        return Err(format!(
            "GET {path}: the connection closed before the whole body came"
        ));
    }
    Ok(response)
}

/// Parses a whole response, or `None` when more bytes are needed.
fn parse_response(raw: &[u8]) -> Result<Option<Response>, String> {
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
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
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

fn parse_head(raw: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = raw.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head =
        std::str::from_utf8(&raw[..end]).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 status line: {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some((status, headers, end + 4)))
}

fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|window| window == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap_or("");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
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
        assert_eq!(verify(Scenario::Hello, 200, JSON, HELLO_BODY), Ok(()));
        let python = br#"{"message": "helowrld"}"#;
        assert_eq!(
            verify(
                Scenario::Sleep,
                200,
                Some("application/json; charset=utf-8"),
                python
            ),
            Ok(())
        );
        assert!(verify(Scenario::Hello, 200, JSON, br#"{"message":"hello"}"#).is_err());
        assert!(verify(Scenario::Hello, 500, JSON, HELLO_BODY)
            .unwrap_err()
            .contains("500"));
        assert!(verify(Scenario::Hello, 200, None, HELLO_BODY)
            .unwrap_err()
            .contains("Content-Type"));
        assert!(verify(Scenario::Hello, 200, Some("text/html"), HELLO_BODY).is_err());
    }

    #[test]
    fn cpu_wants_the_whole_sequence() {
        assert_eq!(
            verify(Scenario::Cpu, 200, JSON, br#"{"message":[0,1,2]}"#),
            Ok(())
        );
        let why = verify(Scenario::Cpu, 200, JSON, br#"{"message":[0,2]}"#).unwrap_err();
        assert!(why.contains("message[1]"), "{why}");
        assert!(verify(Scenario::Cpu, 200, JSON, br#"{"message":[]}"#).is_err());
        assert!(verify(Scenario::Cpu, 200, JSON, br#"[0,1]"#).is_err());
    }

    #[test]
    fn db_wants_a_world_row_in_range() {
        assert_eq!(
            verify(Scenario::Db, 200, JSON, br#"{"id":1,"randomNumber":10000}"#),
            Ok(())
        );
        assert!(verify(Scenario::Db, 200, JSON, br#"{"id":0,"randomNumber":5}"#).is_err());
        assert!(verify(Scenario::Db, 200, JSON, br#"{"id":10001,"randomNumber":5}"#).is_err());
        assert!(verify(Scenario::Db, 200, JSON, br#"{"id":3}"#).is_err());
        assert!(verify(Scenario::Db, 200, JSON, br#"{"id":"3","randomNumber":5}"#).is_err());
    }

    #[test]
    fn upstream_wants_json() {
        assert_eq!(
            verify(Scenario::Upstream, 200, JSON, br#"{"message":"upstream"}"#),
            Ok(())
        );
        assert!(verify(Scenario::Upstream, 200, JSON, b"<html>").is_err());
        assert!(verify(Scenario::Upstream, 502, JSON, br#"{"error":"refused"}"#).is_err());
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
        assert_eq!(verify_response(Scenario::Hello, &response), Ok(()));
        response.headers.remove(1);
        let why = verify_response(Scenario::Hello, &response).unwrap_err();
        assert!(why.contains("Date"), "{why}");
    }
}
