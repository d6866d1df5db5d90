//! A cell whose server framewut does not start: a `url` stack, running on
//! another host (or here, started by someone else).
//!
//! Nothing is started or stopped. The server is polled until it answers,
//! verified against the scenario contract like any stack, and loaded at its
//! URL. Its CPU time comes from its metrics endpoint, scraped as each
//! trial's measured window opens and closes; without one, or when a scrape
//! fails, the trial records its server CPU as unmeasured, and the model says
//! which bound it then cannot judge. There is no calibration probe: the
//! server's CPU set is not this machine's to read per CPU.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use framewut_load::{LoadPlan, Stop, Summary, Target};
use framewut_stacks::contract;

use super::phases;
use super::progress::Progress;
use super::stall;
use super::{Halt, Lab};
use crate::lab::measure::cgroup::Method;
use crate::lab::measure::metrics::{self, CounterSource, CpuCounter, MetricsError};
use crate::lab::measure::sampler::ServerUsage;
use crate::lab::results::{CellResult, Trial, SATURATED};
use crate::model::Cpus;
use crate::spec::CellSpec;
use crate::urls::{BaseUrl, MetricsUrl};

/// How long one scrape of the metrics endpoint may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a remote server answers.
struct Server {
    addr: SocketAddr,
    /// The `Host` header: the URL's host and port.
    host: String,
}

impl Lab {
    /// Runs a cell of a server framewut does not start.
    pub(super) fn run_remote(
        &mut self,
        spec: &CellSpec,
        progress: &Progress,
        result: &mut CellResult,
        url: &BaseUrl,
        ready_path: &str,
        endpoint: Option<&MetricsUrl>,
    ) -> Result<(), Halt> {
        let base = Target::parse(&url.to_string()).map_err(|e| Halt::Failed(e.to_string()))?;
        let server = Server {
            addr: base.addr,
            host: base.host_header.clone(),
        };
        progress.phase("waiting until it answers");
        self.wait_remote(&server, ready_path, spec.stack.ready_timeout)?;
        progress.phase("verifying the response");
        super::aim::verify(spec, server.addr, &server.host, None).map_err(Halt::Failed)?;
        // A metrics endpoint that does not answer now would leave every
        // trial unmeasured: say so before loading anything.
        let host_cpus = match endpoint {
            Some(e) => {
                metrics::scrape(e, SCRAPE_TIMEOUT)
                    .map_err(|why| Halt::Failed(format!("its metrics cannot be read: {why}")))?
                    .cpus
            }
            None => None,
        };

        let target = Target::parse(&url.at(super::aim::first_path(spec)))
            .map_err(|e| Halt::Failed(e.to_string()))?;
        let mut plan = LoadPlan::new(target);
        self.shape_plan(&mut plan, spec);
        let model = stall::inputs(
            spec,
            Cpus {
                server: host_cpus.unwrap_or(0),
                generator: self.placement.load_cpus.count(),
            },
            result,
        );
        // The trials are windows of one load, as for a stack framewut starts.
        let trials = spec.load.trials;
        plan.warmup = spec.load.warmup;
        plan.stop = Stop::After(phases::trial_length(spec, &model));
        plan.windows = trials;
        let measured = self.remote_load(&plan, endpoint, spec, progress)?;
        result.trials.extend(measured);
        if result.trials.last().is_none_or(|t| t.load.cancelled) {
            return Err(Halt::Interrupted(format!(
                "stopped by a signal during trial {}/{trials}",
                result.trials.len()
            )));
        }
        if let Some(note) = result.trials.iter().find_map(|t| {
            (t.server.method == Method::Unmeasured)
                .then(|| t.server.note.clone())
                .flatten()
        }) {
            result.warnings.push(note);
        }
        super::trials::judge_trials(spec, &model, result)
    }

