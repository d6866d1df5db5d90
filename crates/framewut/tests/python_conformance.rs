//! Every Python stack answers the scenario contract, with every upstream
//! client it offers, and waits in `/sleep` the way its table entry says. A
//! stack serves HTTP/2 (h2c, and h2 over TLS) exactly when its table entry
//! says so.
//!
//! The virtual environment is made (once, then reused through its stamp) in
//! Cargo's temporary directory for tests, with the same setup function that
//! `framewut setup python` and the lab use. Without python3 and venv these
//! tests fail and say what to install: CI must have them.

mod support;

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use framewut::python::{
    find_python_stack, python_stacks, setup_python, Meinheld, Model, Progress, PythonEnv,
    PythonOptions, PythonStack, ServerCert, SetupOptions, SleepMode, UpstreamClient,
};
use framewut_stacks::contract::{self, ContractError};
use framewut_stacks::db;
use framewut_stacks::tls::TestCa;
use framewut_stacks::upstream::{UpstreamConfig, UpstreamServer, UPSTREAM_BODY};
use framewut_stacks::Scenario;
use rustls::ClientConfig;

/// How long a stack may take from start to its first answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// `/sleep`'s wait in these tests: long beside what a busy 2-core
/// machine adds to a request, so that one round of sleeps and two are
/// told apart.
const SLEEP: Duration = Duration::from_millis(400);
/// Concurrent `/sleep` requests sent to one single-worker server.
const CONCURRENT_SLEEPS: u32 = 4;
/// Sequential `/upstream` requests whose upstream connections are counted.
const UPSTREAM_CALLS: u64 = 6;

fn test_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-conformance")
}

/// The environment, set up once for all tests in this binary.
fn python_env() -> &'static PythonEnv {
    static ENV: OnceLock<PythonEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let options = SetupOptions {
            data_dir: test_dir(),
            progress: Progress::Quiet,
            ..SetupOptions::from_env()
        };
        setup_python(&options).unwrap_or_else(|err| {
            panic!("the Python conformance tests need framewut's Python environment: {err}")
        })
    })
}

/// A seeded SQLite World file, made once.
fn world_sqlite() -> &'static str {
    static WORLD: OnceLock<String> = OnceLock::new();
    WORLD.get_or_init(|| {
        let path = test_dir().join("world.sqlite");
        db::init_sqlite(&path).expect("make the SQLite World table");
        path.display().to_string()
    })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// A stack running as its own process group; dropping it kills the whole
/// group and waits until every process in it is gone.
struct RunningStack {
    id: &'static str,
    child: Child,
    port: u16,
    log: PathBuf,
    /// The client configuration of a stack served over HTTPS.
    tls: Option<Arc<ClientConfig>>,
}

impl RunningStack {
    fn start(stack: &'static PythonStack, workers: u32, options: &PythonOptions) -> RunningStack {
        RunningStack::start_with(stack, workers, options, None)
    }

