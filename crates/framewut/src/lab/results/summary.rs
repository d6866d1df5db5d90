//! A cell's trials taken together: rates, latency, errors and the CPU the
//! server and the generator used, summed over the trials.

use super::*;

/// A cell's trials taken together.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellSummary {
    pub trials: usize,
    /// Successful (2xx and 3xx) responses over all trials.
    pub requests: u64,
    pub elapsed_s: f64,
    /// Mean, standard deviation and maximum of the trials' rates.
    pub requests_per_s: Stats,
    pub requests_per_s_min: f64,
    /// (max - min) / mean of the trials' rates, in percent; 0 for one trial.
    pub spread_pct: f64,
    /// All trials' latencies merged into one histogram.
    pub latency: LatencySummary,
    /// Every error of every trial.
    pub errors: Errors,
    /// Requests that failed: all errors but those merely in flight when a trial ended.
    pub failed_requests: u64,
    pub server_cpu_s: f64,
    /// Server CPU over elapsed time, in percent (100 = one core busy).
    pub server_cpu_pct: f64,
    /// Server CPU microseconds per response of any status (the server did
    /// the work for each).
    pub server_cpu_us_per_request: Option<f64>,
    pub server_peak_rss_bytes: u64,
    pub generator_cpu_s: f64,
    pub generator_busy: f64,
    pub generator_saturated: bool,
    // Every request accounted: kept since framewut-load/2; none (null) in a
    // cell measured before, whose trials did not count these.
    /// Responses of any status over all trials.
    #[serde(default)]
    pub responses: Option<u64>,
    /// Mean over the trials of the responses per second with a status
    /// outside 2xx and 3xx.
    #[serde(default)]
    pub status_errors_per_s: Option<f64>,
    /// Requests that got no answer in a trial (timed out, lost with their
    /// connection, or still in flight at its end), over all trials.
    #[serde(default)]
    pub unanswered: Option<u64>,
    /// All trials' answered and unanswered requests merged, each unanswered
    /// one at its age: a lower bound of the latency with nothing left out.
    #[serde(default)]
    pub latency_with_unanswered: Option<LatencySummary>,
    /// The most connections any one trial left without an answer.
    #[serde(default)]
    pub silent_connections: Option<u64>,
    /// Open loop: requests the schedule wanted sent that never were, over
    /// all trials.
    #[serde(default)]
    pub backlog: Option<u64>,
    // A url stack's CPU is measured only through its metrics.
    /// Whether every trial measured the server's CPU; when not, the
    /// server_cpu figures are zero and mean nothing.
    #[serde(default = "measured")]
    pub server_cpu_measured: bool,
}

/// Results written before url stacks measured every server's CPU.
fn measured() -> bool {
    true
}

/// How one CPU set spent some loads, as shares of its time over all of them.
fn set_use(sets: &[&CpuSetUsage]) -> SetUse {
    let total: f64 = sets.iter().map(|u| u.total_s).sum();
    let share = |f: &dyn Fn(&CpuSetUsage) -> f64| {
        if total > 0.0 {
            sets.iter().map(|u| f(u)).sum::<f64>() / total
        } else {
            0.0
        }
    };
    SetUse {
        busy: share(&|u| u.total_s - u.seconds.idle - u.seconds.iowait),
        user: share(&|u| u.seconds.user + u.seconds.nice),
        system: share(&|u| u.seconds.system),
        interrupts: share(&|u| u.seconds.irq + u.seconds.softirq),
        // Time the host took, reported as steal or not counted at all.
        steal: share(&|u| u.seconds.steal + u.seconds.uncounted),
        other: share(&|u| u.other_s),
    }
}

/// How both CPU sets spent the trials; none unless every trial was accounted.
pub fn usage(trials: &[Trial]) -> Option<Usage> {
    let accounted: Vec<&CpuAccounting> = trials.iter().filter_map(|t| t.cpus.as_ref()).collect();
    if accounted.is_empty() || accounted.len() < trials.len() {
        return None;
    }
    let server: Vec<&CpuSetUsage> = accounted.iter().map(|a| &a.server).collect();
    let generator: Vec<&CpuSetUsage> = accounted.iter().map(|a| &a.generator).collect();
    Some(Usage {
        server: set_use(&server),
        generator: set_use(&generator),
    })
}

