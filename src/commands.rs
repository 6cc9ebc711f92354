//! The subcommands.

pub mod config;
pub mod get;
pub mod up;
