//! A topology drawn from what a real mesh's metrics show: the clusters,
//! services and versions that answered, who called whom, and the ingress
//! gateway's first hop. The console's graph and map walk a topology, so a
//! real mesh gets one made of observations instead of a file.

use std::collections::BTreeMap;

use crate::proto::Workload;
use crate::telemetry::golden::{EdgeSignal, ServiceSignal};
use crate::topology::{Cluster, Ingress, Latency, Load, Service, Topology, Version};

/// A service as observed: no versions yet, no calls.
fn service(name: &str, cluster: &str, namespace: &str) -> Service {
    Service {
        name: name.to_string(),
        cluster: cluster.to_string(),
        namespace: if namespace.is_empty() {
            "default".into()
        } else {
            namespace.to_string()
        },
        service_account: None,
        port: 8080,
        versions: Vec::new(),
        calls: Vec::new(),
        external: None,
    }
}

/// A version seen answering (one replica as far as the metrics tell).
fn version(name: &str) -> Version {
    Version {
        name: name.to_string(),
        replicas: 1,
        latency: Latency::default(),
        error_rate: 0.0,
    }
}

/// The topology the observations describe, named `mesh`.
pub fn topology(
    mesh: &str,
    services: &[ServiceSignal],
    edges: &[EdgeSignal],
    workloads: &[Workload],
) -> Topology {
    let mut clusters: Vec<String> = services
        .iter()
        .map(|s| s.cluster.clone())
        .chain(workloads.iter().map(|w| w.cluster.clone()))
        .collect();
    clusters.sort();
    clusters.dedup();
    // A service is named once per cluster it answers in.
    let mut by: BTreeMap<(String, String), Service> = BTreeMap::new();
    for s in services {
        let e = by
            .entry((s.cluster.clone(), s.service.clone()))
            .or_insert_with(|| service(&s.service, &s.cluster, &s.namespace));
        if !e.versions.iter().any(|v| v.name == s.version) {
            e.versions.push(version(&s.version));
        }
    }
    // Callers seen only as callers (a load generator, a job) still appear.
    for w in workloads.iter().filter(|w| w.kind == "sidecar") {
        by.entry((w.cluster.clone(), w.service.clone()))
            .or_insert_with(|| {
                let mut s = service(&w.service, &w.cluster, &w.namespace);
                s.versions.push(version(if w.version.is_empty() {
                    "-"
                } else {
                    &w.version
                }));
                s
            });
    }
    // Callers are workloads; their service is what the workload list says.
    // Edges name a caller by instance (a real mesh's Deployment) or by
    // `service-version` (meshcon's workloads).
    let mut caller_service: BTreeMap<String, String> = BTreeMap::new();
    for w in workloads {
        caller_service.insert(format!("{}-{}", w.service, w.version), w.service.clone());
        caller_service.insert(w.instance.clone(), w.service.clone());
    }
    let service_of = |workload: &str| caller_service.get(workload).cloned();
    let mut ingress: BTreeMap<String, String> = BTreeMap::new();
    for e in edges {
        let gateway = workloads
            .iter()
            .any(|w| w.instance == e.source && w.kind == "ingress-gateway")
            || e.source.contains("ingressgateway");
        if gateway {
            ingress
                .entry(e.source_cluster.clone())
                .or_insert_with(|| e.service.clone());
            continue;
        }
        let Some(caller) = service_of(&e.source) else {
            continue;
        };
        for (_, s) in by.iter_mut().filter(|((_, n), _)| *n == caller) {
            if !s.calls.contains(&e.service) {
                s.calls.push(e.service.clone());
            }
        }
    }
    let mut services: Vec<Service> = by.into_values().collect();
    for s in &mut services {
        s.calls.sort();
    }
    Topology {
        mesh: mesh.to_string(),
        clusters: clusters
            .into_iter()
            .map(|name| Cluster {
                ingress: ingress.get(&name).map(|svc| Ingress {
                    hosts: Vec::new(),
                    service: svc.clone(),
                }),
                trust_domain: String::new(),
                name,
            })
            .collect(),
        services,
        load: Load::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_the_ingress_come_from_edges() {
        let svc = |c: &str, s: &str, v: &str| ServiceSignal {
            cluster: c.into(),
            namespace: "default".into(),
            service: s.into(),
            version: v.into(),
            ..Default::default()
        };
        let edge = |src: &str, s: &str| EdgeSignal {
            source: src.into(),
            source_cluster: "eu".into(),
            service: s.into(),
            version: "v1".into(),
            destination_cluster: "eu".into(),
            ..Default::default()
        };
        let wl = |kind: &str, s: &str, v: &str, inst: &str| Workload {
            kind: kind.into(),
            cluster: "eu".into(),
            service: s.into(),
            version: v.into(),
            instance: inst.into(),
            ..Default::default()
        };
        let t = topology(
            "prod",
            &[
                svc("eu", "web", "v1"),
                svc("eu", "api", "v1"),
                svc("eu", "api", "v2"),
            ],
            &[edge("istio-ingressgateway", "web"), edge("web-v1", "api")],
            &[
                wl(
                    "ingress-gateway",
                    "istio-ingressgateway",
                    "",
                    "istio-ingressgateway",
                ),
                wl("sidecar", "web", "v1", "web-v1"),
            ],
        );
        assert_eq!(t.clusters.len(), 1);
        assert_eq!(
            t.clusters[0].ingress.as_ref().map(|i| i.service.as_str()),
            Some("web")
        );
        let web = t.services.iter().find(|s| s.name == "web").expect("web");
        assert_eq!(web.calls, vec!["api".to_string()]);
        let api = t.services.iter().find(|s| s.name == "api").expect("api");
        assert_eq!(api.versions.len(), 2);
    }
}
