//! What a request costs, checked against counts framewut does not make:
//! a lab run's system calls per request against `strace -c` on the same
//! stack, its context switches and page faults against perf's counts, and
//! its bytes and connections against the request and the response
//! themselves.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::chromium::{chromium, console_lines};
use support::server;
use support::{analysis, cell, framewut, load_valid, run_matrix, Scratch};

/// A sync pool with a worker for every connection: each request is one
/// blocking read and one write, whatever the load's pace, so a count taken
/// under strace (which slows every call) holds for the unhindered stack.
const POOL: &str = r#"
scenarios = ["hello"]

[[stack]]
id = "rust/std/sync-pool"
workers = 8

[[profile]]
connections = 8
duration = "1s"
warmup = "300ms"
trials = 2
"#;

/// Requests the independent counts are taken over.
const REQUESTS: u64 = 3000;

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `framewut load` for exactly [`REQUESTS`] requests on 8 connections.
fn load_exactly(port: u16) {
    let url = format!("http://127.0.0.1:{port}/hello");
    let n = REQUESTS.to_string();
    let output = support::framewut(
        &["load", &url, "-c", "8", "-t", "1", "-n", &n, "--json"],
        std::path::Path::new("."),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{}", support::text(&output.stderr));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["responses"].as_u64(), Some(REQUESTS), "{summary}");
}

/// Starts a counting tool attached to `pid`, writing to `out`, and waits
/// until it has attached.
fn attach(program: &str, args: &[&str], out: &std::path::Path) -> Child {
    let child = Command::new(program)
        .args(args)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed by this test (.ci/run installs it): {e}"));
    std::thread::sleep(Duration::from_millis(700));
    child
}

/// Stops a counting tool with SIGINT, on which it writes its summary.
fn interrupt(mut child: Child) {
    // SAFETY: a signal to the child this test started, by its PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "it did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The calls in strace -c's summary: its `total` line's fourth column
/// (after % time, seconds and usecs/call).
fn strace_total(text: &str) -> u64 {
    text.lines()
        .find(|l| l.trim_end().ends_with("total"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|calls| calls.parse().ok())
        .unwrap_or_else(|| panic!("no total in strace's summary:\n{text}"))
}

/// The count of `perf stat -x,` for its one event.
fn perf_count(text: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .find_map(|l| l.split(',').next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in perf's output:\n{text}"))
}

#[test]
fn system_calls_switches_bytes_and_connections_per_request_match_independent_counts() {
    let dir = Scratch::new("costs");
    let run = run_matrix(&dir, "pool", POOL, Duration::from_secs(120));
    let results = load_valid(&run);
    let measured = cell(&results, "rust/std/sync-pool/hello/c8");
    let analysis = analysis(&run);
    let breakdown = &analysis["cells"][0]["breakdown"];
    assert!(breakdown.is_object(), "{analysis}");
    let syscalls = &measured["syscalls"];
    assert!(syscalls["server"].is_object(), "perf counted: {syscalls}");
    let server_calls = breakdown["server"]["syscalls"].as_f64().unwrap();
    let server_switches = breakdown["server"]["voluntary_switches"].as_f64().unwrap()
        + breakdown["server"]["involuntary_switches"]
            .as_f64()
            .unwrap();

    let stack = server::start(&["serve", "rust/std/sync-pool", "--workers", "8"]).unwrap();
    let pid = stack.pid().to_string();
    // Warm the pool's threads up, so they exist before strace attaches.
    load_exactly(stack.port);

    // strace attaches to the threads it is given, each with its own -p.
    let mut args = vec!["-f".to_string(), "-c".into(), "-q".into()];
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        args.push("-p".into());
        args.push(task.unwrap().file_name().to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let strace_out = dir.path("strace.txt");
    let strace = attach("strace", &args, &strace_out);
    load_exactly(stack.port);
    interrupt(strace);
    let by_strace = strace_total(&support::read(&strace_out)) as f64 / REQUESTS as f64;

    let perf_out = dir.path("perf.txt");
    let perf = attach(
        "perf",
        &["stat", "-x", ",", "-e", "context-switches", "-p", &pid],
        &perf_out,
    );
    load_exactly(stack.port);
    interrupt(perf);
    let by_perf = perf_count(&support::read(&perf_out)) as f64 / REQUESTS as f64;
    drop(stack);

    // strace's count includes the few calls of the 8 connections' set-up
    // and of the threads going idle at the end: a few per cent.
    let calls = server_calls / by_strace;
    assert!(
        (0.85..=1.15).contains(&calls),
        "framewut counted {server_calls:.2} system calls per request, strace {by_strace:.2}"
    );
    // The scheduler's count is the same either way; how often a blocking
    // read finds its request already there varies with the machine.
    let switches = server_switches / by_perf;
    assert!(
        (0.7..=1.3).contains(&switches),
        "framewut counted {server_switches:.2} context switches per request, perf {by_perf:.2}"
    );

    // The bytes of one request and one response, as sent and received (a
    // window's edges cut a few requests of the thousands in it).
    let port = measured["stack_process"]["port"].as_u64().unwrap();
    let request = format!("GET /hello HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let out = breakdown["bytes_out"].as_f64().unwrap();
    assert!(
        (out - request.len() as f64).abs() < 0.5,
        "a request is its request line and Host header, {} bytes: {breakdown}",
        request.len()
    );
    let body = br#"{"message":"helowrld"}"#.len() as f64;
    let inb = breakdown["bytes_in"].as_f64().unwrap();
    assert!(inb > body && inb < body + 200.0, "{breakdown}");
    // Connections kept alive: at most the 8 opened at the start, over
    // thousands of requests.
    let responses = breakdown["responses"].as_f64().unwrap();
    let connections = breakdown["connections"].as_f64().unwrap();
    assert!(connections <= 8.0 / responses, "{breakdown}");
    let output = framewut(
        &["report", run.to_str().unwrap()],
        &dir.0,
        Duration::from_secs(30),
    );
    assert!(output.status.success());
    let report = support::read(&run.join("report.md"));
    assert!(report.contains("### What a request cost"), "{report}");
}

/// A server that faults in 256 fresh pages for every request: each answer
/// maps 1 MiB of anonymous memory, writes a byte to each of its pages and
/// unmaps it. One thread and one connection at a time (HTTP/1.0 closes
/// each), so a count attached to its process sees all of it.
const FAULTING_SERVER: &str = r#"
import mmap, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Touch(BaseHTTPRequestHandler):
    def do_GET(self):
        pages = mmap.mmap(-1, 1 << 20)
        for offset in range(0, 1 << 20, mmap.PAGESIZE):
            pages[offset] = 1
        pages.close()
        body = b'{"touched": 256}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Touch).serve_forever()
"#;

/// The lab's page faults per request against perf's `page-faults` on the
/// same server started by hand, both about the 256 a request makes.
#[test]
fn page_faults_per_request_match_perfs_count() {
    let dir = Scratch::new("faults");
    let script = dir.write("touch.py", FAULTING_SERVER);
    let matrix = format!(
        r#"
[scenario.touch]
path = "/touch"

[[stack]]
name = "touch"
command = "exec python3 {} {{port}}"
ready = "/touch"

[[profile]]
connections = 2
duration = "1s"
warmup = "300ms"
trials = 2
"#,
        script.display()
    );
    let run = run_matrix(&dir, "faults", &matrix, Duration::from_secs(120));
    let analysis = analysis(&run);
    let breakdown = &analysis["cells"][0]["breakdown"];
    let by_lab = breakdown["server"]["page_faults"].as_f64().unwrap();

    let port = free_port();
    let mut server = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/touch");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let perf_out = dir.path("perf.txt");
    let perf = attach(
        "perf",
        &[
            "stat",
            "-x",
            ",",
            "-e",
            "page-faults",
            "-p",
            &server.id().to_string(),
        ],
        &perf_out,
    );
    let n = REQUESTS.to_string();
    let output = support::framewut(
        &["load", &url, "-c", "2", "-t", "1", "-n", &n, "--json"],
        &dir.0,
        Duration::from_secs(60),
    );
    interrupt(perf);
    // SAFETY: a signal to the server this test started, by its PID.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGKILL);
    }
    server.wait().unwrap();
    assert!(output.status.success(), "{}", support::text(&output.stderr));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["responses"].as_u64(), Some(REQUESTS), "{summary}");
    let by_perf = perf_count(&support::read(&perf_out)) as f64 / REQUESTS as f64;
    assert!(
        by_perf >= 256.0,
        "perf counted {by_perf:.1} page faults per request"
    );
    // The lab's window starts and ends at its samples, a few requests off
    // the responses it divides by.
    let ratio = by_lab / by_perf;
    eprintln!("page faults per request: framewut {by_lab:.1}, perf {by_perf:.1}");
    assert!(
        (0.8..=1.25).contains(&ratio),
        "framewut counted {by_lab:.1} page faults per request, perf {by_perf:.1}"
    );
}

/// A hello cell of a Rust stack and a cpu cell, each profiled after its
/// trials.
const PROFILED: &str = r#"
scenarios = ["hello", "cpu"]

[scenario.cpu]
n = 20000

[[stack]]
id = "rust/axum/per-core"

[[profile]]
connections = 8
duration = "1s"
warmup = "300ms"
trials = 1
cpu_profile = true
"#;

#[test]
fn a_profiled_run_draws_each_cells_flame_graph_shown_in_chromium_and_predicts_cpu_from_parts() {
    let dir = Scratch::new("profiled");
    let run = run_matrix(&dir, "profiled", PROFILED, Duration::from_secs(180));
    let results = load_valid(&run);
    for id in ["rust/axum/per-core/hello/c8", "rust/axum/per-core/cpu/c8"] {
        let cell = cell(&results, id);
        let profile = &cell["profile"];
        assert!(profile.is_object(), "{id}: {}", cell["profile_note"]);
        assert_eq!(profile["profiler"], "perf");
        assert!(profile["samples"].as_u64().unwrap() > 20, "{profile}");
        let svg = support::read(&run.join(profile["svg"].as_str().unwrap()));
        assert!(svg.contains("<svg"), "{id}: the flame graph is an SVG");
        // framewut's own frames resolve to functions, not addresses.
        let folded = support::read(&run.join(profile["folded"].as_str().unwrap()));
        assert!(
            folded.contains("framewut"),
            "{id}: {}",
            &folded[..folded.len().min(2000)]
        );
    }
    // The cpu cell's serialisation is where its CPU went.
    let cpu = cell(&results, "rust/axum/per-core/cpu/c8");
    let top: Vec<&str> = cpu["profile"]["top"]
        .as_array()
        .unwrap()
        .iter()
        .take(5)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    // glibc's memcpy is its __memmove_*_unaligned_erms.
    assert!(
        top.iter().any(|f| f.contains("serde_json")
            || f.contains("itoa")
            || f.contains("memcpy")
            || f.contains("memmove")),
        "{top:?}"
    );
    let analysis = analysis(&run);
    let parts = &analysis["cells"][1]["parts"];
    assert!(parts.is_object(), "the cpu cell has a model from parts");
    assert_eq!(parts["stack_cell"], "rust/axum/per-core/hello/c8");
    // The prediction is the parts' arithmetic. How close it lands is
    // printed, not asserted: on CI's debug build beside other tests the
    // stack timed its handler at 8.3 ms a call while a request under load
    // cost 5.2 ms, so the margin would test the machine, not the model.
    let sum = parts["handler_us"].as_f64().unwrap()
        + parts["write_us"].as_f64().unwrap()
        + parts["stack_us"].as_f64().unwrap();
    assert!(
        (parts["cost_us"].as_f64().unwrap() - sum).abs() < 1e-6,
        "{parts}"
    );
    let cores = parts["cores"].as_f64().unwrap();
    assert!(cores >= 1.0, "{parts}");
    assert_eq!(
        parts["ceiling_per_s"].as_f64().unwrap(),
        cores * 1e6 / sum,
        "the cores / the parts: {parts}"
    );
    assert!(parts["handler_us"].as_f64().unwrap() > 0.0, "{parts}");
    // Timed twice: as requests call it, one call each, and in a row, the
    // floor beside it.
    assert!(parts["in_row_us"].as_f64().unwrap() > 0.0, "{parts}");
    let results = support::load(&run);
    let timed = &results["cells"][1]["parts"];
    assert!(
        (20..=2000).contains(&timed["calls"].as_u64().unwrap()),
        "one request per call timed: {timed}"
    );
    // A built-in stack serves them all in its one process.
    assert_eq!(timed["workers"], 1, "{timed}");
    eprintln!(
        "rust/axum/per-core/cpu/c8: {:.2}x the parts' ceiling",
        parts["ratio"].as_f64().unwrap()
    );

    let report = support::read(&run.join("report.md"));
    assert!(report.contains("## Where the CPU went"), "{report}");
    assert!(report.contains("### rust/axum/per-core/cpu/c8"), "{report}");
    let page = run.join("report.html");
    let (dom, log) = chromium(&page, &dir.path("chromium"), "--dump-dom");
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "{log}");
    assert!(
        dom.contains("data-flames=\"2/2\""),
        "both flame graphs shown: {}",
        dom.split("<body")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>()
    );
}
