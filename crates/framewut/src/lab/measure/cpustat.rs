//! Where a set of CPUs' time went over a window, from `/proc/stat`: user,
//! nice, system, irq, softirq, steal, idle and iowait, as seconds and as
//! shares of the window, the part of the window no counter holds, and how
//! much of the busy time belonged to processes other than the ones measured.
//!
//! A process's own CPU time says how busy it was; it cannot say why a server
//! pinned to one core fell short while that core looked half idle to it.
//! The per-CPU counters can: time the hypervisor gave to another guest
//! (steal), interrupt and loopback network work (irq, softirq), and other
//! processes sharing the core (the busy time that none of the measured
//! processes accounts for).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cpus::CpuSet;

/// One CPU's counters in `/proc/stat`, in clock ticks since boot. The
/// guest columns are left out: the kernel already counts guest time in user
/// and nice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ticks {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl Ticks {
    /// The counters accumulated from `self` to `later`; a counter that went
    /// backwards (a CPU taken offline and back) counts as zero.
    fn until(self, later: Ticks) -> Ticks {
        Ticks {
            user: later.user.saturating_sub(self.user),
            nice: later.nice.saturating_sub(self.nice),
            system: later.system.saturating_sub(self.system),
            idle: later.idle.saturating_sub(self.idle),
            iowait: later.iowait.saturating_sub(self.iowait),
            irq: later.irq.saturating_sub(self.irq),
            softirq: later.softirq.saturating_sub(self.softirq),
            steal: later.steal.saturating_sub(self.steal),
        }
    }

    fn add(&mut self, other: Ticks) {
        self.user += other.user;
        self.nice += other.nice;
        self.system += other.system;
        self.idle += other.idle;
        self.iowait += other.iowait;
        self.irq += other.irq;
        self.softirq += other.softirq;
        self.steal += other.steal;
    }

    /// The counter of one mode.
    fn of(self, mode: Mode) -> u64 {
        match mode {
            Mode::User => self.user,
            Mode::Nice => self.nice,
            Mode::System => self.system,
            Mode::Idle => self.idle,
            Mode::Iowait => self.iowait,
            Mode::Irq => self.irq,
            Mode::Softirq => self.softirq,
            Mode::Steal => self.steal,
        }
    }

    fn total(self) -> u64 {
        Mode::ALL.iter().map(|m| self.of(*m)).sum()
    }

    /// The busy modes' ticks, as [`Mode::is_busy`] defines them.
    fn busy(self) -> u64 {
        Mode::ALL
            .iter()
            .filter(|m| m.is_busy())
            .map(|m| self.of(*m))
            .sum()
    }
}

/// What a CPU spends its time on, as `/proc/stat` counts it and
/// node_exporter labels it (`mode`): the one definition of busy CPU for
/// this machine's counters and a remote host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    User,
    Nice,
    System,
    Idle,
    Iowait,
    Irq,
    Softirq,
    Steal,
}

impl Mode {
    pub const ALL: [Mode; 8] = [
        Mode::User,
        Mode::Nice,
        Mode::System,
        Mode::Idle,
        Mode::Iowait,
        Mode::Irq,
        Mode::Softirq,
        Mode::Steal,
    ];

    /// The mode a node_exporter `mode` label names; none for any other.
    pub fn from_label(label: &str) -> Option<Mode> {
        Some(match label {
            "user" => Mode::User,
            "nice" => Mode::Nice,
            "system" => Mode::System,
            "idle" => Mode::Idle,
            "iowait" => Mode::Iowait,
            "irq" => Mode::Irq,
            "softirq" => Mode::Softirq,
            "steal" => Mode::Steal,
            _ => return None,
        })
    }

    /// Whether time in this mode is the guest running something:
    /// processes (user, nice, system) and interrupts (irq, softirq). Idle
    /// and iowait are not; nor is steal, the host running someone else.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            Mode::User | Mode::Nice | Mode::System | Mode::Irq | Mode::Softirq
        )
    }
}

/// Every CPU's counters at one instant, by CPU number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<usize, Ticks>);

/// Reads the `cpuN` lines of `/proc/stat` text; the all-CPU `cpu` line and
/// every other line are skipped. Kernels older than the steal column leave
/// the missing counters at zero.
pub fn parse(text: &str) -> Snapshot {
    let mut cpus = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(cpu) = fields
            .next()
            .and_then(|name| name.strip_prefix("cpu"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let v: Vec<u64> = fields.map_while(|f| f.parse().ok()).collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        cpus.insert(
            cpu,
            Ticks {
                user: at(0),
                nice: at(1),
                system: at(2),
                idle: at(3),
                iowait: at(4),
                irq: at(5),
                softirq: at(6),
                steal: at(7),
            },
        );
    }
    Snapshot(cpus)
}

/// Reads `/proc/stat` now; `None` where it cannot be read.
pub fn read() -> Option<Snapshot> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    Some(parse(&text)).filter(|s| !s.0.is_empty())
}

