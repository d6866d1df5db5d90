//! The matrix's checks and expansion, on small TOML texts.

use super::*;
use crate::spec::{PacingSpec, Reference, StackSource};
use crate::urls::{BaseUrl, MetricsUrl};
use framewut_stacks::Model;

fn two_cores() -> Placement {
    Placement::halves(&"0-1".parse().unwrap())
}

fn cells(text: &str) -> Vec<CellSpec> {
    Matrix::parse("m.toml", text)
        .unwrap()
        .cells(&two_cores(), &Overrides::default())
        .unwrap()
}

fn error(text: &str) -> MatrixError {
    Matrix::parse("m.toml", text).unwrap_err()
}

#[test]
fn expands_stacks_workers_scenarios_and_connections() {
    let cells = cells(
        r#"
scenarios = ["hello", "sleep"]
[scenario.sleep]
duration = "20ms"
[[stack]]
id = "rust/std/sync-pool"
workers = [1, 4]
[[stack]]
id = "rust/axum/tokio-multi"
variant = "sleep=blocking"
scenarios = ["sleep"]
[[profile]]
connections = [8, 32]
duration = "2s"
trials = 3
"#,
    );
    let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "rust/std/sync-pool:w1/hello/c8",
            "rust/std/sync-pool:w1/hello/c32",
            "rust/std/sync-pool:w1/sleep/c8",
            "rust/std/sync-pool:w1/sleep/c32",
            "rust/std/sync-pool:w4/hello/c8",
            "rust/std/sync-pool:w4/hello/c32",
            "rust/std/sync-pool:w4/sleep/c8",
            "rust/std/sync-pool:w4/sleep/c32",
            "rust/axum/tokio-multi:sleep=blocking/sleep/c8",
            "rust/axum/tokio-multi:sleep=blocking/sleep/c32",
        ]
    );
    let last = cells.last().unwrap();
    assert_eq!(
        last.variant().map(|v| v.to_string()).as_deref(),
        Some("blocking")
    );
    assert_eq!(last.stack.workers, 1, "the server's one CPU");
    assert_eq!(
        last.scenario,
        ScenarioSpec::Sleep {
            sleep: Duration::from_millis(20)
        }
    );
    assert_eq!((last.load.threads, last.load.trials), (1, 3));
    assert_eq!(last.load.duration, Duration::from_secs(2));
}

#[test]
fn overrides_apply_to_every_cell() {
    let matrix = Matrix::parse(
        "m",
        "[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]",
    )
    .unwrap();
    let overrides = Overrides {
        duration: Some(Duration::from_millis(500)),
        trials: Some(2),
        ..Overrides::default()
    };
    let cells = matrix.cells(&two_cores(), &overrides).unwrap();
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0].load.duration, Duration::from_millis(500));
    assert_eq!(cells[0].load.trials, 2);
    assert_eq!(cells[0].load.pacing, PacingSpec::Closed);
}

#[test]
fn a_profiles_max_duration_sizes_trials_and_duration_alone_fixes_them() {
    let text = "[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"sleep\"]\n\
                [[profile]]\nduration = \"2s\"\nmax_duration = \"6s\"\n";
    let matrix = Matrix::parse("m", text).unwrap();
    let load = |overrides: Overrides| {
        let cell = matrix.cells(&two_cores(), &overrides).unwrap().remove(0);
        (cell.load.duration, cell.load.max_duration)
    };
    let s = Duration::from_secs;
    assert_eq!(load(Overrides::default()), (s(2), Some(s(6))));
    let fixed = Overrides {
        duration: Some(s(1)),
        ..Overrides::default()
    };
    assert_eq!(
        load(fixed),
        (s(1), None),
        "--duration measures exactly that"
    );
    let longer = Overrides {
        max_duration: Some(s(60)),
        ..Overrides::default()
    };
    assert_eq!(load(longer), (s(2), Some(s(60))));
    let shorter = Overrides {
        max_duration: Some(s(1)),
        ..Overrides::default()
    };
    assert_eq!(
        load(shorter),
        (s(1), Some(s(1))),
        "the least never passes the cap"
    );
    let e = Matrix::parse(
        "m",
        "[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\nduration = \"5s\"\nmax_duration = \"2s\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("max_duration of 2s in profile \"default\" is shorter than its duration (5s)"),
        "{e}"
    );
}

