//! `framewut k8s job`: a batch/v1 Job of load agents.
//!
//! The Job is Indexed: Kubernetes gives each of its N pods an index 0..N-1,
//! and each pod runs `framewut load --segment INDEX/N` so the agents' shares
//! of the connections, the rate and the requests add up to the whole. They
//! all wait for one `--start-at` time a little in the future, so they start
//! together however long their images took to pull. Each pod asks for whole
//! cores with requests equal to limits (Guaranteed QoS: with the kubelet's
//! static CPU manager the cores are its alone) and runs one load thread per
//! core. Pods spread over nodes, since two agents on one node share its
//! network and would measure each other. Nothing is retried: a second try of
//! one agent would start late and load alone.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{Args, FromArgMatches, ValueEnum};
use framewut_load::{parse_duration, Rate, Target, TargetError, MIN_RATE};
use serde_json::{json, Value};

use super::yaml::to_yaml;
use crate::commands::load::{LoadArgs, DEFAULT_THREADS};

#[derive(Debug, Args)]
#[command(
    after_help = "The load flags come after the URL and are `framewut load`'s own \
    (see `framewut load --help`); they give the whole load, which the agents share. \
    -t is each agent's threads and cores (or give --cpus-per-agent). framewut adds \
    --segment, --start-at and --json itself.\n\n\
    Examples:\n  \
    framewut k8s job --agents 4 --image registry.example/framewut:1 http://web.default.svc:8080/hello -c 256 -d 30s > job.yaml\n  \
    kubectl apply -f job.yaml\n  \
    kubectl wait --for=condition=complete --timeout=5m job/framewut-load\n  \
    framewut k8s collect framewut-load"
)]
pub struct JobArgs {
    /// How many agents (pods) share the load.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub agents: u32,
    /// The container image with framewut as `framewut` on its PATH (see the Dockerfile).
    #[arg(long)]
    pub image: String,
    /// The namespace to put the Job in; none leaves it to `kubectl apply`.
    #[arg(long)]
    pub namespace: Option<String>,
    /// The Job's name, which `k8s collect` takes.
    #[arg(long, default_value = "framewut-load")]
    pub name: String,
    /// Start the load this long after the manifest is made (time for kubectl
    /// apply, scheduling and pulling the image).
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub start_in: Duration,
    /// Start the load at this time instead: RFC 3339 (2026-11-29T12:00:00Z) or Unix seconds.
    #[arg(long, conflicts_with = "start_in", value_parser = parse_instant)]
    pub start_at: Option<i64>,
    /// Whole cores each agent owns and runs a load thread on (the same as -t among the load flags).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub cpus_per_agent: Option<u32>,
    /// Each agent's memory, requested and limited, as Kubernetes writes it: 256Mi, 1Gi.
    #[arg(long, default_value = "256Mi", value_parser = memory_arg)]
    pub memory: String,
    /// How long Kubernetes keeps the finished Job and its pods' logs for `k8s collect`.
    #[arg(long, default_value = "1h", value_parser = duration_arg)]
    pub ttl: Duration,
    /// The manifest's format.
    #[arg(long, value_enum, default_value_t = Output::Yaml)]
    pub output: Output,
    /// The URL the agents load, then `framewut load`'s flags.
    #[arg(
        value_name = "URL [LOAD FLAGS]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub load: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Yaml,
    Json,
}

fn duration_arg(s: &str) -> Result<Duration, framewut_load::DurationError> {
    parse_duration(s)
}

/// A Kubernetes memory quantity in the forms people write for a pod: a whole
/// number with an optional binary or decimal suffix.
fn memory_arg(s: &str) -> Result<String, String> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &s[digits.len()..];
    let known = ["", "Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"];
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.bytes().any(|b| b != b'0')
        && known.contains(&suffix)
    {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a memory size Kubernetes takes: write a whole number with Ki, Mi or Gi, e.g. 256Mi or 1Gi"
        ))
    }
}

