//! Property tests: the parser against arbitrary bytes and against generated
//! valid response streams, each cut at arbitrary points. `PROPTEST_CASES`
//! sets how many cases each runs (bench/fuzz_parser.sh runs a long campaign).

use super::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Feeds `input` cut at `cuts` (positions taken modulo its length),
/// checking after every piece that the parser holds no more than its
/// limit; returns the statuses completed and the first error.
fn feed_cut(input: &[u8], cuts: &[usize], no_body: bool) -> (Vec<u16>, Option<ParseError>) {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.dedup();
    let mut p = Parser::new(no_body);
    let mut seen = Vec::new();
    for w in at.windows(2) {
        match p.feed(&input[w[0]..w[1]], &mut |r| seen.push(r.status)) {
            Ok(true) => return (seen, None),
            Ok(false) => {}
            Err(e) => return (seen, Some(e)),
        }
        assert!(
            p.partial.len() <= MAX_HEAD,
            "a held head of {} bytes",
            p.partial.len()
        );
        assert!(
            p.partial.capacity() <= 2 * MAX_HEAD + input.len(),
            "held capacity {}",
            p.partial.capacity()
        );
    }
    if let Ok(Some(r)) = p.eof() {
        seen.push(r.status);
    }
    (seen, None)
}

#[derive(Debug, Clone)]
enum Framing {
    Length,
    /// Chunk sizes to cut the body into (0 is skipped), with an
    /// extension on each chunk when set, and trailer lines.
    Chunked {
        sizes: Vec<usize>,
        extensions: bool,
        trailers: usize,
    },
    /// No length: the body runs to the close (only ever the last response).
    Close,
}

#[derive(Debug, Clone)]
struct Resp {
    interim: Vec<u16>,
    status: u16,
    body: Vec<u8>,
    framing: Framing,
    http10: bool,
}

/// Bodies that look like the start of another response, so a parser
/// that miscounts body bytes finds a response that is not there.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..300),
        Just(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
        Just(b"0\r\n\r\nHTTP/1.1 500 X\r\n\r\n".to_vec()),
    ]
}

/// Chunked framing: up to 5 chunks, with or without extensions, and up
/// to 2 trailer lines.
fn chunked() -> impl Strategy<Value = Framing> {
    (vec(0usize..40, 0..6), any::<bool>(), 0usize..3).prop_map(|(sizes, extensions, trailers)| {
        Framing::Chunked {
            sizes,
            extensions,
            trailers,
        }
    })
}

fn response(last: bool) -> impl Strategy<Value = Resp> {
    // Only the last response of a stream may run to the close.
    let framing = if last {
        prop_oneof![Just(Framing::Length), Just(Framing::Close), chunked()].boxed()
    } else {
        prop_oneof![Just(Framing::Length), chunked()].boxed()
    };
    (
        vec(prop_oneof![Just(100u16), Just(102), Just(103)], 0..3),
        prop_oneof![200u16..600, Just(204), Just(304)],
        body(),
        framing,
        any::<bool>(),
    )
        .prop_map(|(interim, status, body, framing, http10)| Resp {
            interim,
            status,
            body,
            framing,
            http10,
        })
}

/// The bytes of a response, and whether it ends the stream (a close).
fn serialise(r: &Resp, no_body: bool, out: &mut Vec<u8>) -> bool {
    for code in &r.interim {
        out.extend_from_slice(format!("HTTP/1.1 {code} Interim\r\nX-I: 1\r\n\r\n").as_bytes());
    }
    let version = if r.http10 { "1.0" } else { "1.1" };
    out.extend_from_slice(format!("HTTP/{version} {} S\r\n", r.status).as_bytes());
    if r.http10 {
        // HTTP/1.0 closes unless it says otherwise.
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    let bodiless = no_body || r.status == 204 || r.status == 304;
    match &r.framing {
        Framing::Length => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", r.body.len()).as_bytes());
            if !bodiless {
                out.extend_from_slice(&r.body);
            }
            false
        }
        Framing::Chunked {
            sizes,
            extensions,
            trailers,
        } => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            if bodiless {
                return false;
            }
            let mut rest = &r.body[..];
            let mut cut = sizes.iter().filter(|s| **s > 0).cycle();
            while !rest.is_empty() {
                let n = cut.next().copied().unwrap_or(rest.len()).min(rest.len());
                let ext = if *extensions { ";name=\"v\"" } else { "" };
                out.extend_from_slice(format!("{n:X}{ext}\r\n").as_bytes());
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            out.extend_from_slice(if *extensions { b"0;last\r\n" } else { b"0\r\n" });
            for t in 0..*trailers {
                out.extend_from_slice(format!("X-Trailer-{t}: v\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            false
        }
        Framing::Close => {
            out.extend_from_slice(b"Connection: close\r\n\r\n");
            if !bodiless {
                out.extend_from_slice(&r.body);
            }
            true
        }
    }
}

fn stream() -> impl Strategy<Value = (Vec<Resp>, bool)> {
    (vec(response(false), 0..6), response(true), any::<bool>()).prop_map(
        |(mut rs, last, no_body)| {
            rs.push(last);
            (rs, no_body)
        },
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_nor_grow_past_the_limit(
        input in vec(any::<u8>(), 0..4096),
        cuts in vec(any::<usize>(), 0..16),
        no_body in any::<bool>(),
    ) {
        feed_cut(&input, &cuts, no_body);
    }

    #[test]
    fn response_like_bytes_never_panic_nor_grow_past_the_limit(
        parts in vec(prop_oneof![
            Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
            Just(b"HTTP/1.0 101 S\r\n".to_vec()),
            Just(b"Content-Length: 3\r\n".to_vec()),
            Just(b"Content-Length: 18446744073709551615\r\n".to_vec()),
            Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
            Just(b"Connection: close\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"fffffffffffffff;x\r\n".to_vec()),
            Just(b"0\r\n".to_vec()),
            vec(any::<u8>(), 0..20),
        ], 0..40),
        cuts in vec(any::<usize>(), 0..16),
        no_body in any::<bool>(),
    ) {
        feed_cut(&parts.concat(), &cuts, no_body);
    }

    #[test]
    fn valid_streams_are_counted_exactly_at_any_split(
        (responses, no_body) in stream(),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for r in &responses {
            let closes = serialise(r, no_body, &mut input);
            expected.push(r.status);
            if closes {
                break;
            }
        }
        let (seen, error) = feed_cut(&input, &cuts, no_body);
        prop_assert_eq!(error, None);
        prop_assert_eq!(seen, expected);
    }

    #[test]
    fn a_head_larger_than_the_limit_is_refused_however_it_is_cut(
        extra in 0usize..4096,
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
        while input.len() < MAX_HEAD + extra {
            input.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        input.extend_from_slice(b"\r\n");
        let (seen, error) = feed_cut(&input, &cuts, false);
        prop_assert!(seen.is_empty());
        prop_assert_eq!(error, Some(ParseError::HeadTooLarge));
    }
}
