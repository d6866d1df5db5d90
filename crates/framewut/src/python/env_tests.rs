//! The Python environment's unit tests: the stamp and its hash, the apps
//! written out, and what a missing or incomplete interpreter says.

use super::*;

fn interpreter() -> Interpreter {
    Interpreter {
        version: "3.11.7".into(),
        executable: "/usr/bin/python3".into(),
    }
}

#[test]
fn a_stamp_round_trips_with_the_meinheld_state() {
    let stamp = stamp(&interpreter());
    assert_eq!(stamp.len(), 16);
    let missing = Meinheld::Missing("no compiler".into());
    for meinheld in [Meinheld::Installed, missing] {
        let text = stamp_text(&stamp, &meinheld);
        assert_eq!(read_stamp(&text, &stamp), Some(meinheld));
        assert_eq!(read_stamp(&text, "0000000000000000"), None);
    }
    assert_eq!(
        read_stamp(&stamp, &stamp),
        None,
        "a stamp without its meinheld line is stale"
    );
}

#[test]
fn the_stamp_follows_the_interpreter() {
    let other = Interpreter {
        version: "3.12.1".into(),
        ..interpreter()
    };
    assert_ne!(stamp(&interpreter()), stamp(&other));
}

#[test]
fn fnv1a_separates_fields() {
    let mut joined = Fnv1a::new();
    joined.add(b"ab");
    joined.add(b"c");
    let mut split = Fnv1a::new();
    split.add(b"a");
    split.add(b"bc");
    assert_ne!(joined.0, split.0);
}

#[test]
fn a_missing_interpreter_says_what_to_install() {
    let err = super::interpreter("framewut-no-such-python").err().unwrap();
    assert!(
        matches!(&err, PythonUnavailable::NoPython { python } if python == "framewut-no-such-python"),
        "{err:?}"
    );
    assert!(err.to_string().contains("apt-get install python3"), "{err}");
}

/// The apps are written out, and a changed one rewritten, before the
/// interpreter is even looked for.
#[test]
fn setup_restores_changed_apps_even_without_python() {
    let dir = std::env::temp_dir().join(format!("framewut-apps-{}", std::process::id()));
    let app = dir.join("python").join("wsgi_app.py");
    fs::create_dir_all(app.parent().unwrap()).unwrap();
    fs::write(&app, "edited by hand").unwrap();
    let options = SetupOptions {
        data_dir: dir.clone(),
        python: "framewut-no-such-python".into(),
        force: false,
        progress: Progress::Quiet,
    };
    let result = setup_python(&options);
    let restored = fs::read_to_string(&app).unwrap();
    let written = PYTHON_FILES.iter().all(|(name, text)| {
        fs::read_to_string(dir.join("python").join(name))
            .ok()
            .as_deref()
            == Some(*text)
    });
    fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(result, Err(PythonUnavailable::NoPython { .. })));
    assert!(
        restored.contains("def app(environ, start_response)"),
        "{restored}"
    );
    assert!(written, "every embedded file is written");
}

/// An interpreter without ensurepip, as Debian's python3 is without
/// python3-venv: a wrapper that hides the module before running the probe.
#[test]
fn an_interpreter_without_ensurepip_says_to_install_venv() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("framewut-no-venv-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("python3-without-venv");
    let script = "#!/bin/sh\nexec python3 -c \"import sys; sys.modules['ensurepip'] = None; \
                  exec(sys.argv[1])\" \"$2\"\n";
    fs::write(&wrapper, script).unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let python = wrapper.display().to_string();
    let result = super::interpreter(&python);
    fs::remove_dir_all(&dir).unwrap();
    let err = result
        .err()
        .expect("python3 must be installed to run this test");
    assert!(
        matches!(&err, PythonUnavailable::NoVenv { python: tried } if *tried == python),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("apt-get install python3-venv"),
        "{err}"
    );
}

#[test]
fn the_embedded_files_are_the_apps_and_requirements() {
    let names: Vec<&str> = PYTHON_FILES.iter().map(|(name, _)| *name).collect();
    for module in [
        "wsgi_app.py",
        "werkzeug_app.py",
        "flask_app.py",
        "gevent_app.py",
        "asgi_app.py",
    ] {
        assert!(names.contains(&module), "{module} is not embedded");
    }
    let requirements = PYTHON_FILES
        .iter()
        .find(|(name, _)| *name == REQUIREMENTS)
        .unwrap()
        .1;
    assert!(requirements
        .lines()
        .any(|line| line.starts_with("gunicorn==")));
}

#[test]
fn a_failed_file_step_keeps_the_os_error_as_its_source() {
    let file = std::env::temp_dir().join(format!("framewut-not-a-dir-{}", std::process::id()));
    fs::write(&file, "a file, not a directory").unwrap();
    let options = SetupOptions {
        data_dir: file.join("data"),
        python: "framewut-no-such-python".into(),
        force: false,
        progress: Progress::Quiet,
    };
    let result = setup_python(&options);
    fs::remove_file(&file).unwrap();
    let err = result.err().unwrap();
    assert!(matches!(err, PythonUnavailable::Io { .. }), "{err:?}");
    let prefix = format!(
        "Python setup failed while creating {}: ",
        file.join("data").display()
    );
    assert!(err.to_string().starts_with(&prefix), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}
