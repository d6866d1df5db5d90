//! `framewut list stacks`: the built-in stacks, their models and variants;
//! `framewut list presets`: the built-in matrices.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use framewut_stacks::catalogue::Workers;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list.
    pub what: ListWhat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListWhat {
    /// The built-in Rust stacks.
    Stacks,
    /// The built-in matrices `framewut run` takes by name.
    Presets,
}

pub fn run(args: ListArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        ListWhat::Stacks => print!("{}", stacks_table()),
        ListWhat::Presets => print!("{}", crate::lab::preset::table()),
    }
    Ok(ExitCode::SUCCESS)
}

fn stacks_table() -> String {
    let stacks = framewut_stacks::stacks();
    let id_width = stacks.iter().map(|s| s.id.len()).max().unwrap_or(0);
    let model_width = stacks
        .iter()
        .map(|s| s.model.as_str().len())
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "{:id_width$}  {:model_width$}  WORKERS   VARIANTS (defaults first)\n",
        "STACK", "MODEL"
    );
    for stack in stacks {
        let workers = match stack.workers {
            Workers::Configurable => "N",
            Workers::One => "1",
            Workers::PerConnection => "per-conn",
        };
        let close = if stack.close { " --close" } else { "" };
        out.push_str(&format!(
            "{:id_width$}  {:model_width$}  {workers:8}  {}{close}\n{:id_width$}  {}\n",
            stack.id,
            stack.model.as_str(),
            stack.variants_summary(),
            "",
            stack.description,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_every_stack_with_its_model() {
        let table = super::stacks_table();
        for stack in framewut_stacks::stacks() {
            let line = table
                .lines()
                .find(|line| line.starts_with(stack.id))
                .unwrap();
            assert!(line.contains(stack.model.as_str()), "{line}");
        }
        let first: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(first[..3], ["rust/std/sync-pool", "sync-pool", "N"]);
    }
}
