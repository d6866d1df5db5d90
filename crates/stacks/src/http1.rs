//! A small HTTP/1.1 server codec for the stacks that speak HTTP themselves:
//! request heads with keep-alive and `Content-Length` bodies, pipelining,
//! `Expect: 100-continue`, and responses framed with `Content-Length`.
//! Lines may end in a bare LF, which RFC 9112 section 2.2 lets a recipient
//! accept as real servers do; a bare CR anywhere else is refused.

use crate::app::{timed_calls, Reply, SERVER_NAME, TIME_CALLS_HEADER};
use crate::date::with_date;
use crate::Scenario;

/// The largest request head accepted.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// The largest request body accepted (the contract's requests have none).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// One parsed request: what it asks for and how the connection goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    /// The scenario its path names, if any.
    pub scenario: Option<Scenario>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Whether the client spoke HTTP/1.0 (keep-alive must then be announced).
    pub http10: bool,
    /// A HEAD request: the response has no body.
    pub head: bool,
    /// A timed request's count of calls (`app::TIME_CALLS_HEADER`).
    pub timed: Option<u32>,
    /// Bytes the request takes in the buffer, head and body.
    pub len: usize,
}

/// The outcome of parsing the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole request.
    Complete(Request),
    /// More bytes are needed.
    Partial,
    /// The head is whole and asks for `100 Continue` before its body is
    /// sent (RFC 9110 section 10.1.1): the client may wait for that answer,
    /// so it is owed before more bytes can be expected.
    Continue,
    /// Not a request we serve: answer this status and close.
    Invalid(u16, &'static str),
}

/// Where the head ends: the position of the line feed that ends its last
/// line (exclusive of it), and the length of the head with the empty line
/// after it. Either line may end in CRLF or a bare LF.
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(at) = buf[from..].iter().position(|&b| b == b'\n') {
        let at = from + at;
        if buf.get(at + 1) == Some(&b'\n') {
            return Some((at, at + 2));
        }
        if buf.get(at + 1..at + 3) == Some(b"\r\n") {
            return Some((at, at + 3));
        }
        from = at + 1;
    }
    None
}

