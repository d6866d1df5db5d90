//! `framewut db`: the World table, as a SQLite file or a throwaway PostgreSQL.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use framewut_stacks::db::{self, InitOutcome, TempPostgres};

use super::serve::{block_stop_signals, ready_line, wait_for_stop_signal};

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Make a SQLite file with TechEmpower's World table (10,000 rows); does nothing if it is there.
    Init {
        /// The file [default: world.sqlite in framewut's data directory: $FRAMEWUT_DATA_DIR,
        /// else $XDG_DATA_HOME/framewut, else ~/.local/share/framewut].
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Start a throwaway PostgreSQL with a seeded World table, print its URL, and
    /// remove it on SIGTERM or SIGINT.
    Postgres,
}

pub fn run(args: DbArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DbCommand::Init { path } => {
            let path = path.unwrap_or_else(db::default_sqlite_path);
            let outcome = db::init_sqlite(&path)
                .with_context(|| format!("cannot make the World table in {}", path.display()))?;
            let what = match outcome {
                InitOutcome::Created => "created",
                InitOutcome::AlreadyThere => "already there",
            };
            crate::outln!("framewut: World table in {} ({what})", path.display())?;
        }
        DbCommand::Postgres => {
            block_stop_signals();
            let server = TempPostgres::start().context("cannot start a throwaway PostgreSQL")?;
            ready_line(&format!("postgres listening on {}", server.url()))?;
            wait_for_stop_signal();
            drop(server);
            eprintln!("framewut: postgres stopped and removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
