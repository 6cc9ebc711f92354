//! The concrete part of the outbound path (linkerd2-proxy's word): from the
//! cluster the router chose ([`RouteTarget`]) to one endpoint of it.
//!
//! - [`PoolLimit`] admits the attempt under the cluster's connection-pool
//!   limits, or refuses it (UO);
//! - [`Balance`] picks an endpoint (outlier detection, locality, the
//!   balancing algorithm, hosts already tried), hands it down as a
//!   [`Picked`], and feeds the attempt's outcome back to outlier detection.
//!
//! Both read the cluster from the request, never from a field, so the same
//! stack serves every cluster and the mirrors the router fires.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower::{Layer, Service};

use super::cluster::{RouteTarget, UpstreamCluster};
use super::context::ProxyContext;
use crate::control::events::EventKind;
use crate::control::snapshot::Endpoint;
use crate::svc::balance::{hash_of, Algorithm, HashKey};
use crate::svc::outlier::Decision;
use crate::svc::{ClusterCounters, Outcome, ProxyError, Req, Resp, SvcFuture, TriedHosts};
use crate::telemetry::access::ConnInfo;

/// The endpoint [`Balance`] chose for this attempt, and where to dial it.
#[derive(Debug, Clone)]
pub struct Picked {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The address to connect to: the endpoint, or its east-west gateway.
    pub addr: SocketAddr,
}

/// The cluster a request was routed to; an error if it reached the
/// concrete stack without one (a bug in how the stack was assembled).
pub fn target(req: &Req) -> Result<Arc<UpstreamCluster>, ProxyError> {
    req.extensions()
        .get::<RouteTarget>()
        .map(|t| Arc::clone(&t.0))
        .ok_or_else(|| ProxyError::NoRoute {
            host: "?".into(),
            hint: "request reached the endpoint layer without a route".into(),
        })
}

/// Counts something in flight until dropped.
struct InFlight(Arc<ClusterCounters>);

impl InFlight {
    fn start(c: Arc<ClusterCounters>) -> Self {
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
struct HostLoad(Arc<AtomicUsize>);

impl HostLoad {
    fn up(c: Arc<AtomicUsize>) -> Self {
        c.fetch_add(1, Ordering::Relaxed);
        HostLoad(c)
    }
}

impl Drop for HostLoad {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Layer for [`PoolLimit`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolLimitLayer;

impl<S> Layer<S> for PoolLimitLayer {
    type Service = PoolLimit<S>;
    fn layer(&self, inner: S) -> PoolLimit<S> {
        PoolLimit { inner }
    }
}

/// Admits attempts under the cluster's limits (Envoy's circuit breakers):
/// waits in the pending queue, or fails with UO. The attempt counts as in
/// flight (the retry budget's gauge) from before admission to its end.
#[derive(Debug, Clone)]
pub struct PoolLimit<S> {
    inner: S,
}

impl<S> Service<Req> for PoolLimit<S>
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
        // The inner service is called after an await: take the one that was
        // made ready and leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let cluster = target(&req)?;
            let counters = Arc::clone(&cluster.state.counters);
            let _in_flight = InFlight::start(Arc::clone(&counters));
            let limiter = cluster.limiter();
            let Some(_admitted) = limiter.admit().await else {
                counters.pending_overflow.fetch_add(1, Ordering::Relaxed);
                return Err(ProxyError::Overflow {
                    cluster: cluster.name.clone(),
                });
            };
            inner.call(req).await
        })
    }
}

/// Layer for [`Balance`].
#[derive(Debug, Clone)]
pub struct BalanceLayer {
    ctx: Arc<ProxyContext>,
}

impl BalanceLayer {
    /// Balancing for one proxy (its cluster is the local locality).
    pub fn new(ctx: Arc<ProxyContext>) -> Self {
        Self { ctx }
    }
}

impl<S> Layer<S> for BalanceLayer {
    type Service = Balance<S>;
    fn layer(&self, inner: S) -> Balance<S> {
        Balance {
            inner,
            ctx: Arc::clone(&self.ctx),
        }
    }
}

/// Picks the endpoint of each attempt and keeps outlier detection's books.
#[derive(Debug, Clone)]
pub struct Balance<S> {
    inner: S,
    ctx: Arc<ProxyContext>,
}

/// The consistent-hash key of a request, when the cluster hashes.
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

impl<S> Service<Req> for Balance<S>
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
        let cluster = match target(&req) {
            Ok(c) => c,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let tried = req.extensions().get::<TriedHosts>().cloned();
        let hash = hash_key(&req, &cluster.algorithm);
        let Some(pick) = cluster.pick(&self.ctx.info.cluster, tried.as_ref(), hash, Instant::now())
        else {
            let e = ProxyError::NoHealthyUpstream {
                cluster: cluster.name.clone(),
            };
            return Box::pin(async move { Err(e) });
        };
        let ep = pick.endpoint;
        if let Some(t) = &tried {
            t.push(&ep.address);
        }
        let load = HostLoad::up(pick.load);
        let dial_addr = ep.gateway.as_deref().unwrap_or(&ep.address);
        let addr = match dial_addr.parse() {
            Ok(a) => a,
            Err(_) => {
                let e = ProxyError::ConnectFailure {
                    endpoint: dial_addr.to_string(),
                    reason: "not a socket address".into(),
                };
                return Box::pin(async move { Err(e) });
            }
        };
        req.extensions_mut().insert(Picked {
            endpoint: ep.clone(),
            addr,
        });
        let ctx = Arc::clone(&self.ctx);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let _load = load;
            let result = fut.await;
            let outcome = Outcome::of(&result);
            // Only attempts that reached the endpoint say anything about it;
            // failures made on this side of the dial do not.
            if outcome != Outcome::Local {
                record(&ctx, &cluster, &ep, outcome);
            }
            result
        })
    }
}

