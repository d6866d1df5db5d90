//! Every built-in Rust stack, with every variant it offers, answers the
//! scenario contract: each combination runs as its own `framewut serve`
//! process and is checked on all five paths (status, Server, Date,
//! Content-Type, framing, exact body shape, and for /db an id in range),
//! against a local upstream, a SQLite World file and a throwaway PostgreSQL.
//!
//! Each stack also serves HTTP/2 (h2c in cleartext, h2 over TLS) exactly
//! when its catalogue entry says so, advertising the stream limit its
//! framework gives.
//!
//! PostgreSQL's server programs must be installed (`apt-get install
//! postgresql`): without them this test fails and says so. A build without
//! the `postgres` feature checks its stacks against SQLite alone.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use framewut_stacks::catalogue::Workers;
use framewut_stacks::contract::{self, ContractError};
use framewut_stacks::db::{self, TempPostgres};
use framewut_stacks::tls::TestCa;
use framewut_stacks::variant::ConnVariant;
use framewut_stacks::{stacks, Scenario, StackInfo, HTTP2_MAX_CONCURRENT_STREAMS};
use rustls::ClientConfig;

use std::process::{Command, ExitStatus, Stdio};

use support::server::start;
use support::timed::check_timed;

/// Processes checked at once.
const PARALLEL: usize = 4;

/// One `framewut serve` command line to check.
struct Case {
    stack: &'static str,
    variant: String,
    db: String,
}

/// For each stack, enough cases that every value of every variant axis
/// (and both databases, where PostgreSQL is built in) appears at least once.
fn cases(stack: &'static StackInfo, sqlite: &str, postgres: Option<&str>) -> Vec<Case> {
    let mut upstream = Vec::new();
    for client in stack.client {
        for conn in [ConnVariant::Pooled, ConnVariant::Fresh] {
            upstream.push(format!("{client}-{conn}"));
        }
    }
    let mut databases = Vec::new();
    for variant in stack.db {
        for url in [Some(sqlite), postgres].into_iter().flatten() {
            let is_postgres = Some(url) == postgres;
            if is_postgres || variant.as_str() != "async" {
                databases.push((variant.as_str(), url));
            }
        }
    }
    let count = upstream
        .len()
        .max(databases.len())
        .max(stack.sleep.len())
        .max(stack.cpu.len());
    (0..count)
        .map(|i| {
            let (db_variant, url) = databases[i % databases.len()];
            Case {
                stack: stack.id,
                variant: format!(
                    "sleep={},upstream={},cpu={},db={db_variant}",
                    stack.sleep[i % stack.sleep.len()],
                    upstream[i % upstream.len()],
                    stack.cpu[i % stack.cpu.len()],
                ),
                db: url.to_string(),
            }
        })
        .collect()
}

fn check_case(case: &Case, upstream: &str) -> Result<(), String> {
    let stack = framewut_stacks::catalogue::find(case.stack).map_err(|e| e.to_string())?;
    let workers = test_workers(stack);
    let args = [
        "serve",
        case.stack,
        "--workers",
        workers,
        "--variant",
        &case.variant,
        "--db",
        &case.db,
        "--upstream",
        upstream,
        "--sleep-ms",
        "20",
        "--cpu-n",
        "1000",
    ];
    let mut server = start(&args)?;
    let expected = format!(
        "framewut: {} listening on http://127.0.0.1:{}",
        case.stack, server.port
    );
    if server.ready_line != expected {
        return Err(format!(
            "ready line {:?}, expected {expected:?}",
            server.ready_line
        ));
    }
    for scenario in Scenario::ALL {
        contract::check(server.port, scenario).map_err(|why| {
            format!(
                "{} --variant {} --db {}: {why}",
                case.stack, case.variant, case.db
            )
        })?;
    }
    for (scenario, offload) in [(Scenario::Cpu, "cpu=offload"), (Scenario::Db, "db=offload")] {
        let offloaded = case.variant.split(',').any(|v| v == offload);
        check_timed(server.port, scenario, offloaded)
            .map_err(|why| format!("{} --variant {}: {why}", case.stack, case.variant))?;
    }
    http2_as_listed(stack, server.port, None)?;
    match server.stop() {
        Some(status) if status.success() => Ok(()),
        other => Err(format!(
            "{} did not exit cleanly on SIGTERM: {other:?}",
            case.stack
        )),
    }
}

