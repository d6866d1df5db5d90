//! `framewut compare A B`: every cell the two runs share, its rate in each
//! beside each side's noise, and whether the change exceeds that noise.
//!
//! A change is beyond the noise when it is larger than [`SIGMAS`] standard
//! deviations of the two sides' noise combined, `sqrt(σA² + σB²)`; each
//! side's noise is what [`super::noise::noise`] makes of its trials.

use std::fmt::Write;

use serde::Serialize;

use super::noise::noise;
use crate::format::{change, thousands};
use crate::lab::results::{CellResult, Results};
use crate::spec::CellSpec;

/// How many combined standard deviations a change must exceed to count.
/// A comparison tests every cell at once: at 2 a run of 20 unchanged cells
/// would flag one by chance, at 3 (0.27% a cell) about one run in twenty
/// would flag any.
pub const SIGMAS: f64 = 3.0;

/// A change this large (20%) that is still within the noise is pointed out:
/// the noise, not the change, is what more trials would settle.
const LARGE: f64 = 0.2;

/// One side of a change.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub requests_per_s: f64,
    /// One standard deviation of the rate.
    pub noise_per_s: f64,
    pub noise_from: String,
    pub p99_us: Option<u64>,
}

/// Which way a cell moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the noise: no change can be claimed.
    WithinNoise,
    Faster,
    Slower,
}

/// A cell measured in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: String,
    pub a: Side,
    pub b: Side,
    /// `(B - A) / A`.
    pub change: f64,
    /// `SIGMAS x sqrt(σA² + σB²)`, in req/s: the smallest change that counts.
    pub threshold_per_s: f64,
    pub verdict: Verdict,
    /// How the two cells' configurations differ: `workers 4 -> 2`.
    pub differences: Vec<String>,
}

/// Two runs set side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub changes: Vec<Change>,
    /// Cells of A that B does not hold, or did not measure.
    pub only_a: Vec<String>,
    /// Cells of B that A does not hold, or did not measure.
    pub only_b: Vec<String>,
    /// Differences between the runs' machines and placements.
    pub warnings: Vec<String>,
}

fn side(cell: &CellResult) -> Option<Side> {
    let summary = cell.summary.as_ref()?;
    let n = noise(cell)?;
    Some(Side {
        requests_per_s: summary.requests_per_s.mean,
        noise_per_s: n.per_s,
        noise_from: n.source,
        p99_us: summary.latency.at(99.0),
    })
}

/// What differs between two cells' configurations, in words.
fn differences(a: &CellSpec, b: &CellSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |what: &str, field: &dyn Fn(&CellSpec) -> String| {
        let (x, y) = (field(a), field(b));
        if x != y {
            out.push(format!("{what} {x} -> {y}"));
        }
    };
    differ("workers", &|c| c.stack.workers.to_string());
    differ("variant", &|c| {
        c.variant().map_or("-".to_string(), |v| v.to_string())
    });
    differ("stack", &|c| format!("{:?}", c.stack.source));
    differ("scenario", &|c| format!("{:?}", c.scenario));
    differ("threads", &|c| c.load.threads.to_string());
    differ("pacing", &|c| format!("{:?}", c.load.pacing));
    differ("duration", &|c| format!("{:?}", c.load.duration));
    differ("trials", &|c| c.load.trials.to_string());
    out
}

