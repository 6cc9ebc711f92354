//! The telemetry layer: the outermost layer of each direction. It starts or
//! joins the trace, times the whole request (retries included), and when the
//! request is done records one observation into every sink: Istio metrics,
//! exact per-edge latencies, the tap, and the request's span.
//!
//! Inner layers fill a [`RequestLog`] carried in the request's extensions
//! (which service, route and endpoint; how many attempts), so telemetry sees
//! what routing decided without knowing routing.

use std::sync::Arc;
use std::task::{Context, Poll};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tokio::time::Instant;
use tower::{Layer, Service};

use super::context::{parse_peer_header, peer_instance, ProxyContext, PEER_HEADER};
use crate::proto::TapEntry;
use crate::svc::{flags_of, Flags, ProxyError, Req, Resp, SvcFuture};
use crate::telemetry::access::{ConnInfo, ProxySpan, RequestLog, ServiceRef};
use crate::telemetry::exact::EdgeKey;
use crate::telemetry::metrics::{Observation, Peer, RequestLabels};
use crate::telemetry::trace::{self, SpanBuilder, TraceContext};

/// Which side of the proxy a request crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the local app (or the outside, for gateways) to a service.
    Outbound,
    /// From a peer to the local app.
    Inbound,
}

/// Layer for [`Telemetry`].
#[derive(Debug, Clone)]
pub struct TelemetryLayer {
    ctx: Arc<ProxyContext>,
    direction: Direction,
}

