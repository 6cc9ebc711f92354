//! The inbound side: connections from peers, mTLS by default. The first
//! byte tells a TLS handshake from plaintext; plaintext is refused under
//! PeerAuthentication STRICT and served (labelled `none`) under PERMISSIVE.
//! TLS peers must present an SVID that chains to a federated trust bundle.
//! Requests then pass JWT verification (RequestAuthentication) and
//! authorization and go to the local app over HTTP/1.1, with the peer's
//! identity in `x-forwarded-client-cert`.
//!
//! ```text
//! telemetry → JWT → authorization → app
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceBuilder};

use super::authz;
use super::context::{ProxyContext, PEER_HEADER};
use super::telemetry::{Direction, TelemetryLayer};
use crate::control::events::EventKind;
use crate::http::pod::PodConnector;
use crate::http::{accept_loop, serve_stack, strip_hop_by_hop, ListenerLimits, Refusal};
use crate::identity::{certinfo, resumption, tls};
use crate::svc::{MeshService, ProxyError, Req, Resp, SvcFuture};
use crate::telemetry::access::ConnInfo;

/// The inbound stack of a sidecar in front of `app` (`ServiceBuilder`:
/// outer → inner).
pub fn stack(ctx: Arc<ProxyContext>, app: Option<std::net::SocketAddr>) -> MeshService {
    let svc = ServiceBuilder::new()
        // Outermost: records every request, denied ones included.
        .layer(TelemetryLayer::new(Arc::clone(&ctx), Direction::Inbound))
        // Tokens are verified before authorization, which reads the
        // request principal and claims they give.
        .layer(JwtLayer {
            ctx: Arc::clone(&ctx),
        })
        // Authorization decides before the app sees anything.
        .layer(AuthzLayer {
            ctx: Arc::clone(&ctx),
            port: app.map(|a| a.port()),
        })
        // Innermost: plain HTTP/1.1 to the app on the pod's loopback.
        .service(AppService::new(ctx, app));
    BoxCloneSyncService::new(svc)
}

/// Layer for [`Jwt`].
#[derive(Debug, Clone)]
pub struct JwtLayer {
    /// Whose RequestAuthentications apply.
    pub ctx: Arc<ProxyContext>,
}

impl<S> Layer<S> for JwtLayer {
    type Service = Jwt<S>;
    fn layer(&self, inner: S) -> Jwt<S> {
        Jwt {
            inner,
            ctx: Arc::clone(&self.ctx),
        }
    }
}

/// Verifies the request's JWT against the RequestAuthentications that
/// select this workload: refuses an invalid token with 401, passes a
/// request without one, and gives a valid one's principal and claims to
/// the layers below (a [`RequestAuth`] extension).
#[derive(Debug, Clone)]
pub struct Jwt<S> {
    inner: S,
    ctx: Arc<ProxyContext>,
}

impl<S> Service<Req> for Jwt<S>
where
    S: Service<Req, Response = Resp, Error = ProxyError, Future = SvcFuture>
        + Clone
        + Send
        + 'static,
{
    type Response = Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> SvcFuture {
        let cfg = self.ctx.config();
        if cfg.jwt.is_empty() {
            return self.inner.call(req);
        }
        // The ready service goes with the request; its clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let ctx = Arc::clone(&self.ctx);
        Box::pin(async move {
            let refused = |why| ctx.emit(EventKind::Denied, why);
            match super::jwt::authenticate(&cfg.jwt, req, refused).await {
                Ok(req) => inner.call(req).await,
                Err(resp) => Ok(resp),
            }
        })
    }
}

/// Layer for [`Authz`].
#[derive(Debug, Clone)]
pub struct AuthzLayer {
    ctx: Arc<ProxyContext>,
    /// The workload port requests arrive for, as `ports` names it.
    port: Option<u16>,
}

impl<S> Layer<S> for AuthzLayer {
    type Service = Authz<S>;
    fn layer(&self, inner: S) -> Authz<S> {
        Authz {
            inner,
            ctx: Arc::clone(&self.ctx),
            port: self.port,
        }
    }
}

