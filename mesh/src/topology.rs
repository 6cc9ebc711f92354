//! Topology files: the clusters, services, versions, replicas, behaviour and
//! calls of a mesh. `demo/two-clusters.yaml` is the default.
//!
//! Parsing keeps positions, so every mistake is reported as `file:line:col`
//! with what was wrong and what to write instead.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::yaml::{self, Pos, SpanIndex};

/// The default demo topology, embedded in the binary.
pub const DEMO_TWO_CLUSTERS: &str = include_str!("../../demo/two-clusters.yaml");

/// The most instances of one version: each is a demo app and a sidecar in
/// this process, with its own listeners and certificate.
pub const MAX_REPLICAS: u32 = 64;

/// The longest app latency a demo version may have (fixed, p50 or p99): the
/// demo apps answer within it, and `up` waits for them to be ready.
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

/// A topology file mistake, with its position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{pos}: {message}")]
pub struct TopologyError {
    /// The file name as the user gave it.
    pub file: String,
    /// Where in the file.
    pub pos: Pos,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A mistake the semantic checks found, before the file name is attached.
struct Mistake {
    pos: Pos,
    message: String,
}

impl Mistake {
    fn at(pos: Pos, message: String) -> Self {
        Self { pos, message }
    }
}

/// A whole mesh: clusters, services and the demo load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Topology {
    /// A name for the mesh, shown by the console.
    #[serde(default = "default_mesh_name")]
    pub mesh: String,
    /// The clusters, each with its own control plane, CA and trust domain.
    pub clusters: Vec<Cluster>,
    /// The services; the same name may appear in several clusters.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Steady demo traffic through the ingress.
    #[serde(default)]
    pub load: Load,
}

fn default_mesh_name() -> String {
    "meshcon".into()
}

/// A cluster: its own control plane, CA and trust domain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name, e.g. `eu`.
    pub name: String,
    /// SPIFFE trust domain of its CA, e.g. `eu.mesh`.
    pub trust_domain: String,
    /// The ingress gateway, if this cluster has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Ingress>,
}

/// An ingress gateway terminating TLS for external clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ingress {
    /// Host names its certificate covers and its default route answers.
    pub hosts: Vec<String>,
    /// The service the default route sends traffic to.
    pub service: String,
}

/// A service in one cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// Service name, e.g. `billing`.
    pub name: String,
    /// The cluster it runs in.
    pub cluster: String,
    /// Kubernetes-style namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Service account (the `sa` of its SPIFFE ID); defaults to the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The port callers address the service on (default 8080).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Versions with their replicas and behaviour (demo apps).
    #[serde(default)]
    pub versions: Vec<Version>,
    /// Services this one calls for every request (by name).
    #[serde(default)]
    pub calls: Vec<String>,
    /// An existing process joining the mesh instead of a demo app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
}

fn default_namespace() -> String {
    "default".into()
}

fn default_port() -> u16 {
    8080
}

impl Service {
    /// The service account, defaulting to the service name.
    pub fn service_account(&self) -> &str {
        self.service_account.as_deref().unwrap_or(&self.name)
    }

    /// `name.namespace.svc.cluster.local`, the canonical host.
    pub fn fqdn(&self) -> String {
        fqdn(&self.name, &self.namespace)
    }
}

/// `name.namespace.svc.cluster.local`.
pub fn fqdn(name: &str, namespace: &str) -> String {
    format!("{name}.{namespace}.svc.cluster.local")
}

/// A version of a service: how many replicas and how its demo app behaves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Version {
    /// Version label, e.g. `v2`.
    pub name: String,
    /// Instances of this version (default 1).
    #[serde(default = "one")]
    pub replicas: u32,
    /// Response latency of the app itself.
    #[serde(default)]
    pub latency: Latency,
    /// Fraction of requests the app answers with 503, 0.0 to 1.0.
    #[serde(default)]
    pub error_rate: f64,
}

fn one() -> u32 {
    1
}

