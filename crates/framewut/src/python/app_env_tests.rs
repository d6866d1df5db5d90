//! An app's environment's unit tests: the target's form, the hash and the
//! stamp, what pip's failures are boiled down to, the servers' pins; and one
//! slow test that installs for real.

use super::*;

/// A directory under the system's temporary one, removed when dropped (so
/// also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("framewut-app-env-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn options(data_dir: &Path) -> SetupOptions {
    SetupOptions {
        data_dir: data_dir.to_path_buf(),
        python: "python3".into(),
        force: false,
        progress: Progress::Quiet,
    }
}

fn interpreter() -> Interpreter {
    Interpreter {
        version: "3.11.7".into(),
        executable: "/usr/bin/python3".into(),
    }
}

#[test]
fn a_missing_requirements_file_says_to_give_one() {
    let dir = TempDir::new("no-requirements");
    let path = dir.0.join("requirements.txt");
    let err = ensure_app_env(&path, &options(&dir.0.join("data"))).unwrap_err();
    assert!(
        matches!(&err, AppEnvError::NoRequirements { path: named } if *named == path),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains("or an empty file for an app with none"),
        "{text}"
    );
    assert!(!dir.0.join("data").exists(), "nothing is made for it");
}

#[test]
fn a_target_that_is_not_module_colon_attribute_is_refused() {
    // Refused before anything runs: this environment does not exist.
    let env = AppEnv {
        venv: PathBuf::from("/nonexistent/framewut/venv"),
        python_version: "3.11.7".into(),
        missing: BTreeMap::new(),
        installed_now: false,
    };
    for target in [
        "shop.wsgi",
        "shop.wsgi:",
        ":application",
        "shop wsgi:application",
        "shop..wsgi:application",
        "shop.wsgi:create_app()",
        "1shop:application",
    ] {
        let err = check_import(&env, Path::new("."), target, false).unwrap_err();
        assert!(
            matches!(&err, AppEnvError::BadTarget { target: named } if named == target),
            "{target}: {err:?}"
        );
        assert!(
            err.to_string()
                .ends_with("is not MODULE:ATTRIBUTE, e.g. \"shop.wsgi:application\""),
            "{err}"
        );
    }
    assert_eq!(
        split_target("shop.wsgi:app.wsgi_app"),
        Some(("shop.wsgi", "app.wsgi_app"))
    );
    assert_eq!(
        split_target("_shop2:application"),
        Some(("_shop2", "application"))
    );
}

#[test]
fn the_hash_follows_the_interpreter_and_the_requirements() {
    let hash = app_hash(&interpreter(), b"flask==3.1.3\n");
    assert_eq!(hash.len(), 16);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
    assert_eq!(hash, app_hash(&interpreter(), b"flask==3.1.3\n"));
    assert_ne!(hash, app_hash(&interpreter(), b"flask==3.1.2\n"));
    let moved = Interpreter {
        executable: "/usr/local/bin/python3".into(),
        ..interpreter()
    };
    assert_ne!(hash, app_hash(&moved, b"flask==3.1.3\n"));
    let newer = Interpreter {
        version: "3.12.1".into(),
        ..interpreter()
    };
    assert_ne!(hash, app_hash(&newer, b"flask==3.1.3\n"));
}

#[test]
fn a_stamp_round_trips_with_the_missing_servers() {
    let hash = app_hash(&interpreter(), b"");
    let none = BTreeMap::new();
    let mut some = BTreeMap::new();
    some.insert(
        "meinheld".to_string(),
        "meinheld did not build (error: command 'gcc' failed)".to_string(),
    );
    some.insert(
        "granian".to_string(),
        "ImportError: libc: version `GLIBC_2.99' not found".to_string(),
    );
    for missing in [none, some] {
        let text = stamp_text(&hash, &missing);
        assert_eq!(read_stamp(&text, &hash), Some(missing));
        assert_eq!(read_stamp(&text, "0000000000000000"), None);
    }
    assert_eq!(read_stamp("", &hash), None);
    assert_eq!(
        read_stamp(&format!("{hash}\nsomething else\n"), &hash),
        None,
        "a line the stamp does not know makes it stale"
    );
    let mut multi_line = BTreeMap::new();
    multi_line.insert("gevent".to_string(), "one\ntwo".to_string());
    let read = read_stamp(&stamp_text(&hash, &multi_line), &hash).unwrap();
    assert_eq!(read["gevent"], "one | two");
}

