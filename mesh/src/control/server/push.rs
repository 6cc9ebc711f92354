//! Pushes and their answers: the debounced loop that rebuilds snapshots,
//! what the control plane remembers per proxy stream, and the ACK/NACK
//! bookkeeping the console reads.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tonic::Status;

use super::ControlPlane;
use crate::control::events::EventKind;
use crate::control::registry::{ProxyKind, WorkloadEntry};
use crate::control::snapshot::{self, MeshView, ProxySnapshot, RemoteCluster, ServiceEntry};
use crate::proto::{DiscoveryRequest, DiscoveryResponse};

/// ACK state of one proxy, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckState {
    /// Holds the last version sent.
    Acked,
    /// A push is in flight.
    Pending,
    /// Refused the last push, keeping its previous config; the proxy's reason.
    Nacked(String),
    /// No stream open.
    Disconnected,
}

impl AckState {
    /// The upper-case name the console API sends (`ACKED`, `NACKED`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            AckState::Acked => "ACKED",
            AckState::Pending => "PENDING",
            AckState::Nacked(_) => "NACKED",
            AckState::Disconnected => "DISCONNECTED",
        }
    }
}

/// How long a proxy whose stream is still full of earlier pushes is left
/// before it is pushed to again.
const BACKLOG_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

pub(super) type ResponseTx = mpsc::Sender<Result<DiscoveryResponse, Status>>;

/// What the control plane remembers of one proxy's Discovery stream.
#[derive(Debug)]
pub(super) struct ProxyConn {
    /// None once the stream ended.
    pub(super) tx: Option<ResponseTx>,
    pub(super) stream_seq: u64,
    /// What the last push carried, to skip pushes that change nothing.
    pub(super) last_sent: Option<ProxySnapshot>,
    pub(super) sent_version: u64,
    pub(super) sent_nonce: String,
    pub(super) sent_at: Instant,
    pub(super) acked_version: u64,
    pub(super) state: AckState,
    pub(super) pushes: u64,
    /// The version of the last snapshot actually sent, for "pushed" counts.
    pub(super) last_push_version: u64,
}

impl ProxyConn {
    /// A fresh stream from a proxy that says it still runs `held`, having
    /// ACKed `acked` on an earlier stream.
    pub(super) fn new(tx: ResponseTx, stream_seq: u64, held: u64, acked: u64) -> Self {
        Self {
            tx: Some(tx),
            stream_seq,
            last_sent: None,
            sent_version: held,
            sent_nonce: String::new(),
            sent_at: Instant::now(),
            acked_version: acked.max(held),
            state: AckState::Pending,
            pushes: 0,
            last_push_version: 0,
        }
    }
}

/// Services merged from the registry at one generation and peers' exports.
#[derive(Debug)]
pub(super) struct MergedServices {
    registry_generation: u64,
    remote: BTreeMap<String, RemoteCluster>,
    services: Arc<Vec<ServiceEntry>>,
}

/// A proxy's state as reported to the console.
#[derive(Debug, Clone)]
pub struct ProxyStatus {
    /// `instance.namespace.cluster`, the registry's key.
    pub id: String,
    /// Sidecar or which gateway.
    pub kind: ProxyKind,
    /// The cluster whose control plane it talks to.
    pub cluster: String,
    /// The service it fronts.
    pub service: String,
    /// The instance name, e.g. `billing-v1-0`.
    pub instance: String,
    /// Whether its Discovery stream is open.
    pub connected: bool,
    /// Last version ACKed (or known held).
    pub acked_version: u64,
    /// Last version sent.
    pub sent_version: u64,
    /// Where the last push stands.
    pub state: AckState,
    /// Pushes sent so far.
    pub pushes: u64,
}

impl ControlPlane {
    /// Schedules a push to every proxy whose snapshot changed.
    pub fn mark_dirty(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.dirty.notify_one();
    }

