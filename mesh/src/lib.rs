//! meshcon's mini-mesh: everything that *is* the mesh, as a library.
//!
//! The console reaches it through [`api`] only (and [`runtime`] to host a
//! mesh); the modules below are private to the crate, so the compiler keeps
//! that promise.
//!
//! Read in this order, following a request's path:
//! - [`api`]: the console contract: what a client of a mesh reads and sends.
//! - [`topology`]: clusters, services, versions, replicas (the YAML you start from).
//! - [`identity`]: per-cluster CAs, SPIFFE IDs, rustls verifiers, rotation.
//! - [`control`]: control planes (push, ACK/NACK, certificates), config store, console API.
//! - [`config`]: Istio resources (VirtualService, DestinationRule, ...) and their validation.
//! - [`proxy`]: sidecars: inbound, outbound, routing, clusters, admin.
//! - [`svc`]: the tower layers of the data plane (retry, timeout, fault, outlier detection, limits, balancing).
//! - [`gateway`]: ingress (TLS termination) and east-west (SNI passthrough) gateways.
//! - [`telemetry`]: Istio metrics, exact percentiles, traces, the tap, golden signals.
//! - [`workload`]: the demo apps and the load generator.
//! - [`attach`]: readers of a real Istio or Linkerd mesh (Prometheus, kubectl).
//! - [`realmesh`]: readers for a real Istio/Linkerd mesh (Envoy admin, trace receivers, scrapes).
//! - [`export`]: the topology and rules as Kubernetes and Istio YAML, and back.
//! - [`runtime`]: launches a whole mesh from a topology, in one process.
//! - [`bench`]: load scenarios (data-plane latency, config convergence).
//! - [`yaml`], [`duration`], [`state`], [`http`]: YAML with positions, Go durations, the state directory, HTTP plumbing.

pub mod api;
pub(crate) mod attach;
pub mod bench;
pub(crate) mod config;
pub(crate) mod control;
pub(crate) mod duration;
pub(crate) mod export;
pub(crate) mod gateway;
pub(crate) mod http;
pub mod identity;
pub(crate) mod proxy;
pub(crate) mod realmesh;
pub mod runtime;
pub(crate) mod state;
pub(crate) mod svc;
pub(crate) mod telemetry;
pub(crate) mod topology;
pub(crate) mod workload;
pub(crate) mod yaml;

/// Generated gRPC contracts (`proto/meshcon.proto`).
pub(crate) mod proto {
    #![allow(missing_docs, clippy::all, clippy::unwrap_used)]
    tonic::include_proto!("meshcon.v1");
}
