//! AuthorizationPolicy enforcement on the inbound side, in Istio's order:
//! any matching DENY policy denies; then, if any ALLOW policy applies to the
//! workload, one of them must match; otherwise the request is allowed.
//! AUDIT policies never change the outcome.
//!
//! Conditions Istio has and meshcon does not evaluate (`when`, `ipBlocks`,
//! `requestPrincipals`, `hosts`, `ports`...) never make a policy looser
//! than Istio's: in an ALLOW policy the source, operation or rule naming
//! one matches no request; in a DENY policy it is taken as met, so the
//! rule denies at least what Istio's would. Security fails closed.
//!
//! Principals are matched in Istio's `<trust-domain>/ns/<ns>/sa/<sa>` form
//! with `*` at either end. `cluster.local/...`, the trust domain Istio's own
//! samples use, stands for any federated trust domain of the mesh.

use crate::config::model::{AuthorizationPolicy, AuthzRule, Object};

/// What the policies see of a request.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    /// The peer's principal (`eu.mesh/ns/default/sa/user`), None for plaintext.
    pub principal: Option<&'a str>,
    /// The peer's namespace.
    pub namespace: Option<&'a str>,
    /// Method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
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

impl Unevaluated {
    /// Whether a part that names unevaluated conditions may still match.
    fn allows(self, has_unevaluated: bool) -> bool {
        !has_unevaluated || self == Unevaluated::Holds
    }
}

fn rule_matches(rule: &AuthzRule, s: &Subject<'_>, unevaluated: Unevaluated) -> bool {
    let from_ok = rule.from.is_empty()
        || rule.from.iter().any(|f| {
            let src = &f.source;
            unevaluated.allows(!src.unevaluated.is_empty())
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
            unevaluated.allows(!op.unevaluated.is_empty())
                && (op.methods.is_empty() || op.methods.iter().any(|m| wildcard(m, s.method)))
                && !op.not_methods.iter().any(|m| wildcard(m, s.method))
                && (op.paths.is_empty() || op.paths.iter().any(|p| wildcard(p, s.path)))
                && !op.not_paths.iter().any(|p| wildcard(p, s.path))
        });
    from_ok && to_ok && unevaluated.allows(!rule.when.is_empty())
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

    #[test]
    fn conditions_meshcon_does_not_evaluate_fail_closed() {
        let allow_ip = policy("apiVersion: security.istio.io/v1\nmetadata: {name: office}\nspec:\n  rules:\n  - from:\n    - source:\n        ipBlocks: [10.99.0.0/16]\n");
        assert!(
            matches!(
                evaluate(&[allow_ip], &subject("a/ns/b/sa/c")),
                Verdict::Deny(_)
            ),
            "an ALLOW on an unevaluated source allows nothing"
        );
        let allow_when = policy("apiVersion: security.istio.io/v1\nmetadata: {name: w}\nspec:\n  rules:\n  - to:\n    - operation: {methods: [GET]}\n    when:\n    - key: request.headers[x-token]\n      values: [secret]\n");
        assert!(matches!(
            evaluate(&[allow_when], &subject("a/ns/b/sa/c")),
            Verdict::Deny(_)
        ));
        let allow_port = policy("apiVersion: security.istio.io/v1\nmetadata: {name: p}\nspec:\n  rules:\n  - to:\n    - operation: {ports: ['9090']}\n    - operation: {methods: [GET]}\n");
        assert_eq!(
            evaluate(&[allow_port], &subject("a/ns/b/sa/c")),
            Verdict::Allow,
            "another operation of the rule still allows what it names"
        );
        let deny_ip = policy("apiVersion: security.istio.io/v1\nmetadata: {name: d}\nspec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n        notIpBlocks: [127.0.0.0/8]\n    to:\n    - operation: {paths: ['/pay']}\n");
        assert!(
            matches!(
                evaluate(std::slice::from_ref(&deny_ip), &subject("a/ns/b/sa/c")),
                Verdict::Deny(_)
            ),
            "a DENY on an unevaluated condition denies as if it held"
        );
        let other_path = Subject {
            path: "/other",
            ..subject("a/ns/b/sa/c")
        };
        assert_eq!(evaluate(&[deny_ip], &other_path), Verdict::Allow);
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
