//! HTTPS in the stacks' world: `framewut tls init`, the upstream stand-in
//! over TLS counting its handshakes, and the stacks' upstream clients
//! calling it, a fresh connection (and full handshake) per call or a pooled
//! one. The stacks serving HTTPS themselves are checked in conformance.rs.

mod support;

use std::fs;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use framewut_stacks::contract::{self, verify_response};
use framewut_stacks::tls::{self, TestCa};
use framewut_stacks::upstream::UpstreamStats;
use framewut_stacks::Scenario;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use support::server::{start, start_with_env, Server};
use support::{command, run_bounded, Scratch};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The upstream's counters, read over HTTPS on a connection of their own
/// (which itself costs the upstream one full handshake).
fn stats(port: u16, client: &Arc<rustls::ClientConfig>) -> UpstreamStats {
    let response = contract::fetch_https(port, "/__stats", TIMEOUT, client).unwrap();
    serde_json::from_slice::<serde_json::Value>(&response.body)
        .map(|value| {
            let field = |name: &str| {
                value[name]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no {name} in {value}"))
            };
            UpstreamStats {
                connections: field("connections"),
                requests: field("requests"),
                open: field("open"),
                peak_concurrent: field("peak_concurrent"),
                handshakes: field("handshakes"),
                resumptions: field("resumptions"),
            }
        })
        .unwrap()
}

/// A client configuration trusting `ca` that never resumes a session.
fn without_resumption(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    let mut config = (*ca.client_config().unwrap()).clone();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// Whether the certificate in `cert` verifies against the CA in `ca` for `name`.
fn verifies(cert: &Path, ca: &Path, name: &str) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca).unwrap())?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        tls::provider(),
    )
    .build()
    .unwrap();
    let cert = CertificateDer::from_pem_file(cert).unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    verifier
        .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
        .map(drop)
}

/// Runs framewut in `data_dir`, as its data directory too: (success, stdout, stderr).
fn framewut(args: &[&str], data_dir: &Path) -> (bool, String, String) {
    let mut command = command(args, data_dir);
    command.env("FRAMEWUT_DATA_DIR", data_dir);
    let output = run_bounded(command, TIMEOUT);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn tls_init_makes_keeps_and_replaces_the_test_ca() {
    let scratch = Scratch::new("tls-init");
    let dir = scratch.0.join("tls");
    let files = TestCa::in_dir(&dir);
    let (ok, out, err) = framewut(&["tls", "init"], &scratch.0);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("test CA created in {}", dir.display())),
        "{out}"
    );
    assert!(files.exist());
    for name in ["localhost", "127.0.0.1"] {
        verifies(&files.cert, &files.ca, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(verifies(&files.cert, &files.ca, "example.com").is_err());

    let first = fs::read(&files.ca).unwrap();
    let (ok, out, _) = framewut(&["tls", "init"], &scratch.0);
    assert!(ok && out.starts_with("test CA already there in "), "{out}");
    assert_eq!(fs::read(&files.ca).unwrap(), first);

    let (ok, out, _) = framewut(&["tls", "init", "--force"], &scratch.0);
    assert!(ok && out.starts_with("test CA replaced in "), "{out}");
    assert_ne!(fs::read(&files.ca).unwrap(), first);
    verifies(&files.cert, &files.ca, "localhost").unwrap();
    let old_ca = scratch.0.join("old-ca.pem");
    fs::write(&old_ca, &first).unwrap();
    // The old CA has the same name but another key: its signature does not match.
    let refused = verifies(&files.cert, &old_ca, "localhost").unwrap_err();
    assert!(refused.to_string().contains("BadSignature"), "{refused}");
}

/// `framewut upstream --tls` makes the test CA where framewut keeps its
/// data, serves with it, and counts one full handshake per new connection
/// of a client that does not resume, and a resumption for one that does.
#[test]
fn the_upstream_over_tls_counts_every_handshake() {
    let scratch = Scratch::new("upstream-tls");
    let mut upstream =
        start_with_env(&["upstream", "--tls"], &[("FRAMEWUT_DATA_DIR", &scratch.0)]).unwrap();
    assert_eq!(
        upstream.ready_line,
        format!(
            "framewut: upstream listening on https://127.0.0.1:{}",
            upstream.port
        )
    );
    let ca = TestCa::in_dir(&scratch.0.join("tls"));
    assert!(ca.exist(), "the test CA was made in the data directory");
    let fresh = without_resumption(&ca);
    const CALLS: u64 = 5;
    for _ in 0..CALLS {
        let response = contract::fetch_https(upstream.port, "/", TIMEOUT, &fresh).unwrap();
        assert_eq!(response.body, framewut_stacks::upstream::UPSTREAM_BODY);
    }
    let counted = stats(upstream.port, &fresh);
    // The /__stats connection itself is the last handshake.
    assert_eq!(
        (counted.handshakes, counted.resumptions),
        (CALLS + 1, 0),
        "{counted:?}"
    );
    assert_eq!(
        (counted.connections, counted.requests),
        (CALLS + 1, CALLS),
        "{counted:?}"
    );

    // A client that keeps the session ticket resumes on its next connection.
    let resuming = ca.client_config().unwrap();
    for _ in 0..2 {
        contract::fetch_https(upstream.port, "/", TIMEOUT, &resuming).unwrap();
    }
    let counted = stats(upstream.port, &fresh);
    assert_eq!(
        (counted.handshakes, counted.resumptions),
        (CALLS + 3, 1),
        "{counted:?}"
    );

    // A client that does not trust the CA is refused, and counted as neither.
    let other = Scratch::new("upstream-tls-other");
    let stranger = without_resumption(&TestCa::ensure(&other.0).unwrap());
    let refused = contract::fetch_https(upstream.port, "/", TIMEOUT, &stranger).unwrap_err();
    assert!(refused.to_string().contains("TLS handshake"), "{refused}");
    let after = stats(upstream.port, &fresh);
    assert_eq!(after.handshakes, counted.handshakes + 1, "{after:?}");
    assert!(upstream.stop().is_some_and(|status| status.success()));
}

#[test]
fn tls_options_are_refused_where_they_cannot_apply() {
    let scratch = Scratch::new("tls-refusals");
    let (ok, _, err) = framewut(&["upstream", "--tls", "--connect-cost", "10ms"], &scratch.0);
    assert!(!ok);
    assert!(
        err.contains("--connect-cost is for plain HTTP only"),
        "{err}"
    );
    let (ok, _, err) = framewut(
        &["upstream", "--cert", "c.pem", "--key", "k.pem"],
        &scratch.0,
    );
    assert!(!ok && err.contains("--tls"), "{err}");
    let (ok, _, err) = framewut(
        &[
            "serve",
            "rust/std/sync-pool",
            "--upstream",
            "http://127.0.0.1:9/",
            "--upstream-ca",
            "ca.pem",
        ],
        &scratch.0,
    );
    assert!(
        !ok && err.contains("--upstream-ca is for an https:// upstream"),
        "{err}"
    );
    // No CA in the (empty) data directory: the way out is named.
    let (ok, _, err) = framewut(
        &[
            "serve",
            "rust/std/sync-pool",
            "--upstream",
            "https://127.0.0.1:9/",
        ],
        &scratch.0,
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("framewut tls init") && err.contains("--upstream-ca"),
        "{err}"
    );
}

/// Sends 2 rounds of 4 concurrent /upstream requests through a stack and
/// returns what they cost the upstream: (handshakes, resumptions, requests).
fn upstream_cost(
    upstream: &Server,
    client: &Arc<rustls::ClientConfig>,
    stack: &Server,
) -> (u64, u64, u64) {
    let before = stats(upstream.port, client);
    for _ in 0..2 {
        let barrier = Barrier::new(4);
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    barrier.wait();
                    let response =
                        contract::fetch(stack.port, Scenario::Upstream.path(), TIMEOUT).unwrap();
                    verify_response(Scenario::Upstream, &response).unwrap();
                });
            }
        });
    }
    let after = stats(upstream.port, client);
    // The second /__stats fetch paid a handshake of its own.
    (
        after.handshakes - before.handshakes - 1,
        after.resumptions - before.resumptions,
        after.requests - before.requests,
    )
}