#[test]
fn every_stack_and_variant_answers_the_contract() {
    let pg = cfg!(feature = "postgres").then(|| {
        TempPostgres::start().unwrap_or_else(|err| {
            panic!("the conformance test needs a throwaway PostgreSQL: {err}")
        })
    });
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stacks-conformance");
    let sqlite = dir.join("world.sqlite");
    db::init_sqlite(&sqlite).expect("make the SQLite World table");
    let sqlite = format!("sqlite:{}", sqlite.display());
    let upstream = start(&["upstream"]).expect("start the upstream");
    let upstream_url = format!("http://127.0.0.1:{}/", upstream.port);

    let all: Vec<Case> = stacks()
        .iter()
        .flat_map(|stack| cases(stack, &sqlite, pg.as_ref().map(TempPostgres::url)))
        .collect();
    assert!(all.len() >= 2 * stacks().len());
    let queue = Mutex::new(all.iter());
    let failures = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let Some(case) = queue.lock().unwrap().next() else {
                    return;
                };
                if let Err(why) = check_case(case, &upstream_url) {
                    failures.lock().unwrap().push(why);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

/// Checks that the stack on `port` serves HTTP/2 (h2c, or h2 over TLS with
/// `tls`) exactly when its catalogue entry says so: one that does answers
/// `/hello` over it and advertises its framework's stream limit (hyper's and
/// axum's [`HTTP2_MAX_CONCURRENT_STREAMS`], none for actix); one that does
/// not fails the exchange, not the connection, and still answers HTTP/1.1
/// after it.
fn http2_as_listed(
    stack: &StackInfo,
    port: u16,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let over = if tls.is_some() { "h2 over TLS" } else { "h2c" };
    let id = stack.id;
    match (stack.http2, contract::check_http2(addr, tls)) {
        (true, Ok(facts)) => {
            let expected = match id {
                "rust/actix/workers" => None,
                _ => Some(HTTP2_MAX_CONCURRENT_STREAMS),
            };
            if facts.max_concurrent_streams == expected {
                Ok(())
            } else {
                Err(format!(
                    "{id} over {over} advertised {:?} concurrent streams, expected {expected:?}",
                    facts.max_concurrent_streams
                ))
            }
        }
        (true, Err(why)) => Err(format!(
            "{id} is listed as serving HTTP/2, but {over}: {why}"
        )),
        (false, Ok(facts)) => Err(format!(
            "{id} is listed without HTTP/2, but served {over} ({facts:?})"
        )),
        (
            false,
            Err(ContractError::Http2 {
                step: "connect", ..
            }),
        ) => Err(format!("{id}: the {over} check could not connect")),
        (false, Err(_)) => {
            let http1 = match tls {
                None => contract::check(port, Scenario::Hello),
                Some(client) => contract::check_https(port, Scenario::Hello, client),
            };
            http1.map_err(|why| format!("{id} after refusing {over}: {why}"))
        }
    }
}

/// The workers a stack is started with in these tests.
fn test_workers(stack: &StackInfo) -> &'static str {
    match stack.workers {
        Workers::Configurable => "2",
        Workers::One | Workers::PerConnection => "1",
    }
}

/// Every stack that can serve HTTPS answers the contract over it, with its
/// default client calling an HTTPS upstream on a fresh connection each
/// time: both the stack's certificate and the upstream's are checked
/// against a CA made for the test. Those listed as serving HTTP/2 also
/// answer over h2 chosen by ALPN, and the rest refuse it.
#[test]
fn every_tls_stack_answers_the_contract_over_https() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stacks-conformance-tls");
    let ca = TestCa::ensure(&dir).expect("make a test CA");
    let sqlite = dir.join("world.sqlite");
    db::init_sqlite(&sqlite).expect("make the SQLite World table");
    let sqlite = format!("sqlite:{}", sqlite.display());
    let (cert, key, ca_file) = (
        ca.cert.to_str().unwrap(),
        ca.key.to_str().unwrap(),
        ca.ca.to_str().unwrap(),
    );
    let tls = ["--tls", "--cert", cert, "--key", key];
    let upstream = start(&[&["upstream"][..], &tls].concat()).expect("start the upstream");
    assert_eq!(
        upstream.ready_line,
        format!(
            "framewut: upstream listening on https://127.0.0.1:{}",
            upstream.port
        )
    );
    let upstream_url = format!("https://127.0.0.1:{}/", upstream.port);
    let client = ca.client_config().unwrap();
    let tls_stacks: Vec<&StackInfo> = stacks().iter().filter(|stack| stack.tls).collect();
    assert!(tls_stacks.len() >= 2, "few stacks serve TLS");
    let queue = Mutex::new(tls_stacks.iter());
    let failures = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let Some(stack) = queue.lock().unwrap().next() else {
                    return;
                };
                let variant = format!("upstream={}-fresh", stack.client[0]);
                let args = [
                    "serve",
                    stack.id,
                    "--workers",
                    test_workers(stack),
                    "--variant",
                    &variant,
                    "--db",
                    &sqlite,
                    "--upstream",
                    &upstream_url,
                    "--upstream-ca",
                    ca_file,
                    "--sleep-ms",
                    "20",
                    "--cpu-n",
                    "1000",
                ];
                let checked = start(&[&args[..], &tls].concat()).and_then(|mut server| {
                    let expected = format!(
                        "framewut: {} listening on https://127.0.0.1:{}",
                        stack.id, server.port
                    );
                    if server.ready_line != expected {
                        return Err(format!(
                            "ready line {:?}, expected {expected:?}",
                            server.ready_line
                        ));
                    }
                    for scenario in Scenario::ALL {
                        contract::check_https(server.port, scenario, &client)
                            .map_err(|why| format!("{} over HTTPS: {why}", stack.id))?;
                    }
                    http2_as_listed(stack, server.port, Some(&client))?;
                    match server.stop() {
                        Some(status) if status.success() => Ok(()),
                        other => Err(format!("{} did not exit cleanly: {other:?}", stack.id)),
                    }
                });
                if let Err(why) = checked {
                    failures.lock().unwrap().push(why);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} stacks failed over HTTPS:\n{}",
        failures.len(),
        tls_stacks.len(),
        failures.join("\n")
    );
}