/// The eight counters, and the time none of them holds, as seconds or as
/// shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Times {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub idle: f64,
    pub iowait: f64,
    /// The window's length times the number of CPUs, less what the
    /// counters hold, at least 0. The kernel counts by clock ticks; on a
    /// virtual machine a tick the host took away without reporting steal
    /// is counted nowhere, while a process's own CPU time, read from the
    /// clock, still grows.
    pub uncounted: f64,
}

impl Times {
    fn of(ticks: Ticks, uncounted_ticks: f64, scale: f64) -> Times {
        let s = |t: u64| t as f64 * scale;
        Times {
            uncounted: uncounted_ticks * scale,
            user: s(ticks.user),
            nice: s(ticks.nice),
            system: s(ticks.system),
            irq: s(ticks.irq),
            softirq: s(ticks.softirq),
            steal: s(ticks.steal),
            idle: s(ticks.idle),
            iowait: s(ticks.iowait),
        }
    }
}

/// How one set of CPUs spent a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuSetUsage {
    pub cpus: CpuSet,
    /// The window's length times the number of CPUs, or the counters'
    /// total if that is more (a tick's rounding): the time to account for.
    pub total_s: f64,
    /// Each counter in seconds, summed over the CPUs.
    pub seconds: Times,
    /// Each counter as a share of `total_s`; the nine add up to 1.
    pub shares: Times,
    /// user + nice + system + irq + softirq: time these CPUs ran anything
    /// for this guest (steal is the host running someone else).
    pub busy_s: f64,
    pub busy_share: f64,
    /// CPU seconds of the processes measured on these CPUs over the window.
    pub measured_s: f64,
    /// busy_s - measured_s, at least 0: time that belonged to other
    /// processes, kernel threads, or interrupt work done for no process in
    /// particular (softirq and irq are also shown by themselves).
    pub other_s: f64,
    pub other_share: f64,
}

impl CpuSetUsage {
    /// The usage of `cpus` between two snapshots taken `window` apart,
    /// `measured_s` being the CPU time of the processes measured on them;
    /// `tick` is the length of one clock tick.
    pub fn between(
        before: &Snapshot,
        after: &Snapshot,
        window: Duration,
        cpus: &CpuSet,
        measured_s: f64,
        tick: Duration,
    ) -> CpuSetUsage {
        let mut sum = Ticks::default();
        for cpu in cpus.cpus() {
            if let (Some(a), Some(b)) = (before.0.get(cpu), after.0.get(cpu)) {
                sum.add(a.until(*b));
            }
        }
        let tick = tick.as_secs_f64();
        let counted = sum.total() as f64;
        let window_ticks = window.as_secs_f64() * cpus.count() as f64 / tick;
        let uncounted = (window_ticks - counted).max(0.0);
        let total = counted + uncounted;
        let share = if total > 0.0 { 1.0 / total } else { 0.0 };
        let busy_s = sum.busy() as f64 * tick;
        let total_s = total * tick;
        let other_s = (busy_s - measured_s).max(0.0);
        CpuSetUsage {
            cpus: cpus.clone(),
            total_s,
            seconds: Times::of(sum, uncounted, tick),
            shares: Times::of(sum, uncounted, share),
            busy_s,
            busy_share: sum.busy() as f64 * share,
            measured_s,
            other_s,
            other_share: if total_s > 0.0 {
                other_s / total_s
            } else {
                0.0
            },
        }
    }
}

/// Where the server's CPUs' and the generator's CPUs' time went over a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuAccounting {
    /// The server's CPUs; measured: the stack, and the upstream and the
    /// database when the lab started them (they are pinned there too).
    pub server: CpuSetUsage,
    /// The generator's CPUs; measured: the load generator's threads.
    pub generator: CpuSetUsage,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two readings of a 2-CPU VM, 1 s apart at 100 ticks a second.
    const BEFORE: &str = "cpu  217059 27 50698 78922 8787 0 993 268 0 0
cpu0 106084 20 23870 44474 3328 0 445 129 0 0
cpu1 110975 6 26827 34448 5459 0 548 139 0 0
intr 1747683 0 0 0
ctxt 3641797
";
    const AFTER: &str = "cpu  217189 27 50738 78937 8787 0 1003 273 0 0
