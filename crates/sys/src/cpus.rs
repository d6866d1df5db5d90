//! CPU sets and affinity: which CPUs a thread or a process may run on.

use std::fmt;
use std::io;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How many CPUs the kernel's `cpu_set_t` can name (1024 on Linux). Every
/// CPU in a [`CpuSet`] is below it, so building the kernel's form can never
/// write past the end of its bit array.
const LIMIT: usize = libc::CPU_SETSIZE as usize;

/// A non-empty, sorted set of CPU numbers, each below the 1024 a `cpu_set_t`
/// can name. Written `0`, `0-3` or `0,2,4-5`; serialised as a JSON list of
/// numbers.
///
/// ```
/// use framewut_sys::CpuSet;
///
/// let set: CpuSet = "4-5, 0,2".parse().unwrap();
/// assert_eq!(set.cpus(), &[0, 2, 4, 5]);
/// assert_eq!(set.to_string(), "0,2,4-5");
/// assert_eq!(
///     "5000".parse::<CpuSet>().unwrap_err().to_string(),
///     "CPU 5000 is beyond the 1024 CPUs a CPU set can name (0-1023)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<usize>", into = "Vec<usize>")]
pub struct CpuSet(Vec<usize>);

/// Why some CPUs do not make a [`CpuSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuSetError {
    /// No CPU at all.
    Empty,
    /// A CPU the kernel's `cpu_set_t` cannot name.
    BeyondLimit { cpu: usize },
    /// A range written high to low, such as `3-1`.
    Backwards { low: usize, high: usize },
    /// Text that is not a CPU list.
    Malformed { text: String },
}

impl fmt::Display for CpuSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuSetError::Empty => f.write_str("a CPU set needs at least one CPU"),
            CpuSetError::BeyondLimit { cpu } => write!(
                f,
                "CPU {cpu} is beyond the {LIMIT} CPUs a CPU set can name (0-{})",
                LIMIT - 1
            ),
            CpuSetError::Backwards { low, high } => write!(
                f,
                "the range {high}-{low} runs backwards: write the lower CPU first, as {low}-{high}"
            ),
            CpuSetError::Malformed { text } => write!(
                f,
                "{text:?} is not a CPU list: write it as e.g. 0, 0-3 or 0,2,4-5"
            ),
        }
    }
}

impl std::error::Error for CpuSetError {}

impl CpuSet {
    /// The set of these CPUs, in any order and with repeats allowed.
    pub fn new(mut cpus: Vec<usize>) -> Result<CpuSet, CpuSetError> {
        cpus.sort_unstable();
        cpus.dedup();
        match cpus.last() {
            None => Err(CpuSetError::Empty),
            Some(&cpu) if cpu >= LIMIT => Err(CpuSetError::BeyondLimit { cpu }),
            Some(_) => Ok(CpuSet(cpus)),
        }
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

    /// The `i`-th CPU, counting round the set again past its end, as a set of
    /// its own: how `n` threads are spread one per CPU over a set.
    pub fn round_robin(&self, i: usize) -> CpuSet {
        CpuSet(vec![self.0[i % self.0.len()]])
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
                (0..LIMIT)
                    .filter(|cpu| libc::CPU_ISSET(*cpu, &set))
                    .collect()
            }
        };
        CpuSet::new(cpus).unwrap_or_else(|_| CpuSet(vec![0]))
    }

    /// The set in the kernel's form, ready for [`Affinity::apply`]. Build it
    /// before a fork, so that the child only makes the system call.
    pub fn affinity(&self) -> Affinity {
        // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET fills it in,
        // and every CPU is below CPU_SETSIZE, so it stays inside the set.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for cpu in &self.0 {
                libc::CPU_SET(*cpu, &mut set);
            }
            Affinity(set)
        }
    }

    /// Pins the calling thread to this set; false if the kernel refused (for
    /// example, none of its CPUs is one this process may use).
    pub fn pin_this_thread(&self) -> bool {
        self.affinity().apply().is_ok()
    }
}

/// A [`CpuSet`] in the kernel's `cpu_set_t` form, made by [`CpuSet::affinity`].
#[derive(Clone, Copy)]
pub struct Affinity(libc::cpu_set_t);

impl Affinity {
    /// Restricts the calling thread to these CPUs; in a child between fork
    /// and exec, that is the whole child and everything it starts. One
    /// system call and nothing allocated, so it is safe in `pre_exec`.
    pub fn apply(&self) -> io::Result<()> {
        // SAFETY: the set is a valid cpu_set_t for the duration of the call.
        let rc =
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl fmt::Debug for Affinity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: CPU_ISSET only reads the set, below CPU_SETSIZE.
        let cpus = (0..LIMIT).filter(|cpu| unsafe { libc::CPU_ISSET(*cpu, &self.0) });
        f.debug_tuple("Affinity")
            .field(&cpus.collect::<Vec<_>>())
            .finish()
    }
}

