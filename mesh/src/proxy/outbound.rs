//! The outbound side: plain HTTP from the local app (by Host header or
//! absolute-form proxy request) or, for the ingress gateway, decrypted HTTPS
//! from outside, routed into the mesh over mTLS.
//!
//! The stack is assembled here and only here, in [`stack`], with tower's
//! `ServiceBuilder`, so every list of layers reads outer → inner (the first
//! `.layer` sees the request first and the response last). As in
//! linkerd2-proxy, the path goes logical (which service and route) →
//! concrete (which cluster and endpoint) → endpoint (one attempt):
//!
//! ```text
//! telemetry → router → fault → route timeout → retry → per-try timeout
//!   → pool limits → balance/outlier → endpoint → attempt telemetry → connect (mTLS h2)
//! ```

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneSyncService;
use tower::ServiceBuilder;

use super::concrete::{BalanceLayer, PoolLimitLayer};
use super::context::ProxyContext;
use super::endpoint::{AttemptLayer, Connect, EndpointLayer};
use super::router::RouterLayer;
use super::telemetry::{Direction, TelemetryLayer};
use crate::http::{accept_loop, serve_stack, ListenerLimits, Refusal};
use crate::svc::fault::FaultLayer;
use crate::svc::retry::RetryLayer;
use crate::svc::timeout::{TimeoutLayer, Which};
use crate::svc::MeshService;
use crate::telemetry::access::ConnInfo;

/// The outbound stack of one proxy.
pub fn stack(ctx: Arc<ProxyContext>) -> MeshService {
    // One attempt to one endpoint of the cluster the request carries. Built
    // first because the router needs a handle on it for mirrors.
    let attempt = ServiceBuilder::new()
        // Admission first: a request over the pool limit is refused (UO)
        // before it takes an endpoint, so overflow never counts against a
        // host; it counts as in flight from here, queueing included, which
        // is what the retry budget measures.
        .layer(PoolLimitLayer)
        // Endpoint choice sits above everything that talks to the endpoint,
        // so every failure below (connect, reset, 5xx) reaches outlier
        // detection, and below admission, so only admitted attempts pick.
        .layer(BalanceLayer::new(Arc::clone(&ctx)))
        // Shapes the request for the chosen endpoint and reads who answered:
        // needs the pick, and must see the response before anyone above.
        .layer(EndpointLayer::new(Arc::clone(&ctx)))
        // Innermost, so the attempt span times only the upstream exchange
        // and its trace headers are the last thing written on the request.
        .layer(AttemptLayer::new(Arc::clone(&ctx)))
        .service(Connect::new(Arc::clone(&ctx)));
    let attempt = BoxCloneSyncService::new(attempt);

    let svc = ServiceBuilder::new()
        // Outermost: sees the whole request (faults, retries, timeouts
        // included) and turns failures made here into answers.
        .layer(TelemetryLayer::new(Arc::clone(&ctx), Direction::Outbound))
        // Decides the cluster and attaches the route policy every layer
        // below reads; mirrors skip straight to one attempt.
        .layer(RouterLayer::new(Arc::clone(&ctx), attempt.clone()))
        // Faults act before any upstream work, as Envoy's fault filter does.
        .layer(FaultLayer)
        // The route timeout bounds everything below, retries included.
        .layer(TimeoutLayer(Which::Route))
        // Retries replay whole attempts: each one is admitted, balanced (to
        // a host not tried yet) and timed on its own.
        .layer(RetryLayer)
        // Each try has its own timeout inside the retry loop, so a slow try
        // can be retried.
        .layer(TimeoutLayer(Which::PerTry))
        .service(attempt);
    BoxCloneSyncService::new(svc)
}

/// Serves the outbound listener until `cancel`.
pub async fn serve(listener: TcpListener, ctx: Arc<ProxyContext>, cancel: CancellationToken) {
    let svc = stack(ctx);
    let c = cancel.clone();
    accept_loop(
        listener,
        "outbound",
        ListenerLimits::SIDECAR,
        Refusal::Http503,
        cancel,
        move |stream, remote| {
            let conn = ConnInfo {
                peer_id: None,
                remote: Some(remote),
            };
            serve_stack(
                stream,
                svc.clone(),
                conn,
                c.clone(),
                ListenerLimits::SIDECAR,
            )
        },
    )
    .await
}
