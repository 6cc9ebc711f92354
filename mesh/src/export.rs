//! From the playground to real clusters: a topology and a config version as
//! the Kubernetes and Istio YAML that runs the same mesh on Kubernetes with
//! Istio, multi-primary on separate networks (`meshcon export kubernetes`),
//! and such YAML read back into a topology and rules (`meshcon import`).
//!
//! The playground models Istio's multi-primary, multi-network install: a
//! control plane and a CA per cluster, each cluster its own network, joined
//! by east-west gateways that pass mTLS through by SNI. The export writes
//! exactly that, per cluster:
//!
//! - `install/istio.yaml` and `install/eastwest-gateway.yaml`: two
//!   `IstioOperator`s for `istioctl install -f`. IstioOperator rather than
//!   Helm values because the east-west gateway Istio documents for this
//!   set-up (`samples/multicluster/gen-eastwest-gateway.sh`) *is* an
//!   IstioOperator, and Istio's multi-primary, multi-network guide installs
//!   each cluster with one: the user follows that guide file for file, and
//!   one tool (`istioctl`) installs both. With Helm the same settings are
//!   spread over three charts' values and the east-west gateway's labels,
//!   environment and ports have to be restated by hand. The IstioOperator
//!   is read by `istioctl` on the user's machine, never applied to the
//!   cluster, so it needs no CRD there.
//! - `namespaces.yaml`: namespaces labelled for sidecar injection, and
//!   `istio-system` labelled with the cluster's network.
//! - `workloads.yaml`: per service a ServiceAccount (the SPIFFE identity),
//!   a Service, a Deployment per version running `meshcon workload` with the
//!   version's behaviour; and a Service (without pods) in each cluster that
//!   calls a service living elsewhere, so its name resolves there.
//! - `gateways.yaml`: the `AUTO_PASSTHROUGH` Gateway on the east-west
//!   gateway, and the ingress Gateway and VirtualService for the ingress
//!   hosts, with the TLS Secret's name.
//! - `rules.yaml`: the config version's Istio resources, in every cluster:
//!   each primary's istiod reads only its own cluster's config.
//!
//! `import` is the other way round and lists whatever it could not map.

mod import;
mod objects;
mod readme;

use std::collections::BTreeSet;

use serde_json::Value;

use crate::config::model::Resource;
use crate::topology::{Service, Topology};

pub use import::{import, ImportError, Imported, SourceFile};

/// The label of objects this export generated.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "meshcon");
/// Annotation keeping the demo load's rate on the IstioOperator.
pub const LOAD_RPS: &str = "meshcon.dev/load-rps";
/// Annotation keeping the demo load's paths (comma-separated).
pub const LOAD_PATHS: &str = "meshcon.dev/load-paths";

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The container image the Deployments run (built from the Dockerfile).
    pub image: String,
    /// Where the rules came from, for the README (`config version v7`).
    pub rules_source: String,
}

/// One file of the export, by its path inside the output directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportFile {
    /// `/`-separated path inside the output directory (`eu/workloads.yaml`).
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// What an export writes, and what it left out.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// Every file, in the order the README applies them.
    pub files: Vec<ExportFile>,
    /// Parts of the topology not exported, and why.
    pub notes: Vec<String>,
}

/// Objects as a multi-document YAML text.
pub fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| serde_saphyr::to_string(o).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The network a cluster is on: each cluster its own, as in the playground.
pub fn network(cluster: &str) -> String {
    format!("network-{cluster}")
}

/// The name of the TLS Secret the ingress gateway of `mesh` reads.
pub fn ingress_secret(mesh: &str) -> String {
    format!("{mesh}-ingress-cert")
}

/// The definition of service `name` seen from `cluster`: its own, else the
/// first elsewhere.
fn resolve<'a>(t: &'a Topology, cluster: &str, name: &'a str) -> Option<&'a Service> {
    t.services_named(name)
        .find(|s| s.cluster == cluster)
        .or_else(|| t.services_named(name).next())
}

/// `r` with its namespace written out: the playground reads a resource
/// without one as `default`, while `kubectl apply` would put it in whatever
/// namespace the user's context names.
pub fn namespaced(r: &Resource) -> Resource {
    let mut r = r.clone();
    let m = match &mut r {
        Resource::VirtualService(o) => &mut o.metadata,
        Resource::DestinationRule(o) => &mut o.metadata,
        Resource::Gateway(o) => &mut o.metadata,
        Resource::PeerAuthentication(o) => &mut o.metadata,
        Resource::AuthorizationPolicy(o) => &mut o.metadata,
        Resource::RequestAuthentication(o) => &mut o.metadata,
    };
    if m.namespace.is_none() {
        m.namespace = Some(m.ns().to_string());
    }
    r
}

/// Exports `topology` with `rules` for Kubernetes and Istio.
pub fn kubernetes(topology: &Topology, rules: &[Resource], opts: &ExportOptions) -> Export {
    let mut out = Export::default();
    let multi = topology.clusters.len() > 1;
    for s in &topology.services {
        if s.external.is_some() {
            let callers: Vec<&str> = topology
                .services
                .iter()
                .filter(|c| c.external.is_none() && c.calls.contains(&s.name))
                .map(|c| c.name.as_str())
                .collect();
            let callers = if callers.is_empty() {
                String::new()
            } else {
                format!(
                    "; until then the calls of {} to {}:{} fail",
                    callers.join(", "),
                    s.fqdn(),
                    s.port
                )
            };
            out.notes.push(format!(
                "service '{}' in cluster '{}' is an external process on this machine, which a cluster cannot reach: left out (give it a ServiceEntry for {} and a WorkloadEntry of its real address in the cluster){callers}",
                s.name, s.cluster, s.fqdn()
            ));
        }
    }
    let rules: Vec<Resource> = rules.iter().map(namespaced).collect();
    let rules_text = crate::config::to_yaml(&rules);
    for c in &topology.clusters {
        let dir = &c.name;
        let mut file = |name: &str, text: String| {
            out.files.push(ExportFile {
                path: format!("{dir}/{name}"),
                text,
            })
        };
        file(
            "install/istio.yaml",
            to_yaml(&[objects::istio_operator(topology, c)]),
        );
        if multi {
            file(
                "install/eastwest-gateway.yaml",
                to_yaml(&[objects::eastwest_operator(&c.name)]),
            );
        }
        let mut namespaces: BTreeSet<String> = BTreeSet::new();
        let workloads = objects::workloads(topology, c, &opts.image, &mut namespaces);
        let rule_namespaces: BTreeSet<String> = rules
            .iter()
            .map(|r| r.metadata().ns().to_string())
            .collect();
        file(
            "namespaces.yaml",
            to_yaml(&objects::namespaces(&c.name, &namespaces, &rule_namespaces)),
        );
        file("workloads.yaml", to_yaml(&workloads));
        let gateways = objects::gateways(topology, c, multi);
        if !gateways.is_empty() {
            file("gateways.yaml", to_yaml(&gateways));
        }
        if !rules.is_empty() {
            file("rules.yaml", rules_text.clone());
        }
    }
    let readme = readme::render(topology, opts, &out);
    out.files.insert(
        0,
        ExportFile {
            path: "README.md".into(),
            text: readme,
        },
    );
    out
}

#[cfg(test)]
mod tests;
