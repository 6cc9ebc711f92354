//! What meshcon knows of Istio's schema beyond its typed model: the Istio
//! fields it reads but does not implement (ignored with a warning), and the
//! enum values of fields the model holds as strings. Istio's CRD schemas
//! are the source of truth; `tests/mesh/analyze/schema.rs` compares these
//! lists with them.

use serde_json::Value;

/// Istio fields meshcon accepts but does not implement, by kind and by the
/// object they belong to: `parent` is matched against the end of the
/// field's parent path with list indices dropped, so `trafficPolicy` covers
/// `spec.trafficPolicy` and `spec.subsets[2].trafficPolicy` alike. A field
/// Istio does not have at that place is a schema error, even when Istio has
/// a field of that name elsewhere.
pub(super) const ISTIO_ONLY_FIELDS: &[(&str, &str, &[&str])] = &[
    (
        "VirtualService",
        "spec.http",
        &[
            "directResponse",
            "delegate",
            "mirrors",
            "mirrorPercent",
            "mirror_percent",
            "corsPolicy",
        ],
    ),
    ("VirtualService", "spec.http.match", &["statPrefix"]),
    (
        "VirtualService",
        "spec.http.redirect",
        &["port", "derivePort", "scheme", "prefixRewrite"],
    ),
    ("VirtualService", "spec.http.rewrite", &["uriRegexRewrite"]),
    (
        "VirtualService",
        "spec.http.retries",
        &["retryIgnorePreviousHosts", "backoff"],
    ),
    (
        "VirtualService",
        "spec.http.fault.delay",
        &["exponentialDelay"],
    ),
    (
        "VirtualService",
        "spec.http.fault.abort",
        &["grpcStatus", "http2Error"],
    ),
    (
        "VirtualService",
        "spec.tcp.match",
        &["destinationSubnets", "sourceSubnet"],
    ),
    ("VirtualService", "spec.tls.match", &["destinationSubnets"]),
    (
        "DestinationRule",
        "trafficPolicy",
        &["tunnel", "proxyProtocol", "retryBudget"],
    ),
    (
        "DestinationRule",
        "loadBalancer",
        &[
            "warmupDurationSecs",
            "backendUtilization",
            "zoneAwareLbSetting",
        ],
    ),
    (
        "DestinationRule",
        "consistentHash",
        &["ringHash", "maglev", "minimumRingSize"],
    ),
    ("DestinationRule", "httpCookie", &["attributes"]),
    (
        "DestinationRule",
        "localityLbSetting",
        &["failoverPriority"],
    ),
    (
        "DestinationRule",
        "connectionPool.tcp",
        &["tcpKeepalive", "maxConnectionDuration", "idleTimeout"],
    ),
    (
        "DestinationRule",
        "connectionPool.http",
        &[
            "useClientProtocol",
            "maxConcurrentStreams",
            "http2KeepAlive",
        ],
    ),
    (
        "DestinationRule",
        "outlierDetection",
        &[
            "splitExternalLocalOriginErrors",
            "consecutiveLocalOriginFailures",
            "outlierDetectionHttpErrorCodes",
        ],
    ),
    ("DestinationRule", "tls", &["caCrl"]),
    ("Gateway", "spec.servers", &["defaultEndpoint"]),
    (
        "Gateway",
        "spec.servers.tls",
        &[
            "caCrl",
            "credentialNames",
            "tlsCertificates",
            "subjectAltNames",
            "verifyCertificateSpki",
            "verifyCertificateHash",
            "minProtocolVersion",
            "maxProtocolVersion",
            "cipherSuites",
            "caCertCredentialName",
            "ecdhCurves",
            "insecureSkipVerify",
        ],
    ),
    (
        "AuthorizationPolicy",
        "spec",
        &["targetRef", "targetRefs", "provider"],
    ),
    (
        "RequestAuthentication",
        "spec",
        &["targetRef", "targetRefs"],
    ),
];

/// Kubernetes object metadata meshcon has no use for; `kubectl get -o yaml`
/// output carries them, so they are accepted without a word.
pub(super) const KUBE_METADATA_FIELDS: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generateName",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
];

