//! A demo application: answers after a latency drawn from its version's
//! distribution, fails a configured share of requests with 503, and calls
//! its downstream services through its sidecar, forwarding trace headers and
//! `end-user` as real apps must. The answer is JSON showing the call chain.
//!
//! It knows nothing of the mesh: plain HTTP to `127.0.0.1:<outbound>` with
//! `Host: billing`, plain HTTP from its sidecar.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http::{
    accept_loop, json_response, pod, serve_connection_with, Body, ListenerLimits, Refusal,
};
use crate::telemetry::trace::{self, TRACE_HEADERS};
use crate::topology::Latency;

/// Headers the demo apps pass on to their downstream calls.
pub const FORWARDED: &[&str] = &["end-user", "user-agent"];

/// The most latency chaos adds to a request: a minute, longer than any
/// sensible route timeout. A larger delay would only hold connections and
/// descriptors open.
pub const MAX_CHAOS_DELAY_MS: u64 = 60_000;

/// Faults injected into one instance from outside (the console's chaos controls).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chaos {
    /// Extra latency added to every request.
    pub delay_ms: u64,
    /// Error rate replacing the configured one.
    pub error_rate: Option<f64>,
}

/// Chaos no instance can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChaosError {
    /// A delay past the cap would hold requests and their descriptors for ever.
    #[error("a chaos delay of {0} ms is too long: at most {MAX_CHAOS_DELAY_MS} ms (one minute)")]
    DelayTooLong(u64),
    /// An error rate is a share of requests.
    #[error("a chaos error rate of {0} is not a share of requests: give one between 0 and 1")]
    NotAShare(f64),
}

impl Chaos {
    /// Refuses values no instance can act on, with a sentence saying why.
    pub fn check(&self) -> Result<(), ChaosError> {
        if self.delay_ms > MAX_CHAOS_DELAY_MS {
            return Err(ChaosError::DelayTooLong(self.delay_ms));
        }
        match self.error_rate {
            Some(r) if !(0.0..=1.0).contains(&r) => Err(ChaosError::NotAShare(r)),
            _ => Ok(()),
        }
    }
}

/// Who the app is and how it behaves.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// The service it implements, e.g. `billing`; answers name it.
    pub service: String,
    /// Its version label, e.g. `v2`; answers name it, so canaries show.
    pub version: String,
    /// The instance name, e.g. `billing-v2-0`; answers name it.
    pub instance: String,
    /// The cluster it runs in; answers name it, so failover shows.
    pub cluster: String,
    /// How long it takes to answer, before chaos adds to it.
    pub latency: Latency,
    /// Share of 503 answers.
    pub error_rate: f64,
    /// Services called for every request.
    pub calls: Vec<String>,
    /// The sidecar's outbound listener.
    pub outbound: SocketAddr,
}

/// How an app with no meshcon sidecar next to it (`meshcon workload`, in
/// a container) reaches its callees and takes part in traces.
#[derive(Debug, Clone, Default)]
pub struct Direct {
    /// The authority (`host:port`) dialled for each called service, which
    /// is also the `Host` it is sent; a call not listed goes to `outbound`.
    pub targets: BTreeMap<String, String>,
    /// Whether the app is a span of its own: with no proxy making spans
    /// around it, each hop takes a new span id (the trace id stays), else a
    /// chain of apps would all name the first caller as their parent.
    /// Behind an Istio sidecar this stays off: Envoy makes the spans and
    /// the app only forwards the headers, as Istio asks of apps.
    pub own_span: bool,
}

/// A running demo app.
pub struct App {
    spec: AppSpec,
    chaos: ArcSwap<Chaos>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Set when no meshcon sidecar stands in front of the app.
    direct: Option<Direct>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("instance", &self.spec.instance)
            .finish()
    }
}

/// Draws a latency: fixed, or log-normal through the given median and P99.
pub fn sample_latency(l: &Latency) -> Duration {
    match *l {
        Latency::Fixed(d) => d,
        Latency::Distribution { p50, p99 } => {
            let mu = p50.as_secs_f64().max(1e-6).ln();
            let sigma =
                ((p99.as_secs_f64().max(1e-6) / p50.as_secs_f64().max(1e-6)).ln() / 2.326).max(0.0);
            // Box–Muller.
            let u1: f64 = rand::random::<f64>().max(1e-12);
            let u2: f64 = rand::random();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            Duration::from_secs_f64((mu + sigma * z).exp().min(60.0))
        }
    }
}

impl App {
    /// An app with no chaos.
    pub fn new(spec: AppSpec) -> Arc<Self> {
        Self::build(spec, None)
    }

    /// An app serving on its own, with no meshcon sidecar: it dials its
    /// callees as `direct` says and accepts any client.
    pub fn standalone(spec: AppSpec, direct: Direct) -> Arc<Self> {
        Self::build(spec, Some(direct))
    }

