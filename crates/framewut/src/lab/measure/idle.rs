//! How deep the CPUs may sleep while a run measures.
//!
//! On loopback the load generator is woken by the server's own write: the
//! kernel wakes the generator's thread in the server's system call, on the
//! server's CPU time. Waking a thread is cheap; waking a CPU that has gone
//! into a halt is not, most of all on a virtual machine, where the halted
//! CPU has left to the host and the waker's interrupt goes through it.
//! Measured on a 2-core KVM guest (`bench/wake.py`: a writer on CPU 0
//! timing its own writes to a reader asleep on CPU 1, against a reader
//! that never sleeps): a wake-up cost the writer 0.3 µs when the reader
//! had slept 5 µs, 2.5 µs after 10 µs, 4.7 µs after 20 µs and 11 µs after
//! 40 µs or more. A
//! server pays that on every response that finds the generator asleep,
//! and the generator sleeps more often the slower the cell: an axum db
//! cell's generator slept 0.36 times a request against 0.07 in its hello
//! cell, and each request cost the server 2 µs (16%) more than its parts
//! did. That is an artefact of the generator sharing the machine: a
//! client on another machine is woken by its own network card.
//!
//! So a run holds the kernel's CPU latency request (PM QoS,
//! `/dev/cpu_dma_latency`) at 0 µs while it measures: cpuidle then keeps
//! every idle CPU in its polling state, whose wake-up needs no interrupt.
//! The same writer then paid 0.4 to 0.7 µs a wake-up whatever the
//! reader's sleep, and the axum db cell ran 97k req/s instead of 80k. Time spent
//! polling is still idle time in /proc/stat. The kernel drops the request
//! when the file closes, however the process ends, so nothing is left to
//! restore.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The kernel's CPU latency request device.
const DEVICE: &str = "/dev/cpu_dma_latency";

/// How deep a run lets the CPUs sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CpuIdle {
    /// Idle CPUs poll, so that waking one costs its waker nothing much.
    #[default]
    Shallow,
    /// The machine's own idle states, as it would run without framewut.
    AsIs,
}

impl CpuIdle {
    /// The setting as written in a matrix and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CpuIdle::Shallow => "shallow",
            CpuIdle::AsIs => "as-is",
        }
    }
}

/// What a run asked of the CPUs' idle states and what it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleRecord {
    pub asked: CpuIdle,
    /// Whether the CPUs were held shallow while the run measured.
    pub held: bool,
    /// The cpuidle driver, where the kernel has one (`haltpoll`,
    /// `intel_idle`, ...): without one, the request changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Why shallow idle was asked and not held, and what that means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl IdleRecord {
    /// One sentence for the reports.
    pub fn words(&self) -> String {
        match (self.asked, self.held) {
            (CpuIdle::Shallow, true) => "Idle CPUs were held in their polling state (a CPU latency request of 0 µs) while the run measured, so the server did not pay to wake a halted load generator's CPU.".to_string(),
            (CpuIdle::Shallow, false) => format!(
                "Idle CPUs could not be held in their polling state: {} A server then pays to wake the load generator's halted CPU on some responses (up to 11 µs each on a virtual machine), the more the slower its cell.",
                self.note.as_deref().unwrap_or("the request was refused.")
            ),
            (CpuIdle::AsIs, _) => "Idle CPUs went as deep as the machine lets them (cpu_idle = as-is): a server pays to wake the load generator's halted CPU on some responses, the more the slower its cell.".to_string(),
        }
    }
}

/// A CPU latency request, held until dropped.
#[derive(Debug)]
pub struct IdleHold {
    _request: Option<File>,
}

impl IdleHold {
    /// Asks for `idle` and says what was got.
    pub fn take(idle: CpuIdle) -> (IdleHold, IdleRecord) {
        let driver = std::fs::read_to_string("/sys/devices/system/cpu/cpuidle/current_driver")
            .ok()
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        let (request, note) = match idle {
            CpuIdle::AsIs => (None, None),
            CpuIdle::Shallow => match driver.as_deref() {
                None | Some("none") => (
                    None,
                    Some("this kernel has no cpuidle driver, so a CPU latency request changes nothing (an idle CPU halts).".to_string()),
                ),
                Some(_) => match request_zero(Path::new(DEVICE)) {
                    Ok(file) => (Some(file), None),
                    Err(err) => (None, Some(err)),
                },
            },
        };
        let record = IdleRecord {
            asked: idle,
            held: request.is_some(),
            driver,
            note,
        };
        (IdleHold { _request: request }, record)
    }
}

/// Opens the latency request device and asks for 0 µs: the request holds
/// while the file stays open.
fn request_zero(device: &Path) -> Result<File, String> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map_err(|err| match err.kind() {
            ErrorKind::NotFound => format!("{} does not exist (a kernel without PM QoS).", device.display()),
            ErrorKind::PermissionDenied => format!(
                "{} is writable by root only; run framewut as root, or set cpu_idle = \"as-is\" in the matrix's [placement] (--cpu-idle as-is) to say so.",
                device.display()
            ),
            _ => format!("cannot open {}: {err}.", device.display()),
        })?;
    file.write_all(&0i32.to_ne_bytes())
        .map_err(|err| format!("{} refused a request of 0 µs: {err}.", device.display()))?;
    Ok(file)
}

/// The kernel's CPU latency target now, in microseconds: the least of the
/// requests held. None where it cannot be read.
pub fn latency_target_us() -> Option<i32> {
    let mut bytes = [0u8; 4];
    File::open(DEVICE).ok()?.read_exact(&mut bytes).ok()?;
    Some(i32::from_ne_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_a_note_not_a_failure() {
        let missing = std::env::temp_dir().join(format!("framewut-no-such-{}", std::process::id()));
        let err = request_zero(&missing.join("cpu_dma_latency")).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn a_shallow_hold_sets_the_kernels_target_to_zero_or_says_why_not() {
        let (hold, record) = IdleHold::take(CpuIdle::Shallow);
        if record.held {
            assert_eq!(latency_target_us(), Some(0), "{record:?}");
            assert!(
                record.words().contains("polling state"),
                "{}",
                record.words()
            );
        } else {
            let note = record.note.as_deref().expect("a reason it did not hold");
            assert!(record.words().contains(note), "{}", record.words());
        }
        drop(hold);
    }

    #[test]
    fn as_is_asks_nothing_and_says_so() {
        let (_hold, record) = IdleHold::take(CpuIdle::AsIs);
        assert!(!record.held && record.note.is_none(), "{record:?}");
        assert!(record.words().contains("as-is"), "{}", record.words());
    }

    #[test]
    fn the_setting_round_trips_through_its_names() {
        for idle in [CpuIdle::Shallow, CpuIdle::AsIs] {
            let json = serde_json::to_string(&idle).unwrap();
            assert_eq!(json, format!("\"{}\"", idle.name()));
            assert_eq!(serde_json::from_str::<CpuIdle>(&json).unwrap(), idle);
        }
    }
}
