//! Built-in matrices. Each is TOML read by the same parser as a user's file,
//! so `framewut list presets` and the docs describe one format.

use framewut_stacks::variant::ConnVariant;
use framewut_stacks::Scenario::{Cpu, Db, Hello, Sleep, Upstream};
use framewut_stacks::{stacks, Scenario};

/// A built-in matrix.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    /// One line on what it runs.
    pub summary: &'static str,
    toml: fn() -> String,
}

impl Preset {
    /// The preset as matrix TOML.
    pub fn toml(&self) -> String {
        (self.toml)()
    }
}

/// The preset a bare `framewut run` runs.
pub const DEFAULT: &str = "quick";

/// Every preset.
pub fn presets() -> &'static [Preset] {
    &PRESETS
}

/// The preset of this name.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

static PRESETS: [Preset; 6] = [
    Preset {
        name: "quick",
        summary: "every scenario on the main concurrency models of the built-in Rust stacks, in about 3.5 minutes",
        toml: quick,
    },
    Preset {
        name: "rust",
        summary: "the whole built-in matrix: every Rust stack, scenario and variant, 3 trials each",
        toml: rust,
    },
    Preset {
        name: "seed",
        summary: "every row of the seed's Python matrix, gunicorn with 10 workers at 200 connections, beside the seed's figures, plus a db row",
        toml: seed,
    },
    Preset {
        name: "seed-rust",
        summary: "the seed's questions put to the built-in Rust stacks, row for row, beside the seed's figures",
        toml: seed_rust,
    },
    Preset {
        name: "tls",
        summary: "what TLS costs: HTTPS hello on each Rust concurrency model against plain HTTP, kept alive and a connection per request; the seed's requests rows against an HTTPS upstream",
        toml: tls,
    },
    Preset {
        name: "h2",
        summary: "what HTTP/2 changes for each concurrency model: 64 requests in flight as 64 HTTP/1.1 connections against 4 HTTP/2 connections of 16 streams, in cleartext and over TLS, in about 4 minutes",
        toml: h2,
    },
];

/// What every preset puts at its top: trials round-robin across cells, so
/// that a machine whose speed drifts during the run drifts under every cell
/// alike, and their rates can be compared between runs (`framewut compare`).
const INTERLEAVE: &str = "interleave = true";

/// The sync pool gets the seed's worker count (gunicorn ran 10 sync workers),
/// so its blocking waits overlap as the seed's did.
const SYNC_POOL_WORKERS: usize = 10;

fn quick() -> String {
    format!(
        r#"description = "every scenario on the main concurrency models of the built-in Rust stacks"
scenarios = ["hello", "sleep", "upstream", "cpu", "db"]
{INTERLEAVE}

# sync-pool: one request at a time per worker thread
[[stack]]
id = "rust/std/sync-pool"
workers = {SYNC_POOL_WORKERS}

# thread-per-connection
[[stack]]
id = "rust/std/thread-per-conn"

# event loop per worker
[[stack]]
id = "rust/axum/per-core"

# work-stealing runtime
[[stack]]
id = "rust/axum/tokio-multi"

# a blocking call inside an event loop: the seed's un-patched time.sleep
[[stack]]
id = "rust/hyper/tokio-current"
variant = "sleep=blocking"
scenarios = ["sleep"]

# Five short trials a cell, each on a server of its own (the variance of
# a CPU-bound rate lives between starts of a stack, not between the
# trials of one), give every rate an interval a comparison can test.
[[profile]]
connections = 32
duration = "1s"
warmup = "500ms"
timeout = "5s"
trials = 5
fresh_server = true
"#
    )
}