/// App latency: a fixed value (`latency: 50ms`) or a log-normal
/// distribution given by its median and 99th percentile.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Latency {
    /// Always the same.
    Fixed(#[serde(with = "crate::duration::serde_go")] Duration),
    /// Log-normal.
    Distribution {
        /// Median.
        #[serde(with = "crate::duration::serde_go")]
        p50: Duration,
        /// 99th percentile.
        #[serde(with = "crate::duration::serde_go")]
        p99: Duration,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed(Duration::from_millis(1))
    }
}

/// An existing process joining the mesh.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct External {
    /// The app's server: a sidecar is put in front of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<SocketAddr>,
    /// Pins the sidecar's outbound listener, so an existing client can send
    /// `Host: <service>` requests to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<SocketAddr>,
    /// Version label of the instance.
    #[serde(default = "default_version")]
    pub version: String,
}

fn default_version() -> String {
    "v1".into()
}

/// Demo traffic sent through the ingress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Load {
    /// Requests per second (0 turns the load generator off).
    #[serde(default = "default_rps")]
    pub rps: f64,
    /// Paths requested in turn.
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
}

fn default_rps() -> f64 {
    10.0
}

fn default_paths() -> Vec<String> {
    vec!["/".into()]
}

impl Default for Load {
    fn default() -> Self {
        Self {
            rps: default_rps(),
            paths: default_paths(),
        }
    }
}

/// One workload instance of the topology ("a pod").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instance {
    /// The cluster it runs in.
    pub cluster: String,
    /// Its service's namespace.
    pub namespace: String,
    /// The service it is an instance of.
    pub service: String,
    /// Its version label (`v1`), which subsets select.
    pub version: String,
    /// Index within the version.
    pub index: u32,
    /// Instance name, e.g. `billing-v1-0`.
    pub name: String,
    /// Its service account, the `sa` of its SPIFFE ID.
    pub service_account: String,
}

impl Instance {
    /// A unique proxy id: `name.namespace.cluster`.
    pub fn id(&self) -> String {
        format!("{}.{}.{}", self.name, self.namespace, self.cluster)
    }

    /// The workload name Istio's metrics use (`billing-v1`).
    pub fn workload(&self) -> String {
        format!("{}-{}", self.service, self.version)
    }
}

impl Topology {
    /// Parses and checks a topology file.
    pub fn parse(file: &str, src: &str) -> Result<Self, TopologyError> {
        // Names and values from the file reach terminals: escaped, an ESC
        // or NUL in them shows as text instead of acting on the terminal.
        let err = |pos: Pos, message: String| TopologyError {
            file: yaml::escape_control(file),
            pos,
            message: yaml::escape_control(&message),
        };
        let doc = yaml::parse_one(src).map_err(|e| err(e.pos, e.message))?;
        if doc.value.is_null() {
            return Err(err(doc.start, "the topology file is empty".into()));
        }
        let topo: Topology = serde_path_to_error::deserialize(doc.value.clone()).map_err(|e| {
            let path = e.path().to_string();
            let pos = doc.spans.nearest(&path);
            let inner = e.into_inner().to_string();
            let message = if path == "." || path.is_empty() {
                inner
            } else {
                format!("{path}: {inner}")
            };
            err(pos, message)
        })?;
        topo.check(&doc.spans).map_err(|m| err(m.pos, m.message))?;
        Ok(topo)
    }

    /// The embedded demo topology.
    pub fn demo() -> Self {
        // The demo file is checked by a unit test; failing here would be a build defect.
        Self::parse("demo/two-clusters.yaml", DEMO_TWO_CLUSTERS)
            .unwrap_or_else(|e| panic!("embedded demo topology is invalid: {e}"))
    }

