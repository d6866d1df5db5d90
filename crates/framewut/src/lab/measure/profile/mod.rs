//! Where a running server's CPU goes: a profiler attached to a stack's
//! processes for a window the lab chooses, its samples folded into stacks,
//! a flame graph drawn from them, and the frames that ran the most.
//!
//! The lab profiles in a pass of its own after a cell's trials, never
//! during a measured one: a profiler takes CPU of its own and slows what it
//! watches, so a profile says where the time goes, not how fast the stack is.
//!
//! - [`Profiler::Perf`] for framewut's own stacks and every other native
//!   server: `perf record` with DWARF call graphs, so the
//!   frames of Rust code built with line tables, as framewut's release
//!   build is, resolve to functions, inlined ones included.
//! - [`Profiler::PySpy`] for the Python stacks: py-spy from their virtual
//!   environment, on the stack's first process and its subprocesses
//!   (gunicorn's arbiter and its workers), sampling without pausing them.
//!
//! [`start`] returns once the profiler samples; the lab runs the load for
//! the window it wants, and [`Recording::finish`] stops the profiler and
//! writes `<name>.folded` (one `frame;frame;frame count` line per stack)
//! and `<name>.svg` (a flame graph drawn by inferno). A profiler that is
//! missing or refused is a [`ProfileError`] whose text says what to do:
//! a note for the report, never a failed cell.
//!
//! ```no_run
//! use std::time::Duration;
//! use framewut::lab::measure::profile::{self, Caught, Output, Profiler};
//!
//! let output = Output {
//!     run_dir: "runs/quick".into(),
//!     dir: "profiles".into(),
//!     name: "hello-rust-std-sync-pool".into(),
//!     title: "hello on rust/std/sync-pool, 64 connections".into(),
//! };
//! let stack_pids = [4242];
//! let recording = profile::start(Profiler::Perf, &stack_pids, None, Caught::Running, &output)?;
//! std::thread::sleep(Duration::from_secs(2)); // the load runs meanwhile
//! let profile = recording.finish()?;
//! for frame in &profile.top {
//!     println!("{:5.1}% {}", 100.0 * frame.self_share, frame.name);
//! }
//! # Ok::<(), framewut::lab::measure::profile::ProfileError>(())
//! ```

mod folded;
mod perf;
mod pyspy;
mod record;

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::spec::StackSource;
pub use folded::top_frames;
pub use record::{start, Recording};

/// How many frames a profile lists, by self time.
pub const TOP_FRAMES: usize = 20;

/// The profilers framewut runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profiler {
    /// Linux's `perf record`, for native code.
    Perf,
    /// py-spy, for CPython.
    PySpy,
}

impl Profiler {
    /// The profiler for a stack: py-spy for the Python stacks, perf for
    /// framewut's own and for a command's (whatever it runs); none for a
    /// remote stack, whose processes are not on this machine.
    pub fn for_stack(source: &StackSource) -> Option<Profiler> {
        match source {
            StackSource::Python { .. } | StackSource::App { .. } => Some(Profiler::PySpy),
            StackSource::BuiltIn { .. } | StackSource::External { .. } => Some(Profiler::Perf),
            StackSource::Remote { .. } => None,
        }
    }

    /// How to let it look into another process where it is refused.
    fn way_in(self) -> &'static str {
        match self {
            Profiler::Perf => {
                "run framewut as root, or let perf profile processes: \
                 sysctl -w kernel.perf_event_paranoid=1"
            }
            Profiler::PySpy => {
                "run framewut as root (in a container, with CAP_SYS_PTRACE), or let it trace \
                 its children: sysctl -w kernel.yama.ptrace_scope=0"
            }
        }
    }
}

impl fmt::Display for Profiler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profiler::Perf => "perf",
            Profiler::PySpy => "py-spy",
        })
    }
}