/// Whether `field` under `parent` (indices already dropped) is an Istio
/// field of `kind` that meshcon does not implement.
pub(super) fn istio_only(kind: &str, parent: &str, field: &str) -> bool {
    ISTIO_ONLY_FIELDS.iter().any(|(k, at, fields)| {
        *k == kind
            && (parent == *at || parent.ends_with(&format!(".{at}")))
            && fields.contains(&field)
    })
}

/// Enum values of fields the model holds as strings, by kind, parent and
/// field (matched as in [`ISTIO_ONLY_FIELDS`]): Istio refuses any other
/// value, even in a field meshcon ignores. The mTLS modes and the
/// AuthorizationPolicy action are checked by analysis, which also says what
/// meshcon does with each value.
const ENUMS: &[(&str, &str, &str, &[&str])] = &[
    (
        "VirtualService",
        "spec.http.corsPolicy",
        "unmatchedPreflights",
        &["UNSPECIFIED", "FORWARD", "IGNORE"],
    ),
    (
        "VirtualService",
        "spec.http.redirect",
        "derivePort",
        &["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"],
    ),
    (
        "DestinationRule",
        "connectionPool.http",
        "h2UpgradePolicy",
        &["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"],
    ),
    (
        "DestinationRule",
        "loadBalancer",
        "simple",
        &[
            "UNSPECIFIED",
            "LEAST_CONN",
            "RANDOM",
            "PASSTHROUGH",
            "ROUND_ROBIN",
            "LEAST_REQUEST",
        ],
    ),
    (
        "DestinationRule",
        "tls",
        "mode",
        &["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"],
    ),
    ("DestinationRule", "proxyProtocol", "version", &["V1", "V2"]),
    (
        "Gateway",
        "spec.servers.tls",
        "mode",
        &[
            "PASSTHROUGH",
            "SIMPLE",
            "MUTUAL",
            "AUTO_PASSTHROUGH",
            "ISTIO_MUTUAL",
            "OPTIONAL_MUTUAL",
        ],
    ),
    (
        "Gateway",
        "spec.servers.tls",
        "minProtocolVersion",
        TLS_VERSIONS,
    ),
    (
        "Gateway",
        "spec.servers.tls",
        "maxProtocolVersion",
        TLS_VERSIONS,
    ),
    (
        "ServiceEntry",
        "spec",
        "location",
        &["MESH_EXTERNAL", "MESH_INTERNAL"],
    ),
    (
        "ServiceEntry",
        "spec",
        "resolution",
        &["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"],
    ),
    (
        "RequestAuthentication",
        "spec.jwtRules",
        "presence",
        &["OPTIONAL", "REQUIRED"],
    ),
];

const TLS_VERSIONS: &[&str] = &["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"];

fn parent_matches(parent: &str, at: &str) -> bool {
    parent == at || parent.ends_with(&format!(".{at}"))
}

/// Values of `kind`'s enum fields that Istio's schema does not list, as
/// (path, message, fix).
pub(super) fn enum_mistakes(kind: &str, doc: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    walk(kind, &doc["spec"], "spec", "spec", &mut out);
    out
}

