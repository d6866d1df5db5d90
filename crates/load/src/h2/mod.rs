//! HTTP/2 (RFC 9113) for the load engine: its frames, the part of HPACK
//! (RFC 7541) a client that keeps no dynamic table needs, and one
//! connection's protocol state. The loop in `worker` drives a [`Session`]
//! per connection over the same transports as HTTP/1.1: h2c with prior
//! knowledge on plain TCP, h2 over TLS where ALPN selects it.

pub(crate) mod frame;
mod hpack;
mod huffman;
mod request;
mod session;

pub(crate) use request::{encode, Encoded, Request};
pub(crate) use session::{Event, Session, Windows};
