//! Pushes and their answers: the debounced loop that rebuilds snapshots,
//! what the control plane remembers per proxy stream, and the ACK/NACK
//! bookkeeping the console reads.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tonic::Status;

use super::ControlPlane;
use crate::control::events::EventKind;
use crate::control::registry::{ProxyKind, WorkloadEntry};
use crate::control::snapshot::{self, MeshView, ProxySnapshot};
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
        let services = snapshot::merged_services(&view);
        let mut sends = Vec::new();
        {
            let mut proxies = self.inner.proxies.lock();
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
                    events.emit(EventKind::Push, &cluster, &id, format!("pushed v{version}"));
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
