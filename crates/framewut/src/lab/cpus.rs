//! CPU sets and placement: which cores the server and the load generator get.
//!
//! On a small machine the generator and the server fight for cores unless
//! they are kept apart, and then a number says as much about the generator as
//! about the server. The default placement gives them disjoint halves of the
//! CPUs this process may use (on 2 cores: server on CPU 0, generator on CPU 1).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A non-empty, sorted set of CPU numbers, written `0`, `0-3` or `0,2,4-5`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<usize>", into = "Vec<usize>")]
pub struct CpuSet(Vec<usize>);

impl CpuSet {
    /// The set of these CPUs; `None` when empty.
    pub fn new(mut cpus: Vec<usize>) -> Option<CpuSet> {
        cpus.sort_unstable();
        cpus.dedup();
        (!cpus.is_empty()).then_some(CpuSet(cpus))
    }

    /// The CPUs, ascending.
    pub fn cpus(&self) -> &[usize] {
        &self.0
    }

    /// How many CPUs the set holds (at least 1).
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// Whether the two sets share a CPU.
    pub fn overlaps(&self, other: &CpuSet) -> bool {
        self.0.iter().any(|cpu| other.0.contains(cpu))
    }

    /// The CPUs this process may run on (its affinity mask), or CPU 0 alone
    /// when the mask cannot be read.
    pub fn allowed() -> CpuSet {
        // SAFETY: sched_getaffinity writes into the zeroed set we hand it.
        let cpus = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                Vec::new()
            } else {
                (0..libc::CPU_SETSIZE as usize)
                    .filter(|cpu| libc::CPU_ISSET(*cpu, &set))
                    .collect()
            }
        };
        CpuSet::new(cpus).unwrap_or(CpuSet(vec![0]))
    }

    /// The set as the kernel's `cpu_set_t`, built before a fork so that the
    /// child only has to make the system call.
    pub fn to_libc(&self) -> libc::cpu_set_t {
        // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET fills it in.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for cpu in &self.0 {
                libc::CPU_SET(*cpu, &mut set);
            }
            set
        }
    }

    /// Pins the calling thread to this set; false if the kernel refused.
    pub fn pin_this_thread(&self) -> bool {
        let set = self.to_libc();
        // SAFETY: the set is a valid cpu_set_t for the duration of the call.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
    }
}

impl TryFrom<Vec<usize>> for CpuSet {
    type Error = String;
    fn try_from(cpus: Vec<usize>) -> Result<Self, String> {
        CpuSet::new(cpus).ok_or_else(|| "a CPU set needs at least one CPU".to_string())
    }
}

impl From<CpuSet> for Vec<usize> {
    fn from(set: CpuSet) -> Vec<usize> {
        set.0
    }
}

impl FromStr for CpuSet {
    type Err = String;

    fn from_str(text: &str) -> Result<CpuSet, String> {
        let bad = || format!("{text:?} is not a CPU list: write it as e.g. 0, 0-3 or 0,2,4-5");
        let mut cpus = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (low, high) = part.split_once('-').unwrap_or((part, part));
            let low: usize = low.trim().parse().map_err(|_| bad())?;
            let high: usize = high.trim().parse().map_err(|_| bad())?;
            if low > high || high >= libc::CPU_SETSIZE as usize {
                return Err(bad());
            }
            cpus.extend(low..=high);
        }
        CpuSet::new(cpus).ok_or_else(bad)
    }
}

impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < self.0.len() {
            let mut j = i;
            while j + 1 < self.0.len() && self.0[j + 1] == self.0[j] + 1 {
                j += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if j > i {
                write!(f, "{}-{}", self.0[i], self.0[j])?;
            } else {
                write!(f, "{}", self.0[i])?;
            }
            i = j + 1;
        }
        Ok(())
    }
}

/// Where the placement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementOrigin {
    /// Disjoint halves of the allowed CPUs, chosen by framewut.
    Default,
    /// The matrix file's `[placement]` table.
    Matrix,
    /// `--server-cpus` / `--load-cpus`.
    Flags,
}

/// The CPUs the server (and everything it starts) and the load generator run on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub server_cpus: CpuSet,
    pub load_cpus: CpuSet,
    pub origin: PlacementOrigin,
}

impl Placement {
    /// Disjoint halves of `allowed`, the server taking the lower half; with a
    /// single CPU both must share it.
    pub fn halves(allowed: &CpuSet) -> Placement {
        let cpus = allowed.cpus();
        let (server, load) = if cpus.len() < 2 {
            (cpus.to_vec(), cpus.to_vec())
        } else {
            let half = cpus.len() / 2;
            (cpus[..half].to_vec(), cpus[half..].to_vec())
        };
        Placement {
            server_cpus: CpuSet(server),
            load_cpus: CpuSet(load),
            origin: PlacementOrigin::Default,
        }
    }

    /// Whether the server and the generator share any core.
    pub fn shared(&self) -> bool {
        self.server_cpus.overlaps(&self.load_cpus)
    }

    /// A warning to print when they share cores, with advice.
    pub fn warning(&self) -> Option<String> {
        self.shared().then(|| {
            format!(
                "warning: the server (CPUs {}) and the load generator (CPUs {}) share cores, so they compete \
                 and the numbers say less about the server; give them disjoint sets with --server-cpus and --load-cpus",
                self.server_cpus, self.load_cpus
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_cpu_lists() {
        let set: CpuSet = "4-5, 0,2".parse().unwrap();
        assert_eq!(set.cpus(), &[0, 2, 4, 5]);
        assert_eq!(set.to_string(), "0,2,4-5");
        assert_eq!("0-3".parse::<CpuSet>().unwrap().to_string(), "0-3");
        for bad in ["", "a", "3-1", "1,,2", "-1"] {
            assert!(bad.parse::<CpuSet>().unwrap_err().contains("0-3"), "{bad}");
        }
    }

    #[test]
    fn default_placement_splits_the_machine_in_halves() {
        let two = Placement::halves(&"0-1".parse().unwrap());
        assert_eq!(
            (two.server_cpus.cpus(), two.load_cpus.cpus()),
            (&[0][..], &[1][..])
        );
        assert!(!two.shared() && two.warning().is_none());
        let eight = Placement::halves(&"0-7".parse().unwrap());
        assert_eq!(eight.server_cpus.to_string(), "0-3");
        assert_eq!(eight.load_cpus.to_string(), "4-7");
        let one = Placement::halves(&"3".parse().unwrap());
        assert!(one.shared());
        assert!(one.warning().unwrap().contains("--server-cpus"));
    }
}
