//! What the layers of a request learn about it, shared in its extensions:
//! the [`RequestLog`] inner layers fill in (which service, route and
//! endpoint; how many attempts), the proxy's span ([`ProxySpan`]) and the
//! connection's facts ([`ConnInfo`]). The telemetry layer that reads them
//! (`proxy::telemetry`) sees what routing decided without knowing routing.

use std::sync::Arc;

use parking_lot::Mutex;

use super::metrics::Peer;
use super::trace::TraceContext;

/// The destination service of a request.
#[derive(Debug, Clone, Default)]
pub struct ServiceRef {
    /// The first label of its host (`billing`), as Istio's `destination_service_name`.
    pub name: String,
    /// Istio's `destination_service_namespace`.
    pub namespace: String,
    /// `billing.default.svc.cluster.local`: what Istio's `destination_service` label carries.
    pub fqdn: String,
}

/// What inner layers learned about a request.
#[derive(Debug, Clone, Default)]
pub struct LogFields {
    /// The service it went to.
    pub service: Option<ServiceRef>,
    /// The peer that answered (outbound) or called (inbound).
    pub peer: Option<Peer>,
    /// The endpoint address used last.
    pub upstream_host: Option<String>,
    /// The instance (pod) behind that endpoint: which replica answered.
    pub upstream_instance: Option<String>,
    /// The VirtualService route that matched (Envoy's `%ROUTE_NAME%`).
    pub route: Option<String>,
    /// Upstream cluster name.
    pub cluster: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Whether the hop was mutual TLS.
    pub mtls: bool,
}

/// Shared, fill-in-as-you-go request facts.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(pub Arc<Mutex<LogFields>>);

impl RequestLog {
    /// Changes the fields.
    pub fn update(&self, f: impl FnOnce(&mut LogFields)) {
        f(&mut self.0.lock());
    }

    /// A copy of the fields.
    pub fn get(&self) -> LogFields {
        self.0.lock().clone()
    }
}

/// The trace context of a request inside the proxy: the trace, and the span
/// this proxy opened for it (attempt spans and the app are its children).
#[derive(Debug, Clone)]
pub struct ProxySpan {
    /// Trace, sampling and state.
    pub trace: TraceContext,
    /// The span this proxy opened.
    pub span_id: [u8; 8],
}

/// Facts about the connection a request came in on (inbound).
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The peer's verified SPIFFE ID, for mTLS connections.
    pub peer_id: Option<String>,
    /// The peer's socket address.
    pub remote: Option<std::net::SocketAddr>,
}
