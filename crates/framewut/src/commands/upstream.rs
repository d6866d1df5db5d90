//! `framewut upstream`: the stand-in remote endpoint, with a per-request
//! delay and a per-connection set-up cost (faked, or a real TLS handshake
//! with --tls), counting what clients did.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use framewut_load::parse_duration;
use framewut_stacks::upstream::{UpstreamConfig, UpstreamServer};

use super::serve::{block_stop_signals, ready_line, wait_for_stop_signal};
use super::tls::ServeTls;

#[derive(Debug, Args)]
#[command(
    after_help = "Every GET answers {\"message\":\"upstream\"} after --delay; the first response on \
    each connection waits --connect-cost more. GET /__stats returns the counters as JSON \
    (not counted itself): connections, requests, open, peak_concurrent, and with --tls \
    handshakes (full) and resumptions (from a session ticket); they are printed as one line \
    on SIGTERM or SIGINT.\n\n\
    With --tls it serves HTTPS (HTTP/1.1 by ALPN) with framewut's test certificate, made if \
    missing (see `framewut tls init`), or --cert and --key: each new connection then pays a \
    real handshake instead of --connect-cost. A client trusts it with the CA's ca.pem \
    (`framewut serve --upstream-ca`, `framewut load --cacert`).\n\n\
    Examples:\n  framewut upstream --port 9000 --delay 50ms --connect-cost 30ms\n  \
    framewut upstream --port 9443 --delay 50ms --tls"
)]
pub struct UpstreamArgs {
    /// The address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// The port; 0 picks a free one (the ready line says which).
    #[arg(short, long, default_value_t = 0)]
    pub port: u16,
    /// Wait before every response, e.g. 50ms.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// Extra wait before the first response on each new connection, e.g. 30ms.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub connect_cost: Duration,
    /// Runtime threads, 1 to 1024 [default: the number of CPUs].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
    #[command(flatten)]
    pub https: ServeTls,
}

pub fn run(args: UpstreamArgs) -> anyhow::Result<ExitCode> {
    if args.https.tls && !args.connect_cost.is_zero() {
        anyhow::bail!(
            "--connect-cost is for plain HTTP only: with --tls every new connection pays a real \
             TLS handshake, which is the connect cost; drop one of the two"
        );
    }
    let tls = args.https.server_config()?;
    let mut config = UpstreamConfig {
        addr: SocketAddr::new(args.host, args.port),
        delay: args.delay,
        connect_cost: args.connect_cost,
        tls,
        ..UpstreamConfig::default()
    };
    if let Some(threads) = args.threads {
        config.threads = threads as usize;
    }
    block_stop_signals();
    let server = UpstreamServer::start(config).context("the upstream did not start")?;
    let scheme = args.https.scheme();
    ready_line(&format!(
        "upstream listening on {scheme}://{}",
        server.local_addr()
    ))?;
    wait_for_stop_signal();
    crate::outln!("framewut: upstream stats: {}", server.stats())?;
    Ok(ExitCode::SUCCESS)
}
