//! What more than one of the workspace's test binaries shares, so that no
//! test includes another crate's test files by path.
//!
//! - [`tls_server`]: an HTTPS server on loopback with a CA, server
//!   certificates and ways to misbehave (stall, speak plain HTTP, break
//!   out of TLS), for the load engine's TLS tests and `framewut load`'s
//!   HTTPS tests.

pub mod tls_server;
