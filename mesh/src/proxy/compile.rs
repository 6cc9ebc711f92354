//! Turns a snapshot from the control plane into what the data plane runs on:
//! host aliases, per-service routes, upstream clusters with their policies,
//! TLS configurations with each destination's identities, and the inbound
//! security policy. Anything that cannot be built is an error, which the
//! proxy sends back as a NACK while it keeps its last good config.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::ClientConfig;

use super::cluster::{cluster_name, ClusterManager, UpstreamCluster};
use super::routes::{CompiledRoute, RouteError};
use crate::config::model::{
    AuthorizationPolicy, Destination, DestinationRule, Object, Resource, TrafficPolicy,
    VirtualService,
};
use crate::config::scope;
use crate::control::snapshot::{ProxySnapshot, ServiceEntry};
use crate::identity::{tls, IdentityError, SpiffeId, TrustSet, TrustStore, WorkloadIdentity};

/// A service as the proxy routes to it.
#[derive(Debug)]
pub struct ServiceTarget {
    /// Name, namespace, port, identities, endpoints.
    pub entry: ServiceEntry,
    /// Routes, first match wins.
    pub routes: Vec<CompiledRoute>,
    /// The VirtualService that shaped the routes (`ns/name`).
    pub virtual_service: Option<String>,
}

/// Routes an ingress gateway applies for a set of hosts.
#[derive(Debug)]
pub struct IngressBinding {
    /// Host patterns (`shop.example.com`, `*.example.com`, `*`).
    pub hosts: Vec<String>,
    /// Routes.
    pub routes: Vec<CompiledRoute>,
    /// The VirtualService (`ns/name`).
    pub virtual_service: String,
}

/// The data plane's compiled configuration at one version.
#[derive(Debug, Default)]
pub struct CompiledConfig {
    /// Snapshot version.
    pub version: u64,
    /// Every name a service answers to, mapped to its FQDN.
    pub hosts: Arc<HashMap<String, String>>,
    /// Services by FQDN.
    pub services: Arc<HashMap<String, Arc<ServiceTarget>>>,
    /// Clusters by Envoy-style name.
    pub clusters: Arc<HashMap<String, Arc<UpstreamCluster>>>,
    /// Inbound mTLS mode.
    pub mtls_mode: String,
    /// Inbound authorization policies.
    pub authorization: Vec<Object<AuthorizationPolicy>>,
    /// The JWTs this proxy verifies (RequestAuthentication).
    pub jwt: Arc<super::jwt::Verifier>,
    /// Ingress routes (ingress gateways only).
    pub ingress: Arc<Vec<IngressBinding>>,
    /// The trust bundles of this version.
    pub trust: TrustSet,
}

/// What compilation needs besides the snapshot.
pub struct CompileInputs<'a> {
    /// The proxy's own certificate source.
    pub identity: &'a Arc<WorkloadIdentity>,
    /// The live trust store (verifiers read it at handshake time).
    pub trust: &'a Arc<TrustStore>,
    /// Cluster state that outlives versions.
    pub clusters: &'a ClusterManager,
    /// The proxy's namespace, for short names.
    pub namespace: &'a str,
    /// The snapshot in force and what it compiled to: what did not change
    /// is shared rather than built again (a thousand proxies recompile on
    /// every push, most often for a policy change alone).
    pub previous: Option<(&'a ProxySnapshot, &'a CompiledConfig)>,
}

impl CompiledConfig {
    /// The service a request host names (port and trailing dot ignored).
    pub fn lookup(&self, host: &str) -> Option<&Arc<ServiceTarget>> {
        let h = normalize_authority(host);
        self.hosts.get(&h).and_then(|fq| self.services.get(fq))
    }

    /// Short names of every known service, for "did you mean" hints.
    pub fn known_services(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .services
            .values()
            .map(|s| s.entry.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Lowercases a Host value and strips its port and trailing dot.
pub fn normalize_authority(host: &str) -> String {
    let h = host.trim().to_ascii_lowercase();
    let h = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, _)) => format!("[{ip}]"),
            None => h,
        }
    } else {
        match h.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
            _ => h,
        }
    };
    h.trim_end_matches('.').to_string()
}

