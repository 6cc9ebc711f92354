//! The subcommands.

pub mod bench;
pub mod config;
pub mod export;
pub mod get;
pub mod up;