#[test]
fn the_probe_output_names_the_servers_only() {
    let text = "DeprecationWarning: something\tnoisy\n\
                meinheld\tModuleNotFoundError: No module named 'meinheld'\n\
                granian\tImportError: cannot import name '_granian'\n";
    let missing = read_probe(text);
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert_eq!(
        missing["meinheld"],
        "ModuleNotFoundError: No module named 'meinheld'"
    );
    assert_eq!(
        missing["granian"],
        "ImportError: cannot import name '_granian'"
    );
}

#[test]
fn pip_said_keeps_a_conflict_and_its_causes() {
    let output = "Collecting gunicorn==21.2.0\n\
                  \n\
                  ERROR: Cannot install gunicorn==21.2.0 and gunicorn==27.0.1 because these \
                  package versions have conflicting dependencies.\n\
                  \n\
                  The conflict is caused by:\n    The user requested gunicorn==21.2.0\n    \
                  The user requested gunicorn==27.0.1\n\
                  \n\
                  To fix this you could try to:\n\
                  1. loosen the range of package versions you've specified\n\
                  ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/\n";
    let said = pip_said(output);
    assert!(
        said.starts_with("ERROR: Cannot install gunicorn==21.2.0"),
        "{said}"
    );
    assert!(
        said.contains("The user requested gunicorn==21.2.0"),
        "{said}"
    );
    assert!(said.ends_with("ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/"));
    assert!(!said.contains('\n'), "{said}");
}

#[test]
fn pip_said_keeps_the_compilers_error_of_a_failed_build() {
    let output = "Building wheels for collected packages: meinheld\n  \
                  error: subprocess-exited-with-error\n  \
                  meinheld/server/server.c:1:10: fatal error: Python.h: No such file or directory\n  \
                  compilation terminated.\n  \
                  error: command '/usr/bin/gcc' failed with exit code 1\n  \
                  note: This error originates from a subprocess, and is likely not a problem with pip.\n  \
                  ERROR: Failed building wheel for meinheld\n\
                  Failed to build meinheld\n\
                  ERROR: Could not build wheels for meinheld\n";
    let said = pip_said(output);
    assert_eq!(
        said,
        "meinheld/server/server.c:1:10: fatal error: Python.h: No such file or directory | \
         error: command '/usr/bin/gcc' failed with exit code 1 | \
         ERROR: Failed building wheel for meinheld | Failed to build meinheld | \
         ERROR: Could not build wheels for meinheld"
    );
    assert_eq!(pip_said("one\ntwo\n\nthree\n"), "one | two | three");
}

#[test]
fn the_servers_are_pinned_as_requirements_txt_pins_them() {
    let pins = |text: &'static str| -> BTreeMap<String, String> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (name, version) = line
                    .split_once("==")
                    .unwrap_or_else(|| panic!("{line:?} is not pinned exactly"));
                (name.to_ascii_lowercase(), version.to_string())
            })
            .collect()
    };
    let servers = pins(SERVERS);
    let requirements = pins(
        PYTHON_FILES
            .iter()
            .find(|(name, _)| *name == "requirements.txt")
            .unwrap()
            .1,
    );
    for (name, version) in &servers {
        if let Some(theirs) = requirements.get(name) {
            assert_eq!(version, theirs, "{name} is pinned differently");
        }
    }
    for module in SERVER_MODULES.iter().filter(|name| **name != "meinheld") {
        assert!(
            servers.contains_key(*module),
            "{module} is not in servers.txt"
        );
    }
    assert!(nodeps_text().lines().any(|line| line == "meinheld==1.0.2"));
    assert!(SERVERS.starts_with("# "), "servers.txt says what it is");
}

