//! The profiler against real processes: perf on a busy shell loop, py-spy
//! on a Python busy loop and its forked child, a second each.
//!
//! That the frames of a `framewut serve` stack resolve is checked by hand
//! on the release build: `perf script` resolves inlined frames with
//! addr2line, which takes 50 s over the full debug info of a test build,
//! and 3 s over the release build's line tables.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use framewut::lab::measure::profile::{self, Caught, Output, Profile, Profiler};
use quick_xml::events::Event;
use support::{run_bounded, text, Scratch};

/// How long each recording samples.
const WINDOW: Duration = Duration::from_secs(1);

/// A child process killed and reaped when the test ends, however it ends.
struct Busy(Child);

impl Busy {
    fn start(command: &mut Command) -> Busy {
        Busy(
            command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process that a test's own child forked, killed by its PID when the
/// test ends: killing the child leaves what it forked running.
struct Forked(u32);

impl Drop for Forked {
    fn drop(&mut self) {
        // SAFETY: a signal to one PID this test's child forked.
        unsafe {
            libc::kill(self.0 as i32, libc::SIGKILL);
        }
    }
}

fn output(dir: &Scratch, title: &str) -> Output {
    Output {
        run_dir: dir.0.clone(),
        dir: "profiles".into(),
        name: "cell".into(),
        title: title.into(),
    }
}

/// The profile's files exist, the folded stacks hold its samples, and the
/// flame graph is well-formed XML whose root is `<svg>`.
fn check_files(dir: &Scratch, profile: &Profile, title: &str) -> String {
    assert_eq!(profile.folded, Path::new("profiles/cell.folded"));
    assert_eq!(profile.svg, Path::new("profiles/cell.svg"));
    let folded = std::fs::read_to_string(dir.0.join(&profile.folded)).unwrap();
    let counted: u64 = folded
        .lines()
        .map(|line| line.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, profile.samples);
    let svg = std::fs::read_to_string(dir.0.join(&profile.svg)).unwrap();
    let mut reader = quick_xml::Reader::from_str(&svg);
    let mut root = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(tag)) if root.is_none() => {
                root = Some(String::from_utf8_lossy(tag.name().as_ref()).into_owned());
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(err) => panic!(
                "the flame graph is not XML at byte {}: {err}",
                reader.error_position()
            ),
        }
    }
    assert_eq!(root.as_deref(), Some("svg"));
    assert!(
        svg.contains(&title.replace('&', "&amp;")),
        "no title in the flame graph"
    );
    let left: Vec<PathBuf> = std::fs::read_dir(dir.0.join("profiles"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("folded" | "svg")
            )
        })
        .collect();
    assert!(left.is_empty(), "the profiler's own files remain: {left:?}");
    folded
}

/// perf on `process` for a window, catching it as `caught`.
fn perf_window(process: &Busy, caught: Caught, dir: &Scratch, title: &str) -> Profile {
    let pids = [process.0.id()];
    let recording =
        profile::start(Profiler::Perf, &pids, None, caught, &output(dir, title)).unwrap();
    std::thread::sleep(WINDOW);
    let profile = recording.finish().unwrap();
    assert_eq!((profile.profiler, profile.caught), (Profiler::Perf, caught));
    profile
}

#[test]
fn perf_records_a_busy_native_process() {
    let busy = Busy::start(Command::new("sh").args(["-c", "while :; do :; done"]));
    let dir = Scratch::new("profile-perf");
    let title = "a shell loop & nothing else";
    let profile = perf_window(&busy, Caught::Running, &dir, title);
    // 499 a second of a thread on a CPU; fewer where others take the CPU.
    assert!(
        (50..=1000).contains(&profile.samples),
        "{} samples",
        profile.samples
    );
    let folded = check_files(&dir, &profile, title);
    // dash has no symbols, and its frames are named by the file; the C
    // library's are named by function.
    assert!(folded.contains(";__libc_start"), "{folded}");
    assert!(!profile.top.is_empty());
    let share: f64 = profile.top.iter().map(|f| f.self_share).sum();
    assert!(share > 0.0 && share <= 1.0 + 1e-9, "{share}");
}

