//! meshcon's mini-mesh: everything that *is* the mesh, as a library.
//!
//! Read in this order, following a request's path:
//! - [`topology`]: clusters, services, versions, replicas (the YAML you start from).
//! - [`identity`]: per-cluster CAs, SPIFFE IDs, rustls verifiers, rotation.
//! - [`yaml`], [`duration`], [`state`]: YAML with positions, Go durations, the state directory.

pub mod duration;
pub mod identity;
pub mod state;
pub mod topology;
pub mod yaml;

/// Generated gRPC contracts (`proto/meshcon.proto`).
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::unwrap_used)]
    tonic::include_proto!("meshcon.v1");
}