/// Sets run B beside run A, cell by cell (matched by id).
pub fn compare(a_name: &str, a: &Results, b_name: &str, b: &Results) -> Comparison {
    let mut changes = Vec::new();
    let mut only_a = Vec::new();
    for ca in &a.cells {
        let Some(cb) = b.cells.iter().find(|c| c.id == ca.id) else {
            only_a.push(ca.id.clone());
            continue;
        };
        let (Some(sa), Some(sb)) = (side(ca), side(cb)) else {
            if side(ca).is_some() {
                only_a.push(ca.id.clone());
            }
            continue;
        };
        let delta = sb.requests_per_s - sa.requests_per_s;
        let threshold = SIGMAS * sa.noise_per_s.hypot(sb.noise_per_s);
        let verdict = if delta.abs() <= threshold {
            Verdict::WithinNoise
        } else if delta > 0.0 {
            Verdict::Faster
        } else {
            Verdict::Slower
        };
        changes.push(Change {
            id: ca.id.clone(),
            change: if sa.requests_per_s > 0.0 {
                delta / sa.requests_per_s
            } else {
                0.0
            },
            threshold_per_s: threshold,
            verdict,
            differences: differences(&ca.config, &cb.config),
            a: sa,
            b: sb,
        });
    }
    let only_b = b
        .cells
        .iter()
        .filter(|cb| side(cb).is_some())
        .filter(|cb| !changes.iter().any(|c| c.id == cb.id))
        .map(|cb| cb.id.clone())
        .collect();

    let mut warnings = Vec::new();
    let (ea, eb) = (&a.environment, &b.environment);
    if ea.cpu_model != eb.cpu_model || ea.cores_online != eb.cores_online {
        warnings.push(format!(
            "the runs were on different machines ({}, {} CPUs against {}, {} CPUs): compare with care",
            ea.cpu_model, ea.cores_online, eb.cpu_model, eb.cores_online
        ));
    }
    let (pa, pb) = (&a.placement.placement, &b.placement.placement);
    if pa.server_cpus != pb.server_cpus || pa.load_cpus != pb.load_cpus {
        warnings.push(format!(
            "the placements differ (server on CPUs {} against {}, generator on {} against {})",
            pa.server_cpus, pb.server_cpus, pa.load_cpus, pb.load_cpus
        ));
    }
    if ea.git_commit != eb.git_commit {
        warnings.push(format!(
            "framewut was built from different commits ({} against {})",
            short_commit(&ea.git_commit),
            short_commit(&eb.git_commit)
        ));
    }
    Comparison {
        a: a_name.to_string(),
        b: b_name.to_string(),
        changes,
        only_a,
        only_b,
        warnings,
    }
}

fn short_commit(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn p99(us: Option<u64>) -> String {
    us.map_or("-".into(), |us| {
        framewut_load::format_duration(std::time::Duration::from_micros(us))
    })
}

impl Comparison {
    /// The cells whose change exceeds the noise.
    pub fn beyond_noise(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.verdict != Verdict::WithinNoise)
    }

    /// The comparison as a table and a closing summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "A: {}\nB: {}\n", self.a, self.b);
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        if !self.warnings.is_empty() {
            out.push('\n');
        }
        let width = self
            .changes
            .iter()
            .map(|c| c.id.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:<width$}  {:>9} {:>8}  {:>9} {:>8}  {:>8}  {:>9}  {:>9}  verdict",
            "cell", "A req/s", "±noise", "B req/s", "±noise", "change", "A p99", "B p99"
        );
        for c in &self.changes {
            let verdict = match c.verdict {
                Verdict::WithinNoise if c.change.abs() >= LARGE => {
                    "within noise, but large: more trials (--trials) would tell".to_string()
                }
                Verdict::WithinNoise => "within noise".to_string(),
                Verdict::Faster => {
                    format!("FASTER beyond noise (> {})", thousands(c.threshold_per_s))
                }
                Verdict::Slower => {
                    format!("SLOWER beyond noise (> {})", thousands(c.threshold_per_s))
                }
            };
            let differences = if c.differences.is_empty() {
                String::new()
            } else {
                format!("; {}", c.differences.join(", "))
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>9} {:>8}  {:>9} {:>8}  {:>8}  {:>9}  {:>9}  {verdict}{differences}",
                c.id,
                thousands(c.a.requests_per_s),
                format!("±{}", thousands(c.a.noise_per_s)),
                thousands(c.b.requests_per_s),
                format!("±{}", thousands(c.b.noise_per_s)),
                change(c.change),
                p99(c.a.p99_us),
                p99(c.b.p99_us),
            );
        }
        for (ids, which, other) in [(&self.only_a, "A", "B"), (&self.only_b, "B", "A")] {
            if !ids.is_empty() {
                let _ = writeln!(
                    out,
                    "\nmeasured only in {which} (not in {other}): {}",
                    ids.join(", ")
                );
            }
        }
        let beyond: Vec<String> = self
            .beyond_noise()
            .map(|c| format!("{} {}", c.id, change(c.change)))
            .collect();
        let _ = writeln!(
            out,
            "\n{} of {} cells changed beyond the noise{}",
            beyond.len(),
            self.changes.len(),
            if beyond.is_empty() {
                ".".to_string()
            } else {
                format!(": {}.", beyond.join(", "))
            }
        );
        let _ = writeln!(
            out,
            "noise: one standard deviation of each side's rate (of its trials, or with one trial of its per-second rate; never less than the counting noise); a change counts when it exceeds {SIGMAS} x sqrt(noise A² + noise B²)."
        );
        out
    }
}