    pub(super) fn spawn_push_loop(&self) {
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
                tokio::time::sleep(super::DEBOUNCE).await;
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
        let registry = self.inner.registry.read();
        let (roots, signing_root) = self.roots_and_signer();
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
        let services = self.merged_services(&view);
        let mut sent = Vec::new();
        let mut backlogged = false;
        // Only this loop pushes, so each proxy's pushes leave in the order
        // built; the lock is taken per proxy, so ACKs of the first proxies
        // are taken in while the last ones' snapshots are still built.
        let ids: Vec<String> = self.inner.proxies.lock().keys().cloned().collect();
        for id in ids {
            let Some(entry) = registry.get(&id) else {
                continue;
            };
            let snap = snapshot::build(&view, entry, &services);
            let mut proxies = self.inner.proxies.lock();
            let Some(conn) = proxies.get_mut(&id) else {
                continue;
            };
            let Some(tx) = conn.tx.clone() else { continue };
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
            if tx.capacity() == 0 {
                // The proxy has not read its earlier pushes yet: a later
                // round sends this (last_sent still differs).
                backlogged = true;
                continue;
            }
            let Some(resp) = self.prepare(conn, snap) else {
                continue;
            };
            // Queued here, under the lock, so a proxy receives pushes in
            // the order they were built: two sends racing on separate
            // tasks could deliver an older snapshot last, which the
            // proxy would keep (a trust bundle without a peer's root)
            // while the newer one's ACK told us all was well.
            let version = resp.version_info.clone();
            match tx.try_send(Ok(resp)) {
                Ok(()) => sent.push((id, version)),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Only this loop sends, under the lock, so room seen
                    // above stays; should it not, send again later.
                    conn.last_sent = None;
                    backlogged = true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    conn.tx = None;
                    conn.state = AckState::Disconnected;
                }
            }
        }
        drop(registry);
        // A proxy left behind still waits for this generation: not settled.
        if !backlogged {
            self.inner
                .pushed_generation
                .store(generation, Ordering::Release);
        }
        self.inner.progress.send_modify(|p| *p += 1);
        for (id, version) in sent {
            self.inner.events.emit(
                EventKind::Push,
                &self.inner.cluster,
                &id,
                format!("pushed v{version}"),
            );
        }
        if backlogged {
            let weak = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                tokio::time::sleep(BACKLOG_RETRY).await;
                if let Some(inner) = weak.upgrade() {
                    ControlPlane { inner }.mark_dirty();
                }
            });
        }
    }

    /// Every service this cluster knows, merged anew only when the registry
    /// or a peer's exports changed: a policy change reuses the last merge.
    fn merged_services(&self, view: &MeshView<'_>) -> Arc<Vec<ServiceEntry>> {
        let generation = view.local.generation();
        let mut cache = self.inner.merged.lock();
        if let Some(c) = cache.as_ref() {
            if c.registry_generation == generation && c.remote == *view.remote {
                return Arc::clone(&c.services);
            }
        }
        let services = Arc::new(snapshot::merged_services(view));
        *cache = Some(MergedServices {
            registry_generation: generation,
            remote: view.remote.clone(),
            services: Arc::clone(&services),
        });
        services
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
        let version_info = snap.version.to_string();
        conn.last_sent = Some(snap);
        Some(DiscoveryResponse {
            version_info,
            nonce: conn.sent_nonce.clone(),
            snapshot: body,
        })
    }

    /// A new stream from proxy `id`; replaces any older one.
    pub(super) fn on_connect(&self, id: &str, seq: u64, tx: ResponseTx, held: u64) {
        {
            let mut proxies = self.inner.proxies.lock();
            let acked = proxies.get(id).map_or(0, |c| c.acked_version);
            proxies.insert(id.to_string(), ProxyConn::new(tx, seq, held, acked));
        }
        self.inner.events.emit(
            EventKind::Connect,
            &self.inner.cluster,
            id,
            "proxy connected",
        );
        self.mark_dirty();
    }

    /// A message on stream `seq` of proxy `id`: the events it reports, and
    /// an ACK or NACK of a push.
    pub(super) fn on_request(&self, id: &str, seq: u64, req: DiscoveryRequest) {
        for ev in &req.events {
            match ev.kind.parse::<EventKind>() {
                Ok(kind) => self.inner.events.emit_at(
                    ev.unix_ms,
                    kind,
                    &self.inner.cluster,
                    id,
                    ev.message.clone(),
                ),
                Err(e) => tracing::warn!(proxy = id, error = %e, "dropped a proxy event"),
            }
        }
        if req.response_nonce.is_empty() {
            return;
        }
        let mut nack = None;
        {
            let mut proxies = self.inner.proxies.lock();
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
            self.inner
                .events
                .emit(EventKind::Nack, &self.inner.cluster, id, msg);
        }
        self.inner.progress.send_modify(|p| *p += 1);
    }

    /// Stream `seq` of proxy `id` ended (unless a newer one replaced it).
    pub(super) fn on_disconnect(&self, id: &str, seq: u64) {
        if let Some(conn) = self.inner.proxies.lock().get_mut(id) {
            if conn.stream_seq == seq {
                conn.tx = None;
                conn.state = AckState::Disconnected;
            }
        }
        self.inner.progress.send_modify(|p| *p += 1);
    }

    /// Drops every stream sender so clients see their streams end.
    pub(super) fn disconnect_all(&self) {
        for conn in self.inner.proxies.lock().values_mut() {
            conn.tx = None;
            conn.state = AckState::Disconnected;
        }
    }

    /// Per-proxy state for the console, disconnected registry entries included.
    pub fn proxies(&self) -> Vec<ProxyStatus> {
        let entries: Vec<WorkloadEntry> = self.with_registry(|r| r.entries().cloned().collect());
        let proxies = self.inner.proxies.lock();
        let mut out = Vec::new();
        for e in entries {
            let id = e.id();
            let conn = proxies.get(&id);
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
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::{mpsc, watch};

    use super::*;
    use crate::control::events::EventBus;
    use crate::control::registry::Addresses;
    use crate::control::store::ConfigState;
    use crate::identity::{CertificateAuthority, SpiffeId};
    use crate::topology::Instance;

    fn entry(service: &str) -> WorkloadEntry {
        let instance = Instance {
            cluster: "eu".into(),
            namespace: "default".into(),
            service: service.into(),
            version: "v1".into(),
            index: 0,
            name: format!("{service}-v1-0"),
            service_account: service.into(),
        };
        WorkloadEntry {
            kind: ProxyKind::Sidecar,
            spiffe_id: SpiffeId::workload("eu.mesh", "default", service).expect("valid id"),
            instance,
            token: format!("token-{service}"),
            addresses: Addresses {
                app: Some("127.0.0.1:8080".parse().expect("address")),
                inbound: Some("127.0.0.1:15006".parse().expect("address")),
                ..Addresses::default()
            },
            port: 8080,
            ready: true,
            external: false,
            cert_serial: String::new(),
            cert_not_after: String::new(),
            certs_issued: 0,
            issuer: String::new(),
            cert_root: String::new(),
            scope: None,
        }
    }

    fn snapshot_of(resp: &Result<DiscoveryResponse, Status>) -> (u64, ProxySnapshot) {
        let resp = resp.as_ref().expect("a push, not an error");
        let nonce = resp.nonce.parse().expect("numeric nonce");
        let snap = serde_json::from_slice(&resp.snapshot).expect("snapshot JSON");
        (nonce, snap)
    }

    /// A control plane with `user`'s sidecar connected on a stream of `capacity`.
    fn connected(
        capacity: usize,
    ) -> (
        ControlPlane,
        mpsc::Receiver<Result<DiscoveryResponse, Status>>,
    ) {
        let ca = Arc::new(CertificateAuthority::generate("eu.mesh").expect("CA"));
        let (_config_tx, config) = watch::channel(Arc::new(ConfigState::default()));
        let cp = ControlPlane::new("eu", ca, config, Arc::new(EventBus::default()));
        let user = entry("user");
        let id = user.id();
        cp.update_registry(|r| r.upsert(user));
        let (tx, rx) = mpsc::channel(capacity);
        cp.on_connect(&id, 1, tx, 0);
        (cp, rx)
    }

    #[tokio::test]
    async fn pushes_reach_a_proxy_in_the_order_they_were_built() {
        let (cp, mut rx) = connected(8);

        cp.push_all();
        cp.update_registry(|r| r.upsert(entry("billing")));
        cp.push_all();

        // Both are queued before push_all returns, oldest first: a send left
        // to a task of its own could land after a newer one.
        let (n1, first) = snapshot_of(&rx.try_recv().expect("first push queued"));
        let (n2, second) = snapshot_of(&rx.try_recv().expect("second push queued"));
        assert!(n1 < n2, "nonces {n1} then {n2}");
        let names = |s: &ProxySnapshot| {
            s.services
                .iter()
                .map(|e| e.name.clone())
                .collect::<Vec<_>>()
        };
        assert!(
            !names(&first).contains(&"billing".to_string()),
            "{:?}",
            names(&first)
        );
        assert!(
            names(&second).contains(&"billing".to_string()),
            "{:?}",
            names(&second)
        );
    }

    #[tokio::test]
    async fn a_proxy_behind_on_its_pushes_gets_the_newest_once_it_reads() {
        let (cp, mut rx) = connected(1);

        cp.push_all();
        cp.update_registry(|r| r.upsert(entry("billing")));
        // The stream is full: nothing is dropped in its place, nothing waits.
        cp.push_all();
        let (n1, first) = snapshot_of(&rx.try_recv().expect("first push queued"));
        assert!(
            rx.try_recv().is_err(),
            "a push was queued past a full stream"
        );
        assert!(first.services.iter().all(|e| e.name != "billing"));
        // ACKing what it got does not make the plane settled: it is behind.
        let id = entry("user").id();
        let ack = |nonce: u64| DiscoveryRequest {
            response_nonce: nonce.to_string(),
            ..Default::default()
        };
        cp.on_request(&id, 1, ack(n1));
        assert!(!cp.settled(), "settled with a proxy left behind");

        // Once there is room, the next round sends what is current.
        cp.push_all();
        let (n2, newest) = snapshot_of(&rx.try_recv().expect("newest push queued"));
        assert!(newest.services.iter().any(|e| e.name == "billing"));
        cp.on_request(&id, 1, ack(n2));
        assert!(cp.settled());
    }
}
