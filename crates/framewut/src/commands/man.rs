//! `framewut man`: the manual pages, rendered in roff from the clap
//! definitions as clap's own tools do it (clap_mangen): framewut(1) on
//! standard output, one subcommand's page with its name, or every page,
//! `framewut-run.1` and the rest, into a directory with `--dir`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory};

use super::Cli;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
framewut man | man -l -            read framewut(1)\n  \
framewut man load | man -l -       read framewut-load(1)\n  \
framewut man --dir ~/.local/share/man/man1   install every page for `man framewut-run`")]
pub struct ManArgs {
    /// A subcommand whose page to print (`run`, `load`, `db init`); none prints framewut(1).
    pub command: Vec<String>,
    /// Write every page (framewut.1, framewut-run.1, framewut-db-init.1, ...) into this directory instead.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

/// framewut's command definitions as the pages show them: built, so each
/// subcommand's name reads `framewut-run`, and without the `help`
/// subcommand, which has no page of its own.
fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The roff of the page for `path` (empty for framewut(1), else a
/// subcommand's words such as `["db", "init"]`).
pub fn page(path: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut cmd = command();
    for (i, name) in path.iter().enumerate() {
        let Some(sub) = cmd.find_subcommand(name).cloned() else {
            let known: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
            let parent: Vec<&str> = std::iter::once("framewut")
                .chain(path[..i].iter().map(String::as_str))
                .collect();
            anyhow::bail!(
                "{} has no subcommand {name:?}: it has {}",
                parent.join(" "),
                known.join(", ")
            );
        };
        cmd = sub;
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut roff)
        .context("rendering the manual page")?;
    Ok(roff)
}

pub fn run(args: ManArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = args.dir else {
        let roff = page(&args.command)?;
        crate::out!("{}", String::from_utf8_lossy(&roff))?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(command(), &dir)
        .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
    eprintln!(
        "framewut: manual pages in {}; read one with `man -l {}` or add the directory's parent to MANPATH",
        dir.display(),
        dir.join("framewut.1").display()
    );
    Ok(ExitCode::SUCCESS)
}