    fn check(&self, spans: &SpanIndex) -> Result<(), Mistake> {
        let at = |path: String| spans.nearest(&path);
        if self.clusters.is_empty() {
            return Err(Mistake::at(
                at("clusters".into()),
                "at least one cluster is needed".into(),
            ));
        }
        let mut names = BTreeSet::new();
        let mut tds = BTreeSet::new();
        for (i, c) in self.clusters.iter().enumerate() {
            let p = format!("clusters[{i}]");
            if !is_dns_label(&c.name) {
                return Err(Mistake::at(
                    at(format!("{p}.name")),
                    format!(
                        "cluster name '{}' must be a DNS label (a-z, 0-9, -)",
                        c.name
                    ),
                ));
            }
            if !names.insert(c.name.as_str()) {
                return Err(Mistake::at(
                    at(format!("{p}.name")),
                    format!("cluster '{}' is defined twice", c.name),
                ));
            }
            if let Err(e) = crate::identity::SpiffeId::trust_domain_id(&c.trust_domain) {
                return Err(Mistake::at(at(format!("{p}.trustDomain")), e.to_string()));
            }
            if !tds.insert(c.trust_domain.as_str()) {
                return Err(Mistake::at(
                    at(format!("{p}.trustDomain")),
                    format!(
                        "trust domain '{}' is used by two clusters; each cluster needs its own",
                        c.trust_domain
                    ),
                ));
            }
            if let Some(ing) = &c.ingress {
                if ing.hosts.is_empty() {
                    return Err(Mistake::at(
                        at(format!("{p}.ingress.hosts")),
                        "an ingress needs at least one host".into(),
                    ));
                }
                for (j, h) in ing.hosts.iter().enumerate() {
                    if !is_ingress_host(h) {
                        return Err(Mistake::at(
                            at(format!("{p}.ingress.hosts[{j}]")),
                            format!(
                                "ingress host {h:?} must be a DNS name such as shop.example.com (lowercase letters, digits, '-' and '.', at most 253 characters; '*.' may start it)"
                            ),
                        ));
                    }
                }
                if !self.services.iter().any(|s| s.name == ing.service) {
                    return Err(Mistake::at(
                        at(format!("{p}.ingress.service")),
                        format!(
                            "ingress service '{}' is not defined under services",
                            ing.service
                        ),
                    ));
                }
            }
        }
        let known: BTreeSet<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        let mut seen = BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let p = format!("services[{i}]");
            for (field, v) in [("name", &s.name), ("namespace", &s.namespace)] {
                if !is_dns_label(v) {
                    return Err(Mistake::at(
                        at(format!("{p}.{field}")),
                        format!("{field} '{v}' must be a DNS label (a-z, 0-9, -)"),
                    ));
                }
            }
            if !names.contains(s.cluster.as_str()) {
                let list: Vec<&str> = names.iter().copied().collect();
                return Err(Mistake::at(
                    at(format!("{p}.cluster")),
                    format!(
                        "cluster '{}' is not defined (clusters: {})",
                        s.cluster,
                        list.join(", ")
                    ),
                ));
            }
            if !seen.insert((s.name.as_str(), s.namespace.as_str(), s.cluster.as_str())) {
                return Err(Mistake::at(
                    at(format!("{p}.name")),
                    format!(
                        "service '{}' is defined twice in cluster '{}'",
                        s.name, s.cluster
                    ),
                ));
            }
            if s.port == 0 {
                return Err(Mistake::at(
                    at(format!("{p}.port")),
                    "port must be 1-65535".into(),
                ));
            }
            for (j, call) in s.calls.iter().enumerate() {
                if !known.contains(call.as_str()) {
                    return Err(Mistake::at(
                        at(format!("{p}.calls[{j}]")),
                        format!(
                            "'{}' calls '{call}', which is not defined under services",
                            s.name
                        ),
                    ));
                }
            }
            match (&s.external, s.versions.is_empty()) {
                (Some(_), false) => {
                    return Err(Mistake::at(
                        at(format!("{p}.external")),
                        "a service is either external or has versions, not both".into(),
                    ))
                }
                (None, true) => {
                    return Err(Mistake::at(
                        at(format!("{p}.versions")),
                        format!("service '{}' needs versions (or external)", s.name),
                    ))
                }
                _ => {}
            }
            let mut vnames = BTreeSet::new();
            for (j, v) in s.versions.iter().enumerate() {
                let vp = format!("{p}.versions[{j}]");
                if !is_dns_label(&v.name) {
                    return Err(Mistake::at(
                        at(format!("{vp}.name")),
                        format!("version '{}' must be a DNS label", v.name),
                    ));
                }
                if !vnames.insert(v.name.as_str()) {
                    return Err(Mistake::at(
                        at(format!("{vp}.name")),
                        format!("version '{}' is defined twice", v.name),
                    ));
                }
                if !(0.0..=1.0).contains(&v.error_rate) {
                    return Err(Mistake::at(
                        at(format!("{vp}.errorRate")),
                        format!("errorRate {} must be between 0.0 and 1.0", v.error_rate),
                    ));
                }
                let slowest = match v.latency {
                    Latency::Fixed(d) => d,
                    Latency::Distribution { p50, p99 } => p50.max(p99),
                };
                if slowest > MAX_LATENCY {
                    return Err(Mistake::at(
                        at(format!("{vp}.latency")),
                        format!(
                            "latency {} is longer than the maximum of {}s for a demo app",
                            crate::duration::format(slowest),
                            MAX_LATENCY.as_secs()
                        ),
                    ));
                }
                if let Latency::Distribution { p50, p99 } = v.latency {
                    if p99 < p50 {
                        return Err(Mistake::at(
                            at(format!("{vp}.latency")),
                            "latency p99 must not be below p50".into(),
                        ));
                    }
                }
                if v.replicas > MAX_REPLICAS {
                    return Err(Mistake::at(
                        at(format!("{vp}.replicas")),
                        format!("at most {MAX_REPLICAS} replicas per version"),
                    ));
                }
            }
            if let Some(ext) = &s.external {
                if ext.app.is_none() && ext.outbound.is_none() {
                    return Err(Mistake::at(
                        at(format!("{p}.external")),
                        "external needs app: HOST:PORT, outbound: HOST:PORT, or both".into(),
                    ));
                }
            }
        }
        if !(0.0..=10_000.0).contains(&self.load.rps) {
            return Err(Mistake::at(
                at("load.rps".into()),
                "load.rps must be between 0 and 10000".into(),
            ));
        }
        Ok(())
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// Every workload instance, in a stable order.
    pub fn instances(&self) -> Vec<Instance> {
        let mut out = Vec::new();
        for s in &self.services {
            let base = |version: &str, index: u32| Instance {
                cluster: s.cluster.clone(),
                namespace: s.namespace.clone(),
                service: s.name.clone(),
                version: version.to_string(),
                index,
                name: format!("{}-{version}-{index}", s.name),
                service_account: s.service_account().to_string(),
            };
            match &s.external {
                Some(ext) => out.push(base(&ext.version, 0)),
                None => {
                    for v in &s.versions {
                        for i in 0..v.replicas {
                            out.push(base(&v.name, i));
                        }
                    }
                }
            }
        }
        out
    }

