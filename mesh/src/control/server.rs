//! One cluster's control plane: the Discovery stream (ADS-style push with
//! versions, nonces, ACK and NACK), the Certificates service in front of the
//! cluster CA, and the bookkeeping the console reads (per-proxy versions and
//! ACK state).
//!
//! Pushes are debounced: changes mark the plane dirty, and a single task
//! rebuilds every connected proxy's snapshot a few milliseconds later. Only
//! proxies whose snapshot content changed get a push; the others are known to
//! hold the new version already.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::events::EventBus;
use super::registry::{ProxyKind, Registry, WorkloadEntry};
use super::snapshot::{self, MeshView, ProxySnapshot, RemoteCluster};
use super::store::ConfigState;
use crate::identity::{certinfo, CertificateAuthority};
use crate::proto::certificates_server::{Certificates, CertificatesServer};
use crate::proto::discovery_server::{Discovery, DiscoveryServer};
use crate::proto::{DiscoveryRequest, DiscoveryResponse, SignRequest, SignResponse};
use crate::telemetry::collector::{Collector, TraceStore};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;

/// How long changes are gathered before a push.
pub const DEBOUNCE: Duration = Duration::from_millis(2);
/// The longest certificate lifetime the CA grants.
pub const MAX_CERT_TTL: Duration = Duration::from_secs(24 * 3600);

/// The first 12 hex digits of a fingerprint, for messages.
pub fn short_fp(fp: &str) -> &str {
    &fp[..fp.len().min(12)]
}

/// ACK state of one proxy, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckState {
    /// Holds the last version sent.
    Acked,
    /// A push is in flight.
    Pending,
    /// Refused the last push, keeping its previous config.
    Nacked(String),
    /// No stream open.
    Disconnected,
}

impl AckState {
    /// Upper-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            AckState::Acked => "ACKED",
            AckState::Pending => "PENDING",
            AckState::Nacked(_) => "NACKED",
            AckState::Disconnected => "DISCONNECTED",
        }
    }
}

type ResponseTx = mpsc::Sender<Result<DiscoveryResponse, Status>>;

#[derive(Debug)]
struct ProxyConn {
    tx: Option<ResponseTx>,
    stream_seq: u64,
    last_sent: Option<ProxySnapshot>,
    sent_version: u64,
    sent_nonce: String,
    sent_at: Instant,
    acked_version: u64,
    state: AckState,
    pushes: u64,
    last_push_version: u64,
}

/// A proxy's state as reported to the console.
#[derive(Debug, Clone)]
pub struct ProxyStatus {
    /// Proxy id.
    pub id: String,
    /// Kind.
    pub kind: ProxyKind,
    /// Cluster.
    pub cluster: String,
    /// Service.
    pub service: String,
    /// Instance.
    pub instance: String,
    /// Stream open.
    pub connected: bool,
    /// Last version ACKed (or known held).
    pub acked_version: u64,
    /// Last version sent.
    pub sent_version: u64,
    /// ACK state.
    pub state: AckState,
    /// Pushes sent so far.
    pub pushes: u64,
}

/// How far a version has spread.
#[derive(Debug, Clone, Default)]
pub struct Convergence {
    /// Connected proxies.
    pub total: u32,
    /// Proxies that got a push for this version.
    pub pushed: u32,
    /// Proxies holding the version.
    pub acked: u32,
    /// Proxies that refused it, with reasons.
    pub nacked: Vec<(String, String)>,
    /// Registered proxies not connected now (their control plane is down, or
    /// they are restarting): they get the version when they reconnect.
    pub disconnected: Vec<String>,
}

impl Convergence {
    /// Every connected proxy either holds the version or refused it.
    pub fn done(&self) -> bool {
        self.acked as usize + self.nacked.len() >= self.total as usize
    }
}

/// A cluster's roots, changed together so a snapshot never sees half a
/// rotation.
struct Roots {
    /// The root that signs.
    signing: Arc<CertificateAuthority>,
    /// A root being introduced: trusted, not signing yet.
    next: Option<Arc<CertificateAuthority>>,
    /// Roots being retired (PEM): trusted until every proxy has renewed.
    retired: Vec<String>,
}

