//! Fault injection: delay some requests, abort some with a status, as the
//! route's `fault` says. Aborts never reach the upstream; both are flagged
//! (DI, FI) so metrics and the tap show what the mesh did on purpose.

use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{add_flags, Flags, ProxyError, Req, Resp, RoutePolicy, SvcFuture};
use crate::http::text_response;

/// Layer for [`Fault`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultLayer;

impl<S> Layer<S> for FaultLayer {
    type Service = Fault<S>;
    fn layer(&self, inner: S) -> Fault<S> {
        Fault { inner }
    }
}

/// Injects the route's faults.
#[derive(Debug, Clone)]
pub struct Fault<S> {
    inner: S,
}

fn hit(percent: f64) -> bool {
    percent >= 100.0 || rand::random::<f64>() * 100.0 < percent
}

impl<S> Service<Req> for Fault<S>
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
        let Some(fault) = req
            .extensions()
            .get::<RoutePolicy>()
            .and_then(|p| p.fault.clone())
        else {
            return self.inner.call(req);
        };
        let delay = fault.delay.filter(|(_, pct)| hit(*pct)).map(|(d, _)| d);
        let abort = fault.abort.filter(|(_, pct)| hit(*pct)).map(|(s, _)| s);
        // The inner service is called after the delay: take the one our
        // caller polled ready and leave a clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut flags = Flags::default();
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
                flags.insert(Flags::DI);
            }
            let mut resp = match abort {
                Some(status) => {
                    flags.insert(Flags::FI);
                    text_response(status, "fault filter abort\n")
                }
                None => inner.call(req).await?,
            };
            add_flags(&mut resp, flags);
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tower::ServiceExt;

    use super::*;
    use crate::svc::testing::{request, Scripted};
    use crate::svc::{flags_of, ClusterCounters, FaultPolicy};

    fn fault(f: FaultPolicy) -> RoutePolicy {
        RoutePolicy {
            fault: Some(f),
            ..RoutePolicy::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn delay_holds_the_request_then_forwards_it_flagged_di() {
        let inner = Scripted::new([]);
        let counters = Arc::new(ClusterCounters::default());
        let started = tokio::time::Instant::now();
        let resp = FaultLayer
            .layer(inner.clone())
            .oneshot(request(
                fault(FaultPolicy {
                    delay: Some((Duration::from_secs(5), 100.0)),
                    abort: None,
                }),
                &counters,
            ))
            .await
            .expect("answered");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(resp.status(), 200);
        assert_eq!(inner.calls(), 1);
        assert_eq!(flags_of(&resp), Flags::DI);
    }

    #[tokio::test(start_paused = true)]
    async fn abort_answers_without_calling_upstream() {
        let inner = Scripted::new([]);
        let counters = Arc::new(ClusterCounters::default());
        let resp = FaultLayer
            .layer(inner.clone())
            .oneshot(request(
                fault(FaultPolicy {
                    delay: Some((Duration::from_secs(2), 100.0)),
                    abort: Some((503, 100.0)),
                }),
                &counters,
            ))
            .await
            .expect("answered");
        assert_eq!(resp.status(), 503);
        assert_eq!(inner.calls(), 0);
        assert_eq!(flags_of(&resp), Flags::DI | Flags::FI);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_percent_never_fires() {
        let inner = Scripted::new([]);
        let counters = Arc::new(ClusterCounters::default());
        let started = tokio::time::Instant::now();
        let resp = FaultLayer
            .layer(inner.clone())
            .oneshot(request(
                fault(FaultPolicy {
                    delay: Some((Duration::from_secs(5), 0.0)),
                    abort: Some((503, 0.0)),
                }),
                &counters,
            ))
            .await
            .expect("answered");
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(resp.status(), 200);
        assert_eq!(inner.calls(), 1);
        assert!(flags_of(&resp).is_empty());
    }
}
