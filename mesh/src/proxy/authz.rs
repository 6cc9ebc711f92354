//! AuthorizationPolicy enforcement on the inbound side, in Istio's order:
//! any matching DENY policy denies; then, if any ALLOW policy applies to the
//! workload, one of them must match; otherwise the request is allowed.
//! AUDIT policies never change the outcome.
//!
//! Besides principals, namespaces, methods and paths, the proxy evaluates
//! `ipBlocks` (the peer's address), `remoteIpBlocks` (the original client's,
//! from `x-forwarded-for`), `serviceAccounts` (`namespace/name`),
//! `trustDomains`, `hosts`, `ports` (the workload's port), their `not`
//! forms, `requestPrincipals` (`<iss>/<sub>` of the JWT a
//! RequestAuthentication verified, `*` wildcards at either end) and its
//! `not` form, and `when` on request headers, addresses, the peer's
//! namespace and principal, the destination port and the verified JWT
//! (`request.auth.principal`, `audiences`, `presenter`, `claims[a]`,
//! `claims[a][b]`). A request without a token has no request principal and
//! no claims. Conditions it does not evaluate (SNI, experimental keys...)
//! never make a policy looser than Istio's: in an ALLOW policy the source,
//! operation or rule
//! naming one matches no request; in a DENY policy it is taken as met, so
//! the rule denies at least what Istio's would. Security fails closed.
//!
//! Principals are matched in Istio's `<trust-domain>/ns/<ns>/sa/<sa>` form
//! with `*` at either end. `cluster.local/...`, the trust domain Istio's own
//! samples use, stands for any federated trust domain of the mesh.

use std::net::IpAddr;

use super::context::ProxyContext;
use super::jwt::RequestAuth;
use crate::config::model::{AuthorizationPolicy, AuthzRule, Object};
use crate::control::events::EventKind;
use crate::identity::SpiffeId;
use crate::svc::{ProxyError, Req};
use crate::telemetry::access::ConnInfo;

/// What the policies see of a request.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    /// The peer's principal (`eu.mesh/ns/default/sa/user`), None for plaintext.
    pub principal: Option<&'a str>,
    /// The peer's namespace.
    pub namespace: Option<&'a str>,
    /// The request's method, as `methods` and `notMethods` match it.
    pub method: &'a str,
    /// The request's path, as `paths` and `notPaths` match it.
    pub path: &'a str,
    /// The address of the connection's peer (`ipBlocks`, `source.ip`).
    pub peer_ip: Option<IpAddr>,
    /// The original client's address: the first `x-forwarded-for` hop, else
    /// the peer (`remoteIpBlocks`, `remote.ip`).
    pub remote_ip: Option<IpAddr>,
    /// The `Host` the request names, without a port (`hosts`).
    pub host: &'a str,
    /// The workload port the request arrived for (`ports`, `destination.port`).
    pub port: Option<u16>,
    /// The request's headers (`when: request.headers[...]`).
    pub headers: Option<&'a http::HeaderMap>,
    /// What the request's verified JWT says; None without one.
    pub auth: Option<&'a RequestAuth>,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through.
    Allow,
    /// Refuse it, naming the policy that decided.
    Deny(String),
}

fn wildcard(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return value.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return value.starts_with(prefix);
    }
    pattern == value
}

fn principal_matches(pattern: &str, principal: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("cluster.local/") {
        let path = principal.split_once('/').map(|(_, p)| p).unwrap_or("");
        return wildcard(rest, path);
    }
    wildcard(pattern, principal)
}

fn any(patterns: &[String], value: Option<&str>, f: fn(&str, &str) -> bool) -> bool {
    value.is_some_and(|v| patterns.iter().any(|p| f(p, v)))
}

/// How a condition meshcon does not evaluate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unevaluated {
    /// As not met: an ALLOW rule that needs it allows nothing.
    Fails,
    /// As met: a DENY rule that needs it denies at least as much as Istio's.
    Holds,
}