/// The stacks' clients against an HTTPS upstream: a fresh connection per
/// call pays a full handshake each time (no resumption, as requests.get),
/// a pooled client one per pooled connection, at most one per concurrent call.
#[test]
fn fresh_clients_pay_a_handshake_per_call_and_pooled_clients_per_connection() {
    let scratch = Scratch::new("upstream-clients-tls");
    let ca = TestCa::ensure(&scratch.0).unwrap();
    let (cert, key, ca_file) = (
        ca.cert.to_str().unwrap(),
        ca.key.to_str().unwrap(),
        ca.ca.to_str().unwrap(),
    );
    let upstream = start(&[
        "upstream", "--tls", "--cert", cert, "--key", key, "--delay", "20ms",
    ])
    .unwrap();
    let url = format!("https://127.0.0.1:{}/", upstream.port);
    let client = without_resumption(&ca);
    let cases: [(&[&str], &str); 3] = [
        (&["rust/std/sync-pool", "--workers", "4"], "blocking"),
        (&["rust/hyper/tokio-multi", "--workers", "2"], "async"),
        (&["rust/hyper/tokio-multi", "--workers", "2"], "offload"),
    ];
    for (stack, kind) in cases {
        for conn in ["fresh", "pooled"] {
            let variant = format!("upstream={kind}-{conn}");
            let mut args = vec!["serve"];
            args.extend_from_slice(stack);
            args.extend_from_slice(&["--variant", &variant, "--upstream", &url]);
            args.extend_from_slice(&["--upstream-ca", ca_file]);
            let server = start(&args).unwrap();
            let (handshakes, resumptions, requests) = upstream_cost(&upstream, &client, &server);
            assert_eq!(requests, 8, "{stack:?} {variant}");
            assert_eq!(
                resumptions, 0,
                "{stack:?} {variant}: the clients do not resume"
            );
            if conn == "fresh" {
                assert_eq!(handshakes, 8, "{stack:?} {variant}: one handshake per call");
            } else {
                assert!(
                    (1..=4).contains(&handshakes),
                    "{stack:?} {variant}: {handshakes} handshakes for 8 calls, 4 at a time"
                );
            }
        }
    }
}
