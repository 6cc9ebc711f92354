//! The Kubernetes and Istio objects of one cluster, as JSON values in the
//! shape `kubectl apply` and `istioctl install` read.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use serde_json::{json, Value};

use super::{ingress_secret, network, resolve, LOAD_PATHS, LOAD_RPS, MANAGED_BY};
use crate::config::scope::ROOT_NAMESPACE;
use crate::topology::{Cluster, Service, Topology};
use crate::workload::standalone::{TraceMode, WorkloadSpec};

/// The port every workload container listens on; the Service maps the
/// topology's port to it. One port above 1024 for all: the image runs as
/// a non-root user, who cannot bind a topology's port 80.
const CONTAINER_PORT: u16 = 8080;

/// Labels every generated object carries.
fn labels(extra: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in extra.iter().chain([&MANAGED_BY]) {
        m.insert(k.to_string(), json!(v));
    }
    Value::Object(m)
}

/// The control plane of one cluster: Istio's multi-primary, multi-network
/// settings (mesh, cluster name, network) and the cluster's own trust
/// domain, which accepts the other clusters' as aliases: the playground's
/// federated trust domains.
pub(super) fn istio_operator(t: &Topology, c: &Cluster) -> Value {
    let aliases: Vec<&str> = t
        .clusters
        .iter()
        .filter(|o| o.name != c.name)
        .map(|o| o.trust_domain.as_str())
        .collect();
    let mut mesh_config = json!({ "trustDomain": c.trust_domain });
    if !aliases.is_empty() {
        mesh_config["trustDomainAliases"] = json!(aliases);
    }
    let paths = t.load.paths.join(",");
    json!({
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {
            "name": format!("{}-{}", t.mesh, c.name),
            "namespace": ROOT_NAMESPACE,
            "labels": labels(&[]),
            // The demo load is not a cluster object; kept here so an import
            // gives the same topology back.
            "annotations": { LOAD_RPS: t.load.rps.to_string(), LOAD_PATHS: paths },
        },
        "spec": {
            "profile": "default",
            "meshConfig": mesh_config,
            "values": {
                "global": {
                    "meshID": t.mesh,
                    "multiCluster": { "clusterName": c.name },
                    "network": network(&c.name),
                },
            },
            "components": {
                "ingressGateways": [{
                    "name": "istio-ingressgateway",
                    "enabled": c.ingress.is_some(),
                }],
            },
        },
    })
}

/// The east-west gateway as Istio's `gen-eastwest-gateway.sh --network`
/// builds it: its own deployment, labelled with the network, exposing
/// 15443 for mTLS passthrough (and istiod's ports for remote clusters).
pub(super) fn eastwest_operator(cluster: &str) -> Value {
    let net = network(cluster);
    json!({
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": { "name": "eastwest", "namespace": ROOT_NAMESPACE, "labels": labels(&[]) },
        "spec": {
            "profile": "empty",
            "components": {
                "ingressGateways": [{
                    "name": "istio-eastwestgateway",
                    "label": {
                        "istio": "eastwestgateway",
                        "app": "istio-eastwestgateway",
                        "topology.istio.io/network": net,
                    },
                    "enabled": true,
                    "k8s": {
                        // Traffic through this gateway stays inside its network.
                        "env": [{ "name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": net }],
                        "service": {
                            "ports": [
                                { "name": "status-port", "port": 15021, "targetPort": 15021 },
                                { "name": "tls", "port": 15443, "targetPort": 15443 },
                                { "name": "tls-istiod", "port": 15012, "targetPort": 15012 },
                                { "name": "tls-webhook", "port": 15017, "targetPort": 15017 },
                            ],
                        },
                    },
                }],
            },
            "values": {
                "gateways": { "istio-ingressgateway": { "injectionTemplate": "gateway" } },
                "global": { "network": net },
            },
        },
    })
}

/// `istio-system` with the cluster's network (Istio reads it there), and
/// the workloads' namespaces labelled for sidecar injection. Namespaces
/// only rules use are created plain.
pub(super) fn namespaces(
    cluster: &str,
    workload_ns: &BTreeSet<String>,
    rule_ns: &BTreeSet<String>,
) -> Vec<Value> {
    let mut out = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ROOT_NAMESPACE,
            "labels": labels(&[("topology.istio.io/network", &network(cluster))]),
        },
    })];
    for ns in workload_ns.union(rule_ns) {
        if ns == ROOT_NAMESPACE {
            continue;
        }
        let l = if workload_ns.contains(ns) {
            labels(&[("istio-injection", "enabled")])
        } else {
            labels(&[])
        };
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": ns, "labels": l },
        }));
    }
    out
}

fn service_object(s: &Service) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": s.name,
            "namespace": s.namespace,
            "labels": labels(&[("app", &s.name)]),
        },
        "spec": {
            "selector": { "app": s.name },
            // A port named `http` tells Istio the protocol.
            "ports": [{ "name": "http", "port": s.port, "targetPort": CONTAINER_PORT, "protocol": "TCP" }],
        },
    })
}

