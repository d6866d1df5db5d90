//! `framewut merge FILE...`: the results of load agents (`framewut load
//! --segment I/N --json`) merged into the result of the whole load.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use framewut_load::Summary;

use crate::agents::{self, AgentResult};
use crate::commands::load::render;
pub use crate::commands::load::verdict;

#[derive(Debug, Args)]
#[command(
    after_help = "Each FILE is a `framewut load --json` result (one document, several \
    concatenated, or one per line), a directory whose *.json files are read, or - for stdin.\n\n\
    Examples:\n  \
    framewut merge agent-0.json agent-1.json agent-2.json agent-3.json\n  \
    framewut merge results/ --json > whole.json\n  \
    cat agent-*.json | framewut merge -\n\n\
    Exit status: 0 merged; 1 unreadable or refused results; 3 merged, but no agent's request \
    succeeded; 4 a threshold the agents checked is crossed by the merged result (as `load`)"
)]
pub struct MergeArgs {
    /// The agents' results: files, directories of *.json, or - for stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Print the merged result as JSON (schema: docs/load.schema.json) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Merge even results that are not the agents of one load (another target, another
    /// plan, a segment twice or missing); the refusals are kept in the result.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut results = Vec::new();
    for file in &args.files {
        results.extend(read(file)?);
    }
    let merged = agents::merge(&results, args.force)?;
    print(&merged, args.json)?;
    Ok(verdict(&merged))
}

/// Prints a merged result as `merge` does: JSON, or `load`'s text followed
/// by the agents' lines.
pub fn print(merged: &Summary, json: bool) -> anyhow::Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(merged)?)?;
    } else {
        crate::outln!("{}", merged_header(merged))?;
        crate::out!("{}", render(merged))?;
        crate::out!("{}", agents::render_agents(merged))?;
    }
    Ok(())
}

/// The merged load's opening line, as `load` opens with wrk's: what ran,
/// where, and over how many agents.
fn merged_header(merged: &Summary) -> String {
    let plan = &merged.plan;
    let what = match (plan.duration_s, plan.stop_requests) {
        (_, Some(n)) => format!("{n}-request test"),
        (Some(d), None) => format!("{d}s test"),
        (None, None) => "test".to_string(),
    };
    let agents = merged.agents.as_ref().map_or(1, |a| a.count);
    let mut line = format!(
        "Merged {agents} agents of a {what} @ {}\n  {} threads and {} connections in all",
        plan.url, plan.threads, plan.connections
    );
    if let Some(rate) = plan.rate {
        line.push_str(&format!(", open loop at {rate:.0} req/s"));
    }
    line
}

/// The results in one argument: stdin, a directory's *.json files (in name
/// order), or a file.
fn read(arg: &str) -> anyhow::Result<Vec<AgentResult>> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        return agents::parse_documents(&text, "stdin");
    }
    let path = Path::new(arg);
    if !path.is_dir() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {arg}"))?;
        return agents::parse_documents(&text, arg);
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .with_context(|| format!("reading the directory {arg}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    if files.is_empty() {
        bail!("{arg} holds no *.json files: give the agents' `framewut load --json` results");
    }
    files.sort();
    let mut results = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
        results.extend(agents::parse_documents(&text, &name)?);
    }
    Ok(results)
}