/// The label Kubernetes puts on a Job's pods; `k8s collect` selects by it.
pub const JOB_NAME_LABEL: &str = "job-name";
/// The annotation that carries a pod's completion index.
pub const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The agent container's name, which `kubectl logs -c` takes.
pub const CONTAINER: &str = "agent";

/// Everything the Job needs, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agents {
    pub name: String,
    pub namespace: Option<String>,
    pub image: String,
    pub agents: u32,
    pub cores: u32,
    pub memory: String,
    pub ttl_s: u64,
    /// The load start, Unix seconds.
    pub start_at: i64,
    /// `load` and its arguments, as the container runs them.
    pub args: Vec<String>,
}

/// Seconds since the Unix epoch, now.
fn now_unix() -> i64 {
    unix(SystemTime::now())
}

fn unix(t: SystemTime) -> i64 {
    framewut_load::unix_seconds(t).floor() as i64
}

/// A start time as the agents are given it: RFC 3339 UTC in whole seconds.
fn format_utc(unix: i64) -> String {
    framewut_load::rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64))
}

/// `--start-at`, read as `framewut load --start-at` reads it (RFC 3339 or
/// Unix seconds), to the whole second.
fn parse_instant(text: &str) -> Result<i64, String> {
    framewut_load::parse_time(text)
        .map(unix)
        .map_err(|e| e.to_string())
}

pub fn run(args: JobArgs) -> anyhow::Result<ExitCode> {
    let agents = check(&args, now_unix())?;
    let job = manifest(&agents);
    let text = match args.output {
        Output::Yaml => to_yaml(&job),
        Output::Json => format!("{}\n", serde_json::to_string_pretty(&job)?),
    };
    crate::out!("{text}")?;
    Ok(ExitCode::SUCCESS)
}

/// The flags framewut sets on every agent itself, and why a user may not.
const SET_BY_FRAMEWUT: &[(&str, &str)] = &[
    ("--segment", "each agent's segment comes from its pod's index"),
    ("--start-at", "give the start as `k8s job --start-at` (before the URL)"),
    (
        "--cpus",
        "an agent's CPUs are the ones the kubelet gives its pod; ask for them with --cpus-per-agent",
    ),
];

/// The `k8s job` flags, which must come before the URL.
const JOB_FLAGS: &[&str] = &[
    "--agents",
    "--image",
    "--namespace",
    "--name",
    "--start-in",
    "--start-at",
    "--cpus-per-agent",
    "--memory",
    "--ttl",
    "--output",
];

