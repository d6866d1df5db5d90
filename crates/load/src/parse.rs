//! An incremental HTTP/1.1 response parser that counts bodies instead of
//! keeping them.
//!
//! Bytes arrive in whatever pieces the socket hands over. The parser walks
//! them in place: a status line and headers are parsed straight from the read
//! buffer (by `httparse`), a body is skipped by counting down its length or
//! its chunk sizes. Only a head that straddles two reads is copied, and only
//! until it is complete, so a 1 MB body costs no copying at all.

/// Largest response head accepted; a server sending more is treated as broken.
const MAX_HEAD: usize = 64 * 1024;
/// Headers per response that `httparse` will index.
const MAX_HEADERS: usize = 64;

/// A response the server cannot have meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The status line or headers are not HTTP/1.x.
    BadHead,
    /// More than 64 KiB of headers.
    HeadTooLarge,
    /// A `Content-Length` that is not a number.
    BadLength,
    /// A chunk-size line that is not hexadecimal, or a chunk not followed by CRLF.
    BadChunk,
}

/// One complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The server said it will close the connection after this response.
    pub close: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Waiting for a status line.
    Head,
    /// So many body bytes still to skip.
    Length(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// The body runs until the server closes the connection.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line; `ext` once past a `;` extension.
    Size { value: u64, digits: u32, ext: bool },
    /// Skipping chunk data.
    Data(u64),
    /// Expecting the CR (0) or LF (1) that ends chunk data.
    DataEnd(u8),
    /// Reading trailer lines after the last chunk; `len` counts the current line.
    Trailer { len: u32 },
}

/// Parser state for one connection.
#[derive(Debug)]
pub struct Parser {
    body: Body,
    /// The response being read, once its head is in.
    current: Response,
    /// A head that straddled reads, kept until it is complete.
    partial: Vec<u8>,
    /// Responses to HEAD requests have no body whatever their headers say.
    no_body: bool,
}

impl Parser {
    pub fn new(no_body: bool) -> Parser {
        Parser {
            body: Body::Head,
            current: Response {
                status: 0,
                close: false,
            },
            partial: Vec::new(),
            no_body,
        }
    }

    /// Forgets any half-read response, for a fresh connection.
    pub fn reset(&mut self) {
        self.body = Body::Head;
        self.partial.clear();
    }

    /// Feeds bytes, calling `done` for each response they complete.
    ///
    /// Returns `Ok(true)` when a response said `Connection: close`: the bytes
    /// after it, if any, are ignored, and the caller should close.
    pub fn feed(
        &mut self,
        data: &[u8],
        done: &mut impl FnMut(Response),
    ) -> Result<bool, ParseError> {
        if self.partial.is_empty() {
            return self.walk(data, done);
        }
        let mut joined = std::mem::take(&mut self.partial);
        joined.extend_from_slice(data);
        let result = self.walk(&joined, done);
        if self.partial.is_empty() {
            // Keep the allocation for the next head that straddles reads.
            joined.clear();
            self.partial = joined;
        }
        result
    }

    /// Walks `data` from a clean start (no partial head held).
    fn walk(
        &mut self,
        mut data: &[u8],
        done: &mut impl FnMut(Response),
    ) -> Result<bool, ParseError> {
        loop {
            let (used, outcome) = self.step(data)?;
            data = &data[used..];
            match outcome {
                Step::Done(r) => {
                    done(r);
                    if r.close {
                        return Ok(true);
                    }
                }
                Step::More if data.is_empty() => return Ok(false),
                Step::More => {}
                Step::NeedHead => {
                    if data.len() > MAX_HEAD {
                        return Err(ParseError::HeadTooLarge);
                    }
                    self.partial.extend_from_slice(data);
                    return Ok(false);
                }
            }
        }
    }

    /// The connection reached end of file. Returns the response this completes
    /// (a body delimited by the close), or `None` if nothing was pending.
    /// An incomplete response is an error for the caller to count.
    pub fn eof(&mut self) -> Result<Option<Response>, ()> {
        match self.body {
            Body::UntilClose => {
                self.body = Body::Head;
                Ok(Some(self.current))
            }
            Body::Head if self.partial.is_empty() => Ok(None),
            _ => Err(()),
        }
    }

