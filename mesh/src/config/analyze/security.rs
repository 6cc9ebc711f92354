//! Security resources: PeerAuthentication modes and port-level settings,
//! RequestAuthentication issuers and keys, AuthorizationPolicy actions and
//! principals.

use std::collections::BTreeMap;

use super::Checker;
use crate::config::model::{
    evaluated_when_key, AuthorizationPolicy, MtlsSetting, Object, PeerAuthentication,
    RequestAuthentication, Resource, EVALUATED_OPERATION_FIELDS, EVALUATED_SOURCE_FIELDS,
    UNEVALUATED_SOURCE_FIELDS,
};
use crate::config::parse::Parsed;
use crate::config::scope::ROOT_NAMESPACE;
use crate::config::{codes, Level};

impl Checker<'_> {
    /// Modes Istio knows, and port-level settings it would accept; notes
    /// where meshcon serves them differently.
    pub(super) fn peer_authentication(&mut self, p: &Parsed, pa: &Object<PeerAuthentication>) {
        let mut modes: Vec<(String, &MtlsSetting)> = pa
            .spec
            .mtls
            .iter()
            .map(|m| ("spec.mtls.mode".to_string(), m))
            .collect();
        modes.extend(
            pa.spec
                .port_level_mtls
                .iter()
                .flatten()
                .map(|(port, m)| (format!("spec.portLevelMtls.{port}.mode"), m)),
        );
        for (path, m) in modes {
            match m.mode.as_deref() {
                None | Some("UNSET") | Some("PERMISSIVE") | Some("STRICT") => {}
                Some("DISABLE") => self.push(
                    p,
                    codes::MESHCON_SEMANTICS,
                    Level::Info,
                    &path,
                    "meshcon serves DISABLE like PERMISSIVE: its sidecars always originate mTLS, so plaintext peers are accepted but mTLS ones are too".into(),
                    "use PERMISSIVE to say what happens",
                ),
                Some(other) => self.push(p, codes::SCHEMA, Level::Error, &path, format!("{path}: Unsupported value: \"{other}\": supported values: \"UNSET\", \"DISABLE\", \"PERMISSIVE\", \"STRICT\""), "use STRICT, PERMISSIVE, DISABLE or UNSET"),
            }
        }
        if let Some(plm) = &pa.spec.port_level_mtls {
            if plm.is_empty() {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    "spec.portLevelMtls",
                    "spec.portLevelMtls in body should have at least 1 properties".into(),
                    "remove portLevelMtls or list a port",
                );
            } else if pa.spec.selector.is_none() {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    "spec.portLevelMtls",
                    "portLevelMtls requires selector".into(),
                    "add selector.matchLabels, or use spec.mtls for every port",
                );
            }
            for port in plm.keys() {
                match port.parse::<u64>() {
                    Ok(n) if (1..=65535).contains(&n) => {}
                    Ok(_) => self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("spec.portLevelMtls.{port}"),
                        format!("port {port}: port must be between 1-65535"),
                        "use a port number",
                    ),
                    Err(_) => self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("spec.portLevelMtls.{port}"),
                        format!("'{port}': type conversion error from string to port number"),
                        "use a port number as the key",
                    ),
                }
            }
            if !plm.is_empty() {
                self.push(p, codes::UNSUPPORTED_FIELD, Level::Warning, "spec.portLevelMtls", "portLevelMtls is analysed but not applied: meshcon sidecars have one inbound port".into(), "use spec.mtls.mode");
            }
        }
    }

    /// Istio's validation of jwtRules, and keys meshcon cannot have.
    pub(super) fn request_authentication(
        &mut self,
        p: &Parsed,
        ra: &Object<RequestAuthentication>,
    ) {
        let mut issuers: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, r) in ra.spec.jwt_rules.iter().enumerate() {
            let at = |f: &str| format!("spec.jwtRules[{i}].{f}");
            if r.issuer.trim().is_empty() {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &at("issuer"),
                    "issuer must be set".into(),
                    "name the `iss` the tokens carry, e.g. testing@secure.istio.io",
                );
            } else if let Some(first) = issuers.insert(&r.issuer, i) {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &at("issuer"),
                    format!(
                        "issuer {} is already configured in jwtRules[{first}]",
                        r.issuer
                    ),
                    "merge the two rules",
                );
            }
            for (k, a) in r.audiences.iter().enumerate() {
                if a.trim().is_empty() {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("spec.jwtRules[{i}].audiences[{k}]"),
                        "audience must be non-empty".into(),
                        "remove the empty audience",
                    );
                }
            }
            if r.jwks.is_some() && r.jwks_uri.is_some() {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &at("jwks"),
                    "only one of jwks or jwksUri can be set".into(),
                    "keep the inline jwks or the jwksUri, not both",
                );
            }
            if let Some(presence) = r
                .presence
                .as_deref()
                .filter(|v| !matches!(*v, "OPTIONAL" | "REQUIRED"))
            {
                self.push(p, codes::SCHEMA, Level::Error, &at("presence"), format!("spec.jwtRules[{i}].presence: Unsupported value: \"{presence}\": supported values: \"OPTIONAL\", \"REQUIRED\""), "use OPTIONAL or REQUIRED");
            }
            match (&r.jwks, &r.jwks_uri) {
                (Some(jwks), _) => {
                    if let Err(e) = crate::proxy::jwt::parse_jwks(jwks.as_bytes()) {
                        self.push(p, codes::SCHEMA, Level::Error, &at("jwks"), format!("jwks: {e}"), "give the JSON Web Key Set as a JSON string: {\"keys\": [...]}");
                    }
                }
                (None, Some(uri)) => {
                    let url: Result<http::Uri, _> = uri.parse();
                    match url {
                        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
                            if let Err(e) = crate::proxy::jwt::fetchable(uri) {
                                self.push(p, codes::MESHCON_SEMANTICS, Level::Warning, &at("jwksUri"), format!("{e}: tokens of issuer {} will be refused (401)", r.issuer), "serve the key set on loopback, or give it inline with `jwks`");
                            }
                        }
                        _ => self.push(p, codes::SCHEMA, Level::Error, &at("jwksUri"), format!("invalid jwksUri '{uri}': it must be an http or https URL"), "write e.g. http://127.0.0.1:8080/jwks.json"),
                    }
                }
                (None, None) => self.push(p, codes::MESHCON_SEMANTICS, Level::Warning, &at("issuer"), format!("issuer {} has neither jwks nor jwksUri; Istio would discover the keys from the issuer, meshcon does not, so its tokens will be refused (401)", r.issuer), "add `jwks` or a loopback `jwksUri`"),
            }
            for (k, h) in r.from_headers.iter().enumerate() {
                if h.name.trim().is_empty() {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("spec.jwtRules[{i}].fromHeaders[{k}]"),
                        "location header name must be set".into(),
                        "name the header, e.g. x-jwt-assertion",
                    );
                }
            }
            for (k, q) in r.from_params.iter().enumerate() {
                if q.trim().is_empty() {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("spec.jwtRules[{i}].fromParams[{k}]"),
                        "location query must be set".into(),
                        "name the query parameter, e.g. access_token",
                    );
                }
            }
            for (k, c) in r.output_claim_to_headers.iter().enumerate() {
                if c.header.trim().is_empty() || c.claim.trim().is_empty() {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("spec.jwtRules[{i}].outputClaimToHeaders[{k}]"),
                        "outputClaimToHeaders needs both header and claim".into(),
                        "write {header: x-claim, claim: name}",
                    );
                }
            }
        }
    }

    /// Whether some RequestAuthentication could give the workloads an
    /// AuthorizationPolicy in `ns` selects a verified token.
    fn request_authn_covers(&self, ns: &str, sel: Option<&BTreeMap<String, String>>) -> bool {
        self.effective.iter().any(|r| {
            let Resource::RequestAuthentication(ra) = r else {
                return false;
            };
            let rns = ra.metadata.ns();
            let rsel = ra.spec.selector.as_ref().map(|s| &s.match_labels);
            // Compatible selectors: no label both name with different values.
            let compatible = match (rsel, sel) {
                (Some(a), Some(b)) => a.iter().all(|(k, v)| b.get(k).is_none_or(|w| w == v)),
                _ => true,
            };
            (rns == ns && compatible) || (rns == ROOT_NAMESPACE && rsel.is_none())
        })
    }

    /// IST0149's question: does a RequestAuthentication select this pod?
    pub(super) fn request_authn_selects(
        &self,
        ns: &str,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        self.effective.iter().any(|r| {
            let Resource::RequestAuthentication(ra) = r else {
                return false;
            };
            let rsel = ra.spec.selector.as_ref().map(|s| &s.match_labels);
            let selected = rsel.is_none_or(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)));
            (ra.metadata.ns() == ns && selected)
                || (ra.metadata.ns() == ROOT_NAMESPACE && rsel.is_none())
        })
    }

    /// Actions meshcon implements, and principals that can ever match.
    pub(super) fn authorization_policy(&mut self, p: &Parsed, ap: &Object<AuthorizationPolicy>) {
        match ap.spec.action.as_deref() {
            None | Some("ALLOW") | Some("DENY") | Some("AUDIT") => {}
            // Ignoring a CUSTOM policy would let through what the external
            // authorizer might refuse: refused instead, so nothing fails open.
            Some("CUSTOM") => self.push(p, codes::UNSUPPORTED_FIELD, Level::Error, "spec.action", "action CUSTOM (external authorization) is not implemented by meshcon, and ignoring it could let through what it would refuse".into(), "use ALLOW or DENY, or keep this policy for a real Istio cluster"),
            Some(other) => self.push(p, codes::SCHEMA, Level::Error, "spec.action", format!("unknown action '{other}'"), "use ALLOW, DENY or AUDIT"),
        }
        let action = ap.spec.action.as_deref().unwrap_or("ALLOW");
        let effect = match action {
            "DENY" => "this DENY rule is enforced as if it held, so it may deny more than Istio would",
            "AUDIT" => "AUDIT policies change no outcome here",
            _ => "the part of this ALLOW rule that names it matches no request (fail closed), so only other rules can allow",
        };
        // Fields the proxy evaluates pass silently; Istio fields it does
        // not are enforced fail-closed and said so; anything else is a typo.
        let check = |at: &str, field: &str, evaluated: &[&str], unevaluated: &[&str]| {
            if evaluated.contains(&field) {
                None
            } else if unevaluated.contains(&field) {
                Some((
                    codes::UNSUPPORTED_FIELD,
                    Level::Warning,
                    format!("`{field}` is an Istio condition meshcon does not evaluate: {effect}"),
                    "express the rule with the conditions meshcon evaluates (see README), or expect the stricter outcome",
                ))
            } else {
                Some((
                    codes::SCHEMA,
                    Level::Error,
                    format!("{at}: unknown field `{field}`"),
                    "check the spelling and the place against the Istio reference (field names are camelCase)",
                ))
            }
        };
        let mut found = Vec::new();
        // JWT conditions are evaluated, but only a RequestAuthentication
        // gives a request a token to evaluate them on.
        let authn = self.request_authn_covers(
            ap.metadata.ns(),
            ap.spec.selector.as_ref().map(|s| &s.match_labels),
        );
        let no_token = |at: String, field: &str| {
            (
                at,
                (
                    codes::MESHCON_SEMANTICS,
                    Level::Warning,
                    format!("`{field}` is evaluated on a verified JWT, and no RequestAuthentication selects these workloads: no request carries one, so a rule that needs a request principal or claim matches nothing (fail closed)"),
                    "apply a RequestAuthentication for the same workloads",
                ),
            )
        };
        for (i, r) in ap.spec.rules.iter().enumerate() {
            if !authn {
                for (w, entry) in r.when.iter().enumerate() {
                    let key = entry.get("key").and_then(|k| k.as_str()).unwrap_or("");
                    if key.starts_with("request.auth.") && evaluated_when_key(key) {
                        found.push(no_token(format!("spec.rules[{i}].when[{w}].key"), key));
                    }
                }
                for (j, f) in r.from.iter().enumerate() {
                    for field in ["requestPrincipals", "notRequestPrincipals"] {
                        if f.source.unevaluated.contains_key(field) {
                            let at = format!("spec.rules[{i}].from[{j}].source.{field}");
                            found.push(no_token(at, field));
                        }
                    }
                }
            }
            for (w, entry) in r.when.iter().enumerate() {
                let key = entry.get("key").and_then(|k| k.as_str()).unwrap_or("");
                if !evaluated_when_key(key) {
                    let at = format!("spec.rules[{i}].when[{w}].key");
                    let field = format!("when {key}");
                    found.extend(check(&at, &field, &[], &[&field]).map(|f| (at, f)));
                }
            }
            for (j, f) in r.from.iter().enumerate() {
                for field in f.source.unevaluated.keys() {
                    let at = format!("spec.rules[{i}].from[{j}].source.{field}");
                    let c = check(
                        &at,
                        field,
                        EVALUATED_SOURCE_FIELDS,
                        UNEVALUATED_SOURCE_FIELDS,
                    );
                    found.extend(c.map(|f| (at, f)));
                }
                let src = &f.source;
                let sa = ["serviceAccounts", "notServiceAccounts"]
                    .iter()
                    .any(|k| src.unevaluated.contains_key(*k));
                let others = !(src.principals.is_empty()
                    && src.not_principals.is_empty()
                    && src.namespaces.is_empty()
                    && src.not_namespaces.is_empty());
                if sa && others {
                    found.push((
                        format!("spec.rules[{i}].from[{j}].source"),
                        (
                            codes::SCHEMA,
                            Level::Error,
                            "Cannot set serviceAccounts with namespaces or principals".into(),
                            "put serviceAccounts in a source of its own",
                        ),
                    ));
                }
            }
            for (j, t) in r.to.iter().enumerate() {
                for field in t.operation.unevaluated.keys() {
                    let at = format!("spec.rules[{i}].to[{j}].operation.{field}");
                    let c = check(&at, field, EVALUATED_OPERATION_FIELDS, &[]);
                    found.extend(c.map(|f| (at, f)));
                }
            }
        }
        for (at, (code, level, message, fix)) in found {
            self.push(p, code, level, &at, message, fix);
        }
        for (i, r) in ap.spec.rules.iter().enumerate() {
            for (j, f) in r.from.iter().enumerate() {
                for (k, pr) in f.source.principals.iter().enumerate() {
                    if pr != "*" && !pr.contains('/') && !pr.starts_with('*') && !pr.ends_with('*')
                    {
                        self.push(
                            p,
                            codes::SCHEMA_WARNING,
                            Level::Warning,
                            &format!("spec.rules[{i}].from[{j}].source.principals[{k}]"),
                            format!("principal '{pr}' will never match: principals look like <trust-domain>/ns/<namespace>/sa/<service-account>"),
                            "write e.g. eu.mesh/ns/default/sa/user",
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{analyze_standalone, Level};

    #[test]
    fn request_authentication_issuer_and_keys_are_validated_where_written() {
        let src = "apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  jwtRules:
  - issuer: ''
    jwks: 'not json'
  - issuer: a@example.com
    jwksUri: 'ftp//nothing'
  - issuer: b@example.com
    jwksUri: https://www.googleapis.com/oauth2/v1/certs
  - issuer: c@example.com
    fromHeaders: [{name: ''}]
  - issuer: d@example.com
    jwks: '{}'
    jwksUri: http://127.0.0.1/jwks
    presence: SOMETIMES
";
        let f = analyze_standalone("ra.yaml", src);
        let at = |needle: &str| {
            f.iter()
                .find(|x| x.message.contains(needle))
                .unwrap_or_else(|| panic!("no finding with {needle}: {f:?}"))
        };
        let issuer = at("issuer must be set");
        assert_eq!(
            (issuer.level, issuer.pos.line, issuer.pos.col),
            (Level::Error, 6, 5)
        );
        assert_eq!(at("jwks: not a JWKS").pos.line, 7);
        assert_eq!(at("invalid jwksUri").pos.line, 9);
        let remote = at("loopback only");
        assert_eq!((remote.level, remote.pos.line), (Level::Warning, 11));
        assert!(
            remote.message.contains("refused (401)"),
            "{}",
            remote.message
        );
        assert_eq!(at("location header name must be set").pos.line, 13);
        assert!(at("neither jwks nor jwksUri")
            .message
            .contains("c@example.com"));
    }

    #[test]
    fn jwt_conditions_without_a_request_authentication_say_they_fail_closed() {
        let policy = "apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  selector: {matchLabels: {app: billing}}
  rules:
  - from:
    - source: {requestPrincipals: ['*']}
    when:
    - key: request.auth.claims[group]
      values: [beta]
";
        let f = analyze_standalone("ap.yaml", policy);
        assert_eq!(
            f.iter()
                .filter(|x| x.message.contains("fail closed"))
                .count(),
            2,
            "{f:?}"
        );
        let with_authn = format!(
            "{policy}---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  selector: {{matchLabels: {{app: billing}}}}
  jwtRules:
  - issuer: a@example.com
    jwks: '{{\"keys\": [{{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AA\", \"y\": \"AA\"}}]}}'
"
        );
        let f = analyze_standalone("ap.yaml", &with_authn);
        assert!(
            !f.iter().any(|x| x.message.contains("fail closed")),
            "{f:?}"
        );
    }
}
