//! What resources are checked against: the services, pods and gateways of a
//! running mesh (from its topology) or of the files alone, and how a host
//! written in a resource is looked up among them.

use std::collections::{BTreeMap, BTreeSet};

use super::wildcard;
use crate::config::parse::KubeObject;
use crate::config::scope::{normalize_host, ROOT_NAMESPACE};
use crate::topology::Topology;

/// A service the analysis knows of: a Kubernetes Service, a topology
/// service, or one host of a ServiceEntry.
#[derive(Debug, Clone)]
pub struct SvcInfo {
    /// Name (for a ServiceEntry, the host as written).
    pub name: String,
    /// Namespace it lives in; with `name` it makes the cluster-local FQDN.
    pub namespace: String,
    /// Service ports a destination may name; several make a port required.
    pub ports: Vec<u16>,
    /// TCP ports as its pods receive them (`targetPort`), which a Gateway's
    /// servers listen on.
    pub target_ports: Vec<u16>,
    /// Labels its pods carry; subsets narrow it further.
    pub selector: BTreeMap<String, String>,
    /// Namespaces it is visible from (`exportTo`); empty means all.
    pub export_to: Vec<String>,
    /// From a ServiceEntry: no pod selector of its own.
    pub service_entry: bool,
}

impl SvcInfo {
    /// Whether a resource in namespace `from` may use it: `exportTo` empty
    /// or `*`, naming `from`, or `.` with the service in `from`.
    pub fn visible_from(&self, from: &str) -> bool {
        self.export_to.is_empty()
            || self
                .export_to
                .iter()
                .any(|e| e == "*" || e == from || (e == "." && self.namespace == from))
    }
}

/// A pod the analysis knows of.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// Pod name, as findings quote it (`ns/name`).
    pub name: String,
    /// Namespace; a Service selects only pods of its own.
    pub namespace: String,
    /// Labels, with its node's topology labels added.
    pub labels: BTreeMap<String, String>,
}

/// A Kubernetes Gateway API Gateway, which VirtualServices may bind to.
#[derive(Debug, Clone)]
pub struct KubeGatewayInfo {
    /// Name a VirtualService's `gateways` entry refers to.
    pub name: String,
    /// Namespace, the `ns/` of such a reference.
    pub namespace: String,
    /// Listener hostnames (`*` for a listener without one).
    pub hostnames: Vec<String>,
}

/// What resources are checked against.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Kubernetes and topology services, where destination hosts are looked up.
    pub services: Vec<SvcInfo>,
    /// Pods (workload instances and gateways).
    pub pods: Vec<PodInfo>,
    /// Hosts that ServiceEntries name.
    pub external: Vec<SvcInfo>,
    /// Gateway API gateways, which VirtualServices may bind besides Istio's.
    pub kube_gateways: Vec<KubeGatewayInfo>,
    /// Namespaces the analysis has seen anything in.
    pub namespaces: BTreeSet<String>,
    /// Whether `services` is the whole registry (a running mesh) rather
    /// than what one file holds.
    pub complete: bool,
}

/// Node labels that Istio copies onto a pod's endpoints, so subsets may
/// select by them.
const TOPOLOGY_LABELS: &[&str] = &[
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];

impl Context {
    /// The services and pods of a topology, with its gateways.
    pub fn from_topology(t: &Topology) -> Self {
        let mut ctx = Context {
            complete: true,
            ..Context::default()
        };
        for s in &t.services {
            ctx.namespaces.insert(s.namespace.clone());
            if !ctx
                .services
                .iter()
                .any(|x| x.name == s.name && x.namespace == s.namespace)
            {
                ctx.services.push(SvcInfo {
                    name: s.name.clone(),
                    namespace: s.namespace.clone(),
                    ports: vec![s.port],
                    target_ports: vec![s.port],
                    selector: BTreeMap::from([("app".to_string(), s.name.clone())]),
                    export_to: Vec::new(),
                    service_entry: false,
                });
            }
        }
        for i in t.instances() {
            ctx.pods.push(PodInfo {
                name: i.name.clone(),
                namespace: i.namespace.clone(),
                labels: BTreeMap::from([
                    ("app".to_string(), i.service.clone()),
                    ("version".to_string(), i.version.clone()),
                    ("topology.istio.io/cluster".to_string(), i.cluster.clone()),
                ]),
            });
        }
        if t.clusters.iter().any(|c| c.ingress.is_some()) {
            ctx.add_gateway(
                "istio-ingressgateway",
                "ingressgateway",
                vec![80, 443, 8080, 8443],
            );
        }
        if t.clusters.len() > 1 {
            ctx.add_gateway("istio-eastwestgateway", "eastwestgateway", vec![15443]);
        }
        ctx
    }

    /// The context `istioctl analyze` assumes for files alone: no services
    /// but the default ingress gateway (a pod labelled
    /// `istio: ingressgateway` and its Service), and an incomplete registry.
    pub fn standalone() -> Self {
        let mut ctx = Context::default();
        ctx.add_gateway(
            "istio-ingressgateway",
            "ingressgateway",
            vec![80, 443, 31400, 15443],
        );
        ctx
    }

