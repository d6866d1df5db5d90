//! `framewut k8s collect JOB`: every agent's JSON result, read back through
//! `kubectl logs`, then merged.
//!
//! An agent prints its result as one JSON document on stdout; its log may
//! hold other lines around it (a warning on stderr, a runtime's notice), so
//! the document is found in the log rather than the log read as JSON. Each
//! index of the Job is accounted for: its document, or the reason there is
//! none (the pod failed before printing, is still running, or was never made).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

use super::job::{CONTAINER, INDEX_ANNOTATION, JOB_NAME_LABEL};
use crate::agents;
use crate::commands::merge;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    kubectl wait --for=condition=complete --timeout=5m job/framewut-load\n  \
    framewut k8s collect framewut-load\n  \
    framewut k8s collect framewut-load --namespace bench --kubectl /usr/local/bin/kubectl")]
pub struct CollectArgs {
    /// The Job's name (`k8s job --name`, framewut-load by default).
    pub job: String,
    /// The Job's namespace; none is kubectl's current one.
    #[arg(long)]
    pub namespace: Option<String>,
    /// The kubectl to run.
    #[arg(long, default_value = "kubectl")]
    pub kubectl: PathBuf,
    /// Print the merged result as JSON (schema: docs/load.schema.json) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One agent's result: its pod, index and JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentResult {
    pub pod: String,
    pub index: u32,
    pub document: Value,
}

/// What became of the Job's agents.
#[derive(Debug, Default, PartialEq)]
pub struct Collected {
    /// The agents that printed a result, by index.
    pub results: Vec<AgentResult>,
    /// One plain sentence for each index without a result, or a pod that
    /// printed one but failed.
    pub problems: Vec<String>,
    /// The Job's completions: how many agents there should be.
    pub agents: u32,
}