/// A process that only sleeps, caught waiting: every switch off the CPU is
/// a sample, and its stack goes down through the sleep it waits in.
#[test]
fn perf_catches_a_sleeping_process_waiting() {
    let sleeper = Busy::start(
        Command::new("python3").args(["-c", "import time\nwhile True:\n    time.sleep(0.005)"]),
    );
    let dir = Scratch::new("profile-perf-waiting");
    let title = "a Python process sleeping 5 ms at a time";
    let profile = perf_window(&sleeper, Caught::Waiting, &dir, title);
    // At most one switch per 5 ms sleep over the window (plus its start
    // and end), and many fewer only on a machine too busy to wake it.
    assert!(
        (20..=WINDOW.as_millis() as u64 / 5 + 20).contains(&profile.samples),
        "{} switches",
        profile.samples
    );
    let folded = check_files(&dir, &profile, title);
    assert!(folded.contains("nanosleep"), "{folded}");
}

/// A virtual environment with the py-spy python/requirements.txt pins, made
/// on first use.
fn py_spy_env() -> PathBuf {
    let pin = include_str!("../../../python/requirements.txt")
        .lines()
        .find(|line| line.starts_with("py-spy=="))
        .expect("python/requirements.txt pins py-spy");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(pin.replace("==", "-"));
    if venv.join("bin/py-spy").exists() {
        return venv;
    }
    // Made beside its final place and renamed there, so a run cut short
    // leaves no half-made environment that looks finished.
    let making = venv.with_extension(format!("making-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&making);
    for (what, program, args) in [
        (
            "making a virtual environment",
            PathBuf::from("python3"),
            vec!["-m", "venv"],
        ),
        (
            "pip install py-spy",
            making.join("bin/pip"),
            vec!["install", "--quiet", "--disable-pip-version-check", pin],
        ),
    ] {
        let mut command = Command::new(program);
        command.args(args);
        if what.starts_with("making") {
            command.arg(&making);
        }
        let out = run_bounded(command, Duration::from_secs(300));
        assert!(
            out.status.success(),
            "{what} failed (python3 with venv and pip, and PyPI, are needed: apt-get install python3-venv): {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    if std::fs::rename(&making, &venv).is_err() {
        // Another test process made it first; its copy serves as well.
        let _ = std::fs::remove_dir_all(&making);
    }
    venv
}

/// A Python process that forks, both busy in a function with a name to find.
const BUSY_PYTHON: &str = "\
import os, sys, time
def framewut_busy_function():
    total = 0
    for i in range(10000):
        total += i * i
    return total
os.fork()
print('busy', flush=True)
end = time.time() + 10
while time.time() < end:
    framewut_busy_function()
";

#[test]
fn py_spy_names_the_busy_python_function_in_both_processes() {
    let venv = py_spy_env();
    let dir = Scratch::new("profile-py-spy");
    // A file, not `-c`: py-spy names a process by its command line, which
    // would hold the script's newlines.
    let script = dir.write("busy.py", BUSY_PYTHON);
    let mut busy = Busy(
        Command::new(venv.join("bin/python"))
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Both processes print once they run; the child is the parent's only one.
    let mut said = [0u8; 10];
    busy.0
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut said)
        .unwrap();
    let parent = busy.0.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    let child = loop {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            break pid.parse::<u32>().unwrap();
        }
        assert!(Instant::now() < deadline, "the Python process did not fork");
        std::thread::sleep(Duration::from_millis(10));
    };
    let _forked = Forked(child);
    let title = "a Python busy loop";
    let recording = profile::start(
        Profiler::PySpy,
        &[parent, child],
        Some(&venv.join("bin")),
        Caught::Running,
        &output(&dir, title),
    )
    .unwrap();
    std::thread::sleep(WINDOW);
    let profile = recording.finish().unwrap();
    assert_eq!(profile.profiler, Profiler::PySpy);
    let folded = check_files(&dir, &profile, title);
    let top = &profile.top[0];
    assert!(
        top.name.starts_with("framewut_busy_function (busy.py:2)"),
        "{:?}",
        profile.top
    );
    assert!(top.self_share > 0.5, "{:?}", profile.top);
    // The child's stacks sit under the parent's process frame, PIDs gone.
    assert!(
        folded
            .lines()
            .any(|line| line.matches("process \"").count() == 2),
        "no stack of the forked child:\n{folded}"
    );
    assert!(!folded.contains(&format!("process {parent}:")), "{folded}");
}
