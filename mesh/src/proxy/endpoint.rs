//! The endpoint part of the outbound path: one attempt to the endpoint
//! [`Balance`](super::concrete::Balance) picked.
//!
//! - [`Endpoint`] shapes the request for the upstream sidecar (HTTP/1.1
//!   with a Host header, or HTTP/2 with an absolute URI; no hop-by-hop
//!   headers; this proxy's peer header) and
//!   reads who answered, for the access log;
//! - [`Attempt`] opens the attempt's span, propagates the trace, and
//!   records the span when the attempt ends;
//! - [`Connect`] sends the request over the pool's mTLS connections.

use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::Full;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tower::{Layer, Service};

use super::cluster::UpstreamCluster;
use super::concrete::{target, Picked};
use super::context::{parse_peer_header, ProxyContext, PEER_HEADER};
use super::upstream::Dial;
use crate::http::strip_hop_by_hop;
use crate::svc::{self, ProxyError, Req, Resp, SvcFuture};
use crate::telemetry::access::{ProxySpan, RequestLog};
use crate::telemetry::metrics::Peer;
use crate::telemetry::trace::{self, SpanBuilder};

/// The cluster and endpoint of an attempt, as the layers below `Balance` see them.
fn picked(req: &Req) -> Result<(Arc<UpstreamCluster>, Picked), ProxyError> {
    let cluster = target(req)?;
    let picked =
        req.extensions()
            .get::<Picked>()
            .cloned()
            .ok_or_else(|| ProxyError::NoHealthyUpstream {
                cluster: cluster.name.clone(),
            })?;
    Ok((cluster, picked))
}

/// Which attempt a request is (0: the first try).
fn attempt_of(req: &Req) -> u32 {
    req.extensions()
        .get::<svc::Attempt>()
        .copied()
        .unwrap_or_default()
        .0
}

/// Layer for [`Endpoint`].
#[derive(Debug, Clone)]
pub struct EndpointLayer {
    ctx: Arc<ProxyContext>,
}

impl EndpointLayer {
    /// The endpoint layer of one proxy.
    pub fn new(ctx: Arc<ProxyContext>) -> Self {
        Self { ctx }
    }
}

impl<S> Layer<S> for EndpointLayer {
    type Service = Endpoint<S>;
    fn layer(&self, inner: S) -> Endpoint<S> {
        Endpoint {
            inner,
            ctx: Arc::clone(&self.ctx),
        }
    }
}

/// Turns the caller's request into the upstream one and notes who answered.
#[derive(Debug, Clone)]
pub struct Endpoint<S> {
    inner: S,
    ctx: Arc<ProxyContext>,
}

/// The authority the upstream sees: the caller's (else the service host).
fn upstream_authority(req: &Req, cluster: &UpstreamCluster) -> String {
    req.headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .filter(|a| a.parse::<http::uri::Authority>().is_ok())
        .unwrap_or_else(|| cluster.host.clone())
}

/// Puts `req` in the form its protocol to the next sidecar wants: HTTP/2
/// carries the authority in an absolute URI, HTTP/1.1 in `Host` with an
/// origin-form URI.
fn shape_for_upstream(req: &mut Req, authority: &str, http2: bool) -> Result<(), ProxyError> {
    let bad = |e: String| ProxyError::BadRequest(format!("cannot form upstream request: {e}"));
    if http2 {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri: http::Uri = format!("http://{authority}{pq}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_2;
        req.headers_mut().remove(http::header::HOST);
    } else {
        let host = http::HeaderValue::from_str(authority).map_err(|e| bad(e.to_string()))?;
        let origin = req
            .uri()
            .path_and_query()
            .cloned()
            .map_or_else(|| http::Uri::from_static("/"), http::Uri::from);
        *req.uri_mut() = origin;
        *req.version_mut() = http::Version::HTTP_11;
        req.headers_mut().insert(http::header::HOST, host);
    }
    Ok(())
}

/// Who an endpoint is when its sidecar does not say (an error, or an answer
/// without the peer header): what discovery knows about it.
fn peer_of(cluster: &UpstreamCluster, ep: &crate::control::snapshot::Endpoint) -> Peer {
    let app = ep.labels.get("app").cloned().unwrap_or_default();
    let version = ep.labels.get("version").cloned().unwrap_or_default();
    Peer {
        workload: format!("{app}-{version}"),
        namespace: cluster
            .host
            .split('.')
            .nth(1)
            .unwrap_or("default")
            .to_string(),
        principal: ep.identity.clone(),
        app,
        version,
        cluster: ep.cluster.clone(),
    }
}

impl<S> Service<Req> for Endpoint<S>
where
    S: Service<Req, Response = Resp, Error = ProxyError, Future = SvcFuture>,
{
    type Response = Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Req) -> SvcFuture {
        let (cluster, picked) = match picked(&req) {
            Ok(p) => p,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let authority = upstream_authority(&req, &cluster);
        // HTTP/2 stays HTTP/2; HTTP/1.x goes as HTTP/1.1 unless the
        // cluster's DestinationRule upgrades it (Istio's h2UpgradePolicy).
        let http2 = req.version() == http::Version::HTTP_2 || cluster.upgrade_h2;
        strip_hop_by_hop(req.headers_mut());
        if let Err(e) = shape_for_upstream(&mut req, &authority, http2) {
            return Box::pin(async move { Err(e) });
        }
        let headers = req.headers_mut();
        if let Some(v) = &self.ctx.peer_header {
            headers.insert(PEER_HEADER, v.clone());
        }
        let attempt = attempt_of(&req);
        let log = req.extensions().get::<RequestLog>().cloned();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut result = fut.await;
            // The answering sidecar says who it is (through a gateway, the
            // connection may have reached another instance than the pick).
            let answered = match &mut result {
                Ok(resp) => resp
                    .headers_mut()
                    .remove(PEER_HEADER)
                    .and_then(|v| v.to_str().ok().map(parse_peer_header)),
                Err(_) => None,
            };
            if let Some(l) = &log {
                let ep = &picked.endpoint;
                let peer = answered.unwrap_or_else(|| peer_of(&cluster, ep));
                l.update(|f| {
                    f.upstream_host = Some(ep.address.clone());
                    f.upstream_instance = Some(ep.instance.clone());
                    f.peer = Some(peer);
                    f.attempts = attempt + 1;
                    f.mtls = true;
                });
            }
            result
        })
    }
}

