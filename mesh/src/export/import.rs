//! Kubernetes and Istio YAML (what `export` wrote, or a real cluster's
//! `kubectl get -o yaml` dump) read back into a topology and rules, so a
//! real mesh's shape can be rehearsed in the playground. Everything that
//! does not map is listed in [`Imported::unmapped`], never dropped in
//! silence.
//!
//! Which cluster a file belongs to: the first directory of its path below
//! the import root (`eu/workloads.yaml` is cluster `eu`), renamed by the
//! `IstioOperator`'s `clusterName` found there; files at the root belong to
//! one cluster, `primary`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{LOAD_PATHS, LOAD_RPS};
use crate::config::model::{Gateway, Object, Resource, VirtualService};
use crate::config::parse::parse;
use crate::config::scope::ROOT_NAMESPACE;
use crate::topology::{Cluster, Ingress, Latency, Load, Service, Topology, Version};
use crate::workload::standalone::WorkloadSpec;
use crate::yaml;

/// A file to import: its path relative to the import root, and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// `/`-separated, relative to the directory imported.
    pub path: String,
    /// Its YAML.
    pub text: String,
}

/// What an import gives back.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The mesh's shape.
    pub topology: Topology,
    /// Its Istio resources.
    pub rules: Vec<Resource>,
    /// What could not be mapped, one sentence each with its file.
    pub unmapped: Vec<String>,
}

/// Why nothing useful could be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No Deployment was found to make services of.
    #[error("no workloads found: the files hold no Deployment (give a directory `meshcon export kubernetes` wrote, or `kubectl get deploy,svc,sa -A -o yaml` output)")]
    NoWorkloads,
    /// What was found does not make a valid topology.
    #[error("the imported topology is not valid: {0}")]
    Invalid(String),
}

/// A Deployment, as far as the topology needs it.
struct Deploy {
    cluster: String,
    namespace: String,
    app: String,
    version: String,
    replicas: u32,
    service_account: Option<String>,
    /// The first container's first port, for a Deployment no Service selects.
    container_port: Option<u16>,
    spec: Option<WorkloadSpec>,
}

/// A Service: where, its name, first port and selector.
struct Svc {
    cluster: String,
    namespace: String,
    name: String,
    port: Option<u16>,
    selector: BTreeMap<String, String>,
}

