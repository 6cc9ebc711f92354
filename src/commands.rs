//! The subcommands.

pub mod bench;
pub mod config;
pub mod get;
pub mod proxy_config;
pub mod up;
