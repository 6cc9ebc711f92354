//! What one proxy is told: the services it may call with their endpoints and
//! identities, the rules that concern it, the trust bundles, and the inbound
//! security policy that selects it. Built per proxy, so a change only reaches
//! the proxies whose snapshot it changes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::registry::{ProxyKind, Registry, WorkloadEntry};
use crate::config::model::{AuthorizationPolicy, Object, RequestAuthentication, Resource};
use crate::config::scope;

/// The whole configuration of one proxy at one version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxySnapshot {
    /// The mesh configuration version this snapshot reflects.
    pub version: u64,
    /// Services this proxy may call.
    pub services: Vec<ServiceEntry>,
    /// Root certificates (PEM) by trust domain.
    pub trust_bundles: BTreeMap<String, Vec<String>>,
    /// VirtualServices and DestinationRules that concern this proxy.
    pub routing: Vec<Resource>,
    /// Gateways (for ingress gateways).
    pub gateways: Vec<Resource>,
    /// The mTLS mode of this workload's inbound side: STRICT, PERMISSIVE or DISABLE.
    pub mtls_mode: String,
    /// Authorization policies that select this workload.
    pub authorization: Vec<Object<AuthorizationPolicy>>,
    /// RequestAuthentications that select this workload: the JWTs its
    /// inbound side (or, for an ingress gateway, its listener) verifies.
    #[serde(default)]
    pub request_authentication: Vec<Object<RequestAuthentication>>,
    /// Fingerprint of the root that signs this cluster's certificates now:
    /// a proxy whose certificate chains elsewhere renews at once.
    #[serde(default)]
    pub signing_root: String,
}

impl ProxySnapshot {
    /// Equal apart from the version: whether a push would change anything.
    pub fn same_content(&self, other: &ProxySnapshot) -> bool {
        self.services == other.services
            && self.trust_bundles == other.trust_bundles
            && self.routing == other.routing
            && self.gateways == other.gateways
            && self.mtls_mode == other.mtls_mode
            && self.authorization == other.authorization
            && self.request_authentication == other.request_authentication
            && self.signing_root == other.signing_root
    }
}

/// A service and where it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// Short name, e.g. `billing`.
    pub name: String,
    /// The Kubernetes namespace, e.g. `default`.
    pub namespace: String,
    /// `billing.default.svc.cluster.local`.
    pub hostname: String,
    /// The port clients address it on (the endpoint's inbound listener
    /// takes the traffic, whatever this says).
    pub port: u16,
    /// SPIFFE IDs its workloads run as (secure naming).
    pub identities: Vec<String>,
    /// Ready endpoints, local and remote.
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    /// The sidecar's inbound address (mTLS).
    pub address: String,
    /// The instance behind it, e.g. `billing-v1-0`, for messages.
    pub instance: String,
    /// Cluster (the locality).
    pub cluster: String,
    /// Pod labels (app, version, cluster).
    pub labels: BTreeMap<String, String>,
    /// The SPIFFE ID it presents.
    pub identity: String,
    /// For remote endpoints: the east-west gateway to reach it through, with
    /// the destination encoded in SNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// Endpoints another cluster exports to this one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteCluster {
    /// The trust domain its certificates name, e.g. `us.mesh`.
    pub trust_domain: String,
    /// Its trust bundle, PEM: what this cluster must trust to accept its
    /// workloads (during a root rotation, more than one root).
    pub roots_pem: Vec<String>,
    /// Its services, with endpoints reached through its east-west gateway.
    pub services: Vec<ServiceEntry>,
}

/// Everything a control plane knows when it builds snapshots.
pub struct MeshView<'a> {
    /// This cluster's name.
    pub cluster: &'a str,
    /// This cluster's trust domain.
    pub trust_domain: &'a str,
    /// This cluster's trust bundle, PEM: the signing root first.
    pub roots_pem: &'a [String],
    /// Fingerprint of the root that signs certificates now.
    pub signing_root: &'a str,
    /// This cluster's workloads.
    pub local: &'a Registry,
    /// Other clusters' exports, by cluster name.
    pub remote: &'a BTreeMap<String, RemoteCluster>,
    /// The mesh-wide Istio resources in force.
    pub resources: &'a [Resource],
    /// The config version of `resources`, which snapshots carry.
    pub version: u64,
}

