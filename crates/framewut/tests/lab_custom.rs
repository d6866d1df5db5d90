//! The matrix's own scenarios and a user's own app, through the real
//! binary: a custom scenario whose answer is wrong fails before any load,
//! a request list mixes two endpoints in every trial, an app that does not
//! import fails with Python's own error, a patched app is imported after
//! gevent's patches, and the example shop runs under two servers with a
//! report that names the leader of every endpoint.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::{
    analysis, assert_nothing_left, assert_sane, assert_schema_valid, cells, framewut, load,
    run_out, status, text, Scratch,
};

/// A server of two endpoints: GET /items answers JSON, POST /orders
/// answers an order's id to a body it reads; anything else is 404.
const PY_SERVER: &str = r#"
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Shop(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith("/items"):
            self.answer(200, b'{"items": [1, 2, 3]}')
        else:
            self.answer(404, b'{"error": "no such page"}')
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        order = self.rfile.read(length)
        if self.path == "/orders" and order:
            self.answer(200, b'{"id": 7}')
        else:
            self.answer(400, b'{"error": "no order"}')
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Shop).serve_forever()
"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_wrong_answer_fails_before_any_load_and_a_request_with_a_body_is_measured() {
    let scratch = Scratch::new("custom");
    let server = scratch.write("server.py", PY_SERVER);
    scratch.write("order.json", "{\"item\": 2}");
    let matrix = scratch.write(
        "custom.toml",
        &format!(
            r#"
[scenario.wrong]
path = "/items"
expect = {{ status = 201 }}

[scenario.order]
method = "POST"
path = "/orders"
body_file = "order.json"
expect = {{ status = 200, content_type = "application/json", contains = "\"id\"" }}

[[stack]]
name = "py-shop"
command = "exec python3 {} {{port}}"
ready = "/items"
env = {{ PYTHONDONTWRITEBYTECODE = "1" }}

[[profile]]
connections = 4
duration = "1s"
warmup = "200ms"
trials = 2
"#,
            server.display()
        ),
    );
    let out = scratch.path("run");
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(120));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "cells failed: {stderr}");
    let results = load(&out);
    assert_schema_valid(&results);
    let [order, wrong] = &cells(&results)[..] else {
        panic!("two cells expected: {results}");
    };

    assert_eq!(wrong["id"], "py-shop/wrong/c4");
    assert_eq!(status(wrong), "failed");
    let reason = wrong["reason"].as_str().unwrap();
    assert!(
        reason.contains("answered GET /items wrongly")
            && reason.contains("it answered 200, expected 201"),
        "{reason}"
    );
    assert_eq!(
        wrong["trials"].as_array().unwrap().len(),
        0,
        "nothing is loaded before it verifies"
    );

    assert_sane(order);
    let spec = &order["config"]["scenario"];
    assert_eq!(spec["name"], "custom");
    assert_eq!(spec["requests"][0]["body"], "{\"item\": 2}");
    let service = &order["service"];
    assert_eq!(
        service["load"]["plan"]["connections"], 1,
        "the service probe: {service}"
    );
    assert!(service["load"]["latency"]["mean_us"].as_f64().unwrap() > 0.0);
    assert_nothing_left(&results);
}

#[test]
fn a_request_list_sends_each_endpoint_in_turn_in_every_trial() {
    let scratch = Scratch::new("custom-list");
    let server = scratch.write("server.py", PY_SERVER);
    scratch.write(
        "mixed.txt",
        "# browse, then order\nGET /items?page=1\n\nPOST /orders\nContent-Type: application/json\n@order.json\n",
    );
    scratch.write("order.json", "{\"item\": 2}");
    let matrix = scratch.write(
        "list.toml",
        &format!(
            r#"
[scenario.browse]
targets = "mixed.txt"
expect = {{ status = 200, content_type = "application/json" }}

[[stack]]
name = "py-shop"
command = "exec python3 {} {{port}}"
ready = "/items"

[[profile]]
connections = 4
threads = 1
duration = "1s"
warmup = "200ms"
trials = 2
"#,
            server.display()
        ),
    );
    let out = scratch.path("run");
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(120));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let results = load(&out);
    assert_schema_valid(&results);
    let [browse] = &cells(&results)[..] else {
        panic!("one cell expected: {results}");
    };
    assert_sane(browse);
    for trial in browse["trials"].as_array().unwrap() {
        let entries = trial["load"]["targets"].as_array().unwrap();
        let answered: Vec<u64> = entries
            .iter()
            .map(|e| e["responses"]["2xx"].as_u64().unwrap())
            .collect();
        assert_eq!(answered.len(), 2, "{entries:?}");
        // One thread takes the entries in turn, so they differ by at most
        // the requests in flight when a window closes.
        let (a, b) = (answered[0] as i64, answered[1] as i64);
        assert!(a > 0 && b > 0 && (a - b).abs() <= 4, "{answered:?}");
        let total = trial["load"]["responses"].as_u64().unwrap();
        assert_eq!(answered.iter().sum::<u64>(), total, "{trial}");
    }
}

