//! HTTP routes compiled from VirtualServices: match conditions (uri exact,
//! prefix or regex; method; authority; headers; query parameters; source
//! labels and namespace), weighted destinations, redirects, rewrites, and
//! the route policy (timeout, retries, fault, mirror).
//!
//! A header match on `@request.auth.claims.<name>` (nested:
//! `<a>.<b>`) matches the claim of the JWT a RequestAuthentication verified
//! on this proxy, as Istio does at gateways: a string claim, or any item of
//! a list claim. Without a verified token it matches nothing.

use std::collections::BTreeMap;

use regex::Regex;

use crate::config::model::{
    Headers, HttpMatchRequest, HttpRedirect, HttpRewrite, HttpRoute, StringMatch,
};
use crate::svc::{FaultPolicy, RetryOn, RetryOnError, RetryPolicy, RoutePolicy};

/// Why a VirtualService's `http` entry cannot be compiled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RouteError {
    /// A regex match does not compile (or is too large).
    #[error("regex '{pattern}': {source}")]
    Regex {
        /// The regex as written.
        pattern: String,
        /// What the regex engine said.
        source: regex::Error,
    },
    /// The entry sends nowhere.
    #[error("route {name} has neither route nor redirect")]
    NoDestination {
        /// The route's name.
        name: String,
    },
    /// `retries.retryOn` names an unknown condition.
    #[error(transparent)]
    RetryOn(#[from] RetryOnError),
}

/// A compiled string condition.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Whole-string regular expression.
    Regex(Regex),
}

impl Matcher {
    /// Compiles a StringMatch (regexes are anchored, as RE2 full match is).
    pub fn compile(m: &StringMatch, ignore_case: bool) -> Result<Self, RouteError> {
        Ok(match m {
            StringMatch::Exact(s) if ignore_case => Matcher::Exact(s.to_lowercase()),
            StringMatch::Exact(s) => Matcher::Exact(s.clone()),
            StringMatch::Prefix(s) if ignore_case => Matcher::Prefix(s.to_lowercase()),
            StringMatch::Prefix(s) => Matcher::Prefix(s.clone()),
            StringMatch::Regex(r) => {
                let pattern = if ignore_case {
                    format!("(?i)^(?:{r})$")
                } else {
                    format!("^(?:{r})$")
                };
                Matcher::Regex(
                    regex::RegexBuilder::new(&pattern)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|source| RouteError::Regex {
                            pattern: r.clone(),
                            source,
                        })?,
                )
            }
        })
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => value == s,
            Matcher::Prefix(p) => value.starts_with(p.as_str()),
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

/// One compiled match block (conditions AND-ed).
#[derive(Debug, Clone, Default)]
pub struct CompiledMatch {
    uri: Option<Matcher>,
    ignore_uri_case: bool,
    method: Option<Matcher>,
    authority: Option<Matcher>,
    scheme: Option<Matcher>,
    headers: Vec<(String, Matcher)>,
    without_headers: Vec<(String, Matcher)>,
    query_params: Vec<(String, Matcher)>,
    source_labels: BTreeMap<String, String>,
    source_namespace: Option<String>,
    gateways: Vec<String>,
    port: Option<u32>,
}

/// Who is sending, for `sourceLabels`, `sourceNamespace` and `gateways`.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// Labels of the calling workload.
    pub labels: BTreeMap<String, String>,
    /// Its namespace.
    pub namespace: String,
    /// The gateway names the caller is (`mesh` for sidecars).
    pub gateways: Vec<String>,
}

/// The prefix that makes a header match a JWT claim match.
const CLAIM_PREFIX: &str = "@request.auth.claims.";

/// The values a header match is compared with: the header's, or a claim's.
fn header_values(req: &http::Request<bytes::Bytes>, name: &str) -> Vec<String> {
    match name.strip_prefix(CLAIM_PREFIX) {
        Some(path) => {
            let path: Vec<&str> = path.split('.').collect();
            req.extensions()
                .get::<super::jwt::RequestAuth>()
                .map(|a| a.claim_strings(&path))
                .unwrap_or_default()
        }
        None => req
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| vec![v.to_string()])
            .unwrap_or_default(),
    }
}

