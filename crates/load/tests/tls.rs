//! The engine over HTTPS against real rustls servers on loopback, with a CA
//! and certificates each test makes: exact counts, refusals with their
//! reason, a handshake per connection, resumption, and a server that stalls
//! mid-handshake.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use framewut_load::{
    probe_tls, LoadPlan, LoadReport, Pacing, Rate, Stop, Summary, Target, TlsError, TlsOptions,
    Trust, BAD_NAME, CA_AS_SERVER, EXPIRED, HANDSHAKE_TIMEOUT, NOT_TLS, UNKNOWN_CA,
};
use framewut_test_support::tls_server::{
    ca_flag, expired, response_len, self_signed, Ca, Mode, TlsServer,
};

fn plan(url: &str, trust: Trust, connections: usize, stop: Stop) -> LoadPlan {
    let mut p = LoadPlan::new(Target::parse(url).unwrap());
    p.connections = connections;
    p.threads = 1;
    p.stop = stop;
    p.tls = TlsOptions {
        trust,
        resume: false,
    };
    p
}

fn run(p: &LoadPlan) -> LoadReport {
    framewut_load::run(p).unwrap()
}

/// A CA, its PEM file in a fresh directory, and a server with a
/// certificate it signed for localhost and 127.0.0.1.
struct Setup {
    dir: PathGuard,
    ca: Ca,
}

/// A temporary directory removed when dropped.
struct PathGuard(std::path::PathBuf);

impl Drop for PathGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Setup {
    fn new(name: &str) -> Setup {
        let dir = std::env::temp_dir().join(format!(
            "framewut-tls-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Setup {
            dir: PathGuard(dir),
            ca: Ca::new(&format!("framewut test CA {name}")),
        }
    }

    fn trust(&self) -> Trust {
        Trust::CaFile(self.ca.write(&self.dir.0))
    }

    fn server(&self, mode: Mode) -> TlsServer {
        TlsServer::start(self.ca.server_cert(&["localhost", "127.0.0.1"]), mode)
    }
}

#[test]
fn an_exact_number_of_requests_goes_over_https_one_handshake_per_connection() {
    let s = Setup::new("exact");
    let server = s.server(Mode::KeepAlive);
    for host in ["127.0.0.1", "localhost"] {
        let before = server.requests.load(SeqCst);
        let p = plan(
            &server.url(host, "/hello"),
            s.trust(),
            4,
            Stop::Requests(1001),
        );
        let r = run(&p);
        assert_eq!(r.requests, 1001, "{host}");
        assert_eq!(r.errors.total(), 0, "{host}: {:?}", r.errors);
        assert_eq!(server.requests.load(SeqCst) - before, 1001);
        assert_eq!(r.reconnects, 0);
        let tls = r
            .tls
            .as_ref()
            .expect("an https load reports its handshakes");
        assert_eq!(
            tls.handshakes, 4,
            "{host}: keep-alive, one handshake per connection"
        );
        assert_eq!(tls.resumptions, 0);
        assert_eq!(tls.handshake_latency.len(), 4);
        assert_eq!(tls.protocol.as_deref(), Some("TLSv1.3"));
        assert!(tls
            .cipher_suite
            .as_deref()
            .is_some_and(|c| c.starts_with("TLS13_")));
        let summary = Summary::of(&p, &r);
        let t = summary.tls.expect("the summary carries the handshakes");
        assert_eq!((t.handshakes, t.handshake_latency.count), (4, 4));
    }
}

#[test]
fn a_large_body_over_tls_is_framed_and_counted() {
    let s = Setup::new("large");
    let body = vec![b'x'; 1 << 20];
    let server = TlsServer::start_with(
        s.ca.server_cert(&["127.0.0.1"]),
        Mode::KeepAlive,
        body.clone(),
    );
    let r = run(&plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        2,
        Stop::Requests(20),
    ));
    assert_eq!(r.requests, 20);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(
        r.bytes,
        20 * response_len(body.len(), Mode::KeepAlive) as u64
    );
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_unless_insecure() {
    let s = Setup::new("unknown");
    let other = Ca::new("a CA nobody trusts");
    let server = TlsServer::start(other.server_cert(&["127.0.0.1"]), Mode::KeepAlive);
    let url = server.url("127.0.0.1", "/");
    let p = plan(&url, s.trust(), 1, Stop::Requests(3));
    let err = probe_tls(&p).unwrap_err();
    assert!(
        matches!(&err, TlsError::Handshake { reason, .. } if reason == UNKNOWN_CA),
        "{err}"
    );
    let r = run(&p);
    assert_eq!(r.requests, 0);
    assert_eq!(
        r.errors.tls, 3,
        "each failed handshake spends one request: {:?}",
        r.errors
    );
    assert_eq!(
        r.errors.tls_reasons.get(UNKNOWN_CA),
        Some(&3),
        "{:?}",
        r.errors
    );
    assert_eq!(r.errors.total(), 3);
    assert_eq!(server.requests.load(SeqCst), 0);
    assert_eq!(r.tls.as_ref().unwrap().handshakes, 0);

    let p = plan(&url, Trust::Insecure, 1, Stop::Requests(3));
    probe_tls(&p).unwrap();
    let r = run(&p);
    assert_eq!(r.requests, 3);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let s = Setup::new("name");
    let server = TlsServer::start(s.ca.server_cert(&["other.example"]), Mode::KeepAlive);
    let p = plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        2,
        Stop::Requests(4),
    );
    let err = probe_tls(&p).unwrap_err();
    assert!(
        matches!(&err, TlsError::Handshake { reason, .. } if reason == BAD_NAME),
        "{err}"
    );
    let r = run(&p);
    assert_eq!(r.requests, 0);
    assert_eq!(
        r.errors.tls_reasons.get(BAD_NAME),
        Some(&4),
        "{:?}",
        r.errors
    );
}

