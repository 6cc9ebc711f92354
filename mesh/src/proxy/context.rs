//! What every part of one proxy shares: who it is, its certificate and trust
//! bundles, the compiled config (swapped atomically on each accepted push),
//! cluster state, the upstream pool, metrics, and the event channel to the
//! control plane.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::cluster::ClusterManager;
use super::compile::{self, CompileError, CompileInputs, CompiledConfig};
use super::routes::Source;
use super::upstream::UpstreamPool;
use crate::control::events::EventKind;
use crate::control::registry::ProxyKind;
use crate::control::snapshot::ProxySnapshot;
use crate::identity::{SpiffeId, TrustStore, WorkloadIdentity};
use crate::proto::ProxyEvent;
use crate::telemetry::metrics::{Metrics, Peer};
use crate::telemetry::{exact::EdgeLatencies, tap::Tap, trace::SpanSink};

/// The header by which sidecars tell each other who the caller is (Istio
/// does the same with its peer metadata exchange). The principal is never
/// taken from it: that comes from the verified certificate.
pub const PEER_HEADER: &str = "x-meshcon-peer";

/// Who a proxy is.
#[derive(Debug, Clone)]
pub struct ProxyInfo {
    /// Unique id (`billing-v1-0.default.us`).
    pub id: String,
    /// Sidecar or gateway.
    pub kind: ProxyKind,
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Service (for gateways, the gateway's own name).
    pub service: String,
    /// Version label.
    pub version: String,
    /// Instance name.
    pub instance: String,
    /// Its SPIFFE ID.
    pub spiffe_id: SpiffeId,
    /// The pod address its outbound connections leave from.
    pub pod_ip: Option<IpAddr>,
}

impl ProxyInfo {
    /// user-v1-0 in cluster eu (trust domain `eu.mesh`), for unit tests.
    #[cfg(test)]
    pub(crate) fn test_user() -> Self {
        Self {
            id: "user-v1-0.default.eu".into(),
            kind: ProxyKind::Sidecar,
            cluster: "eu".into(),
            namespace: "default".into(),
            service: "user".into(),
            version: "v1".into(),
            instance: "user-v1-0".into(),
            spiffe_id: "spiffe://eu.mesh/ns/default/sa/user"
                .parse()
                .expect("a valid SPIFFE ID"),
            pod_ip: None,
        }
    }

    /// Istio's workload name (`billing-v1`; the gateway's name for gateways).
    pub fn workload(&self) -> String {
        match self.kind {
            ProxyKind::Sidecar => format!("{}-{}", self.service, self.version),
            _ => self.service.clone(),
        }
    }

    /// Pod labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            ("app".to_string(), self.service.clone()),
            ("version".to_string(), self.version.clone()),
            (
                "topology.istio.io/cluster".to_string(),
                self.cluster.clone(),
            ),
        ]);
        match self.kind {
            ProxyKind::IngressGateway => {
                l.insert("istio".into(), "ingressgateway".into());
            }
            ProxyKind::EastwestGateway => {
                l.insert("istio".into(), "eastwestgateway".into());
            }
            ProxyKind::Sidecar => {}
        }
        l
    }

    /// This proxy as a metrics peer.
    pub fn peer(&self) -> Peer {
        Peer {
            workload: self.workload(),
            namespace: self.namespace.clone(),
            principal: self.spiffe_id.to_string(),
            app: self.service.clone(),
            version: self.version.clone(),
            cluster: self.cluster.clone(),
        }
    }

    /// The value of [`PEER_HEADER`] for outgoing requests.
    pub fn peer_header(&self) -> String {
        format!(
            "workload={};namespace={};app={};version={};cluster={};principal={};instance={}",
            self.workload(),
            self.namespace,
            self.service,
            self.version,
            self.cluster,
            self.spiffe_id,
            self.instance
        )
    }
}

/// The instance (pod) a [`PEER_HEADER`] value names, for the tap: kept out
/// of [`Peer`], whose fields are metric labels.
pub fn peer_instance(value: &str) -> Option<String> {
    value
        .split(';')
        .find_map(|part| part.strip_prefix("instance="))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Reads a [`PEER_HEADER`] value. On requests the principal it claims is
/// replaced by the one the peer's certificate proves.
pub fn parse_peer_header(value: &str) -> Peer {
    let mut p = Peer::unknown();
    for part in value.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = v.to_string();
        match k {
            "workload" => p.workload = v,
            "namespace" => p.namespace = v,
            "app" => p.app = v,
            "version" => p.version = v,
            "cluster" => p.cluster = v,
            "principal" => p.principal = v,
            _ => {}
        }
    }
    p
}