#[test]
fn external_stacks_and_open_loop() {
    let cells = cells(
        r#"
scenarios = ["hello"]
[[stack]]
name = "py"
command = "python3 -m srv {port}"
env = { A = "1" }
[[profile]]
rate = 250.5
connections = 4
"#,
    );
    assert_eq!(cells[0].id, "py/hello/c4");
    assert_eq!(
        cells[0].stack.source,
        StackSource::External {
            command: "python3 -m srv {port}".into(),
            ready_path: "/hello".into()
        }
    );
    assert_eq!(cells[0].stack.env["A"], "1");
    assert!(
        matches!(cells[0].load.pacing, PacingSpec::Open { rate } if rate.rate().get() == 250.5)
    );
}

#[test]
fn syntax_and_type_errors_say_where_and_what_was_expected() {
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\nworkers = \"many\"\n");
    assert_eq!(e.at, Some((3, 11)), "{e}");
    assert!(
        e.message
            .contains("a positive whole number or a non-empty list"),
        "{e}"
    );
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\ncolour = 1\n");
    assert_eq!(e.at.map(|a| a.0), Some(3), "{e}");
    assert!(
        e.message.contains("unknown field `colour`") && e.message.contains("expected one of"),
        "{e}"
    );
    let e = error("scenarios = [\"hello\", \"slep\"]\n");
    assert_eq!(e.at, Some((1, 23)), "{e}");
    assert!(
        e.message.contains(
            "expected hello, sleep, upstream, cpu, db, or a [scenario.slep] table with its path"
        ),
        "{e}"
    );
    let e = error("[[profile]]\nduration = \"10\"\n");
    assert_eq!(e.at, Some((2, 12)), "{e}");
    assert!(e.message.contains("no unit"), "{e}");
    let e = error("[[stack]\n");
    assert_eq!(e.at.map(|a| a.0), Some(1), "{e}");
    assert!(e.to_string().starts_with("m.toml: line 1, column"), "{e}");
    assert!(e.to_string().contains("   1 | [[stack]"), "{e}");
}

#[test]
fn meaning_errors_point_at_the_entry() {
    let e = error("[[stack]]\nid = \"rust/nope\"\n");
    assert_eq!(e.at, Some((2, 6)), "{e}");
    assert!(e.message.contains("rust/std/sync-pool"), "{e}");
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\nvariant = \"sleep=async\"\n");
    assert_eq!(e.at, Some((3, 11)), "{e}");
    assert!(e.message.contains("supports sleep=blocking"), "{e}");
    let e = error("[[stack]]\nid = \"rust/hyper/tokio-current\"\nworkers = 4\n");
    assert!(e.message.contains("exactly one event-loop thread"), "{e}");
    let e = error("[[stack]]\nname = \"x\"\ncommand = \"srv\"\n");
    assert!(e.message.contains("{port}"), "{e}");
    let e = error("[[stack]]\ncommand = \"srv {port}\"\n");
    assert!(e.message.contains("name"), "{e}");
    let e = error(
        "[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\nconnections = 2\nthreads = 3\n",
    );
    assert_eq!(e.at, Some((5, 11)), "{e}");
    assert!(error("description = \"x\"\n").message.contains("no stacks"));
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\nname = \"a\"\n[[profile]]\nconnections = 2\n");
    assert!(e.message.contains("profile 2 has no name"), "{e}");
}