    fn build(spec: AppSpec, direct: Option<Direct>) -> Arc<Self> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        Arc::new(Self {
            spec,
            chaos: ArcSwap::from_pointee(Chaos::default()),
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(http),
            direct,
        })
    }

    /// The chaos in force.
    pub fn chaos(&self) -> Arc<Chaos> {
        self.chaos.load_full()
    }

    /// Replaces the chaos.
    pub fn set_chaos(&self, chaos: Chaos) {
        self.chaos.store(Arc::new(chaos));
    }

    async fn call(&self, service: &str, path: &str, headers: &http::HeaderMap) -> Value {
        let target = self.direct.as_ref().and_then(|d| d.targets.get(service));
        let (uri, host) = match target {
            Some(authority) => (format!("http://{authority}{path}"), authority.as_str()),
            None => (format!("http://{}{path}", self.spec.outbound), service),
        };
        let mut req = http::Request::new(Full::new(Bytes::new()));
        match uri.parse() {
            Ok(u) => *req.uri_mut() = u,
            Err(e) => return json!({"service": service, "error": e.to_string()}),
        }
        if let Ok(v) = http::HeaderValue::from_str(host) {
            req.headers_mut().insert(http::header::HOST, v);
        }
        for name in TRACE_HEADERS.iter().chain(FORWARDED) {
            for v in headers.get_all(*name) {
                req.headers_mut().append(*name, v.clone());
            }
        }
        match self.client.request(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let flags = resp
                    .headers()
                    .get("x-meshcon-flags")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let mut v: Value = serde_json::from_slice(&body).unwrap_or_else(
                    |_| json!({"service": service, "body": String::from_utf8_lossy(&body).trim()}),
                );
                if let Some(o) = v.as_object_mut() {
                    o.insert("status".into(), json!(status));
                    if let Some(f) = flags {
                        o.insert("flags".into(), json!(f));
                    }
                }
                v
            }
            Err(e) => json!({"service": service, "status": 0, "error": e.to_string()}),
        }
    }

    /// Handles one request.
    pub async fn handle(self: Arc<Self>, req: http::Request<Incoming>) -> http::Response<Body> {
        let chaos = self.chaos();
        let wait = sample_latency(&self.spec.latency)
            + Duration::from_millis(chaos.delay_ms.min(MAX_CHAOS_DELAY_MS));
        tokio::time::sleep(wait).await;
        let error_rate = chaos.error_rate.unwrap_or(self.spec.error_rate);
        let me = json!({
            "service": self.spec.service,
            "version": self.spec.version,
            "instance": self.spec.instance,
            "cluster": self.spec.cluster,
        });
        if error_rate > 0.0 && rand::random::<f64>() < error_rate {
            let mut v = me;
            v["error"] = json!("injected failure (errorRate)");
            return json_response(503, &v);
        }
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let peer = req
            .headers()
            .get("x-forwarded-client-cert")
            .and_then(|v| v.to_str().ok())
            .and_then(|x| x.split(';').find_map(|p| p.strip_prefix("URI=")))
            .map(str::to_string);
        let received = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let onward = self.onward_headers(req.headers());
        let headers = onward.as_ref().unwrap_or(req.headers());
        let calls =
            futures::future::join_all(self.spec.calls.iter().map(|s| self.call(s, &path, headers)))
                .await;
        let failed = calls
            .iter()
            .any(|c| !matches!(c["status"].as_u64(), Some(200..=299)));
        let mut v = me;
        v["path"] = json!(path);
        if let Some(p) = peer {
            v["peer"] = json!(p);
        }
        // With no sidecar's spans to look at, the answer shows the trace
        // context the app was called with.
        if self.direct.is_some() {
            if let Some(tp) = received {
                v["traceparent"] = json!(tp);
            }
        }
        if !calls.is_empty() {
            v["calls"] = Value::Array(calls);
        }
        json_response(if failed { 502 } else { 200 }, &v)
    }

    /// The headers calls carry on when the app is a span of its own: the
    /// request's trace (or a new one) with this hop's span id as parent.
    fn onward_headers(&self, incoming: &http::HeaderMap) -> Option<http::HeaderMap> {
        if !self.direct.as_ref().is_some_and(|d| d.own_span) {
            return None;
        }
        let ctx = trace::extract(incoming).unwrap_or_else(|| trace::TraceContext {
            trace_id: trace::random_id(),
            span_id: [0; 8],
            sampled: true,
            tracestate: None,
            format: trace::Format::W3c,
            extra_flags: 0,
        });
        let parent = (ctx.span_id != [0; 8]).then_some(ctx.span_id);
        let mut headers = incoming.clone();
        trace::inject(&mut headers, &ctx, &trace::random_id(), parent.as_ref());
        Some(headers)
    }

    /// Serves until `cancel`. With a pod IP of its own, the app answers
    /// only connections its sidecar opened ([`crate::http::pod`]).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, cancel: CancellationToken) {
        let me = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(instance = %self.spec.instance, error = %e, "app listener has no address; not serving");
                return;
            }
        };
        let sidecar_only = self.direct.is_none() && pod::sidecar_only(me);
        let c = cancel.clone();
        accept_loop(
            listener,
            "app",
            ListenerLimits::SIDECAR,
            Refusal::Close,
            cancel,
            move |stream, remote| {
                let app = Arc::clone(&self);
                let cancel = c.clone();
                async move {
                if sidecar_only && !pod::from_sidecar(remote, me) {
                    tracing::debug!(%remote, app = %me, "plaintext connection to an app, not from its sidecar: closed");
                    return;
                }
                serve_connection_with(
                    stream,
                    move |req: http::Request<Incoming>| {
                        let app = Arc::clone(&app);
                        async move { Ok::<_, Infallible>(app.handle(req).await) }
                    },
                    cancel,
                    Duration::from_secs(2),
                    ListenerLimits::SIDECAR,
                )
                .await;
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_latency_matches_its_percentiles() {
        let l = Latency::Distribution {
            p50: Duration::from_millis(10),
            p99: Duration::from_millis(40),
        };
        let mut v: Vec<f64> = (0..20_000)
            .map(|_| sample_latency(&l).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        let p50 = v[10_000];
        let p99 = v[19_800];
        assert!((p50 - 10.0).abs() < 1.0, "p50 {p50}");
        assert!((p99 - 40.0).abs() < 6.0, "p99 {p99}");
    }
}