/// Services of the local registry, as exported to others and used locally.
pub fn local_services(registry: &Registry, cluster: &str) -> Vec<ServiceEntry> {
    let mut by_key: BTreeMap<(String, String), ServiceEntry> = BTreeMap::new();
    for e in registry.entries() {
        if e.kind != ProxyKind::Sidecar || e.addresses.app.is_none() {
            continue;
        }
        let key = (e.instance.service.clone(), e.instance.namespace.clone());
        let svc = by_key.entry(key).or_insert_with(|| ServiceEntry {
            name: e.instance.service.clone(),
            namespace: e.instance.namespace.clone(),
            hostname: crate::topology::fqdn(&e.instance.service, &e.instance.namespace),
            port: e.port,
            ..Default::default()
        });
        let id = e.spiffe_id.to_string();
        if !svc.identities.contains(&id) {
            svc.identities.push(id.clone());
        }
        if !e.ready {
            continue;
        }
        if let Some(inbound) = e.addresses.inbound {
            svc.endpoints.push(Endpoint {
                address: inbound.to_string(),
                instance: e.instance.name.clone(),
                cluster: cluster.to_string(),
                labels: e.labels(),
                identity: id,
                gateway: None,
            });
        }
    }
    by_key.into_values().collect()
}

/// Merges local and remote services by name and namespace, sorted by both
/// (what [`build`] relies on).
pub fn merged_services(view: &MeshView<'_>) -> Vec<ServiceEntry> {
    let mut by_key: BTreeMap<(String, String), ServiceEntry> = BTreeMap::new();
    let remote = view
        .remote
        .values()
        .flat_map(|r| r.services.iter().cloned());
    for s in local_services(view.local, view.cluster)
        .into_iter()
        .chain(remote)
    {
        match by_key.get_mut(&(s.name.clone(), s.namespace.clone())) {
            Some(have) => {
                for id in s.identities {
                    if !have.identities.contains(&id) {
                        have.identities.push(id);
                    }
                }
                have.endpoints.extend(s.endpoints);
            }
            None => {
                by_key.insert((s.name.clone(), s.namespace.clone()), s);
            }
        }
    }
    let mut out: Vec<ServiceEntry> = by_key.into_values().collect();
    for s in &mut out {
        s.identities.sort();
        s.endpoints.sort();
    }
    out
}