/// Enforces the AuthorizationPolicies that select this workload.
#[derive(Debug, Clone)]
pub struct Authz<S> {
    inner: S,
    ctx: Arc<ProxyContext>,
    port: Option<u16>,
}

impl<S> Service<Req> for Authz<S>
where
    S: Service<Req, Response = Resp, Error = ProxyError, Future = SvcFuture>,
{
    type Response = Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> SvcFuture {
        let cfg = self.ctx.config();
        if let Err(e) = authz::authorize(&self.ctx, &cfg.authorization, &req, self.port) {
            return Box::pin(async move { Err(e) });
        }
        self.inner.call(req)
    }
}

/// Forwards to the local application.
#[derive(Clone)]
pub struct AppService {
    ctx: Arc<ProxyContext>,
    app: Option<std::net::SocketAddr>,
    client: Client<PodConnector, Full<Bytes>>,
}

impl std::fmt::Debug for AppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppService")
            .field("app", &self.app)
            .finish()
    }
}

impl AppService {
    fn new(ctx: Arc<ProxyContext>, app: Option<std::net::SocketAddr>) -> Self {
        // Registered connections: the app answers only these (http::pod).
        let connector = PodConnector {
            timeout: Duration::from_secs(5),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { ctx, app, client }
    }
}

impl Service<Req> for AppService {
    type Response = Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> SvcFuture {
        let Some(app) = self.app else {
            return Box::pin(async {
                Err(ProxyError::ConnectFailure {
                    endpoint: "local app".into(),
                    reason: "this workload has no app to receive requests".into(),
                })
            });
        };
        let client = self.client.clone();
        let ctx = Arc::clone(&self.ctx);
        Box::pin(async move {
            let peer = req
                .extensions()
                .get::<ConnInfo>()
                .and_then(|c| c.peer_id.clone());
            let (parts, body) = req.into_parts();
            let authority = parts
                .uri
                .authority()
                .map(|a| a.to_string())
                .or_else(|| {
                    parts
                        .headers
                        .get(http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| app.to_string());
            let pq = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let uri: http::Uri = format!("http://{app}{pq}")
                .parse()
                .map_err(|e| ProxyError::BadRequest(format!("bad path: {e}")))?;
            let mut out = http::Request::new(Full::new(body));
            *out.method_mut() = parts.method;
            *out.uri_mut() = uri;
            let mut headers = parts.headers;
            strip_hop_by_hop(&mut headers);
            headers.remove(PEER_HEADER);
            if let Ok(v) = http::HeaderValue::from_str(&authority) {
                headers.insert(http::header::HOST, v);
            }
            let me = &ctx.info.spiffe_id;
            let xfcc = match &peer {
                Some(p) => format!("By={me};URI={p}"),
                None => format!("By={me}"),
            };
            if let Ok(v) = http::HeaderValue::from_str(&xfcc) {
                headers.insert("x-forwarded-client-cert", v);
            }
            *out.headers_mut() = headers;
            match client.request(out).await {
                Ok(resp) => {
                    let mut resp = resp.map(crate::http::incoming);
                    strip_hop_by_hop(resp.headers_mut());
                    if let Some(v) = &ctx.peer_header {
                        resp.headers_mut().insert(PEER_HEADER, v.clone());
                    }
                    Ok(resp)
                }
                Err(e) if e.is_connect() => Err(ProxyError::ConnectFailure {
                    endpoint: app.to_string(),
                    reason: format!("local app unreachable: {e}"),
                }),
                Err(e) => Err(ProxyError::Reset {
                    reason: format!("local app: {e}"),
                }),
            }
        })
    }
}

/// Serves the inbound listener until `cancel`.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ProxyContext>,
    app: Option<std::net::SocketAddr>,
    cancel: CancellationToken,
) {
    let svc = stack(Arc::clone(&ctx), app);
    let tls = match tls::inbound_server_config(Arc::clone(&ctx.identity), Arc::clone(&ctx.trust)) {
        Ok(c) => TlsAcceptor::from(c),
        Err(e) => {
            tracing::error!(error = %e, "cannot build inbound TLS; inbound listener stays closed");
            return;
        }
    };
    let c = cancel.clone();
    accept_loop(
        listener,
        "inbound",
        ListenerLimits::SIDECAR,
        // TLS or plaintext: unknown before the first byte, so just close.
        Refusal::Close,
        cancel,
        move |stream, remote| {
            handle(
                stream,
                remote,
                Arc::clone(&ctx),
                svc.clone(),
                tls.clone(),
                c.clone(),
            )
        },
    )
    .await
}

/// Ends an mTLS connection once the trust bundles stop trusting its peer
/// (`unfederate`, a retired root): its chain was checked only at the
/// handshake, and a kept-alive connection would otherwise go on serving.
async fn end_when_distrusted(
    ctx: Arc<ProxyContext>,
    mut changes: tokio::sync::watch::Receiver<u64>,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    remote: std::net::SocketAddr,
    end: CancellationToken,
) {
    while changes.changed().await.is_ok() {
        if let Err(e) = ctx
            .trust
            .verify_chain(&chain, webpki::KeyUsage::client_auth())
        {
            deny(&ctx, remote, "closed", &e);
            end.cancel();
            return;
        }
    }
}

/// A `denied` event for an mTLS connection whose client no longer chains.
fn deny(
    ctx: &ProxyContext,
    remote: std::net::SocketAddr,
    outcome: &str,
    why: &crate::identity::IdentityError,
) {
    ctx.emit(
        EventKind::Denied,
        format!("mTLS connection from {remote} {outcome}: {why}"),
    );
}

async fn handle(
    stream: TcpStream,
    remote: std::net::SocketAddr,
    ctx: Arc<ProxyContext>,
    svc: MeshService,
    tls: TlsAcceptor,
    cancel: CancellationToken,
) {
    let mut first = [0u8; 1];
    let wait = ListenerLimits::SIDECAR.handshake_timeout;
    let peeked = tokio::time::timeout(wait, stream.peek(&mut first)).await;
    match peeked {
        Ok(Ok(1)) => {}
        // Closed before a byte: a reachability probe.
        Ok(Ok(_)) => return,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "inbound connection failed before its first byte");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "inbound connection sent nothing for {wait:?}");
            return;
        }
    }
    if first[0] == 0x16 {
        // Subscribed before the handshake, so a change of roots during it is seen.
        let mut changes = ctx.trust.subscribe();
        let accepted = tokio::time::timeout(wait, tls.accept(stream)).await;
        let tls_stream = match accepted {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let reason = crate::identity::verify::handshake_failure(&e);
                ctx.emit(
                    EventKind::Denied,
                    format!("mTLS handshake from {remote} refused: {reason}"),
                );
                return;
            }
            Err(_) => {
                tracing::debug!(%remote, "inbound TLS handshake timed out");
                return;
            }
        };
        let chain = tls_stream
            .get_ref()
            .1
            .peer_certificates()
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        let peer_id = chain
            .first()
            .and_then(|c| certinfo::svid_id(c).ok())
            .map(|id| id.to_string());
        let conn = ConnInfo {
            peer_id,
            remote: Some(remote),
        };
        let roots_removed = changes.has_changed().unwrap_or(true);
        changes.mark_unchanged();
        if let Err(e) = resumption::check_client(tls_stream.get_ref().1, &ctx.trust, roots_removed)
        {
            deny(&ctx, remote, "refused", &e);
            return;
        }
        let end = cancel.child_token();
        // Aborted when this connection ends, however it ends.
        let _watcher = AbortOnDropHandle::new(tokio::spawn(end_when_distrusted(
            Arc::clone(&ctx),
            changes,
            chain,
            remote,
            end.clone(),
        )));
        serve_stack(tls_stream, svc, conn, end, ListenerLimits::SIDECAR).await;
    } else {
        let mode = ctx.config().mtls_mode.clone();
        if mode == "STRICT" || mode.is_empty() {
            ctx.emit(
                EventKind::Denied,
                format!("plaintext connection from {remote} refused: PeerAuthentication is STRICT"),
            );
            return;
        }
        let conn = ConnInfo {
            peer_id: None,
            remote: Some(remote),
        };
        serve_stack(stream, svc, conn, cancel, ListenerLimits::SIDECAR).await;
    }
}