fn query_param(req: &http::Request<bytes::Bytes>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| v.to_string())
    })
}

impl CompiledMatch {
    fn compile(m: &HttpMatchRequest) -> Result<Self, RouteError> {
        let one = |s: &Option<StringMatch>, ic: bool| {
            s.as_ref().map(|s| Matcher::compile(s, ic)).transpose()
        };
        let many = |map: &BTreeMap<String, StringMatch>| {
            map.iter()
                .map(|(k, v)| {
                    // Claim names are case-sensitive; header names are not.
                    let k = if k.starts_with(CLAIM_PREFIX) {
                        k.clone()
                    } else {
                        k.to_ascii_lowercase()
                    };
                    Ok((k, Matcher::compile(v, false)?))
                })
                .collect::<Result<Vec<_>, RouteError>>()
        };
        Ok(Self {
            uri: one(&m.uri, m.ignore_uri_case)?,
            ignore_uri_case: m.ignore_uri_case,
            method: one(&m.method, false)?,
            authority: one(&m.authority, false)?,
            scheme: one(&m.scheme, false)?,
            headers: many(&m.headers)?,
            without_headers: many(&m.without_headers)?,
            query_params: m
                .query_params
                .iter()
                .map(|(k, v)| Ok((k.clone(), Matcher::compile(v, false)?)))
                .collect::<Result<Vec<_>, RouteError>>()?,
            source_labels: m.source_labels.clone(),
            source_namespace: m.source_namespace.clone(),
            gateways: m.gateways.clone(),
            port: m.port,
        })
    }

    /// Whether the request meets every condition of the block.
    pub fn matches(
        &self,
        req: &http::Request<bytes::Bytes>,
        authority: &str,
        port: u16,
        source: &Source,
    ) -> bool {
        self.miss(req, authority, port, source).is_none()
    }

    /// The first condition the request does not meet (None: it meets
    /// them all). Borrowed, so routing pays nothing for the explanation.
    pub fn miss<'a>(
        &'a self,
        req: &http::Request<bytes::Bytes>,
        authority: &str,
        port: u16,
        source: &Source,
    ) -> Option<Miss<'a>> {
        if let Some(u) = &self.uri {
            let path = req.uri().path();
            let ok = if self.ignore_uri_case {
                u.matches(&path.to_lowercase())
            } else {
                u.matches(path)
            };
            if !ok {
                return Some(Miss::Uri(u));
            }
        }
        if let Some(m) = &self.method {
            if !m.matches(req.method().as_str()) {
                return Some(Miss::Method(m));
            }
        }
        if let Some(a) = &self.authority {
            if !a.matches(authority) {
                return Some(Miss::Authority(a));
            }
        }
        if let Some(s) = &self.scheme {
            if !s.matches(req.uri().scheme_str().unwrap_or("http")) {
                return Some(Miss::Scheme(s));
            }
        }
        for (name, m) in &self.headers {
            if !header_values(req, name).iter().any(|v| m.matches(v)) {
                return Some(Miss::Header(name, m));
            }
        }
        for (name, m) in &self.without_headers {
            if header_values(req, name).iter().any(|v| m.matches(v)) {
                return Some(Miss::WithoutHeader(name, m));
            }
        }
        for (name, m) in &self.query_params {
            match query_param(req, name) {
                Some(v) if m.matches(&v) => {}
                _ => return Some(Miss::QueryParam(name, m)),
            }
        }
        if let Some((k, v)) = self
            .source_labels
            .iter()
            .find(|(k, v)| source.labels.get(*k) != Some(*v))
        {
            return Some(Miss::SourceLabel(k, v));
        }
        if let Some(ns) = &self.source_namespace {
            if *ns != source.namespace {
                return Some(Miss::SourceNamespace(ns));
            }
        }
        if !self.gateways.is_empty() && !self.gateways.iter().any(|g| source.gateways.contains(g)) {
            return Some(Miss::Gateways(&self.gateways));
        }
        if let Some(p) = self.port {
            if p != port as u32 {
                return Some(Miss::Port(p));
            }
        }
        None
    }
}

