//! The innermost outbound service: one attempt to one endpoint. Admission
//! by the pool limits, endpoint choice (outlier detection, locality, the
//! balancing algorithm, hosts already tried), the upstream request with the
//! caller's metadata and trace context, then outlier bookkeeping and the
//! attempt's span.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::Full;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tokio::time::Instant;
use tower::Service;

use super::context::{parse_peer_header, ProxyContext, PEER_HEADER};
use super::router::RouteTarget;
use super::upstream::Dial;
use crate::svc::balance::{hash_of, Algorithm, HashKey};
use crate::svc::outlier::Decision;
use crate::svc::{Attempt, Outcome, ProxyError, Req, Resp, SvcFuture, TriedHosts};
use crate::telemetry::access::{ConnInfo, ProxySpan, RequestLog};
use crate::telemetry::metrics::Peer;
use crate::telemetry::trace::{self, SpanBuilder};

/// Headers that belong to one connection and are never forwarded.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
];

/// Sends one attempt to an endpoint of the request's [`RouteTarget`].
#[derive(Debug, Clone)]
pub struct ClusterService {
    ctx: Arc<ProxyContext>,
}

impl ClusterService {
    /// The endpoint service of one proxy.
    pub fn new(ctx: Arc<ProxyContext>) -> Self {
        Self { ctx }
    }
}

/// Counts a request in flight to one cluster until dropped.
struct InFlight(Arc<crate::svc::ClusterCounters>);

impl InFlight {
    fn start(c: Arc<crate::svc::ClusterCounters>) -> Self {
        c.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(c)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a request in flight to one host until dropped.
struct Gauge(Arc<std::sync::atomic::AtomicUsize>);

impl Gauge {
    fn up(c: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        c.fetch_add(1, Ordering::Relaxed);
        Gauge(c)
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn hash_key(req: &Req, alg: &Algorithm) -> Option<u64> {
    let Algorithm::ConsistentHash(key) = alg else {
        return None;
    };
    match key {
        HashKey::Header(h) => req
            .headers()
            .get(h.as_str())
            .and_then(|v| v.to_str().ok())
            .map(hash_of),
        HashKey::Cookie(name) => req
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| hash_of(v))
            }),
        HashKey::QueryParam(p) => req.uri().query().and_then(|q| {
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == p).then(|| hash_of(v))
            })
        }),
        HashKey::SourceIp => req
            .extensions()
            .get::<ConnInfo>()
            .and_then(|c| c.remote)
            .map(|a| hash_of(&a.ip().to_string())),
    }
}