pub fn run(args: CollectArgs) -> anyhow::Result<ExitCode> {
    let kubectl = Kubectl {
        program: args.kubectl,
        namespace: args.namespace,
    };
    let collected = collect(&kubectl, &args.job)?;
    for problem in &collected.problems {
        eprintln!("framewut: {problem}");
    }
    if collected.results.is_empty() {
        bail!(
            "no agent of job {} printed a result; see `kubectl logs -l {JOB_NAME_LABEL}={}`",
            args.job,
            args.job
        );
    }
    let missing = (collected.agents as usize).saturating_sub(collected.results.len());
    let docs = collected
        .results
        .into_iter()
        .map(|r| (r.pod, r.document))
        .collect();
    // With agents missing, the others are merged all the same (the merge
    // would refuse their incomplete set) and the result says so below.
    let code = merge_documents(docs, missing > 0, args.json)?;
    if missing > 0 {
        eprintln!(
            "framewut: {missing} of {} agents gave no result: the merge covers the others' shares only, not the whole load",
            collected.agents
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(code)
}

/// Merges the agents' documents, each named by its pod, as `framewut
/// merge` does, and prints the result; `force` merges a set with agents
/// missing (their refusal is kept in the result's `agents.forced`).
pub fn merge_documents(
    docs: Vec<(String, Value)>,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut results = Vec::with_capacity(docs.len());
    for (pod, doc) in docs {
        let summary = serde_json::from_value(doc).with_context(|| {
            format!("pod {pod}: its JSON is not a `framewut load --json` result")
        })?;
        results.push(agents::AgentResult {
            source: format!("pod {pod}"),
            summary,
        });
    }
    let merged = agents::merge(&results, force)?;
    merge::print(&merged, json)?;
    Ok(merge::verdict(&merged))
}

/// The kubectl framewut runs, and the namespace it adds to every command.
pub struct Kubectl {
    pub program: PathBuf,
    pub namespace: Option<String>,
}

impl Kubectl {
    /// Runs kubectl with these arguments and gives back its stdout, or an
    /// error with its stderr.
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all: Vec<OsString> = Vec::new();
        if let Some(ns) = &self.namespace {
            all.extend(["--namespace".into(), ns.into()]);
        }
        all.extend(args.iter().map(OsString::from));
        let shown = format!("{} {}", self.program.display(), args.join(" "));
        let output = Command::new(&self.program)
            .args(&all)
            .stdin(Stdio::null())
            .output()
            .with_context(|| {
                format!(
                    "could not run {}: install kubectl, or give its path with --kubectl",
                    self.program.display()
                )
            })?;
        if !output.status.success() {
            bail!(
                "`{shown}` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        String::from_utf8(output.stdout)
            .with_context(|| format!("`{shown}` printed text that is not UTF-8"))
    }

    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let text = self.run(args)?;
        serde_json::from_str(&text)
            .with_context(|| format!("`kubectl {}` did not print JSON", args.join(" ")))
    }
}

/// Reads the Job's completions, lists its pods and reads each one's result.
pub fn collect(kubectl: &Kubectl, job: &str) -> anyhow::Result<Collected> {
    let spec = kubectl.json(&["get", "job", job, "-o", "json"])?;
    let agents = spec["spec"]["completions"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .with_context(|| format!("job {job} has no spec.completions: is it a framewut k8s job?"))?;
    let selector = format!("{JOB_NAME_LABEL}={job}");
    let pods = kubectl.json(&["get", "pods", "-l", &selector, "-o", "json"])?;
    let mut pods: Vec<Pod> = pods["items"]
        .as_array()
        .map(|items| items.iter().filter_map(Pod::read).collect())
        .unwrap_or_default();
    pods.sort_by(|a, b| (a.index, &a.name).cmp(&(b.index, &b.name)));

    let mut collected = Collected {
        agents,
        ..Collected::default()
    };
    let mut by_index: BTreeMap<u32, AgentResult> = BTreeMap::new();
    for pod in &pods {
        if pod.phase != "Succeeded" && pod.phase != "Failed" {
            collected.problems.push(format!(
                "agent {} (pod {}) has not finished (it is {}): wait for the Job to complete, e.g. `kubectl wait --for=condition=complete job/{job}`",
                pod.index, pod.name, pod.phase
            ));
            continue;
        }
        let log = match kubectl.run(&["logs", &pod.name, "-c", CONTAINER]) {
            Ok(log) => log,
            Err(e) => {
                collected.problems.push(format!(
                    "agent {} (pod {}): its log could not be read: {e:#}",
                    pod.index, pod.name
                ));
                continue;
            }
        };
        let failed = (pod.phase == "Failed").then(|| pod.exit_text());
        match (find_document(&log), failed) {
            (Some(document), failed) => {
                if let Some(why) = failed {
                    collected.problems.push(format!(
                        "agent {} (pod {}) failed ({why}) but printed a result, which is merged",
                        pod.index, pod.name
                    ));
                }
                by_index.entry(pod.index).or_insert(AgentResult {
                    pod: pod.name.clone(),
                    index: pod.index,
                    document,
                });
            }
            (None, failed) => collected.problems.push(format!(
                "agent {} (pod {}) printed no JSON result{}; its log ends: {}",
                pod.index,
                pod.name,
                failed
                    .map(|why| format!(" and failed ({why})"))
                    .unwrap_or_default(),
                log_tail(&log)
            )),
        }
    }
    for index in 0..agents {
        if !pods.iter().any(|p| p.index == index) {
            collected.problems.push(format!(
                "agent {index} has no pod: it was never scheduled, or deleted; see `kubectl describe job/{job}`"
            ));
        }
    }
    collected.results = by_index.into_values().collect();
    Ok(collected)
}

/// What collect needs of a pod.
struct Pod {
    name: String,
    index: u32,
    phase: String,
    /// The agent container's exit code and reason, once it has ended.
    exit: Option<(i64, String)>,
}

impl Pod {
    /// A pod of the list; one without a name or an index is no agent of a
    /// framewut Job and is left out.
    fn read(item: &Value) -> Option<Pod> {
        let meta = &item["metadata"];
        let index = meta["annotations"][INDEX_ANNOTATION]
            .as_str()
            .or_else(|| meta["labels"][INDEX_ANNOTATION].as_str())?
            .parse()
            .ok()?;
        let terminated = item["status"]["containerStatuses"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["name"] == CONTAINER))
            .map(|c| &c["state"]["terminated"])
            .filter(|t| t.is_object());
        Some(Pod {
            name: meta["name"].as_str()?.to_string(),
            index,
            phase: item["status"]["phase"]
                .as_str()
                .unwrap_or("Unknown")
                .to_string(),
            exit: terminated.map(|t| {
                (
                    t["exitCode"].as_i64().unwrap_or(-1),
                    t["reason"].as_str().unwrap_or("").to_string(),
                )
            }),
        })
    }

    /// How the agent ended, as a person would say it.
    fn exit_text(&self) -> String {
        match &self.exit {
            Some((3, _)) => "exit status 3: no request succeeded".into(),
            Some((code, reason)) if reason.is_empty() => format!("exit status {code}"),
            Some((code, reason)) => format!("exit status {code}, {reason}"),
            None => "no exit status recorded".into(),
        }
    }
}

/// The first JSON object in a log that starts at the beginning of a line
/// (`load --json` prints it so), read whole even across lines.
pub fn find_document(log: &str) -> Option<Value> {
    let mut offset = 0;
    for line in log.split_inclusive('\n') {
        if line.starts_with('{') {
            let mut stream =
                serde_json::Deserializer::from_str(&log[offset..]).into_iter::<Value>();
            if let Some(Ok(value @ Value::Object(_))) = stream.next() {
                return Some(value);
            }
        }
        offset += line.len();
    }
    None
}

/// The last few lines of a log, on one line, for a message.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "(the log is empty)".into();
    }
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::find_document;

    #[test]
    fn finds_the_document_among_other_lines() {
        let log =
            "starting\n{\n  \"requests\": 5,\n  \"nested\": {\"a\": [1, 2]}\n}\nframewut: done\n";
        let doc = find_document(log).unwrap();
        assert_eq!(doc["requests"], 5);
        assert_eq!(doc["nested"]["a"][1], 2);
    }

    #[test]
    fn skips_a_line_that_only_looks_like_json() {
        let log = "{not json\n{\"requests\": 1}\n";
        assert_eq!(find_document(log).unwrap()["requests"], 1);
    }

    #[test]
    fn finds_nothing_in_a_log_without_a_document() {
        assert_eq!(find_document(""), None);
        assert_eq!(find_document("Error: cannot connect\n"), None);
        assert_eq!(find_document("{\"truncated\": \n"), None);
        assert_eq!(find_document("[1, 2]\n"), None);
    }
}