    /// The service definitions for `name` in every cluster.
    pub fn services_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Service> + 'a {
        self.services.iter().filter(move |s| s.name == name)
    }

    /// The definition of the service behind an instance.
    pub fn service_of(&self, inst: &Instance) -> Option<&Service> {
        self.services.iter().find(|s| {
            s.name == inst.service && s.namespace == inst.namespace && s.cluster == inst.cluster
        })
    }

    /// The version definition behind an instance (None for external ones).
    pub fn version_of(&self, inst: &Instance) -> Option<&Version> {
        self.service_of(inst)?
            .versions
            .iter()
            .find(|v| v.name == inst.version)
    }

    /// Trust domain by cluster name.
    pub fn trust_domains(&self) -> BTreeMap<String, String> {
        self.clusters
            .iter()
            .map(|c| (c.name.clone(), c.trust_domain.clone()))
            .collect()
    }

    /// The topology as YAML text.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

/// A lowercase RFC 1123 label.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A host an ingress certificate can name: a lowercase DNS name, possibly
/// a wildcard one (`*.example.com`).
fn is_ingress_host(h: &str) -> bool {
    let name = h.strip_prefix("*.").unwrap_or(h);
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_topology_is_the_documented_mesh() {
        let t = Topology::demo();
        let names: Vec<_> = t.clusters.iter().map(|c| c.trust_domain.as_str()).collect();
        assert_eq!(names, ["eu.mesh", "us.mesh"]);
        let inst = t.instances();
        let count = |svc: &str, ver: &str| {
            inst.iter()
                .filter(|i| i.service == svc && i.version == ver)
                .count()
        };
        assert_eq!(count("frontend", "v1"), 2);
        assert_eq!(count("billing", "v1"), 2);
        assert_eq!(count("billing", "v2"), 1);
        assert_eq!(count("catalog", "v1"), 1);
        let eu = t.cluster("eu").expect("eu");
        assert_eq!(
            eu.ingress.as_ref().map(|i| i.hosts.clone()),
            Some(vec!["shop.example.com".to_string()])
        );
        let user = t.services_named("user").next().expect("user");
        assert_eq!(user.calls, ["billing"]);
    }

    fn parse_err(src: &str) -> TopologyError {
        Topology::parse("t.yaml", src).expect_err("must fail")
    }

    #[test]
    fn unknown_fields_point_at_their_line() {
        let e = parse_err("clusters:\n- name: eu\n  trustDomain: eu.mesh\n  colour: red\n");
        assert_eq!(e.pos.line, 4, "{e}");
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert!(e.to_string().starts_with("t.yaml:4:"), "{e}");
    }

    #[test]
    fn bad_references_are_explained() {
        let e = parse_err(
            "clusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n- name: a\n  cluster: eu\n  versions: [{name: v1}]\n  calls: [nope]\n",
        );
        assert_eq!(e.pos.line, 8, "{e}");
        assert!(e.message.contains("'nope'"), "{e}");
        let e = parse_err(
            "clusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n- name: a\n  cluster: mars\n  versions: [{name: v1}]\n",
        );
        assert_eq!(e.pos.line, 6, "{e}");
        assert!(e.message.contains("cluster 'mars' is not defined"), "{e}");
    }

    #[test]
    fn bad_values_are_explained() {
        let e = parse_err(
            "clusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n- name: a\n  cluster: eu\n  versions:\n  - name: v1\n    latency: fast\n",
        );
        assert_eq!(e.pos.line, 9, "{e}");
        let e = parse_err(
            "clusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n- name: a\n  cluster: eu\n  versions:\n  - name: v1\n    errorRate: 2\n",
        );
        assert!(e.message.contains("between 0.0 and 1.0"), "{e}");
        let e = parse_err("clusters:\n- name: eu\n  trustDomain: EU\n");
        assert!(e.message.contains("trust domain"), "{e}");
        let e = parse_err("clusters: [\n");
        assert!(e.pos.line >= 1);
    }

    #[test]
    fn ingress_hosts_must_be_dns_names() {
        for host in [
            "\"\"",
            "\"*\"",
            "\"a\\r\\nb.example.com\"",
            "\"ex ample.com\"",
        ] {
            let e = parse_err(&format!(
                "clusters:\n- name: eu\n  trustDomain: eu.mesh\n  ingress:\n    service: a\n    hosts:\n    - ok.example.com\n    - {host}\nservices:\n- name: a\n  cluster: eu\n  versions: [{{name: v1}}]\n"
            ));
            assert_eq!((e.pos.line, e.pos.col), (8, 7), "{e}");
            assert!(e.message.contains("must be a DNS name"), "{e}");
        }
    }

    #[test]
    fn latency_is_bounded() {
        let e = parse_err(
            "clusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n- name: a\n  cluster: eu\n  versions:\n  - name: v1\n    latency: 100000h\n",
        );
        assert_eq!(e.pos.line, 9, "{e}");
        assert!(e.message.contains("maximum of 60s"), "{e}");
    }

    #[test]
    fn external_workloads_parse() {
        let t = Topology::parse(
            "t.yaml",
            "clusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n- name: ref\n  cluster: eu\n  external: {app: 127.0.0.1:3000}\n- name: client\n  cluster: eu\n  external: {outbound: '127.0.0.1:15001'}\n  calls: [ref]\n",
        )
        .expect("valid");
        let inst = t.instances();
        assert_eq!(inst.len(), 2);
        assert_eq!(inst[0].name, "ref-v1-0");
        let ext = t.services[1].external.as_ref().expect("external");
        assert_eq!(ext.outbound, Some("127.0.0.1:15001".parse().expect("addr")));
    }
}
