//! System calls per request, counted by perf over one window of a load.
//!
//! `perf stat -e raw_syscalls:sys_enter` counts every system call the
//! threads it is given enter. While such a counter is open the kernel takes
//! its slower system-call path for every task, so the lab counts only in a
//! window of its own after the trials, never in one whose rate or CPU it
//! reports. perf takes a fifth of a second or so to start, so it counts in
//! intervals (`-I`) and says how long it counted; the calls per request are
//! its rate of calls over the window's rate of responses, both steady in a
//! window of a steady load.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cpus::CpuSet;
use super::process::{Group, GRACE};

/// The tracepoint every system call passes.
const EVENT: &str = "raw_syscalls:sys_enter";

/// perf's interval, in milliseconds: the resolution of the time it counted.
const INTERVAL_MS: u32 = 100;

/// What a window's count found: the calls of each side and the responses
/// they served, or why a side has no count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Syscalls {
    /// The window perf counted in: its length and the responses in it.
    pub window_s: f64,
    pub responses: u64,
    /// The stack's processes (every thread of each), or why they were not
    /// counted.
    pub server: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_note: Option<String>,
    /// The load generator's threads, or why they were not counted.
    pub generator: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_note: Option<String>,
}

/// System calls counted over a span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub calls: u64,
    /// How long perf counted, from its first interval's start to its last
    /// one's end: a little less than the window.
    pub counted_s: f64,
}

impl Syscalls {
    /// A window's counts, each side's or the reason it has none.
    pub fn of(
        window_s: f64,
        responses: u64,
        server: Result<Count, CountError>,
        generator: Result<Count, CountError>,
    ) -> Syscalls {
        Syscalls {
            window_s,
            responses,
            server_note: server.as_ref().err().map(CountError::to_string),
            server: server.ok(),
            generator_note: generator.as_ref().err().map(CountError::to_string),
            generator: generator.ok(),
        }
    }

    /// One side's calls per response: its rate of calls over the window's
    /// rate of responses.
    pub fn per_request(&self, count: Option<Count>) -> Option<f64> {
        let count = count?;
        (self.responses > 0 && count.counted_s > 0.0 && self.window_s > 0.0).then(|| {
            (count.calls as f64 / count.counted_s) / (self.responses as f64 / self.window_s)
        })
    }
}

/// Why a side's system calls were not counted.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error("nothing to count: no process or thread was found")]
    Nothing,
    #[error("perf is not installed (Debian's linux-perf: apt-get install linux-perf)")]
    NoPerf,
    #[error("cannot start perf: {0}")]
    Start(#[source] std::io::Error),
    #[error("perf did not stop within {GRACE:?} of SIGINT")]
    NotStopped,
    /// perf ended without a count, and said why.
    #[error("perf counted nothing: {0}")]
    Said(String),
    /// perf ended without a count and without a word.
    #[error("perf counted nothing ({status}) in {seconds:.1} s")]
    Silent { status: String, seconds: f64 },
}

/// A perf counting some threads or processes.
#[derive(Debug)]
pub struct Counting {
    group: Group,
    output: PathBuf,
    started: Instant,
}

