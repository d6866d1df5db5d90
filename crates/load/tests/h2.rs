//! The engine over HTTP/2 against a server whose frames are written by
//! hand (test-support's `h2_server`), h2c and over TLS: counts exact
//! against the server's own, a limit of one stream per connection, resets
//! and GOAWAYs counted by kind, a server that never grants a request body
//! a window, and a server that does not speak HTTP/2 at all. Every load
//! is bounded by a count or a few hundred milliseconds.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use framewut_load::{
    Http2, LoadPlan, LoadReport, Pacing, Rate, RequestSpec, Stop, Target, TargetRequest,
    TlsOptions, Trust,
};
use framewut_test_support::h2_server::{Behaviour, H2Server};
use framewut_test_support::tls_server::{Ca, Mode, TlsServer};

fn plan(url: &str, connections: usize, streams: usize, stop: Stop) -> LoadPlan {
    let mut p = LoadPlan::new(Target::parse(url).unwrap());
    p.connections = connections;
    p.threads = 1;
    p.stop = stop;
    p.http2 = Some(Http2 {
        streams,
        ..Http2::default()
    });
    p
}

fn run(p: &LoadPlan) -> LoadReport {
    framewut_load::run(p).unwrap()
}

#[test]
fn an_exact_number_of_requests_is_multiplexed_and_matches_the_servers_count() {
    let server = H2Server::start(Behaviour {
        delay: Duration::from_millis(1),
        ..Behaviour::default()
    });
    let r = run(&plan(
        &server.url("http", "/hello"),
        4,
        8,
        Stop::Requests(1000),
    ));
    assert_eq!(r.requests, 1000);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(server.counts.answered.load(SeqCst), 1000);
    assert_eq!(server.counts.connections.load(SeqCst), 4);
    assert_eq!(r.reconnects, 0);
    let max_open = server.counts.max_open.load(SeqCst);
    assert!(
        (2..=8).contains(&max_open),
        "8 streams asked, {max_open} open at once"
    );
    let h2 = r
        .http2
        .as_ref()
        .expect("an HTTP/2 load reports its streams");
    assert_eq!(h2.streams, 8);
    let settings = h2.server.expect("the server's SETTINGS");
    assert_eq!(settings.max_concurrent_streams, None);
    assert_eq!(settings.initial_window_size, 65_535);
    // Bytes read are the frames: at least a HEADERS and a DATA frame each.
    assert!(r.bytes >= 1000 * (9 + 1 + 9 + 22), "{} bytes", r.bytes);
}

#[test]
fn h2_over_tls_is_chosen_by_alpn_and_counted_exactly() {
    let ca = Ca::new("framewut test CA h2");
    let server = H2Server::start_tls(Behaviour::default(), ca.server_cert(&["127.0.0.1"]));
    let mut p = plan(&server.url("https", "/hello"), 2, 4, Stop::Requests(400));
    p.tls = TlsOptions {
        trust: Trust::Insecure,
        resume: false,
    };
    let r = run(&p);
    assert_eq!(r.requests, 400);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(server.counts.answered.load(SeqCst), 400);
    assert_eq!(r.tls.as_ref().unwrap().handshakes, 2);

    // A TLS server that speaks only HTTP/1.1 refuses the handshake: each
    // attempt is counted with the reason, and no request is sent.
    let http1 = TlsServer::start(ca.server_cert(&["127.0.0.1"]), Mode::KeepAlive);
    let mut p = plan(
        &http1.url("127.0.0.1", "/"),
        1,
        4,
        Stop::After(Duration::from_millis(300)),
    );
    p.tls = TlsOptions {
        trust: Trust::Insecure,
        resume: false,
    };
    let r = run(&p);
    assert_eq!(r.requests, 0);
    assert!(r.errors.tls > 0, "{:?}", r.errors);
    assert!(
        r.errors
            .tls_reasons
            .keys()
            .any(|k| k.contains("no application protocol")),
        "{:?}",
        r.errors.tls_reasons
    );
    assert_eq!(http1.requests.load(SeqCst), 0);
}

#[test]
fn streams_past_the_servers_limit_wait_on_the_client_and_are_counted_so() {
    let server = H2Server::start(Behaviour {
        max_streams: Some(1),
        delay: Duration::from_millis(1),
        ..Behaviour::default()
    });
    let mut p = plan(&server.url("http", "/"), 2, 4, Stop::Requests(200));
    p.warmup = Duration::ZERO;
    let r = run(&p);
    assert_eq!(r.requests, 200);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(server.counts.answered.load(SeqCst), 200);
    assert_eq!(
        server.counts.max_open.load(SeqCst),
        1,
        "never past the limit"
    );
    assert_eq!(server.counts.refused.load(SeqCst), 0);
    let h2 = r.http2.unwrap();
    assert_eq!(h2.server.unwrap().max_concurrent_streams, Some(1));
    // Of each connection's 4 requests in flight, 3 wait at any moment: all
    // but the first request on each connection waited for a stream.
    assert!(h2.waited >= 150, "{} of 200 waited", h2.waited);
    assert_eq!(h2.wait.len(), h2.waited);
    // A request's latency is the server's: about one delay, not four.
    let p50 = r.latency.value_at_quantile(0.5);
    let wait50 = h2.wait.value_at_quantile(0.5);
    assert!(wait50 >= p50, "waited {wait50} us, answered in {p50} us");
}

