//! Launches a whole mesh from a topology, in one process: per cluster a CA,
//! a control plane and its collector; per instance a demo app (or an
//! external one) and its sidecar; the ingress gateway; the console API; and
//! the load generator. Also the operations the console's chaos controls
//! need: kill and restart instances, slow them, make them fail, stop and
//! start control planes.
//!
//! - [`plan`]: where every listener goes (per-pod loopback IPs or ephemeral ports).
//! - `boot`: starting the mesh, a workload, a gateway.
//! - `chaos`: what the chaos controls do to a running mesh.
//! - `federation`: following peers, (un)federating, root rotation, status.
//! - [`backend`]: the running mesh as the console API sees it.

pub mod backend;
mod boot;
mod chaos;
mod federation;
pub mod plan;
mod rogue;
pub mod workers;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::control::events::EventBus;
use crate::control::registry::{Addresses, ProxyKind};
use crate::control::server::RootRotationError;
use crate::control::store::ConfigStore;
pub use crate::control::ControlPlane;
use crate::identity::SpiffeId;
use crate::proxy::context::ProxyContext;
use crate::proxy::sidecar::ProxyHandle;
use crate::topology::{Instance, Topology};
use crate::workload::app::App;
use crate::workload::loadgen::{IngressClient, LoadStats};
pub use plan::AddressPlan;

/// What can stop a mesh from starting or an operation from completing.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A listener could not be bound.
    #[error("cannot bind {0}")]
    Bind(#[from] std::io::Error),
    /// The state directory or a CA could not be used.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// A file of the state directory could not be written.
    #[error("state directory {path}: {source}")]
    State {
        /// The directory or file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The config history could not be opened.
    #[error(transparent)]
    Store(#[from] crate::control::store::StoreError),
    /// Something did not become ready in time.
    #[error("{0}")]
    NotReady(String),
    /// An operation named something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A value or request the mesh refuses, with why.
    #[error("{0}")]
    Refused(String),
    /// A root rotation was called off; nothing changed.
    #[error(transparent)]
    RootRotation(#[from] RootRotationError),
}

/// How to start a mesh.
#[derive(Debug, Clone)]
pub struct MeshOptions {
    /// The clusters, services and load to start.
    pub topology: Topology,
    /// Where CA keys, the ingress CA and the config history are kept.
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
    /// Threads the sidecars' data plane runs on (see [`workers`]).
    pub dataplane_threads: usize,
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
            dataplane_threads: 1,
        }
    }
}

/// A running task and the token that stops it.
struct Running {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    /// Cancels the task and waits at most `grace` for it to end.
    async fn stop(self, grace: Duration) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(grace, self.task).await;
    }
}

struct ClusterRt {
    cp: ControlPlane,
    /// The control plane's address, kept across stops and starts.
    addr: SocketAddr,
    /// The connection this cluster's proxies share to it (reconnects on
    /// its own after a stop and start).
    channel: tonic::transport::Channel,
    /// None while the control plane is stopped.
    serving: Mutex<Option<Running>>,
}

/// A demo app serving next to its sidecar.
struct RunningApp {
    app: Arc<App>,
    serving: Running,
}

struct WorkloadRt {
    instance: Instance,
    addresses: Addresses,
    pod_ip: IpAddr,
    /// The app is outside the mesh's process (a topology `external`).
    external: bool,
    /// None while the instance is killed.
    proxy: Option<ProxyHandle>,
    app: Option<RunningApp>,
}

/// Where a workload instance listens, running or not.
#[derive(Debug, Clone)]
pub struct WorkloadAddresses {
    /// The instance as the topology defines it.
    pub instance: Instance,
    /// Its app's and its sidecar's addresses.
    pub addresses: Addresses,
    /// The app is outside the mesh's process (a topology `external`).
    pub external: bool,
    /// Its sidecar runs (false once killed, until restarted).
    pub running: bool,
}

/// Where a gateway listens.
#[derive(Debug, Clone)]
pub struct GatewayAddresses {
    /// Ingress or east-west.
    pub kind: ProxyKind,
    /// The cluster it belongs to.
    pub cluster: String,
    /// Its listeners (`inbound` is the gateway's traffic port).
    pub addresses: Addresses,
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
    gateway_addrs: Mutex<BTreeMap<String, GatewayAddresses>>,
    api_addr: SocketAddr,
    ingress_addr: Option<SocketAddr>,
    ingress_host: Option<String>,
    ingress_ca_pem: String,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    load: Mutex<Option<Arc<LoadStats>>>,
    /// What every control plane presents to its peers, made at start.
    federation_token: String,
    /// Federation followers by (follower, peer); cancelling one unfollows.
    links: Mutex<BTreeMap<(String, String), CancellationToken>>,
    /// The addresses of stopped components, held until they start again.
    held: Mutex<BTreeMap<SocketAddr, plan::Reserved>>,
    /// The threads sidecars serve on.
    workers: workers::Workers,
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

pub(crate) fn gateway_instance(cluster: &str, kind: ProxyKind) -> Instance {
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
    /// Keeps `task` so shutdown can wait for it.
    fn track(&self, task: JoinHandle<()>) {
        self.inner.tasks.lock().push(task);
    }

    /// Waits until every control plane has pushed and heard back.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let mut ok = true;
        for rt in self.inner.clusters.values() {
            ok &= rt.cp.wait_settled(timeout).await;
        }
        ok
    }

