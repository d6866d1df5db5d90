//! perf: `perf record` attached to a stack's processes, and `perf script`
//! folded by inferno.
//!
//! perf starts with its events disabled (`--delay=-1`) and a control pipe
//! (`--control fd:...`): framewut writes `enable` down it and waits for
//! perf's `ack`, so [`record`] returns once samples are being taken, and a
//! perf that cannot open its events (no permission, a PID gone) is known at
//! once by the pipe's closing, not guessed from a pause.
//!
//! Samples carry DWARF call graphs (16 KiB of stack each): frame pointers
//! are off in framewut's release build, and DWARF also names the functions
//! inlined into their callers, which in an LTO build is most of them.
//! `--no-buildid-cache` keeps perf from copying every binary it meets into
//! `~/.debug`; `perf script` reads them where they are, as they still are
//! when the lab folds the samples a moment later.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use inferno::collapse::perf::{Folder, Options};
use inferno::collapse::Collapse;

use super::{detail, Caught, ProfileError, Profiler};
use crate::lab::measure::process::{Group, GRACE};

/// The program run: perf from the PATH (Debian's linux-perf).
pub const PROGRAM: &str = "perf";

/// Samples a second per thread: a prime, so sampling does not beat in time
/// with a periodic task of the server's.
const FREQUENCY: &str = "499";

/// Starts `program record` on `pids`, writing `data`, and waits up to
/// `limit` for it to take samples. The returned file is the control pipe's
/// write end, kept open while perf runs (its closing would read as a
/// command's end).
pub fn record(
    program: &OsStr,
    pids: &[u32],
    caught: Caught,
    data: &Path,
    limit: Duration,
) -> Result<(Group, File), ProfileError> {
    let pipes = || -> io::Result<_> { Ok((io::pipe()?, io::pipe()?)) };
    let ((control_read, control_write), (ack_read, ack_write)) =
        pipes().map_err(|source| failed("making its control pipe", source.to_string()))?;
    let perf_ends = [control_read.as_raw_fd(), ack_write.as_raw_fd()];
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let mut command = Command::new(program);
    command
        .args(["record", "--no-buildid-cache", "--delay=-1", "--control"])
        .arg(format!("fd:{},{}", perf_ends[0], perf_ends[1]))
        .args(match caught {
            Caught::Running => ["-F", FREQUENCY],
            Caught::Waiting => ["-e", "sched:sched_switch"],
        })
        .args(["-g", "--call-graph", "dwarf,16384", "-p"])
        .arg(list.join(","))
        .arg("-o")
        .arg(data);
    // SAFETY: fcntl is async-signal-safe; the descriptors were opened
    // before the fork and are this child's to keep.
    unsafe {
        command.pre_exec(move || {
            for fd in perf_ends {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut group = match Group::spawn(command, None, None) {
        Ok(group) => group,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(ProfileError::PerfMissing),
        Err(err) => return Err(failed("starting", err.to_string())),
    };
    // Only perf holds these ends now: its exit closes the ack pipe.
    drop(control_read);
    drop(ack_write);
    let mut control = File::from(OwnedFd::from(control_write));
    let acked = control
        .write_all(b"enable\n")
        .and_then(|()| wait_for_ack(File::from(OwnedFd::from(ack_read)), limit));
    match acked {
        Ok(true) => Ok((group, control)),
        Ok(false) | Err(_) if group.exited().is_some() || wait_exit(&mut group) => {
            group.stop(GRACE);
            Err(refused_or_failed(pids, &group.stderr_tail()))
        }
        Ok(false) => Err(failed("starting", "it closed its control pipe".into())),
        Err(err) => {
            group.stop(GRACE);
            Err(failed("starting", err.to_string()))
        }
    }
}

/// Runs `program script` on `data` and folds what it prints with inferno,
/// one count a sample, the kernel's frames marked `_[k]`.
pub fn fold(program: &OsStr, data: &Path) -> Result<String, ProfileError> {
    // Without the period among the fields, inferno counts each sample
    // once, as py-spy's are, instead of weighing it by its nanoseconds.
    // Without --no-inline, perf asks addr2line for every address's inlined
    // frames: 3 s of samples of a debug build took 69 s to print instead
    // of 0.6 s, for 4% more lines.
    let mut child = Command::new(program)
        .args([
            "script",
            "--no-inline",
            "-F",
            "comm,pid,tid,time,event,ip,sym,dso",
            "-i",
        ])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => ProfileError::PerfMissing,
            _ => script_failed(err.to_string()),
        })?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut options = Options::default();
    options.annotate_kernel = true;
    let mut folder = Folder::from(options);
    let mut folded = Vec::new();
    let collapsed = folder.collapse(BufReader::new(stdout), &mut folded);
    if collapsed.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|err| script_failed(err.to_string()))?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(script_failed(format!("{status}: {}", detail(&errors))));
    }
    collapsed.map_err(|err| script_failed(format!("folding its output: {err}")))?;
    String::from_utf8(folded).map_err(|err| script_failed(err.to_string()))
}

/// Reads the ack pipe until perf acknowledges (true) or closes it (false),
/// for up to `limit`.
fn wait_for_ack(mut acks: File, limit: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + limit;
    let mut read = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd {
            fd: acks.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one pollfd that lives across the call.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no acknowledgement within {} s", limit.as_secs()),
                ))
            }
            n if n < 0 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            _ => {
                let mut buf = [0u8; 64];
                let n = acks.read(&mut buf)?;
                if n == 0 {
                    return Ok(false);
                }
                read.extend_from_slice(&buf[..n]);
                if read.windows(3).any(|w| w == b"ack") {
                    return Ok(true);
                }
            }
        }
    }
}

/// Waits a moment for a perf that closed its pipe to exit; true if it did.
fn wait_exit(group: &mut Group) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if group.exited().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Why perf exited before sampling, from what it printed: refused for want
/// of permission, or failed for another reason (a PID gone, an old perf).
fn refused_or_failed(pids: &[u32], stderr: &str) -> ProfileError {
    let refused = [
        "perf_event_paranoid",
        "No permission",
        "Permission denied",
        "Operation not permitted",
    ];
    if refused.iter().any(|sign| stderr.contains(sign)) {
        ProfileError::Refused {
            profiler: Profiler::Perf,
            pids: super::pid_list(pids),
            detail: detail(stderr),
        }
    } else {
        failed("starting", detail(stderr))
    }
}

fn failed(step: &'static str, detail: String) -> ProfileError {
    ProfileError::Failed {
        profiler: Profiler::Perf,
        step,
        detail,
    }
}

fn script_failed(detail: String) -> ProfileError {
    failed("printing its samples (perf script)", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_told_from_other_failures() {
        let paranoid =
            "Error:\nAccess to performance monitoring and observability operations is limited.\n\
                        Consider adjusting /proc/sys/kernel/perf_event_paranoid setting\n";
        let err = refused_or_failed(&[7, 8], paranoid);
        assert!(matches!(err, ProfileError::Refused { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("PIDs 7,8"), "{text}");
        assert!(text.contains("kernel.perf_event_paranoid=1"), "{text}");
        let gone = refused_or_failed(&[7], "Couldn't create thread/CPU maps: No such process\n");
        assert_eq!(
            gone.to_string(),
            "perf failed while starting: Couldn't create thread/CPU maps: No such process"
        );
    }
}
