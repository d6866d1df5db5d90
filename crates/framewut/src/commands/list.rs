//! `framewut list stacks`: the built-in Rust and Python stacks, their models
//! and variants (`--close` and `--tls` mark the stacks that take them, `h2`
//! those that serve HTTP/2 beside HTTP/1.1: h2c in cleartext, h2 over TLS);
//! `framewut list presets`: the built-in matrices.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use framewut_stacks::catalogue::Workers;

use crate::lab::matrix::preset::{self, presets};
use crate::lab::matrix::{Matrix, Overrides};
use crate::lab::measure::cpus::{CpuSet, Placement};
use crate::lab::runner::estimate;
use crate::python::python_stacks;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list.
    pub what: ListWhat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListWhat {
    /// The built-in stacks: framewut's own Rust stacks and the Python ones.
    Stacks,
    /// The built-in matrices `framewut run` takes by name.
    Presets,
}

pub fn run(args: ListArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        ListWhat::Stacks => crate::out!("{}", stacks_table())?,
        ListWhat::Presets => crate::out!("{}", presets_table())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `framewut list presets`: each preset's name, cells, estimated time on
/// this machine's default placement, and what it runs.
fn presets_table() -> String {
    let placement = Placement::halves(&CpuSet::allowed());
    let width = presets().iter().map(|p| p.name.len()).max().unwrap_or(0) + " (default)".len();
    let mut out = format!("{:width$}  CELLS  TIME     WHAT\n", "PRESET");
    for preset in presets() {
        let cells = Matrix::parse(preset.name, &preset.toml())
            .ok()
            .and_then(|m| m.cells(&placement, &Overrides::default()).ok())
            .unwrap_or_default();
        let secs = cells
            .iter()
            .map(estimate)
            .sum::<std::time::Duration>()
            .as_secs();
        let name = if preset.name == preset::DEFAULT {
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

/// One row of the stacks table: Rust and Python stacks read alike.
struct Row {
    id: &'static str,
    model: &'static str,
    workers: &'static str,
    variants: String,
    description: &'static str,
}

fn stacks_table() -> String {
    let rust = framewut_stacks::stacks().iter().map(|stack| Row {
        id: stack.id,
        model: stack.model.as_str(),
        workers: match stack.workers {
            Workers::Configurable => "N",
            Workers::One => "1",
            Workers::PerConnection => "per-conn",
        },
        variants: format!(
            "{}{}{}{}",
            stack.variants_summary(),
            if stack.close { " --close" } else { "" },
            if stack.tls { " --tls" } else { "" },
            http2_mark(stack.http2)
        ),
        description: stack.description,
    });
    let python = python_stacks().iter().map(|stack| Row {
        id: stack.id,
        model: stack.model.as_str(),
        workers: "N",
        variants: format!(
            "sleep={} upstream={}{}",
            names(stack.sleep.iter().map(|mode| mode.as_str())),
            names(stack.clients.iter().map(|client| client.as_str())),
            http2_mark(stack.serves_http2())
        ),
        description: stack.description,
    });
    let rows: Vec<Row> = rust.chain(python).collect();
    let id_width = rows.iter().map(|row| row.id.len()).max().unwrap_or(0);
    let model_width = rows.iter().map(|row| row.model.len()).max().unwrap_or(0);
    let mut out = format!(
        "{:id_width$}  {:model_width$}  WORKERS   VARIANTS (defaults first)\n",
        "STACK", "MODEL"
    );
    for row in rows {
        out.push_str(&format!(
            "{:id_width$}  {:model_width$}  {:8}  {}\n{:id_width$}  {}\n",
            row.id, row.model, row.workers, row.variants, "", row.description,
        ));
    }
    out
}

/// The mark of a stack that serves HTTP/2 beside HTTP/1.1.
fn http2_mark(http2: bool) -> &'static str {
    if http2 {
        " h2"
    } else {
        ""
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presets_table_lists_every_preset_and_the_default() {
        let table = presets_table();
        assert!(table.contains("quick (default)"), "{table}");
        for preset in presets() {
            let line = table.lines().find(|l| l.starts_with(preset.name)).unwrap();
            assert!(line.contains(preset.summary), "{line}");
        }
    }

    /// The stack's row, and its text under the header's MODEL column.
    fn row_and_model<'a>(table: &'a str, id: &str) -> (&'a str, &'a str) {
        let header = table.lines().next().unwrap();
        let (from, to) = (
            header.find("MODEL").unwrap(),
            header.find("WORKERS").unwrap(),
        );
        let row = table
            .lines()
            .find(|line| line.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} is not listed:\n{table}"));
        (row, row[from..to].trim())
    }

    #[test]
    fn lists_every_stack_with_its_model() {
        let table = stacks_table();
        for stack in framewut_stacks::stacks() {
            let (row, model) = row_and_model(&table, stack.id);
            assert_eq!(model, stack.model.as_str());
            assert_eq!(
                row.ends_with(" --tls h2"),
                stack.tls && stack.http2,
                "{row}"
            );
            assert_eq!(row.ends_with(" --tls"), stack.tls && !stack.http2, "{row}");
        }
        let (hyper, _) = row_and_model(&table, "rust/hyper/tokio-multi");
        assert!(hyper.ends_with("offload --tls h2"), "{hyper}");
        let (fast, _) = row_and_model(&table, "rust/fast/per-core");
        assert!(fast.ends_with(" --tls"), "{fast}");
        let first: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(first[..3], ["rust/std/sync-pool", "sync-pool", "N"]);
    }

    #[test]
    fn lists_the_python_stacks_in_the_same_columns() {
        let table = stacks_table();
        for stack in python_stacks() {
            assert_eq!(row_and_model(&table, stack.id).1, stack.model.as_str());
        }
        let fields = |id| -> Vec<&str> { row_and_model(&table, id).0.split_whitespace().collect() };
        assert_eq!(
            fields("python/gevent/gunicorn-gevent")[2..],
            ["N", "sleep=cooperative", "upstream=fresh|session|futures"]
        );
        assert_eq!(
            fields("python/asgi/uvicorn")[3..],
            ["sleep=cooperative|blocking", "upstream=session|fresh"]
        );
        assert_eq!(
            fields("python/asgi/granian")[3..],
            ["sleep=cooperative|blocking", "upstream=session|fresh", "h2"]
        );
    }
}