impl Roots {
    fn bundle(&self) -> Vec<String> {
        let mut out = vec![self.signing.root_pem().to_string()];
        out.extend(self.next.iter().map(|c| c.root_pem().to_string()));
        out.extend(self.retired.iter().cloned());
        out
    }
}

struct Inner {
    cluster: String,
    trust_domain: String,
    roots: Mutex<Roots>,
    registry: RwLock<Registry>,
    remote: RwLock<BTreeMap<String, RemoteCluster>>,
    config: watch::Receiver<Arc<ConfigState>>,
    proxies: Mutex<BTreeMap<String, ProxyConn>>,
    events: Arc<EventBus>,
    dirty: Arc<Notify>,
    progress: watch::Sender<u64>,
    nonce: AtomicU64,
    stream_seq: AtomicU64,
    session: Mutex<CancellationToken>,
    traces: TraceStore,
    exports: watch::Sender<u64>,
    generation: AtomicU64,
    pushed_generation: AtomicU64,
    gateway: RwLock<Option<std::net::SocketAddr>>,
    links: Mutex<BTreeMap<String, bool>>,
    federation_token: RwLock<String>,
}

/// A cluster's control plane. Cheap to clone.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("cluster", &self.inner.cluster)
            .finish()
    }
}

impl ControlPlane {
    /// A control plane for `cluster`, pushing the config of `config`.
    pub fn new(
        cluster: &str,
        ca: Arc<CertificateAuthority>,
        config: watch::Receiver<Arc<ConfigState>>,
        events: Arc<EventBus>,
    ) -> Self {
        let (progress, _) = watch::channel(0);
        let cp = Self {
            inner: Arc::new(Inner {
                cluster: cluster.to_string(),
                trust_domain: ca.trust_domain().unwrap_or_default().to_string(),
                roots: Mutex::new(Roots {
                    signing: ca,
                    next: None,
                    retired: Vec::new(),
                }),
                registry: RwLock::new(Registry::default()),
                remote: RwLock::new(BTreeMap::new()),
                config,
                proxies: Mutex::new(BTreeMap::new()),
                events,
                dirty: Arc::new(Notify::new()),
                progress,
                nonce: AtomicU64::new(0),
                stream_seq: AtomicU64::new(0),
                session: Mutex::new(CancellationToken::new()),
                traces: TraceStore::default(),
                exports: watch::channel(0).0,
                generation: AtomicU64::new(0),
                pushed_generation: AtomicU64::new(0),
                gateway: RwLock::new(None),
                links: Mutex::new(BTreeMap::new()),
                federation_token: RwLock::new(String::new()),
            }),
        };
        cp.spawn_push_loop();
        cp
    }

