//! Launches a whole mesh from a topology, in one process: per cluster a CA,
//! a control plane and its collector; per instance a demo app (or an
//! external one) and its sidecar; the ingress gateway; the console API; and
//! the load generator. Also the operations the console's chaos controls
//! need: kill and restart instances, slow them, make them fail, stop and
//! start control planes.

pub mod backend;
pub mod plan;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::control::events::EventBus;
use crate::control::registry::{Addresses, ProxyKind, WorkloadEntry};
use crate::control::store::ConfigStore;
pub use crate::control::ControlPlane;
use crate::gateway::{eastwest, ingress};
use crate::identity::{tls, CertificateAuthority, SpiffeId};
use crate::proxy::context::{ProxyContext, ProxyInfo};
use crate::proxy::sidecar::{start_sidecar, AgentSpec, ProxyHandle, SidecarListeners};
use crate::telemetry::trace::SpanSink;
use crate::topology::{Instance, Topology};
use crate::workload::app::{App, AppSpec, Chaos};
use crate::workload::loadgen::{self, IngressClient, LoadStats};
pub use plan::AddressPlan;
use plan::{Bound, WorkloadListeners};

/// How long a new root may take to reach every proxy and federated peer
/// before a rotation is called off.
const ROOT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(20);

/// What can stop a mesh from starting or an operation from completing.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A listener could not be bound.
    #[error("cannot bind {0}")]
    Bind(#[from] std::io::Error),
    /// The state directory or a CA could not be used.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The config history could not be opened.
    #[error(transparent)]
    Store(#[from] crate::control::store::StoreError),
    /// Something did not become ready in time.
    #[error("{0}")]
    NotReady(String),
    /// An operation named something that does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// How to start a mesh.
#[derive(Debug, Clone)]
pub struct MeshOptions {
    /// The topology.
    pub topology: Topology,
    /// CA keys, ingress CA, config history.
    pub state_dir: PathBuf,
    /// Address plan to try first.
    pub plan: AddressPlan,
    /// Console API address (default per plan).
    pub api: Option<SocketAddr>,
    /// Ingress address (default per plan).
    pub ingress: Option<SocketAddr>,
    /// Workload certificate lifetime.
    pub cert_ttl: Duration,
    /// Load generator rate (None: the topology's).
    pub rps: Option<f64>,
    /// Percentage of new traces sampled.
    pub trace_sampling: f64,
    /// Outside OTLP/gRPC collectors that also get every span.
    pub otlp: Vec<SocketAddr>,
}

impl MeshOptions {
    /// Options for a topology with meshcon's defaults.
    pub fn new(topology: Topology, state_dir: PathBuf) -> Self {
        Self {
            topology,
            state_dir,
            plan: AddressPlan::Loopback,
            api: None,
            ingress: None,
            cert_ttl: Duration::from_secs(3600),
            rps: None,
            trace_sampling: 100.0,
            otlp: Vec::new(),
        }
    }
}

struct ClusterRt {
    cp: ControlPlane,
    addr: SocketAddr,
    serving: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

struct WorkloadRt {
    instance: Instance,
    addresses: Addresses,
    pod_ip: IpAddr,
    external: bool,
    proxy: Option<ProxyHandle>,
    app: Option<(Arc<App>, CancellationToken, JoinHandle<()>)>,
}

struct Inner {
    topology: Topology,
    opts: MeshOptions,
    plan: AddressPlan,
    store: Arc<ConfigStore>,
    events: Arc<EventBus>,
    clusters: BTreeMap<String, ClusterRt>,
    workloads: tokio::sync::Mutex<BTreeMap<String, WorkloadRt>>,
    gateways: tokio::sync::Mutex<BTreeMap<String, ProxyHandle>>,
    gateway_addrs: Mutex<BTreeMap<String, (ProxyKind, String, Addresses)>>,
    api_addr: SocketAddr,
    ingress_addr: Option<SocketAddr>,
    ingress_host: Option<String>,
    ingress_ca_pem: String,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    load: Mutex<Option<Arc<LoadStats>>>,
    federation_token: String,
    links: Mutex<BTreeMap<(String, String), CancellationToken>>,
    /// The addresses of stopped components, held until they start again.
    held: Mutex<BTreeMap<SocketAddr, plan::Reserved>>,
}

/// A running mesh. Cheap to clone.
#[derive(Clone)]
pub struct Mesh {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("api", &self.inner.api_addr)
            .finish()
    }
}

fn token() -> String {
    crate::identity::certinfo::hex(&crate::telemetry::trace::random_id::<16>())
}

/// The SPIFFE ID of a gateway.
pub fn gateway_identity(
    trust_domain: &str,
    kind: ProxyKind,
) -> Result<SpiffeId, crate::identity::IdentityError> {
    let sa = match kind {
        ProxyKind::IngressGateway => "istio-ingressgateway-service-account",
        _ => "istio-eastwestgateway-service-account",
    };
    SpiffeId::workload(trust_domain, "istio-system", sa)
}

fn gateway_instance(cluster: &str, kind: ProxyKind) -> Instance {
    let service = match kind {
        ProxyKind::IngressGateway => "istio-ingressgateway",
        _ => "istio-eastwestgateway",
    };
    Instance {
        cluster: cluster.to_string(),
        namespace: "istio-system".into(),
        service: service.into(),
        version: "gateway".into(),
        index: 0,
        name: format!("{service}-0"),
        service_account: format!("{service}-service-account"),
    }
}

impl Mesh {
    /// Starts a mesh and returns when it serves traffic.
    pub async fn start(opts: MeshOptions) -> Result<Mesh, RuntimeError> {
        std::fs::create_dir_all(&opts.state_dir)?;
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
        let store = Arc::new(ConfigStore::open(Some(&opts.state_dir.join("config.db")))?);
        let events = Arc::new(EventBus::default());
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
            if let Err(e) = crate::control::console::serve(api_listener, backend, api_cancel).await
            {
                tracing::error!(error = %e, "console API stopped");
            }
        });
        mesh.track(api_task);

        // Prove the path works end to end before calling the mesh ready.
        if let Some(client) = mesh.ingress_client() {
            let probe_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                match client
                    .get("/", &[("user-agent", "meshcon-readiness")])
                    .await
                {
                    Ok(a) if a.status == 200 => break,
                    _ if tokio::time::Instant::now() > probe_deadline => {
                        return Err(RuntimeError::NotReady(
                            "the ingress did not answer 200 within 10 s".into(),
                        ))
                    }
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            let rps = opts.rps.unwrap_or(topology.load.rps);
            let stats = loadgen::spawn(
                client,
                rps,
                topology.load.paths.clone(),
                cancel.child_token(),
            );
            if let Ok(mut l) = mesh.inner.load.lock() {
                *l = Some(stats);
            }
        }
        mesh.inner.events.emit("mesh", "", "runtime", "mesh ready");
        Ok(mesh)
    }

    fn track(&self, task: JoinHandle<()>) {
        if let Ok(mut t) = self.inner.tasks.lock() {
            t.push(task);
        }
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
            vec![
                ("service.name".into(), info.workload()),
                ("service.namespace".into(), info.namespace.clone()),
                ("service.instance.id".into(), info.instance.clone()),
                ("k8s.cluster.name".into(), info.cluster.clone()),
            ],
            targets,
            self.inner.opts.trace_sampling,
            self.inner.cancel.child_token(),
        )
    }

    async fn start_workload(
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
                let c = self.inner.cancel.child_token();
                let task = tokio::spawn(Arc::clone(&app).serve(listener, c.clone()));
                Some((app, c, task))
            }
            _ => None,
        };
        let proxy = start_sidecar(
            ctx,
            events,
            &AgentSpec {
                control_plane: rt.addr,
                token: tok,
                cert_ttl: self.inner.opts.cert_ttl,
            },
            app_addr,
            SidecarListeners {
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

    async fn start_ingress(
        &self,
        cluster: &str,
        hosts: &[String],
        service: &str,
        l: plan::GatewayListeners,
        tls: Arc<rustls::ServerConfig>,
    ) -> Result<(), RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(cluster)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster {cluster}")))?;
        let inst = gateway_instance(cluster, ProxyKind::IngressGateway);
        let spiffe_id = gateway_identity(rt.cp.trust_domain(), ProxyKind::IngressGateway)?;
        let addresses = Addresses {
            app: None,
            inbound: Some(l.main.local_addr()?),
            outbound: None,
            admin: Some(l.admin.local_addr()?),
        };
        let tok = token();
        rt.cp.update_registry(|r| {
            r.upsert(WorkloadEntry {
                kind: ProxyKind::IngressGateway,
                instance: inst.clone(),
                spiffe_id: spiffe_id.clone(),
                token: tok.clone(),
                addresses: addresses.clone(),
                port: 443,
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
            kind: ProxyKind::IngressGateway,
            cluster: cluster.to_string(),
            namespace: inst.namespace.clone(),
            service: inst.service.clone(),
            version: inst.version.clone(),
            instance: inst.name.clone(),
            spiffe_id,
            pod_ip: None,
        };
        let (ctx, events) = ProxyContext::new(info.clone(), self.span_sink(&info));
        let ctx = ctx.with_default_ingress(hosts.to_vec(), service.to_string());
        let handle = ingress::start(
            ctx,
            events,
            &AgentSpec {
                control_plane: rt.addr,
                token: tok,
                cert_ttl: self.inner.opts.cert_ttl,
            },
            l.main,
            l.admin,
            tls,
        );
        if let Ok(mut g) = self.inner.gateway_addrs.lock() {
            g.insert(
                inst.id(),
                (ProxyKind::IngressGateway, cluster.to_string(), addresses),
            );
        }
        self.inner.gateways.lock().await.insert(inst.id(), handle);
        Ok(())
    }

    /// Federation: every control plane follows every other over gRPC.
    fn spawn_federation(&self) {
        let names: Vec<String> = self.inner.clusters.keys().cloned().collect();
        for from in &names {
            for to in names.iter().filter(|n| *n != from) {
                self.link(from, to);
            }
        }
    }

    /// Makes `follower` follow `peer` (until unfederated or shut down).
    fn link(&self, follower: &str, peer: &str) {
        let (Some(f), Some(p)) = (
            self.inner.clusters.get(follower),
            self.inner.clusters.get(peer),
        ) else {
            return;
        };
        let cancel = self.inner.cancel.child_token();
        let task = tokio::spawn(crate::control::federation::follow(
            f.cp.clone(),
            peer.to_string(),
            p.addr,
            self.inner.federation_token.clone(),
            cancel.clone(),
        ));
        self.track(task);
        if let Ok(mut links) = self.inner.links.lock() {
            if let Some(old) = links.insert((follower.to_string(), peer.to_string()), cancel) {
                old.cancel();
            }
        }
    }

    /// Rotates cluster `name`'s root CA the way a careful operator would:
    /// the new root joins the trust bundles; it signs only once every proxy
    /// of the cluster has ACKed a bundle with it and every federated peer
    /// (and its proxies) trusts it too; proxies then renew at once, and the
    /// old root is retired when all have. A peer that cannot learn the new
    /// root (its link is down) aborts the rotation and nothing changes.
    pub async fn rotate_root(&self, name: &str) -> Result<String, RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(name)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster '{name}'")))?;
        let next = rt.cp.ca().successor()?;
        let fp = next.fingerprint();
        rt.cp.introduce_root(next).map_err(RuntimeError::NotReady)?;
        let deadline = tokio::time::Instant::now() + ROOT_PROPAGATION_TIMEOUT;
        loop {
            match self.root_trusted_everywhere(name, &fp) {
                Ok(true) => break,
                Ok(false) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(false) => {
                    let why = "not every proxy and peer confirmed the new root in time";
                    rt.cp.withdraw_root(why);
                    return Err(RuntimeError::NotReady(why.into()));
                }
                Err(why) => {
                    rt.cp.withdraw_root(&why);
                    return Err(RuntimeError::NotReady(why));
                }
            }
        }
        let signing = rt
            .cp
            .sign_with_introduced_root()
            .ok_or_else(|| RuntimeError::NotReady("the introduced root vanished".into()))?;
        signing.save(&self.inner.opts.state_dir.join("ca"), name)?;
        Ok(fp)
    }

    /// Whether cluster `name`'s proxies, and every cluster federated with it
    /// (and its proxies), trust the root `fp`; an error when a peer cannot.
    fn root_trusted_everywhere(&self, name: &str, fp: &str) -> Result<bool, String> {
        let trusts = |roots: &[String]| {
            roots
                .iter()
                .filter_map(|p| crate::identity::ca::pem_to_der(p).ok())
                .any(|d| crate::identity::certinfo::fingerprint(&d) == fp)
        };
        let mut ok = true;
        for (other, rt) in &self.inner.clusters {
            if other == name {
                ok &= rt.cp.settled();
                continue;
            }
            match rt.cp.links().get(name) {
                None => continue,
                Some(false) => {
                    return Err(format!(
                        "{other}'s link to {name} is down: it could not learn the new root"
                    ))
                }
                Some(true) => {}
            }
            let learned = rt
                .cp
                .remotes()
                .get(name)
                .is_some_and(|r| trusts(&r.roots_pem));
            ok &= learned && rt.cp.settled();
        }
        Ok(ok)
    }

    /// Ends federation between two clusters: each forgets the other's trust
    /// bundle and endpoints, and its proxies are told at once.
    pub fn unfederate(&self, a: &str, b: &str) -> Result<(), RuntimeError> {
        for (x, y) in [(a, b), (b, a)] {
            let rt = self
                .inner
                .clusters
                .get(x)
                .ok_or_else(|| RuntimeError::NotFound(format!("no cluster '{x}'")))?;
            if let Ok(mut links) = self.inner.links.lock() {
                if let Some(c) = links.remove(&(x.to_string(), y.to_string())) {
                    c.cancel();
                }
            }
            rt.cp.remove_link(y);
            rt.cp.set_remote(y, None);
            rt.cp.events().emit(
                "federation",
                x,
                "istiod",
                format!("unfederated from {y}: its trust bundle and endpoints are gone"),
            );
        }
        Ok(())
    }

    /// Federates two clusters again.
    pub fn federate(&self, a: &str, b: &str) -> Result<(), RuntimeError> {
        for c in [a, b] {
            if !self.inner.clusters.contains_key(c) {
                return Err(RuntimeError::NotFound(format!("no cluster '{c}'")));
            }
        }
        self.link(a, b);
        self.link(b, a);
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

    /// Waits until every control plane has pushed and heard back.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let mut ok = true;
        for rt in self.inner.clusters.values() {
            ok &= rt.cp.wait_settled(timeout).await;
        }
        ok
    }

    /// The console API address.
    pub fn api_addr(&self) -> SocketAddr {
        self.inner.api_addr
    }

    /// The ingress address, if there is an ingress.
    pub fn ingress_addr(&self) -> Option<SocketAddr> {
        self.inner.ingress_addr
    }

    /// The ingress host name.
    pub fn ingress_host(&self) -> Option<&str> {
        self.inner.ingress_host.as_deref()
    }

    /// The address plan in use.
    pub fn plan(&self) -> AddressPlan {
        self.inner.plan
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The state directory.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.inner.opts.state_dir
    }

    /// The config store.
    pub fn store(&self) -> &Arc<ConfigStore> {
        &self.inner.store
    }

    /// The event bus.
    pub fn events(&self) -> &Arc<EventBus> {
        &self.inner.events
    }

    /// Every control plane.
    pub fn control_planes(&self) -> Vec<ControlPlane> {
        self.inner.clusters.values().map(|c| c.cp.clone()).collect()
    }

    /// A client of the ingress, trusting the ingress CA.
    pub fn ingress_client(&self) -> Option<IngressClient> {
        let addr = self.inner.ingress_addr?;
        let host = self.inner.ingress_host.as_deref()?;
        IngressClient::new(addr, host, &self.inner.ingress_ca_pem).ok()
    }

    /// The load generator's counters.
    pub fn load_stats(&self) -> Option<Arc<LoadStats>> {
        self.inner.load.lock().ok().and_then(|l| l.clone())
    }

    /// The shared state of every running proxy.
    pub async fn proxy_contexts(&self) -> Vec<Arc<ProxyContext>> {
        let mut out: Vec<Arc<ProxyContext>> = self
            .inner
            .workloads
            .lock()
            .await
            .values()
            .filter_map(|w| w.proxy.as_ref().map(|p| Arc::clone(&p.ctx)))
            .collect();
        out.extend(
            self.inner
                .gateways
                .lock()
                .await
                .values()
                .map(|g| Arc::clone(&g.ctx)),
        );
        out
    }

    /// Gateway addresses by proxy id.
    pub fn gateway_addresses(&self) -> BTreeMap<String, (ProxyKind, String, Addresses)> {
        self.inner
            .gateway_addrs
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// Workload addresses by proxy id, for instances that are not running too.
    pub async fn workload_addresses(&self) -> BTreeMap<String, (Instance, Addresses, bool, bool)> {
        self.inner
            .workloads
            .lock()
            .await
            .iter()
            .map(|(id, w)| {
                (
                    id.clone(),
                    (
                        w.instance.clone(),
                        w.addresses.clone(),
                        w.external,
                        w.proxy.is_some(),
                    ),
                )
            })
            .collect()
    }

    async fn matching(&self, target: &str) -> Vec<String> {
        self.inner
            .workloads
            .lock()
            .await
            .iter()
            .filter(|(id, w)| {
                *id == target
                    || w.instance.name == target
                    || w.instance.service == target
                    || w.instance.workload() == target
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Sets chaos on every instance `target` names (instance, `service-version`, or service).
    pub async fn set_chaos(&self, target: &str, chaos: Chaos) -> Result<Vec<String>, RuntimeError> {
        let ids = self.matching(target).await;
        let wl = self.inner.workloads.lock().await;
        let mut done = Vec::new();
        for id in &ids {
            if let Some((app, _, _)) = wl.get(id).and_then(|w| w.app.as_ref()) {
                app.set_chaos(chaos.clone());
                done.push(
                    wl.get(id)
                        .map(|w| w.instance.name.clone())
                        .unwrap_or_default(),
                );
            }
        }
        if done.is_empty() {
            return Err(RuntimeError::NotFound(format!(
                "no demo workload matches '{target}' (use an instance like billing-v1-0, a workload like billing-v1, or a service)"
            )));
        }
        Ok(done)
    }

    /// Kills an instance: its app and sidecar stop and it leaves the registry.
    pub async fn kill(&self, target: &str) -> Result<Vec<String>, RuntimeError> {
        let ids = self.matching(target).await;
        if ids.is_empty() {
            return Err(RuntimeError::NotFound(format!(
                "no workload matches '{target}'"
            )));
        }
        let mut done = Vec::new();
        for id in ids {
            let (proxy, app, inst, addrs) = {
                let mut wl = self.inner.workloads.lock().await;
                let Some(w) = wl.get_mut(&id) else { continue };
                (
                    w.proxy.take(),
                    w.app.take(),
                    w.instance.clone(),
                    w.addresses.clone(),
                )
            };
            if proxy.is_none() {
                continue;
            }
            if let Some(rt) = self.inner.clusters.get(&inst.cluster) {
                rt.cp.update_registry(|r| r.remove(&id));
            }
            let own_app = app.is_some();
            if let Some((_, c, t)) = app {
                c.cancel();
                let _ = t.await;
            }
            if let Some(p) = proxy {
                p.shutdown().await;
            }
            let app_addr = addrs.app.filter(|_| own_app);
            self.hold([app_addr, addrs.inbound, addrs.outbound, addrs.admin])
                .await;
            done.push(inst.name.clone());
        }
        Ok(done)
    }

    /// Starts a killed instance again on the same addresses.
    pub async fn restart(&self, target: &str) -> Result<Vec<String>, RuntimeError> {
        let ids = self.matching(target).await;
        let mut done = Vec::new();
        for id in ids {
            let (inst, addrs, pod_ip, running) = {
                let wl = self.inner.workloads.lock().await;
                let Some(w) = wl.get(&id) else { continue };
                (
                    w.instance.clone(),
                    w.addresses.clone(),
                    w.pod_ip,
                    w.proxy.is_some(),
                )
            };
            if running {
                continue;
            }
            let bind = |a: Option<SocketAddr>| async move {
                match a {
                    Some(a) => self.rebind(a).await.map(Some),
                    None => Ok(None),
                }
            };
            let ext = self
                .inner
                .topology
                .service_of(&inst)
                .and_then(|s| s.external.clone());
            let listeners = WorkloadListeners {
                pod_ip,
                app: if ext.is_some() {
                    None
                } else {
                    bind(addrs.app).await?
                },
                inbound: bind(addrs.inbound).await?,
                outbound: bind(addrs.outbound)
                    .await?
                    .ok_or_else(|| RuntimeError::NotFound("no outbound address".into()))?,
                admin: bind(addrs.admin)
                    .await?
                    .ok_or_else(|| RuntimeError::NotFound("no admin address".into()))?,
            };
            self.start_workload(&inst, listeners).await?;
            let ready = {
                let wl = self.inner.workloads.lock().await;
                match wl.get(&id).and_then(|w| w.proxy.as_ref()) {
                    Some(p) => p.wait_ready(Duration::from_secs(15)).await,
                    None => false,
                }
            };
            if !ready {
                return Err(RuntimeError::NotReady(format!(
                    "{} did not become ready",
                    inst.name
                )));
            }
            if let Some(rt) = self.inner.clusters.get(&inst.cluster) {
                rt.cp.update_registry(|r| r.update(&id, |e| e.ready = true));
            }
            done.push(inst.name.clone());
        }
        if done.is_empty() {
            return Err(RuntimeError::NotFound(format!(
                "no stopped workload matches '{target}'"
            )));
        }
        Ok(done)
    }

    /// Stops a cluster's control plane (its proxies keep their last config).
    pub async fn stop_control_plane(&self, cluster: &str) -> Result<(), RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(cluster)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster '{cluster}'")))?;
        let serving = rt.serving.lock().ok().and_then(|mut s| s.take());
        match serving {
            Some((c, t)) => {
                c.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
                self.hold([Some(rt.addr)]).await;
                Ok(())
            }
            None => Err(RuntimeError::NotFound(format!(
                "the control plane of {cluster} is not running"
            ))),
        }
    }

    /// Starts a stopped control plane on its old address.
    pub async fn start_control_plane(&self, cluster: &str) -> Result<(), RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(cluster)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster '{cluster}'")))?;
        if rt.serving.lock().map(|s| s.is_some()).unwrap_or(false) {
            return Err(RuntimeError::NotFound(format!(
                "the control plane of {cluster} is already running"
            )));
        }
        let listener = self.rebind(rt.addr).await?;
        rt.serve(listener, &self.inner.cancel);
        Ok(())
    }

    /// Holds the addresses of a component that just stopped.
    async fn hold(&self, addrs: impl IntoIterator<Item = Option<SocketAddr>>) {
        for a in addrs.into_iter().flatten() {
            match plan::Reserved::hold(a).await {
                Ok(r) => {
                    if let Ok(mut held) = self.inner.held.lock() {
                        held.insert(a, r);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot hold a stopped listener's address"),
            }
        }
    }

    /// A listener on an address held since its owner stopped, or bound afresh.
    async fn rebind(&self, addr: SocketAddr) -> Result<TcpListener, RuntimeError> {
        let held = self
            .inner
            .held
            .lock()
            .ok()
            .and_then(|mut h| h.remove(&addr));
        let reserved = match held {
            Some(r) => r,
            None => plan::Reserved::hold(addr).await?,
        };
        Ok(reserved.listen()?)
    }

    /// Stops everything and waits for every listener to close.
    pub async fn shutdown(self) {
        if let Ok(mut held) = self.inner.held.lock() {
            held.clear();
        }
        self.inner.cancel.cancel();
        let proxies: Vec<ProxyHandle> = {
            let mut wl = self.inner.workloads.lock().await;
            wl.values_mut().filter_map(|w| w.proxy.take()).collect()
        };
        let apps: Vec<_> = {
            let mut wl = self.inner.workloads.lock().await;
            wl.values_mut().filter_map(|w| w.app.take()).collect()
        };
        let gateways: Vec<ProxyHandle> = {
            let mut g = self.inner.gateways.lock().await;
            std::mem::take(&mut *g).into_values().collect()
        };
        futures::future::join_all(proxies.into_iter().chain(gateways).map(|p| p.shutdown())).await;
        for (_, c, t) in apps {
            c.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
        for rt in self.inner.clusters.values() {
            let serving = rt.serving.lock().ok().and_then(|mut s| s.take());
            if let Some((c, t)) = serving {
                c.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
            }
        }
        let tasks: Vec<JoinHandle<()>> = self
            .inner
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
    }
}

impl ClusterRt {
    fn serve(&self, listener: TcpListener, parent: &CancellationToken) {
        let c = parent.child_token();
        let cp = self.cp.clone();
        let token = c.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = cp.serve(listener, token).await {
                tracing::error!(error = %e, "control plane server failed");
            }
        });
        if let Ok(mut s) = self.serving.lock() {
            *s = Some((c, task));
        }
    }
}

impl Mesh {
    /// Changes the chaos of every instance `target` names.
    pub async fn update_chaos(
        &self,
        target: &str,
        f: impl Fn(&mut Chaos),
    ) -> Result<Vec<String>, RuntimeError> {
        let ids = self.matching(target).await;
        let wl = self.inner.workloads.lock().await;
        let mut done = Vec::new();
        for id in &ids {
            if let Some(w) = wl.get(id) {
                if let Some((app, _, _)) = &w.app {
                    let mut c = (*app.chaos()).clone();
                    f(&mut c);
                    app.set_chaos(c);
                    done.push(w.instance.name.clone());
                }
            }
        }
        if done.is_empty() {
            return Err(RuntimeError::NotFound(format!(
                "no running demo workload matches '{target}' (use an instance like billing-v1-0, a workload like billing-v1, or a service)"
            )));
        }
        Ok(done)
    }

    /// Plays a rogue workload against `service`: first plaintext, then mTLS
    /// with a self-made certificate that claims a legitimate identity.
    /// Reports what the service's sidecar did with each.
    pub async fn rogue(&self, service: &str) -> Result<String, RuntimeError> {
        let (inst, inbound) = {
            let wl = self.inner.workloads.lock().await;
            wl.values()
                .filter(|w| w.instance.service == service && w.proxy.is_some())
                .find_map(|w| w.addresses.inbound.map(|a| (w.instance.clone(), a)))
                .ok_or_else(|| {
                    RuntimeError::NotFound(format!("no running instance of service '{service}'"))
                })?
        };
        let td = self
            .inner
            .topology
            .cluster(&inst.cluster)
            .map(|c| c.trust_domain.clone())
            .unwrap_or_default();
        let claimed = SpiffeId::workload(&td, "default", "frontend")?;
        let plaintext = rogue::plaintext(inbound).await;
        let mtls = rogue::self_signed(inbound, &claimed).await;
        Ok(format!(
            "rogue workload vs {} ({inbound}):\n  plaintext HTTP: {plaintext}\n  mTLS with a self-made certificate claiming {claimed}: {mtls}",
            inst.name
        ))
    }
}

mod rogue {
    //! A rogue workload: what an attacker inside the network could try.

    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::identity::{tls, verify, SpiffeId, Svid, TrustStore, WorkloadIdentity};

    /// Sends a plaintext request; says what came back.
    pub async fn plaintext(addr: SocketAddr) -> String {
        let attempt = async {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await?;
            let mut buf = vec![0u8; 256];
            let n = s.read(&mut buf).await?;
            Ok::<_, std::io::Error>(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        match tokio::time::timeout(Duration::from_secs(3), attempt).await {
            Ok(Ok(line)) if line.is_empty() => {
                "REFUSED (connection closed without an answer)".into()
            }
            Ok(Ok(line)) => format!("ACCEPTED: {line}"),
            Ok(Err(e)) => format!("REFUSED ({e})"),
            Err(_) => "REFUSED (no answer)".into(),
        }
    }

    /// Tries mTLS with a self-signed SVID; says what happened.
    pub async fn self_signed(addr: SocketAddr, claimed: &SpiffeId) -> String {
        let made = tls::self_signed_svid(claimed)
            .and_then(|(cert, key)| Svid::from_parts(vec![cert], key));
        let svid = match made {
            Ok(s) => s,
            Err(e) => return format!("could not make the certificate: {e}"),
        };
        let ident = WorkloadIdentity::new();
        ident.install(svid);
        // The rogue does not care who the server is.
        let trust = Arc::new(TrustStore::default());
        let cfg = match tls::outbound_client_config(ident, trust, Vec::new()) {
            Ok(c) => c,
            Err(e) => return format!("TLS setup failed: {e}"),
        };
        let mut cfg = (*cfg).clone();
        cfg.dangerous()
            .set_certificate_verifier(Arc::new(verify::AcceptAnyServer::new()));
        let attempt = async {
            let tcp = TcpStream::connect(addr).await?;
            let name = rustls::pki_types::ServerName::try_from("rogue.invalid")
                .map_err(std::io::Error::other)?;
            let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
                .connect(name, tcp)
                .await?;
            tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
            let mut buf = vec![0u8; 64];
            let n = tls.read(&mut buf).await?;
            Ok::<_, std::io::Error>(n)
        };
        match tokio::time::timeout(Duration::from_secs(3), attempt).await {
            Ok(Ok(0)) => "REFUSED (the sidecar closed the connection)".into(),
            Ok(Ok(_)) => "ACCEPTED — mTLS is not enforced!".into(),
            Ok(Err(e)) => format!("REFUSED ({e})"),
            Err(_) => "REFUSED (no answer)".into(),
        }
    }
}

impl Mesh {
    async fn start_eastwest_gateway(
        &self,
        cluster: &str,
        l: plan::GatewayListeners,
    ) -> Result<(), RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(cluster)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster {cluster}")))?;
        let inst = gateway_instance(cluster, ProxyKind::EastwestGateway);
        let spiffe_id = gateway_identity(rt.cp.trust_domain(), ProxyKind::EastwestGateway)?;
        let main = l.main.local_addr()?;
        let addresses = Addresses {
            app: None,
            inbound: Some(main),
            outbound: None,
            admin: Some(l.admin.local_addr()?),
        };
        let tok = token();
        rt.cp.update_registry(|r| {
            r.upsert(WorkloadEntry {
                kind: ProxyKind::EastwestGateway,
                instance: inst.clone(),
                spiffe_id: spiffe_id.clone(),
                token: tok.clone(),
                addresses: addresses.clone(),
                port: plan::EASTWEST_PORT,
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
            kind: ProxyKind::EastwestGateway,
            cluster: cluster.to_string(),
            namespace: inst.namespace.clone(),
            service: inst.service.clone(),
            version: inst.version.clone(),
            instance: inst.name.clone(),
            spiffe_id,
            pod_ip: None,
        };
        let (ctx, events) = ProxyContext::new(info, SpanSink::disabled());
        let handle = eastwest::start(
            ctx,
            events,
            &AgentSpec {
                control_plane: rt.addr,
                token: tok,
                cert_ttl: self.inner.opts.cert_ttl,
            },
            l.main,
            l.admin,
        );
        if let Ok(mut g) = self.inner.gateway_addrs.lock() {
            g.insert(
                inst.id(),
                (ProxyKind::EastwestGateway, cluster.to_string(), addresses),
            );
        }
        self.inner.gateways.lock().await.insert(inst.id(), handle);
        rt.cp.set_gateway(Some(main));
        Ok(())
    }

    /// Stops a cluster's east-west gateway (a network partition between clusters).
    pub async fn stop_eastwest(&self, cluster: &str) -> Result<(), RuntimeError> {
        let id = gateway_instance(cluster, ProxyKind::EastwestGateway).id();
        let handle = self.inner.gateways.lock().await.remove(&id);
        match handle {
            Some(h) => {
                if let Some(rt) = self.inner.clusters.get(cluster) {
                    rt.cp.update_registry(|r| r.remove(&id));
                }
                h.shutdown().await;
                let addrs = self.gateway_addresses().get(&id).map(|(_, _, a)| a.clone());
                if let Some(a) = addrs {
                    self.hold([a.inbound, a.admin]).await;
                }
                Ok(())
            }
            None => Err(RuntimeError::NotFound(format!(
                "cluster '{cluster}' has no running east-west gateway"
            ))),
        }
    }

    /// Starts a stopped east-west gateway on its old addresses.
    pub async fn start_eastwest(&self, cluster: &str) -> Result<(), RuntimeError> {
        let id = gateway_instance(cluster, ProxyKind::EastwestGateway).id();
        if self.inner.gateways.lock().await.contains_key(&id) {
            return Err(RuntimeError::NotFound(format!(
                "the east-west gateway of {cluster} is already running"
            )));
        }
        let addrs = self
            .gateway_addresses()
            .get(&id)
            .map(|(_, _, a)| a.clone())
            .ok_or_else(|| {
                RuntimeError::NotFound(format!("cluster '{cluster}' has no east-west gateway"))
            })?;
        let (Some(main), Some(admin)) = (addrs.inbound, addrs.admin) else {
            return Err(RuntimeError::NotFound("gateway addresses unknown".into()));
        };
        let l = plan::GatewayListeners {
            main: self.rebind(main).await?,
            admin: self.rebind(admin).await?,
        };
        self.start_eastwest_gateway(cluster, l).await?;
        let ready = match self.inner.gateways.lock().await.get(&id) {
            Some(h) => h.wait_ready(Duration::from_secs(15)).await,
            None => false,
        };
        if let Some(rt) = self.inner.clusters.get(cluster) {
            rt.cp
                .update_registry(|r| r.update(&id, |e| e.ready = ready));
        }
        Ok(())
    }

    /// What each cluster trusts, exports and can reach, with warnings for
    /// the checks Istio's multicluster docs make people do by hand.
    pub async fn federation_status(&self) -> serde_json::Value {
        let cps = self.control_planes();
        let mut clusters = Vec::new();
        let mut warnings = Vec::new();
        for cp in &cps {
            let exported = cp.exported();
            let remotes = cp.remotes();
            let gw = cp.gateway();
            let reachable = match gw {
                Some(a) => {
                    tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(a))
                        .await
                        .is_ok_and(|r| r.is_ok())
                }
                None => false,
            };
            let mut bundles = serde_json::Map::new();
            bundles.insert(
                cp.trust_domain().to_string(),
                serde_json::json!(cp
                    .roots_pem()
                    .iter()
                    .filter_map(|p| crate::identity::ca::pem_to_der(p).ok())
                    .map(|d| crate::identity::certinfo::fingerprint(&d))
                    .collect::<Vec<_>>()),
            );
            for (name, r) in &remotes {
                let fps: Vec<String> = r
                    .roots_pem
                    .iter()
                    .filter_map(|p| crate::identity::ca::pem_to_der(p).ok())
                    .map(|d| crate::identity::certinfo::fingerprint(&d))
                    .collect();
                if let Some(peer) = cps.iter().find(|c| c.cluster() == name) {
                    if !fps.contains(&peer.ca().fingerprint()) {
                        warnings.push(format!(
                            "{} trusts a root for {} that is not the root {} uses now: cross-cluster mTLS to {} will fail",
                            cp.cluster(),
                            r.trust_domain,
                            name,
                            name
                        ));
                    }
                }
                bundles.insert(r.trust_domain.clone(), serde_json::json!(fps));
            }
            for other in cps.iter().filter(|o| o.cluster() != cp.cluster()) {
                if !remotes.contains_key(other.cluster()) {
                    warnings.push(format!(
                        "{} has no trust bundle or endpoints from {}",
                        cp.cluster(),
                        other.cluster()
                    ));
                }
            }
            for (peer, up) in cp.links() {
                if !up {
                    warnings.push(format!("the link from {} to {peer}'s control plane is down: {} serves on the last known endpoints", cp.cluster(), cp.cluster()));
                }
            }
            if gw.is_some() && !reachable {
                warnings.push(format!("the east-west gateway of {} is not reachable: other clusters cannot reach its services", cp.cluster()));
            }
            let remote_endpoints: serde_json::Map<String, serde_json::Value> = remotes
                .iter()
                .map(|(name, r)| {
                    let svcs: serde_json::Map<String, serde_json::Value> = r
                        .services
                        .iter()
                        .map(|s| {
                            (
                                s.name.clone(),
                                serde_json::json!({
                                    "endpoints": s.endpoints.len(),
                                    "via": s.endpoints.iter().filter_map(|e| e.gateway.clone()).next(),
                                }),
                            )
                        })
                        .collect();
                    (name.clone(), serde_json::Value::Object(svcs))
                })
                .collect();
            clusters.push(serde_json::json!({
                "cluster": cp.cluster(),
                "trust_domain": cp.trust_domain(),
                "root_fingerprint": cp.ca().fingerprint(),
                "trust_bundles": bundles,
                "exported_services": exported.services.iter().map(|s| serde_json::json!({
                    "service": s.name, "namespace": s.namespace, "endpoints": s.endpoints.len(),
                })).collect::<Vec<_>>(),
                "remote_endpoints": remote_endpoints,
                "eastwest_gateway": gw.map(|a| a.to_string()),
                "links": cp.links(),
                "gateway_reachable": reachable,
            }));
        }
        serde_json::json!({ "clusters": clusters, "warnings": warnings })
    }
}
