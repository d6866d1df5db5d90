//! Each built-in stack's concurrency model is what its catalogue entry
//! claims, seen from outside: how long concurrent `/sleep` requests take,
//! and how many connections the upstream counts per client variant.
//!
//! A sleep cannot end early, so `k` rounds of sleeps take at least `k`
//! sleeps whatever the machine does: that is the lower bound. The upper
//! bound is the least time the nearest slower model would need (one more
//! round, or the rounds of fewer workers): a busy 2-core machine may add
//! up to that much and the test still tells the models apart.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use framewut_stacks::contract::{self, verify_response};
use framewut_stacks::upstream::UpstreamStats;
use framewut_stacks::Scenario;

use support::server::{start, Server};

const SLEEP_MS: u64 = 400;
const SLEEP: Duration = Duration::from_millis(SLEEP_MS);
const TIMEOUT: Duration = Duration::from_secs(20);

/// Sends `n` GETs of `scenario` at once, each on its own connection, checks
/// every answer, and returns how long the slowest took.
fn concurrent(port: u16, scenario: Scenario, n: usize) -> Duration {
    let barrier = Barrier::new(n);
    let start = Instant::now();
    thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let response = contract::fetch(port, scenario.path(), TIMEOUT).unwrap();
                    verify_response(scenario, &response).unwrap();
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
    start.elapsed()
}

fn serve(args: &[&str]) -> Server {
    let sleep = SLEEP_MS.to_string();
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--sleep-ms", &sleep]);
    start(&all).unwrap()
}

/// Asserts that `elapsed` is at least `rounds` sleeps (what the model
/// needs) and, where there is a slower model to tell apart, less than the
/// `slower` rounds it would need at the least.
fn assert_rounds(what: &str, elapsed: Duration, rounds: u32, slower: Option<u32>) {
    assert!(
        elapsed >= SLEEP * rounds,
        "{what}: took {elapsed:?}, less than {rounds} sleeps of {SLEEP:?}: more at once than the model allows"
    );
    if let Some(slower) = slower {
        assert!(
            elapsed < SLEEP * slower,
            "{what}: took {elapsed:?}, at least the {slower} sleeps of {SLEEP:?} a slower model needs"
        );
    }
}