    /// The cluster name.
    pub fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        &self.inner.trust_domain
    }

    /// The cluster CA (the one that signs now).
    pub fn ca(&self) -> Arc<CertificateAuthority> {
        Arc::clone(&self.roots().signing)
    }

    fn roots(&self) -> std::sync::MutexGuard<'_, Roots> {
        match self.inner.roots.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        }
    }

    /// This cluster's trust bundle, read at one instant: the signing root
    /// first, then one being introduced, then ones being retired.
    pub fn roots_pem(&self) -> Vec<String> {
        self.roots().bundle()
    }

    /// The first step of a root rotation: `next` joins this cluster's trust
    /// bundle (pushed to its proxies and exported to federated peers) but
    /// does not sign yet. Refused while another rotation is under way.
    pub fn introduce_root(&self, next: CertificateAuthority) -> Result<(), String> {
        let fp = next.fingerprint();
        {
            let mut r = self.roots();
            if r.next.is_some() || !r.retired.is_empty() {
                return Err(format!(
                    "a root rotation of {} is already under way",
                    self.inner.cluster
                ));
            }
            r.next = Some(Arc::new(next));
        }
        self.inner.events.emit(
            "ca",
            &self.inner.cluster,
            "istiod",
            format!(
                "new root {} for {} joins the trust bundles; it signs once every proxy and peer trusts it",
                short_fp(&fp),
                self.inner.trust_domain
            ),
        );
        self.exports_changed();
        self.mark_dirty();
        Ok(())
    }

    /// Takes an introduced root out again (its propagation failed).
    pub fn withdraw_root(&self, why: &str) {
        let Some(next) = self.roots().next.take() else {
            return;
        };
        self.inner.events.emit(
            "ca",
            &self.inner.cluster,
            "istiod",
            format!(
                "root rotation aborted, root {} withdrawn: {why}",
                short_fp(&next.fingerprint())
            ),
        );
        self.exports_changed();
        self.mark_dirty();
    }

    /// The second step: the introduced root signs from now on. Proxies renew
    /// at once (their snapshots name the new signing root); the old root
    /// leaves the bundle when every proxy of this cluster holds a
    /// certificate from the new one. Returns the new signing CA.
    pub fn sign_with_introduced_root(&self) -> Option<Arc<CertificateAuthority>> {
        let (next, old) = {
            let mut r = self.roots();
            let next = r.next.take()?;
            let old = std::mem::replace(&mut r.signing, Arc::clone(&next));
            r.retired.push(old.root_pem().to_string());
            (next, old)
        };
        self.inner.events.emit(
            "ca",
            &self.inner.cluster,
            "istiod",
            format!(
                "root {} signs now; the old root {} stays trusted until every proxy has renewed",
                short_fp(&next.fingerprint()),
                short_fp(&old.fingerprint())
            ),
        );
        self.mark_dirty();
        let cp = self.clone();
        let fp = next.fingerprint();
        tokio::spawn(async move { cp.retire_when_renewed(fp).await });
        Some(next)
    }

    async fn retire_when_renewed(&self, root: String) {
        // Certificates from the old root expire within MAX_CERT_TTL at the
        // latest: by then it can go even if some proxy never renewed.
        let deadline = tokio::time::Instant::now() + MAX_CERT_TTL;
        let mut wait = Duration::from_millis(100);
        while tokio::time::Instant::now() < deadline {
            let pending = self.with_registry(|r| {
                r.entries()
                    .filter(|e| e.ready && e.cert_root != root)
                    .count()
            });
            if pending == 0 {
                break;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
        let retired = {
            let mut r = self.roots();
            if r.signing.fingerprint() != root {
                return;
            }
            std::mem::take(&mut r.retired)
        };
        self.inner.events.emit(
            "ca",
            &self.inner.cluster,
            "istiod",
            format!(
                "every proxy holds a certificate from root {}: {} old root(s) retired from the trust bundle",
                short_fp(&root),
                retired.len()
            ),
        );
        self.exports_changed();
        self.mark_dirty();
    }

    /// The event bus.
    pub fn events(&self) -> &Arc<EventBus> {
        &self.inner.events
    }

    /// Reads the registry.
    pub fn with_registry<T>(&self, f: impl FnOnce(&Registry) -> T) -> T {
        match self.inner.registry.read() {
            Ok(r) => f(&r),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// Changes the registry and schedules a push.
    pub fn update_registry<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        let out = match self.inner.registry.write() {
            Ok(mut r) => f(&mut r),
            Err(p) => f(&mut p.into_inner()),
        };
        self.exports_changed();
        self.mark_dirty();
        out
    }

    /// Tells federated peers that what this cluster exports changed.
    fn exports_changed(&self) {
        self.inner.exports.send_modify(|g| *g += 1);
    }

    /// Bumps whenever the local registry (and so the exported services) changes.
    pub fn watch_exports(&self) -> watch::Receiver<u64> {
        self.inner.exports.subscribe()
    }

    /// The spans this cluster's collector holds.
    pub fn traces(&self) -> &TraceStore {
        &self.inner.traces
    }

    /// Replaces what another cluster exports to this one.
    pub fn set_remote(&self, cluster: &str, remote: Option<RemoteCluster>) {
        self.set_remote_unless(cluster, remote, &CancellationToken::new());
    }

    /// What a follower heard from its peer: the peer's exports, and its link
    /// marked up. Unless `cancelled`, checked under the same lock that
    /// unfederating takes, so a follower that loses the race with unfederate
    /// can never bring the peer back.
    pub fn heard_from(&self, cluster: &str, remote: RemoteCluster, cancelled: &CancellationToken) {
        self.set_remote_unless(cluster, Some(remote), cancelled);
    }

    fn set_remote_unless(
        &self,
        cluster: &str,
        remote: Option<RemoteCluster>,
        cancelled: &CancellationToken,
    ) {
        if let Ok(mut r) = self.inner.remote.write() {
            if cancelled.is_cancelled() {
                return;
            }
            if remote.is_some() {
                self.set_link(cluster, true);
            }
            let changed = match &remote {
                Some(new) => r.get(cluster) != Some(new),
                None => r.contains_key(cluster),
            };
            if !changed {
                return;
            }
            match remote {
                Some(new) => r.insert(cluster.to_string(), new),
                None => r.remove(cluster),
            };
        }
        self.mark_dirty();
    }

    /// What other clusters export to this one.
    pub fn remotes(&self) -> BTreeMap<String, RemoteCluster> {
        self.inner
            .remote
            .read()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Sets the east-west gateway peers reach this cluster's endpoints through.
    pub fn set_gateway(&self, addr: Option<std::net::SocketAddr>) {
        if let Ok(mut g) = self.inner.gateway.write() {
            *g = addr;
        }
        self.exports_changed();
    }

    /// Forgets the link to a peer this cluster no longer federates with.
    pub fn remove_link(&self, peer: &str) {
        if let Ok(mut l) = self.inner.links.lock() {
            l.remove(peer);
        }
    }

    /// Sets the token peers must present to follow this cluster.
    pub fn set_federation_token(&self, token: &str) {
        if let Ok(mut t) = self.inner.federation_token.write() {
            *t = token.to_string();
        }
    }

    /// Records whether the link to a peer is up.
    pub fn set_link(&self, peer: &str, up: bool) {
        if let Ok(mut l) = self.inner.links.lock() {
            l.insert(peer.to_string(), up);
        }
    }

    /// Peers and whether their links are up.
    pub fn links(&self) -> BTreeMap<String, bool> {
        self.inner
            .links
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The east-west gateway address, if any.
    pub fn gateway(&self) -> Option<std::net::SocketAddr> {
        self.inner.gateway.read().ok().and_then(|g| *g)
    }

    /// Local services and endpoints, as exported to peers: with an east-west
    /// gateway, every endpoint is reached through it.
    pub fn exported(&self) -> RemoteCluster {
        let mut services = self.with_registry(|r| snapshot::local_services(r, &self.inner.cluster));
        if let Some(gw) = self.gateway() {
            for s in &mut services {
                for e in &mut s.endpoints {
                    e.gateway = Some(gw.to_string());
                }
            }
        }
        RemoteCluster {
            trust_domain: self.inner.trust_domain.clone(),
            roots_pem: self.roots_pem(),
            services,
        }
    }

    /// Schedules a push to every proxy whose snapshot changed.
    pub fn mark_dirty(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.dirty.notify_one();
    }

    /// No change waits for a push, and every connected proxy answered its last one.
    pub fn settled(&self) -> bool {
        if self.inner.pushed_generation.load(Ordering::Acquire)
            != self.inner.generation.load(Ordering::Acquire)
        {
            return false;
        }
        self.inner
            .proxies
            .lock()
            .map(|p| {
                p.values()
                    .filter(|c| c.tx.is_some())
                    .all(|c| c.state != AckState::Pending)
            })
            .unwrap_or(false)
    }

    /// Waits until [`Self::settled`] or `timeout`.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let mut rx = self.inner.progress.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.settled() {
                return true;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.settled();
            }
        }
    }

    fn spawn_push_loop(&self) {
        let weak = Arc::downgrade(&self.inner);
        let dirty = Arc::clone(&self.inner.dirty);
        let mut config = self.inner.config.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = dirty.notified() => {}
                    changed = config.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
                tokio::time::sleep(DEBOUNCE).await;
                let Some(inner) = weak.upgrade() else { return };
                ControlPlane { inner }.push_all();
            }
        });
    }

    /// Builds snapshots for every connected proxy and sends those that changed.
    fn push_all(&self) {
        let generation = self.inner.generation.load(Ordering::Acquire);
        let config = self.inner.config.borrow().clone();
        let remote = self.remotes();
        let registry = match self.inner.registry.read() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        let (roots, signing_root) = {
            let r = self.roots();
            (r.bundle(), r.signing.fingerprint())
        };
        let view = MeshView {
            cluster: &self.inner.cluster,
            trust_domain: &self.inner.trust_domain,
            roots_pem: &roots,
            signing_root: &signing_root,
            local: &registry,
            remote: &remote,
            resources: &config.resources,
            version: config.version,
        };
        let services = snapshot::merged_services(&view);
        let mut sends = Vec::new();
        if let Ok(mut proxies) = self.inner.proxies.lock() {
            for (id, conn) in proxies.iter_mut() {
                let Some(tx) = conn.tx.clone() else { continue };
                let Some(entry) = registry.get(id) else {
                    continue;
                };
                let snap = snapshot::build(&view, entry, &services);
                let unchanged = conn
                    .last_sent
                    .as_ref()
                    .is_some_and(|s| s.same_content(&snap));
                if unchanged {
                    if conn.state == AckState::Acked {
                        conn.acked_version = conn.acked_version.max(snap.version);
                    }
                    conn.sent_version = conn.sent_version.max(snap.version);
                    continue;
                }
                if let Some(resp) = self.prepare(conn, snap) {
                    sends.push((id.clone(), tx, resp));
                }
            }
        }
        drop(registry);
        self.inner
            .pushed_generation
            .store(generation, Ordering::Release);
        self.inner.progress.send_modify(|p| *p += 1);
        for (id, tx, resp) in sends {
            let cluster = self.inner.cluster.clone();
            let events = Arc::clone(&self.inner.events);
            tokio::spawn(async move {
                let version = resp.version_info.clone();
                if tx.send(Ok(resp)).await.is_ok() {
                    events.emit("push", &cluster, &id, format!("pushed v{version}"));
                }
            });
        }
    }

    fn prepare(&self, conn: &mut ProxyConn, snap: ProxySnapshot) -> Option<DiscoveryResponse> {
        let body = serde_json::to_vec(&snap).ok()?;
        let nonce = self.inner.nonce.fetch_add(1, Ordering::Relaxed) + 1;
        conn.sent_nonce = nonce.to_string();
        conn.sent_version = snap.version;
        conn.last_push_version = snap.version;
        conn.sent_at = Instant::now();
        conn.state = AckState::Pending;
        conn.pushes += 1;
        conn.last_sent = Some(snap.clone());
        Some(DiscoveryResponse {
            version_info: snap.version.to_string(),
            nonce: conn.sent_nonce.clone(),
            snapshot: body,
        })
    }

    fn on_request(&self, id: &str, seq: u64, req: DiscoveryRequest) {
        for ev in &req.events {
            self.inner.events.emit_at(
                ev.unix_ms,
                &ev.kind,
                &self.inner.cluster,
                id,
                ev.message.clone(),
            );
        }
        if req.response_nonce.is_empty() {
            return;
        }
        let mut nack = None;
        if let Ok(mut proxies) = self.inner.proxies.lock() {
            let Some(conn) = proxies.get_mut(id) else {
                return;
            };
            if conn.stream_seq != seq || conn.sent_nonce != req.response_nonce {
                return; // an answer to an older push
            }
            if req.error_detail.is_empty() {
                conn.state = AckState::Acked;
                conn.acked_version = conn.sent_version;
                tracing::debug!(proxy = id, version = conn.sent_version, elapsed = ?conn.sent_at.elapsed(), "ACK");
            } else {
                conn.state = AckState::Nacked(req.error_detail.clone());
                // A NACKed snapshot must be sent again once the config changes.
                conn.last_sent = None;
                nack = Some(format!(
                    "v{} NACKed: {}",
                    conn.sent_version, req.error_detail
                ));
            }
        }
        if let Some(msg) = nack {
            self.inner.events.emit("nack", &self.inner.cluster, id, msg);
        }
        self.inner.progress.send_modify(|p| *p += 1);
    }

    fn on_disconnect(&self, id: &str, seq: u64) {
        if let Ok(mut proxies) = self.inner.proxies.lock() {
            if let Some(conn) = proxies.get_mut(id) {
                if conn.stream_seq == seq {
                    conn.tx = None;
                    conn.state = AckState::Disconnected;
                }
            }
        }
        self.inner.progress.send_modify(|p| *p += 1);
    }

    /// Per-proxy state for the console, disconnected registry entries included.
    pub fn proxies(&self) -> Vec<ProxyStatus> {
        let entries: Vec<WorkloadEntry> = self.with_registry(|r| r.entries().cloned().collect());
        let proxies = self.inner.proxies.lock();
        let mut out = Vec::new();
        for e in entries {
            let id = e.id();
            let conn = proxies.as_ref().ok().and_then(|p| p.get(&id));
            out.push(ProxyStatus {
                kind: e.kind,
                cluster: e.instance.cluster.clone(),
                service: e.instance.service.clone(),
                instance: e.instance.name.clone(),
                connected: conn.is_some_and(|c| c.tx.is_some()),
                acked_version: conn.map_or(0, |c| c.acked_version),
                sent_version: conn.map_or(0, |c| c.sent_version),
                state: conn.map_or(AckState::Disconnected, |c| c.state.clone()),
                pushes: conn.map_or(0, |c| c.pushes),
                id,
            });
        }
        out
    }

    /// How far `version` has spread among connected proxies.
    pub fn convergence(&self, version: u64) -> Convergence {
        let mut c = Convergence::default();
        let registered: Vec<String> = self.with_registry(|r| r.entries().map(|e| e.id()).collect());
        if let Ok(proxies) = self.inner.proxies.lock() {
            c.disconnected = registered
                .into_iter()
                .filter(|id| proxies.get(id).is_none_or(|p| p.tx.is_none()))
                .collect();
            for (id, conn) in proxies.iter() {
                if conn.tx.is_none() {
                    continue;
                }
                c.total += 1;
                if conn.last_push_version == version {
                    c.pushed += 1;
                }
                match &conn.state {
                    AckState::Nacked(reason) if conn.sent_version >= version => {
                        c.nacked.push((id.clone(), reason.clone()))
                    }
                    _ if conn.acked_version >= version => c.acked += 1,
                    _ => {}
                }
            }
        }
        c
    }

    /// Waits until `version` has converged or `timeout` passes.
    pub async fn wait_converged(&self, version: u64, timeout: Duration) -> Convergence {
        let mut rx = self.inner.progress.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let c = self.convergence(version);
            if c.done() {
                return c;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.convergence(version),
            }
        }
    }

    /// Serves Discovery and Certificates on `listener` until `cancel`. Streams
    /// end with the session, so proxies notice at once and reconnect later.
    pub async fn serve(
        &self,
        listener: TcpListener,
        cancel: CancellationToken,
    ) -> Result<(), tonic::transport::Error> {
        let session = cancel.child_token();
        if let Ok(mut s) = self.inner.session.lock() {
            *s = session.clone();
        }
        self.inner.events.emit(
            "control-plane",
            &self.inner.cluster,
            "istiod",
            "control plane serving",
        );
        let res = tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(DiscoveryServer::new(DiscoveryService { cp: self.clone() }))
            .add_service(CertificatesServer::new(CertificateService {
                cp: self.clone(),
            }))
            .add_service(crate::proto::federation_server::FederationServer::new(
                super::federation::FederationService {
                    cp: self.clone(),
                    token: self
                        .inner
                        .federation_token
                        .read()
                        .map(|t| t.clone())
                        .unwrap_or_default(),
                    session: session.clone(),
                },
            ))
            .add_service(TraceServiceServer::new(Collector {
                store: self.inner.traces.clone(),
            }))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), session.cancelled())
            .await;
        // Drop every stream sender so clients see their streams end.
        if let Ok(mut proxies) = self.inner.proxies.lock() {
            for conn in proxies.values_mut() {
                conn.tx = None;
                conn.state = AckState::Disconnected;
            }
        }
        self.inner.events.emit(
            "control-plane",
            &self.inner.cluster,
            "istiod",
            "control plane stopped",
        );
        res
    }

    fn authenticate(&self, token: &str) -> Result<WorkloadEntry, Status> {
        self.with_registry(|r| r.by_token(token).cloned())
            .ok_or_else(|| {
                Status::unauthenticated(
                    "unknown bootstrap token: this workload is not registered in the cluster",
                )
            })
    }
}

