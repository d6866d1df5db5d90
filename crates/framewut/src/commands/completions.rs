//! `framewut completions SHELL`: a completion script for bash, zsh, fish
//! (or elvish, PowerShell), generated from the clap definitions of every
//! subcommand, so it always offers the flags this binary takes.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

#[derive(Debug, Args)]
#[command(after_help = "Install, for one user:\n  \
bash: framewut completions bash > ~/.local/share/bash-completion/completions/framewut\n  \
zsh:  framewut completions zsh > ~/.zfunc/_framewut   (with fpath+=~/.zfunc before compinit in ~/.zshrc)\n  \
fish: framewut completions fish > ~/.config/fish/completions/framewut.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "framewut", &mut script);
    script
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    // Generated into memory first: clap_complete panics on a failed write,
    // and a closed pipe should end framewut quietly instead.
    let script = script(args.shell);
    crate::out!("{}", String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}