#[test]
fn a_server_that_closes_after_every_response_costs_a_handshake_per_request() {
    let s = Setup::new("close");
    let server = s.server(Mode::CloseEach);
    let connections = 2;
    let p = plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        connections,
        Stop::Requests(200),
    );
    let r = run(&p);
    assert_eq!(r.requests, 200);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let tls = r.tls.as_ref().unwrap();
    // One handshake per request; at the end each connection may have made
    // one more for a request it will never send.
    assert!(
        (200..=200 + connections as u64).contains(&tls.handshakes),
        "{} handshakes",
        tls.handshakes
    );
    assert_eq!(
        tls.resumptions, 0,
        "without resumption every handshake is full"
    );
    assert_eq!(server.resumed.load(SeqCst), 0);

    let mut p = p;
    p.tls.resume = true;
    let r = run(&p);
    assert_eq!(r.requests, 200);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let tls = r.tls.as_ref().unwrap();
    assert!((200..=200 + connections as u64).contains(&tls.handshakes));
    // Only each connection's first handshake has no session to resume: the
    // server's tickets arrive before its response, so every reconnect has one.
    assert!(
        tls.resumptions + connections as u64 >= tls.handshakes,
        "{} of {} resumed",
        tls.resumptions,
        tls.handshakes
    );
    let server_resumed = server.resumed.load(SeqCst);
    assert!(
        server_resumed + connections as u64 >= tls.resumptions && server_resumed <= tls.resumptions,
        "the server saw {server_resumed} resumptions, the client {}",
        tls.resumptions
    );
}

#[test]
fn a_server_that_never_answers_the_client_hello_ends_in_a_handshake_timeout() {
    let s = Setup::new("stall");
    let server = s.server(Mode::Stall);
    let timeout = Duration::from_millis(300);
    let mut p = plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        2,
        Stop::Requests(2),
    );
    p.timeout = timeout;

    let started = Instant::now();
    let err = probe_tls(&p).unwrap_err();
    assert!(
        matches!(&err, TlsError::Handshake { reason, .. } if reason == HANDSHAKE_TIMEOUT),
        "{err}"
    );
    assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());

    let started = Instant::now();
    let r = run(&p);
    let took = started.elapsed();
    assert_eq!(r.requests, 0);
    assert_eq!(
        r.errors.tls_reasons.get(HANDSHAKE_TIMEOUT),
        Some(&2),
        "{:?}",
        r.errors
    );
    // Not before the timeout; after it, within the 10 ms tick and whatever
    // a busy machine adds (the failure this guards against is a hang).
    assert!(took >= timeout, "{took:?}");
    assert!(took < timeout + Duration::from_secs(5), "{took:?}");
}