#[test]
fn python_stacks_take_their_own_variants() {
    let cells = cells(
            "scenarios = [\"sleep\", \"upstream\"]\n[[stack]]\nid = \"python/wsgi/gunicorn-sync\"\nworkers = 4\nvariant = \"upstream=futures\"\n",
        );
    assert_eq!(
        cells[0].id,
        "python/wsgi/gunicorn-sync:upstream=futures/sleep/c64"
    );
    assert_eq!(
        cells[0].variant().map(|v| v.to_string()).as_deref(),
        Some("blocking")
    );
    assert_eq!(
        cells[1].variant().map(|v| v.to_string()).as_deref(),
        Some("futures")
    );
    assert!(
        matches!(&cells[1].stack.source, StackSource::Python { model, .. } if *model == Model::SyncPool)
    );
    let e =
        error("[[stack]]\nid = \"python/wsgi/gunicorn-sync\"\nvariant = \"sleep=cooperative\"\n");
    assert_eq!(e.at, Some((3, 11)), "{e}");
    assert!(e.message.contains("sleeps blocking only"), "{e}");
    assert!(error("[[stack]]\nid = \"python/nope\"\n").at.is_some());
}

#[test]
fn the_documented_example_reads() {
    let doc = include_str!("../../../../../docs/lab.md");
    let example = doc
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let matrix = Matrix::parse("docs/lab.md", example).unwrap();
    let cells = matrix.cells(&two_cores(), &Overrides::default()).unwrap();
    assert!(
        cells.iter().any(|c| c.id == "my-server/cpu/c64@open"),
        "{:?}",
        cells.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    assert!(cells
        .iter()
        .any(|c| c.id == "rust/std/sync-pool:w10/db/c16@closed"));
    assert_eq!(matrix.placement.unwrap().origin, PlacementOrigin::Matrix);
    let shown =
        error("[[stack]]\nid = \"rust/std/sync-pool\"\n\n[[profile]]\nconnections = \"lots\"\n")
            .to_string();
    let documented = doc
        .split("```text\nError: my-matrix.toml")
        .nth(1)
        .unwrap()
        .split("\n```")
        .next()
        .unwrap();
    assert_eq!(shown.replacen("m.toml", "", 1), documented);
}

#[test]
fn duplicate_cell_ids_are_refused() {
    let matrix = Matrix::parse(
            "m",
            "scenarios = [\"hello\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\n[[stack]]\nid = \"rust/std/sync-pool\"\n",
        )
        .unwrap();
    let err = matrix
        .cells(&two_cores(), &Overrides::default())
        .unwrap_err();
    assert!(matches!(&err, CellsError::SameId(id) if id == "rust/std/sync-pool/hello/c64"));
    assert!(err.to_string().contains("name = "), "{err}");
}

#[test]
fn placement_from_the_file() {
    let m = Matrix::parse("m", "[[stack]]\nid = \"rust/std/sync-pool\"\n[placement]\nserver_cpus = \"1\"\nload_cpus = \"0\"\n").unwrap();
    let p = m.placement.unwrap();
    assert_eq!(
        (p.server_cpus.to_string(), p.load_cpus.to_string()),
        ("1".into(), "0".into())
    );
    assert_eq!(p.origin, PlacementOrigin::Matrix);
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\n[placement]\nserver_cpus = \"x\"\n");
    assert_eq!(e.at.map(|a| a.0), Some(4), "{e}");
}

#[test]
fn references_and_close_reach_the_cells() {
    let cells = cells(
        r#"
[[stack]]
id = "rust/std/sync-pool"
close = true
scenarios = ["hello"]
reference = { requests_per_s = 823.69, source = "seed: plain WSGI / sync worker" }
[[stack]]
id = "rust/std/sync-pool"
scenarios = ["hello"]
"#,
    );
    assert_eq!(cells[0].id, "rust/std/sync-pool:close/hello/c64");
    assert!(matches!(
        cells[0].stack.source,
        StackSource::BuiltIn { close: true, .. }
    ));
    assert_eq!(
        cells[0].reference,
        Some(Reference {
            requests_per_s: 823.69,
            source: "seed: plain WSGI / sync worker".into()
        })
    );
    assert_eq!(cells[1].id, "rust/std/sync-pool/hello/c64");
    assert!(matches!(
        cells[1].stack.source,
        StackSource::BuiltIn { close: false, .. }
    ));
    assert_eq!(cells[1].reference, None);
    let json = serde_json::to_value(&cells[0]).unwrap();
    assert_eq!(json["stack"]["source"]["close"], true);
    assert_eq!(json["reference"]["requests_per_s"], 823.69);
    let json = serde_json::to_value(&cells[1]).unwrap();
    assert!(json["stack"]["source"].get("close").is_none(), "{json}");
    assert!(json.get("reference").is_none(), "{json}");
}

