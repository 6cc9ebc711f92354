//! Starting a proxy: the agent part every proxy shares (first certificate,
//! rotation, discovery stream) and the listeners of a sidecar (inbound,
//! outbound, admin). Gateways reuse the agent with their own listeners.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::context::ProxyContext;
use super::{admin, inbound, outbound};
use crate::control::client::{self, GrpcSigner};
use crate::identity::CertificateSigner;
use crate::proto::{Node, ProxyEvent};
use crate::runtime::workers::Worker;

/// How a proxy reaches its control plane.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// The cluster's control plane (Discovery and Certificates): one
    /// connection that every proxy of the cluster in this process shares,
    /// each with its own streams (a thousand proxies pushed to over a
    /// thousand connections spent most of a push in per-connection reads,
    /// writes and wake-ups).
    pub control_plane: Channel,
    /// The bootstrap token that proves the workload's identity.
    pub token: String,
    /// Requested certificate lifetime.
    pub cert_ttl: Duration,
}

/// A running proxy.
#[derive(Debug)]
pub struct ProxyHandle {
    /// Its shared state.
    pub ctx: Arc<ProxyContext>,
    /// Stops it.
    pub cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl ProxyHandle {
    /// A handle over tasks started elsewhere (gateways).
    pub fn new(
        ctx: Arc<ProxyContext>,
        cancel: CancellationToken,
        tasks: Vec<JoinHandle<()>>,
    ) -> Self {
        Self { ctx, cancel, tasks }
    }

    /// Waits until the proxy has a certificate and a config.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ctx.ready.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Stops every task and waits for the listeners to close.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(6), t).await;
        }
    }
}

/// Starts the agent: certificate (then rotation) and the discovery stream.
pub fn start_agent(
    ctx: &Arc<ProxyContext>,
    events: tokio::sync::mpsc::Receiver<ProxyEvent>,
    spec: &AgentSpec,
    cancel: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let channel = spec.control_plane.clone();
    // Ready once it holds both a certificate and a config, whichever comes
    // last; one lock, so the two tasks cannot both miss the other's step.
    let steps = Arc::new(Mutex::new(Steps::default()));
    let signer: Arc<dyn CertificateSigner> =
        Arc::new(GrpcSigner::new(channel.clone(), spec.token.clone()));
    let mut tasks = Vec::new();

    let cert_ctx = Arc::clone(ctx);
    let cert_cancel = cancel.clone();
    let ttl = spec.cert_ttl;
    let cert_steps = Arc::clone(&steps);
    tasks.push(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(50);
        loop {
            match cert_ctx.identity.renew(signer.as_ref(), ttl).await {
                Ok(svid) => {
                    cert_ctx.metrics.set_cert_expiry(svid.not_after.unix_timestamp().max(0) as u64);
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, proxy = %cert_ctx.info.id, "first certificate not yet signed");
                    tokio::select! {
                        _ = cert_cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
        if cert_steps.lock().certified() {
            cert_ctx.ready.send_replace(true);
        }
        let rot_ctx = Arc::clone(&cert_ctx);
        let rotation = cert_ctx.identity.spawn_rotation(signer, ttl, cert_cancel.clone(), move |svid| {
            rot_ctx.metrics.set_cert_expiry(svid.not_after.unix_timestamp().max(0) as u64);
        });
        let _ = rotation.await;
    }));

    let node = Node {
        id: ctx.info.id.clone(),
        kind: ctx.info.kind.as_str().to_string(),
        cluster: ctx.info.cluster.clone(),
        namespace: ctx.info.namespace.clone(),
        service: ctx.info.service.clone(),
        version: ctx.info.version.clone(),
        instance: ctx.info.instance.clone(),
        token: spec.token.clone(),
    };
    let apply_ctx = Arc::clone(ctx);
    let connected = ctx.control_plane.clone();
    let cancel = cancel.clone();
    tasks.push(tokio::spawn(async move {
        client::run_discovery(
            channel,
            node,
            move |snap| {
                // The discovery client sends the reason back in the NACK.
                apply_ctx.apply(snap).map_err(|e| e.to_string())?;
                if steps.lock().configured() {
                    apply_ctx.ready.send_replace(true);
                }
                Ok(())
            },
            events,
            connected,
            cancel,
        )
        .await;
    }));
    tasks
}

/// The listeners of a sidecar, already bound.
#[derive(Debug)]
pub struct SidecarListeners {
    /// The data-plane thread the listeners, and all they accept, run on.
    pub worker: Worker,
    /// mTLS from peers (absent for client-only external workloads).
    pub inbound: Option<TcpListener>,
    /// Plain HTTP from the app.
    pub outbound: TcpListener,
    /// Admin.
    pub admin: TcpListener,
}

/// Serves one listener of a sidecar until cancelled.
type ServeFn = Box<
    dyn FnOnce(
            TcpListener,
            Arc<ProxyContext>,
            CancellationToken,
        ) -> futures::future::BoxFuture<'static, ()>
        + Send,
>;

/// Starts a sidecar in front of `app`.
pub fn start_sidecar(
    ctx: Arc<ProxyContext>,
    events: tokio::sync::mpsc::Receiver<ProxyEvent>,
    spec: &AgentSpec,
    app: Option<SocketAddr>,
    listeners: SidecarListeners,
) -> ProxyHandle {
    let cancel = CancellationToken::new();
    let mut tasks = start_agent(&ctx, events, spec, &cancel);
    let worker = listeners.worker;
    // A listener is registered with the runtime that made it: it moves to
    // its worker's as a plain socket and is registered again there.
    let on_worker = |listener: TcpListener, serve: ServeFn| {
        let ctx = Arc::clone(&ctx);
        let cancel = cancel.clone();
        let std = listener.into_std();
        worker.spawn(async move {
            match std.and_then(TcpListener::from_std) {
                Ok(l) => serve(l, ctx, cancel).await,
                Err(e) => tracing::error!(error = %e, proxy = %ctx.info.id, "cannot move a listener to its data-plane thread"),
            }
        })
    };
    if let Some(l) = listeners.inbound {
        tasks.push(on_worker(
            l,
            Box::new(move |l, ctx, cancel| Box::pin(inbound::serve(l, ctx, app, cancel))),
        ));
    }
    tasks.push(on_worker(
        listeners.outbound,
        Box::new(|l, ctx, cancel| Box::pin(outbound::serve(l, ctx, cancel))),
    ));
    tasks.push(on_worker(
        listeners.admin,
        Box::new(|l, ctx, cancel| Box::pin(admin::serve(l, ctx, cancel))),
    ));
    ProxyHandle { ctx, cancel, tasks }
}

/// The two things a sidecar waits for before it is ready.
#[derive(Debug, Default)]
struct Steps {
    certificate: bool,
    config: bool,
}

impl Steps {
    /// Records the certificate; whether the config came first.
    fn certified(&mut self) -> bool {
        self.certificate = true;
        self.config
    }

    /// Records a config; whether the certificate came first.
    fn configured(&mut self) -> bool {
        self.config = true;
        self.certificate
    }
}
