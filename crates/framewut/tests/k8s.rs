//! `framewut k8s`: the Job it prints, against its golden file and against
//! Kubernetes' own schemas, and `k8s collect` against a stand-in kubectl.
//!
//! No cluster runs here. The schemas come from the PyPI package
//! `kubernetes-validate` (strict mode, which refuses any field a Kubernetes
//! version does not have), installed on first use into a virtual environment
//! under Cargo's target directory; python3 with venv must be installed
//! (.ci/run installs python3-venv). The stand-in kubectl
//! (tests/fixtures/k8s/kubectl) plays back recorded job and pod lists and pod
//! logs whose JSON documents are real `framewut load --json` output.
//!
//! After a deliberate change to the Job, rewrite its golden file with
//! `INSTA_UPDATE=always cargo nextest run -p framewut --test k8s` and read
//! the diff before committing it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::{framewut, read, run_bounded, text, Scratch};

/// The kubernetes-validate release the test installs: it carries the
/// schemas of Kubernetes 1.25 to 1.37.
const VALIDATOR: &str = "kubernetes-validate==1.37.0";
/// The oldest and newest Kubernetes the Job is checked against, and one between.
const KUBERNETES: &[&str] = &["1.30.0", "1.33.0", "1.37.0"];

const LIMIT: Duration = Duration::from_secs(30);

/// A Job as an operator would ask for one, starting at a fixed time far
/// ahead, so the manifest is the same on every run.
const JOB: &[&str] = &[
    "k8s",
    "job",
    "--agents",
    "4",
    "--image",
    "registry.example/framewut:0.1.0",
    "--namespace",
    "bench",
    "--cpus-per-agent",
    "2",
    "--memory",
    "512Mi",
    "--start-at",
    "2099-01-01T00:00:00Z",
    "http://web.bench.svc:8080/hello",
    "-c",
    "256",
    "-d",
    "30s",
    "--warmup",
    "5s",
    "--rate",
    "40000",
];

