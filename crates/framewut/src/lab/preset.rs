//! Built-in matrices. Each is TOML read by the same parser as a user's file,
//! so `framewut list presets` and the docs describe one format.

use framewut_stacks::variant::ConnVariant;
use framewut_stacks::{stacks, Scenario};

use super::cpus::{CpuSet, Placement};
use super::matrix::{Matrix, Overrides};
use super::runner::estimate;

/// A built-in matrix.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    /// One line on what it runs.
    pub summary: &'static str,
    toml: fn() -> String,
}

impl Preset {
    /// The preset as matrix TOML.
    pub fn toml(&self) -> String {
        (self.toml)()
    }
}

/// The preset a bare `framewut run` runs.
pub const DEFAULT: &str = "quick";

/// Every preset.
pub fn presets() -> &'static [Preset] {
    &PRESETS
}

/// The preset of this name.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// `framewut list presets`: each preset's name, cells, estimated time on
/// this machine's default placement, and what it runs.
pub fn table() -> String {
    let placement = Placement::halves(&CpuSet::allowed());
    let width = PRESETS.iter().map(|p| p.name.len()).max().unwrap_or(0) + " (default)".len();
    let mut out = format!("{:width$}  CELLS  TIME     WHAT\n", "PRESET");
    for preset in &PRESETS {
        let cells = Matrix::parse(preset.name, &preset.toml())
            .ok()
            .and_then(|m| m.cells(&placement, &Overrides::default()).ok())
            .unwrap_or_default();
        let secs = cells
            .iter()
            .map(estimate)
            .sum::<std::time::Duration>()
            .as_secs();
        let name = if preset.name == DEFAULT {
            format!("{} (default)", preset.name)
        } else {
            preset.name.to_string()
        };
        out.push_str(&format!(
            "{name:width$}  {:>5}  {:>3}m{:02}s  {}\n",
            cells.len(),
            secs / 60,
            secs % 60,
            preset.summary
        ));
    }
    out.push_str(
        "Run one with `framewut run PRESET`; `framewut run PRESET --dry-run` lists its cells.\n",
    );
    out
}

static PRESETS: [Preset; 2] = [
    Preset {
        name: "quick",
        summary: "every scenario on the main concurrency models of the built-in Rust stacks, in about 2 minutes",
        toml: quick,
    },
    Preset {
        name: "rust",
        summary: "the whole built-in matrix: every Rust stack, scenario and variant, 3 trials each",
        toml: rust,
    },
];

/// The sync pool gets the seed's worker count (gunicorn ran 10 sync workers),
/// so its blocking waits overlap as the seed's did.
const SYNC_POOL_WORKERS: usize = 10;

fn quick() -> String {
    format!(
        r#"description = "every scenario on the main concurrency models of the built-in Rust stacks"
scenarios = ["hello", "sleep", "upstream", "cpu", "db"]

# sync-pool: one request at a time per worker thread
[[stack]]
id = "rust/std/sync-pool"
workers = {SYNC_POOL_WORKERS}

# thread-per-connection
[[stack]]
id = "rust/std/thread-per-conn"

# event loop per worker
[[stack]]
id = "rust/axum/per-core"

# work-stealing runtime
[[stack]]
id = "rust/axum/tokio-multi"

[[profile]]
connections = 32
duration = "3s"
warmup = "1s"
timeout = "5s"
trials = 1
"#
    )
}

fn rust() -> String {
    let mut out = String::from(
        "description = \"the whole built-in matrix: every Rust stack, scenario and variant\"\n\
         scenarios = [\"hello\", \"sleep\", \"upstream\", \"cpu\", \"db\"]\n",
    );
    for stack in stacks() {
        let workers = if stack.id == "rust/std/sync-pool" {
            format!("workers = {SYNC_POOL_WORKERS}\n")
        } else {
            String::new()
        };
        out.push_str(&format!("\n[[stack]]\nid = \"{}\"\n{workers}", stack.id));
        let mut variants: Vec<(Scenario, String)> = Vec::new();
        variants.extend(
            stack
                .sleep
                .iter()
                .skip(1)
                .map(|v| (Scenario::Sleep, format!("sleep={v}"))),
        );
        for (i, client) in stack.client.iter().enumerate() {
            for conn in [ConnVariant::Pooled, ConnVariant::Fresh] {
                if i > 0 || conn != ConnVariant::Pooled {
                    variants.push((Scenario::Upstream, format!("upstream={client}-{conn}")));
                }
            }
        }
        variants.extend(
            stack
                .cpu
                .iter()
                .skip(1)
                .map(|v| (Scenario::Cpu, format!("cpu={v}"))),
        );
        // db=async needs PostgreSQL; the preset reads the run's SQLite file.
        variants.extend(
            stack
                .db
                .iter()
                .filter(|v| !matches!(v.as_str(), "blocking" | "async"))
                .map(|v| (Scenario::Db, format!("db={v}"))),
        );
        for (scenario, variant) in variants {
            out.push_str(&format!(
                "\n[[stack]]\nid = \"{}\"\n{workers}variant = \"{variant}\"\nscenarios = [\"{scenario}\"]\n",
                stack.id
            ));
        }
    }
    out.push_str(
        "\n[[profile]]\nconnections = 64\nduration = \"5s\"\nwarmup = \"1s\"\ntimeout = \"5s\"\ntrials = 3\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(name: &str) -> Vec<crate::lab::matrix::CellSpec> {
        let preset = find(name).unwrap();
        Matrix::parse(name, &preset.toml())
            .unwrap()
            .cells(
                &Placement::halves(&"0-1".parse().unwrap()),
                &Overrides::default(),
            )
            .unwrap()
    }

    #[test]
    fn quick_covers_every_scenario_and_model_within_three_minutes() {
        let cells = cells("quick");
        for scenario in Scenario::ALL {
            assert!(
                cells.iter().any(|c| c.scenario.scenario() == scenario),
                "{scenario}"
            );
        }
        let models: std::collections::BTreeSet<String> = cells
            .iter()
            .map(|c| match &c.stack.source {
                crate::lab::matrix::StackSource::BuiltIn { model, .. } => model.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(models.len(), 4, "{models:?}");
        let total: std::time::Duration = cells.iter().map(estimate).sum();
        assert!(total.as_secs() < 150, "quick is estimated at {total:?}");
    }

    #[test]
    fn the_table_lists_every_preset_and_the_default() {
        let table = table();
        assert!(table.contains("quick (default)"), "{table}");
        for preset in presets() {
            let line = table.lines().find(|l| l.starts_with(preset.name)).unwrap();
            assert!(line.contains(preset.summary), "{line}");
        }
    }

    #[test]
    fn rust_has_every_stack_scenario_and_variant() {
        let cells = cells("rust");
        for stack in stacks() {
            for scenario in Scenario::ALL {
                assert!(
                    cells
                        .iter()
                        .any(|c| c.id == format!("{}/{scenario}/c64", stack.id)),
                    "{} {scenario}",
                    stack.id
                );
            }
        }
        assert!(cells
            .iter()
            .any(|c| c.id == "rust/axum/tokio-multi:upstream=blocking-fresh/upstream/c64"));
        assert!(cells
            .iter()
            .any(|c| c.id == "rust/actix/workers:cpu=offload/cpu/c64"));
        assert!(cells.iter().all(|c| c.load.trials == 3));
    }
}