impl TryFrom<Vec<usize>> for CpuSet {
    type Error = CpuSetError;
    fn try_from(cpus: Vec<usize>) -> Result<Self, CpuSetError> {
        CpuSet::new(cpus)
    }
}

impl From<CpuSet> for Vec<usize> {
    fn from(set: CpuSet) -> Vec<usize> {
        set.0
    }
}

impl FromStr for CpuSet {
    type Err = CpuSetError;

    fn from_str(text: &str) -> Result<CpuSet, CpuSetError> {
        let malformed = || CpuSetError::Malformed {
            text: text.to_string(),
        };
        let number = |s: &str| s.trim().parse::<usize>().map_err(|_| malformed());
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let (low, high) = match part.split_once('-') {
                Some((low, high)) => (number(low)?, number(high)?),
                None => (number(part)?, number(part)?),
            };
            if high >= LIMIT {
                return Err(CpuSetError::BeyondLimit { cpu: high });
            }
            if low > high {
                return Err(CpuSetError::Backwards {
                    low: high,
                    high: low,
                });
            }
            cpus.extend(low..=high);
        }
        CpuSet::new(cpus)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_cpu_lists() {
        let set: CpuSet = "4-5, 0,2".parse().unwrap();
        assert_eq!(set.cpus(), &[0, 2, 4, 5]);
        assert_eq!(set.to_string(), "0,2,4-5");
        assert_eq!("0-3".parse::<CpuSet>().unwrap().to_string(), "0-3");
        assert_eq!("1023".parse::<CpuSet>().unwrap().cpus(), &[1023]);
        for bad in ["", "a", "x", "1,,2", "-1", "1-", "0-3-5"] {
            let err = bad.parse::<CpuSet>().unwrap_err();
            assert_eq!(
                err,
                CpuSetError::Malformed {
                    text: bad.to_string()
                }
            );
            assert!(err.to_string().contains("e.g. 0, 0-3 or 0,2,4-5"), "{bad}");
        }
    }

    #[test]
    fn refuses_cpus_a_cpu_set_t_cannot_hold_without_building_them() {
        assert_eq!(
            "5000".parse::<CpuSet>().unwrap_err().to_string(),
            "CPU 5000 is beyond the 1024 CPUs a CPU set can name (0-1023)"
        );
        assert_eq!(
            "0-1024".parse::<CpuSet>(),
            Err(CpuSetError::BeyondLimit { cpu: 1024 })
        );
        // A huge range is refused by its end, not by listing every CPU in it.
        assert_eq!(
            format!("0-{}", usize::MAX).parse::<CpuSet>(),
            Err(CpuSetError::BeyondLimit { cpu: usize::MAX })
        );
        assert_eq!(
            CpuSet::new(vec![3, 1024]),
            Err(CpuSetError::BeyondLimit { cpu: 1024 })
        );
        assert_eq!(CpuSet::new(Vec::new()), Err(CpuSetError::Empty));
    }

    #[test]
    fn a_backwards_range_is_named_with_its_fix() {
        let err = "3-1".parse::<CpuSet>().unwrap_err();
        assert_eq!(err, CpuSetError::Backwards { low: 1, high: 3 });
        assert!(err.to_string().contains("as 1-3"), "{err}");
    }

    #[test]
    fn serialises_as_a_list_and_checks_what_it_reads() {
        let set: CpuSet = "0-2,7".parse().unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, "[0,1,2,7]");
        assert_eq!(serde_json::from_str::<CpuSet>(&json).unwrap(), set);
        let err = serde_json::from_str::<CpuSet>("[1, 5000]").unwrap_err();
        assert!(err.to_string().contains("CPU 5000 is beyond"), "{err}");
        assert!(serde_json::from_str::<CpuSet>("[]").is_err());
    }

    #[test]
    fn round_robin_deals_one_cpu_per_thread_and_wraps() {
        let set: CpuSet = "2,4-5".parse().unwrap();
        let dealt: Vec<String> = (0..5).map(|i| set.round_robin(i).to_string()).collect();
        assert_eq!(dealt, ["2", "4", "5", "2", "4"]);
    }

    #[test]
    fn pins_a_thread_to_one_allowed_cpu() {
        let allowed = CpuSet::allowed();
        let last = allowed.round_robin(allowed.count() - 1);
        let seen = std::thread::spawn(move || {
            assert!(last.pin_this_thread());
            (CpuSet::allowed(), last)
        })
        .join()
        .unwrap();
        assert_eq!(seen.0, seen.1);
        assert_eq!(
            format!("{:?}", seen.1.affinity()),
            format!("Affinity({:?})", seen.1.cpus())
        );
    }
}
