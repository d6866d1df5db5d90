//! The contract's unit tests: the judging rules per scenario, the client's
//! parsing of whole and malformed responses, and its errors.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::client::parse_response;
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

    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3\r\n!!!\r\n0\r\n\r\n";
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

/// Three requests on one kept-alive connection: the server accepts once,
/// answers each in turn, and only the last asks it to close.
#[test]
fn repeated_requests_share_one_connection_and_the_last_closes_it() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut closes = Vec::new();
        for k in 0..3 {
            let mut close = false;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                close |= line.eq_ignore_ascii_case("connection: close\r\n");
            }
            closes.push(close);
            let body = format!("{{\"k\":{k}}}");
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
        // No second connection came.
        assert!(listener.accept().is_err());
        closes
    });
    let ask = Ask {
        method: "GET",
        path: "/db",
        headers: &[("x-test", "1")],
        body: &[],
    };
    let responses =
        send_repeated(addr, "127.0.0.1", &ask, 3, Duration::from_secs(5), None).unwrap();
    let bodies: Vec<&[u8]> = responses.iter().map(|r| r.body.as_slice()).collect();
    assert_eq!(bodies, [&b"{\"k\":0}"[..], b"{\"k\":1}", b"{\"k\":2}"]);
    assert_eq!(server.join().unwrap(), [false, false, true]);
}

/// A server that closes after every answer, as gunicorn's sync worker
/// does: each request goes on a connection of its own, and all are
/// answered.
#[test]
fn repeated_requests_reconnect_after_a_response_that_closes() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for k in 0..3 {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while line != "\r\n" {
                line.clear();
                reader.read_line(&mut line).unwrap();
            }
            let body = format!("{{\"k\":{k}}}");
            let mut writer = stream;
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    let ask = Ask {
        method: "GET",
        path: "/db",
        headers: &[],
        body: &[],
    };
    let responses =
        send_repeated(addr, "127.0.0.1", &ask, 3, Duration::from_secs(5), None).unwrap();
    let bodies: Vec<&[u8]> = responses.iter().map(|r| r.body.as_slice()).collect();
    assert_eq!(bodies, [&b"{\"k\":0}"[..], b"{\"k\":1}", b"{\"k\":2}"]);
    server.join().unwrap();
}

/// The HTTP/2 check against a closed port fails at connecting, and keeps
/// the OS's reason.
#[test]
fn the_http2_check_of_a_closed_port_fails_at_connect() {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let why = check_http2(addr, None).unwrap_err();
    assert!(
        matches!(
            why,
            ContractError::Http2 {
                step: "connect",
                ..
            }
        ),
        "{why:?}"
    );
    let prefix = format!("HTTP/2 GET /hello from {addr}: connect: ");
    assert!(why.to_string().starts_with(&prefix), "{why}");
}

/// A server that speaks only HTTP/1.1 answers HTTP/2's preface with an
/// HTTP/1.1 error: the HTTP/2 check fails on it at once, not at its timeout.
#[test]
fn the_http2_check_fails_on_a_server_of_http1_alone() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut preface = [0u8; 24];
        stream.read_exact(&mut preface).unwrap();
        stream
            .write_all(b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        preface
    });
    let started = std::time::Instant::now();
    let why = check_http2(addr, None).unwrap_err();
    assert!(
        matches!(why, ContractError::Http2 { step, .. } if step != "connect"),
        "{why:?}"
    );
    assert!(started.elapsed() < DEFAULT_TIMEOUT / 2, "{why}");
    assert_eq!(&server.join().unwrap(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}
