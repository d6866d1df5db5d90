//! `framewut load --http2` as a user meets it: h2c and h2 over TLS against
//! a server that counts what it answered, the JSON with the protocol, the
//! streams and the server's SETTINGS, and flags that do not fit HTTP/2
//! refused with the fix.

mod support;

use std::sync::atomic::Ordering;

use framewut_test_support::h2_server::{Behaviour, H2Server};
use framewut_test_support::tls_server::Ca;
use support::cli::{framewut, stderr};

#[test]
fn h2c_counts_exactly_and_its_json_records_the_protocol_and_settings() {
    let server = H2Server::start(Behaviour {
        max_streams: Some(2),
        ..Behaviour::default()
    });
    let url = server.url("http", "/hello");
    let out = framewut(&[
        "load",
        &url,
        "--http2",
        "--streams",
        "4",
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "200",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = support::errors_against(support::LOAD_SCHEMA, &value);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(value["requests"], 200);
    assert_eq!(server.counts.answered.load(Ordering::SeqCst), 200);
    assert_eq!(value["plan"]["protocol"], "h2c");
    assert_eq!(value["plan"]["http2"]["streams"], 4);
    assert_eq!(value["plan"]["http2"]["stream_window"], (1u64 << 30) - 1);
    assert_eq!(value["http2"]["server"]["max_concurrent_streams"], 2);
    // Each connection's 4 requests share 2 streams: the others waited.
    let waited = value["http2"]["waited"].as_u64().unwrap();
    assert!(waited > 0, "{}", value["http2"]);
    assert_eq!(value["http2"]["wait"]["count"], waited);
}

#[test]
fn h2_over_tls_is_negotiated_by_alpn_and_said_in_the_text() {
    let dir = support::Scratch::new("load-h2");
    let ca = Ca::new("framewut CLI h2 test CA");
    let cacert = ca.write(&dir.0);
    let server = H2Server::start_tls(Behaviour::default(), ca.server_cert(&["127.0.0.1"]));
    let url = server.url("https", "/");
    let out = framewut(&[
        "load",
        &url,
        "--http2",
        "--streams",
        "8",
        "--cacert",
        cacert.to_str().unwrap(),
        "-c",
        "1",
        "-n",
        "100",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 threads and 1 connections, HTTP/2 (h2) with 8 streams each"),
        "{text}"
    );
    assert!(
        text.contains("HTTP/2: 8 streams per connection; the server sets no limit"),
        "{text}"
    );
    assert!(text.contains("100 requests in"), "{text}");
}

#[test]
fn flags_that_do_not_fit_http2_are_refused_with_the_fix() {
    let cases: [(&[&str], &str); 4] = [
        (&["--streams", "4"], "--http2"),
        (&["--http2", "--pipeline", "4"], "HTTP/2 has no pipelining; its connections carry concurrent streams instead, e.g. --streams 4"),
        (&["--http2", "--streams", "0"], "--streams 0: an HTTP/2 connection needs at least one"),
        (&["--http2", "--h2-connection-window", "100"], "--h2-connection-window 100: give between 65535 and 2147483647"),
    ];
    for (flags, says) in cases {
        let mut args = vec!["load", "http://127.0.0.1:9/", "-n", "1"];
        args.extend_from_slice(flags);
        let out = framewut(&args);
        assert!(!out.status.success(), "{flags:?}");
        assert!(stderr(&out).contains(says), "{flags:?}: {}", stderr(&out));
    }
}