/// Feeds an outcome to outlier detection and reports ejections as events.
fn record(ctx: &ProxyContext, cluster: &UpstreamCluster, ep: &Endpoint, outcome: Outcome) {
    for d in cluster.record(&ep.address, outcome, Instant::now()) {
        match d {
            Decision::Ejected {
                host,
                duration,
                times,
            } => ctx.emit(
                EventKind::Ejection,
                crate::control::events::ejection_message(
                    &ep.instance,
                    &host.to_string(),
                    &cluster.name,
                    duration.as_secs(),
                    times,
                ),
            ),
            Decision::Returned { host } => ctx.emit(
                EventKind::Uneject,
                crate::control::events::uneject_message(&host.to_string(), &cluster.name),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::config::model::TrafficPolicy;
    use crate::proto::ProxyEvent;
    use crate::proxy::cluster::UpstreamCluster;
    use crate::proxy::context::ProxyInfo;
    use crate::svc::testing::Scripted;
    use crate::telemetry::trace::SpanSink;

    fn proxy() -> (Arc<ProxyContext>, tokio::sync::mpsc::Receiver<ProxyEvent>) {
        let info = ProxyInfo::test_user();
        ProxyContext::new(info, SpanSink::disabled())
    }

    fn billing(ctx: &ProxyContext, policy: serde_json::Value) -> Arc<UpstreamCluster> {
        let endpoints = (1..=2)
            .map(|i| Endpoint {
                address: format!("127.0.0.{i}:15006"),
                instance: format!("billing-v1-{i}"),
                cluster: "eu".into(),
                ..Default::default()
            })
            .collect();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let policy: TrafficPolicy = serde_json::from_value(policy).expect("policy");
        Arc::new(UpstreamCluster::new(
            &ctx.clusters,
            "billing.default.svc.cluster.local",
            8080,
            None,
            endpoints,
            Arc::new(tls),
            &policy,
            None,
        ))
    }

    fn request_to(cluster: &Arc<UpstreamCluster>) -> Req {
        let mut req = http::Request::get("http://billing/")
            .body(Bytes::new())
            .expect("request");
        req.extensions_mut()
            .insert(RouteTarget(Arc::clone(cluster)));
        req
    }

    /// Answers 503 from `bad`, 200 from every other endpoint.
    #[derive(Clone)]
    struct FailingHost {
        bad: &'static str,
    }

    impl Service<Req> for FailingHost {
        type Response = Resp;
        type Error = ProxyError;
        type Future = SvcFuture;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Req) -> SvcFuture {
            let status = match req.extensions().get::<Picked>() {
                Some(p) if p.endpoint.address == self.bad => 503,
                Some(_) => 200,
                None => 500,
            };
            Box::pin(async move { Ok(crate::http::text_response(status, "")) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_pool_overflows_with_uo() {
        let (ctx, _events) = proxy();
        let cluster = billing(
            &ctx,
            serde_json::json!({"connectionPool": {
                "tcp": {"maxConnections": 1},
                "http": {"http1MaxPendingRequests": 1},
            }}),
        );
        let svc = ServiceBuilder::new()
            .layer(PoolLimitLayer)
            .service(Scripted::new([]).slow(Duration::from_secs(10)));
        let running = tokio::spawn(svc.clone().oneshot(request_to(&cluster)));
        let pending = tokio::spawn(svc.clone().oneshot(request_to(&cluster)));
        tokio::task::yield_now().await;
        let err = svc
            .clone()
            .oneshot(request_to(&cluster))
            .await
            .expect_err("overflows");
        assert!(matches!(err, ProxyError::Overflow { .. }), "{err}");
        let counters = &cluster.state.counters;
        assert_eq!(counters.pending_overflow.load(Ordering::Relaxed), 1);
        assert_eq!(counters.in_flight.load(Ordering::Relaxed), 2);
        for r in [running, pending] {
            assert_eq!(r.await.expect("joins").expect("answered").status(), 200);
        }
        assert_eq!(counters.in_flight.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_failing_in_a_row_is_ejected_and_no_longer_picked() {
        let (ctx, mut events) = proxy();
        let cluster = billing(
            &ctx,
            serde_json::json!({"outlierDetection": {
                "consecutive5xxErrors": 2, "interval": "1s", "baseEjectionTime": "30s",
            }}),
        );
        let svc = ServiceBuilder::new()
            .layer(BalanceLayer::new(Arc::clone(&ctx)))
            .service(FailingHost {
                bad: "127.0.0.1:15006",
            });
        // Round robin: four requests give the bad host its two failures.
        for _ in 0..4 {
            svc.clone()
                .oneshot(request_to(&cluster))
                .await
                .expect("answered");
        }
        let now = tokio::time::Instant::now();
        assert_eq!(cluster.ejected(now), vec!["127.0.0.1:15006".to_string()]);
        let event = events.try_recv().expect("an ejection event");
        assert_eq!(event.kind, "ejection");
        assert!(event.message.contains("billing-v1-1"), "{}", event.message);
        for _ in 0..10 {
            let resp = svc
                .clone()
                .oneshot(request_to(&cluster))
                .await
                .expect("answered");
            assert_eq!(resp.status(), 200, "only the healthy host is picked");
        }
    }

    #[tokio::test]
    async fn a_request_without_a_route_target_is_refused() {
        let (ctx, _events) = proxy();
        let req = http::Request::get("http://billing/")
            .body(Bytes::new())
            .expect("request");
        let err = BalanceLayer::new(ctx)
            .layer(Scripted::new([]))
            .oneshot(req)
            .await
            .expect_err("no target");
        assert!(matches!(err, ProxyError::NoRoute { .. }), "{err}");
    }
}
