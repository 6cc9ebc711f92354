//! Timeouts: the route timeout (outside retries, so it bounds them all) and
//! the per-try timeout (inside retries, so a slow try can be retried).

use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

use super::{ClusterStats, ProxyError, Req, RoutePolicy, SvcFuture, SvcResult};

/// When the whole request must be done; retries read it to stop in time.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub tokio::time::Instant);

/// Which timeout a [`Timeout`] layer enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `timeout` of the route.
    Route,
    /// `retries.perTryTimeout` of the route.
    PerTry,
}

/// Layer for [`Timeout`].
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer(pub Which);

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            which: self.0,
        }
    }
}

/// Fails a request with UT (504) when its timeout passes.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    which: Which,
}

fn limit(req: &Req, which: Which) -> Option<Duration> {
    let p = req.extensions().get::<RoutePolicy>()?;
    let t = match which {
        Which::Route => p.timeout,
        Which::PerTry => p.retry.per_try_timeout,
    }?;
    // 0s means "no timeout" in Istio.
    (!t.is_zero()).then_some(t)
}

impl<S> Service<Req> for Timeout<S>
where
    S: Service<Req, Response = super::Resp, Error = ProxyError, Future = SvcFuture>,
{
    type Response = super::Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Req) -> SvcFuture {
        let Some(t) = limit(&req, self.which) else {
            return self.inner.call(req);
        };
        if self.which == Which::Route {
            req.extensions_mut()
                .insert(Deadline(tokio::time::Instant::now() + t));
        }
        let stats = req.extensions().get::<ClusterStats>().cloned();
        let fut = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(t, fut).await {
                Ok(r) => r,
                Err(_) => {
                    if let Some(ClusterStats(c)) = stats {
                        c.timeout.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    SvcResult::Err(ProxyError::Timeout {
                        after_ms: t.as_millis() as u64,
                    })
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use tower::{Layer, ServiceExt};

    use super::*;
    use crate::svc::testing::{request, Scripted};
    use crate::svc::ClusterCounters;

    fn route_timeout(t: Duration) -> RoutePolicy {
        RoutePolicy {
            timeout: Some(t),
            ..RoutePolicy::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn route_timeout_fails_a_slow_upstream_with_ut() {
        let inner = Scripted::new([]).slow(Duration::from_secs(10));
        let counters = Arc::new(ClusterCounters::default());
        let started = tokio::time::Instant::now();
        let err = TimeoutLayer(Which::Route)
            .layer(inner)
            .oneshot(request(route_timeout(Duration::from_secs(1)), &counters))
            .await
            .expect_err("times out");
        assert!(
            matches!(err, ProxyError::Timeout { after_ms: 1000 }),
            "{err}"
        );
        assert_eq!(err.flags(), crate::svc::Flags::UT);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert_eq!(counters.timeout.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_within_the_timeout_pass() {
        let inner = Scripted::new([]).slow(Duration::from_millis(900));
        let counters = Arc::new(ClusterCounters::default());
        let resp = TimeoutLayer(Which::Route)
            .layer(inner)
            .oneshot(request(route_timeout(Duration::from_secs(1)), &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 200);
        assert_eq!(counters.timeout.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_seconds_means_no_timeout() {
        let inner = Scripted::new([]).slow(Duration::from_secs(3600));
        let counters = Arc::new(ClusterCounters::default());
        let resp = TimeoutLayer(Which::Route)
            .layer(inner)
            .oneshot(request(route_timeout(Duration::ZERO), &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test(start_paused = true)]
    async fn the_per_try_layer_ignores_the_route_timeout() {
        let inner = Scripted::new([]).slow(Duration::from_secs(5));
        let counters = Arc::new(ClusterCounters::default());
        let resp = TimeoutLayer(Which::PerTry)
            .layer(inner)
            .oneshot(request(route_timeout(Duration::from_secs(1)), &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 200);
    }
}
