//! Route configurations, one row per route, described as
//! `istioctl proxy-config route` describes them: the match as `/get*`
//! (prefix), `PathPrefix:/get` (path-separated prefix), the exact path or
//! `regex ...`; the VirtualService from the route's Istio metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One route of one virtual host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRow {
    /// The route configuration's name (`http.8080`, `9080`; empty for static ones).
    pub name: String,
    /// The virtual host's name (`httpbin.example.com:80`, `backend`).
    pub vhost: String,
    /// Every domain of the virtual host.
    pub domains: Vec<String>,
    /// The domains as istioctl prints them (ports and expanded duplicates dropped).
    pub domains_text: String,
    /// The match, as istioctl prints it (`/*` and `404` for a host without routes).
    #[serde(rename = "match")]
    pub match_text: String,
    /// The VirtualService that made the route (`name.namespace`), empty when none did.
    pub virtual_service: String,
    /// Where the route sends traffic: its cluster, or `weighted: a, b`, or
    /// `redirect`/`direct response`.
    pub destination: String,
    /// Whether the route config came from the control plane (RDS).
    pub dynamic: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RoutesSection {
    static_route_configs: Vec<RouteConfigEntry>,
    dynamic_route_configs: Vec<RouteConfigEntry>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RouteConfigEntry {
    route_config: Option<RouteConfiguration>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RouteConfiguration {
    name: String,
    virtual_hosts: Vec<VirtualHost>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VirtualHost {
    name: String,
    domains: Vec<String>,
    routes: Vec<Route>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Route {
    #[serde(rename = "match")]
    matcher: RouteMatch,
    route: Option<RouteAction>,
    redirect: Option<serde_json::Value>,
    direct_response: Option<serde_json::Value>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RouteMatch {
    prefix: String,
    path: String,
    path_separated_prefix: String,
    safe_regex: Option<SafeRegex>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SafeRegex {
    regex: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RouteAction {
    cluster: String,
    weighted_clusters: Option<WeightedClusters>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WeightedClusters {
    clusters: Vec<WeightedCluster>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WeightedCluster {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    filter_metadata: BTreeMap<String, serde_json::Value>,
}

pub(super) fn from_dump(s: RoutesSection) -> Vec<RouteRow> {
    let configs = s
        .dynamic_route_configs
        .into_iter()
        .map(|r| (r, true))
        .chain(s.static_route_configs.into_iter().map(|r| (r, false)));
    let mut rows = Vec::new();
    for (entry, dynamic) in configs {
        let Some(rc) = entry.route_config else {
            continue;
        };
        for vh in &rc.virtual_hosts {
            let row = |match_text: String, virtual_service: String, destination: String| RouteRow {
                name: rc.name.clone(),
                vhost: vh.name.clone(),
                domains: vh.domains.clone(),
                domains_text: describe_domains(&vh.domains),
                match_text,
                virtual_service,
                destination,
                dynamic,
            };
            for r in &vh.routes {
                let destination = destination(r);
                // istioctl leaves out the catch-all to the passthrough cluster.
                if destination == "PassthroughCluster" {
                    continue;
                }
                rows.push(row(describe_match(&r.matcher), managed_by(r), destination));
            }
            if vh.routes.is_empty() {
                rows.push(row("/*".into(), "404".into(), String::new()));
            }
        }
    }
    // A sidecar's route configs are named by port and read best in port
    // order; istioctl sorts those numerically and leaves named ones (a
    // gateway's `http.8080`, static ones) where they came.
    if rows.iter().all(|r| r.name.parse::<u64>().is_ok()) {
        rows.sort_by_key(|r| r.name.parse::<u64>().unwrap_or(0));
    }
    rows
}

fn destination(r: &Route) -> String {
    if let Some(a) = &r.route {
        if let Some(w) = &a.weighted_clusters {
            let names: Vec<&str> = w.clusters.iter().map(|c| c.name.as_str()).collect();
            return format!("weighted: {}", names.join(", "));
        }
        return a.cluster.clone();
    }
    if r.redirect.is_some() {
        return "redirect".into();
    }
    if r.direct_response.is_some() {
        return "direct response".into();
    }
    String::new()
}

fn describe_match(m: &RouteMatch) -> String {
    let mut conds = Vec::new();
    if !m.prefix.is_empty() {
        conds.push(format!("{}*", m.prefix));
    }
    if !m.path_separated_prefix.is_empty() {
        conds.push(format!("PathPrefix:{}", m.path_separated_prefix));
    }
    if !m.path.is_empty() {
        conds.push(m.path.clone());
    }
    if let Some(r) = &m.safe_regex {
        conds.push(format!("regex {}", r.regex));
    }
    // Header and query matches are not shown, as in istioctl.
    conds.join(" ")
}

/// `name.namespace` of the Istio resource named in the route's metadata
/// (`/apis/networking.istio.io/v1/namespaces/NS/virtual-service/NAME`).
fn managed_by(r: &Route) -> String {
    let Some(path) = r
        .metadata
        .as_ref()
        .and_then(|m| m.filter_metadata.get("istio"))
        .and_then(|i| i.get("config"))
        .and_then(|c| c.as_str())
    else {
        return String::new();
    };
    let pieces: Vec<&str> = path.split('/').collect();
    if !path.starts_with("/apis/networking.istio.io/") || pieces.len() != 8 {
        return String::new();
    }
    format!("{}.{}", pieces[7], pieces[5])
}

/// One domain as is; several: those without a port, without the expanded
/// forms of a short one (`b.default.svc.cluster.local` beside `b`), at most
/// two and a count.
fn describe_domains(domains: &[String]) -> String {
    match domains {
        [] => return String::new(),
        [one] => return one.clone(),
        _ => {}
    }
    let without_port: Vec<&str> = domains
        .iter()
        .map(String::as_str)
        .filter(|d| {
            // An IPv6 literal has colons of its own; keep it only bare (`[::1]`).
            !d.contains(':') || (d.matches(':').count() > 2 && d.ends_with(']'))
        })
        .collect();
    let expanded = |h: &str| {
        [".svc.cluster.local", ".svc"].iter().any(|suffix| {
            h.strip_suffix(suffix)
                .is_some_and(|short| without_port.contains(&short))
        })
    };
    let kept: Vec<&str> = without_port
        .iter()
        .copied()
        .filter(|h| !expanded(h))
        .collect();
    const SHOWN: usize = 2;
    if kept.len() > SHOWN {
        format!(
            "{} + {} more...",
            kept[..SHOWN].join(", "),
            kept.len() - SHOWN
        )
    } else {
        kept.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_domains_shrink_to_the_short_names() {
        let d: Vec<String> = [
            "reviews.default.svc.cluster.local",
            "reviews.default.svc.cluster.local:9080",
            "reviews",
            "reviews:9080",
            "reviews.default.svc",
            "reviews.default",
            "10.96.0.5",
            "10.96.0.5:9080",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(describe_domains(&d), "reviews, reviews.default + 1 more...");
    }

    #[test]
    fn matches_read_as_istioctl_writes_them() {
        let m = |json: &str| describe_match(&serde_json::from_str(json).expect("match"));
        assert_eq!(m(r#"{"prefix":"/get"}"#), "/get*");
        assert_eq!(m(r#"{"path_separated_prefix":"/get"}"#), "PathPrefix:/get");
        assert_eq!(m(r#"{"path":"/x"}"#), "/x");
        assert_eq!(m(r#"{"safe_regex":{"regex":"/a.*"}}"#), "regex /a.*");
    }
}