fn job(dir: &Scratch, output: &str) -> String {
    let mut args = JOB.to_vec();
    args.splice(2..2, ["--output", output]);
    let out = framewut(&args, &dir.0, LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_job_matches_its_golden_file() {
    let dir = Scratch::new("k8s-golden");
    insta::assert_snapshot!("job.yaml", job(&dir, "yaml"));
}

/// A virtual environment with kubernetes-validate, made on first use.
fn validator() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubernetes-validate-1.37.0");
    // Its scripts name the directory they were made in, so the validator
    // runs as `python -m`, which works from the renamed directory.
    if venv.join("bin/python").exists() {
        return venv;
    }
    // Made beside its final place and renamed there, so a run cut short
    // leaves no half-filled environment that looks finished.
    let making = venv.with_extension(format!("making-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&making);
    let step = |what: &str, program: &Path, args: &[&std::ffi::OsStr]| {
        let mut command = Command::new(program);
        command.args(args);
        let out = run_bounded(command, Duration::from_secs(300));
        assert!(
            out.status.success(),
            "{what} failed (python3 with venv and pip, and PyPI, are needed: apt-get install python3-venv): {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    };
    step(
        "making a virtual environment",
        Path::new("python3"),
        &["-m".as_ref(), "venv".as_ref(), making.as_os_str()],
    );
    step(
        "pip install kubernetes-validate",
        &making.join("bin/pip"),
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            VALIDATOR,
        ]
        .map(AsRef::as_ref),
    );
    if std::fs::rename(&making, &venv).is_err() {
        // Another test process made it first; its copy serves as well.
        let _ = std::fs::remove_dir_all(&making);
    }
    venv
}

fn validate(venv: &Path, version: &str, file: &Path) -> Output {
    let mut command = Command::new(venv.join("bin/python"));
    command
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "--kubernetes-version",
            version,
        ])
        .arg(file);
    run_bounded(command, LIMIT)
}

#[test]
fn the_job_is_valid_for_kubernetes_1_30_to_1_37_in_yaml_and_json() {
    let venv = validator();
    let dir = Scratch::new("k8s-validate");
    let yaml = dir.write("job.yaml", &job(&dir, "yaml"));
    let json = dir.write("job.json", &job(&dir, "json"));
    for version in KUBERNETES {
        for file in [&yaml, &json] {
            let out = validate(&venv, version, file);
            assert!(
                out.status.success(),
                "{} against Kubernetes {version}: {}{}",
                file.display(),
                text(&out.stdout),
                text(&out.stderr)
            );
        }
    }
    // The validator does refuse what Kubernetes would: a field no Job has.
    let wrong = dir.write(
        "wrong.yaml",
        &read(&yaml).replace("  backoffLimit: 0\n", "  backoffLimit: 0\n  retries: 0\n"),
    );
    let out = validate(&venv, KUBERNETES[0], &wrong);
    assert!(!out.status.success(), "a Job with an unknown field passed");
    assert!(
        text(&out.stdout).contains("'retries' was unexpected"),
        "{}",
        text(&out.stdout)
    );
    // framewut's YAML says exactly what its JSON says, as a YAML parser reads it.
    let mut same = Command::new(venv.join("bin/python"));
    same.args([
        "-c",
        "import json, sys, yaml; sys.exit(yaml.safe_load(open(sys.argv[1])) != json.load(open(sys.argv[2])))",
    ])
    .arg(&yaml)
    .arg(&json);
    let out = run_bounded(same, LIMIT);
    assert!(
        out.status.success(),
        "the YAML and JSON manifests differ: {}",
        text(&out.stderr)
    );
}

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k8s")
        .join(name)
}

/// `framewut k8s collect` with the stand-in kubectl playing back `recorded`;
/// the output, and the kubectl command lines it ran.
fn collect(dir: &Scratch, recorded: &str, args: &[&str], path: Option<&Path>) -> (Output, String) {
    let calls = dir.path("calls");
    let mut command = support::command(&[&["k8s", "collect"], args].concat(), &dir.0);
    command
        .env("KUBECTL_RECORDED", fixtures(recorded))
        .env("KUBECTL_CALLS", &calls);
    if let Some(path) = path {
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![path.to_path_buf()];
        paths.extend(std::env::split_paths(&inherited));
        command.env("PATH", std::env::join_paths(paths).unwrap());
    }
    let out = run_bounded(command, LIMIT);
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    (out, calls)
}

/// The pods whose documents the merge got, in order.
/// The pods whose results were merged, from `collect --json`'s agents list.
fn merged_pods(stdout: &str) -> Vec<String> {
    let merged: serde_json::Value = serde_json::from_str(stdout).expect("collect --json");
    merged["agents"]["list"]
        .as_array()
        .expect("a merge lists its agents")
        .iter()
        .map(|a| {
            a["source"]
                .as_str()
                .unwrap()
                .trim_start_matches("pod ")
                .to_string()
        })
        .collect()
}

/// A recorded pod log's JSON document.
fn recorded(set: &str, pod: &str) -> serde_json::Value {
    let log = read(&fixtures(set).join("logs").join(format!("{pod}.log")));
    let start = log.find("{\n").unwrap();
    let end = log.rfind("\n}").unwrap() + 2;
    serde_json::from_str(&log[start..end]).unwrap()
}

#[test]
fn collect_reads_every_agents_result_in_index_order() {
    let dir = Scratch::new("k8s-collect");
    let kubectl = fixtures("kubectl");
    let (out, calls) = collect(
        &dir,
        "complete",
        &[
            "framewut-load",
            "--namespace",
            "bench",
            "--kubectl",
            kubectl.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "nothing to report");
    assert_eq!(
        merged_pods(&stdout),
        [
            "framewut-load-0-q9d4m",
            "framewut-load-1-b3n8w",
            "framewut-load-2-x7k2p"
        ]
    );
    // The three agents' results merged as `framewut merge` merges them.
    let merged: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let pods = [
        "framewut-load-0-q9d4m",
        "framewut-load-1-b3n8w",
        "framewut-load-2-x7k2p",
    ];
    let sum: u64 = pods
        .iter()
        .map(|pod| recorded("complete", pod)["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(merged["requests"].as_u64(), Some(sum));
    assert_eq!(merged["agents"]["forced"], serde_json::json!([]));
    assert_eq!(merged["plan"]["connections"], 6);
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "--namespace bench get job framewut-load -o json",
            "--namespace bench get pods -l job-name=framewut-load -o json",
            "--namespace bench logs framewut-load-0-q9d4m -c agent",
            "--namespace bench logs framewut-load-1-b3n8w -c agent",
            "--namespace bench logs framewut-load-2-x7k2p -c agent",
        ]
    );
}

#[test]
fn collect_says_what_became_of_each_agent_without_a_result() {
    let dir = Scratch::new("k8s-troubled");
    // The stand-in as `kubectl` first on PATH, as collect finds it by default.
    let bin = dir.path("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(fixtures("kubectl"), bin.join("kubectl")).unwrap();
    let (out, calls) = collect(&dir, "troubled", &["framewut-load", "--json"], Some(&bin));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        merged_pods(&stdout),
        ["framewut-load-0-q9d4m", "framewut-load-2-x7k2p"]
    );
    for says in [
        "agent 1 (pod framewut-load-1-b3n8w) printed no JSON result and failed (exit status 1, Error); its log ends: Error: cannot connect to 10.96.0.17:8080",
        "agent 2 (pod framewut-load-2-x7k2p) failed (exit status 3: no request succeeded) but printed a result, which is merged",
        "agent 3 (pod framewut-load-3-m4r6t) has not finished (it is Pending)",
        "agent 4 has no pod",
        "3 of 5 agents gave no result: the merge covers the others' shares only",
    ] {
        assert!(stderr.contains(says), "missing {says:?} in:\n{stderr}");
    }
    // The results there are merged all the same, the missing shares and
    // the agent that loaded another path kept as the refusals overridden.
    let merged: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let forced = merged["agents"]["forced"].to_string();
    assert!(forced.contains("segments missing"), "{forced}");
    assert!(forced.contains("different targets"), "{forced}");
    assert!(
        !calls.contains("logs framewut-load-3"),
        "a pending pod's log is not read: {calls}"
    );
}

#[test]
fn collect_fails_plainly_without_kubectl_or_the_job() {
    let dir = Scratch::new("k8s-nojob");
    let (out, _) = collect(
        &dir,
        "no-such-recording",
        &[
            "framewut-load",
            "--kubectl",
            fixtures("kubectl").to_str().unwrap(),
        ],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("get job framewut-load -o json` failed"),
        "{stderr}"
    );
    let (out, _) = collect(
        &dir,
        "complete",
        &["framewut-load", "--kubectl", "/nonexistent/kubectl"],
        None,
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("could not run /nonexistent/kubectl: install kubectl"),
        "{stderr}"
    );
}