/// What to count: whole processes (every thread of each), or threads.
#[derive(Debug, Clone, Copy)]
pub enum Counted<'a> {
    Processes(&'a [i32]),
    Threads(&'a [i32]),
}

impl Counting {
    /// Starts perf counting the system calls of `what`, pinned to `cpus`
    /// (the generator's, so it takes nothing from the server). The thread
    /// that calls this must outlive the count: perf dies with it.
    pub fn start(what: Counted, cpus: &CpuSet) -> Result<Counting, CountError> {
        let (flag, ids) = match what {
            Counted::Processes(ids) => ("-p", ids),
            Counted::Threads(ids) => ("-t", ids),
        };
        if ids.is_empty() {
            return Err(CountError::Nothing);
        }
        let list: Vec<String> = ids.iter().map(i32::to_string).collect();
        let output = std::env::temp_dir().join(format!(
            "framewut-syscalls-{}-{}.csv",
            std::process::id(),
            ids[0]
        ));
        let mut command = Command::new("perf");
        command
            .args([
                "stat",
                "-x",
                ",",
                "-I",
                &INTERVAL_MS.to_string(),
                "-e",
                EVENT,
            ])
            .arg("-o")
            .arg(&output)
            .args([flag, &list.join(",")]);
        let group = Group::spawn(command, Some(cpus), None).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CountError::NoPerf
            } else {
                CountError::Start(e)
            }
        })?;
        Ok(Counting {
            group,
            output,
            started: Instant::now(),
        })
    }

    /// Stops perf (SIGINT, on which it writes its last interval) and reads
    /// what it counted.
    pub fn finish(mut self) -> Result<Count, CountError> {
        // SAFETY: a signal to the perf this lab started, by its PID.
        unsafe {
            libc::kill(self.group.pid() as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + GRACE;
        let status = loop {
            if let Some(status) = self.group.exited() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.group.stop(GRACE);
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        let _ = std::fs::remove_file(&self.output);
        let why = || {
            let said = self.group.stderr_tail();
            let said = said.lines().last().unwrap_or("").trim();
            match status {
                None => CountError::NotStopped,
                Some(_) if !said.is_empty() => CountError::Said(said.to_string()),
                Some(status) => CountError::Silent {
                    status: status.to_string(),
                    seconds: self.started.elapsed().as_secs_f64(),
                },
            }
        };
        parse(&text).ok_or_else(why)
    }
}

/// The sum and span of `perf stat -x, -I` output: lines of `time,count,
/// unit,event,...`, each interval's calls, the time at its end. `None`
/// when no interval counted (perf failed, or `<not supported>`).
fn parse(text: &str) -> Option<Count> {
    let mut calls = 0u64;
    let mut last = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 4 || fields[3] != EVENT {
            continue;
        }
        let (Ok(at), Ok(n)) = (fields[0].parse::<f64>(), fields[1].parse::<u64>()) else {
            continue;
        };
        calls += n;
        last = Some(at);
    }
    Some(Count {
        calls,
        counted_s: last?,
    })
}

/// The threads of this process that run a load (the engine names them
/// `framewut-load-N`).
pub fn load_threads() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let tid = task.file_name().to_str()?.parse().ok()?;
            comm.starts_with("framewut-load").then_some(tid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_intervals_and_takes_the_last_ones_end() {
        let text = "# started on Sun Dec  6 12:00:00 2026\n\n\
                    \x20    0.100271816,156865,,raw_syscalls:sys_enter,99423917,100.00,,\n\
                    \x20    0.200629053,203474,,raw_syscalls:sys_enter,99973921,100.00,,\n\
                    \x20    0.240367440,25810,,raw_syscalls:sys_enter,38458204,100.00,,\n";
        let count = parse(text).unwrap();
        assert_eq!(count.calls, 156_865 + 203_474 + 25_810);
        assert!((count.counted_s - 0.240367440).abs() < 1e-12);
        assert!(parse("").is_none());
        assert!(parse("     0.1,<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n").is_none());
    }

    #[test]
    fn calls_per_request_are_a_ratio_of_rates() {
        let s = Syscalls::of(
            2.0,
            1000,
            Ok(Count {
                calls: 4500,
                counted_s: 1.8,
            }),
            Err(CountError::NoPerf),
        );
        // 2,500 calls a second over 500 responses a second.
        assert!((s.per_request(s.server).unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(s.per_request(s.generator), None);
        assert!(s
            .generator_note
            .as_deref()
            .unwrap()
            .starts_with("perf is not installed"));
    }

    /// perf counts a real process that does little but call the kernel.
    #[test]
    fn counts_the_calls_of_a_real_process() {
        let mut busy = Command::new("python3");
        busy.args([
            "-c",
            "import os, time\nend = time.time() + 3\nwhile time.time() < end: os.getppid()",
        ]);
        let mut child = Group::spawn(busy, None, None).unwrap();
        let pid = child.pid() as i32;
        let counting = match Counting::start(Counted::Processes(&[pid]), &CpuSet::allowed()) {
            Ok(c) => c,
            Err(why) => panic!("perf is needed by this test: {why}"),
        };
        std::thread::sleep(Duration::from_millis(800));
        let count = counting.finish();
        child.stop(GRACE);
        let count = count.unwrap();
        // getppid is a real system call: hundreds of thousands a second,
        // however busy the machine is, for as long as perf counted.
        assert!(count.counted_s > 0.2 && count.counted_s < 1.0, "{count:?}");
        assert!(count.calls as f64 / count.counted_s > 20_000.0, "{count:?}");
    }

    #[test]
    fn an_empty_list_is_refused_with_the_reason() {
        let why = Counting::start(Counted::Threads(&[]), &CpuSet::allowed()).unwrap_err();
        assert!(matches!(why, CountError::Nothing), "{why}");
    }
}
