//! How the engine's loop talks to one connection: plain TCP, or TLS over it.
//!
//! The loop in `worker` is generic over [`Transport`] and compiled once
//! per transport. For the plain `TcpStream` every TLS step below is a
//! constant or an empty body, so the compiler removes it and a plain load
//! runs the same code it ran before TLS existed: no branch on TLS per request.

use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;

/// Where a connection's handshake stands after the loop drove it.
pub(crate) enum Handshake {
    /// Waiting on the server (or on room to write): drive it again on the
    /// next readiness event.
    Pending,
    /// Done; `resumed` when an earlier session was resumed.
    Done { resumed: bool },
    /// Failed, for this reason (one of `tls`'s reasons).
    Failed(String),
}

/// What the worker calls on a connection. Reads and writes have the
/// semantics of a non-blocking socket's (`WouldBlock` when nothing can move
/// now); what differs between transports is said by the other methods.
pub(crate) trait Transport: Sized {
    /// What every connection of a load shares (for TLS, the configuration
    /// and the server's name).
    type Setup: Sync;
    /// Whether a connection needs a handshake once TCP is connected.
    const HANDSHAKE: bool;

    /// Wraps a socket whose connect has begun; `Err` is a failure reason.
    fn wrap(socket: TcpStream, setup: &Self::Setup) -> Result<Self, String>;
    /// The socket, to register with epoll and to check the connect.
    fn socket(&mut self) -> &mut TcpStream;
    /// Moves the handshake on as far as the socket allows.
    fn handshake(&mut self) -> Handshake;
    /// The protocol version and cipher suite negotiated, once handshaken.
    fn negotiated(&self) -> Option<(String, String)>;
    /// The application protocol ALPN chose, once handshaken.
    fn alpn(&self) -> Option<&[u8]>;
    /// Reads response bytes; `Ok(0)` at the end of the stream.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Whether the read that returned `n` bytes into a buffer of `cap` left
    /// nothing to read until the next readiness event.
    fn drained(&self, n: usize, cap: usize) -> bool;
    /// Writes request bytes; returns how many were taken.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Writes request bytes gathered from several buffers (a request list's
    /// entries) in one call; returns how many were taken.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Whether bytes already taken still wait to go on the wire.
    fn wants_write(&self) -> bool;
    /// Puts waiting bytes on the wire, as far as the socket takes them.
    fn flush(&mut self) -> io::Result<()>;
    /// The reason to count a failed read or write under, when it is a TLS
    /// failure rather than a socket one.
    fn tls_failure(error: &io::Error) -> Option<String>;
}

impl Transport for TcpStream {
    type Setup = ();
    const HANDSHAKE: bool = false;

    fn wrap(socket: TcpStream, _: &()) -> Result<Self, String> {
        Ok(socket)
    }

    #[inline(always)]
    fn socket(&mut self) -> &mut TcpStream {
        self
    }

    fn handshake(&mut self) -> Handshake {
        Handshake::Done { resumed: false }
    }

    fn negotiated(&self) -> Option<(String, String)> {
        None
    }

    fn alpn(&self) -> Option<&[u8]> {
        None
    }

    #[inline(always)]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(self, buf)
    }

    /// A read that did not fill the buffer emptied the socket.
    #[inline(always)]
    fn drained(&self, n: usize, cap: usize) -> bool {
        n < cap
    }

    #[inline(always)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Write::write(self, buf)
    }

    #[inline(always)]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(self, bufs)
    }

    #[inline(always)]
    fn wants_write(&self) -> bool {
        false
    }

    #[inline(always)]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    fn tls_failure(_: &io::Error) -> Option<String> {
        None
    }
}