#[test]
fn references_and_close_are_refused_where_they_mean_nothing() {
    let reference = "reference = { requests_per_s = 100, source = \"x\" }";
    let e = error(&format!(
        "[[stack]]\nid = \"rust/std/sync-pool\"\n{reference}\n"
    ));
    assert_eq!(e.at.map(|a| a.0), Some(3), "{e}");
    assert!(e.message.contains("exactly one"), "{e}");
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]\nreference = { requests_per_s = -1.0, source = \"x\" }\n");
    assert!(e.message.contains("positive"), "{e}");
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\nscenarios = [\"hello\"]\nreference = { rps = 1 }\n");
    assert!(e.message.contains("unknown field `rps`"), "{e}");
    let e = error("[[stack]]\nid = \"rust/axum/per-core\"\nclose = true\n");
    assert_eq!(e.at, Some((3, 9)), "{e}");
    assert!(e.message.contains("only the rust/std stacks"), "{e}");
    let e = error("[[stack]]\nid = \"python/wsgi/gunicorn-sync\"\nclose = true\n");
    assert!(
        e.message.contains("closes after every response by itself"),
        "{e}"
    );
}

#[test]
fn cells_survive_json() {
    for cell in cells("[[stack]]\nid = \"rust/axum/tokio-multi\"\n[scenario.db]\ndatabase = \"sqlite\"\n[[profile]]\nrate = 100\n") {
            let json = serde_json::to_string(&cell).unwrap();
            let back: CellSpec = serde_json::from_str(&json).unwrap();
            assert_eq!(back, cell, "{json}");
        }
}

#[test]
fn profile_thresholds_reach_the_cells_and_bad_ones_point_at_the_key() {
    let c = cells(
        "[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\nthresholds = [\"p99<50ms\", \"errors < 1%\"]\n",
    );
    let texts: Vec<String> = c[0].load.thresholds.iter().map(|t| t.to_string()).collect();
    assert_eq!(texts, ["p99 < 50ms", "errors < 1%"]);
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\nthresholds = [\"p99\"]\n");
    assert_eq!(e.at.map(|(line, _)| line), Some(4), "{e}");
    assert!(e.message.contains("expected one '<' or '>'"), "{e}");
}

#[test]
fn tls_reaches_the_upstream_the_stack_and_the_load() {
    let tls_cells = cells(
        r#"
scenarios = ["upstream"]
[scenario.upstream]
delay = "50ms"
tls = true
[[stack]]
id = "python/wsgi/gunicorn-sync"
variant = "upstream=fresh"
tls = true
[[profile]]
connections = 4
close = true
"#,
    );
    let cell = &tls_cells[0];
    assert_eq!(
        cell.id,
        "python/wsgi/gunicorn-sync:upstream=fresh,tls/upstream/c4"
    );
    assert!(cell.stack.tls && cell.load.close && cell.upstream_tls());
    assert_eq!(
        cell.scenario,
        ScenarioSpec::Upstream {
            delay: Duration::from_millis(50),
            connect_cost: Duration::ZERO,
            tls: true,
        },
        "over TLS the handshake is the connection's cost, not a fake wait"
    );
    let json = serde_json::to_value(cell).unwrap();
    assert_eq!(json["stack"]["tls"], true);
    assert_eq!(json["scenario"]["tls"], true);
    assert_eq!(json["load"]["close"], true);
    let back: CellSpec = serde_json::from_value(json).unwrap();
    assert_eq!(&back, cell);

    // Without the keys, nothing of TLS is written, as before.
    let plain = &cells("scenarios = [\"upstream\"]\n[[stack]]\nid = \"rust/std/sync-pool\"\n")[0];
    let json = serde_json::to_value(plain).unwrap();
    assert!(json["stack"].get("tls").is_none() && json["load"].get("close").is_none());
    assert_eq!(json["scenario"]["connect_cost_ms"], 30);
}

