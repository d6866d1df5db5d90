//! What the integration tests share: scratch directories, the framewut binary
//! run with a time limit, results.json read and checked against its schema,
//! checks that no process a run started remains, (in `server`) framewut
//! servers started as child processes, (in `cli`) framewut run to its end
//! for the `framewut load` tests, (in `report`) the report tests'
//! fixture, (in `busy`) busy loops pinned to CPUs, and (in `timed`) the
//! check of a stack's timing of its own handler.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

pub mod busy;
pub mod chromium;
pub mod cli;
pub mod report;
pub mod server;
pub mod timed;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_framewut");

/// A scratch directory removed when the test ends.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "framewut-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// framewut with these arguments in `cwd`, its stdin closed, not yet started.
pub fn command(args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(cwd).stdin(Stdio::null());
    command
}

/// Waits for a child, killing it (and failing) past `limit`, so a hung run
/// cannot hang the tests.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "framewut ran past {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Runs `command` with stdout and stderr captured, bounded by `limit`.
pub fn run_bounded(mut command: Command, limit: Duration) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, limit)
}

/// Runs framewut with these arguments in `cwd`, killing it (and failing)
/// past `limit`, so a hung run cannot hang the tests.
pub fn framewut(args: &[&str], cwd: &Path, limit: Duration) -> Output {
    run_bounded(command(args, cwd), limit)
}

/// Runs `framewut run MATRIX --out OUT` in `dir`, bounded by `limit`.
pub fn run_out(dir: &Scratch, matrix: &Path, out: &Path, limit: Duration) -> Output {
    framewut(
        &[
            "run",
            matrix.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &dir.0,
        limit,
    )
}

/// Runs a matrix into `dir/name` and returns that run directory; fails the
/// test unless every cell was measured.
pub fn run_matrix(dir: &Scratch, name: &str, matrix: &str, limit: Duration) -> PathBuf {
    let file = dir.write(&format!("{name}.toml"), matrix);
    let out = dir.path(name);
    let output = run_out(dir, &file, &out, limit);
    assert!(
        output.status.success(),
        "framewut run {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// The text of a file.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Bytes a process wrote, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The results.json of a run directory, unchecked.
pub fn load(dir: &Path) -> Value {
    serde_json::from_str(&read(&dir.join("results.json"))).unwrap()
}

/// docs/results.schema.json, the shape of results.json.
pub const RESULTS_SCHEMA: &str = include_str!("../../../../docs/results.schema.json");

/// docs/load.schema.json, the shape of `framewut load --json`.
pub const LOAD_SCHEMA: &str = include_str!("../../../../docs/load.schema.json");

/// docs/analysis.schema.json, the shape of analysis.json.
pub const ANALYSIS_SCHEMA: &str = include_str!("../../../../docs/analysis.schema.json");

/// Where a document breaks a JSON schema.
pub fn errors_against(schema: &str, document: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid JSON Schema");
    validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Where a document breaks docs/results.schema.json.
pub fn schema_errors(results: &Value) -> Vec<String> {
    errors_against(RESULTS_SCHEMA, results)
}

pub fn assert_schema_valid(results: &Value) {
    let errors = schema_errors(results);
    assert!(
        errors.is_empty(),
        "results.json breaks its schema:\n{}",
        errors.join("\n")
    );
}

/// The analysis.json of a run directory, checked against its schema.
pub fn analysis(dir: &Path) -> Value {
    let analysis: Value = serde_json::from_str(&read(&dir.join("analysis.json"))).unwrap();
    let errors = errors_against(ANALYSIS_SCHEMA, &analysis);
    assert!(
        errors.is_empty(),
        "analysis.json breaks its schema:\n{}",
        errors.join("\n")
    );
    analysis
}

/// The results.json of a run directory, checked against its schema.
pub fn load_valid(dir: &Path) -> Value {
    let results = load(dir);
    assert_schema_valid(&results);
    results
}

/// The cells of a results.json.
pub fn cells(results: &Value) -> &Vec<Value> {
    results["cells"].as_array().unwrap()
}

/// A cell's status, as results.json gives it.
pub fn status(cell: &Value) -> &str {
    cell["status"].as_str().unwrap()
}

/// A measured cell whose numbers make sense: requests answered, none failed,
/// a server that used CPU and memory.
pub fn assert_sane(cell: &Value) {
    let id = &cell["id"];
    assert_eq!(status(cell), "ok", "{id}: {}", cell["reason"]);
    let summary = &cell["summary"];
    assert!(
        summary["requests_per_s"]["mean"].as_f64().unwrap() > 0.0,
        "{id}: {summary}"
    );
    assert_eq!(summary["failed_requests"], 0, "{id}: {}", summary["errors"]);
    assert!(summary["latency"]["count"].as_u64().unwrap() > 0, "{id}");
    assert!(
        summary["server_peak_rss_bytes"].as_u64().unwrap() > 0,
        "{id}"
    );
    assert!(summary["latency"]["histogram"]
        .as_str()
        .unwrap()
        .starts_with("HISTF"));
    let trials = cell["trials"].as_array().unwrap();
    assert_eq!(
        trials.len() as u64,
        cell["config"]["load"]["trials"].as_u64().unwrap()
    );
}

/// The cell with this id.
pub fn cell<'a>(results: &'a Value, id: &str) -> &'a Value {
    results["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no cell {id} in {}", results["cells"]))
}

/// Asserts that no PID a cell's stack process recorded is still alive.
pub fn assert_stack_pids_gone(cell: &Value) {
    if let Some(pids) = cell["stack_process"]["pids"].as_array() {
        for pid in pids {
            let pid = pid.as_u64().unwrap();
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "process {pid} of {} remains",
                cell["id"]
            );
        }
    }
}

