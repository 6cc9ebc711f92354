//! Integration tests of the whole mesh on real sockets, with real outside
//! clients (curl, openssl, promtool). One binary, one module per capability.

#[path = "../support/mod.rs"]
mod support;

mod analyze;
mod attach;
mod bench;
mod export;
mod federation;
mod foundation;
mod hardening;
mod jwt;
mod limits;
mod logs;
mod realmesh;
mod rules;
mod state;
mod telemetry;
mod tracecontext;
mod upstream;
