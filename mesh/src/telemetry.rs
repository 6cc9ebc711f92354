//! Telemetry: what the mesh tells about its traffic.
//!
//! - [`metrics`]: Istio's standard metrics and Prometheus exposition.
//! - [`exact`]: exact per-edge percentiles from HDR histograms.
//! - [`access`]: what one request leaves behind: access-log fields, spans,
//!   connection facts (the layer that fills them is `proxy::telemetry`).
//! - [`tap`]: recent requests for the console.
//! - [`trace`]: trace context propagation, spans, OTLP export.
//! - [`collector`]: the OTLP collector and bounded trace store.
//! - [`golden`]: golden signals computed from Prometheus text.

pub mod access;
pub mod collector;
pub mod exact;
pub mod golden;
pub mod metrics;
pub mod tap;
pub mod trace;
