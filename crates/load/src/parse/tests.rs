//! Unit tests: the parser fed hand-written responses in every split, for
//! each framing, the errors for broken ones, and interim responses.

use super::*;

/// Feeds `input` in pieces of `piece` bytes and returns the statuses seen.
fn parse_in_pieces(input: &[u8], piece: usize) -> Result<Vec<u16>, ParseError> {
    let mut p = Parser::new(false);
    let mut seen = Vec::new();
    for part in input.chunks(piece) {
        p.feed(part, &mut |r| seen.push(r.status))?;
    }
    if let Ok(Some(r)) = p.eof() {
        seen.push(r.status);
    }
    Ok(seen)
}

#[test]
fn content_length_keep_alive_in_any_split() {
    let one = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
    let input: Vec<u8> = [&one[..], &one[..], &one[..]].concat();
    for piece in 1..input.len() {
        assert_eq!(
            parse_in_pieces(&input, piece).unwrap(),
            vec![200; 3],
            "piece {piece}"
        );
    }
}

#[test]
fn chunked_with_extensions_and_trailers_in_any_split() {
    let input = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: 1\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    for piece in 1..input.len() {
        assert_eq!(
            parse_in_pieces(input, piece).unwrap(),
            vec![201, 404],
            "piece {piece}"
        );
    }
}

#[test]
fn body_until_close_and_connection_close() {
    let mut p = Parser::new(false);
    let mut seen = Vec::new();
    let close = p
        .feed(b"HTTP/1.0 200 OK\r\n\r\nabc", &mut |r| seen.push(r))
        .unwrap();
    assert!(!close && seen.is_empty());
    assert_eq!(p.eof().unwrap().unwrap().status, 200);

    let close = p
        .feed(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            &mut |r| seen.push(r),
        )
        .unwrap();
    assert!(close);
    assert!(seen[0].close);
}

#[test]
fn garbage_and_bad_framing_are_errors() {
    assert_eq!(
        parse_in_pieces(b"garbage\r\n\r\n", 64),
        Err(ParseError::BadHead)
    );
    assert_eq!(
        parse_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 64),
        Err(ParseError::BadLength)
    );
    assert_eq!(
        parse_in_pieces(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            64
        ),
        Err(ParseError::BadChunk)
    );
    let huge = [
        b"HTTP/1.1 200 OK\r\nX: ".as_slice(),
        &vec![b'a'; MAX_HEAD + 10],
    ]
    .concat();
    assert_eq!(parse_in_pieces(&huge, 4096), Err(ParseError::HeadTooLarge));
}

#[test]
fn a_head_request_has_no_body_and_an_unfinished_body_is_reported() {
    let mut p = Parser::new(true);
    let mut n = 0;
    p.feed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        &mut |_| n += 1,
    )
    .unwrap();
    assert_eq!(n, 1);
    let mut p = Parser::new(false);
    p.feed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
        &mut |_| n += 1,
    )
    .unwrap();
    assert_eq!(p.eof(), Err(()));
}

#[test]
fn conflicting_content_lengths_are_an_error_identical_ones_are_not() {
    for head in [
        "Content-Length: 50\r\nContent-Length: 5",
        "Content-Length: 5, 50",
        "Content-Length: +5",
        "Content-Length: 5 5",
        "Content-Length: ",
    ] {
        let input = format!("HTTP/1.1 200 OK\r\n{head}\r\n\r\nhello");
        assert_eq!(
            parse_in_pieces(input.as_bytes(), 64),
            Err(ParseError::BadLength),
            "{head}"
        );
    }
    let same = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5, 5\r\n\r\nhello";
    assert_eq!(parse_in_pieces(same, 7), Ok(vec![200]));
}

#[test]
fn any_number_of_headers_within_the_byte_limit() {
    let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..5000 {
        input.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    input.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    let twice = [&input[..], &input[..]].concat();
    for piece in [1, 3, 100, 4096, twice.len()] {
        assert_eq!(
            parse_in_pieces(&twice, piece),
            Ok(vec![200, 200]),
            "{piece}"
        );
    }
}

#[test]
fn a_101_ends_http_but_other_interim_responses_do_not() {
    assert_eq!(
        parse_in_pieces(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
            64
        ),
        Err(ParseError::Switched)
    );
    assert_eq!(
        parse_in_pieces(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            5
        ),
        Ok(vec![200])
    );
}

#[test]
fn a_transfer_coding_other_than_chunked_runs_to_the_close() {
    let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n";
    assert_eq!(parse_in_pieces(input, 3), Ok(vec![200]));
}
