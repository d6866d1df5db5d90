use clap::Parser;

use super::{check, manifest, Agents};
use crate::commands::k8s::K8sCommand;
use crate::commands::{Cli, Command};

/// 2026-11-29T12:00:00Z, the "now" of these tests.
const NOW: i64 = 1_795_953_600;

fn agents(args: &[&str]) -> anyhow::Result<Agents> {
    let line = ["framewut", "k8s", "job"].iter().chain(args);
    let cli = Cli::try_parse_from(line).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Command::K8s(k8s) = cli.command else {
        unreachable!("k8s job parses as the k8s command")
    };
    let K8sCommand::Job(job) = k8s.command else {
        unreachable!("k8s job parses as its job subcommand")
    };
    check(&job, NOW)
}

fn error(args: &[&str]) -> String {
    format!("{:#}", agents(args).unwrap_err())
}

const BASE: &[&str] = &["--agents", "3", "--image", "framewut:test"];

fn with(extra: &[&str]) -> Vec<&'static str> {
    BASE.iter()
        .copied()
        .chain(extra.iter().map(|s| s.to_string().leak() as &str))
        .collect()
}

#[test]
fn each_agent_runs_its_segment_at_one_start_with_the_load_flags_as_given() {
    let a = agents(&with(&[
        "http://web.bench.svc:8080/hello",
        "-c",
        "7",
        "-d",
        "30s",
        "--rate",
        "1000",
    ]))
    .unwrap();
    assert_eq!(a.agents, 3);
    assert_eq!(a.cores, 2, "-t's default, 2, is each agent's cores");
    assert_eq!(a.start_at, NOW + 30);
    assert_eq!(
        a.args,
        [
            "load",
            "--segment",
            "$(JOB_COMPLETION_INDEX)/3",
            "--start-at",
            "2026-11-29T12:00:30Z",
            "--json",
            "-t",
            "2",
            "http://web.bench.svc:8080/hello",
            "-c",
            "7",
            "-d",
            "30s",
            "--rate",
            "1000"
        ]
    );
}

#[test]
fn cores_come_from_cpus_per_agent_or_t_but_not_both() {
    let a = agents(&with(&[
        "--cpus-per-agent",
        "1",
        "http://10.0.0.5/",
        "-c",
        "3",
    ]))
    .unwrap();
    assert_eq!(
        (a.cores, &a.args[6..8]),
        (1, &["-t".to_string(), "1".to_string()][..])
    );
    let a = agents(&with(&[
        "http://10.0.0.5/",
        "-t",
        "4",
        "-c",
        "12",
        "--json",
    ]))
    .unwrap();
    assert_eq!(a.cores, 4);
    assert_eq!(
        a.args
            .iter()
            .filter(|t| *t == "-t" || *t == "--json")
            .count(),
        2,
        "{:?}",
        a.args
    );
    let e = error(&with(&[
        "--cpus-per-agent",
        "2",
        "http://10.0.0.5/",
        "-t",
        "2",
    ]));
    assert!(e.contains("both --cpus-per-agent and -t"), "{e}");
}

#[test]
fn refuses_a_loopback_target() {
    for url in [
        "http://127.0.0.1:8080/hello",
        "http://127.9.9.9/",
        "http://localhost:8080/",
        "http://LocalHost/",
        "http://api.localhost/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0:80/",
    ] {
        let e = error(&with(&[url]));
        assert!(e.contains("loopback"), "{url}: {e}");
    }
}

#[test]
fn checks_the_url_form_without_resolving_the_host() {
    // A cluster name resolves only inside the cluster: it is taken as it is.
    agents(&with(&[
        "http://no-such-name.invalid:8080/hello",
        "-c",
        "6",
    ]))
    .unwrap();
    agents(&with(&["http://[2001:db8::7]:8080/", "-c", "6"])).unwrap();
    // HTTPS too: the agents trust the image's CAs, or --cacert/--insecure.
    agents(&with(&["https://web.default.svc:8443/hello", "-c", "6"])).unwrap();
    for (url, says) in [
        ("ftp://web:8443/", "http:// and https:// URLs only"),
        ("web:8080/hello", "no scheme"),
        ("http:///hello", "no host"),
        ("http://web:99999/", "not a port number"),
        ("http://[2001:db8::7/", "closing ']'"),
        ("http://web/a b", "spaces"),
    ] {
        let e = error(&with(&[url]));
        assert!(e.contains(says), "{url}: {e}");
        assert!(e.contains(url), "the error names the URL as given: {e}");
    }
}

