//! The console API (gRPC): everything the TUI and the CLI know of a mesh
//! comes through here, the same whether the console runs the mesh in its own
//! process or attaches to one started elsewhere.
//!
//! Mesh-specific operations (workload addresses, chaos, proxies' latency
//! histograms and taps) come from a [`Backend`]; configuration (validate,
//! apply, history, diff, rollback) is handled here over the store and the
//! control planes.
//!
//! Every call must carry the mesh's access token (`authorization: Bearer
//! <token>`), a random 256-bit value `up` keeps in `<state-dir>/console.token`
//! with mode 0600. Without it the console API answers `UNAUTHENTICATED` with
//! a sentence saying what is missing and what to do. We chose a token file
//! over mutual TLS with a client certificate because the protection is the
//! same (a secret only the file's owner can read, in the same private state
//! directory) while a token is one line to copy to another machine for
//! `attach` and keeps every client (CLI, TUI, tests, scripts with grpcurl) on
//! the plaintext HTTP/2 it already speaks; the API listens on loopback by
//! default, and reaching another machine should go through an SSH tunnel,
//! which also keeps the token off the wire.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::events::{EventBus, EventKind};
use super::federation::FederationStatus;
use super::store::ConfigStore;
use super::ControlPlane;
use crate::config::{self, model::Resource, Finding};
use crate::proto::console_server::{Console, ConsoleServer};
use crate::proto::*;
use crate::telemetry::collector::{self, TraceStore};
use crate::telemetry::exact::EdgeStat;
use crate::topology::Topology;

/// One proxy's tap: what it saw lately, and what it sees from now on.
#[derive(Debug)]
pub struct ProxyTap {
    /// The proxy's instance (`billing-v1-0`, `istio-ingressgateway-0`).
    pub instance: String,
    /// Its cluster.
    pub cluster: String,
    /// The proxy's latest requests, oldest first.
    pub recent: Vec<TapEntry>,
    /// Every request the proxy sees from now on.
    pub live: broadcast::Receiver<TapEntry>,
}

/// What the console API needs from the running mesh.
#[tonic::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Why a chaos action or an explanation was refused; its message goes
    /// to the user as is.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Every workload instance and gateway.
    async fn workloads(&self) -> WorkloadList;
    /// The topology the mesh was started from.
    fn topology(&self) -> &Topology;
    /// The versioned config store that applies commit to.
    fn store(&self) -> Arc<ConfigStore>;
    /// The mesh-wide event bus the events stream follows.
    fn events(&self) -> Arc<EventBus>;
    /// Every control plane, one per cluster.
    fn control_planes(&self) -> Vec<ControlPlane>;
    /// Runs a chaos action; returns what happened.
    async fn chaos(&self, req: ChaosRequest) -> Result<String, Self::Error>;
    /// Exact per-edge latencies over `window`, merged across proxies.
    async fn latency(&self, window: Duration) -> Vec<EdgeStat>;
    /// Recent requests and a live feed of every proxy.
    async fn taps(&self) -> Vec<ProxyTap>;
    /// What each cluster trusts, exports and can reach.
    async fn federation(&self) -> FederationStatus;
    /// Explains a request's path from a workload.
    async fn explain(&self, req: ExplainRequest) -> Result<String, Self::Error>;
}

/// How long an apply waits for proxies to ACK.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Console gRPC service over a [`Backend`].
pub struct ConsoleService<B> {
    backend: Arc<B>,
}

impl<B> Clone for ConsoleService<B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
        }
    }
}

/// The metadata key that carries the console API token.
pub const TOKEN_KEY: &str = "authorization";

/// What the console API answers a call that carries no token.
pub const NO_TOKEN: &str = "this mesh's console API needs its access token and the request carried none: run the command as the user who started the mesh, with the same --state-dir, or pass --credentials FILE (env MESHCON_CREDENTIALS) with a copy of the mesh's <state-dir>/console.token";

/// What the console API answers a call whose token is not the mesh's.
pub const WRONG_TOKEN: &str = "this mesh's console API refused the access token the request carried (it is not this mesh's): pass --credentials FILE (env MESHCON_CREDENTIALS) with a copy of <state-dir>/console.token of the mesh at this address";

/// The server side: refuses every call without the mesh's token.
#[derive(Clone)]
struct TokenCheck {
    expected: Arc<str>,
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(value) = req.metadata().get(TOKEN_KEY) else {
            return Err(Status::unauthenticated(NO_TOKEN));
        };
        let given = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(given.as_bytes(), self.expected.as_bytes()) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(WRONG_TOKEN))
        }
    }
}

