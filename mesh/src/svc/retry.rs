//! Retries: replay the buffered request when the outcome matches `retryOn`,
//! with Envoy's fully jittered exponential backoff (25 ms base, 250 ms cap),
//! never starting a try that the route deadline would cut off, and within a
//! budget (retries in flight ≤ max(10, 20% of requests in flight), and
//! `maxRetries` when set) so retries cannot snowball into a storm.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service, ServiceExt};

use super::timeout::Deadline;
use super::{
    add_flags, clone_request, Attempt, ClusterStats, Flags, Outcome, ProxyError, Req, Resp,
    RoutePolicy, SvcFuture, TriedHosts,
};

/// How many attempts a request took, on the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts(pub u32);

/// Layer for [`Retry`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryLayer;

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;
    fn layer(&self, inner: S) -> Retry<S> {
        Retry { inner }
    }
}

/// Retries failed attempts per the route's policy.
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
}

/// The backoff before retry number `n` (1-based): uniform in
/// [0, min(cap, base × (2^n − 1))].
pub fn backoff(n: u32, base: Duration, cap: Duration) -> Duration {
    let factor = (1u64 << n.min(16)) - 1;
    let upper = (base * factor as u32).min(cap);
    upper.mul_f64(rand::random::<f64>())
}

fn budget_allows(stats: Option<&ClusterStats>) -> bool {
    let Some(ClusterStats(c)) = stats else {
        return true;
    };
    let active = c.retries_active.load(Ordering::Relaxed);
    let in_flight = c.in_flight.load(Ordering::Relaxed);
    let max = c.max_retries.load(Ordering::Relaxed);
    if max > 0 && active >= max {
        return false;
    }
    active < (in_flight / 5).max(10)
}

struct ActiveRetry(Option<ClusterStats>);

impl ActiveRetry {
    fn new(stats: Option<ClusterStats>) -> Self {
        if let Some(ClusterStats(c)) = &stats {
            c.retries_active.fetch_add(1, Ordering::Relaxed);
            c.retry.fetch_add(1, Ordering::Relaxed);
        }
        Self(stats)
    }
}