/// The condition of a match block a request did not meet.
#[derive(Debug, Clone, Copy)]
pub enum Miss<'a> {
    /// `uri`.
    Uri(&'a Matcher),
    /// `method`.
    Method(&'a Matcher),
    /// `authority`.
    Authority(&'a Matcher),
    /// `scheme`.
    Scheme(&'a Matcher),
    /// `headers.NAME`.
    Header(&'a str, &'a Matcher),
    /// `withoutHeaders.NAME`.
    WithoutHeader(&'a str, &'a Matcher),
    /// `queryParams.NAME`.
    QueryParam(&'a str, &'a Matcher),
    /// `sourceLabels`.
    SourceLabel(&'a str, &'a str),
    /// `sourceNamespace`.
    SourceNamespace(&'a str),
    /// `gateways`.
    Gateways(&'a [String]),
    /// `port`.
    Port(u32),
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "exact \"{s}\""),
            Matcher::Prefix(s) => write!(f, "prefix \"{s}\""),
            Matcher::Regex(r) => write!(f, "regex \"{}\"", r.as_str()),
        }
    }
}

impl std::fmt::Display for Miss<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::Uri(m) => write!(f, "the path is not {m}"),
            Miss::Method(m) => write!(f, "the method is not {m}"),
            Miss::Authority(m) => write!(f, "the authority is not {m}"),
            Miss::Scheme(m) => write!(f, "the scheme is not {m}"),
            Miss::Header(n, m) => write!(f, "no header {n} that is {m}"),
            Miss::WithoutHeader(n, m) => {
                write!(f, "header {n} is {m}, which withoutHeaders excludes")
            }
            Miss::QueryParam(n, m) => write!(f, "no query parameter {n} that is {m}"),
            Miss::SourceLabel(k, v) => write!(f, "the caller is not labelled {k}={v}"),
            Miss::SourceNamespace(ns) => write!(f, "the caller is not in namespace {ns}"),
            Miss::Gateways(g) => {
                write!(f, "the caller is not one of the gateways {}", g.join(", "))
            }
            Miss::Port(p) => write!(f, "the port is not {p}"),
        }
    }
}

impl CompiledRoute {
    /// Why each match block turned the request down (empty when the route
    /// has no conditions or one block matches).
    pub fn misses(
        &self,
        req: &http::Request<bytes::Bytes>,
        authority: &str,
        port: u16,
        source: &Source,
    ) -> Vec<String> {
        let all: Vec<Option<String>> = self
            .matches
            .iter()
            .map(|m| m.miss(req, authority, port, source).map(|x| x.to_string()))
            .collect();
        if all.iter().any(Option::is_none) {
            return Vec::new();
        }
        all.into_iter().flatten().collect()
    }
}

/// Where a route sends traffic.
#[derive(Debug, Clone)]
pub enum Action {
    /// Weighted clusters: (cluster name, weight, per-destination headers).
    Route(Vec<(String, u32, Option<Headers>)>),
    /// Answer with a redirect.
    Redirect(HttpRedirect),
}

/// One compiled route.
#[derive(Debug, Clone)]
pub struct CompiledRoute {
    /// Route name (given, or `VirtualService-name/index`).
    pub name: String,
    /// Match blocks, OR-ed; empty matches everything.
    pub matches: Vec<CompiledMatch>,
    /// What to do.
    pub action: Action,
    /// Timeout, retries, fault.
    pub policy: RoutePolicy,
    /// Mirror cluster and percentage.
    pub mirror: Option<(String, f64)>,
    /// Rewrite.
    pub rewrite: Option<HttpRewrite>,
    /// Header manipulation.
    pub headers: Option<Headers>,
    /// The prefix the matching uri condition used (for prefix rewrites).
    prefixes: Vec<Option<String>>,
}

impl CompiledRoute {
    /// The route that Istio builds for a service with no VirtualService.
    pub fn default_to(cluster: String) -> Self {
        Self {
            name: "default".into(),
            matches: Vec::new(),
            action: Action::Route(vec![(cluster, 100, None)]),
            policy: RoutePolicy::default(),
            mirror: None,
            rewrite: None,
            headers: None,
            prefixes: Vec::new(),
        }
    }

