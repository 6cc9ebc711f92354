//! The Istio resources meshcon implements, as typed Rust: a faithful subset of
//! `networking.istio.io/v1` (VirtualService, DestinationRule, Gateway) and
//! `security.istio.io/v1` (PeerAuthentication, RequestAuthentication,
//! AuthorizationPolicy).
//!
//! Field names and shapes are Istio's, so Istio's own YAML parses unchanged.
//! Fields Istio has and meshcon does not implement are listed in
//! [`super::parse`] and reported as warnings, never silently dropped.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_go_opt;

/// Kubernetes object metadata (the part that matters here).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The object's name, unique per kind within its namespace.
    #[serde(default)]
    pub name: String,
    /// Namespace; `default` when absent, as kubectl does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels, kept so the resource prints back as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations, kept so the resource prints back as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Metadata {
    /// The namespace, defaulting to `default`.
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// One resource, typed by kind.
// A mesh holds a handful of resources and the data plane matches on these
// variants everywhere; boxing the large DestinationRule would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Resource {
    /// Routing for hosts.
    VirtualService(Object<VirtualService>),
    /// Policies and subsets for a destination.
    DestinationRule(Object<DestinationRule>),
    /// An ingress listener.
    Gateway(Object<Gateway>),
    /// mTLS mode for workloads.
    PeerAuthentication(Object<PeerAuthentication>),
    /// Who may call what.
    AuthorizationPolicy(Object<AuthorizationPolicy>),
    /// Which JWTs a workload accepts.
    RequestAuthentication(Object<RequestAuthentication>),
}

/// apiVersion + metadata + spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    /// As written (`networking.istio.io/v1`, `v1beta1`, `v1alpha3`...).
    pub api_version: String,
    /// Name and namespace.
    pub metadata: Metadata,
    /// The kind's own settings (`spec:`).
    pub spec: S,
}

impl Resource {
    /// The kind as YAML writes it (`VirtualService`).
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::VirtualService(_) => "VirtualService",
            Resource::DestinationRule(_) => "DestinationRule",
            Resource::Gateway(_) => "Gateway",
            Resource::PeerAuthentication(_) => "PeerAuthentication",
            Resource::AuthorizationPolicy(_) => "AuthorizationPolicy",
            Resource::RequestAuthentication(_) => "RequestAuthentication",
        }
    }

    /// Name, namespace and labels, whatever the kind.
    pub fn metadata(&self) -> &Metadata {
        match self {
            Resource::VirtualService(o) => &o.metadata,
            Resource::DestinationRule(o) => &o.metadata,
            Resource::Gateway(o) => &o.metadata,
            Resource::PeerAuthentication(o) => &o.metadata,
            Resource::AuthorizationPolicy(o) => &o.metadata,
            Resource::RequestAuthentication(o) => &o.metadata,
        }
    }

    /// `Kind namespace/name`, how findings and history name a resource.
    pub fn key(&self) -> ResourceKey {
        ResourceKey {
            kind: self.kind().to_string(),
            namespace: self.metadata().ns().to_string(),
            name: self.metadata().name.clone(),
        }
    }
}

/// Identifies a resource: kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceKey {
    /// The kind as YAML writes it (`VirtualService`).
    pub kind: String,
    /// The namespace, `default` filled in when the resource names none.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl std::fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

// ---------------- VirtualService ----------------

/// `networking.istio.io` VirtualService.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualService {
    /// Hosts the rules apply to (short names resolve in the resource's namespace).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Gateways the rules apply to; empty means `mesh` (every sidecar).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// HTTP routes, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    /// Namespaces the resource is visible to (accepted; meshcon exports everywhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// TCP routes (analysed; meshcon sidecars route HTTP only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpRoute>,
    /// TLS (SNI) routes (analysed; meshcon sidecars route HTTP only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsRoute>,
}

/// A TCP route: L4 matches and weighted destinations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpRoute {
    /// Conditions, OR-ed; empty matches every connection.
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<L4MatchAttributes>,
    /// Weighted destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

/// A TLS route: SNI matches and weighted destinations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    /// Conditions, OR-ed.
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<TlsMatchAttributes>,
    /// Weighted destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

/// L4 match conditions, AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L4MatchAttributes {
    /// Destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Labels of the calling workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Namespace of the calling workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
    /// Gateways this match applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
}