    /// Polls `path` until the server answers anything at all, the time is
    /// up, or Ctrl-C.
    fn wait_remote(&self, server: &Server, path: &str, limit: Duration) -> Result<(), Halt> {
        let start = Instant::now();
        loop {
            if self.cancelled() {
                return Err(Halt::Interrupted(
                    "stopped by a signal while waiting for it".into(),
                ));
            }
            let last =
                match contract::fetch_at(server.addr, &server.host, path, Duration::from_secs(2)) {
                    Ok(_) => return Ok(()),
                    Err(why) => why,
                };
            if start.elapsed() > limit {
                return Err(Halt::Failed(format!(
                    "it did not answer GET {path} at {} within {limit:?} (last try: {last}); framewut does not start a url stack: is it running?",
                    server.host
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The trials: the load's warm-up, then its measured windows, with the
    /// metrics scraped at every boundary between them.
    fn remote_load(
        &self,
        plan: &LoadPlan,
        endpoint: Option<&MetricsUrl>,
        spec: &CellSpec,
        progress: &Progress,
    ) -> Result<Vec<Trial>, Halt> {
        let scrapes: Mutex<Vec<Option<Result<CpuCounter, MetricsError>>>> = Mutex::new(Vec::new());
        let trials = plan.windows;
        let reports = self.run_load(
            plan,
            progress,
            &|k| format!("trial {}/{trials}", k + 1),
            |_| {
                let scrape = endpoint.map(|e| metrics::scrape(e, SCRAPE_TIMEOUT));
                scrapes.lock().expect("scrape lock").push(scrape);
            },
        )?;
        let scrapes = scrapes.into_inner().expect("scrape lock");
        let cores = spec
            .load
            .threads
            .min(self.placement.load_cpus.count())
            .max(1) as f64;
        Ok(reports
            .iter()
            .zip(scrapes.windows(2))
            .map(|(report, pair)| {
                let elapsed = report.elapsed.as_secs_f64();
                let server = server_usage(elapsed, pair[0].clone(), pair[1].clone());
                let busy = if elapsed > 0.0 {
                    report.cpu.total().as_secs_f64() / (elapsed * cores)
                } else {
                    0.0
                };
                Trial {
                    process: 1,
                    load: Summary::of(plan, report),
                    server,
                    generator_busy: busy,
                    generator_saturated: busy > SATURATED,
                    cpus: None,
                    wakeups: None,
                    upstream: None,
                    database: None,
                }
            })
            .collect())
    }
}

/// The server's use over a window of `elapsed_s` from the scrapes at its
/// two ends; unmeasured, with the reason, when either is missing.
fn server_usage(
    elapsed_s: f64,
    before: Option<Result<CpuCounter, MetricsError>>,
    after: Option<Result<CpuCounter, MetricsError>>,
) -> ServerUsage {
    let unmeasured = |note: String| ServerUsage {
        elapsed_s,
        cpu_s: 0.0,
        user_s: None,
        system_s: None,
        voluntary_switches: None,
        involuntary_switches: None,
        page_faults: None,
        cpu_pct: 0.0,
        peak_rss_bytes: 0,
        processes: 0,
        samples: 0,
        method: Method::Unmeasured,
        note: Some(note),
        cgroup_memory_peak_bytes: None,
        host_cpus: None,
        cpu_timeline_s: Vec::new(),
    };
    let (before, after) = match (before, after) {
        (None, _) | (_, None) => {
            return unmeasured(
                "the server's CPU was not measured: it is not framewut's to see, and its [[stack]] gives no metrics = \"http://HOST:9100/metrics\""
                    .into(),
            )
        }
        (Some(Err(why)), _) | (_, Some(Err(why))) => {
            return unmeasured(format!("the server's CPU was not measured: a scrape failed: {why}"))
        }
        (Some(Ok(before)), Some(Ok(after))) => (before, after),
    };
    if before.source != after.source || after.busy_s < before.busy_s {
        return unmeasured(
            "the server's CPU was not measured: its metrics counter went back (the exporter or the server restarted during the trial)"
                .into(),
        );
    }
    let cpu_s = after.busy_s - before.busy_s;
    ServerUsage {
        elapsed_s,
        cpu_s,
        user_s: None,
        system_s: None,
        voluntary_switches: None,
        involuntary_switches: None,
        page_faults: None,
        cpu_pct: if elapsed_s > 0.0 {
            100.0 * cpu_s / elapsed_s
        } else {
            0.0
        },
        peak_rss_bytes: 0,
        processes: 0,
        samples: 2,
        method: Method::Prometheus,
        note: match after.source {
            CounterSource::Host => Some(
                "node_cpu_seconds_total: the whole host's busy time, every process on it".into(),
            ),
            CounterSource::Process => {
                Some("process_cpu_seconds_total: the process's own time".into())
            }
        },
        cgroup_memory_peak_bytes: None,
        host_cpus: after.cpus,
        cpu_timeline_s: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{server_usage, CounterSource, CpuCounter, Method};
    use crate::lab::measure::metrics::MetricsError;

    fn host(busy_s: f64) -> Option<Result<CpuCounter, MetricsError>> {
        Some(Ok(CpuCounter {
            source: CounterSource::Host,
            busy_s,
            cpus: Some(8),
        }))
    }

    #[test]
    fn the_servers_cpu_is_the_counters_rise_over_the_window() {
        let u = server_usage(2.0, host(100.0), host(103.0));
        assert_eq!(
            (u.method, u.cpu_s, u.cpu_pct, u.host_cpus),
            (Method::Prometheus, 3.0, 150.0, Some(8))
        );
    }

    #[test]
    fn without_both_scrapes_the_cpu_is_unmeasured_and_says_why() {
        for (before, after, says) in [
            (None, None, "gives no metrics"),
            (
                host(1.0),
                Some(Err(MetricsError::Status {
                    url: "http://127.0.0.1:9100/metrics".into(),
                    status: 503,
                })),
                "a scrape failed: http://127.0.0.1:9100/metrics answered 503",
            ),
            (host(5.0), host(1.0), "went back"),
        ] {
            let u = server_usage(1.0, before, after);
            assert_eq!(u.method, Method::Unmeasured);
            assert!(u.note.as_deref().unwrap().contains(says), "{:?}", u.note);
        }
    }
}