/// Whether `ip` lies in `block` (`10.0.0.0/16`, or one address).
fn in_block(block: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match block.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (block, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// The strings of a condition's list; None when it is not a list of strings
/// (then the condition counts as unevaluated).
fn strings(v: &serde_json::Value) -> Option<Vec<&str>> {
    v.as_array()?.iter().map(|x| x.as_str()).collect()
}

/// `namespace/name` of a principal `<trust-domain>/ns/<ns>/sa/<sa>`.
fn service_account(principal: &str) -> Option<String> {
    let mut parts = principal.split('/');
    let _trust_domain = parts.next()?;
    match (parts.next()?, parts.next()?, parts.next()?, parts.next()?) {
        ("ns", ns, "sa", sa) => Some(format!("{ns}/{sa}")),
        _ => None,
    }
}

/// Evaluates one source or operation condition beyond the basic ones; None
/// when meshcon does not evaluate it.
fn condition(field: &str, values: &serde_json::Value, s: &Subject<'_>) -> Option<bool> {
    let list = strings(values)?;
    let any_ip = |ip: Option<IpAddr>| ip.is_some_and(|ip| list.iter().any(|b| in_block(b, ip)));
    let sa = s.principal.and_then(service_account);
    let td = s.principal.and_then(|p| p.split('/').next());
    let host = s.host.to_ascii_lowercase();
    let any_host = || {
        list.iter()
            .any(|h| wildcard(&h.to_ascii_lowercase(), &host))
    };
    let request_principal = s.auth.and_then(|a| a.principal.as_deref());
    let any_request_principal =
        || request_principal.is_some_and(|p| list.iter().any(|x| wildcard(x, p)));
    let any_port = || {
        s.port
            .is_some_and(|p| list.iter().any(|x| x.parse() == Ok(p)))
    };
    Some(match field {
        "ipBlocks" => any_ip(s.peer_ip),
        "notIpBlocks" => !any_ip(s.peer_ip),
        "remoteIpBlocks" => any_ip(s.remote_ip),
        "notRemoteIpBlocks" => !any_ip(s.remote_ip),
        "serviceAccounts" => sa.is_some_and(|sa| list.contains(&sa.as_str())),
        "notServiceAccounts" => !sa.is_some_and(|sa| list.contains(&sa.as_str())),
        "trustDomains" => td.is_some_and(|td| list.iter().any(|p| wildcard(p, td))),
        "notTrustDomains" => !td.is_some_and(|td| list.iter().any(|p| wildcard(p, td))),
        "hosts" => any_host(),
        "notHosts" => !any_host(),
        "requestPrincipals" => any_request_principal(),
        "notRequestPrincipals" => !any_request_principal(),
        "ports" => any_port(),
        "notPorts" => !any_port(),
        _ => return None,
    })
}

/// Evaluates one `when` entry (`key`, `values`, `notValues`); None when
/// meshcon does not evaluate its key.
fn when_holds(entry: &serde_json::Value, s: &Subject<'_>) -> Option<bool> {
    let key = entry.get("key")?.as_str()?;
    let empty = serde_json::Value::Array(Vec::new());
    let values = strings(entry.get("values").unwrap_or(&empty))?;
    let not_values = strings(entry.get("notValues").unwrap_or(&empty))?;
    let text: Option<String> = if let Some(name) = key
        .strip_prefix("request.headers[")
        .and_then(|k| k.strip_suffix(']'))
    {
        s.headers
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    } else {
        match key {
            "source.ip" | "remote.ip" => {
                let ip = if key == "source.ip" {
                    s.peer_ip
                } else {
                    s.remote_ip
                };
                return Some(
                    (values.is_empty()
                        || ip.is_some_and(|ip| values.iter().any(|b| in_block(b, ip))))
                        && !ip.is_some_and(|ip| not_values.iter().any(|b| in_block(b, ip))),
                );
            }
            "source.namespace" => s.namespace.map(str::to_string),
            "source.principal" => s.principal.map(str::to_string),
            "destination.port" => s.port.map(|p| p.to_string()),
            "request.auth.principal" => s.auth.and_then(|a| a.principal.clone()),
            "request.auth.presenter" => s.auth.and_then(|a| a.presenter.clone()),
            "request.auth.audiences" => {
                let auds = s.auth.map(|a| a.audiences.clone()).unwrap_or_default();
                return Some(any_of(&auds, &values, &not_values));
            }
            _ => {
                let path = claim_path(key)?;
                let claims = s.auth.map(|a| a.claim_strings(&path)).unwrap_or_default();
                return Some(any_of(&claims, &values, &not_values));
            }
        }
    };
    // A key with no value (a header not sent) matches no `values`.
    let matches = |patterns: &[&str]| {
        text.as_deref()
            .is_some_and(|t| patterns.iter().any(|p| wildcard(p, t)))
    };
    Some((values.is_empty() || matches(&values)) && !matches(&not_values))
}

/// A multi-valued key (a list claim, the audiences) holds when any of its
/// values matches `values` and none matches `notValues`.
fn any_of(have: &[String], values: &[&str], not_values: &[&str]) -> bool {
    let hit = |patterns: &[&str]| have.iter().any(|h| patterns.iter().any(|p| wildcard(p, h)));
    (values.is_empty() || hit(values)) && !hit(not_values)
}

/// `request.auth.claims[a][b]` as `["a", "b"]`; None for other keys.
fn claim_path(key: &str) -> Option<Vec<&str>> {
    let rest = key.strip_prefix("request.auth.claims")?;
    let mut path = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let (name, after) = inner.split_once(']')?;
        if name.is_empty() {
            return None;
        }
        path.push(name);
        rest = after;
    }
    (!path.is_empty()).then_some(path)
}

fn rule_matches(rule: &AuthzRule, s: &Subject<'_>, unevaluated: Unevaluated) -> bool {
    let from_ok = rule.from.is_empty()
        || rule.from.iter().any(|f| {
            let src = &f.source;
            src.unevaluated
                .iter()
                .all(|(k, v)| condition(k, v, s).unwrap_or(unevaluated == Unevaluated::Holds))
                && (src.principals.is_empty()
                    || any(&src.principals, s.principal, principal_matches))
                && (src.not_principals.is_empty()
                    || !any(&src.not_principals, s.principal, principal_matches))
                && (src.namespaces.is_empty() || any(&src.namespaces, s.namespace, wildcard))
                && (src.not_namespaces.is_empty()
                    || !any(&src.not_namespaces, s.namespace, wildcard))
        });
    let to_ok = rule.to.is_empty()
        || rule.to.iter().any(|t| {
            let op = &t.operation;
            op.unevaluated
                .iter()
                .all(|(k, v)| condition(k, v, s).unwrap_or(unevaluated == Unevaluated::Holds))
                && (op.methods.is_empty() || op.methods.iter().any(|m| wildcard(m, s.method)))
                && !op.not_methods.iter().any(|m| wildcard(m, s.method))
                && (op.paths.is_empty() || op.paths.iter().any(|p| wildcard(p, s.path)))
                && !op.not_paths.iter().any(|p| wildcard(p, s.path))
        });
    let when_ok = rule
        .when
        .iter()
        .all(|w| when_holds(w, s).unwrap_or(unevaluated == Unevaluated::Holds));
    from_ok && to_ok && when_ok
}

fn policy_matches(p: &AuthorizationPolicy, s: &Subject<'_>, unevaluated: Unevaluated) -> bool {
    p.rules.iter().any(|r| rule_matches(r, s, unevaluated))
}

/// Decides a request against the policies that select the workload.
pub fn evaluate(policies: &[Object<AuthorizationPolicy>], s: &Subject<'_>) -> Verdict {
    let action =
        |p: &Object<AuthorizationPolicy>| p.spec.action.clone().unwrap_or_else(|| "ALLOW".into());
    for p in policies.iter().filter(|p| action(p) == "DENY") {
        if policy_matches(&p.spec, s, Unevaluated::Holds) {
            return Verdict::Deny(format!(
                "DENY policy {}/{}",
                p.metadata.ns(),
                p.metadata.name
            ));
        }
    }
    let allows: Vec<_> = policies.iter().filter(|p| action(p) == "ALLOW").collect();
    if allows.is_empty()
        || allows
            .iter()
            .any(|p| policy_matches(&p.spec, s, Unevaluated::Fails))
    {
        return Verdict::Allow;
    }
    let names: Vec<String> = allows
        .iter()
        .map(|p| format!("{}/{}", p.metadata.ns(), p.metadata.name))
        .collect();
    Verdict::Deny(format!("no ALLOW policy matched ({})", names.join(", ")))
}

/// Decides `req` against `policies` as this proxy sees it (its peer, the
/// verified JWT, `port` the workload port it arrived for); a denial is
/// recorded as an event and becomes a 403 with the RBAC flag.
pub fn authorize(
    ctx: &ProxyContext,
    policies: &[Object<AuthorizationPolicy>],
    req: &Req,
    port: Option<u16>,
) -> Result<(), ProxyError> {
    if policies.is_empty() {
        return Ok(());
    }
    let conn = req.extensions().get::<ConnInfo>();
    let peer = conn.and_then(|c| c.peer_id.clone());
    let peer_ip = conn.and_then(|c| c.remote).map(|a| a.ip());
    let remote_ip = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| first.trim().parse().ok())
        .or(peer_ip);
    let authority = req
        .uri()
        .authority()
        .map(|a| a.host().to_string())
        .or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| crate::telemetry::trace::split_authority(h).0.to_string())
        })
        .unwrap_or_default();
    let id = peer.as_deref().and_then(|p| p.parse::<SpiffeId>().ok());
    let principal = id.as_ref().map(SpiffeId::principal);
    let subject = Subject {
        principal: principal.as_deref(),
        namespace: id.as_ref().and_then(|i| i.namespace()),
        method: req.method().as_str(),
        path: req.uri().path(),
        peer_ip,
        remote_ip,
        host: &authority,
        port,
        headers: Some(req.headers()),
        auth: req.extensions().get::<RequestAuth>(),
    };
    match evaluate(policies, &subject) {
        Verdict::Allow => Ok(()),
        Verdict::Deny(reason) => {
            ctx.emit(
                EventKind::Denied,
                format!(
                    "{} {} from {} denied: {reason}",
                    req.method(),
                    req.uri().path(),
                    peer.as_deref().unwrap_or("a plaintext peer")
                ),
            );
            Err(ProxyError::Denied { reason })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> Object<AuthorizationPolicy> {
        let doc = crate::yaml::parse_one(yaml).expect("yaml");
        serde_json::from_value(doc.value).expect("policy")
    }

    fn subject(principal: &str) -> Subject<'_> {
        Subject {
            principal: Some(principal),
            namespace: Some("default"),
            method: "GET",
            path: "/pay",
            peer_ip: Some([127, 1, 2, 1].into()),
            remote_ip: Some([192, 0, 2, 7].into()),
            host: "billing.default.svc.cluster.local",
            port: Some(8080),
            headers: None,
            auth: None,
        }
    }

    #[test]
    fn deny_by_principal() {
        let p = policy("apiVersion: security.istio.io/v1\nmetadata: {name: no-user}\nspec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n        principals: [eu.mesh/ns/default/sa/user]\n");
        assert!(matches!(
            evaluate(
                std::slice::from_ref(&p),
                &subject("eu.mesh/ns/default/sa/user")
            ),
            Verdict::Deny(_)
        ));
        assert_eq!(
            evaluate(&[p], &subject("eu.mesh/ns/default/sa/frontend")),
            Verdict::Allow
        );
    }

    #[test]
    fn allow_lists_deny_everything_else() {
        let p = policy("apiVersion: security.istio.io/v1\nmetadata: {name: only-get}\nspec:\n  rules:\n  - to:\n    - operation:\n        methods: [GET]\n        paths: ['/pay*']\n");
        assert_eq!(
            evaluate(std::slice::from_ref(&p), &subject("a/ns/b/sa/c")),
            Verdict::Allow
        );
        let post = Subject {
            method: "POST",
            ..subject("a/ns/b/sa/c")
        };
        assert!(matches!(evaluate(&[p], &post), Verdict::Deny(_)));
    }

    fn allowed(yaml_rules: &str, s: &Subject<'_>) -> bool {
        let p = policy(&format!(
            "apiVersion: security.istio.io/v1\nmetadata: {{name: p}}\nspec:\n  rules:\n{yaml_rules}"
        ));
        evaluate(&[p], s) == Verdict::Allow
    }

    #[test]
    fn conditions_meshcon_does_not_evaluate_fail_closed() {
        let me = subject("eu.mesh/ns/default/sa/user");
        assert!(
            !allowed("  - from:\n    - source: {requestPrincipals: ['*']}\n", &me),
            "an ALLOW on an unevaluated source allows nothing"
        );
        assert!(
            !allowed(
                "  - when:\n    - key: request.auth.claims[iss]\n      values: [x]\n",
                &me
            ),
            "nor on an unevaluated `when` key"
        );
        assert!(
            allowed(
                "  - to:\n    - operation: {methods: [POST]}\n    when:\n    - key: request.auth.claims[iss]\n      values: [x]\n  - to:\n    - operation: {methods: [GET]}\n",
                &me
            ),
            "another rule still allows what it names"
        );
        let deny = policy("apiVersion: security.istio.io/v1\nmetadata: {name: d}\nspec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n        notRequestPrincipals: ['*']\n    to:\n    - operation: {paths: ['/pay']}\n");
        assert!(
            matches!(evaluate(std::slice::from_ref(&deny), &me), Verdict::Deny(_)),
            "a DENY on an unevaluated condition denies as if it held"
        );
        let other_path = Subject {
            path: "/other",
            ..subject("a/ns/b/sa/c")
        };
        assert_eq!(evaluate(&[deny], &other_path), Verdict::Allow);
    }

    #[test]
    fn keys_meshcon_does_not_evaluate_fail_closed() {
        let me = subject("eu.mesh/ns/default/sa/user");
        assert!(
            !allowed(
                "  - when:\n    - key: connection.sni\n      values: [x]\n",
                &me
            ),
            "an ALLOW on an unevaluated `when` key allows nothing"
        );
        assert!(
            allowed(
                "  - to:\n    - operation: {methods: [POST]}\n    when:\n    - key: connection.sni\n      values: [x]\n  - to:\n    - operation: {methods: [GET]}\n",
                &me
            ),
            "another rule still allows what it names"
        );
        let deny = policy("apiVersion: security.istio.io/v1\nmetadata: {name: d}\nspec:\n  action: DENY\n  rules:\n  - to:\n    - operation: {paths: ['/pay']}\n    when:\n    - key: connection.sni\n      values: [x]\n");
        assert!(
            matches!(evaluate(std::slice::from_ref(&deny), &me), Verdict::Deny(_)),
            "a DENY on an unevaluated condition denies as if it held"
        );
        let other_path = Subject {
            path: "/other",
            ..subject("a/ns/b/sa/c")
        };
        assert_eq!(evaluate(&[deny], &other_path), Verdict::Allow);
    }

    #[test]
    fn request_principals_and_claims_come_from_the_verified_jwt() {
        let auth = RequestAuth {
            principal: Some("testing@secure.istio.io/alice".into()),
            audiences: vec!["billing".into()],
            presenter: Some("web".into()),
            claims: serde_json::json!({"group": "beta", "groups": ["a", "b"], "org": {"team": "pay"}, "scope": "read admin"}),
            space_delimited: vec!["scope".into()],
        };
        let me = subject("eu.mesh/ns/default/sa/user");
        let with = Subject {
            auth: Some(&auth),
            ..subject("eu.mesh/ns/default/sa/user")
        };
        let src = |f: &str| format!("  - from:\n    - source: {{{f}}}\n");
        assert!(
            !allowed(&src("requestPrincipals: ['*']"), &me),
            "no token, no principal"
        );
        assert!(allowed(&src("requestPrincipals: ['*']"), &with));
        assert!(allowed(
            &src("requestPrincipals: ['testing@secure.istio.io/*']"),
            &with
        ));
        assert!(!allowed(&src("requestPrincipals: ['other/*']"), &with));
        assert!(allowed(&src("notRequestPrincipals: ['*']"), &me));
        assert!(!allowed(&src("notRequestPrincipals: ['*']"), &with));
        let when = |k: &str, v: &str| format!("  - when:\n    - key: {k}\n      {v}\n");
        assert!(allowed(
            &when("request.auth.claims[group]", "values: [beta]"),
            &with
        ));
        assert!(!allowed(
            &when("request.auth.claims[group]", "values: [beta]"),
            &me
        ));
        assert!(allowed(
            &when("request.auth.claims[groups]", "values: [b]"),
            &with
        ));
        assert!(!allowed(
            &when("request.auth.claims[groups]", "notValues: [a]"),
            &with
        ));
        assert!(allowed(
            &when("request.auth.claims[org][team]", "values: [pay]"),
            &with
        ));
        assert!(allowed(
            &when("request.auth.principal", "values: ['*/alice']"),
            &with
        ));
        assert!(allowed(
            &when("request.auth.audiences", "values: [billing]"),
            &with
        ));
        assert!(allowed(
            &when("request.auth.presenter", "values: [web]"),
            &with
        ));
        assert!(!allowed(
            &when("request.auth.presenter", "values: [cli]"),
            &with
        ));
        let deny = policy("apiVersion: security.istio.io/v1\nmetadata: {name: d}\nspec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n        notRequestPrincipals: ['*']\n");
        assert!(matches!(
            evaluate(std::slice::from_ref(&deny), &me),
            Verdict::Deny(_)
        ));
        assert_eq!(evaluate(&[deny], &with), Verdict::Allow);
    }

    #[test]
    fn addresses_accounts_hosts_ports_and_headers_are_evaluated() {
        let me = subject("eu.mesh/ns/default/sa/user");
        let src = |f: &str| format!("  - from:\n    - source: {{{f}}}\n");
        assert!(allowed(&src("ipBlocks: [127.1.0.0/16]"), &me));
        assert!(!allowed(&src("ipBlocks: [10.99.0.0/16]"), &me));
        assert!(allowed(&src("notIpBlocks: [10.99.0.0/16]"), &me));
        assert!(allowed(&src("remoteIpBlocks: [192.0.2.0/24]"), &me));
        assert!(!allowed(&src("remoteIpBlocks: [127.0.0.0/8]"), &me));
        assert!(allowed(&src("serviceAccounts: [default/user]"), &me));
        assert!(!allowed(&src("serviceAccounts: [default/frontend]"), &me));
        assert!(allowed(&src("trustDomains: [eu.mesh]"), &me));
        assert!(!allowed(&src("notTrustDomains: ['*.mesh']"), &me));
        let op = |f: &str| format!("  - to:\n    - operation: {{{f}}}\n");
        assert!(allowed(&op("hosts: ['billing.*']"), &me));
        assert!(!allowed(&op("hosts: [catalog]"), &me));
        assert!(allowed(&op("ports: ['8080']"), &me));
        assert!(!allowed(&op("ports: ['9090']"), &me));
        let mut headers = http::HeaderMap::new();
        headers.insert("x-token", http::HeaderValue::from_static("secret"));
        let with = Subject {
            headers: Some(&headers),
            ..subject("eu.mesh/ns/default/sa/user")
        };
        let when = |k: &str, v: &str| format!("  - when:\n    - key: {k}\n      {v}\n");
        assert!(allowed(
            &when("request.headers[x-token]", "values: [secret]"),
            &with
        ));
        assert!(!allowed(
            &when("request.headers[x-token]", "values: [secret]"),
            &me
        ));
        assert!(!allowed(
            &when("request.headers[x-token]", "notValues: ['*']"),
            &with
        ));
        assert!(allowed(&when("source.ip", "values: [127.1.2.1]"), &me));
        assert!(allowed(&when("remote.ip", "values: [192.0.2.0/24]"), &me));
        assert!(allowed(&when("source.namespace", "values: [default]"), &me));
        assert!(allowed(&when("destination.port", "values: ['8080']"), &me));
        assert!(!allowed(
            &when("destination.port", "notValues: ['8080']"),
            &me
        ));
    }

    #[test]
    fn allow_nothing_denies_all_and_cluster_local_aliases() {
        let nothing =
            policy("apiVersion: security.istio.io/v1\nmetadata: {name: allow-nothing}\nspec: {}\n");
        assert!(matches!(
            evaluate(&[nothing], &subject("x")),
            Verdict::Deny(_)
        ));
        let p = policy("apiVersion: security.istio.io/v1\nmetadata: {name: a}\nspec:\n  rules:\n  - from:\n    - source:\n        principals: [cluster.local/ns/default/sa/user]\n");
        assert_eq!(
            evaluate(&[p], &subject("us.mesh/ns/default/sa/user")),
            Verdict::Allow
        );
    }
}