/// TLS match conditions, AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsMatchAttributes {
    /// SNI values to match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sni_hosts: Vec<String>,
    /// Destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Labels of the calling workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Namespace of the calling workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
    /// Gateways this match applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
}

/// A weighted L4 destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestination {
    /// Where to; a missing destination is reported, not a parse failure.
    #[serde(default)]
    pub destination: Destination,
    /// Share of traffic, 0-100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
}

/// One HTTP route rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// Name, for stats and the console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Conditions, OR-ed; empty matches everything.
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatchRequest>,
    /// Weighted destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    /// Answer with a redirect instead of routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<HttpRedirect>,
    /// Rewrite the path or authority before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    /// Total time for the request, retries included.
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// How failed tries of this route are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    /// Delays or errors injected before forwarding, for testing resilience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<HttpFaultInjection>,
    /// Copy traffic to another destination, fire-and-forget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination>,
    /// How much of the traffic to mirror (default 100%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
    /// Headers set, added or removed on the request and the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// Match conditions, AND-ed within one block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatchRequest {
    /// A name Istio quotes in overlap findings (IST0131).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// The HTTP method (`GET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// Authority (Host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// `http` or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    /// Headers that must match (lowercase names).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// Headers that must not match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
    /// Query parameters that must match, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    /// Case-insensitive URI matching.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_uri_case: bool,
    /// Labels of the calling workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Namespace of the calling workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
    /// Gateways this match applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
}

/// exact / prefix / regex (RE2 syntax; the Rust regex crate is close to it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StringMatch {
    /// Exactly this.
    Exact(String),
    /// Starts with this.
    Prefix(String),
    /// Matches this whole regular expression.
    Regex(String),
}

/// A weighted destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteDestination {
    /// Where to; a missing destination (`- {}`) is reported, not a parse failure.
    #[serde(default)]
    pub destination: Destination,
    /// Share of traffic, 0-100; one destination alone may omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// Header manipulation for this destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// A service, optionally a subset and a port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Service host (short or fully qualified); empty is reported by analysis.
    #[serde(default)]
    pub host: String,
    /// Subset name from a DestinationRule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// Which port of the service; required when it exposes several (IST0112).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

/// `port: {number: 8080}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    /// A port of the service, 1-65535.
    pub number: u32,
}

/// A redirect answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRedirect {
    /// The path the redirect points to; the request's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The host the redirect points to; the request's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Status code (default 301).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<u16>,
}

/// A rewrite before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRewrite {
    /// Replaces the matched prefix (or the whole path for exact/regex matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The Host sent upstream instead of the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// `retries:` of an HTTP route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    /// Retries allowed (not counting the first try).
    #[serde(default)]
    pub attempts: i64,
    /// Timeout of each try.
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_try_timeout: Option<Duration>,
    /// Comma-separated conditions: 5xx, gateway-error, reset, connect-failure,
    /// retriable-4xx, refused-stream, retriable-status-codes, or status codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    /// Retry on other localities (accepted; meshcon always may).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_remote_localities: Option<bool>,
}

/// `fault:` of an HTTP route: a delay, an abort, or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpFaultInjection {
    /// Delay before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    /// Answer with an error instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
}

/// A delay fault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelay {
    /// How long each delayed request waits (required).
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub fixed_delay: Option<Duration>,
    /// Share of requests delayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
    /// Deprecated integer percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
}

/// An abort fault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbort {
    /// The status aborted requests get (200-599, required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i64>,
    /// Share of requests aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

/// `percentage: {value: 10.0}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Percent {
    /// 0.0 to 100.0.
    #[serde(default)]
    pub value: f64,
}

/// Header manipulation for requests and responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Headers {
    /// Changes to the request before it is forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    /// Changes to the response before it is returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

/// set / add / remove.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderOperations {
    /// Headers given these values, replacing any present.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Values appended to these headers, keeping those present.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Header names removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

// ---------------- DestinationRule ----------------

/// `networking.istio.io` DestinationRule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRule {
    /// The service it applies to.
    #[serde(default)]
    pub host: String,
    /// Policies for every subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named groups of endpoints, by labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    /// Visibility (accepted; meshcon exports everywhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Workloads whose sidecars use the rule (analysed; meshcon applies it to every sidecar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
}