#[test]
fn connections_left_in_their_handshake_for_the_whole_run_count_as_silent() {
    // A server that never answers the ClientHello, loaded for a duration
    // shorter than the timeout: no request is ever sent, yet every
    // connection waited the whole run for the server, as connections a sync
    // pool's busy workers never accept do.
    let s = Setup::new("silent");
    let server = s.server(Mode::Stall);
    let mut p = plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        3,
        Stop::After(Duration::from_millis(300)),
    );
    p.timeout = Duration::from_secs(5);
    let r = run(&p);
    assert_eq!((r.requests, r.responses), (0, 0));
    assert_eq!(r.silent_connections, 3, "{:?}", r.errors);
    assert_eq!(r.tls.as_ref().map(|t| t.handshakes), Some(0));
}

#[test]
fn a_missing_or_empty_ca_file_is_refused_before_the_load() {
    let s = Setup::new("cafile");
    let server = s.server(Mode::KeepAlive);
    let url = server.url("127.0.0.1", "/");
    let missing = s.dir.0.join("missing.pem");
    let err =
        framewut_load::run(&plan(&url, Trust::CaFile(missing), 1, Stop::Requests(1))).unwrap_err();
    assert!(err.to_string().contains("cannot read the CA file"), "{err}");
    let empty = s.dir.0.join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let err =
        framewut_load::run(&plan(&url, Trust::CaFile(empty), 1, Stop::Requests(1))).unwrap_err();
    assert!(
        err.to_string().contains("holds no PEM certificate"),
        "{err}"
    );
    assert_eq!(server.connections.load(SeqCst), 0);
}

#[test]
fn pipelined_and_open_loop_requests_are_counted_exactly_over_tls() {
    let s = Setup::new("modes");
    let server = s.server(Mode::KeepAlive);
    let url = server.url("127.0.0.1", "/");
    let mut p = plan(&url, s.trust(), 2, Stop::Requests(400));
    p.pipeline = 8;
    let r = run(&p);
    assert_eq!(r.requests, 400);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.tls.as_ref().unwrap().handshakes, 2);

    let mut p = plan(&url, s.trust(), 2, Stop::Requests(50));
    p.pacing = Pacing::Open(Rate::per_second(500.0).unwrap());
    let r = run(&p);
    assert_eq!(r.requests, 50);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.backlog, 0);
    assert_eq!(server.requests.load(SeqCst), 450);
}

#[test]
fn bytes_outside_tls_after_the_handshake_lose_their_request_as_a_tls_error() {
    let s = Setup::new("plain-after");
    let server = s.server(Mode::PlainAfterHandshake);
    let r = run(&plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        1,
        Stop::Requests(3),
    ));
    assert_eq!(r.requests, 0);
    // Each request's connection handshakes, sends it, and meets a plain
    // answer: the request is lost as a TLS failure and the connection replaced.
    assert_eq!(r.errors.tls, 3, "{:?}", r.errors);
    assert_eq!(r.errors.total(), 3, "{:?}", r.errors);
    assert_eq!(r.tls.as_ref().unwrap().handshakes, 3);
    let reasons: Vec<&String> = r.errors.tls_reasons.keys().collect();
    assert_eq!(reasons, [NOT_TLS], "{:?}", r.errors);
}

#[test]
fn handshakes_in_the_warm_up_are_not_counted_but_what_they_negotiated_is_said() {
    let s = Setup::new("warmup");
    let server = s.server(Mode::KeepAlive);
    let mut p = plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        2,
        Stop::After(Duration::from_millis(300)),
    );
    p.warmup = Duration::from_millis(500);
    let r = run(&p);
    assert!(r.requests > 0);
    assert_eq!(r.errors.total() - r.errors.unfinished, 0, "{:?}", r.errors);
    let tls = r.tls.as_ref().unwrap();
    // Keep-alive: each connection's one handshake came in the warm-up,
    // unless this machine took half a second to make it.
    assert!(tls.handshakes <= 2, "{}", tls.handshakes);
    assert_eq!(tls.handshake_latency.len(), tls.handshakes);
    assert_eq!(tls.protocol.as_deref(), Some("TLSv1.3"));
}