struct DiscoveryService {
    cp: ControlPlane,
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Discovery for DiscoveryService {
    type StreamStream = ResponseStream;

    async fn stream(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let mut incoming = request.into_inner();
        let first = incoming.message().await?.ok_or_else(|| {
            Status::invalid_argument("the stream must start with the proxy's Node")
        })?;
        let node = first.node.clone().ok_or_else(|| {
            Status::invalid_argument("the first message must carry the proxy's Node")
        })?;
        let entry = self.cp.authenticate(&node.token)?;
        if entry.id() != node.id {
            return Err(Status::permission_denied(format!(
                "token belongs to {}, not {}",
                entry.id(),
                node.id
            )));
        }
        let id = node.id.clone();
        let (tx, rx) = mpsc::channel(8);
        let seq = self.cp.inner.stream_seq.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut proxies) = self.cp.inner.proxies.lock() {
            let acked = proxies.get(&id).map_or(0, |c| c.acked_version);
            // A reconnecting proxy says which version it still runs.
            let held = first.version_info.parse::<u64>().unwrap_or(0);
            proxies.insert(
                id.clone(),
                ProxyConn {
                    tx: Some(tx),
                    stream_seq: seq,
                    last_sent: None,
                    sent_version: held,
                    sent_nonce: String::new(),
                    sent_at: Instant::now(),
                    acked_version: acked.max(held),
                    state: AckState::Pending,
                    pushes: 0,
                    last_push_version: 0,
                },
            );
        }
        self.cp
            .inner
            .events
            .emit("connect", &self.cp.inner.cluster, &id, "proxy connected");
        self.cp.mark_dirty();
        let cp = self.cp.clone();
        let session = self
            .cp
            .inner
            .session
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        tokio::spawn(async move {
            cp.on_request(&id, seq, first);
            loop {
                tokio::select! {
                    _ = session.cancelled() => break,
                    msg = incoming.message() => match msg {
                        Ok(Some(req)) => cp.on_request(&id, seq, req),
                        _ => break,
                    }
                }
            }
            cp.on_disconnect(&id, seq);
        });
        let stream = ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }
}

