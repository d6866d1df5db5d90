//! A server's CPU time from a Prometheus endpoint, for a stack on another
//! host, where /proc and cgroups cannot see it.
//!
//! The endpoint is scraped before and after each trial's window; the
//! difference of a CPU-seconds counter is the server's CPU time over it.
//! Two counters are understood:
//! - node_exporter's `node_cpu_seconds_total{cpu, mode}`: the host's time per
//!   CPU and mode. Busy is what it is for this machine's own counters
//!   ([`Mode::is_busy`]: user, nice, system, irq and softirq; not idle,
//!   iowait nor steal), summed over the CPUs; the host's CPUs are
//!   the distinct `cpu` labels. It counts everything on the host, so the
//!   server should have the host to itself.
//! - `process_cpu_seconds_total`: one process's user and system time, as
//!   the Prometheus client libraries export it. The host's CPUs are unknown.
//!
//! When both are there (node_exporter exports its own process counter), the
//! host's counter is the one meant. The parser reads the text exposition
//! format; it is small because only these two counters are needed.

use std::collections::BTreeSet;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use framewut_stacks::contract;

use crate::urls::MetricsUrl;

use super::cpustat::Mode;

/// A CPU counter read at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuCounter {
    /// Which counter it is.
    pub source: CounterSource,
    /// Busy CPU seconds since the counter began.
    pub busy_s: f64,
    /// The host's CPUs, when the counter says.
    pub cpus: Option<usize>,
}

/// Which counter a scrape gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterSource {
    /// node_exporter's `node_cpu_seconds_total`.
    Host,
    /// `process_cpu_seconds_total`.
    Process,
}

/// One sample line: the metric's name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The samples of a Prometheus text exposition: comments and blank lines
/// skipped, an optional timestamp ignored. A line that is not a sample is
/// an error naming its number.
pub fn parse(text: &str) -> Result<Vec<Sample>, MetricsError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(i, line)| {
            sample(line.trim()).ok_or_else(|| MetricsError::NotASample {
                line: i + 1,
                text: line.to_string(),
            })
        })
        .collect()
}

fn sample(line: &str) -> Option<Sample> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `name="value",...}` and what follows the closing brace; values may hold
/// `\"`, `\\` and `\n` escapes, commas and braces.
fn label_set(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let (name, after) = s.split_once('=')?;
        let mut chars = after.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((name.trim().to_string(), value));
        s = after[1 + end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// The CPU counter in a scrape's samples, or why there is none.
pub fn cpu_counter(samples: &[Sample]) -> Result<CpuCounter, MetricsError> {
    let host: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "node_cpu_seconds_total")
        .collect();
    if !host.is_empty() {
        let cpus: BTreeSet<&str> = host.iter().filter_map(|s| s.label("cpu")).collect();
        let busy_s = host
            .iter()
            .filter(|s| {
                s.label("mode")
                    .and_then(Mode::from_label)
                    .is_some_and(Mode::is_busy)
            })
            .map(|s| s.value)
            .sum();
        return Ok(CpuCounter {
            source: CounterSource::Host,
            busy_s,
            cpus: Some(cpus.len()),
        });
    }
    match samples
        .iter()
        .find(|s| s.name == "process_cpu_seconds_total")
    {
        Some(s) => Ok(CpuCounter {
            source: CounterSource::Process,
            busy_s: s.value,
            cpus: None,
        }),
        None => Err(MetricsError::NoCpuCounter),
    }
}

/// Why a metrics endpoint gives no CPU counter: a scrape that failed, or a
/// text that does not hold a counter. Cloned into
/// each window a failed scrape leaves unmeasured.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MetricsError {
    #[error("line {line} is not a Prometheus sample: {text:?}")]
    NotASample { line: usize, text: String },
    #[error(
        "it has neither node_cpu_seconds_total (node_exporter's cpu collector) nor \
         process_cpu_seconds_total"
    )]
    NoCpuCounter,
    #[error("{url}: cannot resolve {host}: {source}")]
    Resolve {
        url: String,
        host: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("{url}: {host} has no address")]
    NoAddress { url: String, host: String },
    #[error("{url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: Arc<contract::ContractError>,
    },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    /// What it answered holds no CPU counter.
    #[error("{url}: {source}")]
    Read {
        url: String,
        #[source]
        source: Box<MetricsError>,
    },
}