/// Checks the arguments as the agents will run them, at `now` (Unix seconds).
pub fn check(args: &JobArgs, now: i64) -> anyhow::Result<Agents> {
    dns_label("--name", &args.name)?;
    if let Some(ns) = &args.namespace {
        dns_label("--namespace", ns)?;
    }
    if args.image.is_empty() || args.image.chars().any(char::is_whitespace) {
        bail!("--image {:?}: give an image reference without spaces, e.g. registry.example/framewut:1", args.image);
    }
    let ttl_s = args.ttl.as_secs() + u64::from(args.ttl.subsec_nanos() > 0);
    if ttl_s == 0 {
        bail!("--ttl 0 would delete the Job, and its pods' logs, as soon as it finished, before `k8s collect` could read them: give e.g. --ttl 1h");
    }
    let start_at = match args.start_at {
        Some(at) if at <= now => bail!(
            "--start-at {} is not in the future (it is now {}): the agents would start late and apart; give a later time or use --start-in",
            format_utc(at),
            format_utc(now)
        ),
        Some(at) => at,
        None => now + args.start_in.as_secs_f64().ceil() as i64,
    };

    for token in &args.load {
        let flag = token.split('=').next().unwrap_or(token);
        if let Some((_, why)) = SET_BY_FRAMEWUT.iter().find(|(f, _)| *f == flag) {
            bail!("{flag} among the load flags: framewut sets it on every agent ({why})");
        }
        if JOB_FLAGS.contains(&flag) {
            bail!("{flag} after the URL: everything after the URL is a `framewut load` flag; put `k8s job` flags such as {flag} before the URL");
        }
    }
    let matches = LoadArgs::augment_args(clap::Command::new("framewut load"))
        .try_get_matches_from(
            std::iter::once("framewut load").chain(args.load.iter().map(String::as_str)),
        )
        .map_err(|e| anyhow::anyhow!("the load flags: {}", e.render().to_string().trim_end()))?;
    let load = LoadArgs::from_arg_matches(&matches)?;
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let cores = match (args.cpus_per_agent, given("threads")) {
        (Some(_), true) => bail!(
            "both --cpus-per-agent and -t: an agent runs one thread per core it owns; give one of them"
        ),
        (Some(cores), false) => cores,
        // An agent's pod asks for its cores whatever its share of the
        // connections: a share too small for them is refused below.
        (None, _) => u32::try_from(load.threads.unwrap_or(DEFAULT_THREADS))
            .context("-t is too large")?,
    };

    let Some(url) = load.url.as_deref() else {
        bail!(
            "k8s job needs a URL after the Job's flags: --targets reads a file the agents' image \
             does not hold, so a Job loads one URL"
        );
    };
    let stand_in = check_url(url)?;
    check_shares(&matches, &load, args.agents, cores, &stand_in)?;

    let mut container_args = vec![
        "load".to_string(),
        "--segment".to_string(),
        format!("$(JOB_COMPLETION_INDEX)/{}", args.agents),
        "--start-at".to_string(),
        format_utc(start_at),
    ];
    if !given("json") {
        container_args.push("--json".into());
    }
    if !given("threads") {
        container_args.extend(["-t".to_string(), cores.to_string()]);
    }
    // Kubernetes expands $(VAR) in a container's args and reads $$ as one $:
    // doubling every $ keeps the user's text exactly as typed.
    container_args.extend(args.load.iter().map(|t| t.replace('$', "$$")));

    Ok(Agents {
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        image: args.image.clone(),
        agents: args.agents,
        cores,
        memory: args.memory.clone(),
        ttl_s,
        start_at,
        args: container_args,
    })
}

/// A name Kubernetes takes as a Job name or namespace: an RFC 1123 label.
fn dns_label(flag: &str, name: &str) -> anyhow::Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        bail!("{flag} {name:?}: Kubernetes takes at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. framewut-load");
    }
    Ok(())
}

