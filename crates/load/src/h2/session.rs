//! One HTTP/2 client connection's protocol state, apart from its socket:
//! what to write next, and what the bytes read mean. The engine's loop
//! writes [`Session::unwritten`] and feeds what it reads to
//! [`Session::feed`], which answers with [`Event`]s and queues the frames
//! the protocol asks for in return (SETTINGS and PING acknowledgements,
//! WINDOW_UPDATEs), so a session needs no timer and no thread of its own.

use std::collections::VecDeque;

use super::frame::{self, Head};
use super::hpack::{self, HpackError};
use super::request::Encoded;
use crate::ServerSettings;

/// What a session asks of the server: the windows it grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    /// Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE).
    pub stream: u32,
    /// The connection's receive window, raised from 65,535 by a WINDOW_UPDATE.
    pub connection: u32,
}

/// What the bytes read meant for the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A stream's response ended, with its final status.
    Answered { stream: u32, status: u16 },
    /// The server reset a stream, with this error code.
    Reset { stream: u32, code: u32 },
    /// The server will take no new streams; those above `last` were not
    /// processed (and never will be, on this connection).
    GoAway { last: u32, code: u32 },
}

/// A connection error (RFC 9113 §5.4.1): the connection cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnError {
    /// The error code sent in the GOAWAY that closes it.
    pub code: u32,
    /// What happened, for the count of failures by reason.
    pub why: &'static str,
}

fn protocol(why: &'static str) -> ConnError {
    ConnError {
        code: frame::PROTOCOL_ERROR,
        why,
    }
}

/// Where a connection's use of the server's dynamic table stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexing {
    /// No request sent yet: the first adds the shared fields, if they fit.
    Fresh,
    /// They were added: later requests name them by index.
    Used,
    /// The table is too small for them: every request is sent plain.
    Off,
}

/// The dynamic table's size an encoder starts with (RFC 7541 §4.2).
const DEFAULT_TABLE: u32 = 4_096;

struct Stream {
    id: u32,
    /// The final status, once its response's headers came.
    status: Option<u16>,
    /// Bytes received since this stream's window was last raised.
    unacked: u32,
    /// Whether every byte of its request was written to the socket.
    whole: bool,
    /// The request body still to send, if any.
    body: Option<Body>,
}

struct Body {
    request: usize,
    sent: usize,
    /// What the server's stream window still allows.
    window: i64,
}

/// The client side of one HTTP/2 connection.
pub(crate) struct Session {
    out: Vec<u8>,
    written: usize,
    /// Where in `out` each stream's request ends: once written that far,
    /// the request was wholly sent.
    ends: VecDeque<(usize, u32)>,
    /// An incomplete frame from the last read.
    carry: Vec<u8>,
    /// Open streams, by ascending id.
    streams: Vec<Stream>,
    next_id: u32,
    server: ServerSettings,
    /// Whether the server's first SETTINGS came: no stream opens before it,
    /// so none is refused past a limit the engine could not yet know.
    ready: bool,
    /// The connection's send window.
    send_window: i64,
    /// Bytes received since the connection's window was last raised.
    unacked: u32,
    windows: Windows,
    /// A header block awaiting its CONTINUATION frames: stream, block, end of stream.
    partial: Option<(u32, Vec<u8>, bool)>,
    /// The last stream id of a GOAWAY received.
    goaway: Option<u32>,
    indexing: Indexing,
    /// The largest dynamic table the encoder may use: the server's
    /// SETTINGS_HEADER_TABLE_SIZE, once lowered from 4,096.
    table_max: u32,
    /// A lowered table size to announce at the start of the next block (§4.2).
    table_update: Option<u32>,
}

impl Session {
    /// A session whose preface, SETTINGS and connection window update are
    /// queued to write: no dynamic table, no server push, these windows.
    pub(crate) fn new(windows: Windows) -> Session {
        let mut out = frame::PREFACE.to_vec();
        frame::settings(
            &mut out,
            &[
                (frame::HEADER_TABLE_SIZE, 0),
                (frame::ENABLE_PUSH, 0),
                (frame::INITIAL_WINDOW_SIZE, windows.stream),
            ],
        );
        if windows.connection > frame::DEFAULT_WINDOW {
            frame::window_update(&mut out, 0, windows.connection - frame::DEFAULT_WINDOW);
        }
        Session {
            out,
            written: 0,
            ends: VecDeque::new(),
            carry: Vec::new(),
            streams: Vec::new(),
            next_id: 1,
            server: ServerSettings::default(),
            ready: false,
            send_window: i64::from(frame::DEFAULT_WINDOW),
            unacked: 0,
            windows,
            partial: None,
            goaway: None,
            indexing: Indexing::Fresh,
            table_max: DEFAULT_TABLE,
            table_update: None,
        }
    }

