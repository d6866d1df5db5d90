//! What one request cost each side, in parts: the server's and the
//! generator's CPU time in user mode and in the kernel, the interrupt work
//! on their CPUs, their context switches, system calls and (the server's)
//! page faults, and the connections and bytes a request took. Every figure
//! is a count measured over a cell's trials (the system calls over the
//! window perf counted in) divided by the responses it served.

use serde::{Deserialize, Serialize};

use crate::lab::measure::cpustat::CpuSetUsage;
use crate::lab::results::{CellResult, Status};

/// One side's costs per request; none where it was not measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SideCost {
    /// CPU microseconds in user mode: the program's own work.
    pub user_us: Option<f64>,
    /// CPU microseconds in the kernel on the side's behalf: system calls,
    /// and the network work done in its context.
    pub kernel_us: Option<f64>,
    /// Microseconds of interrupt work (irq and softirq) on the side's CPUs,
    /// whoever it was for: on loopback much of the network stack runs here.
    pub interrupts_us: Option<f64>,
    /// Context switches to wait (for I/O, a lock, a sleep), and preemptions.
    pub voluntary_switches: Option<f64>,
    pub involuntary_switches: Option<f64>,
    /// System calls, from perf's count; none with the reason where perf
    /// could not count them.
    pub syscalls: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls_note: Option<String>,
    /// Page faults, minor and major: pages the kernel mapped for the side
    /// (most of them fresh and zeroed), part of its kernel time. Counted
    /// for the stack's processes; none for the generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_faults: Option<f64>,
}

/// A cell's request, taken apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Responses of any status the figures are per.
    pub responses: u64,
    /// The stack's processes (not its upstream's or database's).
    pub server: SideCost,
    /// The load generator's threads.
    pub generator: SideCost,
    /// New connections the generator opened per request: 1 for a load that
    /// closes after each response, near 0 for one that keeps them alive.
    pub connections: f64,
    /// Bytes of requests written and of responses read, per request.
    pub bytes_out: f64,
    pub bytes_in: f64,
}

/// A sum over the trials, where every trial has it.
fn total(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.sum()
}