#[test]
fn an_app_that_does_not_import_fails_with_pythons_error() {
    let scratch = Scratch::new("app-import");
    let shop = repo().join("examples/shop");
    let matrix = scratch.write(
        "broken.toml",
        &format!(
            r#"
[scenario.page]
path = "/"

[[stack]]
name = "broken"
app = "nosuch.wsgi:app"
dir = "{shop}"
requirements = "{shop}/requirements.txt"
servers = ["gunicorn-sync"]
workers = 1

[[profile]]
connections = 2
duration = "1s"
"#,
            shop = shop.display()
        ),
    );
    let out = scratch.path("run");
    // The first use of the shop's requirements makes its environment.
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(600));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let results = load(&out);
    let [broken] = &cells(&results)[..] else {
        panic!("one cell expected: {results}");
    };
    assert_eq!(status(broken), "failed");
    let reason = broken["reason"].as_str().unwrap();
    assert!(
        reason.contains("nosuch.wsgi:app does not import")
            && reason.contains("ModuleNotFoundError: No module named 'nosuch'"),
        "{reason}"
    );
}

#[test]
fn a_patched_app_is_imported_after_gevents_patches_and_answers() {
    let scratch = Scratch::new("app-patched");
    let shop = repo().join("examples/shop");
    let matrix = scratch.write(
        "patched.toml",
        &format!(
            r#"
[scenario.page]
path = "/"
expect = {{ status = 200, contains = "<h1>Shop</h1>" }}

[[stack]]
name = "patched"
app = "shop:app"
dir = "{shop}"
requirements = "{shop}/requirements.txt"
servers = ["gunicorn-sync"]
patched = true
workers = 1

[[profile]]
connections = 2
duration = "1s"
warmup = "200ms"
"#,
            shop = shop.display()
        ),
    );
    let out = scratch.path("run");
    let output = run_out(&scratch, &matrix, &out, Duration::from_secs(600));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let results = load(&out);
    let [page] = &cells(&results)[..] else {
        panic!("one cell expected: {results}");
    };
    assert_sane(page);
    let command = page["stack_process"]["command"].as_str().unwrap();
    assert!(command.ends_with(" framewut_patched:app"), "{command}");
    let shim = out.join("shims/patched_gunicorn-sync/framewut_patched.py");
    let text = std::fs::read_to_string(&shim).unwrap();
    assert!(
        text.starts_with("from gevent import monkey")
            && text.contains("from shop import app as app"),
        "{text}"
    );
    assert_eq!(page["config"]["stack"]["source"]["patched"], true);
}

#[test]
fn the_example_shop_runs_under_two_servers_and_its_report_names_each_leader() {
    let scratch = Scratch::new("shop");
    let matrix = repo().join("examples/shop/matrix.toml");
    let out = scratch.path("run");
    let output = framewut(
        &[
            "run",
            matrix.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--only",
            "shop/gunicorn-sync/*",
            "--only",
            "shop/granian/*",
            "--duration",
            "1s",
            "--trials",
            "2",
        ],
        &scratch.0,
        Duration::from_secs(900),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let results = load(&out);
    assert_schema_valid(&results);
    let cells = cells(&results);
    let ran: Vec<&str> = cells
        .iter()
        .filter(|c| status(c) != "pending")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ran.len(), 8, "two servers x four endpoints: {ran:?}");
    for cell in cells.iter().filter(|c| status(c) != "pending") {
        assert_eq!(status(cell), "ok", "{}: {}", cell["id"], cell["reason"]);
        assert_eq!(cell["config"]["stack"]["source"]["kind"], "app");
    }
    let analysis = analysis(&out);
    let findings: Vec<&Value> = analysis["findings"].as_array().unwrap().iter().collect();
    for endpoint in ["page", "api", "quote", "browse"] {
        assert!(
            findings.iter().any(|f| f["topic"] == "apps"
                && f["text"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{endpoint}: "))
                && f["text"].as_str().unwrap().contains(" led with ")),
            "no leader named for {endpoint}: {findings:?}"
        );
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let first_section = report.split("\n## ").nth(1).unwrap();
    assert!(
        first_section.starts_with("Recommendation\n")
            && first_section.contains("at 64 connections"),
        "{first_section}"
    );
    assert_nothing_left(&results);
}
