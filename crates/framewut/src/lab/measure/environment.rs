//! The machine and the build a run happened on, recorded in results.json so
//! that numbers from different runs are only compared knowingly.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::cpus::CpuSet;

/// What a run ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    /// CPUs online on the machine.
    pub cores_online: usize,
    /// CPUs framewut was allowed to use.
    pub cores_allowed: CpuSet,
    pub memory_bytes: u64,
    /// The kernel release, e.g. `6.1.0-18-amd64`.
    pub kernel: String,
    /// The operating system's name, from /etc/os-release.
    pub os: String,
    pub framewut_version: String,
    /// The git commit framewut was built from, or `unknown`.
    pub git_commit: String,
    /// Versions of the libraries and tools behind the stacks: `axum`, `hyper`, `rustc`, ...
    pub tools: BTreeMap<String, String>,
}

impl Environment {
    /// Reads the machine's facts now.
    pub fn detect() -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map_or("unknown".to_string(), |(_, v)| v.trim().to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or("unknown".to_string(), |v| v.trim_matches('"').to_string());
        // SAFETY: sysconf has no preconditions.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
        Environment {
            cpu_model,
            cores_online: online,
            cores_allowed: CpuSet::allowed(),
            memory_bytes: memory_kib * 1024,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or("unknown".to_string(), |s| s.trim().to_string()),
            os,
            framewut_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: env!("FRAMEWUT_GIT_COMMIT").to_string(),
            tools: env!("FRAMEWUT_TOOL_VERSIONS")
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// A UTC time as RFC 3339, to the second: `2026-11-25T18:42:07Z`.
pub fn utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The current UTC time as RFC 3339.
pub fn utc_now() -> String {
    utc(SystemTime::now())
}

/// Year, month and day of a count of days since 1970-01-01 (Howard
/// Hinnant's algorithm for the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661);
        assert_eq!(utc(leap), "2000-02-29T01:01:01Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_795_632_127);
        assert_eq!(utc(later), "2026-11-25T18:42:07Z");
    }

    #[test]
    fn detects_this_machine() {
        let env = Environment::detect();
        assert!(env.cores_online >= 1 && env.memory_bytes > 0);
        assert!(!env.kernel.is_empty() && env.kernel != "unknown");
        assert!(
            env.tools.contains_key("axum") && env.tools.contains_key("rustc"),
            "{:?}",
            env.tools
        );
        assert!(env.git_commit == "unknown" || env.git_commit.len() == 40);
    }
}