impl Breakdown {
    /// The breakdown of a measured cell; none for one with no trials or no
    /// response.
    pub fn of(cell: &CellResult) -> Option<Breakdown> {
        if !matches!(cell.status, Status::Ok | Status::Interrupted) {
            return None;
        }
        let trials = &cell.trials;
        let responses: u64 = trials.iter().map(|t| t.load.responses).sum();
        if trials.is_empty() || responses == 0 {
            return None;
        }
        let per = |sum: Option<f64>| sum.map(|s| s / responses as f64);
        let us = |sum: Option<f64>| per(sum).map(|s| s * 1e6);
        let count = |v: Option<u64>| v.map(|v| v as f64);
        let interrupts =
            |side: fn(&crate::lab::measure::cpustat::CpuAccounting) -> &CpuSetUsage| {
                us(total(trials.iter().map(|t| {
                    t.cpus.as_ref().map(|c| {
                        let s = &side(c).seconds;
                        s.irq + s.softirq
                    })
                })))
            };
        let syscalls = cell.syscalls.as_ref();
        let server_calls = syscalls.and_then(|s| s.per_request(s.server));
        let generator_calls = syscalls.and_then(|s| s.per_request(s.generator));
        let missing = |note: Option<&String>| {
            note.cloned().or_else(|| {
                syscalls
                    .is_none()
                    .then(|| "not counted: this cell's results come from before framewut counted system calls, or its last start was stopped".to_string())
            })
        };
        let measured = cell
            .trials
            .iter()
            .all(|t| t.server.method != crate::lab::measure::cgroup::Method::Unmeasured);
        let server = SideCost {
            user_us: us(total(trials.iter().map(|t| t.server.user_s))).filter(|_| measured),
            kernel_us: us(total(trials.iter().map(|t| t.server.system_s))).filter(|_| measured),
            interrupts_us: interrupts(|c| &c.server),
            voluntary_switches: per(total(
                trials.iter().map(|t| count(t.server.voluntary_switches)),
            )),
            involuntary_switches: per(total(
                trials.iter().map(|t| count(t.server.involuntary_switches)),
            )),
            syscalls: server_calls,
            syscalls_note: server_calls
                .is_none()
                .then(|| missing(syscalls.and_then(|s| s.server_note.as_ref())))
                .flatten(),
            page_faults: per(total(trials.iter().map(|t| count(t.server.page_faults)))),
        };
        let generator = SideCost {
            user_us: us(Some(
                trials.iter().map(|t| t.load.generator_cpu.user_s).sum(),
            )),
            kernel_us: us(Some(
                trials.iter().map(|t| t.load.generator_cpu.system_s).sum(),
            )),
            interrupts_us: interrupts(|c| &c.generator),
            voluntary_switches: per(total(
                trials
                    .iter()
                    .map(|t| count(t.load.generator_cpu.voluntary_switches)),
            )),
            involuntary_switches: per(total(
                trials
                    .iter()
                    .map(|t| count(t.load.generator_cpu.involuntary_switches)),
            )),
            syscalls: generator_calls,
            syscalls_note: generator_calls
                .is_none()
                .then(|| missing(syscalls.and_then(|s| s.generator_note.as_ref())))
                .flatten(),
            page_faults: None,
        };
        let sum = |f: fn(&framewut_load::Summary) -> u64| -> f64 {
            trials.iter().map(|t| f(&t.load)).sum::<u64>() as f64 / responses as f64
        };
        Some(Breakdown {
            responses,
            server,
            generator,
            connections: sum(|s| s.connections_opened),
            bytes_out: sum(|s| s.bytes_sent),
            bytes_in: sum(|s| s.bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::fake::trial;
    use crate::lab::measure::syscalls::{Count, Syscalls};
    use crate::lab::results::CellResult;

    #[test]
    fn every_part_is_a_measured_count_over_the_responses() {
        let spec = crate::lab::fake::cell(
            "scenarios = [\"hello\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\n",
        );
        let mut cell = CellResult::pending(spec);
        cell.status = Status::Ok;
        cell.trials = vec![trial(900, &[100], 0, 0.5), trial(1100, &[100], 0, 0.5)];
        let responses: u64 = cell.trials.iter().map(|t| t.load.responses).sum();
        assert_eq!(responses, 2000);
        cell.syscalls = Some(Syscalls::of(
            1.0,
            1000,
            Ok(Count {
                calls: 2000,
                counted_s: 0.5,
            }),
            Err(crate::lab::measure::syscalls::CountError::NoPerf),
        ));
        let b = Breakdown::of(&cell).unwrap();
        // Each fake trial's server used 0.4 s in user mode and 0.1 s in
        // the kernel: 0.8 s and 0.2 s over 2,000 responses.
        assert!((b.server.user_us.unwrap() - 400.0).abs() < 1e-9, "{b:?}");
        assert!((b.server.kernel_us.unwrap() - 100.0).abs() < 1e-9, "{b:?}");
        // Switches of rate each: 900 + 1,100 over 2,000.
        assert_eq!(b.server.voluntary_switches, Some(1.0));
        // 4,000 calls a second over 1,000 responses a second.
        assert_eq!(b.server.syscalls, Some(4.0));
        assert_eq!(b.generator.syscalls, None);
        assert_eq!(
            b.generator.syscalls_note.as_deref(),
            Some("perf is not installed (Debian's linux-perf: apt-get install linux-perf)")
        );
        assert_eq!(b.connections, 16.0 / 2000.0);
        // Trials without /proc/stat's accounting have no interrupt figure.
        assert_eq!(b.server.interrupts_us, None);
        assert!(Breakdown::of(&CellResult::pending(cell.config.clone())).is_none());
    }
}
