//! The matrix's own scenarios and a user's app stack, on small TOML texts
//! whose files live in a scratch directory.

use std::path::{Path, PathBuf};

use super::*;
use crate::python::{AppServer, Interface};
use crate::spec::{CustomScenario, StackSource};

/// A directory with an app's requirements file and a request list.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("framewut-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("requirements.txt"), "Flask==3.1.3\n").unwrap();
        std::fs::write(
            dir.join("mixed.txt"),
            "GET /a?x=1\n\nPOST /b\nContent-Type: application/json\n@body.json\n",
        )
        .unwrap();
        std::fs::write(dir.join("body.json"), "{\"n\":1}").unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn parse(dir: &Path, text: &str) -> Result<Matrix, MatrixError> {
    Matrix::parse_in("m.toml", text, dir)
}

fn cells(dir: &Path, text: &str) -> Vec<CellSpec> {
    parse(dir, text)
        .unwrap()
        .cells(
            &Placement::halves(&"0-1".parse().unwrap()),
            &Overrides::default(),
        )
        .unwrap()
}

fn custom(cell: &CellSpec) -> &CustomScenario {
    match &cell.scenario {
        ScenarioSpec::Custom(custom) => custom,
        other => panic!("a custom scenario expected, got {other:?}"),
    }
}

const APP: &str = r#"
[scenario.items]
method = "POST"
path = "/items?page=2"
headers = { "Content-Type" = "application/json" }
body = '{"q": 1}'
expect = { status = 201, content_type = "application/json", contains = "id" }
uses = ["db"]

[scenario.mixed]
targets = "mixed.txt"

[[stack]]
name = "shop"
app = "shop.wsgi:application"
requirements = "requirements.txt"
servers = ["gunicorn-sync", "gunicorn-gthread", "granian"]
workers = [2, 4]
threads = [4, 16]
"#;

#[test]
fn an_app_runs_its_own_scenarios_under_every_server_and_thread_count() {
    let dir = Dir::new("app");
    let cells = cells(&dir.0, APP);
    let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    // A matrix of its own scenarios runs those (in name order) by default;
    // threads sweep only where a server has them.
    assert_eq!(ids.len(), 5 * 2 * 2, "{ids:?}");
    assert_eq!(ids[0], "shop/gunicorn-sync:w2/items/c64");
    assert_eq!(ids[1], "shop/gunicorn-sync:w2/mixed/c64");
    assert!(
        ids.contains(&"shop/gunicorn-gthread:t16:w4/mixed/c64"),
        "{ids:?}"
    );
    assert!(ids.contains(&"shop/granian:t4:w2/items/c64"), "{ids:?}");
    assert!(
        !ids.iter().any(|id| id.starts_with("shop/gunicorn-sync:t")),
        "{ids:?}"
    );

    let items = custom(&cells[0]);
    assert_eq!(items.requests.len(), 1);
    let request = &items.requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/items?page=2")
    );
    assert_eq!(request.body, r#"{"q": 1}"#);
    assert_eq!(items.expect.status, 201);
    assert_eq!(
        items.expect.content_type.as_deref(),
        Some("application/json")
    );
    assert!(matches!(items.uses[..], [ScenarioSpec::Db { .. }]));
    assert!(
        cells[0].scenario.database().is_some(),
        "the database is started for it"
    );

    let mixed = custom(&cells[1]);
    let lines: Vec<String> = mixed.requests.iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /a?x=1", "POST /b"]);
    assert_eq!(mixed.requests[1].body, "{\"n\":1}");
    assert_eq!(mixed.targets.as_deref(), Some("mixed.txt"));

    let StackSource::App {
        server,
        interface,
        threads,
        requirements,
        dir: app_dir,
        model,
        ..
    } = &cells
        .iter()
        .find(|c| c.id.starts_with("shop/gunicorn-gthread:t16"))
        .unwrap()
        .stack
        .source
    else {
        panic!("an app stack");
    };
    assert_eq!(
        (*server, *interface, *threads),
        (AppServer::GunicornGthread, Interface::Wsgi, Some(16))
    );
    assert_eq!(*model, framewut_stacks::Model::ThreadPerConnection);
    assert!(requirements.is_absolute() && requirements.ends_with("requirements.txt"));
    assert!(app_dir.is_absolute());
}

#[test]
fn combinations_that_cannot_work_are_refused_with_the_reason() {
    let dir = Dir::new("refusals");
    let with = |line: &str| {
        APP.replace(
            "servers = [\"gunicorn-sync\", \"gunicorn-gthread\", \"granian\"]",
            line,
        )
    };
    for (matrix, wanted) in [
        (
            APP.replace(
                "app = \"shop.wsgi:application\"",
                "app = \"shop:app\"\ninterface = \"asgi\"",
            ),
            "gunicorn-sync: an ASGI app under a WSGI worker",
        ),
        (with("servers = [\"uvicorn\"]"), "uvicorn serves ASGI apps"),
        (
            with("servers = [\"waitress\"]"),
            "unknown server \"waitress\"",
        ),
        (
            APP.replace("requirements.txt\"", "missing.txt\""),
            "missing.txt does not exist: give the app's requirements file",
        ),
        (
            APP.replace("shop.wsgi:application", "shop.wsgi"),
            "is not MODULE:ATTRIBUTE",
        ),
        (
            with("servers = [\"granian\"]\npatched = true"),
            "patched = true under granian",
        ),
        (
            format!("{APP}\n[[stack]]\nid = \"rust/std/sync-pool\"\n"),
            "rust/std/sync-pool serves the built-in scenarios only",
        ),
        (
            format!("scenarios = [\"hello\"]\n{APP}"),
            "shop/gunicorn-sync is your app, which does not serve framewut's built-in \"hello\"",
        ),
        (
            APP.replace(
                "targets = \"mixed.txt\"",
                "targets = \"mixed.txt\"\npath = \"/x\"",
            ),
            "path and targets both given",
        ),
        (
            APP.replace("targets = \"mixed.txt\"", ""),
            "[scenario.mixed]: no path or targets",
        ),
        (
            APP.replace("uses = [\"db\"]", "uses = [\"cpu\"]"),
            "a scenario uses \"upstream\"",
        ),
        (
            format!("scenarios = [\"itmes\"]\n{APP}"),
            "unknown scenario \"itmes\"",
        ),
    ] {
        let err = parse(&dir.0, &matrix).unwrap_err().to_string();
        assert!(err.contains(wanted), "{wanted:?} not in: {err}");
    }
}

#[test]
fn a_request_list_of_urls_is_refused_with_the_line() {
    let dir = Dir::new("urls");
    std::fs::write(dir.0.join("mixed.txt"), "GET http://127.0.0.1:8080/a\n").unwrap();
    let err = parse(&dir.0, APP).unwrap_err().to_string();
    assert!(
        err.contains("mixed.txt:1") && err.contains("is not a path"),
        "{err}"
    );
}