/// Slow: installs for real into a temporary data directory (about a minute
/// the first time, and needs PyPI, or pip's cache), then reuses and remakes.
#[test]
fn slow_an_app_env_installs_imports_its_app_and_is_reused() {
    let dir = TempDir::new("install");
    let data = dir.0.join("data");
    let app = dir.0.join("app");
    fs::create_dir_all(app.join("shop")).unwrap();
    fs::write(app.join("requirements.txt"), "").unwrap();
    fs::write(
        app.join("app.py"),
        "def application(environ, start_response):\n    \
             start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
             return [b'hello']\n\n\
         async def asgi(scope, receive, send):\n    \
             pass\n\n\
         NOT_AN_APP = 42\n\
         print('importing app.py prints too')\n",
    )
    .unwrap();
    fs::write(app.join("shop").join("__init__.py"), "").unwrap();
    fs::write(
        app.join("shop").join("wsgi.py"),
        "from app import application\n",
    )
    .unwrap();
    let requirements = app.join("requirements.txt");

    let started = Instant::now();
    let env = ensure_app_env(&requirements, &options(&data)).unwrap();
    eprintln!(
        "first install: {:?}; missing: {:?}",
        started.elapsed(),
        env.missing
    );
    assert!(env.installed_now);
    assert!(
        env.venv.starts_with(data.join("apps")),
        "{}",
        env.venv.display()
    );
    assert!(env.python().exists());
    assert!(env.bin().join("gunicorn").exists());
    assert!(
        env.python_version.starts_with("3."),
        "{}",
        env.python_version
    );
    for server in ["gunicorn", "gevent", "uvicorn", "granian", "hypercorn"] {
        assert!(!env.missing.contains_key(server), "{:?}", env.missing);
    }
    if let Some(why) = env.missing.get("meinheld") {
        assert!(why.contains("C compiler"), "{why}");
    }
    let recorded = fs::read_to_string(env.venv.join(STAMP)).unwrap();
    assert_eq!(
        read_stamp(
            &recorded,
            env.venv
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
        ),
        Some(env.missing.clone())
    );

    check_import(&env, &app, "app:application", false).unwrap();
    check_import(&env, &app, "app:asgi", false).unwrap();
    check_import(&env, &app, "shop.wsgi:application", true).unwrap();
    let said = |target: &str| match check_import(&env, &app, target, false) {
        Err(AppEnvError::Import { said, .. }) => said,
        other => panic!("{target}: {other:?}"),
    };
    assert_eq!(
        said("shopx.wsgi:application"),
        "ModuleNotFoundError: No module named 'shopx'"
    );
    let err = check_import(&env, &app, "shopx.wsgi:application", false).unwrap_err();
    assert!(err.to_string().starts_with(
        "shopx.wsgi:application does not import in its environment: ModuleNotFoundError"
    ));
    assert_eq!(
        said("app:nothing"),
        "AttributeError: module 'app' has no attribute 'nothing'"
    );
    assert_eq!(
        said("app:NOT_AN_APP"),
        "app:NOT_AN_APP is 'int', not a callable app"
    );

    let again = ensure_app_env(&requirements, &options(&data)).unwrap();
    assert!(!again.installed_now);
    assert_eq!(
        again,
        AppEnv {
            installed_now: false,
            ..env.clone()
        }
    );

    // A changed file hashes differently: a new environment beside the old.
    fs::write(&requirements, "# no requirements yet\n").unwrap();
    let changed = ensure_app_env(&requirements, &options(&data)).unwrap();
    assert!(changed.installed_now);
    assert_ne!(changed.venv, env.venv);
    assert!(env.python().exists(), "the old environment is left alone");

    // A pin that conflicts with a server's fails with pip's own words.
    fs::write(&requirements, "gunicorn==21.2.0\n").unwrap();
    let err = ensure_app_env(&requirements, &options(&data)).unwrap_err();
    let AppEnvError::Install { said, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(said.contains("gunicorn==21.2.0"), "{said}");
    assert!(said.contains("conflict"), "{said}");
    assert!(err.to_string().contains("loosen the app's pin"), "{err}");
}