struct CertificateService {
    cp: ControlPlane,
}

#[tonic::async_trait]
impl Certificates for CertificateService {
    async fn sign(&self, request: Request<SignRequest>) -> Result<Response<SignResponse>, Status> {
        let req = request.into_inner();
        let entry = self.cp.authenticate(&req.token)?;
        let ttl = Duration::from_secs(req.ttl_seconds.max(1)).min(MAX_CERT_TTL);
        let ca = self.cp.ca();
        let issued = ca
            .sign_csr(&req.csr_pem, &entry.spiffe_id, ttl)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let not_after = certinfo::rfc3339(issued.not_after);
        let root = ca.fingerprint();
        let issuer = format!("{} root {}", self.cp.inner.trust_domain, short_fp(&root));
        let id = entry.id();
        let mut rotated = false;
        if let Ok(mut r) = self.cp.inner.registry.write() {
            r.update(&id, |e| {
                rotated = e.certs_issued > 0;
                e.certs_issued += 1;
                e.cert_serial = issued.serial.clone();
                e.cert_not_after = not_after.clone();
                e.issuer = issuer.clone();
                e.cert_root = root.clone();
            });
        }
        let kind = if rotated {
            "cert-rotated"
        } else {
            "cert-issued"
        };
        self.cp.inner.events.emit(
            kind,
            &self.cp.inner.cluster,
            &id,
            format!(
                "{} serial {} until {not_after}",
                entry.spiffe_id,
                &issued.serial[..issued.serial.len().min(16)]
            ),
        );
        Ok(Response::new(SignResponse {
            cert_chain_pem: issued.chain_pem,
            spiffe_id: entry.spiffe_id.to_string(),
        }))
    }
}