    /// Compiles one `http` entry; `resolve` maps a destination to a cluster name.
    pub fn compile(
        route: &HttpRoute,
        name: String,
        resolve: &dyn Fn(&crate::config::model::Destination) -> String,
    ) -> Result<Self, RouteError> {
        let matches = route
            .matches
            .iter()
            .map(CompiledMatch::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let prefixes = route
            .matches
            .iter()
            .map(|m| match &m.uri {
                Some(StringMatch::Prefix(p)) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let action = match &route.redirect {
            Some(r) => Action::Redirect(r.clone()),
            None => {
                let single = route.route.len() == 1;
                let dests = route
                    .route
                    .iter()
                    .map(|d| {
                        let w = match d.weight {
                            Some(w) => w.max(0) as u32,
                            None if single => 100,
                            None => 0,
                        };
                        (resolve(&d.destination), w, d.headers.clone())
                    })
                    .collect::<Vec<_>>();
                if dests.is_empty() {
                    return Err(RouteError::NoDestination { name });
                }
                Action::Route(dests)
            }
        };
        let retry = match &route.retries {
            Some(r) => RetryPolicy {
                attempts: r.attempts.max(0) as u32,
                per_try_timeout: r.per_try_timeout,
                retry_on: match &r.retry_on {
                    Some(text) => RetryOn::parse(text)?,
                    // Istio's retry default conditions when a policy names none.
                    None => RetryOn::parse("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes")?,
                },
                ..RetryPolicy::default()
            },
            None => RetryPolicy::default(),
        };
        let fault = route.fault.as_ref().map(|f| FaultPolicy {
            delay: f.delay.as_ref().and_then(|d| {
                let pct = d
                    .percentage
                    .as_ref()
                    .map(|p| p.value)
                    .or(d.percent.map(|p| p as f64))
                    .unwrap_or(100.0);
                d.fixed_delay.map(|t| (t, pct))
            }),
            abort: f.abort.as_ref().and_then(|a| {
                let pct = a.percentage.as_ref().map(|p| p.value).unwrap_or(100.0);
                a.http_status.map(|s| (s.clamp(200, 599) as u16, pct))
            }),
        });
        let mirror = route.mirror.as_ref().map(|m| {
            let pct = route
                .mirror_percentage
                .as_ref()
                .map(|p| p.value)
                .unwrap_or(100.0);
            (resolve(m), pct)
        });
        Ok(Self {
            name,
            matches,
            action,
            policy: RoutePolicy {
                timeout: route.timeout,
                retry,
                fault,
            },
            mirror,
            rewrite: route.rewrite.clone(),
            headers: route.headers.clone(),
            prefixes,
        })
    }

    /// Which match block matched (None: no match; Some(None): no conditions).
    pub fn matched(
        &self,
        req: &http::Request<bytes::Bytes>,
        authority: &str,
        port: u16,
        source: &Source,
    ) -> Option<Option<usize>> {
        if self.matches.is_empty() {
            return Some(None);
        }
        self.matches
            .iter()
            .position(|m| m.matches(req, authority, port, source))
            .map(Some)
    }

    /// The prefix of the matched block, for prefix rewrites.
    pub fn matched_prefix(&self, block: Option<usize>) -> Option<&str> {
        block
            .and_then(|i| self.prefixes.get(i))
            .and_then(|p| p.as_deref())
    }

    /// Picks a destination by weight.
    pub fn pick_destination(&self) -> Option<&(String, u32, Option<Headers>)> {
        let Action::Route(dests) = &self.action else {
            return None;
        };
        let total: u32 = dests.iter().map(|d| d.1).sum();
        if total == 0 {
            return dests.first();
        }
        let mut r = rand::random::<u32>() % total;
        for d in dests {
            if r < d.1 {
                return Some(d);
            }
            r -= d.1;
        }
        dests.last()
    }
}

/// Applies `set`, `add` and `remove` to a header map.
pub fn apply_header_ops(
    headers: &mut http::HeaderMap,
    ops: Option<&crate::config::model::HeaderOperations>,
) {
    let Some(ops) = ops else { return };
    for (k, v) in &ops.set {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            headers.insert(k, v);
        }
    }
    for (k, v) in &ops.add {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    for k in &ops.remove {
        headers.remove(k.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Destination, HttpRouteDestination};

    fn req(path: &str, headers: &[(&str, &str)]) -> http::Request<bytes::Bytes> {
        let mut b = http::Request::builder().uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(bytes::Bytes::new()).expect("request")
    }

    fn route(yaml: &str) -> CompiledRoute {
        let doc = crate::yaml::parse_one(yaml).expect("yaml");
        let r: HttpRoute = serde_json::from_value(doc.value).expect("route");
        CompiledRoute::compile(&r, "r".into(), &|d: &Destination| {
            format!("{}|{}", d.host, d.subset.clone().unwrap_or_default())
        })
        .expect("compiles")
    }

    #[test]
    fn claim_match_reads_the_verified_jwt() {
        let r = route("match:\n- headers:\n    '@request.auth.claims.group': {exact: beta}\n    '@request.auth.claims.org.Team': {prefix: pay}\nroute:\n- destination: {host: billing, subset: v2}\n");
        let src = Source::default();
        let mut with = req("/", &[]);
        with.extensions_mut().insert(super::super::jwt::RequestAuth {
            claims: serde_json::json!({"group": ["alpha", "beta"], "org": {"Team": "payments"}}),
            ..Default::default()
        });
        assert!(r.matched(&with, "billing", 80, &src).is_some());
        let header_only = req("/", &[("group", "beta")]);
        assert!(
            r.matched(&header_only, "billing", 80, &src).is_none(),
            "no verified token, no claim"
        );
    }

    #[test]
    fn header_match_selects_the_route() {
        let r = route("match:\n- headers:\n    end-user: {exact: tester}\nroute:\n- destination: {host: billing, subset: v2}\n");
        let src = Source::default();
        assert!(r
            .matched(&req("/", &[("end-user", "tester")]), "billing", 8080, &src)
            .is_some());
        assert!(r
            .matched(&req("/", &[("end-user", "other")]), "billing", 8080, &src)
            .is_none());
        assert!(r.matched(&req("/", &[]), "billing", 8080, &src).is_none());
    }

    #[test]
    fn uri_prefix_and_regex() {
        let r = route("match:\n- uri: {prefix: /api}\n- uri: {regex: '/v[0-9]+/items'}\nroute:\n- destination: {host: a}\n");
        let src = Source::default();
        assert_eq!(r.matched(&req("/api/x", &[]), "a", 80, &src), Some(Some(0)));
        assert_eq!(
            r.matched(&req("/v2/items", &[]), "a", 80, &src),
            Some(Some(1))
        );
        assert_eq!(
            r.matched(&req("/v2/items/extra", &[]), "a", 80, &src),
            None,
            "regex is a full match"
        );
        assert_eq!(r.matched_prefix(Some(0)), Some("/api"));
    }

    #[test]
    fn weights_split_traffic() {
        let r = CompiledRoute::compile(
            &HttpRoute {
                route: vec![
                    HttpRouteDestination {
                        destination: Destination {
                            host: "b".into(),
                            subset: Some("v1".into()),
                            port: None,
                        },
                        weight: Some(90),
                        headers: None,
                    },
                    HttpRouteDestination {
                        destination: Destination {
                            host: "b".into(),
                            subset: Some("v2".into()),
                            port: None,
                        },
                        weight: Some(10),
                        headers: None,
                    },
                ],
                ..Default::default()
            },
            "r".into(),
            &|d| d.subset.clone().unwrap_or_default(),
        )
        .expect("compiles");
        let v2 = (0..10_000)
            .filter(|_| r.pick_destination().map(|d| d.0.as_str()) == Some("v2"))
            .count();
        assert!((800..1200).contains(&v2), "v2 got {v2} of 10000");
    }

    #[test]
    fn bad_regex_is_an_error() {
        let doc = crate::yaml::parse_one(
            "match:\n- uri: {regex: '(unclosed'}\nroute:\n- destination: {host: a}\n",
        )
        .expect("yaml");
        let r: HttpRoute = serde_json::from_value(doc.value).expect("route");
        let err =
            CompiledRoute::compile(&r, "r".into(), &|d| d.host.clone()).expect_err("bad regex");
        assert!(err.to_string().contains("regex"), "{err}");
    }
}
