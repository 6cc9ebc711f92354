//! What the console knows of the mesh: the latest answer of each data task,
//! plus short histories (events, the tap, sparklines) kept in memory. Only
//! `update` writes it (see `app::ingest`); views and practice read it.

use std::collections::{HashMap, VecDeque};

use mesh::api::{EdgeSignal, ServiceSignal};

/// One applied resource, as the routing list shows it and the editor opens it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    /// `VirtualService`, `DestinationRule`, ...
    pub kind: String,
    /// Kubernetes namespace the resource was applied in.
    pub namespace: String,
    /// `metadata.name`, unique per kind and namespace.
    pub name: String,
    /// This resource alone, re-serialised, for the editor.
    pub yaml: String,
}

impl Resource {
    /// The resources of a YAML stream, one by one.
    pub fn split(yaml: &str) -> Vec<Resource> {
        let out = mesh::api::config::parse("-", yaml);
        out.resources
            .iter()
            .map(|p| {
                let k = p.resource.key();
                Resource {
                    kind: k.kind,
                    namespace: k.namespace,
                    name: k.name,
                    yaml: mesh::api::config::to_yaml(std::slice::from_ref(&p.resource)),
                }
            })
            .collect()
    }
}

/// Everything learned from the mesh.
#[derive(Debug, Clone, Default)]
pub struct MeshData {
    /// Sidecars and gateways, as the console API lists them.
    pub workloads: Vec<mesh::api::Workload>,
    /// One per cluster: its CA root and mTLS mode.
    pub trust_domains: Vec<mesh::api::TrustDomain>,
    /// Each proxy's config version and ACK state.
    pub proxies: Vec<mesh::api::ProxyState>,
    /// The control plane's current config version.
    pub version: u64,
    /// Golden signals per service version over the console's window.
    pub services: Vec<ServiceSignal>,
    /// Golden signals per caller and service version over the same window.
    pub edges: Vec<EdgeSignal>,
    /// Per edge over the last few seconds only (a change's before/after).
    pub recent_edges: Vec<EdgeSignal>,
    /// Exact percentiles per edge, which replace the bucketed ones on request.
    pub latency: Vec<mesh::api::EdgeStat>,
    /// Control-plane events, oldest first.
    pub events: VecDeque<mesh::api::Event>,
    /// Tapped requests, oldest first.
    pub tap: VecDeque<mesh::api::TapEntry>,
    /// Recent traces, newest first.
    pub traces: Vec<mesh::api::Trace>,
    /// Every applied resource in one YAML stream (what quick actions build on).
    pub resources_yaml: String,
    /// The same resources one by one, in the order the mesh lists them.
    pub resources: Vec<Resource>,
    /// What the analyzer finds in the config as loaded from a real cluster
    /// or file (a meshcon mesh refuses such config before it applies).
    pub config_findings: Vec<mesh::api::Finding>,
    /// Config versions, for the history pane and rollbacks.
    pub history: Vec<mesh::api::HistoryEntry>,
    /// Trust bundles exchanged and gateway reachability, as the API reports them.
    pub federation: mesh::api::FederationStatus,
    /// The running topology; None until the API has answered once.
    pub topology: Option<mesh::api::Topology>,
    /// Sparkline points per key (`service` or `source>service`): (rps, p99).
    pub series: HashMap<String, VecDeque<(f64, f64)>>,
}