#[test]
fn tls_is_refused_where_it_cannot_apply() {
    let e = error(
        "[scenario.upstream]\ntls = true\nconnect_cost = \"30ms\"\n[[stack]]\nid = \"rust/std/sync-pool\"\n",
    );
    assert!(
        e.message.contains("leave connect_cost out") && e.at == Some((2, 7)),
        "{e}"
    );
    let e = error("[[stack]]\nid = \"python/wsgi/gunicorn-meinheld\"\ntls = true\n");
    assert!(
        e.message.contains("meinheld's worker") && e.message.contains("cannot serve HTTPS"),
        "{e}"
    );
    assert_eq!(e.at, Some((3, 7)));
    let e = error("[[stack]]\nname = \"x\"\ncommand = \"srv {port}\"\ntls = true\n");
    assert!(e.message.contains("external stack"), "{e}");
    assert_eq!(e.at, Some((4, 7)));
    let e = error("[[stack]]\nid = \"rust/std/sync-pool\"\ntls = \"yes\"\n");
    assert!(e.message.contains("bool"), "{e}");
}

#[test]
fn a_url_stack_is_a_server_already_running() {
    let cells = cells(
        r#"
scenarios = ["hello"]
[[stack]]
url = "http://10.0.0.7:8080/"
metrics = "http://10.0.0.7:9100/metrics"
[[stack]]
name = "nginx-box"
url = "http://web.example:80"
ready = "/health"
[[profile]]
connections = 4
"#,
    );
    assert_eq!(cells[0].id, "remote/10.0.0.7:8080/hello/c4");
    assert_eq!(
        cells[0].stack.source,
        StackSource::Remote {
            url: BaseUrl::parse("http://10.0.0.7:8080").unwrap(),
            ready_path: "/hello".into(),
            metrics: Some(MetricsUrl::parse("http://10.0.0.7:9100/metrics").unwrap()),
        }
    );
    assert_eq!(cells[0].stack.workers, 0, "its workers are unknown");
    assert_eq!(cells[1].id, "nginx-box/hello/c4");
    assert_eq!(
        cells[1].stack.source,
        StackSource::Remote {
            url: BaseUrl::parse("http://web.example:80").unwrap(),
            ready_path: "/health".into(),
            metrics: None,
        }
    );
}

#[test]
fn a_url_stack_refuses_what_framewut_cannot_do_to_it() {
    for (text, says) in [
        (
            "[[stack]]\nurl = \"http://h:1/hello\"\n",
            "framewut adds each scenario's path",
        ),
        ("[[stack]]\nurl = \"https://h:1\"\n", "\"http://host:port\""),
        (
            "[[stack]]\nurl = \"http://h:1\"\nworkers = 4\n",
            "cannot set the workers",
        ),
        (
            "[[stack]]\nurl = \"http://h:1\"\nmetrics = \"h:9100\"\n",
            "http://host:9100/metrics",
        ),
        (
            "[[stack]]\nid = \"rust/std/sync-pool\"\nmetrics = \"http://h:9100/metrics\"\n",
            "metrics is for a url stack",
        ),
        (
            "[[stack]]\nid = \"rust/std/sync-pool\"\nurl = \"http://h:1\"\n",
            "not several",
        ),
        (
            "[[stack]]\nurl = \"http://h:1\"\nclose = true\n",
            "close is for the built-in",
        ),
    ] {
        let e = error(text);
        assert!(e.message.contains(says), "{text}: {e}");
        assert!(e.at.is_some(), "{text}: {e}");
    }
}

