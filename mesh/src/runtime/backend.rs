//! The running mesh as the console API sees it.

use std::sync::Arc;
use std::time::Duration;

use super::{Mesh, RuntimeError};
use crate::config::scope;
use crate::control::console::{Backend, ProxyTap};
use crate::control::events::EventBus;
use crate::control::federation::FederationStatus;
use crate::control::store::ConfigStore;
use crate::control::ControlPlane;
use crate::identity::certinfo;
use crate::proto::{self, ChaosRequest, TrustDomain, WorkloadList};
use crate::telemetry::exact::EdgeStat;
use crate::topology::Topology;
use crate::workload::app::Chaos;

/// Why the console API refused a chaos action or an explanation. The
/// messages go to the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The mesh could not do what was asked.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// `fail` with a share of requests outside (0, 1].
    #[error("fail takes a share of requests above 0 and at most 1, not {0}")]
    FailShare(f64),
    /// `federate` or `unfederate` without two clusters.
    #[error("give two clusters: eu,us")]
    TwoClusters,
    /// A chaos action that does not exist.
    #[error("unknown chaos action '{0}' (slow, fail, heal, kill, restart, stop-control-plane, start-control-plane, stop-gateway, start-gateway, rogue, unfederate, federate, rotate-root)")]
    UnknownAction(String),
    /// An explanation asked for from a workload that is not running.
    #[error("no running workload '{0}' (pick one from `meshcon get workloads`)")]
    NoSuchWorkload(String),
}

/// Adapts a [`Mesh`] to the console API.
#[derive(Debug, Clone)]
pub struct MeshBackend {
    mesh: Mesh,
}

impl MeshBackend {
    /// A backend over `mesh`.
    pub fn new(mesh: Mesh) -> Self {
        Self { mesh }
    }
}

fn addr(a: Option<std::net::SocketAddr>) -> Option<String> {
    a.map(|a| a.to_string())
}

#[tonic::async_trait]
impl Backend for MeshBackend {
    type Error = BackendError;

    async fn workloads(&self) -> WorkloadList {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for cp in self.mesh.control_planes() {
            let entries = cp.with_registry(|r| r.entries().cloned().collect::<Vec<_>>());
            for e in entries {
                seen.insert(e.id());
                out.push(proto::Workload {
                    kind: e.kind.as_str().into(),
                    cluster: e.instance.cluster.clone(),
                    namespace: e.instance.namespace.clone(),
                    service: e.instance.service.clone(),
                    version: e.instance.version.clone(),
                    instance: e.instance.name.clone(),
                    spiffe_id: e.spiffe_id.to_string(),
                    addresses: Some(proto::Addresses {
                        app: addr(e.addresses.app),
                        inbound: addr(e.addresses.inbound),
                        outbound: addr(e.addresses.outbound),
                        admin: addr(e.addresses.admin),
                    }),
                    ready: e.ready,
                    cert_not_after: e.cert_not_after.clone(),
                    cert_serial: e.cert_serial.clone(),
                    rotations: e.certs_issued.saturating_sub(1),
                    issuer: e.issuer.clone(),
                    external: e.external,
                });
            }
        }
        // Killed instances and stopped gateways leave the registry but not
        // the mesh: listed, not ready, so the console can show them down.
        let stopped = |kind: &str,
                       inst: &crate::topology::Instance,
                       a: &crate::control::registry::Addresses| {
            let td = self
                .mesh
                .topology()
                .cluster(&inst.cluster)
                .map(|c| c.trust_domain.clone())
                .unwrap_or_default();
            proto::Workload {
                kind: kind.into(),
                cluster: inst.cluster.clone(),
                namespace: inst.namespace.clone(),
                service: inst.service.clone(),
                version: inst.version.clone(),
                instance: inst.name.clone(),
                spiffe_id: format!(
                    "spiffe://{td}/ns/{}/sa/{}",
                    inst.namespace, inst.service_account
                ),
                addresses: Some(proto::Addresses {
                    app: addr(a.app),
                    inbound: addr(a.inbound),
                    outbound: addr(a.outbound),
                    admin: addr(a.admin),
                }),
                ready: false,
                ..Default::default()
            }
        };
        for (id, w) in self.mesh.workload_addresses().await {
            if !seen.contains(&id) {
                let mut wl = stopped("sidecar", &w.instance, &w.addresses);
                wl.external = w.external;
                out.push(wl);
            }
        }
        for (id, g) in self.mesh.gateway_addresses() {
            if !seen.contains(&id) {
                let inst = crate::runtime::gateway_instance(&g.cluster, g.kind);
                out.push(stopped(g.kind.as_str(), &inst, &g.addresses));
            }
        }
        out.sort_by(|a, b| {
            (&a.cluster, &a.kind, &a.service, &a.instance).cmp(&(
                &b.cluster,
                &b.kind,
                &b.service,
                &b.instance,
            ))
        });
        let resources = self.mesh.store().current().resources.clone();
        let mode = scope::mtls_mode_for(&resources, "default", &Default::default());
        let trust_domains = self
            .mesh
            .control_planes()
            .iter()
            .map(|cp| {
                let info = certinfo::inspect(cp.ca().root_der()).ok();
                TrustDomain {
                    cluster: cp.cluster().to_string(),
                    trust_domain: cp.trust_domain().to_string(),
                    root_fingerprint: cp.ca().fingerprint(),
                    root_not_after: info
                        .map(|i| certinfo::rfc3339(i.not_after))
                        .unwrap_or_default(),
                    mtls_mode: mode.clone(),
                }
            })
            .collect();
        WorkloadList {
            workloads: out,
            mesh: self.mesh.topology().mesh.clone(),
            trust_domains,
        }
    }

