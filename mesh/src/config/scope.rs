//! Which resources concern which workload: host names and their short forms,
//! gateway bindings, and the precedence of PeerAuthentication and
//! AuthorizationPolicy (workload selector > namespace > mesh-wide root
//! namespace), as Istio documents them.

use std::collections::BTreeMap;

use super::model::{AuthorizationPolicy, Object, Resource, VirtualService};

/// The namespace whose selector-less policies apply mesh-wide.
pub const ROOT_NAMESPACE: &str = "istio-system";

/// The mTLS mode when no PeerAuthentication applies. Istio's default is
/// PERMISSIVE; meshcon's is STRICT so the demo mesh is secure by default
/// (see the README's notes on semantics).
pub const DEFAULT_MTLS_MODE: &str = "STRICT";

/// Expands a host as written in a resource of namespace `ns` to its FQDN.
/// Short names (`reviews`) resolve in the resource's namespace, as Istio does.
pub fn normalize_host(host: &str, ns: &str) -> String {
    let host = host.trim().trim_end_matches('.');
    if host == "*" || host.starts_with("*.") || host.ends_with(".svc.cluster.local") {
        return host.to_string();
    }
    match host.split('.').count() {
        1 => format!("{host}.{ns}.svc.cluster.local"),
        2 => format!("{host}.svc.cluster.local"),
        _ if host.ends_with(".svc") => format!("{host}.cluster.local"),
        _ => host.to_string(),
    }
}

/// Whether `pattern` (written in namespace `res_ns`) names the service
/// `name` in namespace `svc_ns`. Handles `*` and `*.suffix` wildcards.
pub fn host_matches(pattern: &str, res_ns: &str, name: &str, svc_ns: &str) -> bool {
    let fq = crate::topology::fqdn(name, svc_ns);
    let p = normalize_host(pattern, res_ns);
    if p == "*" {
        return true;
    }
    if let Some(suffix) = p.strip_prefix('*') {
        return fq.ends_with(suffix);
    }
    p == fq
}

/// Short service names a VirtualService sends traffic to (routes and mirrors).
pub fn vs_destination_names(vs: &VirtualService) -> Vec<String> {
    let mut out = Vec::new();
    for h in &vs.http {
        for d in &h.route {
            out.push(short_name(&d.destination.host));
        }
        if let Some(m) = &h.mirror {
            out.push(short_name(&m.host));
        }
    }
    out
}

/// The first label of a host.
pub fn short_name(host: &str) -> String {
    host.split('.').next().unwrap_or(host).to_string()
}

/// Whether a VirtualService applies to sidecars (`gateways` empty or `mesh`).
pub fn vs_applies_to_mesh(vs: &VirtualService) -> bool {
    vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == "mesh")
}

/// Whether a VirtualService is bound to a Gateway that exists.
pub fn vs_bound_to_ingress(vs: &Object<VirtualService>, resources: &[Resource]) -> bool {
    vs.spec
        .gateways
        .iter()
        .any(|g| gateway_exists(g, vs.metadata.ns(), resources))
}

/// Whether a gateway reference (`name` or `ns/name`) names an existing Gateway.
pub fn gateway_exists(reference: &str, vs_ns: &str, resources: &[Resource]) -> bool {
    if reference == "mesh" {
        return false;
    }
    let (ns, name) = match reference.split_once('/') {
        Some((ns, name)) => (ns, name),
        None => (vs_ns, reference),
    };
    resources.iter().any(
        |r| matches!(r, Resource::Gateway(g) if g.metadata.name == name && g.metadata.ns() == ns),
    )
}

fn selects(selector: Option<&BTreeMap<String, String>>, labels: &BTreeMap<String, String>) -> bool {
    match selector {
        None => true,
        Some(sel) => sel.iter().all(|(k, v)| labels.get(k) == Some(v)),
    }
}

/// The effective inbound mTLS mode of a workload.
pub fn mtls_mode_for(
    resources: &[Resource],
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> String {
    let mut workload = None;
    let mut namespace = None;
    let mut mesh = None;
    for r in resources {
        let Resource::PeerAuthentication(pa) = r else {
            continue;
        };
        let mode = pa
            .spec
            .mtls
            .as_ref()
            .and_then(|m| m.mode.clone())
            .unwrap_or_else(|| "UNSET".into());
        if mode == "UNSET" {
            continue;
        }
        let sel = pa.spec.selector.as_ref().map(|s| &s.match_labels);
        let pns = pa.metadata.ns();
        match sel {
            Some(sel) if pns == ns && selects(Some(sel), labels) => workload = Some(mode),
            None if pns == ns => namespace = Some(mode),
            None if pns == ROOT_NAMESPACE => mesh = Some(mode),
            _ => {}
        }
    }
    let mode = workload
        .or(namespace)
        .or(mesh)
        .unwrap_or_else(|| DEFAULT_MTLS_MODE.to_string());
    // DISABLE is served like PERMISSIVE: meshcon clients always originate mTLS.
    if mode == "DISABLE" {
        "PERMISSIVE".into()
    } else {
        mode
    }
}

/// The authorization policies that apply to a workload.
pub fn authz_for(
    resources: &[Resource],
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Vec<Object<AuthorizationPolicy>> {
    resources
        .iter()
        .filter_map(|r| match r {
            Resource::AuthorizationPolicy(ap) => {
                let pns = ap.metadata.ns();
                let sel = ap.spec.selector.as_ref().map(|s| &s.match_labels);
                let applies =
                    (pns == ns && selects(sel, labels)) || (pns == ROOT_NAMESPACE && sel.is_none());
                applies.then(|| ap.clone())
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_hosts_match() {
        assert!(host_matches("reviews", "default", "reviews", "default"));
        assert!(host_matches(
            "reviews.default.svc.cluster.local",
            "x",
            "reviews",
            "default"
        ));
        assert!(host_matches("reviews.default", "x", "reviews", "default"));
        assert!(!host_matches("reviews", "prod", "reviews", "default"));
        assert!(host_matches(
            "*.default.svc.cluster.local",
            "x",
            "reviews",
            "default"
        ));
        assert!(host_matches("*", "x", "reviews", "default"));
        assert!(!host_matches("ratings", "default", "reviews", "default"));
    }

    #[test]
    fn normalize_keeps_external_names() {
        assert_eq!(
            normalize_host("shop.example.com", "default"),
            "shop.example.com"
        );
        assert_eq!(
            normalize_host("billing", "default"),
            "billing.default.svc.cluster.local"
        );
        assert_eq!(
            normalize_host("billing.default.svc", "x"),
            "billing.default.svc.cluster.local"
        );
    }
}
