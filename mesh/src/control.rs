//! The control plane: per-cluster config push and certificate signing, the
//! mesh-wide config store with history, and the console API.
//!
//! - [`registry`]: a cluster's workloads (what the Kubernetes API is to istiod).
//! - [`snapshot`]: what each proxy is told, built per proxy.
//! - [`server`]: Discovery (ADS-style push, ACK/NACK) and Certificates;
//!   roots and their rotation; convergence of a version.
//! - [`client`]: the proxy's side of both.
//! - [`store`]: versions and history in SQLite.
//! - [`events`]: the event stream the console shows, and its kinds.
//! - [`federation`]: peer control planes exchanging trust bundles and
//!   endpoints, and the federation status the console shows.
//! - [`console`]: the console API served to the TUI and CLI.

pub mod client;
pub mod console;

pub mod events;
pub mod federation;
pub mod registry;
pub mod server;
pub mod snapshot;
pub mod store;

pub use server::ControlPlane;