/// Layer for [`Attempt`].
#[derive(Debug, Clone)]
pub struct AttemptLayer {
    ctx: Arc<ProxyContext>,
}

impl AttemptLayer {
    /// Attempt spans of one proxy.
    pub fn new(ctx: Arc<ProxyContext>) -> Self {
        Self { ctx }
    }
}

impl<S> Layer<S> for AttemptLayer {
    type Service = Attempt<S>;
    fn layer(&self, inner: S) -> Attempt<S> {
        Attempt {
            inner,
            ctx: Arc::clone(&self.ctx),
        }
    }
}

/// One client span per attempt, child of the request's span; the trace
/// headers sent upstream name the attempt's span as the parent.
#[derive(Debug, Clone)]
pub struct Attempt<S> {
    inner: S,
    ctx: Arc<ProxyContext>,
}

impl<S> Service<Req> for Attempt<S>
where
    S: Service<Req, Response = Resp, Error = ProxyError, Future = SvcFuture>,
{
    type Response = Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Req) -> SvcFuture {
        let (cluster, picked) = match picked(&req) {
            Ok(p) => p,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let attempt = attempt_of(&req);
        let span = req.extensions().get::<ProxySpan>().cloned();
        let attempt_span = trace::random_id::<8>();
        if let Some(s) = &span {
            trace::inject(req.headers_mut(), &s.trace, &attempt_span, Some(&s.span_id));
        }
        let ctx = Arc::clone(&self.ctx);
        let started = std::time::Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            let Some(s) = span.filter(|s| s.trace.sampled) else {
                return result;
            };
            let ep = &picked.endpoint;
            let status = match &result {
                Ok(r) => r.status().as_u16(),
                Err(e) => e.status(),
            };
            let mut b = SpanBuilder::start(
                format!("{} attempt {}", cluster.name, attempt + 1),
                SpanKind::Client,
                s.trace.trace_id,
                attempt_span,
                Some(s.span_id),
            );
            b.started_ago(started.elapsed())
                .trace_state(s.trace.tracestate.as_deref());
            b.attr("upstream_cluster", cluster.name.clone())
                .attr("upstream_instance", ep.instance.clone())
                .attr("upstream_host", ep.address.clone())
                .attr("upstream_cluster.locality", ep.cluster.clone())
                .attr("peer.spiffe_id", ep.identity.clone())
                .int("http.status_code", i64::from(status))
                .int("http.response.status_code", i64::from(status))
                .attr("network.peer.address", ep.address.clone())
                .attr(
                    "response_flags",
                    match &result {
                        Ok(_) => "-".to_string(),
                        Err(e) => e.flags().to_string(),
                    },
                )
                .int("attempt", (attempt + 1) as i64);
            if let Some(gw) = &ep.gateway {
                b.attr("via_gateway", gw.clone());
            }
            if let Err(e) = &result {
                b.attr("error.message", e.to_string());
            }
            ctx.spans.record(b.finish(status >= 500));
            result
        })
    }
}

/// Sends an attempt to its endpoint over the proxy's upstream pool.
#[derive(Debug, Clone)]
pub struct Connect {
    ctx: Arc<ProxyContext>,
}

impl Connect {
    /// The pool of one proxy.
    pub fn new(ctx: Arc<ProxyContext>) -> Self {
        Self { ctx }
    }
}

impl Service<Req> for Connect {
    type Response = Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> SvcFuture {
        let ctx = Arc::clone(&self.ctx);
        Box::pin(async move {
            let (cluster, picked) = picked(&req)?;
            let (parts, body) = req.into_parts();
            // Only method, URI, version and headers go upstream: the
            // extensions are this proxy's bookkeeping.
            let http2 = parts.version == http::Version::HTTP_2;
            let mut up = http::Request::new(Full::new(body));
            *up.method_mut() = parts.method;
            *up.uri_mut() = parts.uri;
            *up.version_mut() = parts.version;
            *up.headers_mut() = parts.headers;
            let ep = &picked.endpoint;
            let sni = cluster.sni();
            let counters = &cluster.state.counters;
            ctx.pool
                .send(
                    Dial {
                        addr: picked.addr,
                        endpoint: &ep.address,
                        via_gateway: ep.gateway.is_some(),
                        sni: &sni,
                        tls: Arc::clone(&cluster.tls),
                        max_requests_per_connection: cluster.limits.max_requests_per_connection,
                        http2,
                        connect_timeout: cluster.connect_timeout,
                        counters,
                        trust: &ctx.trust,
                    },
                    up,
                )
                .await
        })
    }
}
