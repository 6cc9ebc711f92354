//! meshcon: a terminal console for service meshes, with a real two-cluster
//! mini-mesh inside.
//!
//! - [`cli`]: the command line (clap) and dispatch.
//! - [`client`]: the console API client every command and the TUI use.
//! - [`commands`]: `up`, `get`, `apply`, `history`, `chaos`...
//! - [`output`]: tables, JSON and YAML for people and scripts.
//! - [`tui`]: the console (TUI) over a mesh.
//! - [`practice`]: vocabulary practice: glossary, exercises, progress.

mod cli;
mod client;
mod commands;
mod output;
mod practice;
mod tui;

fn main() -> std::process::ExitCode {
    cli::main()
}