/// State shared by the listeners of one proxy.
pub struct ProxyContext {
    /// Who this proxy is.
    pub info: ProxyInfo,
    /// Its certificate.
    pub identity: Arc<WorkloadIdentity>,
    /// Its trust bundles.
    pub trust: Arc<TrustStore>,
    config: ArcSwap<CompiledConfig>,
    snapshot: ArcSwap<ProxySnapshot>,
    /// Per-cluster state.
    pub clusters: ClusterManager,
    /// Upstream connections.
    pub pool: UpstreamPool,
    /// Istio metrics.
    pub metrics: Metrics,
    /// Exact per-edge latency histograms.
    pub latencies: EdgeLatencies,
    /// Recent requests for the console's tap.
    pub tap: Tap,
    /// Spans on their way to the collector.
    pub spans: SpanSink,
    events: mpsc::Sender<ProxyEvent>,
    event_budget: Mutex<(Instant, u32)>,
    /// True once it has a certificate and a config.
    pub ready: watch::Sender<bool>,
    /// True while the discovery stream is open.
    pub control_plane: watch::Sender<bool>,
    /// For ingress gateways: the topology's hosts and default service.
    pub default_ingress: Option<(Vec<String>, String)>,
    /// The proxy as a route-matching source.
    pub source: Source,
    /// The proxy as metric labels name it ([`ProxyInfo::peer`]), made once.
    pub peer: Peer,
    /// Its [`PEER_HEADER`] value, made once: every request carries it.
    pub peer_header: Option<http::HeaderValue>,
}

impl std::fmt::Debug for ProxyContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyContext")
            .field("id", &self.info.id)
            .finish()
    }
}

impl ProxyContext {
    /// A context with an empty config; also returns the receiving end of its
    /// event channel, for the discovery client.
    pub fn new(info: ProxyInfo, spans: SpanSink) -> (Arc<Self>, mpsc::Receiver<ProxyEvent>) {
        let (events, rx) = mpsc::channel(256);
        let source = Source {
            labels: info.labels(),
            namespace: info.namespace.clone(),
            gateways: match info.kind {
                ProxyKind::Sidecar => vec!["mesh".into()],
                _ => Vec::new(),
            },
        };
        let metrics = Metrics::default();
        metrics.set_build(match info.kind {
            ProxyKind::Sidecar => "proxy",
            _ => "gateway",
        });
        let peer = info.peer();
        let peer_header = http::HeaderValue::from_str(&info.peer_header()).ok();
        let ctx = Arc::new(Self {
            pool: UpstreamPool::new(info.pod_ip),
            info,
            identity: WorkloadIdentity::new(),
            trust: Arc::new(TrustStore::default()),
            config: ArcSwap::from_pointee(CompiledConfig::default()),
            snapshot: ArcSwap::from_pointee(ProxySnapshot::default()),
            clusters: ClusterManager::default(),
            metrics,
            latencies: EdgeLatencies::default(),
            tap: Tap::default(),
            spans,
            events,
            event_budget: Mutex::new((Instant::now(), 0)),
            ready: watch::channel(false).0,
            control_plane: watch::channel(false).0,
            default_ingress: None,
            source,
            peer,
            peer_header,
        });
        (ctx, rx)
    }

    /// Sets the ingress defaults (call before sharing the context).
    pub fn with_default_ingress(
        mut self: Arc<Self>,
        hosts: Vec<String>,
        service: String,
    ) -> Arc<Self> {
        if let Some(me) = Arc::get_mut(&mut self) {
            me.default_ingress = Some((hosts, service));
        }
        self
    }

    /// The config in force.
    pub fn config(&self) -> Arc<CompiledConfig> {
        self.config.load_full()
    }

    /// The last snapshot accepted.
    pub fn snapshot(&self) -> Arc<ProxySnapshot> {
        self.snapshot.load_full()
    }

    /// Compiles and installs a snapshot; on error nothing changes.
    pub fn apply(&self, snap: ProxySnapshot) -> Result<(), CompileError> {
        let compiled = compile::compile(
            &snap,
            &CompileInputs {
                identity: &self.identity,
                trust: &self.trust,
                clusters: &self.clusters,
                namespace: &self.info.namespace,
                previous: Some((&self.snapshot.load(), &self.config.load())),
            },
        )?;
        // Clusters shared with the config in force are registered already.
        if !Arc::ptr_eq(&compiled.clusters, &self.config.load().clusters) {
            for (name, c) in compiled.clusters.iter() {
                self.metrics
                    .register_cluster(name, Arc::clone(&c.state.counters));
            }
        }
        self.trust.replace(compiled.trust.clone());
        self.config.store(Arc::new(compiled));
        // A root rotation: renew now rather than at half-life, so the old
        // root can be retired soon.
        if let Some(svid) = self.identity.current() {
            if !snap.signing_root.is_empty()
                && !svid.root_fingerprint.is_empty()
                && svid.root_fingerprint != snap.signing_root
            {
                self.identity.renew_soon();
            }
        }
        self.snapshot.store(Arc::new(snap));
        Ok(())
    }

    /// Reports a data-plane event to the control plane, at most 20 a second
    /// so a flood of refused connections cannot flood the event stream.
    pub fn emit(&self, kind: EventKind, message: impl Into<String>) {
        {
            let mut b = self.event_budget.lock();
            let now = Instant::now();
            if now.duration_since(b.0).as_secs() >= 1 {
                *b = (now, 0);
            }
            if b.1 >= 20 {
                return;
            }
            b.1 += 1;
        }
        let _ = self.events.try_send(ProxyEvent {
            kind: kind.as_str().to_string(),
            message: message.into(),
            unix_ms: crate::control::events::unix_ms(),
        });
    }
}
