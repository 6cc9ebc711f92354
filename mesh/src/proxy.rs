//! The data plane's proxies. A request's path through a sidecar:
//!
//! - [`outbound`]: app → router → fault → timeout → retry → cluster → peer,
//!   assembled in one function;
//! - [`inbound`]: peer (mTLS, sniffed) → telemetry → authorization → app;
//! - [`router`], [`routes`], [`compile`]: from a snapshot to routes and clusters;
//! - [`cluster`], [`forward`], [`upstream`]: endpoints, balancing, outlier
//!   detection, pool limits, mTLS HTTP/2 connections;
//! - [`authz`] enforces AuthorizationPolicy;
//! - [`admin`] serves Envoy-like admin endpoints;
//! - [`context`], [`sidecar`]: shared state and start-up.

pub mod admin;
pub mod authz;
pub mod cluster;
pub mod compile;
pub mod context;
pub mod explain;
pub mod forward;
pub mod inbound;
pub mod outbound;
pub mod router;
pub mod routes;
pub mod sidecar;
pub mod upstream;
