//! Retries: replay the buffered request when the outcome matches `retryOn`,
//! with Envoy's fully jittered exponential backoff (25 ms base, 250 ms cap),
//! never starting a try that the route deadline would cut off, and within a
//! budget (retries in flight ≤ max(10, 20% of requests in flight), and
//! `maxRetries` when set) so retries cannot snowball into a storm.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

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
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let mut attempt = 0u32;
            let mut _active: Option<ActiveRetry> = None;
            loop {
                let mut this = clone_request(&req);
                this.extensions_mut().insert(Attempt(attempt));
                let result = inner.call(this).await;
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
    use super::*;

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
