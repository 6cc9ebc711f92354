//! meshcon's mini-mesh: everything that *is* the mesh, as a library.
//!
//! Read in this order, following a request's path:
//! - [`topology`]: clusters, services, versions, replicas (the YAML you start from).
//! - [`identity`]: per-cluster CAs, SPIFFE IDs, rustls verifiers, rotation.
//! - [`control`]: control planes (push, ACK/NACK, certificates), config store, console API.
//! - [`config`]: Istio resources (VirtualService, DestinationRule, ...) and their validation.
//! - [`proxy`]: sidecars: inbound, outbound, routing, clusters, admin.
//! - [`svc`]: the tower layers of the data plane (retry, timeout, fault, outlier detection, limits, balancing).
//! - [`gateway`]: ingress (TLS termination) and east-west (SNI passthrough) gateways.
//! - [`telemetry`]: Istio metrics, exact percentiles, traces, the tap, golden signals.
//! - [`workload`]: the demo apps and the load generator.
//! - [`runtime`]: launches a whole mesh from a topology, in one process.
//! - [`bench`]: load scenarios (data-plane latency, config convergence).
//! - [`yaml`], [`duration`], [`state`], [`http`]: YAML with positions, Go durations, the state directory, HTTP plumbing.

pub mod bench;
pub mod config;
pub mod control;
pub mod duration;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod proxy;
pub mod runtime;
pub mod state;
pub mod svc;
pub mod telemetry;
pub mod topology;
pub mod workload;
pub mod yaml;

/// Generated gRPC contracts (`proto/meshcon.proto`).
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::unwrap_used)]
    tonic::include_proto!("meshcon.v1");
}
