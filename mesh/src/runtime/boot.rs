//! Starting a mesh: binding every address, then per cluster a CA and a
//! control plane, per instance an app and its sidecar, the gateways, the
//! console API and the load generator, and waiting until traffic flows end
//! to end. Also how one workload or gateway starts, which restarts reuse.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::plan::{self, Bound, WorkloadListeners};
use super::{
    backend, gateway_identity, gateway_instance, token, AddressPlan, ClusterRt, GatewayAddresses,
    Inner, Mesh, MeshOptions, RunningApp, RuntimeError, WorkloadRt,
};
use crate::control::events::{EventBus, EventKind};
use crate::control::registry::{Addresses, ProxyKind, WorkloadEntry};
use crate::control::store::ConfigStore;
use crate::control::ControlPlane;
use crate::gateway::{eastwest, ingress};
use crate::identity::{tls, CertificateAuthority, SpiffeId};
use crate::proxy::context::{ProxyContext, ProxyInfo};
use crate::proxy::sidecar::{start_sidecar, AgentSpec, ProxyHandle, SidecarListeners};
use crate::telemetry::trace::SpanSink;
use crate::topology::Instance;
use crate::workload::app::{App, AppSpec};
use crate::workload::loadgen;

impl Mesh {
    /// Starts a mesh and returns when it serves traffic.
    pub async fn start(opts: MeshOptions) -> Result<Mesh, RuntimeError> {
        crate::state::private_dir(&opts.state_dir).map_err(|source| RuntimeError::State {
            path: opts.state_dir.clone(),
            source,
        })?;
        let topology = opts.topology.clone();
        let bound = match plan::bind_all(&topology, opts.plan, opts.api, opts.ingress).await {
            Ok(b) => b,
            Err(e) if opts.plan == AddressPlan::Loopback => {
                tracing::info!(error = %e, "loopback address plan unavailable; using ephemeral ports");
                eprintln!("meshcon: the per-pod loopback addresses are taken ({e}); using ephemeral ports on 127.0.0.1");
                let api = opts.api;
                let ingress = opts.ingress;
                plan::bind_all(&topology, AddressPlan::Ephemeral, api, ingress).await?
            }
            Err(e) => return Err(e.into()),
        };
        Self::start_bound(opts, bound).await
    }