    fn add_gateway(&mut self, app: &str, istio: &str, ports: Vec<u16>) {
        let selector = BTreeMap::from([("istio".to_string(), istio.to_string())]);
        self.namespaces.insert(ROOT_NAMESPACE.into());
        self.pods.push(PodInfo {
            name: format!("{app}-0"),
            namespace: ROOT_NAMESPACE.into(),
            labels: BTreeMap::from([
                ("istio".to_string(), istio.to_string()),
                ("app".to_string(), app.to_string()),
            ]),
        });
        self.services.push(SvcInfo {
            name: app.into(),
            namespace: ROOT_NAMESPACE.into(),
            target_ports: ports.clone(),
            ports,
            selector,
            export_to: Vec::new(),
            service_entry: false,
        });
    }

    /// Records that the input has resources in namespace `ns`.
    pub fn add_namespace(&mut self, ns: &str) {
        self.namespaces.insert(ns.to_string());
    }

    /// Adds the Kubernetes objects found among the resources.
    pub fn add_kube(&mut self, objs: &[KubeObject]) {
        let nodes: BTreeMap<&str, &BTreeMap<String, String>> = objs
            .iter()
            .filter_map(|o| match o {
                KubeObject::Node { name, labels } => Some((name.as_str(), labels)),
                _ => None,
            })
            .collect();
        for o in objs {
            match o {
                KubeObject::Service {
                    name,
                    namespace,
                    ports,
                    target_ports,
                    selector,
                    export_to,
                } => {
                    self.namespaces.insert(namespace.clone());
                    self.services.push(SvcInfo {
                        name: name.clone(),
                        namespace: namespace.clone(),
                        ports: ports.clone(),
                        target_ports: target_ports.clone(),
                        selector: selector.clone(),
                        export_to: export_to.clone(),
                        service_entry: false,
                    });
                }
                KubeObject::ExternalHosts {
                    hosts,
                    ports,
                    namespace,
                    export_to,
                } => {
                    self.namespaces.insert(namespace.clone());
                    for h in hosts {
                        self.external.push(SvcInfo {
                            name: h.clone(),
                            namespace: namespace.clone(),
                            ports: ports.clone(),
                            target_ports: ports.clone(),
                            selector: BTreeMap::new(),
                            export_to: export_to.clone(),
                            service_entry: true,
                        });
                    }
                }
                KubeObject::Pod {
                    name,
                    namespace,
                    labels,
                    node,
                } => {
                    self.namespaces.insert(namespace.clone());
                    let mut labels = labels.clone();
                    if let Some(node) = node.as_deref().and_then(|n| nodes.get(n)) {
                        // Istio adds the node's locality to endpoint labels,
                        // and only when it is set.
                        for key in TOPOLOGY_LABELS {
                            if let Some(v) = node.get(*key).filter(|v| !v.is_empty()) {
                                labels.insert((*key).to_string(), v.clone());
                            }
                        }
                    }
                    self.pods.push(PodInfo {
                        name: name.clone(),
                        namespace: namespace.clone(),
                        labels,
                    });
                }
                KubeObject::Namespace { name } => {
                    self.namespaces.insert(name.clone());
                }
                KubeObject::KubeGateway {
                    name,
                    namespace,
                    hostnames,
                } => {
                    self.namespaces.insert(namespace.clone());
                    self.kube_gateways.push(KubeGatewayInfo {
                        name: name.clone(),
                        namespace: namespace.clone(),
                        hostnames: hostnames.clone(),
                    });
                }
                KubeObject::Node { .. } => {}
            }
        }
    }

    /// Finds `host`, written in a resource of namespace `ns`, as seen from
    /// namespace `from`.
    pub(super) fn lookup(&self, host: &str, ns: &str, from: &str) -> Lookup<'_> {
        let fq = normalize_host(host, ns);
        let services = self
            .services
            .iter()
            .filter(|s| !wildcard(host) && crate::topology::fqdn(&s.name, &s.namespace) == fq);
        let external = self.external.iter().filter(|s| {
            let se = normalize_host(&s.name, &s.namespace);
            se == fq
                || se
                    .strip_prefix('*')
                    .is_some_and(|suffix| fq.trim_start_matches('*').ends_with(suffix))
        });
        let mut hidden = None;
        for s in services.chain(external) {
            if s.visible_from(from) {
                return Lookup::Found(s);
            }
            hidden.get_or_insert(s);
        }
        hidden.map_or(Lookup::Missing, Lookup::Hidden)
    }

    /// Whether the analysis can tell that a cluster-local `host` does not
    /// exist: always with a running mesh; for files alone only when the
    /// input has something in the host's namespace.
    pub(super) fn can_tell_missing(&self, host: &str, ns: &str) -> bool {
        if self.complete {
            return true;
        }
        let fq = normalize_host(host, ns);
        match fq.strip_suffix(".svc.cluster.local") {
            Some(rest) => rest
                .rsplit('.')
                .next()
                .is_some_and(|host_ns| self.namespaces.contains(host_ns)),
            None => true,
        }
    }
}

/// The result of looking a host up.
pub(super) enum Lookup<'a> {
    /// Exists and is visible.
    Found(&'a SvcInfo),
    /// Exists but is not exported to the namespace asking.
    Hidden(&'a SvcInfo),
    /// Does not exist.
    Missing,
}