    /// As [`RunningStack::start`]; with `tls`, the options serve HTTPS and
    /// the stack is reached through this client configuration.
    fn start_with(
        stack: &'static PythonStack,
        workers: u32,
        options: &PythonOptions,
        tls: Option<Arc<ClientConfig>>,
    ) -> RunningStack {
        let env = python_env();
        let port = free_port();
        let launch = stack
            .launch(env, port, workers, options)
            .unwrap_or_else(|err| panic!("{err}"));
        let log = test_dir().join(format!("{}-{port}.log", stack.id.replace('/', "_")));
        let output = File::create(&log).expect("create the stack's log file");
        let child = launch
            .command()
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| panic!("start {}: {err}", launch.display()));
        let mut running = RunningStack {
            id: stack.id,
            child,
            port,
            log,
            tls,
        };
        running.wait_until_ready(&launch.display());
        running
    }

    fn wait_until_ready(&mut self, command: &str) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let wait = Duration::from_secs(2);
            if contract::fetch_with(self.port, "/hello", &[], wait, self.tls.as_ref()).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before answering: {command}\n{}",
                    self.id,
                    self.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not answer within {START_TIMEOUT:?}: {command}\n{}",
                    self.id,
                    self.log_text()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Checks one scenario against the contract, with the stack's log on failure.
    fn check(&self, scenario: Scenario) -> contract::Response {
        let response = contract::fetch_with(
            self.port,
            scenario.path(),
            &[],
            REQUEST_TIMEOUT,
            self.tls.as_ref(),
        )
        .unwrap_or_else(|err| panic!("{}: {err}\n{}", self.id, self.log_text()));
        if let Err(why) = contract::verify_response(scenario, &response) {
            panic!("{} does not conform: {why}\n{}", self.id, self.log_text());
        }
        response
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: kill with a negative pid signals the process group that
        // spawn made for this stack alone.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        // SAFETY: signal 0 only asks whether any process of the group is left.
        while unsafe { libc::kill(group, 0) } == 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn options(upstream: &UpstreamServer, client: UpstreamClient) -> PythonOptions {
    PythonOptions {
        sleep: SLEEP,
        upstream_url: Some(format!("http://{}/", upstream.local_addr())),
        client: Some(client),
        cpu_n: 1000,
        db: Some(world_sqlite().to_string()),
        threads: CONCURRENT_SLEEPS,
        ..PythonOptions::default()
    }
}

fn upstream() -> UpstreamServer {
    UpstreamServer::start(UpstreamConfig {
        delay: Duration::from_millis(5),
        threads: 1,
        ..UpstreamConfig::default()
    })
    .expect("start the upstream")
}

/// How many `/sleep` requests the stack serves at once, with one worker.
fn expected_sleep_concurrency(stack: &PythonStack) -> u32 {
    match (stack.sleep[0], stack.model) {
        (SleepMode::Cooperative, _) | (SleepMode::Blocking, Model::ThreadPerConnection) => {
            CONCURRENT_SLEEPS
        }
        (SleepMode::Blocking, _) => 1,
    }
}

/// Sends concurrent `/sleep` requests and returns how long they all took.
fn concurrent_sleeps(running: &RunningStack) -> Duration {
    let started = Instant::now();
    let requests: Vec<_> = (0..CONCURRENT_SLEEPS)
        .map(|_| {
            let port = running.port;
            thread::spawn(move || contract::fetch(port, "/sleep", REQUEST_TIMEOUT))
        })
        .collect();
    for request in requests {
        let response = request.join().unwrap().unwrap();
        assert_eq!(response.body, HELLO_BODY_SPACED, "{}", running.id);
    }
    started.elapsed()
}

/// Checks concurrent `/sleep` requests were served as many at a time as the
/// stack's model and sleep mode say. A sleep never ends early: served one
/// at a time they take at least all the sleeps; served at once, less than
/// the two rounds the least concurrent other model (two at a time) needs.
fn check_sleep_concurrency(running: &RunningStack, stack: &PythonStack) {
    let elapsed = concurrent_sleeps(running);
    let serial = SLEEP * CONCURRENT_SLEEPS;
    if expected_sleep_concurrency(stack) == 1 {
        assert!(
            elapsed >= serial,
            "{} should serve one /sleep at a time (sleep {}), but {CONCURRENT_SLEEPS} took {elapsed:?}",
            stack.id,
            stack.sleep[0]
        );
    } else {
        assert!(
            elapsed >= SLEEP && elapsed < SLEEP * 2,
            "{} should serve {CONCURRENT_SLEEPS} /sleep at once, but they took {elapsed:?}",
            stack.id
        );
    }
}

/// Python's json.dumps writes a space after the colon.
const HELLO_BODY_SPACED: &[u8] = br#"{"message": "helowrld"}"#;

/// Calls `/upstream` a few times in a row and checks both the body passed
/// through and how many connections the client opened to the upstream.
fn check_upstream(running: &RunningStack, upstream: &UpstreamServer, client: UpstreamClient) {
    let before = upstream.stats();
    for _ in 0..UPSTREAM_CALLS {
        let response = running.check(Scenario::Upstream);
        assert_eq!(response.body, UPSTREAM_BODY, "{} with {client}", running.id);
    }
    let after = upstream.stats();
    assert_eq!(
        after.requests - before.requests,
        UPSTREAM_CALLS,
        "{}",
        running.id
    );
    let opened = after.connections - before.connections;
    if client.pooled() {
        assert_eq!(
            opened, 1,
            "{} with the {client} client should reuse one connection",
            running.id
        );
    } else {
        assert_eq!(
            opened, UPSTREAM_CALLS,
            "{} with the fresh client should connect every call",
            running.id
        );
    }
}

/// The whole check of one stack: `/upstream` with each client, and with its
/// default client all five paths and the sleep behaviour.
fn conforms(id: &str) {
    let stack = find_python_stack(id).unwrap();
    if let Meinheld::Missing(reason) = &python_env().meinheld {
        assert!(!stack.needs_meinheld(), "{id}: {reason}");
    }
    let upstream = upstream();
    for (i, &client) in stack.clients.iter().enumerate() {
        let running = RunningStack::start(stack, 1, &options(&upstream, client));
        check_upstream(&running, &upstream, client);
        if i == 0 {
            for scenario in Scenario::ALL {
                running.check(scenario);
            }
            let started = Instant::now();
            assert_eq!(running.check(Scenario::Sleep).body, HELLO_BODY_SPACED);
            // uvloop's timers count from the loop's clock as of its last
            // tick, which lags the real one by the loop's own work since: on
            // a busy machine a sleep may end a few milliseconds short.
            assert!(
                started.elapsed() >= SLEEP.mul_f64(0.9),
                "{id}: /sleep returned early, after {:?}",
                started.elapsed()
            );
            let cpu: serde_json::Value =
                serde_json::from_slice(&running.check(Scenario::Cpu).body).unwrap();
            assert_eq!(cpu["message"].as_array().unwrap().len(), 1000, "{id}");
            // The lab times the handler through the stack's own workers.
            for scenario in [Scenario::Cpu, Scenario::Db] {
                if let Err(why) = support::timed::check_timed(running.port, scenario, false) {
                    panic!("{id}: {why}\n{}", running.log_text());
                }
            }
            check_sleep_concurrency(&running, stack);
            http2_as_listed(&running, stack);
        }
    }
}

/// The SETTINGS_MAX_CONCURRENT_STREAMS granian advertises: its
/// `--http2-max-concurrent-streams` default, which framewut leaves as it is.
const GRANIAN_MAX_CONCURRENT_STREAMS: u32 = 200;

/// Checks that the stack serves HTTP/2 (h2c, or h2 over TLS when it serves
/// HTTPS) exactly when its table entry says so: one that does answers
/// `/hello` over it and advertises granian's stream limit; one that does not
/// fails the exchange, not the connection, and still answers HTTP/1.1.
fn http2_as_listed(running: &RunningStack, stack: &PythonStack) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, running.port));
    let id = stack.id;
    let log = || running.log_text();
    match (
        stack.serves_http2(),
        contract::check_http2(addr, running.tls.as_ref()),
    ) {
        (true, Ok(facts)) => assert_eq!(
            facts.max_concurrent_streams,
            Some(GRANIAN_MAX_CONCURRENT_STREAMS),
            "{id}"
        ),
        (true, Err(why)) => panic!("{id} is listed as serving HTTP/2, but: {why}\n{}", log()),
        (false, Ok(facts)) => panic!("{id} is listed without HTTP/2, but served it: {facts:?}"),
        (
            false,
            Err(ContractError::Http2 {
                step: "connect", ..
            }),
        ) => {
            panic!("{id}: the HTTP/2 check could not connect\n{}", log())
        }
        (false, Err(_)) => {
            running.check(Scenario::Hello);
        }
    }
}