/// Compares without an early exit, so the time taken does not tell how
/// much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client side: adds the token to every call (none: calls go without,
/// and the mesh answers with [`NO_TOKEN`]).
#[derive(Clone, Default)]
pub struct Credentials {
    header: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    /// Who is calling (`cli`, `console`), for the events the call causes.
    client: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

/// The metadata key a client names itself with (`cli`, `console`).
pub const CLIENT_KEY: &str = "x-meshcon-client";

/// The name a call's client gave itself, reduced to a short safe word: it
/// ends up in events other people read.
fn client_of<T>(req: &Request<T>) -> String {
    let name: String = req
        .metadata()
        .get(CLIENT_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(16)
        .collect();
    if name.is_empty() {
        "console-api".into()
    } else {
        name
    }
}

impl std::fmt::Debug for Credentials {
    // Never the token itself: clients end up in logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.header.is_some() {
            "token"
        } else {
            "none"
        };
        f.debug_tuple("Credentials").field(&shown).finish()
    }
}

impl Credentials {
    /// Credentials holding `token` (as [`crate::state::read_token`] returns it).
    pub fn token(token: &str) -> Self {
        Self {
            header: format!("Bearer {token}").parse().ok(),
            client: None,
        }
    }

    /// No credentials: every call is refused.
    pub fn none() -> Self {
        Self::default()
    }

    /// Names the caller in every call (`cli`, `console`), so the events a
    /// call causes say where it came from.
    pub fn calling_as(mut self, client: &str) -> Self {
        self.client = client.parse().ok();
        self
    }
}

impl tonic::service::Interceptor for Credentials {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert(TOKEN_KEY, h.clone());
        }
        if let Some(c) = &self.client {
            req.metadata_mut().insert(CLIENT_KEY, c.clone());
        }
        Ok(req)
    }
}

/// Serves the console API on `listener` until `cancel`, to callers that
/// present `token`.
pub async fn serve<B: Backend>(
    listener: TcpListener,
    backend: B,
    token: &str,
    cancel: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let svc = ConsoleService {
        backend: Arc::new(backend),
    };
    let check = TokenCheck {
        expected: Arc::from(token),
    };
    let server = ConsoleServer::new(svc).max_decoding_message_size(16 * 1024 * 1024);
    let limits = crate::http::ListenerLimits::console();
    crate::http::grpc_server(limits)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            server, check,
        ))
        .serve_with_incoming_shutdown(
            crate::http::grpc_incoming(listener, "console-api", limits),
            cancel.cancelled(),
        )
        .await
}

/// A finding as the console API sends it.
pub fn finding_proto(f: &Finding) -> crate::proto::Finding {
    crate::proto::Finding {
        code: f.code.to_string(),
        level: f.level.as_str().to_string(),
        resource: f.resource.clone(),
        message: f.message.clone(),
        fix: f.fix.clone(),
        file: f.file.clone(),
        line: f.pos.line,
        column: f.pos.col,
    }
}

impl<B: Backend> ConsoleService<B> {
    fn validate(&self, req: &ApplyRequest) -> (Vec<Resource>, Vec<Finding>) {
        let file = if req.file.is_empty() {
            "-"
        } else {
            req.file.as_str()
        };
        let current = self.backend.store().current();
        config::check(file, &req.yaml, self.backend.topology(), &current.resources)
    }

    /// Like [`Self::commit`], unless `resources` are what the mesh runs
    /// already: then, as `kubectl apply` on an unchanged file, nothing is
    /// pushed and no version is made.
    async fn commit_changed(
        &self,
        resources: Vec<Resource>,
        summary: &str,
        findings: Vec<Finding>,
    ) -> Result<ApplyReply, Status> {
        let current = self.backend.store().current();
        let sorted = |r: &[Resource]| {
            let mut v = r.to_vec();
            v.sort_by_key(Resource::key);
            v
        };
        if sorted(&current.resources) == sorted(&resources) {
            return Ok(ApplyReply {
                applied: true,
                version: current.version,
                summary: format!(
                    "unchanged: v{} already holds all of this; no new version",
                    current.version
                ),
                findings: findings.iter().map(finding_proto).collect(),
                ..Default::default()
            });
        }
        self.commit(resources, summary, findings).await
    }

