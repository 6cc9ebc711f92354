//! Analysis in the manner of `istioctl analyze`: checks within a resource
//! (weights, durations, regexes, retry conditions, fault values) and across
//! resources and the mesh (hosts, subsets and gateways that do not exist or
//! are not exported to the namespace that uses them, subsets that select no
//! pods, conflicting or shadowed rules). Each finding carries Istio's code
//! where Istio has one, Istio's message template, and a one-line fix.
//!
//! [`analyze`] walks the new resources with a `Checker`; each kind's checks
//! live in their own module:
//! - `context`: the services, pods and gateways resources are checked against.
//! - `virtual_service`: routes, destinations, subsets, weights, faults, retries.
//! - `overlap`: shadowed rules, covered matches, VirtualServices sharing a host.
//! - `gateway`: Gateways, and the VirtualServices bound to them.
//! - `destination_rule`: subsets and traffic policies.
//! - `security`: PeerAuthentication, RequestAuthentication and AuthorizationPolicy.
//! - `workloads`: policies' workload selectors against the pods.

mod context;
mod destination_rule;
mod gateway;
mod overlap;
mod security;
mod virtual_service;
mod workloads;

use std::collections::{BTreeMap, BTreeSet};

pub use context::Context;

use super::model::{DestinationRule, Gateway, Object, Resource, ResourceKey};
use super::parse::Parsed;
use super::scope::normalize_host;
use super::{Finding, Level};

/// Analyses `parsed` (new resources) against `existing` resources and the mesh.
pub fn analyze(
    file: &str,
    parsed: &[Parsed],
    existing: &[Resource],
    ctx: &Context,
) -> Vec<Finding> {
    let new_keys: BTreeSet<ResourceKey> = parsed.iter().map(|p| p.resource.key()).collect();
    let mut effective: Vec<Resource> = existing
        .iter()
        .filter(|r| !new_keys.contains(&r.key()))
        .cloned()
        .collect();
    effective.extend(parsed.iter().map(|p| p.resource.clone()));
    let mut c = Checker {
        file,
        ctx,
        effective,
        out: Vec::new(),
    };
    for p in parsed {
        match &p.resource {
            Resource::VirtualService(vs) => c.virtual_service(p, vs),
            Resource::DestinationRule(dr) => c.destination_rule(p, dr),
            Resource::Gateway(g) => c.gateway_checks(p, g),
            Resource::PeerAuthentication(pa) => c.peer_authentication(p, pa),
            Resource::AuthorizationPolicy(ap) => {
                c.authorization_policy(p, ap);
                c.workload_selector(p, ap.metadata.ns(), ap.spec.selector.as_ref());
            }
            Resource::RequestAuthentication(ra) => c.request_authentication(p, ra),
        }
    }
    c.conflicting_mesh_hosts(parsed);
    c.out
}

/// One analysis run: the findings so far and what they are checked against.
struct Checker<'a> {
    /// The file findings are reported in.
    file: &'a str,
    ctx: &'a Context,
    /// New resources override existing ones with the same key.
    effective: Vec<Resource>,
    out: Vec<Finding>,
}

impl Checker<'_> {
    /// Records a finding on `p` at the node `path` (the resource's start
    /// when empty, else the nearest node that exists).
    fn push(
        &mut self,
        p: &Parsed,
        code: &'static str,
        level: Level,
        path: &str,
        message: String,
        fix: &str,
    ) {
        let pos = if path.is_empty() {
            p.start
        } else {
            p.spans.nearest(path)
        };
        self.out.push(Finding::new(
            code,
            level,
            &p.resource.key().to_string(),
            message,
            fix,
            self.file,
            pos,
        ));
    }

    /// The DestinationRules, new or existing, for `host` written in `ns`.
    fn destination_rules_for(&self, host: &str, ns: &str) -> Vec<&Object<DestinationRule>> {
        let fq = normalize_host(host, ns);
        self.effective
            .iter()
            .filter_map(|r| match r {
                Resource::DestinationRule(d)
                    if normalize_host(&d.spec.host, d.metadata.ns()) == fq =>
                {
                    Some(d)
                }
                _ => None,
            })
            .collect()
    }

    /// The Istio Gateway a VirtualService in `vs_ns` names as `reference`
    /// (`name` or `ns/name`).
    fn gateway(&self, reference: &str, vs_ns: &str) -> Option<&Object<Gateway>> {
        let (ns, name) = reference.split_once('/').unwrap_or((vs_ns, reference));
        self.effective.iter().find_map(|r| match r {
            Resource::Gateway(g) if g.metadata.name == name && g.metadata.ns() == ns => Some(g),
            _ => None,
        })
    }
}

/// The namespaces a resource takes effect in that analysis can name: its
/// own and those its `exportTo` lists.
fn effective_namespaces(ns: &str, export_to: &[String]) -> Vec<String> {
    let mut out = vec![ns.to_string()];
    for e in export_to {
        if e != "*" && e != "." && !out.contains(e) {
            out.push(e.clone());
        }
    }
    out
}

/// Whether a label selector picks a pod with `labels` (every pair present).
fn selects(sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// How many resources a finding names when many take part in one
/// conflict: naming every one would make findings grow with the square of
/// the input (each of n resources naming all n).
const NAMED_IN_FINDING: usize = 5;

/// `a,b,c`, or the first [`NAMED_IN_FINDING`] names and a count of the rest.
fn name_list<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<&str> = names
        .iter()
        .take(NAMED_IN_FINDING)
        .map(AsRef::as_ref)
        .collect();
    let mut out = shown.join(",");
    if names.len() > NAMED_IN_FINDING {
        out.push_str(&format!(
            " and {} more ({} in all)",
            names.len() - NAMED_IN_FINDING,
            names.len()
        ));
    }
    out
}

/// Whether a host (of a VirtualService, a DestinationRule or a Gateway
/// server) is a DNS name, a wildcard (`*`,
/// `*.example.com`) or an IP address, as Istio's validation allows.
pub(super) fn is_host_pattern(h: &str) -> bool {
    if h.parse::<std::net::IpAddr>().is_ok() || h == "*" {
        return true;
    }
    let name = h.strip_prefix("*.").unwrap_or(h);
    !name.is_empty()
        && h.len() <= 255
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether a host is a wildcard pattern rather than one name.
fn wildcard(host: &str) -> bool {
    host.contains('*')
}

/// Istio's host overlap (`host.Name.Matches`): equal names, or a wildcard
/// on either side whose suffix covers the other.
fn hosts_match(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => sa.ends_with(sb) || sb.ends_with(sa),
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::name_list;

    #[test]
    fn long_name_lists_are_cut_with_a_count() {
        assert_eq!(name_list(&["a/x", "b/y"]), "a/x,b/y");
        let many: Vec<String> = (0..1000).map(|i| format!("ns/vs-{i}")).collect();
        assert_eq!(
            name_list(&many),
            "ns/vs-0,ns/vs-1,ns/vs-2,ns/vs-3,ns/vs-4 and 995 more (1000 in all)"
        );
    }
}