fn walk(kind: &str, v: &Value, path: &str, plain: &str, out: &mut Vec<(String, String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, sub) in map {
                let p = crate::yaml::join_key(path, k);
                let q = if plain.is_empty() {
                    k.clone()
                } else {
                    format!("{plain}.{k}")
                };
                if let Value::String(s) = sub {
                    let known = ENUMS
                        .iter()
                        .find(|(kd, at, f, _)| *kd == kind && f == k && parent_matches(plain, at));
                    if let Some((_, _, _, values)) = known {
                        if !values.contains(&s.as_str()) {
                            let listed = values
                                .iter()
                                .map(|v| format!("\"{v}\""))
                                .collect::<Vec<_>>()
                                .join(", ");
                            out.push((
                                p.clone(),
                                format!(
                                    "{p}: Unsupported value: \"{s}\": supported values: {listed}"
                                ),
                                format!("use one of {}", values.join(", ")),
                            ));
                        }
                    }
                }
                walk(kind, sub, &p, &q, out);
            }
        }
        Value::Array(items) => {
            for (i, sub) in items.iter().enumerate() {
                walk(kind, sub, &crate::yaml::join_index(path, i), plain, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    //! The lists above against Istio's CRD schemas in the reference
    //! material (`../shared/peers` or `MESHCON_PEERS`): every field named
    //! exists in Istio's schema at that place, and every enum lists exactly
    //! Istio's values. Skipped, with a note, when the material is absent.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    use serde_json::Value;

    use super::{ENUMS, ISTIO_ONLY_FIELDS};

    /// Field paths (indices and map keys dropped) of each kind's v1 spec,
    /// with the enum values where the schema gives some.
    fn schema() -> Option<BTreeMap<String, BTreeMap<String, Vec<String>>>> {
        let root = std::env::var_os("MESHCON_PEERS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers")
            });
        let file = root.join("istio/manifests/charts/base/files/crd-all.gen.yaml");
        let Ok(text) = std::fs::read_to_string(&file) else {
            eprintln!("skipped: {} not found (set MESHCON_PEERS)", file.display());
            return None;
        };
        fn walk(s: &Value, path: &str, out: &mut BTreeMap<String, Vec<String>>) {
            let values = s["enum"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.insert(path.to_string(), values);
            for (k, v) in s["properties"].as_object().into_iter().flatten() {
                walk(v, &format!("{path}.{k}"), out);
            }
            if s["items"].is_object() {
                walk(&s["items"], path, out);
            }
            if s["additionalProperties"].is_object() {
                walk(&s["additionalProperties"], path, out);
            }
        }
        let mut kinds = BTreeMap::new();
        for doc in text.split("\n---\n") {
            let Ok(crd) = crate::yaml::parse_one(doc) else {
                continue;
            };
            let crd = crd.value;
            let Some(kind) = crd["spec"]["names"]["kind"].as_str() else {
                continue;
            };
            let versions = crd["spec"]["versions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let Some(v1) = versions
                .iter()
                .find(|v| v["name"] == "v1")
                .or(versions.first())
            else {
                continue;
            };
            let mut paths = BTreeMap::new();
            walk(
                &v1["schema"]["openAPIV3Schema"]["properties"]["spec"],
                "spec",
                &mut paths,
            );
            kinds.insert(kind.to_string(), paths);
        }
        Some(kinds)
    }

    /// The schema paths of `kind` where `field` sits under a parent ending in `at`.
    fn places<'a>(
        paths: &'a BTreeMap<String, Vec<String>>,
        at: &str,
        field: &str,
    ) -> Vec<(&'a String, &'a Vec<String>)> {
        let exact = format!("{at}.{field}");
        let nested = format!(".{exact}");
        paths
            .iter()
            .filter(|(p, _)| **p == exact || p.ends_with(&nested))
            .collect()
    }

    #[test]
    fn every_listed_field_is_in_istios_schema_at_that_place() {
        let Some(kinds) = schema() else { return };
        let mut stale = Vec::new();
        for (kind, at, fields) in ISTIO_ONLY_FIELDS {
            let paths = kinds.get(*kind).cloned().unwrap_or_default();
            for field in *fields {
                if places(&paths, at, field).is_empty() {
                    stale.push(format!("{kind} {at}.{field}"));
                }
            }
        }
        assert!(stale.is_empty(), "not Istio fields: {stale:?}");
    }

    #[test]
    fn every_enum_lists_exactly_istios_values() {
        let Some(kinds) = schema() else { return };
        let mut wrong = Vec::new();
        for (kind, at, field, values) in ENUMS {
            let Some(paths) = kinds.get(*kind) else {
                continue;
            };
            let found = places(paths, at, field);
            if found.is_empty() {
                wrong.push(format!("{kind} {at}.{field}: not in the schema"));
            }
            let ours: BTreeSet<&str> = values.iter().copied().collect();
            for (path, istio) in found {
                let theirs: BTreeSet<&str> = istio.iter().map(String::as_str).collect();
                if ours != theirs {
                    wrong.push(format!(
                        "{kind} {path}: Istio has {theirs:?}, meshcon {ours:?}"
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