/// Where a recording's files go, and the flame graph's title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The run's directory; a [`Profile`]'s paths are relative to it.
    pub run_dir: PathBuf,
    /// The directory the files go in, relative to `run_dir` (made if missing).
    pub dir: PathBuf,
    /// The files' name before the extension: `<name>.folded`, `<name>.svg`.
    pub name: String,
    /// The flame graph's title, naming the cell.
    pub title: String,
}

impl Output {
    /// `<dir>/<name>.<extension>`, relative to the run's directory.
    fn relative(&self, extension: &str) -> PathBuf {
        self.dir.join(format!("{}.{extension}", self.name))
    }

    /// The same file, where it is.
    fn path(&self, extension: &str) -> PathBuf {
        self.run_dir.join(self.relative(extension))
    }
}

/// What a profile catches: threads running, which says where the CPU goes,
/// or threads leaving the CPU to wait, which says where a stack that hardly
/// runs spends its requests' time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Caught {
    /// Sampled while running: perf 499 times a second of each thread's
    /// CPU, py-spy 199 times a second.
    #[default]
    Running,
    /// Every switch off the CPU, with the stack that waited (perf's
    /// `sched:sched_switch` tracepoint); py-spy's samples of idle threads
    /// as well as running ones (`--idle`).
    Waiting,
}

impl Caught {
    /// What one sample is, in words, for a count of them.
    pub fn unit(self) -> &'static str {
        match self {
            Caught::Running => "samples",
            Caught::Waiting => "switches off the CPU",
        }
    }
}

/// A finished recording: where its files are and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The profiler that recorded it.
    pub profiler: Profiler,
    /// The folded stacks, relative to the run's directory.
    pub folded: PathBuf,
    /// The flame graph, relative to the run's directory.
    pub svg: PathBuf,
    /// Samples in the folded stacks: each is one moment a thread was
    /// caught running, by perf 499 times and by py-spy 199 times a second,
    /// or, when it caught waiting, one switch off the CPU.
    pub samples: u64,
    /// Whether it caught threads running or waiting.
    #[serde(default)]
    pub caught: Caught,
    /// The frames that ran the most themselves, most first (at most
    /// [`TOP_FRAMES`]); caught waiting, the frames that waited the most,
    /// each stack ending in its last frame above the kernel's.
    pub top: Vec<Frame>,
}

/// A function (a frame's name) and the samples that caught it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// As the profiler names it: a demangled Rust path, a C symbol (kernel
    /// ones end in `_[k]`), or py-spy's `function (file:line)`.
    pub name: String,
    /// Samples in which it was the frame running (its self time).
    pub self_samples: u64,
    /// `self_samples` as a share of all samples, 0 to 1.
    pub self_share: f64,
    /// The share of samples in which it was anywhere on the stack, itself
    /// or in what it called.
    pub total_share: f64,
}

/// Why a profile could not be made. Its text says what is missing and what
/// to do, so the lab can write it into the report as a note.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// perf is not on the PATH.
    #[error("perf is not installed: apt-get install linux-perf")]
    PerfMissing,
    /// A Python stack was to be profiled without its environment.
    #[error(
        "py-spy needs the Python stacks' virtual environment, and none was given: \
         run `framewut setup python`"
    )]
    NoPythonEnv,
    /// The environment has no py-spy: it was made before py-spy was pinned.
    #[error(
        "py-spy is not in the Python environment ({}): run `framewut setup python`, \
         which installs it", bin.display()
    )]
    PySpyMissing {
        /// The environment's `bin` directory, where it was looked for.
        bin: PathBuf,
    },
    /// The kernel refused the profiler: perf may not open its events, or
    /// py-spy may not read the processes' memory.
    #[error("{profiler} may not look into PIDs {pids} ({detail}): {}", profiler.way_in())]
    Refused {
        profiler: Profiler,
        /// The PIDs it was started on, as `12,13`.
        pids: String,
        /// What the profiler said.
        detail: String,
    },
    /// The profiler failed otherwise.
    #[error("{profiler} failed while {step}: {detail}")]
    Failed {
        profiler: Profiler,
        /// What it was doing: `starting`, `stopping`, ...
        step: &'static str,
        /// What it said, or what went wrong.
        detail: String,
    },
    /// The stack did not run while it was recorded: an idle server.
    #[error("{profiler} caught none of PIDs {pids} running: the stack used no CPU while it was recorded")]
    NoSamples { profiler: Profiler, pids: String },
    /// Every process it was to profile had exited.
    #[error("there is nothing to profile: none of PIDs {pids} is running")]
    NotRunning { pids: String },
    /// A url stack runs where framewut cannot look.
    #[error("a url stack's processes are not framewut's to profile")]
    NotOurs,
    /// A file of the profile could not be written or read.
    #[error("{action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// PIDs as perf takes them: `12,13,14`.