/// Processes still alive that carry this run's id in their environment:
/// every process the lab starts does, so nothing it started can hide.
pub fn processes_of_run(run_id: &str) -> Vec<u32> {
    let marker = format!("FRAMEWUT_RUN_ID={run_id}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()))
        })
        .collect()
}

/// Why this machine can make no cgroup, where FRAMEWUT_TEST_NO_CGROUP says
/// so (`.ci/run` checks that it is set exactly where none can be made);
/// `None`: the lab's cgroup path is required.
pub fn no_cgroup_reason() -> Option<String> {
    std::env::var("FRAMEWUT_TEST_NO_CGROUP")
        .ok()
        .filter(|r| !r.trim().is_empty())
}

/// Directories under /sys/fs/cgroup, a few levels down, whose name holds
/// `mark`: a cgroup the lab made and left behind.
pub fn cgroups_named(mark: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, mark: &str, depth: u32, found: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name().to_string_lossy().contains(mark) {
                found.push(path.clone());
            }
            if depth > 0 {
                walk(&path, mark, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(std::path::Path::new("/sys/fs/cgroup"), mark, 4, &mut found);
    found
}

/// The guard processes of a run (`framewut guard --run-id RUN ...`), by
/// their command line: they carry no run id in their environment.
pub fn guards_of_run(run_id: &str) -> Vec<u32> {
    let args = format!("guard\0--run-id\0{run_id}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| cmd.windows(args.len()).any(|w| w == args.as_bytes()))
        })
        .collect()
}

/// Whether a process is alive (not gone, not a zombie waiting to be reaped).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        !matches!(state, Some("Z" | "X"))
    })
}

/// Established TCP connections to a port one of `pids` listens on (from
/// /proc/net/tcp and tcp6): a load's connections to a stack's processes.
pub fn connections_to(pids: &[u32]) -> usize {
    let mut sockets = Vec::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.filter_map(Result::ok) {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let target = target.to_string_lossy().into_owned();
                if let Some(inode) = target
                    .strip_prefix("socket:[")
                    .and_then(|s| s.strip_suffix(']'))
                {
                    sockets.push(inode.to_string());
                }
            }
        }
    }
    // (local port, state, inode) of every TCP socket.
    let mut entries: Vec<(String, String, String)> = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9 {
                let port = fields[1].rsplit(':').next().unwrap_or("").to_string();
                entries.push((port, fields[3].to_string(), fields[9].to_string()));
            }
        }
    }
    // State 0A is LISTEN, 01 ESTABLISHED.
    let listening: Vec<&String> = entries
        .iter()
        .filter(|(_, state, inode)| state == "0A" && sockets.contains(inode))
        .map(|(port, ..)| port)
        .collect();
    entries
        .iter()
        .filter(|(port, state, _)| state == "01" && listening.contains(&port))
        .count()
}

/// Asserts that nothing the run started is left: neither a PID the results
/// recorded, nor any process marked with the run's id, nor its guard.
pub fn assert_nothing_left(results: &Value) {
    for cell in results["cells"].as_array().unwrap() {
        assert_stack_pids_gone(cell);
    }
    let run_id = results["run"]["id"].as_str().unwrap();
    assert_eq!(
        processes_of_run(run_id),
        Vec::<u32>::new(),
        "processes of run {run_id} remain"
    );
    assert_eq!(
        guards_of_run(run_id),
        Vec::<u32>::new(),
        "the guard of run {run_id} remains"
    );
}