    /// Commits `resources` as the next version and waits for every control
    /// plane's proxies to ACK or NACK it.
    async fn commit(
        &self,
        resources: Vec<Resource>,
        summary: &str,
        findings: Vec<Finding>,
    ) -> Result<ApplyReply, Status> {
        let store = self.backend.store();
        let started = Instant::now();
        let version = store
            .commit(resources, summary)
            .map_err(|e| Status::internal(e.to_string()))?;
        self.backend.events().emit(
            EventKind::Config,
            "",
            "console",
            format!("v{version}: {summary}"),
        );
        let mut reply = ApplyReply {
            applied: true,
            version,
            findings: findings.iter().map(finding_proto).collect(),
            ..Default::default()
        };
        let waits = self
            .backend
            .control_planes()
            .into_iter()
            .map(|cp| async move { cp.wait_converged(version, CONVERGE_TIMEOUT).await });
        for c in futures::future::join_all(waits).await {
            reply.proxies_total += c.total;
            reply.proxies_pushed += c.pushed;
            reply.proxies_acked += c.acked;
            reply
                .nacks
                .extend(c.nacked.into_iter().map(|(p, r)| format!("{p}: {r}")));
            reply.disconnected.extend(c.disconnected);
        }
        reply.converge_micros = started.elapsed().as_micros() as u64;
        let ms = reply.converge_micros as f64 / 1000.0;
        reply.summary = if reply.nacks.is_empty() {
            format!(
                "v{version} applied: {}/{} proxies ACKed in {ms:.1} ms ({} pushed, the rest unaffected)",
                reply.proxies_acked, reply.proxies_total, reply.proxies_pushed
            )
        } else {
            format!(
                "v{version} applied: {}/{} proxies ACKed, {} NACKed (they keep their previous config)",
                reply.proxies_acked,
                reply.proxies_total,
                reply.nacks.len()
            )
        };
        if !reply.disconnected.is_empty() {
            reply.summary.push_str(&format!(
                "; {} not connected to a control plane, they get it when they reconnect: {}",
                reply.disconnected.len(),
                reply.disconnected.join(", ")
            ));
        }
        Ok(reply)
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl<B: Backend> Console for ConsoleService<B> {
    async fn workloads(&self, _r: Request<Empty>) -> Result<Response<WorkloadList>, Status> {
        Ok(Response::new(self.backend.workloads().await))
    }

    async fn topology(&self, _r: Request<Empty>) -> Result<Response<Text>, Status> {
        Ok(Response::new(Text {
            text: self.backend.topology().to_yaml(),
        }))
    }

    async fn validate(&self, r: Request<ApplyRequest>) -> Result<Response<ApplyReply>, Status> {
        let (_, findings) = self.validate(r.get_ref());
        let errors = findings.iter().any(Finding::blocks);
        Ok(Response::new(ApplyReply {
            applied: false,
            version: self.backend.store().current().version,
            summary: if errors {
                "invalid".into()
            } else {
                "valid".into()
            },
            findings: findings.iter().map(finding_proto).collect(),
            ..Default::default()
        }))
    }

    async fn apply(&self, r: Request<ApplyRequest>) -> Result<Response<ApplyReply>, Status> {
        let req = r.into_inner();
        let (resources, findings) = self.validate(&req);
        if findings.iter().any(Finding::blocks) {
            let n = findings.iter().filter(|f| f.blocks()).count();
            let version = self.backend.store().current().version;
            return Ok(Response::new(ApplyReply {
                applied: false,
                version,
                summary: format!(
                    "rejected: {n} error(s); nothing changed, v{version} stays current"
                ),
                findings: findings.iter().map(finding_proto).collect(),
                ..Default::default()
            }));
        }
        let current = self.backend.store().current();
        let (merged, summary) = config::merge(&current.resources, resources);
        let reply = self.commit_changed(merged, &summary, findings).await?;
        Ok(Response::new(reply))
    }

    async fn delete(&self, r: Request<DeleteRequest>) -> Result<Response<ApplyReply>, Status> {
        let req = r.into_inner();
        let ns = if req.namespace.is_empty() {
            "default".to_string()
        } else {
            req.namespace.clone()
        };
        if req.kind.eq_ignore_ascii_case("routes") {
            return Err(Status::invalid_argument(
                "name one kind to delete: VirtualService (vs), DestinationRule (dr), Gateway (gw), PeerAuthentication (pa) or AuthorizationPolicy (ap)",
            ));
        }
        let current = self.backend.store().current();
        let named = |res: &Resource| {
            let k = res.key();
            config::kind_matches(&req.kind, &k.kind) && k.namespace == ns && k.name == req.name
        };
        let Some(gone) = current
            .resources
            .iter()
            .find(|r| named(r))
            .map(|r| r.kind())
        else {
            return Err(Status::not_found(format!(
                "no {} {ns}/{} in the current config (see `meshcon get routes`)",
                req.kind, req.name
            )));
        };
        let kept: Vec<Resource> = current
            .resources
            .iter()
            .filter(|r| !named(r))
            .cloned()
            .collect();
        let reply = self
            .commit(
                kept,
                &format!("delete {gone} {ns}/{}", req.name),
                Vec::new(),
            )
            .await?;
        Ok(Response::new(reply))
    }

    async fn resources(&self, r: Request<ResourcesRequest>) -> Result<Response<Text>, Status> {
        let req = r.into_inner();
        let store = self.backend.store();
        let resources = if req.version == 0 {
            store.current().resources.as_ref().clone()
        } else {
            store
                .at(req.version)
                .map_err(|e| Status::not_found(e.to_string()))?
        };
        let picked: Vec<Resource> = resources
            .into_iter()
            .filter(|res| req.kind.is_empty() || config::kind_matches(&req.kind, res.kind()))
            .collect();
        Ok(Response::new(Text {
            text: config::to_yaml(&picked),
        }))
    }

    async fn history(&self, _r: Request<Empty>) -> Result<Response<HistoryList>, Status> {
        let list = self
            .backend
            .store()
            .history_list()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(list))
    }

    async fn diff(&self, r: Request<DiffRequest>) -> Result<Response<Text>, Status> {
        let req = r.into_inner();
        let text = self
            .backend
            .store()
            .diff(req.from, req.to)
            .map_err(|e| Status::not_found(e.to_string()))?;
        Ok(Response::new(Text { text }))
    }

    async fn rollback(&self, r: Request<RollbackRequest>) -> Result<Response<ApplyReply>, Status> {
        let v = r.get_ref().version;
        let store = self.backend.store();
        let old = store.at(v).map_err(|e| Status::not_found(e.to_string()))?;
        let reply = self
            .commit_changed(old, &format!("rollback to v{v}"), Vec::new())
            .await?;
        Ok(Response::new(reply))
    }

    async fn proxies(&self, _r: Request<Empty>) -> Result<Response<ProxyList>, Status> {
        let mut proxies = Vec::new();
        for cp in self.backend.control_planes() {
            for p in cp.proxies() {
                proxies.push(ProxyState {
                    id: p.id,
                    kind: p.kind.as_str().into(),
                    cluster: p.cluster,
                    service: p.service,
                    instance: p.instance,
                    connected: p.connected,
                    acked_version: p.acked_version,
                    sent_version: p.sent_version,
                    nack_reason: match &p.state {
                        super::server::AckState::Nacked(r) => r.clone(),
                        _ => String::new(),
                    },
                    state: p.state.as_str().into(),
                    pushes: p.pushes,
                });
            }
        }
        // Killed instances left the registry (as a deleted pod would) but
        // are still part of the mesh's shape: list them as stopped.
        for w in self.backend.workloads().await.workloads {
            let listed = proxies
                .iter()
                .any(|p| p.instance == w.instance && p.cluster == w.cluster);
            if !listed && !w.ready {
                proxies.push(ProxyState {
                    id: format!("{}.{}.{}", w.instance, w.namespace, w.cluster),
                    kind: w.kind,
                    cluster: w.cluster,
                    service: w.service,
                    instance: w.instance,
                    state: "STOPPED".into(),
                    ..Default::default()
                });
            }
        }
        Ok(Response::new(ProxyList {
            proxies,
            version: self.backend.store().current().version,
        }))
    }

    type EventsStream = BoxStream<Event>;

    async fn events(
        &self,
        r: Request<EventsRequest>,
    ) -> Result<Response<Self::EventsStream>, Status> {
        let req = r.into_inner();
        let bus = self.backend.events();
        let past = bus.recent(if req.last == 0 {
            100
        } else {
            req.last as usize
        });
        let rx = req.follow.then(|| bus.subscribe());
        let stream = async_stream(past, rx);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn chaos(&self, r: Request<ChaosRequest>) -> Result<Response<Text>, Status> {
        let source = client_of(&r);
        let req = r.into_inner();
        match self.backend.chaos(req.clone()).await {
            Ok(text) => {
                self.backend.events().emit(
                    EventKind::Chaos,
                    "",
                    &source,
                    format!("{} {}: {text}", req.action, req.target),
                );
                Ok(Response::new(Text { text }))
            }
            Err(e) => Err(Status::invalid_argument(e.to_string())),
        }
    }

    async fn traces(&self, r: Request<TraceQuery>) -> Result<Response<Text>, Status> {
        let q = r.into_inner();
        let stores: Vec<TraceStore> = self
            .backend
            .control_planes()
            .iter()
            .map(|c| c.traces().clone())
            .collect();
        let found = collector::query_all(
            &stores,
            &collector::Query {
                trace_id: (!q.trace_id.is_empty()).then(|| q.trace_id.clone()),
                service: (!q.service.is_empty()).then(|| q.service.clone()),
                min_duration_ms: q.min_duration_ms as f64,
                errors_only: q.errors_only,
                limit: q.limit as usize,
            },
        );
        Ok(Response::new(Text {
            text: serde_json::to_string(&found).unwrap_or_else(|_| "[]".into()),
        }))
    }

    async fn latency(&self, r: Request<LatencyRequest>) -> Result<Response<Text>, Status> {
        let w = r.get_ref().window_s;
        let window = Duration::from_secs(if w == 0 {
            60
        } else {
            u64::from(w).clamp(1, 60)
        });
        let stats = self.backend.latency(window).await;
        Ok(Response::new(Text {
            text: serde_json::to_string(&stats).unwrap_or_else(|_| "[]".into()),
        }))
    }

    async fn federation(&self, _r: Request<Empty>) -> Result<Response<Text>, Status> {
        let status = self.backend.federation().await;
        let text = serde_json::to_string(&status)
            .map_err(|e| Status::internal(format!("federation status: {e}")))?;
        Ok(Response::new(Text { text }))
    }

    async fn explain(&self, r: Request<ExplainRequest>) -> Result<Response<Text>, Status> {
        match self.backend.explain(r.into_inner()).await {
            Ok(text) => Ok(Response::new(Text { text })),
            Err(e) => Err(Status::invalid_argument(e.to_string())),
        }
    }

    type TapStream = BoxStream<TapEntry>;

    async fn tap(&self, r: Request<TapRequest>) -> Result<Response<Self::TapStream>, Status> {
        let req = r.into_inner();
        let mut taps = self.backend.taps().await;
        // A filter names one proxy (`billing-v1-0`, or `istio-eastwestgateway-0.us`
        // where an instance name repeats across clusters): its access log.
        if !req.filter.is_empty() {
            taps.retain(|t| {
                t.instance == req.filter || format!("{}.{}", t.instance, t.cluster) == req.filter
            });
            if taps.is_empty() {
                return Err(Status::not_found(format!(
                    "no proxy named '{}' (see `meshcon get workloads`)",
                    req.filter
                )));
            }
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<TapEntry, Status>>(1024);
        let mut recent: Vec<TapEntry> =
            taps.iter().flat_map(|t| t.recent.iter().cloned()).collect();
        recent.sort_by_key(|e| e.unix_ms);
        let recent: Vec<TapEntry> = recent.into_iter().rev().take(200).rev().collect();
        for e in recent {
            let _ = tx.try_send(Ok(e));
        }
        if req.recent_only {
            drop(tx);
            return Ok(Response::new(Box::pin(
                tokio_stream::wrappers::ReceiverStream::new(rx),
            )));
        }
        for ProxyTap { mut live, .. } in taps {
            let tx = tx.clone();
            tokio::spawn(async move {
                loop {
                    match live.recv().await {
                        Ok(e) => {
                            if tx.send(Ok(e)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return,
                    }
                }
            });
        }
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

fn async_stream(
    past: Vec<Event>,
    rx: Option<broadcast::Receiver<Event>>,
) -> impl Stream<Item = Result<Event, Status>> + Send {
    let (tx, out) = tokio::sync::mpsc::channel::<Result<Event, Status>>(256);
    tokio::spawn(async move {
        let last = past.last().map_or(0, |e| e.seq);
        for e in past {
            if tx.send(Ok(e)).await.is_err() {
                return;
            }
        }
        let Some(mut rx) = rx else { return };
        loop {
            match rx.recv().await {
                Ok(e) if e.seq > last => {
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(out)
}