impl Service<Req> for ClusterService {
    type Response = Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> SvcFuture {
        let ctx = Arc::clone(&self.ctx);
        Box::pin(async move {
            let Some(RouteTarget(cluster)) = req.extensions().get::<RouteTarget>().cloned() else {
                return Err(ProxyError::NoRoute {
                    host: "?".into(),
                    hint: "request reached the endpoint layer without a route".into(),
                });
            };
            let counters = Arc::clone(&cluster.state.counters);
            let _in_flight = InFlight::start(Arc::clone(&counters));

            let limiter = cluster.limiter();
            let Some(_admitted) = limiter.admit().await else {
                counters.pending_overflow.fetch_add(1, Ordering::Relaxed);
                return Err(ProxyError::Overflow {
                    cluster: cluster.name.clone(),
                });
            };
            let tried = req.extensions().get::<TriedHosts>().cloned();
            let hash = hash_key(&req, &cluster.algorithm);
            let Some(pick) = cluster.pick(&ctx.info.cluster, tried.as_ref(), hash, Instant::now())
            else {
                return Err(ProxyError::NoHealthyUpstream {
                    cluster: cluster.name.clone(),
                });
            };
            let ep = pick.endpoint;
            if let Some(t) = &tried {
                t.push(&ep.address);
            }
            let _load = Gauge::up(pick.load);

            let attempt = req
                .extensions()
                .get::<Attempt>()
                .copied()
                .unwrap_or_default()
                .0;
            let log = req.extensions().get::<RequestLog>().cloned();
            let span = req.extensions().get::<ProxySpan>().cloned();
            let (parts, body) = req.into_parts();
            let pq = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let authority = parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
                .or_else(|| parts.uri.authority().map(|a| a.to_string()))
                .filter(|a| a.parse::<http::uri::Authority>().is_ok())
                .unwrap_or_else(|| cluster.host.clone());
            let uri: http::Uri = format!("http://{authority}{pq}")
                .parse()
                .map_err(|e| ProxyError::BadRequest(format!("cannot form upstream URI: {e}")))?;
            let mut up = http::Request::new(Full::new(body));
            *up.method_mut() = parts.method.clone();
            *up.uri_mut() = uri;
            *up.version_mut() = http::Version::HTTP_2;
            let mut headers = parts.headers;
            strip_hop_by_hop(&mut headers);
            headers.remove(http::header::HOST);
            if let Ok(v) = http::HeaderValue::from_str(&ctx.info.peer_header()) {
                headers.insert(PEER_HEADER, v);
            }
            let attempt_span = trace::random_id::<8>();
            if let Some(s) = &span {
                trace::inject(&mut headers, &s.trace, &attempt_span, Some(&s.span_id));
            }
            *up.headers_mut() = headers;

            let dial_addr = ep.gateway.as_deref().unwrap_or(&ep.address);
            let addr = dial_addr.parse().map_err(|_| ProxyError::ConnectFailure {
                endpoint: dial_addr.to_string(),
                reason: "not a socket address".into(),
            })?;
            let sni = cluster.sni();
            let started = std::time::Instant::now();
            let result = ctx
                .pool
                .send(
                    Dial {
                        addr,
                        endpoint: &ep.address,
                        via_gateway: ep.gateway.is_some(),
                        sni: &sni,
                        tls: Arc::clone(&cluster.tls),
                        max_requests_per_connection: cluster.limits.max_requests_per_connection,
                        connect_timeout: cluster.connect_timeout,
                        counters: &counters,
                    },
                    up,
                )
                .await
                .map(|r| r.map(crate::http::incoming));

            // The answering sidecar says who it is (through a gateway, the
            // connection may have reached another instance than `ep`).
            let mut result = result;
            let answered = match &mut result {
                Ok(resp) => {
                    let v = resp.headers_mut().remove(PEER_HEADER);
                    v.and_then(|v| v.to_str().ok().map(parse_peer_header))
                }
                Err(_) => None,
            };
            let outcome = Outcome::of(&result);
            for d in cluster.record(&ep.address, outcome, Instant::now()) {
                match d {
                    Decision::Ejected {
                        host,
                        duration,
                        times,
                    } => ctx.emit(
                        "ejection",
                        format!(
                            "{} ({}) ejected from {} for {}s (ejection #{times})",
                            ep.instance,
                            host,
                            cluster.name,
                            duration.as_secs()
                        ),
                    ),
                    Decision::Returned { host } => {
                        ctx.emit("uneject", format!("{host} back in {}", cluster.name))
                    }
                }
            }
            let fallback = Peer {
                workload: format!(
                    "{}-{}",
                    ep.labels.get("app").cloned().unwrap_or_default(),
                    ep.labels.get("version").cloned().unwrap_or_default()
                ),
                namespace: cluster
                    .host
                    .split('.')
                    .nth(1)
                    .unwrap_or("default")
                    .to_string(),
                principal: ep.identity.clone(),
                app: ep.labels.get("app").cloned().unwrap_or_default(),
                version: ep.labels.get("version").cloned().unwrap_or_default(),
                cluster: ep.cluster.clone(),
            };
            let peer = answered.unwrap_or(fallback);
            if let Some(l) = &log {
                l.update(|f| {
                    f.upstream_host = Some(ep.address.clone());
                    f.peer = Some(peer);
                    f.attempts = attempt + 1;
                    f.mtls = true;
                });
            }
            if let Some(s) = span.filter(|s| s.trace.sampled) {
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
                b.started_ago(started.elapsed());
                b.attr("upstream_cluster", cluster.name.clone())
                    .attr("upstream_instance", ep.instance.clone())
                    .attr("upstream_host", ep.address.clone())
                    .attr("upstream_cluster.locality", ep.cluster.clone())
                    .attr("peer.spiffe_id", ep.identity.clone())
                    .attr("http.status_code", status.to_string())
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
            }
            result
        })
    }
}

/// Strips hop-by-hop headers from a header map.
pub fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
}