#[test]
fn sync_pool_serves_one_request_per_worker_at_a_time() {
    let server = serve(&["rust/std/sync-pool", "--workers", "2"]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    // One worker would need 4 rounds.
    assert_rounds("4 sleeps on 2 sync workers (2 rounds)", elapsed, 2, Some(4));
}

#[test]
fn thread_per_connection_overlaps_every_connection() {
    let server = serve(&["rust/std/thread-per-conn"]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_rounds("4 sleeps on 4 threads (1 round)", elapsed, 1, Some(2));
}

#[test]
fn a_blocking_sleep_serialises_a_single_event_loop() {
    let server = serve(&["rust/hyper/tokio-current", "--variant", "sleep=blocking"]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_rounds("4 blocking sleeps on one loop (4 rounds)", elapsed, 4, None);
}

#[test]
fn async_and_offloaded_sleeps_overlap_on_a_single_event_loop() {
    for variant in ["sleep=async", "sleep=offload"] {
        let server = serve(&["rust/hyper/tokio-current", "--variant", variant]);
        let elapsed = concurrent(server.port, Scenario::Sleep, 4);
        assert_rounds(
            &format!("4 sleeps, {variant}, on one loop (1 round)"),
            elapsed,
            1,
            Some(2),
        );
    }
}

#[cfg(feature = "may")]
#[test]
fn coroutines_overlap_cooperative_sleeps_and_serialise_blocking_ones() {
    let server = serve(&[
        "rust/may/coroutines",
        "--workers",
        "1",
        "--variant",
        "sleep=async",
    ]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_rounds(
        "4 cooperative sleeps on 1 scheduler thread (1 round)",
        elapsed,
        1,
        Some(2),
    );
    let server = serve(&[
        "rust/may/coroutines",
        "--workers",
        "1",
        "--variant",
        "sleep=blocking",
    ]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_rounds(
        "4 blocking sleeps on 1 scheduler thread (4 rounds)",
        elapsed,
        4,
        None,
    );
}

#[cfg(feature = "axum")]
#[test]
fn event_loops_per_worker_each_block_on_their_own() {
    // Two loops, blocking sleeps: two requests at a time, as with two gevent
    // workers running unpatched time.sleep. Both loops are reached because
    // the kernel spreads SO_REUSEPORT connections, maybe unevenly: 2 to 4
    // rounds, as many as one loop alone would need, so no slower model is
    // told apart.
    let server = serve(&[
        "rust/axum/per-core",
        "--workers",
        "2",
        "--variant",
        "sleep=blocking",
    ]);
    let elapsed = concurrent(server.port, Scenario::Sleep, 4);
    assert_rounds("4 blocking sleeps on 2 loops", elapsed, 2, None);
}

fn upstream_stats(port: u16) -> UpstreamStats {
    let response = contract::fetch(port, "/__stats", TIMEOUT).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
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
}

/// Sends 2 rounds of 4 concurrent /upstream requests through a stack and
/// returns the upstream connections and requests they cost.
#[cfg(all(feature = "axum", feature = "actix"))]
fn upstream_cost(upstream: &Server, stack: &[&str]) -> (u64, u64) {
    let url = format!("http://127.0.0.1:{}/", upstream.port);
    let mut args = stack.to_vec();
    args.extend_from_slice(&["--upstream", &url]);
    let server = serve(&args);
    let before = upstream_stats(upstream.port);
    for _ in 0..2 {
        concurrent(server.port, Scenario::Upstream, 4);
    }
    let after = upstream_stats(upstream.port);
    // The second /__stats fetch came on a connection of its own.
    (
        after.connections - before.connections - 1,
        after.requests - before.requests,
    )
}

#[cfg(all(feature = "axum", feature = "actix"))]
#[test]
fn fresh_clients_connect_per_request_and_pooled_clients_reuse() {
    let upstream = start(&["upstream", "--delay", "20ms"]).unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["rust/std/sync-pool", "--workers", "4"], "blocking"),
        (&["rust/axum/tokio-multi", "--workers", "2"], "async"),
        (&["rust/actix/workers", "--workers", "2"], "offload"),
    ];
    for (stack, client) in cases {
        for conn in ["fresh", "pooled"] {
            let variant = format!("upstream={client}-{conn}");
            let mut args = stack.to_vec();
            args.extend_from_slice(&["--variant", &variant]);
            let (connections, requests) = upstream_cost(&upstream, &args);
            assert_eq!(requests, 8, "{stack:?} {variant}");
            if conn == "fresh" {
                assert_eq!(
                    connections, 8,
                    "{stack:?} {variant}: one connection per request"
                );
            } else {
                assert!(
                    (1..=4).contains(&connections),
                    "{stack:?} {variant}: {connections} connections for 8 requests, 4 at a time"
                );
            }
        }
    }
}

/// Sends one GET on an open keep-alive connection and reads the response head and body.
fn get_on(stream: &mut BufReader<TcpStream>) -> Duration {
    let start = Instant::now();
    stream
        .get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: upstream\r\n\r\n")
        .unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    std::io::Read::read_exact(stream, &mut body).unwrap();
    assert_eq!(body, framewut_stacks::upstream::UPSTREAM_BODY);
    start.elapsed()
}

/// The first response on a connection waits the delay and the connect
/// cost, the second the delay alone: it is under what paying the cost
/// again would take at the least, by the cost's 400 ms.
#[test]
fn upstream_charges_the_connect_cost_once_per_connection() {
    let delay = Duration::from_millis(50);
    let cost = Duration::from_millis(400);
    let upstream = start(&["upstream", "--delay", "50ms", "--connect-cost", "400ms"]).unwrap();
    let stream = TcpStream::connect(("127.0.0.1", upstream.port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut stream = BufReader::new(stream);
    let first = get_on(&mut stream);
    let second = get_on(&mut stream);
    assert!(first >= delay + cost, "first response: {first:?}");
    assert!(
        second >= delay && second < delay + cost,
        "second response: {second:?}, expected the delay and no connect cost"
    );
}

#[test]
fn upstream_holds_ten_thousand_connections_and_reports_on_exit() {
    const CONNECTIONS: u64 = 10_000;
    framewut_sys::raise_open_file_limit();
    let mut upstream = start(&["upstream"]).unwrap();
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        held.push(TcpStream::connect(("127.0.0.1", upstream.port)).unwrap_or_else(|err| {
            panic!("connection {} of {CONNECTIONS}: {err} (the open-file hard limit must allow it)", held.len() + 1)
        }));
    }
    let deadline = Instant::now() + TIMEOUT;
    let mut stats = upstream_stats(upstream.port);
    while stats.peak_concurrent < CONNECTIONS && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        stats = upstream_stats(upstream.port);
    }
    assert!(stats.peak_concurrent >= CONNECTIONS, "{stats:?}");
    assert!(stats.open >= CONNECTIONS, "{stats:?}");
    drop(held);
    assert!(upstream.stop().is_some_and(|status| status.success()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while upstream.later_lines().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let exit_line = upstream.later_lines().join("\n");
    let expected = format!(
        "peak concurrent {} handshakes 0 resumptions 0",
        stats.peak_concurrent
    );
    assert!(
        exit_line.starts_with("framewut: upstream stats: connections ")
            && exit_line.ends_with(&expected),
        "{exit_line}"
    );
}