/// A named group of the host's endpoints, picked by labels (`v1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset {
    /// Name used by routes.
    pub name: String,
    /// Endpoint labels selecting its members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Overrides for this subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
}

/// Load balancing, connection pool, outlier detection, TLS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// How endpoints are picked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection and request limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Passive health checking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS towards the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
    /// Per-port overrides (analysed; meshcon applies the destination-level policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortTrafficPolicy>,
}

/// Policies for one port of the destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortTrafficPolicy {
    /// The destination port these settings are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
    /// Replaces the rule's `loadBalancer` on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Replaces the rule's `connectionPool` on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Replaces the rule's `outlierDetection` on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// Replaces the rule's `tls` on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
}

/// Load balancer settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerSettings {
    /// ROUND_ROBIN, LEAST_REQUEST, RANDOM, PASSTHROUGH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simple: Option<String>,
    /// Session affinity by hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_hash: Option<ConsistentHash>,
    /// Locality preferences and failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality_lb_setting: Option<LocalityLbSetting>,
    /// Slow start for new endpoints (validated; not applied by meshcon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Warmup>,
}

/// `loadBalancer.warmup`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warmup {
    /// How long the ramp lasts (required).
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Starting share of traffic, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_percent: Option<f64>,
    /// Curve of the ramp (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggression: Option<f64>,
}

/// Consistent hashing key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistentHash {
    /// Hash a request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_header_name: Option<String>,
    /// Hash a cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_cookie: Option<HttpCookie>,
    /// Hash the caller's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_source_ip: Option<bool>,
    /// Hash a query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_query_parameter_name: Option<String>,
}

/// A cookie to hash on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCookie {
    /// Cookie name.
    pub name: String,
    /// Path (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Lifetime (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// Locality load balancing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityLbSetting {
    /// On by default; false turns locality preference off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Where traffic goes when the local locality has no healthy endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<LocalityFailover>,
    /// Fixed shares of traffic per locality.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribute: Vec<LocalityDistribute>,
}

/// `failover: [{from: eu, to: us}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityFailover {
    /// The caller's locality (cluster name here); required (checked by analysis).
    #[serde(default)]
    pub from: String,
    /// Where to fail over to; required (checked by analysis).
    #[serde(default)]
    pub to: String,
}

/// `distribute: [{from: "eu/*", to: {"eu/*": 80, "us/*": 20}}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityDistribute {
    /// The caller's locality; required (checked by analysis).
    #[serde(default)]
    pub from: String,
    /// Weights by destination locality, summing to 100.
    #[serde(default)]
    pub to: BTreeMap<String, u32>,
}

/// Connection pool limits (Envoy circuit breakers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPoolSettings {
    /// TCP limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpSettings>,
    /// HTTP limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSettings>,
}

/// TCP limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSettings {
    /// Maximum connections to all endpoints of the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i64>,
    /// TCP connect timeout (default 10s).
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
}

/// HTTP limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpSettings {
    /// Requests allowed to wait for a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http1_max_pending_requests: Option<i64>,
    /// Requests in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2_max_requests: Option<i64>,
    /// Requests per connection before it is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<i64>,
    /// Retries in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i64>,
    /// `UPGRADE`: HTTP/1.1 requests cross between sidecars as HTTP/2;
    /// `DEFAULT` and `DO_NOT_UPGRADE` keep them HTTP/1.1 (the mesh default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h2_upgrade_policy: Option<String>,
    /// Idle time before a connection is closed.
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
}

/// Outlier detection (passive health checking).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetection {
    /// 5xx answers (and local failures) in a row before ejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx_errors: Option<u32>,
    /// 502/503/504 (and local failures) in a row before ejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_errors: Option<u32>,
    /// Deprecated alias of consecutiveGatewayErrors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_errors: Option<u32>,
    /// How often ejections are re-examined.
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Ejection time, multiplied by the number of times ejected.
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub base_ejection_time: Option<Duration>,
    /// At most this share of endpoints ejected at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<u32>,
    /// Below this share of healthy endpoints, ejection is suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_health_percent: Option<u32>,
}