#[test]
fn a_stack_refuses_what_it_cannot_do() {
    let (status, stderr) = refuse(&["serve", "rust/std/sync-pool", "--variant", "sleep=async"]);
    assert!(!status.success());
    assert_eq!(
        stderr.trim(),
        "Error: rust/std/sync-pool cannot do sleep=async: it supports sleep=blocking"
    );
    let (status, stderr) = refuse(&["serve", "rust/hyper/tokio-current", "--workers", "4"]);
    assert!(
        !status.success() && stderr.contains("exactly one event-loop thread"),
        "{stderr}"
    );
    let (status, stderr) = refuse(&["serve", "rust/hyper/tokio-multi", "--close"]);
    assert!(!status.success() && stderr.contains("--close"), "{stderr}");
    // The driver's error shows once, though the typed error keeps it as its source.
    let missing = "/nonexistent/framewut/world.sqlite";
    let (status, stderr) = refuse(&["serve", "rust/std/sync-pool", "--db", missing]);
    assert!(!status.success());
    assert_eq!(
        stderr.matches("unable to open database file").count(),
        1,
        "{stderr}"
    );
    let hint = format!("(make it with `framewut db init --path {missing}`)");
    assert!(stderr.trim().ends_with(&hint), "{stderr}");
    let (status, stderr) = refuse(&["serve", "rust/nope"]);
    assert!(
        !status.success() && stderr.contains("rust/fast/per-core"),
        "{stderr}"
    );
    #[cfg(feature = "postgres")]
    {
        let (status, stderr) =
            refuse(&["serve", "rust/hyper/tokio-multi", "--variant", "db=async"]);
        assert!(!status.success() && stderr.contains("SQLite"), "{stderr}");
    }
}

/// A build without a feature names it, and the command that builds it in,
/// when asked for what it left out.
#[cfg(not(all(feature = "may", feature = "postgres")))]
#[test]
fn what_the_build_left_out_is_refused_with_the_feature_that_builds_it_in() {
    #[cfg(not(feature = "may"))]
    {
        let (status, stderr) = refuse(&["serve", "rust/may/coroutines"]);
        assert!(!status.success());
        assert_eq!(
            stderr.trim(),
            "Error: this build of framewut has no rust/may/coroutines: it was built without \
             the `may` feature; build it in with `cargo build --release --features may`"
        );
    }
    #[cfg(not(feature = "postgres"))]
    for args in [
        ["--db", "postgres://framewut@127.0.0.1/postgres"],
        ["--variant", "db=async"],
    ] {
        let (status, stderr) = refuse(&[&["serve", "rust/hyper/tokio-multi"][..], &args].concat());
        assert!(!status.success());
        assert!(
            stderr.contains("no PostgreSQL: it was built without the `postgres` feature"),
            "{stderr}"
        );
    }
}

