//! Starting `framewut serve` and `framewut upstream` as child processes for
//! the stack tests, and stopping them again.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A framewut server process. Dropping it sends SIGTERM to its PID, waits,
/// and kills it if it has not gone within a few seconds.
pub struct Server {
    child: Child,
    /// The port from the ready line.
    pub port: u16,
    /// The ready line itself.
    pub ready_line: String,
    stderr: Arc<Mutex<String>>,
    later: Arc<Mutex<Vec<String>>>,
}

/// Runs `framewut ARGS...` and waits for its ready line; on failure says why,
/// with what the process wrote to stderr.
pub fn start(args: &[&str]) -> Result<Server, String> {
    start_with_env(args, &[])
}

/// As [`start`], with these environment variables set for the process.
pub fn start_with_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> Result<Server, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_framewut"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run framewut {args:?}: {err}"))?;
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let sink = Arc::clone(&stderr);
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        sink.lock().unwrap().push_str(&text);
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    let later = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&later);
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = sender.send(lines.next());
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut server = Server {
        child,
        port: 0,
        ready_line: String::new(),
        stderr,
        later,
    };
    match receiver.recv_timeout(READY_TIMEOUT) {
        Ok(Some(Ok(line))) => {
            server.port = line
                .rsplit(':')
                .next()
                .and_then(|port| port.trim_end_matches('/').parse().ok())
                .ok_or_else(|| format!("framewut {args:?}: no port in the ready line {line:?}"))?;
            server.ready_line = line;
            Ok(server)
        }
        _ => {
            let status = server.stop();
            Err(format!(
                "framewut {args:?} printed no ready line (exit {status:?}): {}",
                server.stderr().trim()
            ))
        }
    }
}

impl Server {
    /// What the process wrote to stderr so far (all of it once it has exited).
    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The lines it printed on stdout after the ready line, so far.
    pub fn later_lines(&self) -> Vec<String> {
        self.later.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit status (killing it after 5 s).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: a signal to the PID of our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
