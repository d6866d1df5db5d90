//! `framewut load` over HTTPS as a user meets it: exact counts with a CA
//! file, a self-signed certificate trusted as curl trusts it, and every
//! refused handshake told in one sentence with its cause and its fix.

mod support;

use std::sync::atomic::Ordering;

use framewut_test_support::tls_server::{ca_flag, expired, self_signed, Ca, Mode, TlsServer};
use support::cli::{framewut, stderr};
use support::Scratch;

#[test]
fn https_with_cacert_counts_exactly_and_its_json_matches_the_schema() {
    let dir = support::Scratch::new("load-https");
    let ca = Ca::new("framewut CLI test CA");
    let cacert = ca.write(&dir.0);
    let server = TlsServer::start(ca.server_cert(&["127.0.0.1"]), Mode::CloseEach);
    let url = server.url("127.0.0.1", "/hello");
    let cacert = cacert.to_str().unwrap();
    let out = framewut(&[
        "load",
        &url,
        "--cacert",
        cacert,
        "-c",
        "2",
        "-t",
        "1",
        "--requests",
        "50",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = support::errors_against(support::LOAD_SCHEMA, &value);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(value["requests"], 50);
    assert_eq!(value["errors"]["tls"], 0);
    let handshakes = value["tls"]["handshakes"].as_u64().unwrap();
    assert!((50..=52).contains(&handshakes), "{handshakes}");
    assert_eq!(value["tls"]["handshake_latency"]["count"], handshakes);
    assert_eq!(value["tls"]["resumptions"], 0);
    assert_eq!(value["tls"]["protocol"], "TLSv1.3");

    let out = framewut(&[
        "load",
        &url,
        "--cacert",
        cacert,
        "-c",
        "1",
        "-t",
        "1",
        "--requests",
        "20",
        "--tls-resume",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("TLS: "))
        .unwrap_or_else(|| panic!("no TLS line in:\n{text}"));
    // One connection: its first handshake is full, the 19 after it resume.
    assert!(
        line.contains("20 handshakes (19 resumed), handshake p50 "),
        "{line}"
    );
}

#[test]
fn an_unknown_ca_gets_one_clear_line_naming_cacert_and_insecure() {
    let ca = Ca::new("a CA the system does not trust");
    let server = TlsServer::start(ca.server_cert(&["127.0.0.1"]), Mode::KeepAlive);
    let url = server.url("127.0.0.1", "/");
    let out = framewut(&["load", &url, "--requests", "10", "-c", "1", "-t", "1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("is signed by no CA framewut trusts") || err.contains("system bundle"),
        "{err}"
    );
    assert!(
        err.contains("--cacert FILE") && err.contains("--insecure"),
        "{err}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);

    let out = framewut(&["load", &url, "--requests", "10", "-c", "1", "-t", "1", "-k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.requests.load(Ordering::SeqCst), 10);
}

/// `openssl req -x509 ... -addext subjectAltName=IP:127.0.0.1` makes a
/// certificate with CA:TRUE; given with --cacert it is the server's
/// trusted own, as curl takes it.
#[test]
fn a_self_signed_ca_certificate_given_with_cacert_is_trusted() {
    let dir = Scratch::new("load-self-signed");
    let cert = self_signed(&["127.0.0.1"], ca_flag);
    let cacert = cert.write(&dir.0, "c.pem");
    let server = TlsServer::start(cert, Mode::KeepAlive);
    let out = framewut(&[
        "load",
        &server.url("127.0.0.1", "/hello"),
        "--cacert",
        cacert.to_str().unwrap(),
        "-c",
        "2",
        "--requests",
        "30",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["requests"], 30);
    assert_eq!(value["errors"]["tls"], 0);
    assert_eq!(server.requests.load(Ordering::SeqCst), 30);
}

/// Each way a handshake is refused ends the command before any load with
/// exit 1 and one line: the cause, and what to do about it, in words (no
/// rustls type dumped).
#[test]
fn every_refused_handshake_is_one_sentence_naming_the_cause_and_the_fix() {
    let dir = Scratch::new("load-refusals");
    let ca = Ca::new("the test's CA");
    let ca_file = ca.write(&dir.0);
    let ca_file = ca_file.to_str().unwrap();
    let stranger = self_signed(&["127.0.0.1"], ca_flag);
    let stranger_file = stranger.write(&dir.0, "stranger.pem");
    let servers = [
        (
            TlsServer::start(
                ca.server_cert_with(&["127.0.0.1"], expired),
                Mode::KeepAlive,
            ),
            "has expired",
            "renew it",
        ),
        (
            TlsServer::start(ca.server_cert(&["other.example"]), Mode::KeepAlive),
            "does not name the URL's host",
            "load the server by a name its certificate has",
        ),
        (
            TlsServer::start(
                Ca::new("nobody's CA").server_cert(&["127.0.0.1"]),
                Mode::KeepAlive,
            ),
            "is signed by no CA framewut trusts",
            "with --cacert FILE",
        ),
        (
            TlsServer::start(self_signed(&["127.0.0.1"], ca_flag), Mode::KeepAlive),
            "presented a CA certificate (CA:TRUE) as its own",
            "give that very certificate with --cacert FILE",
        ),
        (
            TlsServer::start(ca.server_cert(&["127.0.0.1"]), Mode::PlainHttp),
            "did not answer the TLS handshake in TLS",
            "load its http:// URL",
        ),
    ];
    for (server, cause, fix) in &servers {
        let out = framewut(&[
            "load",
            &server.url("127.0.0.1", "/"),
            "--cacert",
            ca_file,
            "-n",
            "5",
            "-c",
            "1",
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{cause}: {err}");
        assert!(out.stdout.is_empty(), "{cause}: nothing was loaded");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{cause}: {err}");
        let line = lines[0];
        assert!(line.starts_with("Error: "), "{line}");
        assert!(line.contains(cause) && line.contains(fix), "{line}");
        if !fix.contains("http") {
            assert!(line.contains("--insecure"), "{line}");
        }
        for dump in ["Other", "Error(", "{", "::", "Context"] {
            assert!(!line[7..].contains(dump), "{line}");
        }
        assert_eq!(server.requests.load(Ordering::SeqCst), 0, "{cause}");
    }
    // The stranger's certificate given as the file: trusted at last.
    let server = TlsServer::start(stranger, Mode::KeepAlive);
    let out = framewut(&[
        "load",
        &server.url("127.0.0.1", "/"),
        "--cacert",
        stranger_file.to_str().unwrap(),
        "-n",
        "5",
        "-c",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}