/// The records of a CSV file as Python's csv module reads them (an
/// implementation of RFC 4180 that is not framewut's): one map per row,
/// keyed by the header's names.
pub fn csv_records(path: &Path) -> Vec<serde_json::Map<String, Value>> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import csv, json, sys\n\
             with open(sys.argv[1], newline='') as f:\n    \
                 print(json.dumps(list(csv.DictReader(f, strict=True))))",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "Python's csv module cannot read {}: {}",
        path.display(),
        text(&output.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&output.stdout)
        .unwrap()
        .into_iter()
        .map(|row| row.as_object().unwrap().clone())
        .collect()
}

/// Asserts that a run directory's results.csv holds, cell by cell, the
/// numbers of its results.json and analysis.json; returns its records.
pub fn assert_csv_matches(dir: &Path) -> Vec<serde_json::Map<String, Value>> {
    let results = load(dir);
    let analysis = analysis(dir);
    let records = csv_records(&dir.join("results.csv"));
    let cells = results["cells"].as_array().unwrap();
    assert_eq!(records.len(), cells.len(), "one row per cell");
    let number = |record: &serde_json::Map<String, Value>, column: &str| -> Option<f64> {
        let field = record[column].as_str().unwrap();
        (!field.is_empty()).then(|| {
            field
                .parse::<f64>()
                .unwrap_or_else(|e| panic!("{column} = {field:?}: {e}"))
        })
    };
    for ((record, cell), derived) in records
        .iter()
        .zip(cells)
        .zip(analysis["cells"].as_array().unwrap())
    {
        let id = cell["id"].as_str().unwrap();
        assert_eq!(record["id"], cell["id"]);
        assert_eq!(derived["id"], cell["id"]);
        assert_eq!(record["stack"], cell["config"]["stack"]["label"], "{id}");
        assert_eq!(record["status"], cell["status"], "{id}");
        assert_eq!(
            record["reason"].as_str().unwrap(),
            cell["reason"].as_str().unwrap_or(""),
            "{id}"
        );
        assert_eq!(
            number(record, "connections"),
            cell["config"]["load"]["connections"].as_f64(),
            "{id}"
        );
        let summary = &cell["summary"];
        if cell["status"] == "failed" || summary.is_null() {
            for column in ["req_per_s", "p99_ms", "errors", "predicted_req_per_s"] {
                assert_eq!(record[column], "", "{id}: {column}");
            }
            continue;
        }
        let percentile = |p: f64| {
            summary["latency"]["percentiles"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["percentile"].as_f64() == Some(p))
                .map(|x| x["us"].as_f64().unwrap() / 1000.0)
        };
        for (column, expected) in [
            ("trials", summary["trials"].as_f64()),
            ("req_per_s", summary["requests_per_s"]["mean"].as_f64()),
            ("p50_ms", percentile(50.0)),
            ("p99_ms", percentile(99.0)),
            ("p99_9_ms", percentile(99.9)),
            ("errors", summary["failed_requests"].as_f64()),
            ("silent_connections", summary["silent_connections"].as_f64()),
            ("unanswered", summary["unanswered"].as_f64()),
            ("server_cpu_pct", summary["server_cpu_pct"].as_f64()),
            (
                "server_cpu_us_per_request",
                summary["server_cpu_us_per_request"].as_f64(),
            ),
            (
                "server_peak_rss_bytes",
                summary["server_peak_rss_bytes"].as_f64(),
            ),
            (
                "predicted_req_per_s",
                derived["prediction"]["predicted_per_s"].as_f64(),
            ),
            (
                "measured_over_predicted",
                derived["prediction"]["ratio"].as_f64(),
            ),
            (
                "server_page_faults_per_request",
                derived["breakdown"]["server"]["page_faults"].as_f64(),
            ),
        ] {
            assert_eq!(number(record, column), expected, "{id}: {column}");
        }
        assert!(number(record, "req_per_s").unwrap() > 0.0, "{id}");
        assert_eq!(record["bound"], derived["prediction"]["bound"], "{id}");
        assert_eq!(
            record["bound_words"], derived["prediction"]["because"],
            "{id}"
        );
        assert_eq!(
            record["surprise"].as_str().unwrap(),
            derived["prediction"]["surprise"].to_string(),
            "{id}"
        );
    }
    records
}
