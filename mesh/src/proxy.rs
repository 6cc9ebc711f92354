//! The data plane's proxies. A request's path through a sidecar:
//!
//! - [`outbound`]: app → telemetry → router → fault → timeout → retry →
//!   pool limits → balance → endpoint → peer, assembled in one function;
//! - [`inbound`]: peer (mTLS, sniffed) → telemetry → JWT → authorization → app;
//! - [`telemetry`]: the outermost layer of both directions;
//! - [`router`], [`routes`], [`compile`]: from a snapshot to routes and clusters;
//! - [`cluster`], [`concrete`], [`endpoint`], [`upstream`]: endpoints,
//!   admission, balancing and outlier detection, one attempt, mTLS HTTP/2
//!   connections;
//! - [`jwt`] verifies RequestAuthentication's tokens (inbound, and at the
//!   ingress gateway before routing);
//! - [`authz`] enforces AuthorizationPolicy;
//! - [`admin`] serves Envoy-like admin endpoints;
//! - [`explain`] says how a request would be routed;
//! - [`context`], [`sidecar`]: shared state and start-up.
//!
//! Imports between these modules only go down the list of layers (a module
//! never imports one that imports it); `cluster`, `context` and `upstream`
//! are the shared floor.

pub mod admin;
pub mod authz;
pub mod cluster;
pub mod compile;
pub mod concrete;
pub mod context;
pub mod endpoint;
pub mod explain;
pub mod inbound;
pub mod jwt;
pub mod outbound;
pub mod router;
pub mod routes;
pub mod sidecar;
pub mod telemetry;
pub mod upstream;
