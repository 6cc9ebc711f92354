//! Security resources: PeerAuthentication modes and port-level settings,
//! AuthorizationPolicy actions and principals.

use super::Checker;
use crate::config::model::{AuthorizationPolicy, MtlsSetting, Object, PeerAuthentication};
use crate::config::parse::Parsed;
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
        let mut unevaluated = |at: String, field: &str, known: &[&str]| {
            if known.contains(&field) {
                self.push(
                    p,
                    codes::UNSUPPORTED_FIELD,
                    Level::Warning,
                    &at,
                    format!("`{field}` is an Istio condition meshcon does not evaluate: {effect}"),
                    "express the rule with principals, namespaces, methods and paths, or expect the stricter outcome",
                );
            } else {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &at,
                    format!("{at}: unknown field `{field}`"),
                    "check the spelling and the place against the Istio reference (field names are camelCase)",
                );
            }
        };
        for (i, r) in ap.spec.rules.iter().enumerate() {
            if !r.when.is_empty() {
                unevaluated(format!("spec.rules[{i}].when"), "when", &["when"]);
            }
            for (j, f) in r.from.iter().enumerate() {
                for field in f.source.unevaluated.keys() {
                    unevaluated(
                        format!("spec.rules[{i}].from[{j}].source.{field}"),
                        field,
                        SOURCE_CONDITIONS,
                    );
                }
            }
            for (j, t) in r.to.iter().enumerate() {
                for field in t.operation.unevaluated.keys() {
                    unevaluated(
                        format!("spec.rules[{i}].to[{j}].operation.{field}"),
                        field,
                        OPERATION_CONDITIONS,
                    );
                }
            }
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

/// Source conditions Istio has and meshcon does not evaluate.
const SOURCE_CONDITIONS: &[&str] = &[
    "requestPrincipals",
    "notRequestPrincipals",
    "serviceAccounts",
    "notServiceAccounts",
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "trustDomains",
    "notTrustDomains",
];

/// Operation conditions Istio has and meshcon does not evaluate.
const OPERATION_CONDITIONS: &[&str] = &["hosts", "notHosts", "ports", "notPorts"];