/// TLS towards the destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTlsSettings {
    /// DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// CA certificates to verify the server (SIMPLE/MUTUAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// Client certificate (MUTUAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// Client key (MUTUAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Kubernetes secret holding credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// Expected server names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// SNI to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Accept any server certificate, as Istio's `insecureSkipVerify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

// ---------------- Gateway ----------------

/// `networking.istio.io` Gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gateway {
    /// Which gateway workloads run it (`istio: ingressgateway`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Listeners: a port, the hosts served on it, and how TLS is handled.
    #[serde(default)]
    pub servers: Vec<Server>,
}

/// A gateway listener.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// The port the gateway listens on.
    #[serde(default)]
    pub port: GatewayPort,
    /// Hosts served (`*`, `shop.example.com`, `ns/host`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// How TLS is terminated or passed through; none means plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// An optional name for the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Bind address (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

/// A gateway port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPort {
    /// The port number, 1-65535.
    #[serde(default)]
    pub number: u32,
    /// An optional port name (`http`, `https-443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// HTTP, HTTPS, HTTP2, GRPC, TCP, TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Container port (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// Gateway TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTlsSettings {
    /// PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Secret name (meshcon uses its ingress CA certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// Redirect HTTP to HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_redirect: Option<bool>,
    /// Certificate file (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<String>,
    /// Key file (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// CA file (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
}

// ---------------- ServiceEntry ----------------

/// `networking.istio.io` ServiceEntry: typed so that its fields are checked
/// against Istio's; meshcon reads it for analysis only (its hosts count as
/// known) and does not route to what it declares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntry {
    /// Hosts added to the registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Virtual addresses (IPs or CIDRs) of the hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Ports the hosts serve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// MESH_EXTERNAL or MESH_INTERNAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Endpoints behind the hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<ServiceEntryEndpoint>,
    /// Workloads behind the hosts, by labels (instead of endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<ServiceEntrySelector>,
    /// Namespaces the hosts are visible to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Identities the endpoints' certificates may carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// A ServiceEntry port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// 1-65535 (checked with Istio's other rules, on the raw value).
    #[serde(default)]
    pub number: i64,
    /// HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Unique among the entry's ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The endpoints' port, when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<i64>,
}

/// A ServiceEntry endpoint (Istio's WorkloadEntry spec).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntryEndpoint {
    /// Address or DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port numbers by the entry's port names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, i64>,
    /// The endpoint's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Network it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `region/zone/subzone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// Load balancing weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// The endpoint's service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

/// `workloadSelector: {labels: {...}}` of a ServiceEntry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntrySelector {
    /// Labels a workload must have.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

// ---------------- Security ----------------

/// `selector: {matchLabels: {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// Labels a workload must have.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// `security.istio.io` PeerAuthentication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthentication {
    /// Workloads it applies to; none means the whole namespace (or mesh, in the root namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// The mode for every port `portLevelMtls` does not name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MtlsSetting>,
    /// Per-port modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_level_mtls: Option<BTreeMap<String, MtlsSetting>>,
}

/// `mtls: {mode: STRICT}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MtlsSetting {
    /// UNSET, DISABLE, PERMISSIVE, STRICT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `security.istio.io` RequestAuthentication: the JWTs a workload accepts.
/// A request with a token none of the rules verifies is refused (401); one
/// without a token passes with no request principal, for an
/// AuthorizationPolicy to decide.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAuthentication {
    /// Workloads it applies to; none means the whole namespace (or mesh, in the root namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// One rule per accepted issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_rules: Vec<JwtRule>,
}

/// One accepted issuer and how its tokens are found and checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtRule {
    /// The `iss` tokens must carry (required).
    #[serde(default)]
    pub issuer: String,
    /// Accepted `aud` values; empty accepts any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Where the JSON Web Key Set is served; meshcon fetches it only from
    /// loopback. (`jwks_uri` is Istio's older spelling.)
    #[serde(default, alias = "jwks_uri", skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The JSON Web Key Set inline, as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Headers the token may be in; default `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<JwtHeader>,
    /// Query parameters the token may be in; default `access_token`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    /// Cookies the token may be in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_cookies: Vec<String>,
    /// The header the verified payload is copied to (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_payload_to_header: Option<String>,
    /// Claims copied to headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    /// OPTIONAL (default): a request without a token passes; REQUIRED: it
    /// is refused (401).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<String>,
    /// Claims whose string value is a space-separated list, besides
    /// `scope` and `permission`, which always are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub space_delimited_claims: Vec<String>,
    /// Keep the token on the request passed on (default: removed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_original_token: bool,
    /// How long a JWKS fetch may take (`5s` when absent).
    #[serde(
        default,
        with = "serde_go_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

