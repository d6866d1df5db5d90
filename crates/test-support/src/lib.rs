//! What more than one of the workspace's test binaries shares, so that no
//! test includes another crate's test files by path.
//!
//! - [`tls_server`]: an HTTPS server on loopback with a CA, server
//!   certificates and ways to misbehave (stall, speak plain HTTP, break
//!   out of TLS), for the load engine's TLS tests and `framewut load`'s
//!   HTTPS tests.
//! - [`h2_server`]: an HTTP/2 server (h2c, or h2 over TLS) whose frames
//!   are written by hand, so a test can make it limit, reset, go away or
//!   withhold flow control, and count what it did.

pub mod h2_server;
pub mod tls_server;
