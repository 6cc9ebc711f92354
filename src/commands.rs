//! The subcommands.

pub mod bench;
pub mod check;
pub mod config;
pub mod get;
pub mod up;
