//! The outbound side: plain HTTP from the local app (by Host header or
//! absolute-form proxy request) or, for the ingress gateway, decrypted HTTPS
//! from outside, routed into the mesh over mTLS.
//!
//! The stack is assembled here and only here, with `ServiceBuilder`, so it
//! reads outermost first:
//!
//! ```text
//! telemetry → router → fault → route timeout → retry → per-try timeout → cluster (limits → LB → mTLS h2)
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use super::context::ProxyContext;
use super::forward::ClusterService;
use super::router::RouterLayer;
use crate::http::{collect_limited, serve_connection, text_response, Body};
use crate::svc::fault::FaultLayer;
use crate::svc::retry::RetryLayer;
use crate::svc::timeout::{TimeoutLayer, Which};
use crate::svc::{ProxyError, Req, Resp};
use crate::telemetry::access::{ConnInfo, Direction, TelemetryLayer};

/// Request bodies are buffered (so retries can replay them) up to this size.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// The boxed service a listener drives.
pub type MeshService = BoxCloneSyncService<Req, Resp, ProxyError>;

/// The outbound stack of one proxy.
pub fn stack(ctx: Arc<ProxyContext>) -> MeshService {
    let svc = ServiceBuilder::new()
        // Outermost: sees the whole request (faults, retries, timeouts
        // included) and turns failures made here into answers.
        .layer(TelemetryLayer::new(Arc::clone(&ctx), Direction::Outbound))
        // Decides the cluster and attaches the route policy every layer below reads.
        .layer(RouterLayer::new(Arc::clone(&ctx)))
        // Faults act before any upstream work, as Envoy's fault filter does.
        .layer(FaultLayer)
        // The route timeout bounds everything below, retries included.
        .layer(TimeoutLayer(Which::Route))
        .layer(RetryLayer)
        // Each try has its own timeout inside the retry loop, so a slow try can be retried.
        .layer(TimeoutLayer(Which::PerTry))
        .service(ClusterService::new(ctx));
    BoxCloneSyncService::new(svc)
}

/// Turns an incoming HTTP request into a stack request (buffered body).
pub async fn buffered(req: http::Request<Incoming>) -> Result<Req, http::Response<Body>> {
    let (parts, body) = req.into_parts();
    match collect_limited(body, MAX_BODY).await {
        Ok(bytes) => Ok(http::Request::from_parts(parts, bytes)),
        Err(e) => Err(text_response(
            413,
            format!("meshcon proxy: request body refused ({e}); the mesh buffers at most {MAX_BODY} bytes\n"),
        )),
    }
}

/// Drives `svc` for every request of one connection.
pub async fn serve_stack<IO>(io: IO, svc: MeshService, conn: ConnInfo, cancel: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_connection(
        io,
        move |req: http::Request<Incoming>| {
            let svc = svc.clone();
            let conn = conn.clone();
            async move {
                let mut req = match buffered(req).await {
                    Ok(r) => r,
                    Err(resp) => return Ok::<_, Infallible>(resp),
                };
                req.extensions_mut().insert(conn);
                let resp = match svc.oneshot(req).await {
                    Ok(r) => r,
                    Err(e) => e.into_response(Default::default()),
                };
                Ok(resp)
            }
        },
        cancel,
        Duration::from_secs(5),
    )
    .await
}

/// Serves the outbound listener until `cancel`.
pub async fn serve(listener: TcpListener, ctx: Arc<ProxyContext>, cancel: CancellationToken) {
    let svc = stack(ctx);
    loop {
        let (stream, remote) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "outbound accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = ConnInfo {
            peer_id: None,
            remote: Some(remote),
        };
        tokio::spawn(serve_stack(stream, svc.clone(), conn, cancel.clone()));
    }
}

/// Sends one request through a stack (for probes and tests).
pub async fn call(svc: &mut MeshService, req: Req) -> Resp {
    match svc.ready().await {
        Ok(s) => match s.call(req).await {
            Ok(r) => r,
            Err(e) => e.into_response(Default::default()),
        },
        Err(e) => e.into_response(Default::default()),
    }
}