/// Fetches `endpoint` and reads its CPU counter.
pub fn scrape(endpoint: &MetricsUrl, timeout: Duration) -> Result<CpuCounter, MetricsError> {
    let url = endpoint.to_string();
    let host = endpoint.host();
    let lookup = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let addr = lookup
        .to_socket_addrs()
        .map_err(|e| MetricsError::Resolve {
            url: url.clone(),
            host: host.to_string(),
            source: Arc::new(e),
        })?
        .next()
        .ok_or_else(|| MetricsError::NoAddress {
            url: url.clone(),
            host: host.to_string(),
        })?;
    let response = contract::fetch_at(addr, host, endpoint.path(), timeout).map_err(|e| {
        MetricsError::Fetch {
            url: url.clone(),
            source: Arc::new(e),
        }
    })?;
    if response.status != 200 {
        return Err(MetricsError::Status {
            url: url.clone(),
            status: response.status,
        });
    }
    let text = String::from_utf8_lossy(&response.body);
    parse(&text)
        .and_then(|samples| cpu_counter(&samples))
        .map_err(|e| MetricsError::Read {
            url: url.clone(),
            source: Box::new(e),
        })
}

#[cfg(test)]
mod tests {
    use super::{cpu_counter, parse, CounterSource, MetricsError};

    const NODE: &str = include_str!("../../../tests/fixtures/metrics/node-exporter-cpu.txt");
    const PROCESS: &str = include_str!("../../../tests/fixtures/metrics/process.txt");

    #[test]
    fn reads_the_hosts_busy_seconds_from_node_exporter() {
        let samples = parse(NODE).unwrap();
        let c = cpu_counter(&samples).unwrap();
        assert_eq!(
            c.source,
            CounterSource::Host,
            "the host's counter, not the exporter's own"
        );
        assert_eq!(c.cpus, Some(2));
        // The recording's busy modes: cpu 0's user, nice, system, irq and
        // softirq, and cpu 1's; steal (3.12 and 3.32 s) is the host's.
        let cpu0 = 3364.78 + 0.54 + 1237.03 + 0.0 + 342.83;
        let cpu1 = 4767.02 + 0.43 + 1253.41 + 0.0 + 326.56;
        assert!((c.busy_s - (cpu0 + cpu1)).abs() < 1e-6, "{}", c.busy_s);
    }

    #[test]
    fn reads_a_process_counter_and_labels_with_escapes() {
        let samples = parse(PROCESS).unwrap();
        let c = cpu_counter(&samples).unwrap();
        assert_eq!(
            (c.source, c.busy_s, c.cpus),
            (CounterSource::Process, 12.73, None)
        );
        let hello = &samples[2];
        assert_eq!(hello.value, 1.5e6, "a timestamp after the value is ignored");
        assert_eq!(
            hello.labels,
            [
                ("path".to_string(), "/hello".to_string()),
                (
                    "note".to_string(),
                    "a \"quoted\" label, with a comma".to_string()
                )
            ]
        );
    }

    #[test]
    fn says_what_it_cannot_read() {
        let line = |text: &str| match parse(text).unwrap_err() {
            MetricsError::NotASample { line, .. } => line,
            other => panic!("{other}"),
        };
        assert_eq!(line("node_cpu_seconds_total{cpu=\"0\" 1\n"), 1);
        assert_eq!(line("# only comments\n\nx_total abc\n"), 3);
        let none = cpu_counter(&parse("up 1\n").unwrap()).unwrap_err();
        assert!(
            none.to_string().contains("node_cpu_seconds_total"),
            "{none}"
        );
    }
}
