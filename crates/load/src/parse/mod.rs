//! An incremental HTTP/1.1 response parser that counts bodies instead of
//! keeping them.
//!
//! Bytes arrive in whatever pieces the socket hands over. The parser walks
//! them in place: a status line and headers are parsed straight from the read
//! buffer (by `httparse`), a body is skipped by counting down its length or
//! its chunk sizes. Only a head that straddles two reads is copied, and only
//! until it is complete, so a 1 MB body costs no copying at all.

/// Largest response head accepted; a server sending more is treated as broken.
/// This, not a header count, bounds a head: any number of headers that fits
/// is accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Headers indexed on the stack for the common case; a head with more is
/// parsed again with room for as many as its lines.
const FEW_HEADERS: usize = 64;

/// A response the server cannot have meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The status line or headers are not HTTP/1.x.
    BadHead,
    /// More than 64 KiB of headers.
    HeadTooLarge,
    /// A `Content-Length` that is not a number, or several that disagree
    /// (RFC 9112 section 6.3: the framing is unrecoverable).
    BadLength,
    /// A chunk-size line that is not hexadecimal, or a chunk not followed by CRLF.
    BadChunk,
    /// A 101 Switching Protocols: the connection no longer speaks HTTP/1.1,
    /// so nothing after it can answer a request.
    Switched,
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
        // A head that straddles reads is parsed again only once its blank
        // line may have come: parsing it again on every piece would cost the
        // square of its length against a server that drips it byte by byte.
        if !ends_a_line_pair(&self.partial, data) {
            if self.partial.len() + data.len() > MAX_HEAD {
                return Err(ParseError::HeadTooLarge);
            }
            self.partial.extend_from_slice(data);
            return Ok(false);
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
        let mut headers = [httparse::EMPTY_HEADER; FEW_HEADERS];
        match self.head_in(data, &mut headers) {
            Err(Parsed::TooManyHeaders) => self.head_with_many_headers(data),
            Err(Parsed::Error(e)) => Err(e),
            Ok(step) => Ok(step),
        }
    }

    /// A head with more headers than the stack holds: rare, so it may allocate.
    #[cold]
    fn head_with_many_headers(&mut self, data: &[u8]) -> Result<(usize, Step), ParseError> {
        let end = data.len().min(MAX_HEAD);
        let lines = data[..end].iter().filter(|b| **b == b'\n').count();
        let mut headers = vec![httparse::EMPTY_HEADER; lines];
        match self.head_in(data, &mut headers) {
            // More header lines than fit in the first MAX_HEAD bytes.
            Err(Parsed::TooManyHeaders) => Err(ParseError::HeadTooLarge),
            Err(Parsed::Error(e)) => Err(e),
            Ok(step) => Ok(step),
        }
    }

    fn head_in<'h, 'b: 'h>(
        &mut self,
        data: &'b [u8],
        headers: &'h mut [httparse::Header<'b>],
    ) -> Result<(usize, Step), Parsed> {
        let mut response = httparse::Response::new(headers);
        let used = match response.parse(data) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok((0, Step::NeedHead)),
            Err(httparse::Error::TooManyHeaders) => return Err(Parsed::TooManyHeaders),
            Err(_) => return Err(Parsed::Error(ParseError::BadHead)),
        };
        if used > MAX_HEAD {
            return Err(Parsed::Error(ParseError::HeadTooLarge));
        }
        let status = response.code.unwrap_or(0);
        let http10 = response.version == Some(0);
        let mut close = http10;
        let mut length = None;
        let mut encoded = false;
        let mut chunked = false;
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                length = Some(content_length(h.value, length)?);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                encoded = true;
                chunked = last_token_is(h.value, b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                if contains_token(h.value, b"close") {
                    close = true;
                } else if contains_token(h.value, b"keep-alive") {
                    close = false;
                }
            }
        }
        if status == 101 {
            return Err(Parsed::Error(ParseError::Switched));
        }
        if (100..200).contains(&status) {
            // An interim response (100 Continue, 103 Early Hints): the real one follows.
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
        } else if let (Some(n), false) = (length, encoded) {
            Body::Length(n)
        } else {
            // No length, or a transfer coding that does not end in chunked
            // (RFC 9112 section 6.3): the body runs to the close.
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

/// How parsing a head with a given room for headers went wrong.
enum Parsed {
    TooManyHeaders,
    Error(ParseError),
}

impl From<ParseError> for Parsed {
    fn from(e: ParseError) -> Parsed {
        Parsed::Error(e)
    }
}

/// One `Content-Length` field value, checked against any seen before it in
/// the same head. RFC 9112 section 6.3: a value that is not 1*DIGIT, or
/// values that differ (as two fields or as a list), leave the framing
/// unknowable; identical repeats may be taken as one (RFC 9110 section 8.6).
fn content_length(value: &[u8], before: Option<u64>) -> Result<u64, ParseError> {
    let mut length = before;
    for item in tokens(value) {
        if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::BadLength);
        }
        let n = item.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if length.is_some_and(|l| l != n) {
            return Err(ParseError::BadLength);
        }
        length = Some(n);
    }
    length.ok_or(ParseError::BadLength)
}

enum Step {
    /// A response is complete.
    Done(Response),
    /// All given bytes were used; the response goes on.
    More,
    /// The head is incomplete: keep the bytes and wait for more.
    NeedHead,
}

/// Whether `data`, read after `before`, holds the end of a blank line (LF
/// then LF, or LF CR LF), possibly begun at the end of `before`.
fn ends_a_line_pair(before: &[u8], data: &[u8]) -> bool {
    let mut prev = [0u8; 2];
    for (i, b) in before.iter().rev().take(2).enumerate() {
        prev[1 - i] = *b;
    }
    for &b in data {
        if b == b'\n' && (prev[1] == b'\n' || (prev[1] == b'\r' && prev[0] == b'\n')) {
            return true;
        }
        prev = [prev[1], b];
    }
    false
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
mod tests;

/// Property tests: the parser against arbitrary bytes and against generated
/// valid response streams, each cut at arbitrary points. `PROPTEST_CASES`
/// sets how many cases each runs (bench/fuzz_parser.sh runs a long campaign).
#[cfg(test)]
mod properties;