#[test]
fn checks_each_agents_share_as_load_would() {
    let e = error(&with(&["http://10.0.0.5/", "-c", "5"]));
    assert!(
        e.contains("gives some agent 1 connections") && e.contains("-c 6"),
        "{e}"
    );
    let e = error(&with(&["http://10.0.0.5/", "-c", "6", "--requests", "2"]));
    assert!(e.contains("--requests 3"), "{e}");
    let e = error(&with(&["http://10.0.0.5/", "-c", "6", "--pipeline", "0"]));
    assert!(e.contains("--pipeline 1"), "{e}");
    let e = error(&with(&["http://10.0.0.5/", "-c", "6", "--bogus"]));
    assert!(e.contains("the load flags") && e.contains("--bogus"), "{e}");
    let e = error(&with(&["http://10.0.0.5/", "-c", "6", "-m", "GE T"]));
    assert!(e.contains("not an HTTP method"), "{e}");
}

#[test]
fn refuses_flags_that_framewut_sets_or_that_belong_before_the_url() {
    for (flag, says) in [
        ("--segment=1/2", "pod's index"),
        ("--start-at", "k8s job --start-at"),
        ("--cpus", "--cpus-per-agent"),
        ("--agents", "before the URL"),
        ("--image=x", "before the URL"),
    ] {
        let e = error(&with(&["http://10.0.0.5/", "-c", "6", flag, "1"]));
        assert!(e.contains(says), "{flag}: {e}");
    }
}

#[test]
fn keeps_dollars_in_load_flags_from_kubernetes_expansion() {
    let a = agents(&with(&[
        "http://10.0.0.5/",
        "-c",
        "6",
        "-H",
        "X-Token: $(HOME)$x",
    ]))
    .unwrap();
    assert_eq!(a.args.last().unwrap(), "X-Token: $$(HOME)$$x");
}

#[test]
fn refuses_a_start_in_the_past_and_names_that_are_not_kubernetes_names() {
    let e = error(&with(&[
        "--start-at",
        "2026-11-29T11:59:59Z",
        "http://10.0.0.5/",
        "-c",
        "6",
    ]));
    assert!(e.contains("not in the future"), "{e}");
    let a = agents(&with(&[
        "--start-at",
        "2026-11-29T13:00:00+01:00",
        "http://10.0.0.5/",
        "-c",
        "6",
    ]));
    assert!(a.unwrap_err().to_string().contains("not in the future"));
    for (flag, value) in [("--name", "Load"), ("--name", "-x"), ("--namespace", "a_b")] {
        let e = error(&with(&[flag, value, "http://10.0.0.5/", "-c", "6"]));
        assert!(e.contains("63 lowercase"), "{flag} {value}: {e}");
    }
    let e = error(&with(&["--memory", "256MB", "http://10.0.0.5/", "-c", "6"]));
    assert!(e.contains("256Mi"), "{e}");
    let e = error(&with(&["--ttl", "0s", "http://10.0.0.5/", "-c", "6"]));
    assert!(e.contains("--ttl 0"), "{e}");
}

#[test]
fn the_job_is_indexed_with_no_retries_whole_cores_and_one_pod_per_node() {
    let a = agents(&with(&[
        "--cpus-per-agent",
        "2",
        "--memory",
        "1Gi",
        "--ttl",
        "90m",
        "--namespace",
        "bench",
        "http://10.0.0.5/",
        "-c",
        "6",
    ]))
    .unwrap();
    let job = manifest(&a);
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(
        (spec["completions"].as_u64(), spec["parallelism"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(spec["backoffLimit"], 0);
    assert_eq!(spec["ttlSecondsAfterFinished"], 5400);
    assert_eq!(job["metadata"]["namespace"], "bench");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let container = &pod["containers"][0];
    assert_eq!(
        container["resources"]["requests"],
        container["resources"]["limits"]
    );
    assert_eq!(container["resources"]["limits"]["cpu"], "2");
    assert_eq!(container["resources"]["limits"]["memory"], "1Gi");
    let spread = &pod["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        spread["labelSelector"]["matchLabels"]["job-name"],
        "framewut-load"
    );
}
