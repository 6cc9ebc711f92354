//! The subcommands.

pub mod attach;
pub mod bench;
pub mod check;
pub mod config;
pub mod export;
pub mod get;
pub mod logs;
pub mod proxy_config;
pub mod up;
