//! Url stacks: a server framewut does not start, loaded at its URL, with its
//! CPU from a Prometheus endpoint or, without one, left unmeasured and said so.
//!
//! The server is `framewut serve`, started here as a plain child the way any
//! other server would be; the endpoint is Debian's prometheus-node-exporter
//! on loopback with only its cpu collector (.ci/run installs it). Both stand
//! on this machine, so the host the exporter counts is this one, load
//! generator included: the test checks the counter's rise against what
//! /proc/stat says of the whole run, not against the server alone.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::server;
use support::{analysis, cell, load_valid, read, run_out, text, Scratch};

const EXPORTER: &str = "prometheus-node-exporter";

/// node_exporter as a child process, stopped by its PID when dropped.
struct Exporter {
    child: Child,
    port: u16,
}

impl Exporter {
    fn start() -> Exporter {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(EXPORTER)
            .args([
                &format!("--web.listen-address=127.0.0.1:{port}"),
                "--collector.disable-defaults",
                "--collector.cpu",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {EXPORTER} ({e}): apt-get install prometheus-node-exporter (.ci/run does)")
            });
        let exporter = Exporter { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(port, "/metrics").is_none() {
            assert!(
                Instant::now() < deadline,
                "{EXPORTER} did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        exporter
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // SIGTERM to its PID; it exits at once on it.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A GET's whole response, or none if nothing answered.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.starts_with("HTTP/1.1 200").then_some(response)
}

/// This machine's CPUs and their busy seconds (every mode but idle and
/// iowait), from /proc/stat, as node_exporter counts them.
fn host_busy() -> (usize, f64) {
    let tick = 1.0 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let stat = read(std::path::Path::new("/proc/stat"));
    let mut cpus = 0;
    let mut busy = 0.0;
    for line in stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
    {
        cpus += 1;
        let ticks: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse().unwrap())
            .collect();
        // user nice system idle iowait irq softirq steal (guest is in user).
        busy += ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7];
    }
    (cpus, busy * tick)
}

#[test]
fn a_url_stack_is_verified_loaded_and_measured_through_its_metrics() {
    let exporter = Exporter::start();
    let mut web = server::start(&["serve", "rust/axum/tokio-multi", "--workers", "1"]).unwrap();
    let dir = Scratch::new("remote");
    let matrix = dir.write(
        "remote.toml",
        &format!(
            r#"
scenarios = ["hello"]
[[stack]]
name = "measured"
url = "http://127.0.0.1:{port}"
metrics = "http://127.0.0.1:{metrics}/metrics"
[[stack]]
name = "unmeasured"
url = "http://127.0.0.1:{port}/"
[[stack]]
name = "not-a-stack"
url = "http://127.0.0.1:{metrics}"
ready = "/metrics"
ready_timeout = "5s"
[[profile]]
connections = 4
threads = 1
duration = "1s"
trials = 1
"#,
            port = web.port,
            metrics = exporter.port
        ),
    );
    let out = dir.path("run");
    let (cpus, busy_before) = host_busy();
    let output = run_out(&dir, &matrix, &out, Duration::from_secs(120));
    let (_, busy_after) = host_busy();
    let results = load_valid(&out);
    let analysis = analysis(&out);
    let context = format!("{}\n{}", text(&output.stdout), text(&output.stderr));

    // Measured through node_exporter: the host's CPUs, and a rise of its
    // busy counter within what /proc/stat saw over the whole run (one clock
    // tick per CPU of rounding either side).
    let measured = cell(&results, "measured/hello/c4");
    assert_eq!(measured["status"], "ok", "{context}");
    assert!(measured["stack_process"].is_null(), "nothing was started");
    let trial = &measured["trials"][0];
    assert!(trial["load"]["requests"].as_u64().unwrap() > 0, "{trial}");
    let server = &trial["server"];
    assert_eq!(server["method"], "prometheus", "{server}");
    assert_eq!(server["host_cpus"].as_u64(), Some(cpus as u64), "{server}");
    let cpu_s = server["cpu_s"].as_f64().unwrap();
    let slack = 2.0 * cpus as f64 * 0.01;
    assert!(
        cpu_s > 0.0 && cpu_s <= busy_after - busy_before + slack,
        "the exporter's {cpu_s} s against /proc/stat's {} s for the whole run",
        busy_after - busy_before
    );
    let summary = &measured["summary"];
    assert_eq!(summary["server_cpu_measured"], true);
    assert!(
        summary["server_cpu_us_per_request"].as_f64().unwrap() > 0.0,
        "{summary}"
    );

    // Without metrics: loaded as well, its CPU unmeasured, and the model
    // says what it cannot judge instead of a CPU ceiling.
    let unmeasured = cell(&results, "unmeasured/hello/c4");
    assert_eq!(unmeasured["status"], "ok", "{context}");
    assert!(
        unmeasured["trials"][0]["load"]["requests"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(unmeasured["trials"][0]["server"]["method"], "unmeasured");
    assert_eq!(unmeasured["summary"]["server_cpu_measured"], false);
    assert!(unmeasured["summary"]["server_cpu_us_per_request"].is_null());
    let findings = analysis["findings"].as_array().unwrap();
    let unjudged: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["topic"] == "unjudged")
        .collect();
    assert_eq!(unjudged.len(), 1, "{findings:?}");
    assert_eq!(unjudged[0]["cells"][0], "unmeasured/hello/c4");
    assert!(
        unjudged[0]["text"].as_str().unwrap().contains("metrics ="),
        "{}",
        unjudged[0]
    );
    let report = read(&out.join("report.md"));
    assert!(
        report.contains("the model does not judge the server's CPU"),
        "{report}"
    );

    // A server that does not follow the contract is refused, as any stack.
    let wrong = cell(&results, "not-a-stack/hello/c4");
    assert_eq!(wrong["status"], "failed");
    assert!(
        wrong["reason"]
            .as_str()
            .unwrap()
            .contains("does not follow the contract"),
        "{wrong}"
    );
    assert!(wrong["trials"].as_array().unwrap().is_empty());

    // framewut stopped nothing it did not start.
    assert!(
        get(web.port, "/hello").is_some(),
        "the server still answers"
    );
    assert!(web.stop().is_some());
}