    /// Consumes what it can of `data` in the current state.
    fn step(&mut self, data: &[u8]) -> Result<(usize, Step), ParseError> {
        match self.body {
            Body::Head => self.head(data),
            Body::Length(left) => {
                let take = left.min(data.len() as u64);
                if take == left {
                    self.body = Body::Head;
                    Ok((take as usize, Step::Done(self.current)))
                } else {
                    self.body = Body::Length(left - take);
                    Ok((take as usize, Step::More))
                }
            }
            Body::UntilClose => Ok((data.len(), Step::More)),
            Body::Chunked(chunk) => self.chunked(chunk, data),
        }
    }

    fn head(&mut self, data: &[u8]) -> Result<(usize, Step), ParseError> {
        if data.is_empty() {
            return Ok((0, Step::More));
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(data) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok((0, Step::NeedHead)),
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadTooLarge),
            Err(_) => return Err(ParseError::BadHead),
        };
        let status = response.code.unwrap_or(0);
        let http10 = response.version == Some(0);
        let mut close = http10;
        let mut length = None;
        let mut chunked = false;
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let text = std::str::from_utf8(h.value).map_err(|_| ParseError::BadLength)?;
                length = Some(
                    text.trim()
                        .parse::<u64>()
                        .map_err(|_| ParseError::BadLength)?,
                );
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = last_token_is(h.value, b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                if contains_token(h.value, b"close") {
                    close = true;
                } else if contains_token(h.value, b"keep-alive") {
                    close = false;
                }
            }
        }
        if (100..200).contains(&status) {
            // An interim response (100 Continue): the real one follows.
            return Ok((used, Step::More));
        }
        self.current = Response { status, close };
        self.body = if self.no_body || status == 204 || status == 304 {
            Body::Length(0)
        } else if chunked {
            Body::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
                ext: false,
            })
        } else if let Some(n) = length {
            Body::Length(n)
        } else {
            self.current.close = true;
            Body::UntilClose
        };
        if self.body == Body::Length(0) {
            self.body = Body::Head;
            return Ok((used, Step::Done(self.current)));
        }
        Ok((used, Step::More))
    }

    fn chunked(&mut self, mut chunk: Chunk, data: &[u8]) -> Result<(usize, Step), ParseError> {
        let mut i = 0;
        while i < data.len() {
            match &mut chunk {
                Chunk::Data(left) => {
                    let take = (*left).min((data.len() - i) as u64);
                    i += take as usize;
                    *left -= take;
                    if *left == 0 {
                        chunk = Chunk::DataEnd(0);
                    }
                }
                Chunk::Size { value, digits, ext } => {
                    let b = data[i];
                    i += 1;
                    match b {
                        b'\n' => {
                            if *digits == 0 {
                                return Err(ParseError::BadChunk);
                            }
                            chunk = if *value == 0 {
                                Chunk::Trailer { len: 0 }
                            } else {
                                Chunk::Data(*value)
                            };
                        }
                        b'\r' => {}
                        _ if *ext => {}
                        b';' | b' ' | b'\t' => *ext = true,
                        _ => {
                            let d = (b as char).to_digit(16).ok_or(ParseError::BadChunk)?;
                            if *digits >= 15 {
                                return Err(ParseError::BadChunk);
                            }
                            *value = *value * 16 + d as u64;
                            *digits += 1;
                        }
                    }
                }
                Chunk::DataEnd(seen) => {
                    let expect = if *seen == 0 { b'\r' } else { b'\n' };
                    if data[i] != expect {
                        return Err(ParseError::BadChunk);
                    }
                    i += 1;
                    if *seen == 0 {
                        *seen = 1;
                    } else {
                        chunk = Chunk::Size {
                            value: 0,
                            digits: 0,
                            ext: false,
                        };
                    }
                }
                Chunk::Trailer { len } => {
                    let b = data[i];
                    i += 1;
                    match b {
                        b'\n' if *len == 0 => {
                            self.body = Body::Head;
                            return Ok((i, Step::Done(self.current)));
                        }
                        b'\n' => *len = 0,
                        b'\r' => {}
                        _ => *len += 1,
                    }
                }
            }
        }
        self.body = Body::Chunked(chunk);
        Ok((i, Step::More))
    }
}

enum Step {
    /// A response is complete.
    Done(Response),
    /// All given bytes were used; the response goes on.
    More,
    /// The head is incomplete: keep the bytes and wait for more.
    NeedHead,
}

fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(|t| t.trim_ascii())
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token))
}

fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    tokens(value)
        .last()
        .is_some_and(|t| t.eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
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
}