    fn topology(&self) -> &Topology {
        self.mesh.topology()
    }

    fn store(&self) -> Arc<ConfigStore> {
        Arc::clone(self.mesh.store())
    }

    fn events(&self) -> Arc<EventBus> {
        Arc::clone(self.mesh.events())
    }

    fn control_planes(&self) -> Vec<ControlPlane> {
        self.mesh.control_planes()
    }

    async fn chaos(&self, req: ChaosRequest) -> Result<String, BackendError> {
        let target = req.target.as_str();
        let list = |v: Vec<String>| v.join(", ");
        // "auth-v1-0 answers", "billing-v1-0, billing-v1-1 answer".
        let verb =
            |v: &[String], base: &str| format!("{base}{}", if v.len() == 1 { "s" } else { "" });
        match req.action.as_str() {
            "slow" => {
                let delay = if req.delay_ms == 0 { 200 } else { req.delay_ms };
                self.mesh
                    .update_chaos(target, |c| c.delay_ms = delay)
                    .await
                    .map(|v| format!("{} now {} {delay} ms slower", list(v.clone()), verb(&v, "answer")))
            }
            "fail" => {
                if !(0.0..=1.0).contains(&req.error_rate) {
                    return Err(BackendError::FailShare(req.error_rate));
                }
                let rate = if req.error_rate == 0.0 { 1.0 } else { req.error_rate };
                self.mesh
                    .update_chaos(target, |c| c.error_rate = Some(rate))
                    .await
                    .map(|v| format!("{} now {} {:.0}% of requests with 503", list(v.clone()), verb(&v, "fail"), rate * 100.0))
            }
            "heal" => self
                .mesh
                .update_chaos(target, |c| *c = Chaos::default())
                .await
                .map(|v| format!("{} healed", list(v))),
            "kill" => self.mesh.kill(target).await.map(|v| format!("killed {}", list(v))),
            "restart" => self.mesh.restart(target).await.map(|v| format!("restarted {}", list(v))),
            "stop-control-plane" => self
                .mesh
                .stop_control_plane(target)
                .await
                .map(|_| format!("control plane of {target} stopped; its proxies keep their last config")),
            "start-control-plane" => self
                .mesh
                .start_control_plane(target)
                .await
                .map(|_| format!("control plane of {target} started; proxies reconnect and resync")),
            "stop-gateway" => self.mesh.stop_eastwest(target).await.map(|_| format!("east-west gateway of {target} stopped")),
            "start-gateway" => self.mesh.start_eastwest(target).await.map(|_| format!("east-west gateway of {target} started")),
            "rogue" => self.mesh.rogue(target).await,
            "unfederate" | "federate" => {
                let (a, b) = target.split_once(',').ok_or(BackendError::TwoClusters)?;
                let r = if req.action == "unfederate" { self.mesh.unfederate(a, b) } else { self.mesh.federate(a, b) };
                r.map(|_| format!("{a} and {b} {}federated", if req.action == "unfederate" { "no longer " } else { "" }))
            }
            "rotate-root" => self.mesh.rotate_root(target).await.map(|fp| {
                format!(
                    "{target}: new root {} is trusted by every proxy and federated peer and signs now; the old root is retired once every proxy of {target} has renewed",
                    crate::control::server::short_fp(&fp)
                )
            }),
            other => return Err(BackendError::UnknownAction(other.to_string())),
        }
        .map_err(BackendError::from)
    }

    async fn latency(&self, window: Duration) -> Vec<EdgeStat> {
        let contexts = self.mesh.proxy_contexts().await;
        crate::telemetry::exact::merged(contexts.iter().map(|c| &c.latencies), window)
    }

    async fn taps(&self) -> Vec<ProxyTap> {
        self.mesh
            .proxy_contexts()
            .await
            .iter()
            .map(|c| ProxyTap {
                instance: c.info.instance.clone(),
                cluster: c.info.cluster.clone(),
                recent: c.tap.recent(100),
                live: c.tap.subscribe(),
            })
            .collect()
    }

    async fn explain(&self, req: crate::proto::ExplainRequest) -> Result<String, BackendError> {
        let contexts = self.mesh.proxy_contexts().await;
        let ctx = contexts
            .iter()
            .find(|c| c.info.instance == req.source || c.info.id == req.source)
            .ok_or_else(|| BackendError::NoSuchWorkload(req.source.clone()))?;
        Ok(crate::proxy::explain::explain(ctx, &req))
    }

    async fn federation(&self) -> FederationStatus {
        self.mesh.federation_status().await
    }
}