#[test]
fn a_url_stack_cannot_have_a_fresh_server_per_trial() {
    let e = Matrix::parse(
        "m.toml",
        "[[stack]]\nurl = \"http://h:1\"\n[[profile]]\ntrials = 3\nfresh_server = true\n",
    )
    .unwrap()
    .cells(&two_cores(), &Overrides::default())
    .unwrap_err();
    assert!(matches!(&e, CellsError::RemoteRestart { .. }), "{e}");
    assert!(e.to_string().contains("cannot restart"), "{e}");
}

#[test]
fn servers_spread_the_trials_and_follow_an_override_of_the_trials() {
    let cells = |profile: &str, trials: Option<u32>| {
        Matrix::parse(
            "m.toml",
            &format!("[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\n{profile}\n"),
        )
        .unwrap()
        .cells(
            &two_cores(),
            &Overrides {
                trials,
                ..Overrides::default()
            },
        )
        .unwrap()
    };
    let load = &cells("trials = 5\nservers = 2", None)[0].load;
    assert_eq!((load.trials, load.servers), (5, 2));
    assert_eq!(load.trials_per_server(), [3, 2]);
    // A server for every trial follows --trials; a count is capped by it.
    let load = &cells("trials = 5\nfresh_server = true", Some(3))[0].load;
    assert_eq!(load.trials_per_server(), [1, 1, 1]);
    let load = &cells("trials = 5\nservers = 4", Some(2))[0].load;
    assert_eq!(load.trials_per_server(), [1, 1]);
    let load = &cells("trials = 3", None)[0].load;
    assert_eq!(load.trials_per_server(), [3]);
}

#[test]
fn servers_cannot_be_zero_or_set_beside_fresh_server() {
    for (profile, expected) in [
        ("servers = 0", "servers = 0: expected at least 1"),
        (
            "servers = 2\nfresh_server = true",
            "sets both fresh_server and servers",
        ),
    ] {
        let e = Matrix::parse(
            "m.toml",
            &format!("[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\n{profile}\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(expected), "{e}");
    }
}

#[test]
fn a_protocol_list_sweeps_and_h2_cells_carry_their_streams() {
    let cells = cells(
        r#"
scenarios = ["hello"]
[[stack]]
id = "rust/hyper/tokio-multi"
[[profile]]
connections = [4, 8]
protocol = ["http/1.1", "h2"]
streams = 16
"#,
    );
    let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "rust/hyper/tokio-multi/hello/c4",
            "rust/hyper/tokio-multi/hello/c4-h2x16",
            "rust/hyper/tokio-multi/hello/c8",
            "rust/hyper/tokio-multi/hello/c8-h2x16",
        ]
    );
    let in_flight: Vec<usize> = cells.iter().map(|c| c.load.in_flight()).collect();
    assert_eq!(in_flight, [4, 64, 8, 128]);
    assert_eq!(cells[1].load.protocol, crate::spec::Protocol::H2);
    assert_eq!(
        cells[0].load.streams, 1,
        "HTTP/1.1 has one request a connection"
    );
    assert_eq!(
        cells[1].load.size_words(),
        "4 connections x 16 streams (h2)"
    );
}

#[test]
fn h2_is_refused_where_it_cannot_be_served_or_does_not_fit() {
    let refused = Matrix::parse(
        "m.toml",
        "[[stack]]\nid = \"rust/std/sync-pool\"\n[[profile]]\nprotocol = \"h2\"\n",
    )
    .unwrap()
    .cells(&two_cores(), &Overrides::default())
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("rust/std/sync-pool does not serve HTTP/2"),
        "{refused}"
    );
    for (profile, says) in [
        ("streams = 8", "streams are HTTP/2's; add protocol = \"h2\""),
        ("protocol = \"h3\"", "expected \"http/1.1\" or \"h2\""),
        (
            "protocol = \"h2\"\nclose = true",
            "has no Connection: close",
        ),
        (
            "protocol = \"h2\"\nstreams = 0",
            "streams = 0: expected 1 to 4096",
        ),
    ] {
        let text = format!("[[stack]]\nid = \"rust/hyper/tokio-multi\"\n[[profile]]\n{profile}\n");
        let message = error(&text).to_string();
        assert!(message.contains(says), "{profile}: {message}");
    }
}