    /// The server's settings, once its first SETTINGS came.
    pub(crate) fn server(&self) -> Option<ServerSettings> {
        self.ready.then_some(self.server)
    }

    /// Whether a new stream may open now: the server's SETTINGS came, its
    /// limit on concurrent streams has room, it sent no GOAWAY, and stream
    /// ids are left.
    pub(crate) fn can_open(&self) -> bool {
        self.ready
            && self.goaway.is_none()
            && self.next_id <= frame::MAX_WINDOW
            && self
                .server
                .max_concurrent_streams
                .is_none_or(|max| (self.streams.len() as u64) < u64::from(max))
    }

    /// Whether this connection can never open another stream (GOAWAY, or
    /// its stream ids spent): once its streams end it must be replaced.
    pub(crate) fn closing(&self) -> bool {
        self.goaway.is_some() || self.next_id > frame::MAX_WINDOW
    }

    /// Opens a stream for `request` (one of `requests`); returns its id.
    pub(crate) fn open(&mut self, requests: &[Encoded], request: usize) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        let encoded = &requests[request];
        let max = self.server.max_frame_size as usize;
        let chosen = match self.indexing {
            Indexing::Fresh if encoded.table <= self.table_max => {
                self.indexing = Indexing::Used;
                &encoded.first
            }
            Indexing::Fresh => {
                self.indexing = Indexing::Off;
                &encoded.plain
            }
            Indexing::Used => &encoded.next,
            Indexing::Off => &encoded.plain,
        };
        let announced;
        let mut block: &[u8] = match self.table_update.take() {
            None => chosen,
            Some(size) => {
                let mut joined = Vec::with_capacity(chosen.len() + 6);
                frame::integer(&mut joined, size as usize, 5, 0x20);
                joined.extend_from_slice(chosen);
                announced = joined;
                &announced
            }
        };
        let end_stream = if encoded.body.is_empty() {
            frame::END_STREAM
        } else {
            0
        };
        let first = block.len().min(max);
        let end_headers = if first == block.len() {
            frame::END_HEADERS
        } else {
            0
        };
        frame::head(
            &mut self.out,
            first,
            frame::HEADERS,
            end_stream | end_headers,
            id,
        );
        self.out.extend_from_slice(&block[..first]);
        block = &block[first..];
        while !block.is_empty() {
            let n = block.len().min(max);
            let flags = if n == block.len() {
                frame::END_HEADERS
            } else {
                0
            };
            frame::head(&mut self.out, n, frame::CONTINUATION, flags, id);
            self.out.extend_from_slice(&block[..n]);
            block = &block[n..];
        }
        let body = (!encoded.body.is_empty()).then(|| Body {
            request,
            sent: 0,
            window: i64::from(self.server.initial_window_size),
        });
        let waits = body.is_some();
        self.streams.push(Stream {
            id,
            status: None,
            unacked: 0,
            whole: false,
            body,
        });
        if waits {
            self.send_bodies(requests);
        } else {
            self.ends.push_back((self.out.len(), id));
        }
        id
    }

    /// Sends as much of the pending request bodies as the windows allow.
    fn send_bodies(&mut self, requests: &[Encoded]) {
        let max = i64::from(self.server.max_frame_size);
        for stream in &mut self.streams {
            let Some(body) = stream.body.as_mut() else {
                continue;
            };
            let data = &requests[body.request].body;
            loop {
                let left = (data.len() - body.sent) as i64;
                let n = left.min(body.window).min(self.send_window).min(max);
                if n <= 0 {
                    break;
                }
                let n = n as usize;
                let last = body.sent + n == data.len();
                let flags = if last { frame::END_STREAM } else { 0 };
                frame::head(&mut self.out, n, frame::DATA, flags, stream.id);
                self.out.extend_from_slice(&data[body.sent..body.sent + n]);
                body.sent += n;
                body.window -= n as i64;
                self.send_window -= n as i64;
                if last {
                    self.ends.push_back((self.out.len(), stream.id));
                    stream.body = None;
                    break;
                }
            }
        }
    }

    /// Whether a stream's request body waits on the server's windows.
    pub(crate) fn stalled(&self, id: u32) -> bool {
        self.find(id)
            .is_some_and(|i| self.streams[i].body.is_some())
    }

    /// Whether every byte of a stream's request was written.
    pub(crate) fn whole(&self, id: u32) -> bool {
        self.find(id).is_some_and(|i| self.streams[i].whole)
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.streams.binary_search_by_key(&id, |s| s.id).ok()
    }

    /// Gives up on a stream: tells the server (RST_STREAM CANCEL) and forgets it.
    pub(crate) fn cancel(&mut self, id: u32) {
        if let Some(i) = self.find(id) {
            self.streams.remove(i);
            frame::rst_stream(&mut self.out, id, frame::CANCEL);
        }
    }

    /// Queues the GOAWAY that closes the connection on an error of ours.
    pub(crate) fn close(&mut self, code: u32) {
        frame::goaway(&mut self.out, 0, code);
    }

    /// Bytes queued and not yet written.
    pub(crate) fn unwritten(&self) -> &[u8] {
        &self.out[self.written..]
    }

    /// Moves the write position on by `n` bytes written.
    pub(crate) fn wrote(&mut self, n: usize) {
        self.written += n;
        while let Some(&(end, id)) = self.ends.front() {
            if end > self.written {
                break;
            }
            self.ends.pop_front();
            if let Some(i) = self.find(id) {
                self.streams[i].whole = true;
            }
        }
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        } else if self.written >= 64 * 1024 {
            self.out.drain(..self.written);
            for (end, _) in &mut self.ends {
                *end -= self.written;
            }
            self.written = 0;
        }
    }

    /// Reads `bytes` from the server, calling `on` for what they mean.
    pub(crate) fn feed(
        &mut self,
        requests: &[Encoded],
        bytes: &[u8],
        on: &mut impl FnMut(Event),
    ) -> Result<(), ConnError> {
        if self.carry.is_empty() {
            let used = self.frames(requests, bytes, on)?;
            self.carry.extend_from_slice(&bytes[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(bytes);
            let used = self.frames(requests, &buf, on)?;
            buf.drain(..used);
            self.carry = buf;
        }
        Ok(())
    }

    /// Handles the complete frames at the start of `src`; returns how many
    /// bytes they took.
    fn frames(
        &mut self,
        requests: &[Encoded],
        src: &[u8],
        on: &mut impl FnMut(Event),
    ) -> Result<usize, ConnError> {
        let mut at = 0;
        while let Some(head) = src.get(at..at + frame::HEADER) {
            if !self.ready && at == 0 && head.starts_with(b"HTTP/1.") {
                return Err(protocol(
                    "the server answered in HTTP/1.1: it does not speak HTTP/2 here",
                ));
            }
            let head = Head::read(head.try_into().expect("nine bytes"));
            if head.len > frame::DEFAULT_MAX_FRAME as usize {
                return Err(ConnError {
                    code: frame::FRAME_SIZE_ERROR,
                    why: "a frame larger than SETTINGS_MAX_FRAME_SIZE",
                });
            }
            let Some(payload) = src.get(at + frame::HEADER..at + frame::HEADER + head.len) else {
                break;
            };
            at += frame::HEADER + head.len;
            self.frame(requests, head, payload, on)?;
        }
        Ok(at)
    }

    fn frame(
        &mut self,
        requests: &[Encoded],
        head: Head,
        payload: &[u8],
        on: &mut impl FnMut(Event),
    ) -> Result<(), ConnError> {
        if !self.ready && head.kind != frame::SETTINGS {
            return Err(protocol("the server's first frame was not SETTINGS"));
        }
        if self.partial.is_some() && head.kind != frame::CONTINUATION {
            return Err(protocol("a frame between HEADERS and its CONTINUATION"));
        }
        match head.kind {
            frame::DATA => self.data(head, payload, on),
            frame::HEADERS => {
                let mut block = unpad(head, payload)?;
                if head.flags & frame::PRIORITY != 0 {
                    block = block
                        .get(5..)
                        .ok_or(protocol("a HEADERS frame too short for its priority"))?;
                }
                let end_stream = head.flags & frame::END_STREAM != 0;
                if head.flags & frame::END_HEADERS != 0 {
                    self.headers(head.stream, block, end_stream, on)
                } else {
                    self.partial = Some((head.stream, block.to_vec(), end_stream));
                    Ok(())
                }
            }
            frame::CONTINUATION => {
                let Some((stream, mut block, end_stream)) = self.partial.take() else {
                    return Err(protocol("a CONTINUATION after no HEADERS"));
                };
                if stream != head.stream {
                    return Err(protocol("a CONTINUATION on another stream"));
                }
                block.extend_from_slice(payload);
                if head.flags & frame::END_HEADERS != 0 {
                    self.headers(stream, &block, end_stream, on)
                } else {
                    self.partial = Some((stream, block, end_stream));
                    Ok(())
                }
            }
            frame::RST_STREAM => {
                let code = word(payload).ok_or(ConnError {
                    code: frame::FRAME_SIZE_ERROR,
                    why: "an RST_STREAM frame not 4 bytes long",
                })?;
                if let Some(i) = self.find(head.stream) {
                    self.streams.remove(i);
                    on(Event::Reset {
                        stream: head.stream,
                        code,
                    });
                }
                Ok(())
            }
            frame::SETTINGS => self.settings(requests, head, payload),
            frame::PUSH_PROMISE => Err(protocol("a PUSH_PROMISE, after SETTINGS_ENABLE_PUSH = 0")),
            frame::PING => {
                if head.flags & frame::ACK == 0 {
                    frame::ping_ack(&mut self.out, payload);
                }
                Ok(())
            }
            frame::GOAWAY => {
                let last =
                    word(payload).ok_or(protocol("a GOAWAY frame too short"))? & frame::MAX_WINDOW;
                let code = payload
                    .get(4..8)
                    .and_then(word)
                    .ok_or(protocol("a GOAWAY frame too short"))?;
                self.goaway = Some(self.goaway.map_or(last, |l| l.min(last)));
                on(Event::GoAway { last, code });
                Ok(())
            }
            frame::WINDOW_UPDATE => {
                let increment = word(payload).ok_or(ConnError {
                    code: frame::FRAME_SIZE_ERROR,
                    why: "a WINDOW_UPDATE frame not 4 bytes long",
                })? & frame::MAX_WINDOW;
                if head.stream == 0 {
                    if increment == 0 {
                        return Err(protocol("a WINDOW_UPDATE of 0"));
                    }
                    self.send_window += i64::from(increment);
                    if self.send_window > i64::from(frame::MAX_WINDOW) {
                        return Err(ConnError {
                            code: frame::FLOW_CONTROL_ERROR,
                            why: "a connection window past 2^31-1",
                        });
                    }
                } else if let Some(i) = self.find(head.stream) {
                    if let Some(body) = self.streams[i].body.as_mut() {
                        body.window += i64::from(increment);
                    }
                }
                self.send_bodies(requests);
                Ok(())
            }
            // PRIORITY, and frame types this engine does not know (§5.5).
            _ => Ok(()),
        }
    }

    fn data(
        &mut self,
        head: Head,
        payload: &[u8],
        on: &mut impl FnMut(Event),
    ) -> Result<(), ConnError> {
        if head.stream == 0 {
            return Err(protocol("a DATA frame on stream 0"));
        }
        unpad(head, payload)?;
        // Padding counts against the windows too.
        let len = payload.len() as u32;
        self.unacked += len;
        if self.unacked >= self.windows.connection / 2 {
            frame::window_update(&mut self.out, 0, self.unacked);
            self.unacked = 0;
        }
        let Some(i) = self.find(head.stream) else {
            // A stream already given up on: its window is gone with it.
            return Ok(());
        };
        let end = head.flags & frame::END_STREAM != 0;
        let stream = &mut self.streams[i];
        let Some(status) = stream.status else {
            return Err(protocol("DATA before a response's HEADERS"));
        };
        if end {
            self.streams.remove(i);
            on(Event::Answered {
                stream: head.stream,
                status,
            });
        } else {
            stream.unacked += len;
            if stream.unacked >= self.windows.stream / 2 {
                frame::window_update(&mut self.out, head.stream, stream.unacked);
                stream.unacked = 0;
            }
        }
        Ok(())
    }

    fn headers(
        &mut self,
        stream: u32,
        block: &[u8],
        end_stream: bool,
        on: &mut impl FnMut(Event),
    ) -> Result<(), ConnError> {
        // A block is decoded whatever its stream: the decoder's state is the
        // connection's (here, nothing but the size update).
        let status = match hpack::status(block) {
            Ok(status) => Some(status),
            // Trailers carry no status.
            Err(HpackError::Status) => None,
            Err(_) => {
                return Err(ConnError {
                    code: frame::COMPRESSION_ERROR,
                    why: "a header block that cannot be decoded (HPACK)",
                })
            }
        };
        let Some(i) = self.find(stream) else {
            return Ok(());
        };
        let s = &mut self.streams[i];
        match (s.status, status) {
            // An interim response (1xx); the final one follows.
            (None, Some(status)) if (100..200).contains(&status) && status != 101 => {
                if end_stream {
                    return Err(protocol("an interim (1xx) response that ends its stream"));
                }
            }
            (None, Some(status)) => s.status = Some(status),
            (None, None) => return Err(protocol("a response without :status")),
            // Trailers.
            (Some(_), _) => {
                if !end_stream {
                    return Err(protocol("trailers that do not end their stream"));
                }
            }
        }
        if end_stream {
            let status = self.streams.remove(i).status.expect("set above");
            on(Event::Answered { stream, status });
        }
        Ok(())
    }

    fn settings(
        &mut self,
        requests: &[Encoded],
        head: Head,
        payload: &[u8],
    ) -> Result<(), ConnError> {
        if head.stream != 0 {
            return Err(protocol("SETTINGS on a stream"));
        }
        if head.flags & frame::ACK != 0 {
            return match payload.is_empty() {
                true => Ok(()),
                false => Err(ConnError {
                    code: frame::FRAME_SIZE_ERROR,
                    why: "a SETTINGS acknowledgement with a payload",
                }),
            };
        }
        if !payload.len().is_multiple_of(6) {
            return Err(ConnError {
                code: frame::FRAME_SIZE_ERROR,
                why: "a SETTINGS frame not a multiple of 6 bytes",
            });
        }
        for setting in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([setting[0], setting[1]]);
            let value = u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
            match id {
                frame::HEADER_TABLE_SIZE => {
                    self.server.header_table_size = value;
                    if value < self.table_max {
                        // A smaller table evicts what no longer fits: past
                        // the shared fields' size, they go unindexed.
                        self.table_max = value;
                        self.table_update = Some(value);
                        let needed = requests.first().map_or(0, |r| r.table);
                        if self.indexing == Indexing::Used && needed > value {
                            self.indexing = Indexing::Off;
                        }
                    }
                }
                frame::MAX_CONCURRENT_STREAMS => self.server.max_concurrent_streams = Some(value),
                frame::INITIAL_WINDOW_SIZE => {
                    if value > frame::MAX_WINDOW {
                        return Err(ConnError {
                            code: frame::FLOW_CONTROL_ERROR,
                            why: "SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1",
                        });
                    }
                    // Open streams' windows move by the change (§6.9.2).
                    let delta = i64::from(value) - i64::from(self.server.initial_window_size);
                    for body in self.streams.iter_mut().filter_map(|s| s.body.as_mut()) {
                        body.window += delta;
                    }
                    self.server.initial_window_size = value;
                }
                frame::MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME..=(1 << 24) - 1).contains(&value) {
                        return Err(protocol("SETTINGS_MAX_FRAME_SIZE out of its range"));
                    }
                    self.server.max_frame_size = value;
                }
                frame::MAX_HEADER_LIST_SIZE => self.server.max_header_list_size = Some(value),
                _ => {}
            }
        }
        self.ready = true;
        frame::settings_ack(&mut self.out);
        self.send_bodies(requests);
        Ok(())
    }
}

/// A big-endian 32-bit word from the first four bytes, if there are four.
fn word(payload: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(payload.get(..4)?.try_into().ok()?))
}

/// A DATA or HEADERS payload without its padding.
fn unpad(head: Head, payload: &[u8]) -> Result<&[u8], ConnError> {
    if head.flags & frame::PADDED == 0 {
        return Ok(payload);
    }
    let pad = usize::from(
        *payload
            .first()
            .ok_or(protocol("a padded frame with no pad length"))?,
    );
    payload
        .get(1..payload.len().saturating_sub(pad))
        .filter(|_| pad < payload.len())
        .ok_or(protocol("padding longer than its frame"))
}

#[cfg(test)]
mod tests;
