//! The Python stacks' unit tests: the table's ids, the command lines and
//! environments that launch them, and what each stack refuses.

use std::path::PathBuf;

use super::*;
use crate::python::error::PythonStackError;
use crate::python::launch::{PythonOptions, ServerCert};

fn env(meinheld: Meinheld) -> PythonEnv {
    PythonEnv {
        venv: PathBuf::from("/data/venv"),
        apps: PathBuf::from("/data/python"),
        python_version: "3.11.7".into(),
        meinheld,
        installed_now: false,
    }
}

#[test]
fn ids_are_unique_and_name_app_and_server() {
    for (i, stack) in STACKS.iter().enumerate() {
        assert!(
            STACKS[..i].iter().all(|other| other.id != stack.id),
            "{} twice",
            stack.id
        );
        let parts: Vec<&str> = stack.id.split('/').collect();
        assert_eq!(parts.len(), 3, "{}", stack.id);
        assert_eq!(parts[0], "python");
        assert_eq!(
            format!("{}_app", parts[1]),
            stack.app.module(),
            "{}",
            stack.id
        );
        assert!(
            !stack.sleep.is_empty() && !stack.clients.is_empty(),
            "{}",
            stack.id
        );
    }
}

#[test]
fn every_seed_row_has_a_stack() {
    for id in [
        "python/wsgi/gunicorn-sync",
        "python/wsgi/gunicorn-meinheld",
        "python/werkzeug/gunicorn-meinheld",
        "python/flask/gunicorn-meinheld",
        "python/gevent/gunicorn-gevent",
        "python/gevent/gunicorn-meinheld",
    ] {
        assert!(find_python_stack(id).is_ok(), "{id}");
    }
    assert!(find_python_stack("python/wsgi/nope")
        .unwrap_err()
        .to_string()
        .contains("python/asgi/uvicorn"));
}