    /// CPU time the sidecars' data-plane threads have used so far, seconds.
    pub fn dataplane_cpu_seconds(&self) -> f64 {
        self.inner.workers.cpu_seconds()
    }

    /// The console API address.
    pub fn api_addr(&self) -> SocketAddr {
        self.inner.api_addr
    }

    /// The ingress address, if there is an ingress.
    pub fn ingress_addr(&self) -> Option<SocketAddr> {
        self.inner.ingress_addr
    }

    /// The host name the ingress serves (and its certificate names).
    pub fn ingress_host(&self) -> Option<&str> {
        self.inner.ingress_host.as_deref()
    }

    /// The address plan in use (Ephemeral when Loopback's addresses were taken).
    pub fn plan(&self) -> AddressPlan {
        self.inner.plan
    }

    /// The topology the mesh was started from.
    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// Where CA keys, the ingress CA and the config history are kept.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.inner.opts.state_dir
    }

    /// What was wrong with the config history at start and how it was
    /// recovered (empty when it was intact); `up` prints these.
    pub fn state_warnings(&self) -> Vec<String> {
        self.inner.store.warnings().to_vec()
    }

    /// The file holding the console API's access token.
    pub fn token_file(&self) -> std::path::PathBuf {
        crate::state::token_file(&self.inner.opts.state_dir)
    }

    /// The versioned config store every control plane follows.
    pub fn store(&self) -> &Arc<ConfigStore> {
        &self.inner.store
    }

    /// The mesh-wide event bus.
    pub fn events(&self) -> &Arc<EventBus> {
        &self.inner.events
    }

    /// Every control plane, in cluster-name order.
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
        self.inner.load.lock().clone()
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

    /// Gateway addresses by proxy id, stopped gateways included.
    pub fn gateway_addresses(&self) -> BTreeMap<String, GatewayAddresses> {
        self.inner.gateway_addrs.lock().clone()
    }

    /// Workload addresses by proxy id, for instances that are not running too.
    pub async fn workload_addresses(&self) -> BTreeMap<String, WorkloadAddresses> {
        self.inner
            .workloads
            .lock()
            .await
            .iter()
            .map(|(id, w)| {
                (
                    id.clone(),
                    WorkloadAddresses {
                        instance: w.instance.clone(),
                        addresses: w.addresses.clone(),
                        external: w.external,
                        running: w.proxy.is_some(),
                    },
                )
            })
            .collect()
    }

    /// Holds the addresses of a component that just stopped.
    async fn hold(&self, addrs: impl IntoIterator<Item = Option<SocketAddr>>) {
        for a in addrs.into_iter().flatten() {
            match plan::Reserved::hold(a).await {
                Ok(r) => {
                    self.inner.held.lock().insert(a, r);
                }
                Err(e) => tracing::warn!(error = %e, "cannot hold a stopped listener's address"),
            }
        }
    }

    /// A listener on an address held since its owner stopped, or bound afresh.
    async fn rebind(&self, addr: SocketAddr) -> Result<TcpListener, RuntimeError> {
        let held = self.inner.held.lock().remove(&addr);
        let reserved = match held {
            Some(r) => r,
            None => plan::Reserved::hold(addr).await?,
        };
        Ok(reserved.listen()?)
    }

    /// Stops everything and waits for every listener to close.
    pub async fn shutdown(self) {
        self.inner.held.lock().clear();
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
        for app in apps {
            app.serving.stop(Duration::from_secs(3)).await;
        }
        for rt in self.inner.clusters.values() {
            let serving = rt.serving.lock().take();
            if let Some(s) = serving {
                s.stop(Duration::from_secs(3)).await;
            }
        }
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.inner.tasks.lock());
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
        // Not left to the last clone's drop: a task still holding the mesh
        // would keep idle data-plane threads alive.
        self.inner.workers.stop();
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
        *self.serving.lock() = Some(Running { cancel: c, task });
    }
}