/// Merges a subset's policy over the rule's, section by section, as Istio does.
fn merge_policy(base: Option<&TrafficPolicy>, over: Option<&TrafficPolicy>) -> TrafficPolicy {
    let mut p = base.cloned().unwrap_or_default();
    if let Some(o) = over {
        if o.load_balancer.is_some() {
            p.load_balancer = o.load_balancer.clone();
        }
        if o.connection_pool.is_some() {
            p.connection_pool = o.connection_pool.clone();
        }
        if o.outlier_detection.is_some() {
            p.outlier_detection = o.outlier_detection.clone();
        }
        if o.tls.is_some() {
            p.tls = o.tls.clone();
        }
    }
    p
}

/// Why a snapshot was refused (the proxy keeps its config and NACKs).
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The trust bundles do not parse.
    #[error("trust bundle: {0}")]
    TrustBundle(#[source] IdentityError),
    /// A service names an identity that is not a SPIFFE ID.
    #[error("service {service}: {source}")]
    ServiceIdentity {
        /// The service's hostname.
        service: String,
        /// What is wrong with the identity.
        source: IdentityError,
    },
    /// No mTLS client config for a service.
    #[error("TLS for {service}: {source}")]
    Tls {
        /// The service's hostname.
        service: String,
        /// Why.
        source: IdentityError,
    },
    /// A VirtualService route does not compile.
    #[error("VirtualService {name}: {source}")]
    VirtualService {
        /// `namespace/name`.
        name: String,
        /// Which route and why.
        source: RouteError,
    },
}