/// Builds the snapshot of one proxy.
pub fn build(
    view: &MeshView<'_>,
    proxy: &WorkloadEntry,
    services: &[ServiceEntry],
) -> ProxySnapshot {
    let mut trust_bundles = BTreeMap::new();
    trust_bundles.insert(view.trust_domain.to_string(), view.roots_pem.to_vec());
    for r in view.remote.values() {
        trust_bundles.insert(r.trust_domain.clone(), r.roots_pem.clone());
    }

    // What the proxy may call: its declared calls, plus whatever rules on
    // those hosts send traffic to (routes, mirrors). Gateways see everything.
    let wanted: Option<BTreeSet<String>> = match (proxy.kind, &proxy.scope) {
        (ProxyKind::Sidecar, Some(calls)) => {
            let mut set: BTreeSet<String> = calls.iter().cloned().collect();
            let ns = proxy.instance.namespace.as_str();
            for r in view.resources {
                if let Resource::VirtualService(vs) = r {
                    if vs.spec.hosts.iter().any(|h| {
                        set.iter()
                            .any(|c| scope::host_matches(h, vs.metadata.ns(), c, ns))
                    }) {
                        set.extend(scope::vs_destination_names(&vs.spec));
                    }
                }
            }
            Some(set)
        }
        _ => None,
    };
    let services: Vec<ServiceEntry> = match (&wanted, proxy.kind) {
        (_, ProxyKind::EastwestGateway) => services
            .iter()
            .filter(|s| !s.endpoints.iter().all(|e| e.cluster != view.cluster))
            .cloned()
            .collect(),
        // `services` is sorted by name (merged_services), so each wanted
        // name is a range found by bisection: a push to a thousand scoped
        // proxies must not compare each with every service.
        (Some(w), _) => w
            .iter()
            .flat_map(|name| {
                let from = services.partition_point(|s| s.name.as_str() < name.as_str());
                services[from..].iter().take_while(move |s| s.name == *name)
            })
            .cloned()
            .collect(),
        (None, _) => services.to_vec(),
    };

    let names: BTreeSet<(String, String)> = services
        .iter()
        .map(|s| (s.name.clone(), s.namespace.clone()))
        .collect();
    let mut routing = Vec::new();
    let mut gateways = Vec::new();
    if proxy.kind == ProxyKind::EastwestGateway {
        // The east-west gateway needs subsets (SNI names them), nothing else.
        routing.extend(
            view.resources
                .iter()
                .filter(|r| matches!(r, Resource::DestinationRule(_)))
                .cloned(),
        );
    } else {
        for r in view.resources {
            match r {
                Resource::VirtualService(vs) => {
                    let applies = match proxy.kind {
                        ProxyKind::IngressGateway => scope::vs_bound_to_ingress(vs, view.resources),
                        _ => scope::vs_applies_to_mesh(&vs.spec),
                    };
                    let relevant = vs.spec.hosts.iter().any(|h| {
                        names
                            .iter()
                            .any(|(n, ns)| scope::host_matches(h, vs.metadata.ns(), n, ns))
                    }) || proxy.kind == ProxyKind::IngressGateway;
                    if applies && relevant {
                        routing.push(r.clone());
                    }
                }
                Resource::DestinationRule(dr)
                    if names.iter().any(|(n, ns)| {
                        scope::host_matches(&dr.spec.host, dr.metadata.ns(), n, ns)
                    }) =>
                {
                    routing.push(r.clone());
                }
                Resource::Gateway(_) if proxy.kind == ProxyKind::IngressGateway => {
                    gateways.push(r.clone())
                }
                _ => {}
            }
        }
    }

    let mut labels = proxy.labels();
    // Gateways are selected by the label Istio's charts give them.
    match proxy.kind {
        ProxyKind::IngressGateway => {
            labels.insert("istio".into(), "ingressgateway".into());
        }
        ProxyKind::EastwestGateway => {
            labels.insert("istio".into(), "eastwestgateway".into());
        }
        ProxyKind::Sidecar => {}
    }
    ProxySnapshot {
        version: view.version,
        services,
        trust_bundles,
        routing,
        gateways,
        mtls_mode: scope::mtls_mode_for(view.resources, &proxy.instance.namespace, &labels),
        authorization: scope::authz_for(view.resources, &proxy.instance.namespace, &labels),
        request_authentication: request_authn_for(
            view.resources,
            &proxy.instance.namespace,
            &labels,
        ),
        signing_root: view.signing_root.to_string(),
    }
}

/// The RequestAuthentications that apply to a workload, selected as
/// AuthorizationPolicies are: its namespace's that select it, and the root
/// namespace's that select nothing (mesh-wide). An ingress gateway carries
/// `istio: ingressgateway` in `istio-system`, as istio.io's JWT tasks expect.
pub fn request_authn_for(
    resources: &[Resource],
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Vec<Object<RequestAuthentication>> {
    resources
        .iter()
        .filter_map(|r| match r {
            Resource::RequestAuthentication(ra) => {
                let pns = ra.metadata.ns();
                let sel = ra.spec.selector.as_ref().map(|s| &s.match_labels);
                let selected =
                    sel.is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
                let applies =
                    (pns == ns && selected) || (pns == scope::ROOT_NAMESPACE && sel.is_none());
                applies.then(|| ra.clone())
            }
            _ => None,
        })
        .collect()
}
