//! The demo workloads: HTTP apps with configured latency, errors and
//! downstream calls, and the load generator that drives them through the
//! ingress.

pub mod app;
pub mod loadgen;