fn pid_list(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The gist of what a profiler printed when it failed: its first paragraph,
/// on one line, without a backtrace, at most 300 characters.
fn detail(said: &str) -> String {
    let gist: Vec<&str> = said
        .lines()
        .map(str::trim)
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty() && !line.starts_with("Stack backtrace"))
        .collect();
    let gist = gist.join(" ");
    match gist.char_indices().nth(300) {
        Some((end, _)) => format!("{}...", &gist[..end]),
        None => gist,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Where a test's profile goes: `profiles/cell.*` under `run_dir`.
    pub(super) fn output(run_dir: &Path) -> Output {
        Output {
            run_dir: run_dir.to_path_buf(),
            dir: "profiles".into(),
            name: "cell".into(),
            title: "a cell".into(),
        }
    }

    #[test]
    fn each_stack_has_its_profiler() {
        let python = StackSource::Python {
            id: "python/wsgi/gunicorn-sync".into(),
            model: framewut_stacks::Model::SyncPool,
            variant_request: None,
            sleep: crate::python::SleepMode::Blocking,
            client: crate::python::UpstreamClient::Fresh,
        };
        let command = StackSource::External {
            command: "nginx -g 'daemon off;'".into(),
            ready_path: "/".into(),
        };
        let remote = StackSource::Remote {
            url: crate::urls::BaseUrl::parse("http://10.0.0.2:8080").unwrap(),
            ready_path: "/".into(),
            metrics: None,
        };
        assert_eq!(Profiler::for_stack(&python), Some(Profiler::PySpy));
        assert_eq!(Profiler::for_stack(&command), Some(Profiler::Perf));
        assert_eq!(Profiler::for_stack(&remote), None);
        assert_eq!(Profiler::PySpy.to_string(), "py-spy");
        assert_eq!(serde_json::to_value(Profiler::PySpy).unwrap(), "py-spy");
    }

    #[test]
    fn a_profile_round_trips_with_paths_relative_to_the_run() {
        let out = output(Path::new("/runs/r1"));
        assert_eq!(out.path("svg"), Path::new("/runs/r1/profiles/cell.svg"));
        let profile = Profile {
            profiler: Profiler::Perf,
            folded: out.relative("folded"),
            svg: out.relative("svg"),
            samples: 3,
            caught: Caught::Waiting,
            top: top_frames("main;work 2\nmain 1\n", 5),
        };
        let json = serde_json::to_value(&profile).unwrap();
        assert_eq!(json["folded"], "profiles/cell.folded");
        assert_eq!(json["profiler"], "perf");
        assert_eq!(json["caught"], "waiting");
        assert_eq!(json["top"][0]["name"], "work");
        let back: Profile = serde_json::from_value(json).unwrap();
        assert_eq!(back, profile);
    }

    #[test]
    fn the_detail_is_the_first_paragraph_without_a_backtrace() {
        assert_eq!(
            detail("\nError: no such process\nCaused by: gone\n\nmore\n"),
            "Error: no such process Caused by: gone"
        );
        assert_eq!(detail("Error: x\nStack backtrace:\n 0: y\n"), "Error: x");
        assert_eq!(detail(&"x".repeat(400)).len(), 303);
    }
}