/// Every stack listed as serving HTTP/2 also does over HTTPS, where ALPN
/// chooses h2, and still answers HTTP/1.1 to a client that offers only
/// http/1.1.
#[test]
fn http2_stacks_serve_h2_over_tls() {
    let ca = TestCa::ensure(&test_dir().join("tls")).expect("make a test CA");
    let upstream = upstream();
    let http2: Vec<&PythonStack> = python_stacks()
        .iter()
        .filter(|stack| stack.serves_http2())
        .collect();
    assert!(!http2.is_empty(), "no Python stack serves HTTP/2");
    for stack in http2 {
        let options = PythonOptions {
            tls: Some(ServerCert {
                cert: ca.cert.clone(),
                key: ca.key.clone(),
            }),
            ..options(&upstream, stack.clients[0])
        };
        let client = ca.client_config().expect("a client trusting the test CA");
        let running = RunningStack::start_with(stack, 1, &options, Some(client));
        running.check(Scenario::Hello);
        http2_as_listed(&running, stack);
    }
}

macro_rules! conformance_tests {
    ($($name:ident => $id:literal,)+) => {
        $(
            #[test]
            fn $name() {
                conforms($id);
            }
        )+

        #[test]
        fn every_python_stack_has_a_conformance_test() {
            let tested = [$($id),+];
            for stack in python_stacks() {
                assert!(tested.contains(&stack.id), "{} has no conformance test", stack.id);
            }
        }
    };
}