fn rust() -> String {
    let mut out = String::from(
        "description = \"the whole built-in matrix: every Rust stack, scenario and variant\"\n\
         scenarios = [\"hello\", \"sleep\", \"upstream\", \"cpu\", \"db\"]\n",
    );
    out.push_str(INTERLEAVE);
    out.push('\n');
    for stack in stacks() {
        let workers = if stack.id == "rust/std/sync-pool" {
            format!("workers = {SYNC_POOL_WORKERS}\n")
        } else {
            String::new()
        };
        out.push_str(&format!("\n[[stack]]\nid = \"{}\"\n{workers}", stack.id));
        let mut variants: Vec<(Scenario, String)> = Vec::new();
        variants.extend(
            stack
                .sleep
                .iter()
                .skip(1)
                .map(|v| (Scenario::Sleep, format!("sleep={v}"))),
        );
        for (i, client) in stack.client.iter().enumerate() {
            for conn in [ConnVariant::Pooled, ConnVariant::Fresh] {
                if i > 0 || conn != ConnVariant::Pooled {
                    variants.push((Scenario::Upstream, format!("upstream={client}-{conn}")));
                }
            }
        }
        variants.extend(
            stack
                .cpu
                .iter()
                .skip(1)
                .map(|v| (Scenario::Cpu, format!("cpu={v}"))),
        );
        // db=async needs PostgreSQL; the preset reads the run's SQLite file.
        variants.extend(
            stack
                .db
                .iter()
                .filter(|v| !matches!(v.as_str(), "blocking" | "async"))
                .map(|v| (Scenario::Db, format!("db={v}"))),
        );
        for (scenario, variant) in variants {
            out.push_str(&format!(
                "\n[[stack]]\nid = \"{}\"\n{workers}variant = \"{variant}\"\nscenarios = [\"{scenario}\"]\n",
                stack.id
            ));
        }
    }
    out.push_str(
        "\n[[profile]]\nconnections = 64\nduration = \"3s\"\nwarmup = \"1s\"\ntimeout = \"5s\"\ntrials = 3\nfresh_server = true\n",
    );
    out
}

/// The seed's gunicorn ran 10 workers in every row (../seed/MATRIX.md).
const SEED_WORKERS: usize = 10;