    async fn start_bound(opts: MeshOptions, mut bound: Bound) -> Result<Mesh, RuntimeError> {
        let topology = opts.topology.clone();
        let store = Arc::new(ConfigStore::open_recovering(
            &opts.state_dir.join("config.db"),
        )?);
        let events = Arc::new(EventBus::default());
        for w in store.warnings() {
            tracing::warn!("{w}");
            events.emit(EventKind::Config, "", "store", w.clone());
        }
        let api_token = crate::state::load_or_create_token(&opts.state_dir).map_err(|source| {
            RuntimeError::State {
                path: crate::state::token_file(&opts.state_dir),
                source,
            }
        })?;
        let cancel = CancellationToken::new();
        let ca_dir = opts.state_dir.join("ca");

        let federation_token = token();
        let mut clusters = BTreeMap::new();
        for c in &topology.clusters {
            let ca = Arc::new(CertificateAuthority::load_or_create(
                &ca_dir,
                &c.name,
                Some(&c.trust_domain),
            )?);
            let cp = ControlPlane::new(&c.name, ca, store.subscribe(), Arc::clone(&events));
            cp.set_federation_token(&federation_token);
            let listener = bound.control_planes.remove(&c.name).ok_or_else(|| {
                RuntimeError::NotReady(format!("no listener for control plane {}", c.name))
            })?;
            let addr = listener.local_addr()?;
            let rt = ClusterRt {
                cp,
                addr,
                channel: crate::control::client::channel(addr),
                serving: Mutex::new(None),
            };
            rt.serve(listener, &cancel);
            clusters.insert(c.name.clone(), rt);
        }

        // Ingress CA: what outside clients trust (`<state>/ingress-ca.pem`).
        let ingress_ca = CertificateAuthority::load_or_create(&opts.state_dir, "ingress-ca", None)?;
        let ingress_cluster = topology.clusters.iter().find(|c| c.ingress.is_some());
        let ingress_host = ingress_cluster
            .and_then(|c| c.ingress.as_ref())
            .and_then(|i| i.hosts.first().cloned());
        let ingress_addr = ingress_cluster
            .and_then(|c| bound.ingress.get(&c.name))
            .and_then(|g| g.main.local_addr().ok());
        let api_addr = bound.api.local_addr()?;

        let inner = Arc::new(Inner {
            topology: topology.clone(),
            plan: bound.plan,
            opts: opts.clone(),
            store,
            events,
            clusters,
            workloads: tokio::sync::Mutex::new(BTreeMap::new()),
            gateways: tokio::sync::Mutex::new(BTreeMap::new()),
            gateway_addrs: Mutex::new(BTreeMap::new()),
            api_addr,
            ingress_addr,
            ingress_host: ingress_host.clone(),
            ingress_ca_pem: ingress_ca.root_pem().to_string(),
            cancel: cancel.clone(),
            tasks: Mutex::new(Vec::new()),
            load: Mutex::new(None),
            federation_token,
            links: Mutex::new(BTreeMap::new()),
            held: Mutex::new(BTreeMap::new()),
            workers: super::workers::Workers::start(opts.dataplane_threads).map_err(|e| {
                RuntimeError::NotReady(format!("cannot start the data-plane threads: {e}"))
            })?,
        });
        let mesh = Mesh { inner };
        mesh.spawn_federation();

        // Workloads: register, then start apps and sidecars.
        let mut waits = Vec::new();
        for inst in topology.instances() {
            let Some(listeners) = bound.workloads.remove(&inst.id()) else {
                continue;
            };
            let id = mesh.start_workload(&inst, listeners).await?;
            waits.push(id);
        }
        // Gateways.
        for c in &topology.clusters {
            if let (Some(ing), Some(l)) = (&c.ingress, bound.ingress.remove(&c.name)) {
                let (cert, key) =
                    ingress_ca.issue_server(&ing.hosts, Duration::from_secs(30 * 24 * 3600))?;
                let tls = tls::edge_server_config(&cert, &key)?;
                mesh.start_ingress(&c.name, &ing.hosts, &ing.service, l, tls)
                    .await?;
            }
            if let Some(l) = bound.eastwest.remove(&c.name) {
                mesh.start_eastwest_gateway(&c.name, l).await?;
            }
        }

        // Ready: every proxy has a certificate and a config; then endpoints are pushed.
        let deadline = Duration::from_secs(30);
        {
            let wl = mesh.inner.workloads.lock().await;
            for (id, w) in wl.iter() {
                if let Some(p) = &w.proxy {
                    if !p.wait_ready(deadline).await {
                        return Err(RuntimeError::NotReady(format!(
                            "sidecar {id} did not become ready within {deadline:?}"
                        )));
                    }
                }
            }
        }
        for (id, g) in mesh.inner.gateways.lock().await.iter() {
            if !g.wait_ready(deadline).await {
                return Err(RuntimeError::NotReady(format!(
                    "gateway {id} did not become ready"
                )));
            }
        }
        mesh.mark_all_ready().await;
        mesh.wait_settled(Duration::from_secs(10)).await;

        // The console API.
        let api_listener = bound.api;
        let backend = backend::MeshBackend::new(mesh.clone());
        let api_cancel = cancel.clone();
        let api_task = tokio::spawn(async move {
            if let Err(e) =
                crate::control::console::serve(api_listener, backend, &api_token, api_cancel).await
            {
                tracing::error!(error = %e, "console API stopped");
            }
        });
        mesh.track(api_task);

        // Prove the path works end to end before calling the mesh ready.
        if let Some(client) = mesh.ingress_client() {
            let probe_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let last = match client
                    .get("/", &[("user-agent", "meshcon-readiness")])
                    .await
                {
                    Ok(a) if a.status == 200 => break,
                    Ok(a) => format!(
                        "the last answer was {}: {}",
                        a.status,
                        String::from_utf8_lossy(&a.body).trim()
                    ),
                    Err(e) => format!("the last try failed: {e}"),
                };
                if tokio::time::Instant::now() > probe_deadline {
                    return Err(RuntimeError::NotReady(format!(
                        "the ingress did not answer 200 within 10 s ({last})"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let rps = opts.rps.unwrap_or(topology.load.rps);
            let stats = loadgen::spawn(
                client,
                rps,
                topology.load.paths.clone(),
                cancel.child_token(),
            );
            *mesh.inner.load.lock() = Some(stats);
        }
        // SQLite and older meshcons created files with the umask's mode.
        if let Err(e) = crate::state::make_private(&opts.state_dir) {
            tracing::warn!(error = %e, dir = %opts.state_dir.display(), "cannot make the state directory private");
        }
        mesh.inner
            .events
            .emit(EventKind::Mesh, "", "runtime", "mesh ready");
        Ok(mesh)
    }

    fn span_sink(&self, info: &ProxyInfo) -> SpanSink {
        let Some(rt) = self.inner.clusters.get(&info.cluster) else {
            return SpanSink::disabled();
        };
        if self.inner.opts.trace_sampling <= 0.0 {
            return SpanSink::disabled();
        }
        let mut targets = vec![crate::control::client::channel(rt.addr)];
        targets.extend(
            self.inner
                .opts
                .otlp
                .iter()
                .map(|a| crate::control::client::channel(*a)),
        );
        SpanSink::spawn_exporter(
            // Istio names the service `<app>.<namespace>`; the workload (a
            // Deployment on Kubernetes) rides along as `k8s.deployment.name`.
            vec![
                (
                    "service.name".into(),
                    format!("{}.{}", info.service, info.namespace),
                ),
                ("service.version".into(), info.version.clone()),
                ("k8s.deployment.name".into(), info.workload()),
                ("service.namespace".into(), info.namespace.clone()),
                ("service.instance.id".into(), info.instance.clone()),
                ("k8s.cluster.name".into(), info.cluster.clone()),
            ],
            targets,
            self.inner.opts.trace_sampling,
            self.inner.cancel.child_token(),
        )
    }

    pub(super) async fn start_workload(
        &self,
        inst: &Instance,
        l: WorkloadListeners,
    ) -> Result<String, RuntimeError> {
        let topo = &self.inner.topology;
        let svc = topo
            .service_of(inst)
            .ok_or_else(|| RuntimeError::NotFound(format!("no service for {}", inst.name)))?;
        let rt = self
            .inner
            .clusters
            .get(&inst.cluster)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster {}", inst.cluster)))?;
        let td = rt.cp.trust_domain().to_string();
        let spiffe_id = SpiffeId::workload(&td, &inst.namespace, &inst.service_account)?;
        let external = svc.external.clone();
        let app_addr = match (&l.app, &external) {
            (Some(a), _) => Some(a.local_addr()?),
            (None, Some(e)) => e.app,
            _ => None,
        };
        let addresses = Addresses {
            app: app_addr,
            inbound: l.inbound.as_ref().map(|x| x.local_addr()).transpose()?,
            outbound: Some(l.outbound.local_addr()?),
            admin: Some(l.admin.local_addr()?),
        };
        let tok = token();
        rt.cp.update_registry(|r| {
            r.upsert(WorkloadEntry {
                kind: ProxyKind::Sidecar,
                instance: inst.clone(),
                spiffe_id: spiffe_id.clone(),
                token: tok.clone(),
                addresses: addresses.clone(),
                port: svc.port,
                ready: false,
                external: external.is_some(),
                cert_serial: String::new(),
                cert_not_after: String::new(),
                certs_issued: 0,
                issuer: String::new(),
                cert_root: String::new(),
                scope: if external.is_some() {
                    None
                } else {
                    Some(svc.calls.clone())
                },
            })
        });
        let info = ProxyInfo {
            id: inst.id(),
            kind: ProxyKind::Sidecar,
            cluster: inst.cluster.clone(),
            namespace: inst.namespace.clone(),
            service: inst.service.clone(),
            version: inst.version.clone(),
            instance: inst.name.clone(),
            spiffe_id,
            pod_ip: (self.inner.plan == AddressPlan::Loopback).then_some(l.pod_ip),
        };
        let (ctx, events) = ProxyContext::new(info.clone(), self.span_sink(&info));
        let app = match (l.app, topo.version_of(inst)) {
            (Some(listener), Some(version)) => {
                let app = App::new(AppSpec {
                    service: inst.service.clone(),
                    version: inst.version.clone(),
                    instance: inst.name.clone(),
                    cluster: inst.cluster.clone(),
                    latency: version.latency,
                    error_rate: version.error_rate,
                    calls: svc.calls.clone(),
                    outbound: addresses
                        .outbound
                        .unwrap_or(SocketAddr::new(l.pod_ip, plan::OUTBOUND_PORT)),
                });
                let cancel = self.inner.cancel.child_token();
                let task = tokio::spawn(Arc::clone(&app).serve(listener, cancel.clone()));
                Some(RunningApp {
                    app,
                    serving: super::Running { cancel, task },
                })
            }
            _ => None,
        };
        let proxy = start_sidecar(
            ctx,
            events,
            &AgentSpec {
                control_plane: rt.channel.clone(),
                token: tok,
                cert_ttl: self.inner.opts.cert_ttl,
            },
            app_addr,
            SidecarListeners {
                worker: self.inner.workers.pick(),
                inbound: l.inbound,
                outbound: l.outbound,
                admin: l.admin,
            },
        );
        let id = inst.id();
        self.inner.workloads.lock().await.insert(
            id.clone(),
            WorkloadRt {
                instance: inst.clone(),
                addresses,
                pod_ip: l.pod_ip,
                external: external.is_some(),
                proxy: Some(proxy),
                app,
            },
        );
        Ok(id)
    }

    /// Registers a gateway of `kind` in `cluster`'s registry (so the control
    /// plane signs its certificate and lists it) and says who it is.
    fn register_gateway(
        &self,
        cluster: &str,
        kind: ProxyKind,
        port: u16,
        l: &plan::GatewayListeners,
    ) -> Result<GatewayRegistration, RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(cluster)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster {cluster}")))?;
        let inst = gateway_instance(cluster, kind);
        let spiffe_id = gateway_identity(rt.cp.trust_domain(), kind)?;
        let addresses = Addresses {
            app: None,
            inbound: Some(l.main.local_addr()?),
            outbound: None,
            admin: Some(l.admin.local_addr()?),
        };
        let token = token();
        rt.cp.update_registry(|r| {
            r.upsert(WorkloadEntry {
                kind,
                instance: inst.clone(),
                spiffe_id: spiffe_id.clone(),
                token: token.clone(),
                addresses: addresses.clone(),
                port,
                ready: false,
                external: false,
                cert_serial: String::new(),
                cert_not_after: String::new(),
                certs_issued: 0,
                issuer: String::new(),
                cert_root: String::new(),
                scope: None,
            })
        });
        let info = ProxyInfo {
            id: inst.id(),
            kind,
            cluster: cluster.to_string(),
            namespace: inst.namespace.clone(),
            service: inst.service.clone(),
            version: inst.version.clone(),
            instance: inst.name.clone(),
            spiffe_id,
            pod_ip: None,
        };
        let agent = AgentSpec {
            control_plane: rt.channel.clone(),
            token,
            cert_ttl: self.inner.opts.cert_ttl,
        };
        Ok(GatewayRegistration {
            info,
            agent,
            addresses,
        })
    }

    /// Keeps a started gateway's handle and addresses for the console and shutdown.
    async fn keep_gateway(&self, info: &ProxyInfo, addresses: Addresses, handle: ProxyHandle) {
        self.inner.gateway_addrs.lock().insert(
            info.id.clone(),
            GatewayAddresses {
                kind: info.kind,
                cluster: info.cluster.clone(),
                addresses,
            },
        );
        self.inner
            .gateways
            .lock()
            .await
            .insert(info.id.clone(), handle);
    }

    async fn start_ingress(
        &self,
        cluster: &str,
        hosts: &[String],
        service: &str,
        l: plan::GatewayListeners,
        tls: Arc<rustls::ServerConfig>,
    ) -> Result<(), RuntimeError> {
        let g = self.register_gateway(cluster, ProxyKind::IngressGateway, 443, &l)?;
        let (ctx, events) = ProxyContext::new(g.info.clone(), self.span_sink(&g.info));
        let ctx = ctx.with_default_ingress(hosts.to_vec(), service.to_string());
        let handle = ingress::start(ctx, events, &g.agent, l.main, l.admin, tls);
        self.keep_gateway(&g.info, g.addresses, handle).await;
        Ok(())
    }

    pub(super) async fn start_eastwest_gateway(
        &self,
        cluster: &str,
        l: plan::GatewayListeners,
    ) -> Result<(), RuntimeError> {
        let g =
            self.register_gateway(cluster, ProxyKind::EastwestGateway, plan::EASTWEST_PORT, &l)?;
        let main = l.main.local_addr()?;
        let (ctx, events) = ProxyContext::new(g.info.clone(), SpanSink::disabled());
        let handle = eastwest::start(ctx, events, &g.agent, l.main, l.admin);
        self.keep_gateway(&g.info, g.addresses, handle).await;
        if let Some(rt) = self.inner.clusters.get(cluster) {
            rt.cp.set_gateway(Some(main));
        }
        Ok(())
    }

    async fn mark_all_ready(&self) {
        for rt in self.inner.clusters.values() {
            rt.cp.update_registry(|r| {
                let ids: Vec<String> = r.entries().map(|e| e.id()).collect();
                for id in ids {
                    r.update(&id, |e| e.ready = true);
                }
            });
        }
    }
}

/// A gateway as registered: who it is, how its agent reaches the control
/// plane, and where it listens.
struct GatewayRegistration {
    info: ProxyInfo,
    agent: AgentSpec,
    addresses: Addresses,
}
