//! One cluster's control plane: the Discovery stream (ADS-style push with
//! versions, nonces, ACK and NACK), the Certificates service in front of the
//! cluster CA, and the bookkeeping the console reads (per-proxy versions and
//! ACK state).
//!
//! Pushes are debounced: changes mark the plane dirty, and a single task
//! rebuilds every connected proxy's snapshot a few milliseconds later. Only
//! proxies whose snapshot content changed get a push; the others are known to
//! hold the new version already.
//!
//! - [`roots`]: the cluster's roots and their rotation.
//! - [`push`]: building, sending and answering pushes (ACK/NACK).
//! - [`convergence`]: how far a version has spread, and waiting for it.
//! - [`services`]: the gRPC services (Discovery, Certificates) over all of it.
//!
//! What a control plane knows of its federated peers lives in
//! [`super::federation`].

mod convergence;
mod peers;
mod push;
mod roots;
mod services;

use peers::Peers;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::events::{EventBus, EventKind};
use super::registry::{Registry, WorkloadEntry};
use super::store::ConfigState;
use crate::identity::CertificateAuthority;
use crate::proto::certificates_server::CertificatesServer;
use crate::proto::discovery_server::DiscoveryServer;
use crate::telemetry::collector::{Collector, TraceStore};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
pub use push::AckState;
use push::ProxyConn;
pub use roots::RootRotationError;
use roots::Roots;

/// How long changes are gathered before a push.
pub const DEBOUNCE: Duration = Duration::from_millis(2);
/// The longest certificate lifetime the CA grants.
pub const MAX_CERT_TTL: Duration = Duration::from_secs(24 * 3600);

/// The first 12 hex digits of a fingerprint, for messages.
pub fn short_fp(fp: &str) -> &str {
    &fp[..fp.len().min(12)]
}

pub(super) struct Inner {
    cluster: String,
    trust_domain: String,
    roots: Mutex<Roots>,
    registry: RwLock<Registry>,
    /// What federated peers export to this cluster and how to reach them.
    pub(super) peers: Peers,
    config: watch::Receiver<Arc<ConfigState>>,
    proxies: Mutex<BTreeMap<String, ProxyConn>>,
    events: Arc<EventBus>,
    /// Wakes the push loop.
    dirty: Arc<Notify>,
    /// Bumps on every push, ACK, NACK and disconnect, for waiters.
    progress: watch::Sender<u64>,
    nonce: AtomicU64,
    /// Tells an old stream's late messages from the current stream's.
    stream_seq: AtomicU64,
    /// Cancelled when the server stops, ending every stream it opened.
    session: Mutex<CancellationToken>,
    traces: TraceStore,
    /// Changes counted by `mark_dirty`; the push loop records the last one
    /// it pushed, so `settled` knows whether a change still waits.
    generation: AtomicU64,
    pushed_generation: AtomicU64,
    /// The services of the last push and what they were merged from.
    merged: Mutex<Option<push::MergedServices>>,
}

/// A cluster's control plane. Cheap to clone.
#[derive(Clone)]
pub struct ControlPlane {
    pub(super) inner: Arc<Inner>,
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
                roots: Mutex::new(Roots::new(ca)),
                registry: RwLock::new(Registry::default()),
                peers: Peers::default(),
                config,
                proxies: Mutex::new(BTreeMap::new()),
                events,
                dirty: Arc::new(Notify::new()),
                progress,
                nonce: AtomicU64::new(0),
                stream_seq: AtomicU64::new(0),
                session: Mutex::new(CancellationToken::new()),
                traces: TraceStore::default(),
                generation: AtomicU64::new(0),
                pushed_generation: AtomicU64::new(0),
                merged: Mutex::new(None),
            }),
        };
        cp.spawn_push_loop();
        cp
    }

    /// The cluster this control plane serves, e.g. `eu`.
    pub fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    /// The trust domain its CA signs for, e.g. `eu.mesh`.
    pub fn trust_domain(&self) -> &str {
        &self.inner.trust_domain
    }

    /// The mesh-wide bus this control plane reports its events to.
    pub fn events(&self) -> &Arc<EventBus> {
        &self.inner.events
    }

    /// Reads the registry.
    pub fn with_registry<T>(&self, f: impl FnOnce(&Registry) -> T) -> T {
        f(&self.inner.registry.read())
    }

    /// Changes the registry and schedules a push.
    pub fn update_registry<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        let out = f(&mut self.inner.registry.write());
        self.exports_changed();
        self.mark_dirty();
        out
    }

    /// The spans this cluster's collector holds.
    pub fn traces(&self) -> &TraceStore {
        &self.inner.traces
    }

    /// Serves Discovery, Certificates, Federation and the trace collector on
    /// `listener` until `cancel`. Streams end with the session, so proxies
    /// notice at once and reconnect later.
    pub async fn serve(
        &self,
        listener: TcpListener,
        cancel: CancellationToken,
    ) -> Result<(), tonic::transport::Error> {
        let session = cancel.child_token();
        *self.inner.session.lock() = session.clone();
        self.inner.events.emit(
            EventKind::ControlPlane,
            &self.inner.cluster,
            "istiod",
            "control plane serving",
        );
        // Keepalive pings, a connection cap and an idle timeout: a flood of
        // idle clients cannot hold the plane's descriptors (crate::http).
        let limits = crate::http::ListenerLimits::CONTROL_PLANE;
        let res = crate::http::grpc_server(limits)
            .add_service(DiscoveryServer::new(services::DiscoveryService {
                cp: self.clone(),
            }))
            .add_service(CertificatesServer::new(services::CertificateService {
                cp: self.clone(),
            }))
            .add_service(crate::proto::federation_server::FederationServer::new(
                super::federation::FederationService {
                    cp: self.clone(),
                    token: self.federation_token(),
                    session: session.clone(),
                },
            ))
            .add_service(TraceServiceServer::new(Collector {
                store: self.inner.traces.clone(),
            }))
            .serve_with_incoming_shutdown(
                crate::http::grpc_incoming(listener, "control-plane", limits),
                session.cancelled(),
            )
            .await;
        self.disconnect_all();
        self.inner.events.emit(
            EventKind::ControlPlane,
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