/// Compiles a snapshot.
pub fn compile(
    snap: &ProxySnapshot,
    inputs: &CompileInputs<'_>,
) -> Result<CompiledConfig, CompileError> {
    let previous = inputs
        .previous
        .filter(|(old, _)| old.trust_bundles == snap.trust_bundles);
    if let Some((old, compiled)) = previous {
        if old.services == snap.services
            && old.routing == snap.routing
            && old.gateways == snap.gateways
        {
            return Ok(CompiledConfig {
                hosts: Arc::clone(&compiled.hosts),
                services: Arc::clone(&compiled.services),
                clusters: Arc::clone(&compiled.clusters),
                ingress: Arc::clone(&compiled.ingress),
                trust: compiled.trust.clone(),
                ..security(snap)
            });
        }
    }
    let trust = match previous {
        Some((_, compiled)) => compiled.trust.clone(),
        None => {
            TrustSet::from_pem(snap.trust_bundles.clone()).map_err(CompileError::TrustBundle)?
        }
    };

    let mut hosts: HashMap<String, String> = HashMap::new();
    // The proxy's own namespace wins short names, as the Kubernetes DNS search path does.
    let mut ordered: Vec<&ServiceEntry> = snap.services.iter().collect();
    ordered.sort_by_key(|s| s.namespace != inputs.namespace);
    for s in ordered {
        let fq = s.hostname.clone();
        let mut aliases = vec![
            s.name.clone(),
            format!("{}.{}", s.name, s.namespace),
            format!("{}.{}.svc", s.name, s.namespace),
            fq.clone(),
        ];
        for td in snap.trust_bundles.keys() {
            aliases.push(format!("{}.{}.svc.{td}", s.name, s.namespace));
        }
        for a in aliases {
            hosts.entry(a).or_insert_with(|| fq.clone());
        }
    }

    let drs: Vec<&Object<DestinationRule>> = snap
        .routing
        .iter()
        .filter_map(|r| match r {
            Resource::DestinationRule(d) => Some(d),
            _ => None,
        })
        .collect();
    let vss: Vec<&Object<VirtualService>> = snap
        .routing
        .iter()
        .filter_map(|r| match r {
            Resource::VirtualService(v) => Some(v),
            _ => None,
        })
        .collect();

    let mut clusters = HashMap::new();
    let mut tls_by_service: HashMap<String, Arc<ClientConfig>> = HashMap::new();
    for s in &snap.services {
        let expected = s
            .identities
            .iter()
            .map(|i| i.parse::<SpiffeId>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CompileError::ServiceIdentity {
                service: s.hostname.clone(),
                source,
            })?;
        let tls = tls::outbound_client_config(
            Arc::clone(inputs.identity),
            Arc::clone(inputs.trust),
            expected,
        )
        .map_err(|source| CompileError::Tls {
            service: s.hostname.clone(),
            source,
        })?;
        tls_by_service.insert(s.hostname.clone(), Arc::clone(&tls));
        let dr = drs
            .iter()
            .find(|d| scope::host_matches(&d.spec.host, d.metadata.ns(), &s.name, &s.namespace));
        let dr_name = dr.map(|d| format!("{}/{}", d.metadata.ns(), d.metadata.name));
        let base = dr.and_then(|d| d.spec.traffic_policy.as_ref());
        let default = UpstreamCluster::new(
            inputs.clusters,
            &s.hostname,
            s.port,
            None,
            s.endpoints.clone(),
            Arc::clone(&tls),
            &merge_policy(base, None),
            dr_name.clone(),
        );
        clusters.insert(default.name.clone(), Arc::new(default));
        if let Some(dr) = dr {
            for subset in &dr.spec.subsets {
                let members = s
                    .endpoints
                    .iter()
                    .filter(|e| {
                        subset
                            .labels
                            .iter()
                            .all(|(k, v)| e.labels.get(k) == Some(v))
                    })
                    .cloned()
                    .collect();
                let c = UpstreamCluster::new(
                    inputs.clusters,
                    &s.hostname,
                    s.port,
                    Some(&subset.name),
                    members,
                    Arc::clone(&tls),
                    &merge_policy(base, subset.traffic_policy.as_ref()),
                    dr_name.clone(),
                );
                clusters.insert(c.name.clone(), Arc::new(c));
            }
        }
    }

    let resolve = |ns: &str| {
        let hosts = &hosts;
        let services = &snap.services;
        let ns = ns.to_string();
        move |d: &Destination| -> String {
            let fq = scope::normalize_host(&d.host, &ns);
            let fq = hosts
                .get(&fq)
                .or_else(|| hosts.get(&normalize_authority(&d.host)))
                .cloned()
                .unwrap_or(fq);
            let port = d
                .port
                .as_ref()
                .map(|p| p.number as u16)
                .or_else(|| services.iter().find(|s| s.hostname == fq).map(|s| s.port))
                .unwrap_or(0);
            cluster_name(port, d.subset.as_deref(), &fq)
        }
    };

    let mut services = HashMap::new();
    for s in &snap.services {
        let vs = vss.iter().find(|v| {
            scope::vs_applies_to_mesh(&v.spec)
                && v.spec
                    .hosts
                    .iter()
                    .any(|h| scope::host_matches(h, v.metadata.ns(), &s.name, &s.namespace))
        });
        let (routes, vs_name) = match vs {
            Some(v) => {
                let r = resolve(v.metadata.ns());
                let routes = compile_routes(v, &r)?;
                (
                    routes,
                    Some(format!("{}/{}", v.metadata.ns(), v.metadata.name)),
                )
            }
            None => (
                vec![CompiledRoute::default_to(cluster_name(
                    s.port,
                    None,
                    &s.hostname,
                ))],
                None,
            ),
        };
        services.insert(
            s.hostname.clone(),
            Arc::new(ServiceTarget {
                entry: s.clone(),
                routes,
                virtual_service: vs_name,
            }),
        );
    }

    let mut ingress = Vec::new();
    if !snap.gateways.is_empty() {
        for v in &vss {
            if v.spec.gateways.is_empty() {
                continue;
            }
            let r = resolve(v.metadata.ns());
            ingress.push(IngressBinding {
                hosts: v.spec.hosts.clone(),
                routes: compile_routes(v, &r)?,
                virtual_service: format!("{}/{}", v.metadata.ns(), v.metadata.name),
            });
        }
    }

    Ok(CompiledConfig {
        hosts: Arc::new(hosts),
        services: Arc::new(services),
        clusters: Arc::new(clusters),
        ingress: Arc::new(ingress),
        trust,
        ..security(snap)
    })
}