/// The reason the first handshake with a server failed.
fn refusal(p: &LoadPlan) -> String {
    match probe_tls(p) {
        Err(TlsError::Handshake { reason, .. }) => reason,
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}

/// A self-signed certificate with CA:TRUE, as `openssl req -x509` makes
/// one, given as the CA file is trusted as the server's own, as curl trusts
/// it; yet its name is still checked, and it trusts no other server.
#[test]
fn a_self_signed_ca_certificate_given_as_the_ca_file_is_the_servers_trusted_own() {
    let s = Setup::new("self-signed");
    let cert = self_signed(&["127.0.0.1"], ca_flag);
    let pinned = Trust::CaFile(cert.write(&s.dir.0, "self.pem"));
    let server = TlsServer::start(cert, Mode::KeepAlive);
    let p = plan(
        &server.url("127.0.0.1", "/"),
        pinned.clone(),
        2,
        Stop::Requests(20),
    );
    probe_tls(&p).unwrap();
    let r = run(&p);
    assert_eq!(r.requests, 20);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);

    let p = plan(
        &server.url("localhost", "/"),
        pinned.clone(),
        1,
        Stop::Requests(1),
    );
    assert_eq!(refusal(&p), BAD_NAME, "it names 127.0.0.1 only");

    // Another server's self-signed CA certificate is not vouched for by
    // it: refused as a CA certificate posing as a server's, the fix being
    // to give that one.
    let other = TlsServer::start(self_signed(&["127.0.0.1"], ca_flag), Mode::KeepAlive);
    let p = plan(&other.url("127.0.0.1", "/"), pinned, 1, Stop::Requests(1));
    assert_eq!(refusal(&p), CA_AS_SERVER);
    assert_eq!(other.requests.load(SeqCst), 0);
}

/// A CA certificate presented as a server's own that the CA file vouches
/// for only as a CA is refused, with its own reason.
#[test]
fn a_ca_certificate_signed_by_the_trusted_ca_is_no_servers_own() {
    let s = Setup::new("ca-as-server");
    let server = TlsServer::start(
        s.ca.server_cert_with(&["127.0.0.1"], ca_flag),
        Mode::KeepAlive,
    );
    let p = plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        1,
        Stop::Requests(2),
    );
    assert_eq!(refusal(&p), CA_AS_SERVER);
    let r = run(&p);
    assert_eq!(
        r.errors.tls_reasons.get(CA_AS_SERVER),
        Some(&2),
        "{:?}",
        r.errors
    );
}

/// An expired certificate is refused as expired, whether a trusted CA
/// signed it or the CA file holds it itself.
#[test]
fn an_expired_certificate_is_refused_as_expired() {
    let s = Setup::new("expired");
    let signed = TlsServer::start(
        s.ca.server_cert_with(&["127.0.0.1"], expired),
        Mode::KeepAlive,
    );
    let p = plan(
        &signed.url("127.0.0.1", "/"),
        s.trust(),
        1,
        Stop::Requests(1),
    );
    assert_eq!(refusal(&p), EXPIRED);

    let cert = self_signed(&["127.0.0.1"], |params| {
        ca_flag(params);
        expired(params);
    });
    let pinned = Trust::CaFile(cert.write(&s.dir.0, "old.pem"));
    let own = TlsServer::start(cert, Mode::KeepAlive);
    let p = plan(&own.url("127.0.0.1", "/"), pinned, 1, Stop::Requests(1));
    assert_eq!(refusal(&p), EXPIRED);
    assert_eq!(own.requests.load(SeqCst), 0);
}

/// A server that answers the ClientHello in plain HTTP speaks no TLS.
#[test]
fn a_plain_http_server_is_not_tls() {
    let s = Setup::new("plain");
    let server = s.server(Mode::PlainHttp);
    let p = plan(
        &server.url("127.0.0.1", "/"),
        s.trust(),
        1,
        Stop::Requests(1),
    );
    assert_eq!(refusal(&p), NOT_TLS);
}