/// Service accounts, Services and Deployments of the services in `c`, and
/// a Service for every service `c` calls that runs elsewhere. Records the
/// namespaces used in `namespaces`.
pub(super) fn workloads(
    t: &Topology,
    c: &Cluster,
    image: &str,
    namespaces: &mut BTreeSet<String>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let local: Vec<&Service> = t
        .services
        .iter()
        .filter(|s| s.cluster == c.name && s.external.is_none())
        .collect();
    for s in &local {
        namespaces.insert(s.namespace.clone());
        out.push(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": s.service_account(),
                "namespace": s.namespace,
                "labels": labels(&[("app", &s.name)]),
            },
        }));
        out.push(service_object(s));
        let calls: Vec<(String, String)> = s
            .calls
            .iter()
            .filter_map(|name| {
                let callee = resolve(t, &c.name, name)?;
                Some((name.clone(), format!("{}:{}", callee.fqdn(), callee.port)))
            })
            .collect();
        for v in &s.versions {
            let spec = WorkloadSpec {
                service: s.name.clone(),
                version: v.name.clone(),
                cluster: c.name.clone(),
                listen: SocketAddr::from(([0, 0, 0, 0], CONTAINER_PORT)),
                latency: v.latency,
                error_rate: v.error_rate,
                calls: calls.clone(),
                trace: TraceMode::Forward,
            };
            let pod_labels = json!({ "app": s.name, "version": v.name });
            out.push(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": format!("{}-{}", s.name, v.name),
                    "namespace": s.namespace,
                    "labels": labels(&[("app", &s.name), ("version", &v.name)]),
                },
                "spec": {
                    "replicas": v.replicas,
                    "selector": { "matchLabels": pod_labels },
                    "template": {
                        "metadata": { "labels": pod_labels },
                        "spec": {
                            "serviceAccountName": s.service_account(),
                            "containers": [{
                                "name": s.name,
                                "image": image,
                                "args": spec.to_args(),
                                "ports": [{ "name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP" }],
                            }],
                        },
                    },
                },
            }));
        }
    }
    // A caller's cluster must know the name: Istio merges the endpoints of
    // same-named Services across clusters, and DNS needs the Service.
    let mut remote: Vec<&Service> = Vec::new();
    let ingress_target = c.ingress.as_ref().map(|i| i.service.as_str());
    let called = local
        .iter()
        .flat_map(|s| s.calls.iter().map(String::as_str))
        .chain(ingress_target);
    for name in called {
        if local.iter().any(|s| s.name == name) {
            continue;
        }
        // An external process gets no Service: export.rs notes it instead.
        if let Some(callee) = resolve(t, &c.name, name).filter(|s| s.external.is_none()) {
            if !remote
                .iter()
                .any(|r| r.name == callee.name && r.namespace == callee.namespace)
            {
                remote.push(callee);
            }
        }
    }
    for s in remote {
        namespaces.insert(s.namespace.clone());
        out.push(service_object(s));
    }
    out
}

/// The east-west gateway's passthrough Gateway (as Istio's
/// `expose-services.yaml`) and the ingress Gateway and VirtualService.
pub(super) fn gateways(t: &Topology, c: &Cluster, multi: bool) -> Vec<Value> {
    let mut out = Vec::new();
    if multi {
        out.push(json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": { "name": "cross-network-gateway", "namespace": ROOT_NAMESPACE, "labels": labels(&[]) },
            "spec": {
                "selector": { "istio": "eastwestgateway" },
                "servers": [{
                    "port": { "number": 15443, "name": "tls", "protocol": "TLS" },
                    // SNI names the destination service; mTLS stays end to end.
                    "tls": { "mode": "AUTO_PASSTHROUGH" },
                    "hosts": ["*.local"],
                }],
            },
        }));
    }
    let Some(ing) = &c.ingress else {
        return out;
    };
    let Some(target) = resolve(t, &c.name, &ing.service) else {
        return out;
    };
    let name = format!("{}-ingress", t.mesh);
    out.push(json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": { "name": name, "namespace": ROOT_NAMESPACE, "labels": labels(&[]) },
        "spec": {
            "selector": { "istio": "ingressgateway" },
            "servers": [{
                "port": { "number": 443, "name": "https", "protocol": "HTTPS" },
                "hosts": ing.hosts,
                // The Secret lives next to the gateway's pods, in istio-system.
                "tls": { "mode": "SIMPLE", "credentialName": ingress_secret(&t.mesh) },
            }],
        },
    }));
    out.push(json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": { "name": name, "namespace": target.namespace, "labels": labels(&[]) },
        "spec": {
            "hosts": ing.hosts,
            "gateways": [format!("{ROOT_NAMESPACE}/{name}")],
            "http": [{
                "route": [{
                    "destination": { "host": target.fqdn(), "port": { "number": target.port } },
                }],
            }],
        },
    }));
    out
}