/// `fromHeaders: [{name: x-jwt, prefix: "Bearer "}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtHeader {
    /// The header's name.
    #[serde(default)]
    pub name: String,
    /// What precedes the token in the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// `outputClaimToHeaders: [{header: x-group, claim: group}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimToHeader {
    /// The header set.
    #[serde(default)]
    pub header: String,
    /// The claim copied (a string, number or boolean claim).
    #[serde(default)]
    pub claim: String,
}

/// `security.istio.io` AuthorizationPolicy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicy {
    /// Workloads it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// ALLOW (default), DENY, AUDIT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Rules, OR-ed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<AuthzRule>,
}

/// One rule: from AND to AND when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzRule {
    /// Sources, OR-ed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<AuthzFrom>,
    /// Operations, OR-ed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<AuthzTo>,
    /// Istio's extra conditions (`request.headers[..]`, `source.ip`...).
    /// Kept so that meshcon, which does not evaluate them, can fail closed
    /// instead of silently dropping a restriction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<serde_json::Value>,
}

/// `from: [{source: ...}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzFrom {
    /// Who the caller must be.
    #[serde(default)]
    pub source: AuthzSource,
}

/// Who the caller is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzSource {
    /// Peer principals (`eu.mesh/ns/default/sa/user`), `*` wildcards at either end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Excluded principals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_principals: Vec<String>,
    /// Peer namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Excluded namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_namespaces: Vec<String>,
    /// The conditions Istio has and meshcon does not evaluate, by field
    /// name (`ipBlocks`, `requestPrincipals`, `serviceAccounts`...): a
    /// source naming one never widens an ALLOW (see `proxy::authz`).
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unevaluated: BTreeMap<String, serde_json::Value>,
}

/// Source fields beyond principals and namespaces that meshcon evaluates
/// (carried in [`AuthzSource::unevaluated`] and read by the proxy).
pub const EVALUATED_SOURCE_FIELDS: &[&str] = &[
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "serviceAccounts",
    "notServiceAccounts",
    "trustDomains",
    "notTrustDomains",
    "requestPrincipals",
    "notRequestPrincipals",
];

/// Source fields Istio has and meshcon does not evaluate: none left, kept
/// so a field Istio adds later has a place to fail closed from.
pub const UNEVALUATED_SOURCE_FIELDS: &[&str] = &[];

/// Operation fields beyond methods and paths that meshcon evaluates.
pub const EVALUATED_OPERATION_FIELDS: &[&str] = &["hosts", "notHosts", "ports", "notPorts"];

/// Whether meshcon evaluates an AuthorizationPolicy `when` key: request
/// headers, the peer's and the original client's address, the peer's
/// namespace and principal, the destination port, and what a verified JWT
/// says (`request.auth.principal`, `audiences`, `presenter`,
/// `claims[name]`, nested `claims[a][b]`). SNI and the experimental keys
/// are not.
pub fn evaluated_when_key(key: &str) -> bool {
    (key.starts_with("request.headers[") && key.ends_with(']'))
        || (key.starts_with("request.auth.claims[") && key.ends_with(']'))
        || matches!(
            key,
            "source.ip"
                | "remote.ip"
                | "source.namespace"
                | "source.principal"
                | "destination.port"
                | "request.auth.principal"
                | "request.auth.audiences"
                | "request.auth.presenter"
        )
}

/// `to: [{operation: ...}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzTo {
    /// What the caller must be asking for.
    #[serde(default)]
    pub operation: AuthzOperation,
}

/// What is being asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzOperation {
    /// HTTP methods (`GET`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Excluded methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_methods: Vec<String>,
    /// Paths, `*` wildcards at either end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Excluded paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
    /// The conditions Istio has and meshcon does not evaluate (`hosts`,
    /// `ports` and their `not` forms): an operation naming one never widens
    /// an ALLOW.
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unevaluated: BTreeMap<String, serde_json::Value>,
}
