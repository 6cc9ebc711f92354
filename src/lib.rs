//! meshcon, the console: a terminal UI and command line over a service
//! mesh, with a real two-cluster mini-mesh (the `mesh` crate) inside.
//!
//! - [`cli`]: the command line (clap) and dispatch.
//! - [`client`]: the console API client every command and the TUI use.
//! - [`commands`]: `up`, `get`, `apply`, `history`, `chaos`, `bench`...
//! - [`output`]: tables, JSON and YAML for people and scripts.
//! - [`tui`]: the console (TUI) over a mesh.
//! - [`practice`]: vocabulary practice: glossary, exercises, progress.

pub mod cli;
pub mod client;
pub mod commands;
pub mod map;
pub mod output;
pub mod practice;
pub mod tui;

/// Every program built on meshcon (the binary, its tests and benchmarks)
/// allocates with mimalloc: the sidecars allocate per request from many
/// threads, where glibc's malloc cost about a third of their CPU (measured
/// with `meshcon bench dataplane`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(test)]
mod layout;