/// A cluster from an IstioOperator.
struct ClusterInfo {
    name: String,
    trust_domain: String,
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn str_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), s(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Namespaces of Istio's and Kubernetes' own workloads (istiod, gateways,
/// DNS), which a real cluster's dump holds next to the mesh's services.
fn infrastructure(ns: &str) -> bool {
    ns == ROOT_NAMESPACE || ns.starts_with("kube-")
}

/// The directory naming a file's cluster.
fn dir_of(path: &str) -> String {
    match path.split_once('/') {
        Some((dir, _)) => dir.to_string(),
        None => "primary".to_string(),
    }
}

/// Reads `files` into a topology and rules.
pub fn import(files: &[SourceFile]) -> Result<Imported, ImportError> {
    let mut unmapped = Vec::new();
    let mut deploys: Vec<Deploy> = Vec::new();
    let mut services: Vec<Svc> = Vec::new();
    let mut clusters: BTreeMap<String, ClusterInfo> = BTreeMap::new();
    let mut mesh = None;
    let mut load: Option<Load> = None;
    // Istio resources per cluster directory.
    let mut resources: Vec<(String, String, Resource)> = Vec::new();
    for f in files {
        let dir = dir_of(&f.path);
        let parsed = parse(&f.path, &f.text);
        // Kinds meshcon's rules lack (MC0003) are named below, with what
        // the import made of them instead.
        for finding in parsed
            .findings
            .iter()
            .filter(|f| f.code != crate::config::codes::UNSUPPORTED_KIND)
        {
            unmapped.push(format!(
                "{}:{}:{}: {} ({}): {}",
                f.path,
                finding.pos.line,
                finding.pos.col,
                finding.resource,
                finding.code,
                finding.message
            ));
        }
        for p in parsed.resources {
            resources.push((dir.clone(), f.path.clone(), p.resource));
        }
        let docs = match yaml::parse_documents(&f.text) {
            Ok(d) => d,
            // The parse above reported the syntax error.
            Err(_) => continue,
        };
        let values = docs.into_iter().flat_map(|d| {
            if d.value["kind"] == "List" {
                d.value["items"].as_array().cloned().unwrap_or_default()
            } else {
                vec![d.value]
            }
        });
        for v in values {
            let kind = v["kind"].as_str().unwrap_or_default();
            let api = v["apiVersion"].as_str().unwrap_or_default();
            let ns = s(&v["metadata"]["namespace"]).unwrap_or_else(|| "default".into());
            let name = s(&v["metadata"]["name"]).unwrap_or_default();
            let what = format!("{}: {kind} {ns}/{name}", f.path);
            match (api, kind) {
                (_, "IstioOperator") => {
                    let values = &v["spec"]["values"]["global"];
                    match s(&values["multiCluster"]["clusterName"]) {
                        Some(cluster) => {
                            mesh = mesh.or_else(|| s(&values["meshID"]));
                            let td = s(&v["spec"]["meshConfig"]["trustDomain"])
                                .unwrap_or_else(|| "cluster.local".into());
                            clusters.insert(
                                dir.clone(),
                                ClusterInfo {
                                    name: cluster,
                                    trust_domain: td,
                                },
                            );
                            let ann = &v["metadata"]["annotations"];
                            if let (Some(rps), Some(paths)) = (s(&ann[LOAD_RPS]), s(&ann[LOAD_PATHS]))
                            {
                                load = Some(Load {
                                    rps: rps.parse().unwrap_or(Load::default().rps),
                                    paths: paths
                                        .split(',')
                                        .filter(|p| !p.is_empty())
                                        .map(str::to_string)
                                        .collect(),
                                });
                            }
                        }
                        // The east-west gateway's install: the playground
                        // joins clusters without being told.
                        None if v["spec"]["profile"] == "empty" => {}
                        None => unmapped.push(format!(
                            "{what}: an IstioOperator without values.global.multiCluster.clusterName; its settings are not imported"
                        )),
                    }
                }
                ("v1", "Namespace" | "ServiceAccount") => {}
                ("v1", "Service") => services.push(Svc {
                    cluster: dir.clone(),
                    namespace: ns,
                    name,
                    port: v["spec"]["ports"][0]["port"]
                        .as_u64()
                        .and_then(|p| u16::try_from(p).ok()),
                    selector: str_map(&v["spec"]["selector"]),
                }),
                ("apps/v1", "Deployment") if infrastructure(&ns) => unmapped.push(format!(
                    "{what}: part of Istio or Kubernetes itself (namespace {ns}), not a workload of the mesh; not imported"
                )),
                ("apps/v1", "Deployment") => {
                    deploys.push(deployment(&v, &dir, ns, name, &what, &mut unmapped))
                }
                _ if api.starts_with("networking.istio.io/")
                    || api.starts_with("security.istio.io/") =>
                {
                    // Read by `parse` above; kinds it skips are named there.
                    if !matches!(
                        kind,
                        "VirtualService"
                            | "DestinationRule"
                            | "Gateway"
                            | "PeerAuthentication"
                            | "AuthorizationPolicy"
                            | "RequestAuthentication"
                    ) {
                        unmapped.push(format!(
                            "{what}: meshcon's rules do not include {kind}; not imported"
                        ));
                    }
                }
                _ => unmapped.push(format!(
                    "{what}: no counterpart in a meshcon topology; not imported"
                )),
            }
        }
    }
    if deploys.is_empty() {
        return Err(ImportError::NoWorkloads);
    }
    let cluster_name = |dir: &str| {
        clusters
            .get(dir)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| dir.to_string())
    };
    // Clusters: those with an IstioOperator or workloads, in directory order.
    let dirs: BTreeSet<String> = clusters
        .keys()
        .cloned()
        .chain(deploys.iter().map(|d| d.cluster.clone()))
        .collect();
    let mut topo_clusters: Vec<Cluster> = Vec::new();
    for dir in &dirs {
        let (name, td) = match clusters.get(dir) {
            Some(c) => (c.name.clone(), c.trust_domain.clone()),
            None => {
                // Istio's default; several clusters need one each.
                let td = if dirs.len() == 1 {
                    "cluster.local".to_string()
                } else {
                    format!("{dir}.local")
                };
                unmapped.push(format!(
                    "cluster '{dir}': no IstioOperator names its trust domain; '{td}' is used"
                ));
                (dir.clone(), td)
            }
        };
        topo_clusters.push(Cluster {
            name,
            trust_domain: td,
            ingress: None,
        });
    }
    let topo_services = build_services(&deploys, &services, &cluster_name, &mut unmapped);
    let mut topo = Topology {
        mesh: mesh.unwrap_or_else(|| "imported".into()),
        clusters: topo_clusters,
        services: topo_services,
        load: load.unwrap_or_default(),
    };
    let rules = gateways_and_rules(&mut topo, resources, &cluster_name, &mut unmapped);
    // The topology's own checks (names, references, ranges) apply to what
    // was read, with its own messages.
    let yaml = topo.to_yaml();
    let topology = Topology::parse("imported topology", &yaml)
        .map_err(|e| ImportError::Invalid(e.to_string()))?;
    Ok(Imported {
        topology,
        rules,
        unmapped,
    })
}

fn deployment(
    v: &Value,
    dir: &str,
    ns: String,
    name: String,
    what: &str,
    unmapped: &mut Vec<String>,
) -> Deploy {
    let labels = str_map(&v["spec"]["template"]["metadata"]["labels"]);
    let app = labels
        .get("app")
        .or_else(|| labels.get("app.kubernetes.io/name"))
        .cloned()
        .unwrap_or_else(|| {
            unmapped.push(format!(
                "{what}: pods have no `app` label; the Deployment's name is used as the service"
            ));
            name.clone()
        });
    let version = labels.get("version").cloned().unwrap_or_else(|| {
        unmapped.push(format!(
            "{what}: pods have no `version` label; version v1 is used"
        ));
        "v1".into()
    });
    let container = &v["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .map(|a| a.iter().filter_map(s).collect())
        .unwrap_or_default();
    let spec = if args.first().map(String::as_str) == Some("workload") {
        match WorkloadSpec::from_args(&args) {
            Ok(spec) => Some(spec),
            Err(e) => {
                unmapped.push(format!(
                    "{what}: `meshcon workload` arguments not understood ({e}); default behaviour used"
                ));
                None
            }
        }
    } else {
        unmapped.push(format!(
            "{what}: runs image {}, not `meshcon workload`: its latency, errors and calls are unknown, so the playground's defaults are used (1ms, no errors, no calls)",
            container["image"].as_str().unwrap_or("?")
        ));
        None
    };
    Deploy {
        cluster: dir.to_string(),
        namespace: ns,
        app,
        version,
        replicas: v["spec"]["replicas"]
            .as_u64()
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(1),
        service_account: s(&v["spec"]["template"]["spec"]["serviceAccountName"]),
        container_port: container["ports"][0]["containerPort"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok()),
        spec,
    }
}

fn build_services(
    deploys: &[Deploy],
    services: &[Svc],
    cluster_name: &dyn Fn(&str) -> String,
    unmapped: &mut Vec<String>,
) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    for d in deploys {
        let cluster = cluster_name(&d.cluster);
        let svc = services.iter().find(|s| {
            s.cluster == d.cluster
                && s.namespace == d.namespace
                && !s.selector.is_empty()
                && s.selector.get("app") == Some(&d.app)
        });
        let port = svc
            .and_then(|s| s.port)
            .or(d.spec.as_ref().map(|s| s.listen.port()))
            .or(d.container_port)
            .unwrap_or(8080);
        let version = Version {
            name: d.version.clone(),
            replicas: d.replicas,
            latency: d
                .spec
                .as_ref()
                .map(|s| s.latency)
                .unwrap_or(Latency::default()),
            error_rate: d.spec.as_ref().map(|s| s.error_rate).unwrap_or(0.0),
        };
        let calls: Vec<String> = d
            .spec
            .as_ref()
            .map(|s| s.calls.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        let existing = out
            .iter_mut()
            .find(|s| s.cluster == cluster && s.namespace == d.namespace && s.name == d.app);
        match existing {
            Some(s) => {
                s.versions.push(version);
                for c in calls {
                    if !s.calls.contains(&c) {
                        s.calls.push(c);
                    }
                }
            }
            None => out.push(Service {
                name: d.app.clone(),
                cluster,
                namespace: d.namespace.clone(),
                service_account: d.service_account.clone().filter(|sa| *sa != d.app),
                port,
                versions: vec![version],
                calls,
                external: None,
            }),
        }
    }
    for s in services {
        let known = out
            .iter()
            .any(|o| o.name == s.name && o.namespace == s.namespace);
        if known {
            continue;
        }
        if infrastructure(&s.namespace) || (s.namespace == "default" && s.name == "kubernetes") {
            unmapped.push(format!(
                "Service {}/{} in cluster '{}': part of Istio or Kubernetes itself; not imported",
                s.namespace,
                s.name,
                cluster_name(&s.cluster)
            ));
        } else {
            unmapped.push(format!(
                "Service {}/{} in cluster '{}': no Deployment in any cluster runs its pods; not imported",
                s.namespace,
                s.name,
                cluster_name(&s.cluster)
            ));
        }
    }
    // A call to a service that was not imported (an external process the
    // export left out, a Deployment of another namespace skipped) cannot
    // stay: the topology would not load.
    let names: BTreeSet<String> = out.iter().map(|s| s.name.clone()).collect();
    for s in &mut out {
        s.calls.retain(|c| {
            let known = names.contains(c);
            if !known {
                unmapped.push(format!(
                    "service '{}' in cluster '{}' calls '{c}', which no imported Deployment serves; the call is left out",
                    s.name, s.cluster
                ));
            }
            known
        });
    }
    out
}

/// Whether `gw` and `vs` say exactly what the topology's `ingress` in
/// `cluster` says, i.e. are what `export` writes for it (object names
/// aside): only then may the topology's ingress stand for them, or a
/// match, a timeout or a plain-HTTP port would be lost.
fn is_plain_ingress(
    topo: &Topology,
    cluster: &str,
    ingress: &Ingress,
    gw: &Object<Gateway>,
    vs: &VirtualService,
) -> bool {
    if topo.services_named(&ingress.service).next().is_none() {
        return false;
    }
    let mut t = topo.clone();
    let Some(c) = t.clusters.iter_mut().find(|c| c.name == cluster) else {
        return false;
    };
    c.ingress = Some(ingress.clone());
    let c = c.clone();
    let expected = parse(
        "ingress",
        &super::to_yaml(&super::objects::gateways(&t, &c, false)),
    );
    match expected
        .resources
        .iter()
        .map(|p| &p.resource)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [Resource::Gateway(eg), Resource::VirtualService(ev)] => {
            let mut ev = ev.spec.clone();
            // Bound to `gw` whatever its name (checked by the caller).
            ev.gateways = vs.gateways.clone();
            eg.spec == gw.spec && ev == *vs
        }
        _ => false,
    }
}

/// Takes the gateways the topology models out of the resources (the
/// east-west passthrough Gateway, each cluster's ingress Gateway and its
/// VirtualService) and returns the rest as rules, one copy of each.
fn gateways_and_rules(
    topo: &mut Topology,
    resources: Vec<(String, String, Resource)>,
    cluster_name: &dyn Fn(&str) -> String,
    unmapped: &mut Vec<String>,
) -> Vec<Resource> {
    let mut consumed = vec![false; resources.len()];
    // The playground joins its clusters by itself: the east-west Gateway
    // `export` writes (Istio's `expose-services.yaml`) says nothing more.
    // One that exposes less, or other ports, stays a rule.
    let passthrough = parse(
        "cross-network",
        &super::to_yaml(&super::objects::gateways(
            topo,
            &Cluster {
                name: String::new(),
                trust_domain: String::new(),
                ingress: None,
            },
            true,
        )),
    )
    .resources;
    for (i, (_, _, r)) in resources.iter().enumerate() {
        if let (Resource::Gateway(g), Some(Resource::Gateway(expected))) =
            (r, passthrough.first().map(|p| &p.resource))
        {
            consumed[i] = g.spec == expected.spec;
        }
    }
    for (gi, (dir, _, r)) in resources.iter().enumerate() {
        let Resource::Gateway(g) = r else { continue };
        if g.spec.selector.get("istio").map(String::as_str) != Some("ingressgateway") {
            continue;
        }
        let cluster = cluster_name(dir);
        if topo.cluster(&cluster).is_none_or(|c| c.ingress.is_some()) {
            continue;
        }
        let gw_ns = g.metadata.ns();
        let full = format!("{gw_ns}/{}", g.metadata.name);
        let bound = resources.iter().enumerate().find_map(|(vi, (d, _, r))| {
            let Resource::VirtualService(vs) = r else {
                return None;
            };
            let binds = vs
                .spec
                .gateways
                .iter()
                .any(|x| *x == full || (*x == g.metadata.name && vs.metadata.ns() == gw_ns));
            let dest = vs
                .spec
                .http
                .first()?
                .route
                .first()?
                .destination
                .host
                .clone();
            let service = dest.split('.').next()?.to_string();
            let ingress = Ingress {
                hosts: vs.spec.hosts.clone(),
                service,
            };
            (d == dir && binds && is_plain_ingress(topo, &cluster, &ingress, g, &vs.spec))
                .then_some((vi, ingress))
        });
        match bound {
            Some((vi, ingress)) => {
                if let Some(c) = topo.clusters.iter_mut().find(|c| c.name == cluster) {
                    c.ingress = Some(ingress);
                    consumed[gi] = true;
                    consumed[vi] = true;
                }
            }
            None => unmapped.push(format!(
                "cluster '{cluster}': Gateway {full} is not the plain HTTPS ingress a meshcon topology models (one host list, one route to one service, as `export` writes it); the topology gets no ingress and the Gateway and its VirtualServices are kept as rules"
            )),
        }
    }
    let mut rules: Vec<Resource> = Vec::new();
    for ((_, file, r), used) in resources.into_iter().zip(consumed) {
        if used {
            continue;
        }
        match rules.iter().find(|x| x.key() == r.key()) {
            None => rules.push(r),
            Some(x) if *x == r => {}
            Some(_) => unmapped.push(format!(
                "{file}: {} differs from the same-named resource of another cluster; the first one read is kept",
                r.key()
            )),
        }
    }
    rules
}