#[test]
fn resets_are_counted_by_their_code_and_match_the_servers() {
    let server = H2Server::start(Behaviour {
        reset_every: Some((5, 0x7)),
        ..Behaviour::default()
    });
    let r = run(&plan(&server.url("http", "/"), 2, 4, Stop::Requests(500)));
    let reset = server.counts.reset.load(SeqCst);
    // Every fifth request of each connection.
    assert!((98..=100).contains(&reset), "{reset} of 500 reset");
    assert_eq!(
        r.errors.http2.get("RST_STREAM REFUSED_STREAM"),
        Some(&reset)
    );
    assert_eq!(r.requests, server.counts.answered.load(SeqCst));
    assert_eq!(r.requests + reset, 500);
    assert_eq!(r.errors.total(), reset, "{:?}", r.errors);
    assert_eq!(r.reconnects, 0, "a reset stream leaves its connection open");
}

#[test]
fn a_graceful_goaway_moves_its_requests_to_a_new_connection() {
    let server = H2Server::start(Behaviour {
        goaway_after: Some((50, 0)),
        ..Behaviour::default()
    });
    let r = run(&plan(&server.url("http", "/"), 2, 4, Stop::Requests(400)));
    assert_eq!(r.requests, 400);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(server.counts.answered.load(SeqCst), 400);
    // 400 answers, at most 50 a connection: at least 8 connections, every
    // one after the first 2 a reconnect.
    let connections = server.counts.connections.load(SeqCst);
    assert!(connections >= 8, "{connections} connections");
    assert_eq!(r.reconnects, connections - 2);
    let h2 = r.http2.unwrap();
    assert!(h2.retried >= server.counts.stranded.load(SeqCst));
}

#[test]
fn a_goaway_with_an_error_counts_its_stranded_requests_by_code() {
    let server = H2Server::start(Behaviour {
        goaway_after: Some((50, 0xb)),
        ..Behaviour::default()
    });
    let r = run(&plan(&server.url("http", "/"), 1, 4, Stop::Requests(400)));
    let answered = server.counts.answered.load(SeqCst);
    assert_eq!(r.requests, answered);
    let lost = r
        .errors
        .http2
        .get("GOAWAY ENHANCE_YOUR_CALM")
        .copied()
        .unwrap_or(0);
    assert!(lost > 0, "{:?}", r.errors);
    assert!(lost >= server.counts.stranded.load(SeqCst));
    assert_eq!(r.requests + r.errors.total(), 400, "{:?}", r.errors);
}

#[test]
fn a_body_the_server_grants_no_window_stalls_and_ends_in_time() {
    let server = H2Server::start(Behaviour {
        initial_window: Some(0),
        ..Behaviour::default()
    });
    let mut p = plan(
        &server.url("http", "/"),
        1,
        2,
        Stop::After(Duration::from_millis(600)),
    );
    p.request.method = "POST".into();
    p.request.body = b"{\"n\":1}".to_vec();
    p.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let r = run(&p);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.requests, 0);
    assert_eq!(server.counts.answered.load(SeqCst), 0);
    let stalls = r
        .errors
        .http2
        .get("flow-control stall")
        .copied()
        .unwrap_or(0);
    assert!(stalls >= 2, "{:?}", r.errors);
    // Each stalled stream was reset, and the connection kept.
    assert_eq!(server.counts.cancelled.load(SeqCst), stalls);
    assert_eq!(server.counts.connections.load(SeqCst), 1);
}

#[test]
fn an_http1_server_given_the_preface_is_a_connection_error_that_says_so() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let mut stream = stream.unwrap();
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let r = run(&plan(
        &format!("http://127.0.0.1:{port}/"),
        1,
        1,
        Stop::Requests(3),
    ));
    assert_eq!(r.requests, 0);
    let kind = "connection error: the server answered in HTTP/1.1: it does not speak HTTP/2 here";
    assert_eq!(r.errors.http2.get(kind), Some(&3), "{:?}", r.errors);
}

#[test]
fn open_loop_and_a_request_list_work_over_streams_as_over_http1() {
    let server = H2Server::start(Behaviour::default());
    let mut p = plan(
        &server.url("http", "/"),
        2,
        4,
        Stop::After(Duration::from_millis(500)),
    );
    p.pacing = Pacing::Open(Rate::per_second(2_000.0).unwrap());
    let r = run(&p);
    // 1,000 due in the window; a request in flight at either edge counts once.
    assert!(
        (990..=1_010).contains(&r.requests),
        "{} requests",
        r.requests
    );
    assert_eq!(r.errors.total() - r.errors.unfinished, 0, "{:?}", r.errors);
    assert_eq!(r.backlog, 0);
    assert!(r.latency_uncorrected.is_some());

    let server = H2Server::start(Behaviour::default());
    let mut p = plan(&server.url("http", "/"), 2, 4, Stop::Requests(100));
    p.targets = ["/a", "/b?x=1"]
        .iter()
        .map(|path| TargetRequest {
            url: server.url("http", path),
            path: path.to_string(),
            request: RequestSpec::default(),
        })
        .collect();
    let r = run(&p);
    assert_eq!(r.requests, 100);
    assert_eq!(server.counts.answered.load(SeqCst), 100);
    let each: Vec<u64> = r.targets.iter().map(|t| t.succeeded()).collect();
    assert_eq!(each, [50, 50]);
}