impl TelemetryLayer {
    /// Telemetry for one direction of a proxy.
    pub fn new(ctx: Arc<ProxyContext>, direction: Direction) -> Self {
        Self { ctx, direction }
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = Telemetry<S>;
    fn layer(&self, inner: S) -> Telemetry<S> {
        Telemetry {
            inner,
            ctx: Arc::clone(&self.ctx),
            direction: self.direction,
        }
    }
}

/// Records every request; turns locally made failures into answers.
#[derive(Debug, Clone)]
pub struct Telemetry<S> {
    inner: S,
    ctx: Arc<ProxyContext>,
    direction: Direction,
}

fn new_request_id() -> String {
    let b = trace::random_id::<16>();
    let h = trace::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl<S> Service<Req> for Telemetry<S>
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

    fn call(&mut self, mut req: Req) -> SvcFuture {
        let start = Instant::now();
        let ctx = Arc::clone(&self.ctx);
        let direction = self.direction;
        let log = RequestLog::default();
        req.extensions_mut().insert(log.clone());
        if !req.headers().contains_key("x-request-id") {
            if let Ok(v) = http::HeaderValue::from_str(&new_request_id()) {
                req.headers_mut().insert("x-request-id", v);
            }
        }

        // Join the caller's trace, or start one; an invalid header restarts it.
        let parent = trace::extract(req.headers());
        let span_id = trace::random_id::<8>();
        let trace = match &parent {
            Some(p) => TraceContext {
                sampled: p.sampled && ctx.spans.enabled(),
                ..p.clone()
            },
            None => TraceContext {
                trace_id: trace::random_id::<16>(),
                span_id,
                sampled: ctx.spans.sample_new(),
                tracestate: None,
                format: trace::Format::W3c,
                extra_flags: 0,
            },
        };
        let parent_span = parent.as_ref().map(|p| p.span_id);
        if direction == Direction::Inbound {
            // The app's own calls become children of this server span.
            trace::inject(req.headers_mut(), &trace, &span_id, parent_span.as_ref());
        }
        req.extensions_mut().insert(ProxySpan {
            trace: trace.clone(),
            span_id,
        });

        // As Envoy's %PROTOCOL% spells it.
        let protocol = match req.version() {
            http::Version::HTTP_2 => "HTTP/2",
            http::Version::HTTP_10 => "HTTP/1.0",
            http::Version::HTTP_3 => "HTTP/3",
            _ => "HTTP/1.1",
        };
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let authority = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .or_else(|| {
                req.headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let user_agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let request_bytes = req.body().len() as u64;
        let conn = req
            .extensions()
            .get::<ConnInfo>()
            .cloned()
            .unwrap_or_default();
        let caller_header = req.headers().get(PEER_HEADER).and_then(|v| v.to_str().ok());
        let caller = caller_header.map(parse_peer_header);
        let caller_instance = caller_header.and_then(peer_instance);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            let mut flags = Flags::default();
            let mut resp = match result {
                Ok(r) => r,
                Err(e) => {
                    flags.insert(e.flags());
                    e.into_response(Flags::default())
                }
            };
            flags.insert(flags_of(&resp));
            if !flags.is_empty() {
                if let Ok(v) = http::HeaderValue::from_str(&flags.to_string()) {
                    resp.headers_mut().insert("x-meshcon-flags", v);
                }
            }
            let elapsed = start.elapsed();
            let fields = log.get();
            let status = resp.status().as_u16();
            let response_bytes = http_body::Body::size_hint(resp.body()).exact().unwrap_or(0);

            let me = ctx.peer.clone();
            let (reporter, source, destination, mtls) = match direction {
                Direction::Outbound => {
                    let dest = fields.peer.clone().unwrap_or_else(|| {
                        let mut p = Peer::unknown();
                        if let Some(s) = &fields.service {
                            p.app = s.name.clone();
                            p.namespace = s.namespace.clone();
                        }
                        p
                    });
                    ("source", me, dest, fields.mtls)
                }
                Direction::Inbound => {
                    let mut src = caller.unwrap_or_else(Peer::unknown);
                    src.principal = conn.peer_id.clone().unwrap_or_else(|| "unknown".into());
                    ("destination", src, me, conn.peer_id.is_some())
                }
            };
            let service = match direction {
                Direction::Inbound => ServiceRef {
                    name: ctx.info.service.clone(),
                    namespace: ctx.info.namespace.clone(),
                    fqdn: crate::topology::fqdn(&ctx.info.service, &ctx.info.namespace),
                },
                Direction::Outbound => fields.service.clone().unwrap_or_else(|| ServiceRef {
                    name: "unknown".into(),
                    namespace: "unknown".into(),
                    fqdn: authority.clone(),
                }),
            };
            let labels = RequestLabels {
                reporter,
                source: source.clone(),
                destination: destination.clone(),
                destination_service: service.fqdn.clone(),
                destination_service_name: service.name.clone(),
                destination_service_namespace: service.namespace.clone(),
                request_protocol: "http",
                response_code: status,
                response_flags: flags.to_string(),
                connection_security_policy: if direction == Direction::Inbound {
                    if mtls {
                        "mutual_tls"
                    } else {
                        "none"
                    }
                } else {
                    "unknown"
                },
            };
            let duration_ms = elapsed.as_secs_f64() * 1000.0;
            ctx.metrics.record(&Observation {
                labels,
                duration_ms,
                request_bytes,
                response_bytes,
            });
            ctx.latencies.record(
                EdgeKey {
                    reporter: reporter.to_string(),
                    source_workload: source.workload.clone(),
                    source_cluster: source.cluster.clone(),
                    destination_service: service.name.clone(),
                    destination_workload: destination.workload.clone(),
                    destination_version: destination.version.clone(),
                    destination_cluster: destination.cluster.clone(),
                },
                elapsed,
                status >= 500,
            );
            ctx.tap.push(TapEntry {
                unix_ms: crate::control::events::unix_ms() - elapsed.as_millis() as i64,
                reporter: reporter.to_string(),
                source: source.workload.clone(),
                destination: if destination.workload == "unknown" {
                    service.name.clone()
                } else {
                    destination.workload.clone()
                },
                method: method.clone(),
                path: path.clone(),
                status: status as u32,
                flags: flags.to_string(),
                latency_ms: duration_ms,
                attempt: fields.attempts.max(1),
                mtls,
                trace_id: trace::hex(&trace.trace_id),
                authority: authority.clone(),
                source_instance: match direction {
                    Direction::Outbound => ctx.info.instance.clone(),
                    Direction::Inbound => caller_instance.clone().unwrap_or_default(),
                },
                destination_instance: match direction {
                    Direction::Outbound => fields.upstream_instance.clone().unwrap_or_default(),
                    Direction::Inbound => ctx.info.instance.clone(),
                },
                protocol: protocol.to_string(),
                bytes_received: request_bytes,
                bytes_sent: response_bytes,
                upstream_host: fields.upstream_host.clone().unwrap_or_default(),
                upstream_cluster: fields.cluster.clone().unwrap_or_default(),
                route_name: fields.route.clone().unwrap_or_default(),
                user_agent: user_agent.clone().unwrap_or_default(),
                downstream_remote: conn.remote.map(|a| a.to_string()).unwrap_or_default(),
            });
            if trace.sampled {
                let (name, kind) = match direction {
                    Direction::Outbound => (format!("{method} {}", service.name), SpanKind::Client),
                    Direction::Inbound => (format!("{method} {path}"), SpanKind::Server),
                };
                let mut b = SpanBuilder::start(name, kind, trace.trace_id, span_id, parent_span);
                b.started_ago(elapsed)
                    .trace_state(trace.tracestate.as_deref());
                b.attr("node_id", ctx.info.id.clone())
                    .attr("istio.canonical_service", ctx.info.service.clone())
                    .attr("istio.namespace", ctx.info.namespace.clone())
                    .attr("istio.cluster_id", ctx.info.cluster.clone())
                    // OpenTelemetry's HTTP semantic conventions, with the
                    // older names Istio's Envoy still sends beside them.
                    .attr("http.request.method", method.clone())
                    .int("http.response.status_code", i64::from(status))
                    .attr("url.path", path.clone())
                    .attr("http.method", method)
                    .attr("http.url", path.clone())
                    .int("http.status_code", i64::from(status))
                    .attr("response_flags", flags.to_string())
                    .attr(
                        "upstream_cluster",
                        fields.cluster.clone().unwrap_or_default(),
                    )
                    .attr(
                        "peer.spiffe_id",
                        match direction {
                            Direction::Outbound => destination.principal.clone(),
                            Direction::Inbound => source.principal.clone(),
                        },
                    )
                    .int("attempts", fields.attempts.max(1) as i64);
                let (host, port) = trace::split_authority(&authority);
                b.attr("server.address", host.to_string());
                if let Some(port) = port {
                    b.int("server.port", i64::from(port));
                }
                if direction == Direction::Outbound {
                    b.attr("url.full", format!("http://{authority}{path}"));
                }
                let peer_address = match direction {
                    Direction::Inbound => conn.remote.map(|a| a.ip().to_string()),
                    Direction::Outbound => fields.upstream_host.clone(),
                };
                if let Some(a) = peer_address {
                    b.attr("network.peer.address", a);
                }
                if let Some(ua) = &user_agent {
                    b.attr("user_agent.original", ua.clone());
                }
                ctx.spans.record(b.finish(status >= 500 || status == 0));
            }
            Ok(resp)
        })
    }
}
