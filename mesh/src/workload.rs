//! The demo workloads: HTTP apps with configured latency, errors and
//! downstream calls, and the load generator that drives them through the
//! ingress; `standalone`, the same app as `meshcon workload`, outside the
//! playground.

pub mod app;
pub mod loadgen;
pub mod standalone;
