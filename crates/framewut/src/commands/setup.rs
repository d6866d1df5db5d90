//! `framewut setup python [--force]`: make framewut's Python environment.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};

use crate::python::{setup_python, Meinheld, SetupOptions};

#[derive(Debug, Args)]
pub struct SetupArgs {
    #[command(subcommand)]
    pub what: SetupWhat,
}

#[derive(Debug, Subcommand)]
pub enum SetupWhat {
    /// Make the virtual environment the Python stacks run from, and install
    /// their pinned requirements into it.
    ///
    /// It lives in framewut's data directory: $FRAMEWUT_DATA_DIR, else
    /// $XDG_DATA_HOME/framewut, else ~/.local/share/framewut. It is made with
    /// $FRAMEWUT_PYTHON, else python3. A second run with nothing changed
    /// returns at once; `framewut run` does this by itself when a matrix
    /// needs Python.
    Python {
        /// Remake the environment from nothing, even when it is up to date.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: SetupArgs) -> anyhow::Result<ExitCode> {
    let SetupWhat::Python { force } = args.what;
    let options = SetupOptions {
        force,
        ..SetupOptions::from_env()
    };
    let started = Instant::now();
    let env = setup_python(&options)?;
    let state = if env.installed_now {
        format!("installed in {:.1} s", started.elapsed().as_secs_f64())
    } else {
        "already up to date".to_string()
    };
    crate::outln!(
        "Python {} environment {state}: {}",
        env.python_version,
        env.venv.display()
    )?;
    crate::outln!("apps: {}", env.apps.display())?;
    match &env.meinheld {
        Meinheld::Installed => crate::outln!("meinheld: installed")?,
        Meinheld::Missing(reason) => crate::outln!("meinheld: {reason}")?,
    }
    Ok(ExitCode::SUCCESS)
}