/// How late, on average over the trials, a sleeper woke on each CPU set
/// that the cell kept less than [`COMPETING`] busy itself, in
/// microseconds, with the set's name (`the server's CPUs`) and how it spent
/// the trials. A set the cell kept busy is left out, since its own work
/// delays the witness too; so is every set when a trial was not watched or
/// not accounted.
pub fn idle_lateness(trials: &[Trial]) -> Vec<(&'static str, f64, SetUse)> {
    let watched: Vec<&Wakeups> = trials.iter().filter_map(|t| t.wakeups.as_ref()).collect();
    let Some(usage) =
        usage(trials).filter(|_| !watched.is_empty() && watched.len() == trials.len())
    else {
        return Vec::new();
    };
    let mean = |pick: fn(&Wakeups) -> &Lateness| {
        let n: u64 = watched.iter().map(|w| pick(w).wakeups).sum();
        let late: f64 = watched
            .iter()
            .map(|w| pick(w).mean_us * pick(w).wakeups as f64)
            .sum();
        (n > 0).then(|| late / n as f64)
    };
    [
        ("the server's CPUs", usage.server, mean(|w| &w.server)),
        (
            "the generator's CPUs",
            usage.generator,
            mean(|w| &w.generator),
        ),
    ]
    .into_iter()
    .filter(|(_, set, _)| set.own() < COMPETING)
    .filter_map(|(name, set, late)| Some((name, late?, set)))
    .collect()
}

/// Requests that failed, leaving out those only in flight when the load ended.
pub fn failed_requests(errors: &Errors) -> u64 {
    errors.total() - errors.unfinished
}

impl CellSummary {
    /// Takes the trials together; `None` when there are none.
    pub fn of(trials: &[Trial]) -> Option<CellSummary> {
        if trials.is_empty() {
            return None;
        }
        let rates: Vec<f64> = trials.iter().map(|t| t.load.requests_per_s).collect();
        let stats = Stats::of(&rates);
        let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
        let mut latency = new_histogram();
        let mut with_unanswered = new_histogram();
        let mut errors = Errors::default();
        for t in trials {
            if let Ok(h) = decode_histogram(&t.load.latency.histogram) {
                latency.add(&h).expect("histograms share their bounds");
            }
            if let Ok(h) = decode_histogram(&t.load.latency_with_unanswered.histogram) {
                with_unanswered
                    .add(&h)
                    .expect("histograms share their bounds");
            }
            errors.merge(&t.load.errors);
        }
        let requests: u64 = trials.iter().map(|t| t.load.requests).sum();
        let responses: u64 = trials.iter().map(|t| t.load.responses).sum();
        let elapsed: f64 = trials.iter().map(|t| t.load.elapsed_s).sum();
        let server_cpu: f64 = trials.iter().map(|t| t.server.cpu_s).sum();
        let server_elapsed: f64 = trials.iter().map(|t| t.server.elapsed_s).sum();
        let server_cpu_measured = trials.iter().all(|t| t.server.method != Method::Unmeasured);
        let generator_busy = trials.iter().map(|t| t.generator_busy).fold(0.0, f64::max);
        Some(CellSummary {
            trials: trials.len(),
            requests,
            elapsed_s: elapsed,
            requests_per_s: stats,
            requests_per_s_min: min,
            spread_pct: if stats.mean > 0.0 {
                100.0 * (stats.max - min) / stats.mean
            } else {
                0.0
            },
            latency: LatencySummary::of(&latency),
            failed_requests: failed_requests(&errors),
            errors,
            server_cpu_s: server_cpu,
            server_cpu_pct: if server_elapsed > 0.0 {
                100.0 * server_cpu / server_elapsed
            } else {
                0.0
            },
            server_cpu_us_per_request: (responses > 0 && server_cpu_measured)
                .then(|| server_cpu * 1e6 / responses as f64),
            server_peak_rss_bytes: trials
                .iter()
                .map(|t| t.server.peak_rss_bytes)
                .max()
                .unwrap_or(0),
            generator_cpu_s: trials
                .iter()
                .map(|t| t.load.generator_cpu.user_s + t.load.generator_cpu.system_s)
                .sum(),
            generator_busy,
            generator_saturated: trials.iter().any(|t| t.generator_saturated),
            responses: Some(responses),
            status_errors_per_s: Some(
                trials
                    .iter()
                    .map(|t| t.load.status_errors_per_s)
                    .sum::<f64>()
                    / trials.len() as f64,
            ),
            unanswered: Some(trials.iter().map(|t| t.load.unanswered).sum()),
            latency_with_unanswered: Some(LatencySummary::of(&with_unanswered)),
            silent_connections: trials.iter().map(|t| t.load.silent_connections).max(),
            backlog: Some(trials.iter().map(|t| t.load.backlog).sum()),
            server_cpu_measured,
        })
    }
}