cpu0 106144 20 23890 44479 3328 0 450 132 0 0
cpu1 111045 6 26847 34458 5459 0 553 141 0 0
intr 1747983 0 0 0
ctxt 3642797
";

    fn set(text: &str) -> CpuSet {
        text.parse().unwrap()
    }

    #[test]
    fn parses_the_per_cpu_lines_only() {
        let s = parse(BEFORE);
        assert_eq!(s.0.len(), 2, "the all-CPU line is not a CPU");
        assert_eq!(
            s.0[&1],
            Ticks {
                user: 110975,
                nice: 6,
                system: 26827,
                idle: 34448,
                iowait: 5459,
                irq: 0,
                softirq: 548,
                steal: 139,
            }
        );
        // A kernel too old for the steal column.
        let old = parse("cpu0 10 0 5 100 1 2 3\n");
        assert_eq!((old.0[&0].softirq, old.0[&0].steal), (3, 0));
        assert!(parse("intr 1 2 3\ncpufreq x\n").0.is_empty());
    }

    #[test]
    fn shares_add_to_one_and_other_is_busy_less_measured() {
        let (a, b) = (parse(BEFORE), parse(AFTER));
        let tick = Duration::from_millis(10);
        let second = Duration::from_secs(1);
        let cpu0 = CpuSetUsage::between(&a, &b, second * 93 / 100, &set("0"), 0.5, tick);
        // cpu0: user 60, system 20, idle 5, softirq 5, steal 3 ticks.
        assert!((cpu0.total_s - 0.93).abs() < 1e-9, "{cpu0:?}");
        assert!((cpu0.seconds.user - 0.60).abs() < 1e-9);
        assert!((cpu0.seconds.steal - 0.03).abs() < 1e-9);
        assert!((cpu0.busy_s - 0.85).abs() < 1e-9, "steal is not busy");
        assert!((cpu0.other_s - 0.35).abs() < 1e-9);
        assert!((cpu0.other_share - 0.35 / 0.93).abs() < 1e-9);
        let s = cpu0.shares;
        let sum = |s: Times| {
            s.user
                + s.nice
                + s.system
                + s.irq
                + s.softirq
                + s.steal
                + s.idle
                + s.iowait
                + s.uncounted
        };
        assert!((sum(s) - 1.0).abs() < 1e-12, "{s:?}");
        assert!((cpu0.busy_share - 85.0 / 93.0).abs() < 1e-12);
        assert_eq!(s.uncounted, 0.0, "the counters hold the whole window");

        // A whole second in which the counters hold 0.93 s: the rest is
        // shown, and the shares are of the whole window.
        let lost = CpuSetUsage::between(&a, &b, second, &set("0"), 0.5, tick);
        assert!((lost.total_s - 1.0).abs() < 1e-9, "{lost:?}");
        assert!((lost.seconds.uncounted - 0.07).abs() < 1e-9, "{lost:?}");
        assert!((lost.shares.user - 0.60).abs() < 1e-9, "{lost:?}");
        assert!((sum(lost.shares) - 1.0).abs() < 1e-12);
        assert!(
            (lost.other_s - 0.35).abs() < 1e-9,
            "busy is what was counted"
        );

        // More measured than the counters saw busy (ticks are coarse): the
        // others' time is none, never negative.
        let cpu1 = CpuSetUsage::between(&a, &b, second, &set("1"), 5.0, tick);
        assert_eq!((cpu1.other_s, cpu1.other_share), (0.0, 0.0));
        assert_eq!(cpu1.measured_s, 5.0);

        // Both CPUs: the counters sum.
        let both = CpuSetUsage::between(&a, &b, second, &set("0-1"), 0.0, tick);
        assert!((both.total_s - (0.93 + 1.07)).abs() < 1e-9, "{both:?}");
        assert!((both.other_s - both.busy_s).abs() < 1e-12);
    }

    #[test]
    fn an_empty_window_or_unknown_cpu_is_all_zero_not_nan() {
        let a = parse(BEFORE);
        let tick = Duration::from_millis(10);
        for usage in [
            CpuSetUsage::between(&a, &a, Duration::ZERO, &set("0"), 0.0, tick),
            CpuSetUsage::between(&a, &parse(AFTER), Duration::ZERO, &set("7"), 0.0, tick),
        ] {
            assert_eq!(usage.total_s, 0.0);
            assert_eq!((usage.busy_share, usage.other_share), (0.0, 0.0));
            assert_eq!(usage.shares, Times::default());
        }
    }

    #[test]
    fn reads_this_machine() {
        let now = read().expect("/proc/stat");
        let allowed = CpuSet::allowed();
        for cpu in allowed.cpus() {
            assert!(now.0.contains_key(cpu), "cpu{cpu} in /proc/stat");
        }
    }
}
