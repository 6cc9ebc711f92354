//! Connection-pool limits (Envoy's circuit breakers), per destination:
//! requests in flight up to `min(maxConnections, http2MaxRequests)`; beyond
//! that up to `http1MaxPendingRequests` wait; beyond that, overflow (503 UO).
//!
//! `maxConnections` limits requests in flight whether they cross on
//! HTTP/1.1 connections (one request each at a time) or multiplexed on
//! HTTP/2, which is what it limits in Istio's circuit-breaking task
//! (HTTP/1.1 upstreams, one request per connection).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::model::ConnectionPoolSettings;

/// Limits derived from a DestinationRule (None: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolLimits {
    /// Requests in flight.
    pub max_in_flight: Option<usize>,
    /// Requests waiting.
    pub max_pending: Option<usize>,
    /// Requests per connection before it is replaced.
    pub max_requests_per_connection: Option<usize>,
    /// Retries in flight.
    pub max_retries: Option<usize>,
}

impl PoolLimits {
    /// From `connectionPool` settings.
    pub fn from_config(cp: &ConnectionPoolSettings) -> Self {
        let pos = |v: Option<i64>| v.filter(|v| *v > 0).map(|v| v as usize);
        let http = cp.http.as_ref();
        let tcp_max = pos(cp.tcp.as_ref().and_then(|t| t.max_connections));
        let h2_max = pos(http.and_then(|h| h.http2_max_requests));
        let max_in_flight = match (tcp_max, h2_max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            max_in_flight,
            max_pending: pos(http.and_then(|h| h.http1_max_pending_requests)),
            max_requests_per_connection: pos(http.and_then(|h| h.max_requests_per_connection)),
            max_retries: pos(http.and_then(|h| h.max_retries)),
        }
    }
}

/// Admission control for one destination.
#[derive(Debug)]
pub struct Limiter {
    limits: PoolLimits,
    slots: Option<Arc<Semaphore>>,
    pending: AtomicUsize,
}

/// Proof of admission; dropping it frees the slot.
#[derive(Debug)]
pub struct Admitted(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl Limiter {
    /// A limiter for `limits`.
    pub fn new(limits: PoolLimits) -> Self {
        Self {
            slots: limits.max_in_flight.map(|n| Arc::new(Semaphore::new(n))),
            limits,
            pending: AtomicUsize::new(0),
        }
    }

    /// The limits enforced.
    pub fn limits(&self) -> PoolLimits {
        self.limits
    }

    /// Admits a request now, after waiting in the pending queue, or refuses it.
    pub async fn admit(&self) -> Option<Admitted> {
        let Some(slots) = &self.slots else {
            return Some(Admitted(None));
        };
        if let Ok(p) = Arc::clone(slots).try_acquire_owned() {
            return Some(Admitted(Some(p)));
        }
        // Istio's default pending limit is effectively unbounded.
        let max_pending = self.limits.max_pending.unwrap_or(usize::MAX);
        let queued = self.pending.fetch_add(1, Ordering::AcqRel);
        if queued >= max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = Arc::clone(slots).acquire_owned().await.ok();
        self.pending.fetch_sub(1, Ordering::AcqRel);
        permit.map(|p| Admitted(Some(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{HttpSettings, TcpSettings};

    #[tokio::test]
    async fn overflow_beyond_in_flight_and_pending() {
        let limits = PoolLimits::from_config(&ConnectionPoolSettings {
            tcp: Some(TcpSettings {
                max_connections: Some(1),
                ..Default::default()
            }),
            http: Some(HttpSettings {
                http1_max_pending_requests: Some(1),
                ..Default::default()
            }),
        });
        let l = Arc::new(Limiter::new(limits));
        let first = l.admit().await.expect("first runs");
        let l2 = Arc::clone(&l);
        let waiter = tokio::spawn(async move { l2.admit().await.is_some() });
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(l.admit().await.is_none(), "third overflows");
        drop(first);
        assert!(
            waiter.await.expect("joins"),
            "the pending one runs once a slot frees"
        );
    }

    #[tokio::test]
    async fn unlimited_by_default() {
        let l = Limiter::new(PoolLimits::default());
        let held: Vec<_> = futures::future::join_all((0..100).map(|_| l.admit())).await;
        assert!(held.iter().all(Option::is_some));
    }
}