/// A line without the CR of its CRLF.
fn line_of(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

/// Parses the request at the front of `buf`.
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    let Some((fields_end, head_len)) = find_head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Parsed::Invalid(431, "request head too large")
        } else {
            Parsed::Partial
        };
    };
    let Ok(head) = std::str::from_utf8(&buf[..fields_end]) else {
        return Parsed::Invalid(400, "request head is not UTF-8");
    };
    if head
        .split('\n')
        .map(line_of)
        .any(|line| line.contains('\r'))
    {
        return Parsed::Invalid(400, "a bare CR in the request head");
    }
    let mut lines = head.split('\n').map(line_of);
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Invalid(400, "malformed request line");
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Parsed::Invalid(505, "only HTTP/1.0 and HTTP/1.1 are served"),
    };
    if method.is_empty() || !target.starts_with('/') {
        return Parsed::Invalid(400, "malformed request line");
    }
    let mut keep_alive = !http10;
    let mut content_length: Option<usize> = None;
    let mut expect_continue = false;
    let mut timed = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Invalid(400, "malformed header line");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<usize>() {
                Ok(length) if content_length.is_none_or(|seen| seen == length) => {
                    content_length = Some(length)
                }
                _ => return Parsed::Invalid(400, "bad Content-Length"),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Invalid(501, "chunked request bodies are not supported");
        } else if name.eq_ignore_ascii_case("expect") {
            // An HTTP/1.0 client cannot ask for it (RFC 9110 section 10.1.1).
            expect_continue = !http10 && value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case(TIME_CALLS_HEADER) {
            match timed_calls(Some(value.as_bytes())) {
                Ok(calls) => timed = calls,
                Err(_) => {
                    return Parsed::Invalid(
                        400,
                        "bad x-framewut-time-calls: a count of calls from 1 to 1000000",
                    )
                }
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let body = content_length.unwrap_or(0);
    if body > MAX_BODY {
        return Parsed::Invalid(413, "request body too large");
    }
    if buf.len() < head_len + body {
        return if expect_continue {
            Parsed::Continue
        } else {
            Parsed::Partial
        };
    }
    Parsed::Complete(Request {
        scenario: Scenario::from_path(target),
        keep_alive,
        http10,
        head: method == "HEAD",
        timed,
        len: head_len + body,
    })
}

/// Moves the bytes read but not yet parsed, `buf[start..filled]`, to the
/// front of the buffer, doubling the buffer when they fill it; returns how
/// many there are.
pub(crate) fn keep_unparsed(buf: &mut Vec<u8>, start: usize, filled: usize) -> usize {
    buf.copy_within(start..filled, 0);
    let filled = filled - start;
    if filled == buf.len() {
        buf.resize(buf.len() * 2, 0);
    }
    filled
}

/// The interim answer to a head that asked for `100 Continue`.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Appends a whole response to `out`.
pub(crate) fn write_response(out: &mut Vec<u8>, reply: &Reply, request: &Request) {
    let mut length = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(reply.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reply.reason().as_bytes());
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(SERVER_NAME.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    with_date(|date| out.extend_from_slice(date.as_bytes()));
    out.extend_from_slice(b"\r\nContent-Type: application/json\r\nContent-Length: ");
    out.extend_from_slice(length.format(reply.body.len()).as_bytes());
    if !request.keep_alive {
        out.extend_from_slice(b"\r\nConnection: close");
    } else if request.http10 {
        out.extend_from_slice(b"\r\nConnection: keep-alive");
    }
    out.extend_from_slice(b"\r\n\r\n");
    if !request.head {
        out.extend_from_slice(&reply.body);
    }
}

/// Appends the response to a request that could not be parsed; the
/// connection closes after it.
pub(crate) fn write_error(out: &mut Vec<u8>, status: u16, why: &str) {
    let body = serde_json::json!({ "error": why }).to_string();
    let reply = Reply {
        status,
        body: body.into(),
    };
    let request = Request {
        scenario: None,
        keep_alive: false,
        http10: false,
        head: false,
        timed: None,
        len: 0,
    };
    write_response(out, &reply, &request);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(raw: &[u8]) -> Request {
        match parse(raw) {
            Parsed::Complete(request) => request,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_keep_alive_rules() {
        let request = complete(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(request.scenario, Some(Scenario::Hello));
        assert!(request.keep_alive && !request.http10);
        assert!(!complete(b"GET /db HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!complete(b"GET /db HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete(b"GET /db HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert_eq!(complete(b"GET /nope HTTP/1.1\r\n\r\n").scenario, None);
    }

    #[test]
    fn waits_for_the_whole_body_and_finds_the_next_request() {
        let raw =
            b"POST /hello HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /cpu HTTP/1.1\r\n\r\n";
        assert_eq!(parse(&raw[..40]), Parsed::Partial);
        let first = complete(raw);
        assert_eq!(&raw[first.len - 5..first.len], b"hello");
        let second = complete(&raw[first.len..]);
        assert_eq!(second.scenario, Some(Scenario::Cpu));
        assert_eq!(first.len + second.len, raw.len());
    }

    /// RFC 9112 section 2.2: a recipient may take a bare LF as a line's end.
    #[test]
    fn accepts_bare_lf_line_endings() {
        let raw = b"GET /hello HTTP/1.1\nHost: x\nConnection: close\n\nGET /db HTTP/1.1\n\n";
        let first = complete(raw);
        assert_eq!(first.scenario, Some(Scenario::Hello));
        assert!(!first.keep_alive, "the header after a bare LF is read");
        assert_eq!(&raw[first.len..first.len + 4], b"GET ");
        assert_eq!(complete(&raw[first.len..]).scenario, Some(Scenario::Db));
        // Mixed endings, and an empty line ended by CRLF after a bare LF.
        let mixed = b"POST /cpu HTTP/1.1\r\nContent-Length: 2\n\r\nhi";
        assert_eq!(complete(mixed).len, mixed.len());
        assert_eq!(parse(b"GET /hello HTTP/1.1\nHost: x\n"), Parsed::Partial);
        // A CR that ends no line is refused (RFC 9112 section 2.2).
        assert!(matches!(
            parse(b"GET /hello HTTP/1.1\r\nX: a\rb\r\n\r\n"),
            Parsed::Invalid(400, _)
        ));
    }

    /// RFC 9110 section 10.1.1: `100 Continue` is owed once the head is
    /// whole and its body has not all come; not to HTTP/1.0, not without a body.
    #[test]
    fn asks_for_the_body_of_an_expect_100_continue_request() {
        let raw = b"POST /hello HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello";
        let head = raw.len() - 5;
        assert_eq!(
            parse(&raw[..head - 1]),
            Parsed::Partial,
            "the head is not whole"
        );
        assert_eq!(parse(&raw[..head]), Parsed::Continue);
        assert_eq!(parse(&raw[..head + 2]), Parsed::Continue);
        assert_eq!(complete(raw).len, raw.len());
        let http10 = b"POST /hello HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parse(http10), Parsed::Partial);
        let no_body = b"GET /hello HTTP/1.1\r\nExpect: 100-continue\r\n\r\n";
        assert_eq!(complete(no_body).len, no_body.len());
    }

    /// A server loop sends `100 Continue` once, before the body, and then
    /// the response.
    #[test]
    fn a_server_loop_continues_then_answers() {
        use std::io::{Read, Write};
        use std::os::unix::net::UnixStream;
        let (mut client, server) = UnixStream::pair().unwrap();
        let serving = std::thread::spawn(move || {
            crate::stack::std_threads::serve(server, false, |_, _| Reply::not_found())
        });
        client
            .write_all(b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            .unwrap();
        let mut interim = vec![0u8; CONTINUE.len()];
        client.read_exact(&mut interim).unwrap();
        assert_eq!(interim, CONTINUE);
        client.write_all(b"bo").unwrap();
        client.write_all(b"dy").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = String::new();
        client.read_to_string(&mut rest).unwrap();
        assert!(rest.starts_with("HTTP/1.1 404 "), "{rest}");
        assert_eq!(rest.matches("HTTP/1.1 100").count(), 0, "{rest}");
        serving.join().unwrap();
    }

    #[test]
    fn refuses_what_it_does_not_serve() {
        assert!(matches!(
            parse(b"GET /x HTTP/2.0\r\n\r\n"),
            Parsed::Invalid(505, _)
        ));
        assert!(matches!(
            parse(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Invalid(501, _)
        ));
        assert!(matches!(
            parse(b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Parsed::Invalid(400, _)
        ));
        assert!(matches!(parse(b"GARBAGE\r\n\r\n"), Parsed::Invalid(400, _)));
        assert_eq!(parse(b"GET /hello HTTP/1.1\r\nHost"), Parsed::Partial);
        assert!(matches!(
            parse(&vec![b'a'; MAX_HEAD + 1]),
            Parsed::Invalid(431, _)
        ));
    }

    #[test]
    fn writes_a_framed_response() {
        let request = complete(b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
        let reply = Reply {
            status: 200,
            body: bytes::Bytes::from_static(b"{}"),
        };
        let mut out = Vec::new();
        write_response(&mut out, &reply, &request);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nServer: framewut\r\nDate: "),
            "{text}"
        );
        assert!(text.ends_with("Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"), "{text}");
    }
}
