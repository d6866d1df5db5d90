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

/// `--tls [--cert FILE --key FILE]`, as `framewut serve` and `framewut
/// upstream` both take it.
#[derive(Debug, Args)]
pub struct ServeTls {
    /// Serve HTTPS (HTTP/1.1 by ALPN, and h2 first for the stacks `framewut list stacks`
    /// marks h2): every new connection pays a real TLS handshake.
    #[arg(long)]
    pub tls: bool,
    /// The server certificate chain (PEM) for --tls [default: framewut's test certificate].
    #[arg(long, requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PEM) for --tls [default: the test certificate's key].
    #[arg(long, requires_all = ["tls", "cert"])]
    pub key: Option<PathBuf>,
}

impl ServeTls {
    /// The URL scheme served.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The rustls configuration asked for: none without --tls; the given
    /// files, else framewut's test certificate (its CA made first if missing).
    pub fn server_config(&self) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        if !self.tls {
            return Ok(None);
        }
        Ok(Some(match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => framewut_stacks::tls::server_config(cert, key)?,
            _ => {
                let dir = TestCa::default_dir();
                let ca = TestCa::ensure(&dir)
                    .with_context(|| format!("cannot make the test CA in {}", dir.display()))?;
                ca.server_config()?
            }
        }))
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