/// The parts of a compiled config that come from the snapshot's security
/// policies (and its version); the rest left empty.
fn security(snap: &ProxySnapshot) -> CompiledConfig {
    CompiledConfig {
        version: snap.version,
        mtls_mode: snap.mtls_mode.clone(),
        authorization: snap.authorization.clone(),
        jwt: Arc::new(super::jwt::Verifier::new(&snap.request_authentication)),
        ..CompiledConfig::default()
    }
}

fn compile_routes(
    v: &Object<VirtualService>,
    resolve: &dyn Fn(&Destination) -> String,
) -> Result<Vec<CompiledRoute>, CompileError> {
    v.spec
        .http
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = h
                .name
                .clone()
                .unwrap_or_else(|| format!("{}/{}#{i}", v.metadata.ns(), v.metadata.name));
            CompiledRoute::compile(h, name, resolve).map_err(|source| {
                CompileError::VirtualService {
                    name: format!("{}/{}", v.metadata.ns(), v.metadata.name),
                    source,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::snapshot::Endpoint;
    use crate::identity::CertificateAuthority;
    use crate::proxy::context::{ProxyContext, ProxyInfo};
    use crate::telemetry::trace::SpanSink;

    fn snapshot(root: &str, mode: &str, endpoint: &str) -> ProxySnapshot {
        ProxySnapshot {
            version: 1,
            services: vec![ServiceEntry {
                name: "billing".into(),
                namespace: "default".into(),
                hostname: "billing.default.svc.cluster.local".into(),
                port: 8080,
                identities: vec!["spiffe://eu.mesh/ns/default/sa/billing".into()],
                endpoints: vec![Endpoint {
                    address: endpoint.into(),
                    instance: "billing-v1-0".into(),
                    cluster: "eu".into(),
                    ..Default::default()
                }],
            }],
            trust_bundles: [("eu.mesh".to_string(), vec![root.to_string()])].into(),
            mtls_mode: mode.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_policy_change_shares_the_compiled_routing_and_a_routing_change_rebuilds_it() {
        let info = ProxyInfo::test_user();
        let (ctx, _events) = ProxyContext::new(info, SpanSink::disabled());
        let ca = CertificateAuthority::generate("eu.mesh").expect("CA");
        let root = ca.root_pem();
        ctx.apply(snapshot(root, "STRICT", "127.0.0.1:15006"))
            .expect("applies");
        let first = ctx.config();
        ctx.apply(snapshot(root, "PERMISSIVE", "127.0.0.1:15006"))
            .expect("applies");
        let policy_only = ctx.config();
        assert_eq!(policy_only.mtls_mode, "PERMISSIVE");
        assert!(Arc::ptr_eq(&first.clusters, &policy_only.clusters));
        assert!(Arc::ptr_eq(&first.services, &policy_only.services));
        ctx.apply(snapshot(root, "PERMISSIVE", "127.0.0.2:15006"))
            .expect("applies");
        let moved = ctx.config();
        assert!(!Arc::ptr_eq(&policy_only.clusters, &moved.clusters));
        let endpoints: Vec<String> = moved
            .clusters
            .values()
            .flat_map(|c| c.endpoints.iter().map(|e| e.address.clone()))
            .collect();
        assert!(
            endpoints.iter().all(|a| a == "127.0.0.2:15006"),
            "{endpoints:?}"
        );
    }

    #[test]
    fn authorities_are_normalized() {
        assert_eq!(normalize_authority("Billing:8080"), "billing");
        assert_eq!(
            normalize_authority("billing.default.svc.cluster.local."),
            "billing.default.svc.cluster.local"
        );
        assert_eq!(normalize_authority("[::1]:80"), "[::1]");
    }
}
