//! `framewut tls init`: framewut's own test CA and its loopback server certificate.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use framewut_stacks::tls::{TestCa, SERVER_NAMES};

use crate::outln;

#[derive(Debug, Args)]
pub struct TlsArgs {
    #[command(subcommand)]
    pub command: TlsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Make a test CA and a server certificate it signs for localhost, 127.0.0.1 and ::1;
    /// does nothing if they are there. Nothing goes into the system trust store: a client
    /// trusts the CA only when given its file (e.g. `framewut load --cacert`).
    Init {
        /// The directory [default: tls/ in framewut's data directory: $FRAMEWUT_DATA_DIR,
        /// else $XDG_DATA_HOME/framewut, else ~/.local/share/framewut].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Make new files even if some are there (clients holding the old CA stop trusting the servers).
        #[arg(long)]
        force: bool,
    },
}

/// The rustls configuration of `--tls [--cert FILE --key FILE]` for
/// `framewut serve` and `framewut upstream`: the given files, else
/// framewut's test certificate (its CA made first if missing).
pub(crate) fn server_config(
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(framewut_stacks::tls::server_config(cert, key)?),
        _ => {
            let dir = TestCa::default_dir();
            let ca = TestCa::ensure(&dir)
                .with_context(|| format!("cannot make the test CA in {}", dir.display()))?;
            Ok(ca.server_config()?)
        }
    }
}

pub fn run(args: TlsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        TlsCommand::Init { dir, force } => {
            let dir = dir.unwrap_or_else(TestCa::default_dir);
            let existed = TestCa::in_dir(&dir).exist();
            let ca = if force {
                TestCa::create(&dir)
            } else {
                TestCa::ensure(&dir)
            }
            .with_context(|| format!("cannot make the test CA in {}", dir.display()))?;
            let what = match (existed, force) {
                (true, false) => "already there",
                (true, true) => "replaced",
                (false, _) => "created",
            };
            outln!("test CA {what} in {}", dir.display())?;
            outln!(
                "  CA certificate:     {}  (trust this: --cacert)",
                ca.ca.display()
            )?;
            outln!(
                "  server certificate: {}  (valid for {})",
                ca.cert.display(),
                SERVER_NAMES.join(", ")
            )?;
            outln!("  server key:         {}", ca.key.display())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