conformance_tests! {
    wsgi_gunicorn_sync => "python/wsgi/gunicorn-sync",
    wsgi_gunicorn_gthread => "python/wsgi/gunicorn-gthread",
    wsgi_gunicorn_meinheld => "python/wsgi/gunicorn-meinheld",
    werkzeug_gunicorn_sync => "python/werkzeug/gunicorn-sync",
    werkzeug_gunicorn_meinheld => "python/werkzeug/gunicorn-meinheld",
    flask_gunicorn_sync => "python/flask/gunicorn-sync",
    flask_gunicorn_gthread => "python/flask/gunicorn-gthread",
    flask_gunicorn_gevent => "python/flask/gunicorn-gevent",
    flask_gunicorn_meinheld => "python/flask/gunicorn-meinheld",
    flask_granian => "python/flask/granian",
    gevent_gunicorn_gevent => "python/gevent/gunicorn-gevent",
    gevent_gunicorn_meinheld => "python/gevent/gunicorn-meinheld",
    asgi_uvicorn => "python/asgi/uvicorn",
    asgi_granian => "python/asgi/granian",
}

/// The ASGI app's blocking sleep holds the event loop, as a sync call in
/// an async handler does.
#[test]
fn asgi_blocking_sleep_holds_the_loop() {
    let upstream = upstream();
    let stack = find_python_stack("python/asgi/uvicorn").unwrap();
    let options = PythonOptions {
        sleep_mode: Some(SleepMode::Blocking),
        ..options(&upstream, UpstreamClient::Session)
    };
    let running = RunningStack::start(stack, 1, &options);
    let elapsed = concurrent_sleeps(&running);
    assert!(elapsed >= SLEEP * CONCURRENT_SLEEPS, "{elapsed:?}");
}

/// Sends one keep-alive request and says whether the server closed the
/// connection after its response (read to end of stream within a second).
fn closes_after_one_response(port: u16) -> bool {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => true,
        Err(err) if err.kind() == ErrorKind::WouldBlock || err.kind() == ErrorKind::TimedOut => {
            assert!(!received.is_empty(), "no response on port {port}");
            false
        }
        Err(err) => panic!("read from port {port}: {err}"),
    }
}

/// gunicorn's sync worker closes every connection after one response, as
/// in the seed's runs; the gthread worker keeps it open for the next request.
#[test]
fn gunicorn_sync_closes_each_connection_and_gthread_keeps_it() {
    let upstream = upstream();
    let options = options(&upstream, UpstreamClient::Session);
    let sync = RunningStack::start(
        find_python_stack("python/wsgi/gunicorn-sync").unwrap(),
        1,
        &options,
    );
    assert!(closes_after_one_response(sync.port));
    let gthread = RunningStack::start(
        find_python_stack("python/wsgi/gunicorn-gthread").unwrap(),
        1,
        &options,
    );
    assert!(!closes_after_one_response(gthread.port));
}

/// `/db` through psycopg against a private PostgreSQL server.
#[cfg(feature = "postgres")]
#[test]
fn db_reads_postgres_through_psycopg() {
    let postgres = db::TempPostgres::start()
        .unwrap_or_else(|err| panic!("this test needs PostgreSQL's server programs: {err}"));
    let upstream = upstream();
    for id in [
        "python/flask/gunicorn-sync",
        "python/gevent/gunicorn-gevent",
        "python/asgi/uvicorn",
    ] {
        let stack = find_python_stack(id).unwrap();
        let options = PythonOptions {
            db: Some(postgres.url().to_string()),
            ..options(&upstream, stack.clients[0])
        };
        let running = RunningStack::start(stack, 1, &options);
        for _ in 0..3 {
            running.check(Scenario::Db);
        }
    }
}

/// `framewut setup python` on an environment already made says so, and
/// installs nothing.
#[test]
fn setup_command_finds_the_environment_up_to_date() {
    python_env();
    let output = Command::new(env!("CARGO_BIN_EXE_framewut"))
        .args(["setup", "python"])
        .env("FRAMEWUT_DATA_DIR", test_dir())
        .output()
        .expect("run framewut setup python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("already up to date"), "{stdout}");
}
