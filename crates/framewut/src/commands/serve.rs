//! `framewut serve STACK`: runs one built-in Rust stack until SIGTERM or SIGINT.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use framewut_stacks::db::DbTarget;
use framewut_stacks::variant::VariantRequest;
use framewut_stacks::{catalogue, ServeConfig};

use super::tls::ServeTls;

#[derive(Debug, Args)]
#[command(
    after_help = "Variants (--variant KEY=VALUE[,KEY=VALUE...], repeatable):\n  \
    sleep=blocking|async|offload     std::thread::sleep on the handler thread, the runtime's timer,\n                                   \
    or std::thread::sleep on the blocking pool\n  \
    upstream=CLIENT-CONN             CLIENT: blocking (ureq on the handler thread), async (hyper's\n                                   \
    client) or offload (ureq on the blocking pool); CONN: pooled or fresh\n  \
    cpu=inline|offload               serialise /cpu on the handler thread or on the blocking pool\n  \
    db=blocking|async|offload        blocking driver (rusqlite or postgres) on the handler thread,\n                                   \
    tokio-postgres (PostgreSQL only), or blocking driver on the blocking pool\n\
In rust/may/coroutines, sleep=async is may's cooperative sleep (gevent's patched time.sleep).\n\
A stack refuses a variant it cannot do; `framewut list stacks` shows what each supports, defaults first.\n\
/upstream passes the upstream's status and body through, as application/json.\n\n\
HTTPS: --tls serves HTTPS (HTTP/1.1 by ALPN) with framewut's test certificate (made if missing; \
see `framewut tls init`) or --cert and --key. An https:// --upstream is trusted through \
--upstream-ca, else the test CA; neither client resumes TLS sessions, so upstream=*-fresh pays \
a full handshake per call and *-pooled one per pooled connection.\n\n\
HTTP/2: the stacks `framewut list stacks` marks h2 (hyper, axum, actix) serve it beside HTTP/1.1 \
on the same port: h2c to a client that opens with HTTP/2's preface, and h2 over --tls when the \
client chooses it by ALPN (offered before http/1.1).\n\n\
Examples:\n  \
    framewut serve rust/std/sync-pool --workers 10 --close\n  \
    framewut serve rust/hyper/tokio-current --variant sleep=blocking --sleep-ms 100\n  \
    framewut serve rust/axum/tokio-multi --workers 2 --upstream http://127.0.0.1:9000/ --variant upstream=blocking-fresh\n  \
    framewut serve rust/actix/workers --db postgres://framewut@127.0.0.1:5432/postgres --variant db=async\n  \
    framewut serve rust/hyper/tokio-multi --tls --upstream https://127.0.0.1:9443/ --variant upstream=async-fresh"
)]
pub struct ServeArgs {
    /// The stack id, e.g. rust/axum/tokio-multi (see `framewut list stacks`).
    pub stack: String,
    /// The address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// The port; 0 picks a free one (the ready line says which).
    #[arg(short, long, default_value_t = 0)]
    pub port: u16,
    /// Worker threads or event loops [default: the number of CPUs, or 1 for
    /// single-loop and thread-per-connection stacks].
    #[arg(short, long)]
    pub workers: Option<usize>,
    /// Variants as KEY=VALUE pairs, comma separated (see below).
    #[arg(long = "variant", value_name = "KEY=VALUE,...")]
    pub variants: Vec<String>,
    /// How long /sleep waits, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub sleep_ms: u64,
    /// The URL /upstream GETs (http:// or https://).
    #[arg(long)]
    pub upstream: Option<String>,
    /// The n of /cpu's {"message":[0,...,n-1]}.
    #[arg(long, default_value_t = framewut_stacks::DEFAULT_CPU_N)]
    pub cpu_n: u32,
    /// Where /db reads: a SQLite file (PATH or sqlite:PATH) or a postgres:// URL
    /// [default: world.sqlite in framewut's data directory, made if missing].
    #[arg(long)]
    pub db: Option<String>,
    /// Close the connection after every response, as gunicorn's sync worker does (rust/std stacks).
    #[arg(long)]
    pub close: bool,
    /// HTTPS, for stacks that can (`framewut list stacks`).
    #[command(flatten)]
    pub https: ServeTls,
    /// The CA certificate (PEM) an https:// --upstream is trusted through [default: framewut's test CA].
    #[arg(long, requires = "upstream")]
    pub upstream_ca: Option<PathBuf>,
}

/// Resolves the arguments into a plan the stack can run, or says why not.
fn config(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
    let stack = catalogue::find(&args.stack)?;
    let mut request = VariantRequest::default();
    for text in &args.variants {
        request.add(text)?;
    }
    let mut config = ServeConfig::new(stack);
    if let Some(db) = &args.db {
        config.db = DbTarget::parse(db);
    }
    config.variants = stack.resolve(&request, &config.db)?;
    config.workers = stack.resolve_workers(args.workers)?;
    config.addr = SocketAddr::new(args.host, args.port);
    config.sleep = Duration::from_millis(args.sleep_ms);
    config.cpu_n = args.cpu_n;
    config.upstream.clone_from(&args.upstream);
    config.close = args.close;
    config.upstream_ca.clone_from(&args.upstream_ca);
    if args.https.tls && !stack.tls {
        anyhow::bail!(framewut_stacks::ServeError::NoTls { stack: stack.id });
    }
    config.tls = args.https.server_config()?;
    Ok(config)
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = config(&args)?;
    block_stop_signals();
    let (id, workers, variants, db) = (
        config.stack.id,
        config.workers,
        config.variants,
        config.db.to_string(),
    );
    let running = framewut_stacks::start(config).with_context(|| format!("{id} did not start"))?;
    eprintln!("framewut: {id}: workers {workers}, {variants}, db {db}");
    let scheme = args.https.scheme();
    ready_line(&format!(
        "{id} listening on {scheme}://{}",
        running.local_addr()
    ))?;
    wait_for_stop_signal();
    Ok(ExitCode::SUCCESS)
}

/// Prints the one ready line on stdout and flushes it.
pub(crate) fn ready_line(what: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "framewut: {what}")
        .and_then(|()| stdout.flush())
        .context("cannot write the ready line")
}

fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset and sigaddset initialise and fill the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks SIGTERM and SIGINT in this thread and every thread started after,
/// so that [`wait_for_stop_signal`] receives them. Call it before starting
/// any server thread.
pub(crate) fn block_stop_signals() {
    let set = stop_signals();
    // SAFETY: set is initialised; the old mask is not wanted.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Waits until SIGTERM or SIGINT arrives.
pub(crate) fn wait_for_stop_signal() {
    let set = stop_signals();
    let mut signal = 0;
    // SAFETY: set is initialised and blocked in every thread; sigwait writes the signal number.
    while unsafe { libc::sigwait(&set, &mut signal) } != 0 {}
}