/// Runs `framewut ARGS...` expecting it to refuse: returns its exit status and stderr.
pub fn refuse(args: &[&str]) -> (ExitStatus, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_framewut"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run framewut");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Writes `request`, then reads until `responses` bodies of `body` arrived.
fn exchange(port: u16, request: &[u8], body: &str, responses: usize) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while text.matches(body).count() < responses {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

#[test]
fn hand_written_http_handles_pipelining_bodies_and_close() {
    for stack in [
        "rust/std/sync-pool",
        "rust/std/thread-per-conn",
        "rust/fast/per-core",
    ] {
        let server = start(&["serve", stack, "--workers", "1", "--cpu-n", "3"]).unwrap();
        let pipelined = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /cpu HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody\
            GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
        let text = exchange(server.port, pipelined, "\"message\"", 3);
        assert_eq!(
            text.matches("HTTP/1.1 200 OK").count(),
            3,
            "{stack}: {text}"
        );
        assert!(text.contains(r#"{"message":[0,1,2]}"#), "{stack}: {text}");
        let text = exchange(server.port, b"GET /hello HTTP/1.0\r\n\r\n", "helowrld", 1);
        assert!(
            text.contains("Connection: close"),
            "{stack}: HTTP/1.0 without keep-alive: {text}"
        );
    }
}

#[test]
fn close_flag_closes_every_connection() {
    let server = start(&["serve", "rust/std/sync-pool", "--workers", "1", "--close"]).unwrap();
    let two = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    let text = exchange(server.port, two, "helowrld", 2);
    assert_eq!(text.matches("helowrld").count(), 1, "{text}");
    assert!(text.contains("Connection: close"), "{text}");
}

/// Writes `request`, shuts down the write side, and reads everything the
/// server sends until it closes or goes quiet for 5 s.
fn half_closed_exchange(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The hand-written stacks answer what real servers answer: lines ended by
/// a bare LF (RFC 9112 section 2.2), and a request that asks for `100
/// Continue` before it sends its body (RFC 9110 section 10.1.1), which gets
/// the interim answer before the body is sent and the response after.
#[test]
fn hand_written_http_answers_bare_lf_and_expect_continue() {
    for stack in ["rust/std/sync-pool", "rust/fast/per-core"] {
        let server = start(&["serve", stack, "--workers", "1", "--cpu-n", "3"]).unwrap();
        let bare =
            b"GET /hello HTTP/1.1\nHost: x\n\nGET /cpu HTTP/1.1\nHost: x\nConnection: close\n\n";
        let text = half_closed_exchange(server.port, bare);
        assert_eq!(
            text.matches("HTTP/1.1 200 OK").count(),
            2,
            "{stack}: {text}"
        );
        assert!(text.contains(r#"{"message":[0,1,2]}"#), "{stack}: {text}");

        // The interim answer must come while the body is held back.
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(
                b"POST /cpu HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
                  Content-Length: 4\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        let mut got = vec![0u8; interim.len()];
        stream
            .read_exact(&mut got)
            .unwrap_or_else(|e| panic!("{stack}: no 100 Continue before the body: {e}"));
        assert_eq!(got, interim, "{stack}: {}", String::from_utf8_lossy(&got));
        stream.write_all(b"body").unwrap();
        let mut rest = String::new();
        let _ = stream.read_to_string(&mut rest);
        assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{stack}: {rest}");
        assert!(rest.contains(r#"{"message":[0,1,2]}"#), "{stack}: {rest}");
    }
}

/// The upstream answers a client that shut down its write side after the
/// request, as any real server does.
#[test]
fn the_upstream_answers_a_half_closed_request() {
    let upstream = start(&["upstream"]).unwrap();
    let text = half_closed_exchange(upstream.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(text.ends_with(r#"{"message":"upstream"}"#), "{text:?}");
}
