//! Tower middleware of the data plane, one behaviour per module, composed
//! into the outbound stack by `proxy::outbound` (read it for the order).
//!
//! Per-route policy reaches the layers as a [`RoutePolicy`] in the request's
//! extensions, put there by the router: the stack itself is static, the
//! policy is data.
//!
//! - [`classify`]: what a failure is; Envoy response flags.
//! - [`fault`]: delay and abort injection.
//! - [`timeout`]: the route timeout and the per-try timeout.
//! - [`retry`]: retries with jittered exponential backoff and a budget.
//! - [`outlier`]: outlier detection as a pure state machine.
//! - [`limits`]: connection-pool limits with overflow.
//! - [`balance`]: endpoint selection (round robin, least request, random,
//!   consistent hash, locality).

pub mod balance;
pub mod classify;
pub mod fault;
pub mod limits;
pub mod outlier;
pub mod retry;
pub mod timeout;

#[cfg(test)]
pub(crate) mod testing;

use std::time::Duration;

use bytes::Bytes;

use crate::http::Body;
pub use classify::{Flags, Outcome, ProxyError, RetryOn, RetryOnError};

/// A request inside the stack: the body is buffered so retries can replay it.
pub type Req = http::Request<Bytes>;
/// A response inside the stack.
pub type Resp = http::Response<Body>;
/// What every layer returns.
pub type SvcResult = Result<Resp, ProxyError>;
/// The boxed future every layer returns.
pub type SvcFuture = futures::future::BoxFuture<'static, SvcResult>;
/// A whole stack, boxed at the module boundary (what listeners drive and
/// what the router sends mirrors through).
pub type MeshService = tower::util::BoxCloneSyncService<Req, Resp, ProxyError>;

/// The per-route policy the router attaches to a request.
#[derive(Debug, Clone, Default)]
pub struct RoutePolicy {
    /// Whole-request timeout (retries included); None: no timeout.
    pub timeout: Option<Duration>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Fault injection.
    pub fault: Option<FaultPolicy>,
}

/// How to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first try.
    pub attempts: u32,
    /// Timeout of each try.
    pub per_try_timeout: Option<Duration>,
    /// Which outcomes are retried.
    pub retry_on: RetryOn,
    /// Backoff base (Envoy: 25 ms).
    pub base_interval: Duration,
    /// Backoff cap (Envoy: 10 × base).
    pub max_interval: Duration,
}

impl Default for RetryPolicy {
    /// Istio's default for routes without a retry policy: 2 retries on
    /// connect failures and refused streams.
    fn default() -> Self {
        Self {
            attempts: 2,
            per_try_timeout: None,
            retry_on: RetryOn::istio_default(),
            base_interval: Duration::from_millis(25),
            max_interval: Duration::from_millis(250),
        }
    }
}

/// Fault injection of a route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPolicy {
    /// Delay and the percentage of requests delayed.
    pub delay: Option<(Duration, f64)>,
    /// Status and the percentage of requests aborted.
    pub abort: Option<(u16, f64)>,
}

/// Which attempt a request is (0 is the first try), set by the retry layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempt(pub u32);

/// The endpoints tried so far, so retries prefer others (Istio configures
/// Envoy's previous-hosts predicate by default).
#[derive(Debug, Clone, Default)]
pub struct TriedHosts(pub std::sync::Arc<parking_lot::Mutex<Vec<String>>>);

impl TriedHosts {
    /// Adds a host.
    pub fn push(&self, host: &str) {
        self.0.lock().push(host.to_string());
    }

    /// Whether `host` was tried.
    pub fn contains(&self, host: &str) -> bool {
        self.0.lock().iter().any(|h| h == host)
    }
}

/// Copies a request for another attempt (bodies are `Bytes`, cheap to clone).
pub fn clone_request(req: &Req) -> Req {
    let mut out = http::Request::new(req.body().clone());
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.version_mut() = req.version();
    *out.headers_mut() = req.headers().clone();
    *out.extensions_mut() = req.extensions().clone();
    out
}

/// Adds flags to a response.
pub fn add_flags(resp: &mut Resp, flags: Flags) {
    let mut f = resp
        .extensions()
        .get::<Flags>()
        .copied()
        .unwrap_or_default();
    f.insert(flags);
    resp.extensions_mut().insert(f);
}

/// The flags a response carries.
pub fn flags_of(resp: &Resp) -> Flags {
    resp.extensions()
        .get::<Flags>()
        .copied()
        .unwrap_or_default()
}

/// Envoy-style per-cluster counters, also used as the retry budget's gauge.
#[derive(Debug, Default)]
pub struct ClusterCounters {
    /// Requests in flight.
    pub in_flight: std::sync::atomic::AtomicUsize,
    /// Retries in flight.
    pub retries_active: std::sync::atomic::AtomicUsize,
    /// `maxRetries` (0: unlimited within the budget).
    pub max_retries: std::sync::atomic::AtomicUsize,
    /// Retries sent.
    pub retry: std::sync::atomic::AtomicU64,
    /// Requests that succeeded after a retry.
    pub retry_success: std::sync::atomic::AtomicU64,
    /// Retries refused by the budget.
    pub retry_overflow: std::sync::atomic::AtomicU64,
    /// Requests refused by the pool limit (UO).
    pub pending_overflow: std::sync::atomic::AtomicU64,
    /// Timeouts.
    pub timeout: std::sync::atomic::AtomicU64,
    /// Connect failures.
    pub connect_fail: std::sync::atomic::AtomicU64,
    /// Ejections enforced.
    pub ejections_enforced: std::sync::atomic::AtomicU64,
    /// Hosts ejected right now.
    pub ejections_active: std::sync::atomic::AtomicU64,
    /// Connections opened.
    pub cx_total: std::sync::atomic::AtomicU64,
}

/// The counters of the cluster a request goes to, set by the router.
#[derive(Debug, Clone)]
pub struct ClusterStats(pub std::sync::Arc<ClusterCounters>);