impl Drop for ActiveRetry {
    fn drop(&mut self) {
        if let Some(ClusterStats(c)) = &self.0 {
            c.retries_active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl<S> Service<Req> for Retry<S>
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
        let policy = req
            .extensions()
            .get::<RoutePolicy>()
            .map(|p| p.retry.clone())
            .unwrap_or_default();
        let deadline = req.extensions().get::<Deadline>().map(|d| d.0);
        let stats = req.extensions().get::<ClusterStats>().cloned();
        req.extensions_mut().insert(TriedHosts::default());
        // The service polled ready by our caller goes into the future; a
        // clone stays behind for the next request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut attempt = 0u32;
            let mut _active: Option<ActiveRetry> = None;
            loop {
                let mut this = clone_request(&req);
                this.extensions_mut().insert(Attempt(attempt));
                // Every try waits for the inner service to be ready again:
                // a call consumes readiness, and a retry is a new call.
                let result = match inner.ready().await {
                    Ok(svc) => svc.call(this).await,
                    Err(e) => Err(e),
                };
                let outcome = Outcome::of(&result);
                let retriable = policy.retry_on.matches(outcome);
                let finish = |mut result: Result<Resp, ProxyError>, exhausted: bool| {
                    if let Ok(resp) = &mut result {
                        resp.extensions_mut().insert(Attempts(attempt + 1));
                        if exhausted {
                            add_flags(resp, Flags::URX);
                        }
                    }
                    result
                };
                if !retriable {
                    if attempt > 0 && matches!(outcome, Outcome::Success(_)) {
                        if let Some(ClusterStats(c)) = &stats {
                            c.retry_success.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    return finish(result, false);
                }
                if attempt >= policy.attempts {
                    return finish(result, attempt > 0);
                }
                let wait = backoff(attempt + 1, policy.base_interval, policy.max_interval);
                if deadline.is_some_and(|d| tokio::time::Instant::now() + wait >= d) {
                    return finish(result, true);
                }
                if !budget_allows(stats.as_ref()) {
                    if let Some(ClusterStats(c)) = &stats {
                        c.retry_overflow.fetch_add(1, Ordering::Relaxed);
                    }
                    return finish(result, false);
                }
                drop(result);
                _active = Some(ActiveRetry::new(stats.clone()));
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::svc::testing::{request, Answer, Scripted};
    use crate::svc::timeout::{TimeoutLayer, Which};
    use crate::svc::{flags_of, ClusterCounters, RetryOn, RetryPolicy};

    fn retry_on_5xx(attempts: u32) -> RoutePolicy {
        RoutePolicy {
            retry: RetryPolicy {
                attempts,
                retry_on: RetryOn::parse("5xx").expect("valid"),
                ..RetryPolicy::default()
            },
            ..RoutePolicy::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_get_after_503() {
        let inner = Scripted::new([Answer::Status(503), Answer::Status(200)]);
        let counters = Arc::new(ClusterCounters::default());
        let resp = RetryLayer
            .layer(inner.clone())
            .oneshot(request(retry_on_5xx(2), &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 200);
        assert_eq!(inner.calls(), 2);
        assert_eq!(resp.extensions().get::<Attempts>(), Some(&Attempts(2)));
        assert!(!flags_of(&resp).contains(Flags::URX));
        assert_eq!(counters.retry.load(Ordering::Relaxed), 1);
        assert_eq!(counters.retry_success.load(Ordering::Relaxed), 1);
        assert_eq!(counters.retries_active.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn polls_inner_ready_before_every_try_and_flags_urx_when_exhausted() {
        // `Scripted` panics when called without `poll_ready` first.
        let inner = Scripted::new(vec![Answer::Status(503); 3]);
        let counters = Arc::new(ClusterCounters::default());
        let resp = RetryLayer
            .layer(inner.clone())
            .oneshot(request(retry_on_5xx(2), &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 503);
        assert_eq!(inner.calls(), 3, "the first try and two retries");
        assert_eq!(resp.extensions().get::<Attempts>(), Some(&Attempts(3)));
        assert!(flags_of(&resp).contains(Flags::URX));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_stays_within_envoys_bounds() {
        let inner = Scripted::new(vec![Answer::Status(503); 3]);
        let counters = Arc::new(ClusterCounters::default());
        let started = tokio::time::Instant::now();
        RetryLayer
            .layer(inner)
            .oneshot(request(retry_on_5xx(2), &counters))
            .await
            .expect("answered");
        // Retry 1 waits at most 25 ms, retry 2 at most 75 ms.
        assert!(started.elapsed() <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_connect_failures_by_default() {
        let refused = ProxyError::ConnectFailure {
            endpoint: "10.0.0.1:15006".into(),
            reason: "connection refused".into(),
        };
        let inner = Scripted::new([Answer::Fail(refused), Answer::Status(200)]);
        let counters = Arc::new(ClusterCounters::default());
        let resp = RetryLayer
            .layer(inner.clone())
            .oneshot(request(RoutePolicy::default(), &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 200);
        assert_eq!(inner.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_outcomes_retry_on_leaves_out() {
        let inner = Scripted::new([Answer::Status(503)]);
        let counters = Arc::new(ClusterCounters::default());
        let mut policy = retry_on_5xx(2);
        policy.retry.retry_on = RetryOn::istio_default();
        let resp = RetryLayer
            .layer(inner.clone())
            .oneshot(request(policy, &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 503);
        assert_eq!(inner.calls(), 1);
        assert!(!flags_of(&resp).contains(Flags::URX));
    }

    #[tokio::test(start_paused = true)]
    async fn stops_when_the_route_deadline_would_cut_the_next_try() {
        let inner = Scripted::new(vec![Answer::Status(503); 3]);
        let counters = Arc::new(ClusterCounters::default());
        let mut req = request(retry_on_5xx(2), &counters);
        req.extensions_mut()
            .insert(Deadline(tokio::time::Instant::now()));
        let resp = RetryLayer
            .layer(inner.clone())
            .oneshot(req)
            .await
            .expect("answered");
        assert_eq!(inner.calls(), 1);
        assert!(flags_of(&resp).contains(Flags::URX));
    }

    #[tokio::test(start_paused = true)]
    async fn budget_refuses_retries_beyond_max_retries() {
        let inner = Scripted::new(vec![Answer::Status(503); 3]);
        let counters = Arc::new(ClusterCounters::default());
        counters.max_retries.store(1, Ordering::Relaxed);
        counters.retries_active.store(1, Ordering::Relaxed);
        let resp = RetryLayer
            .layer(inner.clone())
            .oneshot(request(retry_on_5xx(2), &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 503);
        assert_eq!(inner.calls(), 1);
        assert_eq!(counters.retry_overflow.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_try_is_cut_by_the_per_try_timeout_and_retried() {
        let inner = Scripted::new([
            Answer::After(Duration::from_secs(10), 200),
            Answer::Status(200),
        ]);
        let counters = Arc::new(ClusterCounters::default());
        let mut policy = retry_on_5xx(2);
        policy.retry.per_try_timeout = Some(Duration::from_secs(1));
        let svc = ServiceBuilder::new()
            .layer(RetryLayer)
            .layer(TimeoutLayer(Which::PerTry))
            .service(inner.clone());
        let started = tokio::time::Instant::now();
        let resp = svc
            .oneshot(request(policy, &counters))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 200);
        assert_eq!(inner.calls(), 2);
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(2),
            "one per-try timeout and a backoff: {elapsed:?}"
        );
        assert_eq!(counters.timeout.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let base = Duration::from_millis(25);
        let cap = Duration::from_millis(250);
        for n in 1..10 {
            for _ in 0..50 {
                let b = backoff(n, base, cap);
                let upper = (base * ((1u32 << n) - 1)).min(cap);
                assert!(b <= upper, "retry {n}: {b:?} > {upper:?}");
            }
        }
    }
}
