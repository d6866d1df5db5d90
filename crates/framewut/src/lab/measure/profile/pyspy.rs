//! py-spy: `py-spy record` attached to a Python stack's first process and
//! its subprocesses, reading their Python stacks from outside.
//!
//! It samples without pausing the processes (`--nonblocking`): `--native`,
//! which would add the C frames beneath the Python ones, needs them paused
//! at every sample, which on a 2-core machine cut a gunicorn server's rate
//! under load to a quarter of its rate under `--nonblocking`. It aggregates by function (`--function`), so a function's
//! samples are one frame, not one per line; it leaves out threads it finds
//! idle. On SIGINT it writes its folded stacks and exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{detail, Caught, ProfileError, Profiler};
use crate::lab::measure::process::{Group, GRACE};

/// Samples a second: a prime, as perf's.
const RATE: &str = "199";

/// What py-spy prints once it samples.
const SAMPLING: &str = "Sampling process";

/// py-spy in the virtual environment whose `bin` directory is `python`.
pub fn program(python: Option<&Path>) -> Result<PathBuf, ProfileError> {
    let bin = python.ok_or(ProfileError::NoPythonEnv)?;
    let py_spy = bin.join("py-spy");
    if py_spy.is_file() {
        Ok(py_spy)
    } else {
        Err(ProfileError::PySpyMissing {
            bin: bin.to_path_buf(),
        })
    }
}

/// Starts `py_spy record` on `root` and its subprocesses, writing `raw`,
/// and waits up to `limit` for it to say it samples.
pub fn record(
    py_spy: &Path,
    root: u32,
    caught: Caught,
    raw: &Path,
    limit: Duration,
) -> Result<Group, ProfileError> {
    let mut command = Command::new(py_spy);
    command
        .args(["record", "--pid"])
        .arg(root.to_string())
        .args(["--subprocesses", "--rate", RATE, "--format", "raw"])
        .args(["--function", "--nonblocking"]);
    if caught == Caught::Waiting {
        command.arg("--idle");
    }
    command.arg("--output").arg(raw);
    let mut group = Group::spawn(command, None, None).map_err(|err| ProfileError::Failed {
        profiler: Profiler::PySpy,
        step: "starting",
        detail: err.to_string(),
    })?;
    let deadline = Instant::now() + limit;
    loop {
        if group.stdout_tail().contains(SAMPLING) {
            return Ok(group);
        }
        if group.exited().is_some() || Instant::now() >= deadline {
            group.stop(GRACE);
            let said = format!("{}\n{}", group.stderr_tail(), group.stdout_tail());
            return Err(refused_or_failed(root, &said, limit));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Why py-spy did not start sampling, from what it printed.
fn refused_or_failed(root: u32, said: &str, limit: Duration) -> ProfileError {
    if said.contains("Permission Denied") || said.contains("Operation not permitted") {
        return ProfileError::Refused {
            profiler: Profiler::PySpy,
            pids: root.to_string(),
            detail: detail(said),
        };
    }
    let detail = match detail(said) {
        text if text.is_empty() => {
            format!("it did not start sampling within {} s", limit.as_secs())
        }
        text => text,
    };
    ProfileError::Failed {
        profiler: Profiler::PySpy,
        step: "starting",
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_ptrace_and_a_failure_what_py_spy_said() {
        let denied = "Permission Denied: Try running again with elevated permissions by going 'sudo env \"PATH=$PATH\" !!'\n";
        let text = refused_or_failed(42, denied, Duration::from_secs(1)).to_string();
        assert!(
            text.starts_with("py-spy may not look into PIDs 42"),
            "{text}"
        );
        assert!(text.contains("kernel.yama.ptrace_scope"), "{text}");
        let gone = "Error: Failed to find python version from target process\n\nStack backtrace:\n   0: anyhow\n";
        assert_eq!(
            refused_or_failed(42, gone, Duration::from_secs(1)).to_string(),
            "py-spy failed while starting: Error: Failed to find python version from target process"
        );
        assert_eq!(
            refused_or_failed(42, "\n", Duration::from_secs(9)).to_string(),
            "py-spy failed while starting: it did not start sampling within 9 s"
        );
    }
}
