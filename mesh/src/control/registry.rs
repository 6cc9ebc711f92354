//! The workload registry of one cluster: which instances exist, where they
//! listen, who they are, and whether they are ready. It plays the part the
//! Kubernetes API plays for istiod: the runtime writes it, the control plane
//! reads it to build endpoints and to check bootstrap tokens.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::identity::SpiffeId;
use crate::topology::Instance;

/// What kind of proxy a workload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKind {
    /// A sidecar next to an application.
    Sidecar,
    /// The ingress gateway (TLS from outside, mTLS inside).
    IngressGateway,
    /// The east-west gateway between clusters (SNI passthrough).
    EastwestGateway,
}

impl ProxyKind {
    /// The name used in APIs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyKind::Sidecar => "sidecar",
            ProxyKind::IngressGateway => "ingress-gateway",
            ProxyKind::EastwestGateway => "eastwest-gateway",
        }
    }
}

/// The addresses of a workload instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    /// The application's own port.
    pub app: Option<SocketAddr>,
    /// The sidecar's inbound (mTLS) listener, or a gateway's listener.
    pub inbound: Option<SocketAddr>,
    /// The sidecar's outbound (plain HTTP from the app) listener.
    pub outbound: Option<SocketAddr>,
    /// The admin listener (`/ready`, `/certs`, `/config_dump`, `/stats/prometheus`).
    pub admin: Option<SocketAddr>,
}

/// One registered workload instance or gateway.
#[derive(Debug, Clone)]
pub struct WorkloadEntry {
    /// Sidecar or gateway.
    pub kind: ProxyKind,
    /// Names: cluster, namespace, service, version, instance.
    pub instance: Instance,
    /// The identity its certificate must carry.
    pub spiffe_id: SpiffeId,
    /// The bootstrap token the workload proves itself with.
    pub token: String,
    /// Where it listens.
    pub addresses: Addresses,
    /// The service port it serves.
    pub port: u16,
    /// Ready to take traffic (its sidecar serves and its app is up).
    pub ready: bool,
    /// An existing process that joined the mesh.
    pub external: bool,
    /// Serial of the last certificate issued to it.
    pub cert_serial: String,
    /// Expiry of the last certificate issued to it (RFC 3339).
    pub cert_not_after: String,
    /// Certificates issued to it so far.
    pub certs_issued: u32,
    /// Issuer of its certificate.
    pub issuer: String,
    /// SHA-256 fingerprint of the root its certificate chains to.
    pub cert_root: String,
    /// Services it calls (the config it needs); None: every service.
    pub scope: Option<Vec<String>>,
}

impl WorkloadEntry {
    /// The proxy id (`name.namespace.cluster`).
    pub fn id(&self) -> String {
        self.instance.id()
    }

    /// Pod labels, as a DestinationRule subset selects them.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app".to_string(), self.instance.service.clone()),
            ("version".to_string(), self.instance.version.clone()),
            (
                "topology.istio.io/cluster".to_string(),
                self.instance.cluster.clone(),
            ),
        ])
    }
}

/// All workloads of one cluster, with a generation bumped on every change.
#[derive(Debug, Default)]
pub struct Registry {
    entries: BTreeMap<String, WorkloadEntry>,
    generation: u64,
}

impl Registry {
    /// Adds or replaces an entry.
    pub fn upsert(&mut self, entry: WorkloadEntry) {
        self.entries.insert(entry.id(), entry);
        self.generation += 1;
    }

    /// Removes an entry (a killed pod).
    pub fn remove(&mut self, id: &str) -> Option<WorkloadEntry> {
        let e = self.entries.remove(id);
        if e.is_some() {
            self.generation += 1;
        }
        e
    }

    /// Changes an entry in place; returns whether it existed.
    pub fn update(&mut self, id: &str, f: impl FnOnce(&mut WorkloadEntry)) -> bool {
        match self.entries.get_mut(id) {
            Some(e) => {
                f(e);
                self.generation += 1;
                true
            }
            None => false,
        }
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&WorkloadEntry> {
        self.entries.get(id)
    }

    /// The entry whose bootstrap token is `token`.
    pub fn by_token(&self, token: &str) -> Option<&WorkloadEntry> {
        if token.is_empty() {
            return None;
        }
        self.entries.values().find(|e| e.token == token)
    }

    /// Every entry, in proxy-id order.
    pub fn entries(&self) -> impl Iterator<Item = &WorkloadEntry> {
        self.entries.values()
    }

    /// How many changes the registry has seen; equal generations mean
    /// nothing changed in between.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}