#[test]
fn gunicorn_binds_loopback_with_its_worker_class() {
    let stack = find_python_stack("python/flask/gunicorn-gthread").unwrap();
    let options = PythonOptions {
        upstream_url: Some("http://127.0.0.1:9/".into()),
        client: Some(UpstreamClient::Futures),
        threads: 4,
        ..PythonOptions::default()
    };
    let launch = stack
        .launch(&env(Meinheld::Installed), 5000, 10, &options)
        .unwrap();
    assert_eq!(launch.program, PathBuf::from("/data/venv/bin/python"));
    assert_eq!(
        launch.args.join(" "),
        "-m gunicorn --bind 127.0.0.1:5000 --workers 10 --worker-class gthread --threads 4 \
         --log-level warning flask_app:app"
    );
    let var = |key: &str| {
        launch
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(var("FRAMEWUT_CLIENT"), Some("futures"));
    assert_eq!(var("FRAMEWUT_SLEEP_MS"), Some("100"));
    assert_eq!(var("FRAMEWUT_UPSTREAM_URL"), Some("http://127.0.0.1:9/"));
    assert_eq!(var("FRAMEWUT_DB"), None);
    assert_eq!(var("PYTHONPATH"), Some("/data/python"));
}

#[test]
fn asgi_servers_take_a_sleep_mode_and_bind_loopback() {
    let options = PythonOptions {
        sleep_mode: Some(SleepMode::Blocking),
        ..PythonOptions::default()
    };
    for id in ["python/asgi/uvicorn", "python/asgi/granian"] {
        let stack = find_python_stack(id).unwrap();
        let launch = stack
            .launch(&env(Meinheld::Installed), 8001, 2, &options)
            .unwrap();
        let line = launch.display();
        assert!(line.contains("FRAMEWUT_SLEEP=blocking"), "{line}");
        assert!(
            line.contains("--host 127.0.0.1 --port 8001 --workers 2"),
            "{line}"
        );
        assert!(line.ends_with("asgi_app:app"), "{line}");
    }
}

/// granian's stacks serve HTTP/2 because they run with `--http auto`;
/// the gunicorn and uvicorn stacks speak only HTTP/1.1.
#[test]
fn granian_serves_http2_through_http_auto() {
    let options = PythonOptions::default();
    for stack in python_stacks() {
        let granian = matches!(stack.server, Server::GranianAsgi | Server::GranianWsgi);
        assert_eq!(stack.serves_http2(), granian, "{}", stack.id);
        let line = stack
            .launch(&env(Meinheld::Installed), 8001, 1, &options)
            .unwrap()
            .display();
        assert_eq!(line.contains(" --http auto "), granian, "{line}");
    }
}

#[test]
fn refuses_what_a_stack_cannot_do() {
    let installed = env(Meinheld::Installed);
    let cooperative = PythonOptions {
        sleep_mode: Some(SleepMode::Cooperative),
        ..PythonOptions::default()
    };
    let futures = PythonOptions {
        client: Some(UpstreamClient::Futures),
        ..PythonOptions::default()
    };
    for (id, options, why) in [
        (
            "python/wsgi/gunicorn-sync",
            cooperative,
            "sleeps blocking only",
        ),
        ("python/asgi/uvicorn", futures, "session, fresh"),
    ] {
        let err = find_python_stack(id)
            .unwrap()
            .launch(&installed, 5000, 1, &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{id}: {err}");
    }
    let sync = find_python_stack("python/wsgi/gunicorn-sync").unwrap();
    assert!(sync
        .launch(&installed, 5000, 0, &PythonOptions::default())
        .is_err());
}

#[test]
fn meinheld_stacks_say_why_when_meinheld_is_missing() {
    let missing = env(Meinheld::Missing("no compiler".into()));
    let meinheld = find_python_stack("python/wsgi/gunicorn-meinheld").unwrap();
    let err = meinheld
        .launch(&missing, 5000, 1, &PythonOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no compiler"), "{err}");
    let sync = find_python_stack("python/wsgi/gunicorn-sync").unwrap();
    assert!(sync
        .launch(&missing, 5000, 1, &PythonOptions::default())
        .is_ok());
}

#[test]
fn modes_parse_from_their_names() {
    assert_eq!(
        "futures".parse::<UpstreamClient>(),
        Ok(UpstreamClient::Futures)
    );
    assert!("pooled"
        .parse::<UpstreamClient>()
        .unwrap_err()
        .to_string()
        .contains("fresh, session, futures"));
    assert_eq!(
        "cooperative".parse::<SleepMode>(),
        Ok(SleepMode::Cooperative)
    );
    assert!(UpstreamClient::Session.pooled() && !UpstreamClient::Fresh.pooled());
}

#[test]
fn servers_that_can_serve_https_get_their_own_options_and_clients_the_ca() {
    let options = PythonOptions {
        tls: Some(ServerCert {
            cert: PathBuf::from("/ca/cert.pem"),
            key: PathBuf::from("/ca/key.pem"),
        }),
        upstream_ca: Some(PathBuf::from("/ca/ca.pem")),
        ..PythonOptions::default()
    };
    for (id, flags) in [
        (
            "python/wsgi/gunicorn-sync",
            "--certfile /ca/cert.pem --keyfile /ca/key.pem",
        ),
        (
            "python/gevent/gunicorn-gevent",
            "--certfile /ca/cert.pem --keyfile /ca/key.pem",
        ),
        (
            "python/asgi/uvicorn",
            "--ssl-certfile /ca/cert.pem --ssl-keyfile /ca/key.pem",
        ),
        (
            "python/asgi/granian",
            "--ssl-certificate /ca/cert.pem --ssl-keyfile /ca/key.pem",
        ),
    ] {
        let stack = find_python_stack(id).unwrap();
        let launch = stack
            .launch(&env(Meinheld::Installed), 8443, 2, &options)
            .unwrap();
        let line = launch.display();
        assert!(line.contains(flags), "{id}: {line}");
        assert!(
            line.ends_with(&format!("{}:app", stack.app.module())),
            "{id}: the app stays last: {line}"
        );
        for var in ["REQUESTS_CA_BUNDLE=/ca/ca.pem", "SSL_CERT_FILE=/ca/ca.pem"] {
            assert!(line.contains(var), "{id}: {line}");
        }
    }
    let meinheld = find_python_stack("python/wsgi/gunicorn-meinheld").unwrap();
    let why = meinheld
        .launch(&env(Meinheld::Installed), 8443, 2, &options)
        .unwrap_err()
        .to_string();
    assert!(why.contains("cannot serve HTTPS"), "{why}");
    let plain = find_python_stack("python/wsgi/gunicorn-sync")
        .unwrap()
        .launch(
            &env(Meinheld::Installed),
            8000,
            2,
            &PythonOptions::default(),
        )
        .unwrap()
        .display();
    assert!(
        !plain.contains("certfile") && !plain.contains("CA_BUNDLE"),
        "{plain}"
    );
}

#[test]
fn refusals_name_the_stack_and_what_it_has() {
    let sync = find_python_stack("python/wsgi/gunicorn-sync").unwrap();
    let uvicorn = find_python_stack("python/asgi/uvicorn").unwrap();
    let meinheld = find_python_stack("python/wsgi/gunicorn-meinheld").unwrap();
    let cooperative = PythonVariants {
        sleep: Some(SleepMode::Cooperative),
        client: None,
    };
    assert_eq!(
        sync.resolve(cooperative).unwrap_err().to_string(),
        "python/wsgi/gunicorn-sync sleeps blocking only; its app and worker class decide, \
         not an option"
    );
    let futures = PythonVariants {
        sleep: None,
        client: Some(UpstreamClient::Futures),
    };
    assert_eq!(
        uvicorn.resolve(futures).unwrap_err().to_string(),
        "python/asgi/uvicorn has no futures upstream client; it has session, fresh"
    );
    assert_eq!(
        meinheld.serves_tls().unwrap_err().to_string(),
        "python/wsgi/gunicorn-meinheld cannot serve HTTPS: meinheld's worker reads the socket \
         itself and ignores gunicorn's --certfile; the gunicorn sync, gthread and gevent \
         workers, uvicorn and granian can"
    );
    let no_threads = PythonOptions {
        threads: 0,
        ..PythonOptions::default()
    };
    assert_eq!(
        sync.launch(&env(Meinheld::Installed), 5000, 1, &no_threads)
            .unwrap_err(),
        PythonStackError::NoWorkers { id: sync.id }
    );
    assert!(find_python_stack("python/nope")
        .unwrap_err()
        .to_string()
        .starts_with("no Python stack \"python/nope\"; there are: python/wsgi/gunicorn-sync, "));
}

#[test]
fn variant_lists_say_which_pair_is_wrong() {
    assert_eq!(
        "sleep=cooperative, upstream=futures".parse::<PythonVariants>(),
        Ok(PythonVariants {
            sleep: Some(SleepMode::Cooperative),
            client: Some(UpstreamClient::Futures),
        })
    );
    for (text, why) in [
        (
            "sleep",
            r#"variant "sleep" is not key=value (keys: sleep, upstream)"#,
        ),
        (
            "cpu=inline",
            r#"unknown variant key "cpu" for a Python stack: expected sleep or upstream"#,
        ),
        (
            "sleep=async",
            r#"unknown sleep mode "async": expected blocking, cooperative"#,
        ),
    ] {
        let err = text.parse::<PythonVariants>().unwrap_err();
        assert_eq!(err.to_string(), why, "{text}");
    }
}
