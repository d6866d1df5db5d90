//! `kill -9` of `framewut run` in the middle of a trial leaves nothing of
//! the run behind, with no other run to clean up: not a stack's direct
//! child (which dies with the lab), nor what it started, a shell's server
//! or gunicorn's workers, nor the lab's guard itself, nor a cgroup.

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    alive, cgroups_named, command, connections_to, guards_of_run, processes_of_run, run_bounded,
    text, Scratch,
};

/// How long after `kill -9` nothing of the run may be left.
const NOTHING_LEFT_WITHIN: Duration = Duration::from_secs(2);
/// How long a run may take to reach its trial: the Python stack's start
/// and checks on a busy machine.
const TRIAL_WITHIN: Duration = Duration::from_secs(120);
/// Connections the load opens; the test kills the lab once half of them
/// are open to the stack (the readiness and contract checks use one).
const CONNECTIONS: usize = 8;

/// A server for the contract's /hello on the port it is given.
const SERVER: &str = r#"
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b'{"message":"helowrld"}'

class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hello).serve_forever()
"#;

/// What a killed run left, and when the last of it went.
struct Killed {
    /// The run's processes just before the kill.
    processes: Vec<u32>,
    /// From the kill until nothing of the run was left.
    gone_after: Duration,
    /// What the lab and its guard wrote on stderr.
    stderr: String,
}

/// Runs `matrix`, kills the lab with SIGKILL once its load is under way
/// against at least `at_least` processes of the run, and waits for
/// nothing of the run to be left.
fn kill_mid_trial(
    scratch: &Scratch,
    matrix: &str,
    at_least: usize,
    env: &[(&str, PathBuf)],
) -> Killed {
    let matrix = scratch.write("matrix.toml", matrix);
    let out = scratch.path("run");
    let mut child = command(
        &[
            "run",
            matrix.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &scratch.0,
    )
    .envs(env.iter().map(|(k, v)| (k, v)))
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Drained as it comes, so neither the lab nor the guard blocks on it;
    // it ends when the guard, the last writer, exits.
    let mut pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + TRIAL_WITHIN;
    let (run_id, processes) = loop {
        assert!(
            Instant::now() < deadline,
            "no load against the stack within {TRIAL_WITHIN:?}"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        let results: Option<Value> = std::fs::read_to_string(out.join("results.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if let Some(id) = results.as_ref().and_then(|r| r["run"]["id"].as_str()) {
            let processes = processes_of_run(id);
            if processes.len() >= at_least && connections_to(&processes) >= CONNECTIONS / 2 {
                break (id.to_string(), processes);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(guards_of_run(&run_id).len(), 1, "the lab has its guard");
    let killed = Instant::now();
    child.kill().unwrap();
    child.wait().unwrap();
    let left = || {
        let mut left: Vec<u32> = processes.iter().copied().filter(|p| alive(*p)).collect();
        left.extend(processes_of_run(&run_id));
        left.extend(guards_of_run(&run_id));
        left.sort_unstable();
        left.dedup();
        (left, cgroups_named(&run_id))
    };
    while left() != (Vec::new(), Vec::new()) && killed.elapsed() < NOTHING_LEFT_WITHIN {
        std::thread::sleep(Duration::from_millis(5));
    }
    let gone_after = killed.elapsed();
    assert_eq!(
        left(),
        (Vec::new(), Vec::new()),
        "processes and cgroups of run {run_id} remain {NOTHING_LEFT_WITHIN:?} after kill -9 (it had {processes:?})"
    );
    eprintln!(
        "nothing of run {run_id} ({} processes) was left {:.0} ms after kill -9",
        processes.len(),
        gone_after.as_secs_f64() * 1000.0
    );
    Killed {
        processes,
        gone_after,
        stderr: stderr.join().unwrap(),
    }
}

/// A stack behind a shell: `sh -c 'python3 server.py PORT & wait'` is a
/// shell (the lab's child) and a Python server (its child).
#[test]
fn a_stack_behind_a_shell_dies_with_a_killed_lab() {
    let scratch = Scratch::new("killed-shell");
    let server = scratch.write("server.py", SERVER);
    let matrix = format!(
        r#"
scenarios = ["hello"]

[[stack]]
name = "shell-and-server"
command = "python3 {} {{port}} & wait"
ready = "/hello"
ready_timeout = "30s"
env = {{ PYTHONDONTWRITEBYTECODE = "1" }}

[[profile]]
connections = {CONNECTIONS}
duration = "30s"
warmup = "100ms"
trials = 1
"#,
        server.display()
    );
    let killed = kill_mid_trial(&scratch, &matrix, 2, &[]);
    assert!(killed.processes.len() >= 2, "{:?}", killed.processes);
    assert!(killed.gone_after < NOTHING_LEFT_WITHIN);
    assert!(
        killed.stderr.contains("its guard stopped"),
        "{}",
        killed.stderr
    );
}

/// The Python environment the conformance tests make, made here first if
/// it is not there yet.
fn python_data_dir() -> PathBuf {
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-conformance");
    let scratch = Scratch::new("killed-setup");
    let mut setup = command(&["setup", "python"], &scratch.0);
    setup.env("FRAMEWUT_DATA_DIR", &data);
    let output = run_bounded(setup, Duration::from_secs(900));
    assert!(output.status.success(), "{}", text(&output.stderr));
    data
}

/// gunicorn's arbiter is the lab's child; its two sync workers are the
/// arbiter's.
#[test]
fn gunicorns_arbiter_and_workers_die_with_a_killed_lab() {
    let data = python_data_dir();
    let scratch = Scratch::new("killed-gunicorn");
    let matrix = format!(
        r#"
scenarios = ["sleep"]

[scenario.sleep]
duration = "20ms"

[[stack]]
id = "python/wsgi/gunicorn-sync"
workers = 2

[[profile]]
connections = {CONNECTIONS}
duration = "30s"
warmup = "100ms"
trials = 1
"#
    );
    let killed = kill_mid_trial(&scratch, &matrix, 3, &[("FRAMEWUT_DATA_DIR", data)]);
    assert!(killed.processes.len() >= 3, "{:?}", killed.processes);
    assert!(killed.gone_after < NOTHING_LEFT_WITHIN);
    assert!(
        killed.stderr.contains("its guard stopped"),
        "{}",
        killed.stderr
    );
}