/// One row of a seed preset: a stack answering one scenario, and the seed's
/// row it puts to the test, with the req/s the seed recorded there.
struct Row {
    scenario: Scenario,
    stack: &'static str,
    /// The stack's `variant`; empty for its defaults.
    variant: &'static str,
    /// The seed's row in its words (scenario x app / worker class) and its
    /// req/s; none where the seed has no such row.
    seed: Option<(&'static str, f64)>,
}

const fn row(
    scenario: Scenario,
    stack: &'static str,
    variant: &'static str,
    seed: Option<(&'static str, f64)>,
) -> Row {
    Row {
        scenario,
        stack,
        variant,
        seed,
    }
}

/// The seed's matrix, row for row and in its order, with its figures. The
/// seed's "requests" is `upstream=fresh` (requests.get, a new connection per
/// call) and its "requests-futures" is `upstream=futures` (one pooled session).
#[rustfmt::skip]
const SEED_ROWS: &[Row] = &[
    row(Hello,    "python/wsgi/gunicorn-sync",         "",                 Some(("hello x plain WSGI / sync", 823.69))),
    row(Hello,    "python/wsgi/gunicorn-meinheld",     "",                 Some(("hello x plain WSGI / meinheld", 47_621.63))),
    row(Hello,    "python/werkzeug/gunicorn-meinheld", "",                 Some(("hello x Werkzeug / meinheld", 42_310.34))),
    row(Hello,    "python/flask/gunicorn-meinheld",    "",                 Some(("hello x Flask / meinheld (the seed's script ran Werkzeug here)", 40_892.97))),
    row(Hello,    "python/gevent/gunicorn-gevent",     "",                 Some(("hello x gevent WSGI / gevent", 12_180.94))),
    row(Hello,    "python/gevent/gunicorn-meinheld",   "",                 Some(("hello x gevent WSGI / meinheld", 54_377.05))),
    row(Sleep,    "python/wsgi/gunicorn-sync",         "",                 Some(("sleep x plain WSGI / sync", 97.54))),
    row(Sleep,    "python/wsgi/gunicorn-meinheld",     "",                 Some(("sleep x plain WSGI / meinheld", 98.14))),
    row(Sleep,    "python/gevent/gunicorn-gevent",     "",                 Some(("sleep x gevent WSGI / gevent", 1_939.15))),
    row(Sleep,    "python/gevent/gunicorn-meinheld",   "",                 Some(("sleep x gevent WSGI / meinheld", 98.08))),
    row(Upstream, "python/wsgi/gunicorn-sync",         "upstream=fresh",   Some(("requests x plain WSGI / sync", 110.45))),
    row(Upstream, "python/wsgi/gunicorn-meinheld",     "upstream=fresh",   Some(("requests x plain WSGI / meinheld", 110.29))),
    row(Upstream, "python/gevent/gunicorn-gevent",     "upstream=fresh",   Some(("requests x gevent WSGI / gevent", 131.75))),
    row(Upstream, "python/gevent/gunicorn-gevent",     "upstream=futures", Some(("requests-futures x gevent WSGI / gevent", 252.03))),
    row(Upstream, "python/wsgi/gunicorn-sync",         "upstream=futures", Some(("requests-futures x plain WSGI / sync", 252.56))),
    row(Upstream, "python/wsgi/gunicorn-meinheld",     "upstream=futures", Some(("requests-futures x plain WSGI / meinheld", 257.28))),
    row(Cpu,      "python/wsgi/gunicorn-sync",         "",                 Some(("cpu x plain WSGI / sync", 214.86))),
    row(Cpu,      "python/wsgi/gunicorn-meinheld",     "",                 Some(("cpu x plain WSGI / meinheld", 208.52))),
    row(Cpu,      "python/gevent/gunicorn-gevent",     "",                 Some(("cpu x gevent WSGI / gevent", 193.77))),
    // The database row the seed listed as TODO and never built.
    row(Db,       "python/wsgi/gunicorn-sync",         "",                 None),
    row(Db,       "python/gevent/gunicorn-gevent",     "",                 None),
];

/// The same questions put to the Rust stacks: the sync pool (closing every
/// connection, as gunicorn's sync worker does) for the sync worker, event
/// loops per worker for meinheld, may's coroutines for gevent; each carries
/// the figure of the seed's row it mirrors. One exception: gevent's worker
/// patches requests, so its calls yield, while may's only client blocks its
/// scheduler thread; the gevent requests rows are mirrored by the async
/// client on event loops, and may's blocking client shows what un-patched
/// requests under gevent would do. Rows without a figure ask what the seed
/// did not: cooperative sleep on an event loop, a blocking sleep or client
/// inside coroutines, CPU work offloaded from the loop.
#[rustfmt::skip]
const SEED_RUST_ROWS: &[Row] = &[
    row(Hello,    "rust/std/sync-pool",  "",                         Some(("hello x plain WSGI / sync", 823.69))),
    row(Hello,    "rust/fast/per-core",  "",                         Some(("hello x plain WSGI / meinheld", 47_621.63))),
    row(Hello,    "rust/axum/per-core",  "",                         Some(("hello x Werkzeug / meinheld", 42_310.34))),
    row(Hello,    "rust/actix/workers",  "",                         Some(("hello x Flask / meinheld (the seed's script ran Werkzeug here)", 40_892.97))),
    row(Hello,    "rust/may/coroutines", "",                         Some(("hello x gevent WSGI / gevent", 12_180.94))),
    row(Sleep,    "rust/std/sync-pool",  "",                         Some(("sleep x plain WSGI / sync", 97.54))),
    row(Sleep,    "rust/axum/per-core",  "sleep=blocking",           Some(("sleep x plain WSGI / meinheld", 98.14))),
    row(Sleep,    "rust/may/coroutines", "sleep=async",              Some(("sleep x gevent WSGI / gevent", 1_939.15))),
    row(Sleep,    "rust/actix/workers",  "sleep=blocking",           Some(("sleep x gevent WSGI / meinheld", 98.08))),
    row(Sleep,    "rust/axum/per-core",  "sleep=async",              None),
    row(Sleep,    "rust/may/coroutines", "sleep=blocking",           None),
    row(Upstream, "rust/std/sync-pool",  "upstream=blocking-fresh",  Some(("requests x plain WSGI / sync", 110.45))),
    row(Upstream, "rust/axum/per-core",  "upstream=blocking-fresh",  Some(("requests x plain WSGI / meinheld", 110.29))),
    row(Upstream, "rust/axum/per-core",  "upstream=async-fresh",     Some(("requests x gevent WSGI / gevent", 131.75))),
    row(Upstream, "rust/axum/per-core",  "upstream=async-pooled",    Some(("requests-futures x gevent WSGI / gevent", 252.03))),
    row(Upstream, "rust/std/sync-pool",  "upstream=blocking-pooled", Some(("requests-futures x plain WSGI / sync", 252.56))),
    row(Upstream, "rust/axum/per-core",  "upstream=blocking-pooled", Some(("requests-futures x plain WSGI / meinheld", 257.28))),
    row(Upstream, "rust/may/coroutines", "upstream=blocking-fresh",  None),
    row(Cpu,      "rust/std/sync-pool",  "",                         Some(("cpu x plain WSGI / sync", 214.86))),
    row(Cpu,      "rust/axum/per-core",  "cpu=inline",               Some(("cpu x plain WSGI / meinheld", 208.52))),
    row(Cpu,      "rust/may/coroutines", "",                         Some(("cpu x gevent WSGI / gevent", 193.77))),
    row(Cpu,      "rust/axum/per-core",  "cpu=offload",              None),
    row(Db,       "rust/std/sync-pool",  "",                         None),
    row(Db,       "rust/may/coroutines", "",                         None),
    row(Db,       "rust/axum/per-core",  "db=offload",               None),
];

/// A seed preset's matrix: each row one `[[stack]]` of 10 workers naming
/// its one scenario and, where the seed has one, its figure; the seed's load
/// (200 connections, generator threads left to fit the machine) cut to 5 s
/// after a 2 s warm-up, so the whole preset takes minutes.
fn seed_toml(description: &str, rows: &[Row]) -> String {
    let mut out = format!(
        r#"description = "{description}"
{INTERLEAVE}

[scenario.sleep]
duration = "100ms"

# The upstream stand-in in place of the seed's remote page.
[scenario.upstream]
delay = "50ms"
connect_cost = "30ms"

[scenario.db]
database = "sqlite"
"#
    );
    for row in rows {
        out.push_str(&format!(
            "\n[[stack]]\nid = \"{}\"\nworkers = {SEED_WORKERS}\n",
            row.stack
        ));
        if !row.variant.is_empty() {
            out.push_str(&format!("variant = \"{}\"\n", row.variant));
        }
        // The Rust sync pool closes every connection, as gunicorn's sync worker does.
        if row.stack == "rust/std/sync-pool" {
            out.push_str("close = true\n");
        }
        out.push_str(&format!("scenarios = [\"{}\"]\n", row.scenario));
        if let Some((words, rps)) = row.seed {
            out.push_str(&format!(
                "reference = {{ requests_per_s = {rps}, source = \"seed: {words}\" }}\n"
            ));
        }
    }
    out.push_str(
        r#"
# The seed ran each row once for 20 s. Four trials a row, each on a
# server of its own (a Python server's rate varies between its starts far
# more than between the trials of one, so four starts say more than five
# trials of one), each sized to ten rounds of its 200 connections at the
# model's rate (2 s at least), cut at 2.5 s: the rows at about 100 req/s (a
# 2 s round) get a rough rate, and say so. `--max-duration 60s` measures
# every row in full.
[[profile]]
connections = 200
duration = "2s"
max_duration = "2500ms"
warmup = "1s"
timeout = "10s"
trials = 4
fresh_server = true
"#,
    );
    out
}

fn seed() -> String {
    seed_toml(
        "the seed's matrix, every row: gunicorn with 10 workers at 200 connections, the upstream stand-in for its remote page, plus the db row it never built",
        SEED_ROWS,
    )
}

fn seed_rust() -> String {
    seed_toml(
        "the seed's questions put to the built-in Rust stacks: sync pool, event loop and coroutines, blocking and cooperative waits, fresh and pooled clients",
        SEED_RUST_ROWS,
    )
}

/// The seed's requests rows, asked again against an HTTPS upstream: the
/// sync worker and gevent's, each with `requests.get` (a new connection,
/// so a new TLS handshake, per call), a `requests.Session` and
/// requests-futures, with the seed's figure where it has the row.
#[rustfmt::skip]
const TLS_PYTHON_ROWS: &[Row] = &[
    row(Upstream, "python/wsgi/gunicorn-sync",     "upstream=fresh",   Some(("requests x plain WSGI / sync", 110.45))),
    row(Upstream, "python/wsgi/gunicorn-sync",     "upstream=session", None),
    row(Upstream, "python/wsgi/gunicorn-sync",     "upstream=futures", Some(("requests-futures x plain WSGI / sync", 252.56))),
    row(Upstream, "python/gevent/gunicorn-gevent", "upstream=fresh",   Some(("requests x gevent WSGI / gevent", 131.75))),
    row(Upstream, "python/gevent/gunicorn-gevent", "upstream=session", None),
    row(Upstream, "python/gevent/gunicorn-gevent", "upstream=futures", Some(("requests-futures x gevent WSGI / gevent", 252.03))),
];

/// The `tls` preset: hello over HTTPS and over plain HTTP on the first
/// built-in stack of each concurrency model that can serve HTTPS, and the
/// seed's requests rows against an HTTPS upstream. Two profiles: kept-alive
/// connections (what TLS adds to each request: its encryption) and a
/// connection per request (`Connection: close`: a full handshake each).
fn tls() -> String {
    let mut out = format!(
        r#"description = "what TLS costs: HTTPS hello on each Rust concurrency model against plain HTTP, kept alive and a connection per request; the seed's requests rows against an HTTPS upstream"
{INTERLEAVE}

# The upstream stand-in serves HTTPS: a new connection costs a real
# handshake (both sides' CPU and its round trips) instead of a fake wait.
[scenario.upstream]
delay = "50ms"
tls = true
"#,
    );
    let mut models = Vec::new();
    for stack in stacks().iter().filter(|s| s.tls) {
        if models.contains(&stack.model) {
            continue;
        }
        models.push(stack.model);
        let workers = if stack.model == framewut_stacks::Model::SyncPool {
            format!("workers = {SYNC_POOL_WORKERS}\n")
        } else {
            String::new()
        };
        for tls in [false, true] {
            out.push_str(&format!(
                "\n# {}\n[[stack]]\nid = \"{}\"\n{workers}tls = {tls}\nscenarios = [\"hello\"]\n",
                stack.model, stack.id
            ));
        }
    }
    for row in TLS_PYTHON_ROWS {
        out.push_str(&format!(
            "\n[[stack]]\nid = \"{}\"\nworkers = {SEED_WORKERS}\nvariant = \"{}\"\nscenarios = [\"{}\"]\n",
            row.stack, row.variant, row.scenario
        ));
        if let Some((words, rps)) = row.seed {
            out.push_str(&format!(
                "reference = {{ requests_per_s = {rps}, source = \"seed: {words}\" }}\n"
            ));
        }
    }
    out.push_str(
        r#"
# The seed's 200 connections, so the requests rows ask its question.
# Kept-alive connections: TLS's cost per request is its encryption. Four
# trials a cell, each on a server of its own, so each rate has an interval
# that means something between starts (two trials' is 12.7 standard errors
# wide).
[[profile]]
name = "keepalive"
connections = 200
duration = "1500ms"
warmup = "1s"
timeout = "10s"
trials = 4
fresh_server = true

# A connection per request: every request pays a full handshake.
[[profile]]
name = "close"
connections = 200
duration = "1500ms"
warmup = "1s"
timeout = "10s"
trials = 4
fresh_server = true
close = true
"#,
    );
    out
}

/// Requests in flight in every cell of the h2 preset, and how its HTTP/2
/// cells carry them: few connections, many streams each.
const H2_IN_FLIGHT: usize = 64;
const H2_CONNECTIONS: usize = 4;

fn h2() -> String {
    let streams = H2_IN_FLIGHT / H2_CONNECTIONS;
    format!(
        r#"description = "what HTTP/2 changes for each concurrency model: {H2_IN_FLIGHT} requests in flight as {H2_IN_FLIGHT} HTTP/1.1 connections against {H2_CONNECTIONS} HTTP/2 connections of {streams} streams"
scenarios = ["hello", "sleep"]
{INTERLEAVE}

# A short wait, so a trial spans many rounds of every stream.
[scenario.sleep]
duration = "20ms"

# work-stealing runtime: hyper runs each stream as a task of its own, so
# one connection's streams spread over every worker
[[stack]]
id = "rust/axum/tokio-multi"

# an event loop per core: a connection stays on the core that accepted it,
# and all its streams with it
[[stack]]
id = "rust/axum/per-core"

# actix's workers, each a loop of its own behind one accept thread
[[stack]]
id = "rust/actix/workers"

# granian: Rust I/O under an asyncio loop per worker process
[[stack]]
id = "python/asgi/granian"

# over TLS: h2 chosen by ALPN against HTTP/1.1 over TLS, every connection
# kept alive after its handshake
[[stack]]
id = "rust/axum/tokio-multi"
tls = true
scenarios = ["hello"]

[[profile]]
name = "http1"
connections = {H2_IN_FLIGHT}
duration = "1s"
warmup = "500ms"
timeout = "5s"
trials = 3
fresh_server = true

[[profile]]
name = "h2"
protocol = "h2"
connections = {H2_CONNECTIONS}
streams = {streams}
duration = "1s"
warmup = "500ms"
timeout = "5s"
trials = 3
fresh_server = true
"#
    )
}

#[cfg(test)]
#[path = "preset_tests.rs"]
mod tests;