/// Checks the URL's form without resolving its host (a cluster's names
/// resolve only inside it, and making the manifest sends nothing anywhere),
/// refuses a loopback host, and gives back the URL with its host replaced
/// by a documentation address, for checking the rest as `load` would.
fn check_url(url: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = url
        .split_once("://")
        .filter(|(s, _)| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
    else {
        // Not http://: the target's own check says what is wrong before it
        // would resolve anything.
        return Err(Target::parse(url).err().map_or_else(
            || anyhow::anyhow!("'{url}': give an http:// or https:// URL"),
            anyhow::Error::from,
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port.is_empty()
        || host_port.starts_with(':')
        || (host_port.starts_with('[') && !host_port.contains(']'))
    {
        // No host, or an unclosed IPv6 one: the target's own check says so
        // before it would resolve anything.
        return Err(Target::parse(url).err().map_or_else(
            || anyhow::anyhow!("'{url}': the URL has no host"),
            anyhow::Error::from,
        ));
    }
    let host = if host_port.starts_with('[') {
        host_port.find(']').map_or(host_port, |i| &host_port[..=i])
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.to_ascii_lowercase().ends_with(".localhost")
        || bare
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback() || ip.is_unspecified());
    if loopback {
        bail!(
            "'{url}': {host} is the agent's own loopback inside its pod, not your server; give an address or name the pods can reach, e.g. a Service (http://web.default.svc:8080/hello) or a node's IP"
        );
    }
    let stand_in_host = if host.starts_with('[') {
        "[2001:db8::1]"
    } else {
        "192.0.2.1"
    };
    let prefix = &authority[..authority.len() - host_port.len()];
    let stand_in = format!(
        "{scheme}://{prefix}{stand_in_host}{}{path}",
        &host_port[host.len()..]
    );
    match Target::parse(&stand_in) {
        Ok(_) => Ok(stand_in),
        Err(TargetError::Malformed { problem, .. }) => Err(TargetError::Malformed {
            url: url.to_string(),
            problem,
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// Checks that each agent's share is a load `framewut load` would run: the
/// smallest share (the division rounds down for some agents) with the
/// agent's threads, through the load command's own checks.
fn check_shares(
    matches: &clap::ArgMatches,
    load: &LoadArgs,
    agents: u32,
    cores: u32,
    stand_in: &str,
) -> anyhow::Result<()> {
    let n = agents as usize;
    let threads = cores as usize;
    let least = load.connections / n;
    if least < threads {
        bail!(
            "-c {} over {agents} agents gives some agent {least} connections, but each runs {threads} threads and a thread needs a connection: give -c {} or more, or fewer cores per agent",
            load.connections,
            n * threads
        );
    }
    if let Some(requests) = load.requests.filter(|r| *r < u64::from(agents)) {
        bail!("--requests {requests} over {agents} agents leaves some agent none: give at least --requests {agents}");
    }
    let rate = match load.rate {
        Some(r) if r.get() / f64::from(agents) < MIN_RATE => bail!(
            "--rate {} over {agents} agents is below the least rate an agent can send ({MIN_RATE} req/s)",
            r.get()
        ),
        Some(r) => Rate::per_second(r.get() / f64::from(agents)),
        None => None,
    };
    // The share is the parsed flags again, each split value set to the
    // smallest share: a fresh parse rather than a copy, so every other flag
    // `load` has, now or later, is checked as given.
    let mut share = LoadArgs::from_arg_matches(matches)?;
    share.url = Some(stand_in.to_string());
    share.connections = least;
    share.threads = Some(threads);
    share.requests = load.requests.map(|r| r / u64::from(agents));
    share.rate = rate;
    share.cpus = None;
    share.plan().map(|_| ())
}

/// The Job, as data.
pub fn manifest(a: &Agents) -> Value {
    let cores = a.cores.to_string();
    // Requests equal to limits, in whole cores: Guaranteed QoS.
    let resources = json!({"cpu": cores, "memory": a.memory});
    let mut metadata = json!({
        "name": a.name,
        "labels": {"app.kubernetes.io/name": "framewut-load", "app.kubernetes.io/managed-by": "framewut"},
        "annotations": {"framewut/start-at": format_utc(a.start_at)},
    });
    if let Some(ns) = &a.namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": a.agents,
            "parallelism": a.agents,
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": a.ttl_s,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "framewut-load"}},
                "spec": {
                    "restartPolicy": "Never",
                    "topologySpreadConstraints": [{
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {JOB_NAME_LABEL: a.name}},
                    }],
                    "containers": [{
                        "name": CONTAINER,
                        "image": a.image,
                        "command": ["framewut"],
                        "args": a.args,
                        // The index as an environment variable, for the
                        // $(JOB_COMPLETION_INDEX) in args; the Job controller
                        // sets the same one, but saying it here makes the
                        // manifest read whole.
                        "env": [{
                            "name": "JOB_COMPLETION_INDEX",
                            "valueFrom": {"fieldRef": {"fieldPath": format!("metadata.annotations['{INDEX_ANNOTATION}']")}},
                        }],
                        "resources": {"requests": resources, "limits": resources},
                    }],
                },
            },
        },
    })
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;
