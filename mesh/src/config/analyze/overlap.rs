//! Rules and hosts that overlap: a VirtualService rule shadowed by an
//! earlier one (IST0130), a match covered by an earlier match (IST0131),
//! and mesh VirtualServices that define the same host (IST0109).

use std::collections::{BTreeMap, BTreeSet};

use super::{hosts_match, name_list, selects, wildcard, Checker};
use crate::config::model::{
    HttpMatchRequest, L4MatchAttributes, Object, Resource, StringMatch, TlsMatchAttributes,
    VirtualService,
};
use crate::config::parse::Parsed;
use crate::config::scope::{normalize_host, vs_applies_to_mesh};
use crate::config::{codes, Level};

/// One rule of a VirtualService as the shadowing check sees it.
struct Rule<'a, M> {
    /// The rule's `name`, which Istio quotes; unnamed rules are `#index`.
    name: Option<&'a str>,
    /// Its matches; none means it takes every request.
    matches: &'a [M],
}

/// A host that several mesh VirtualServices define for one scope.
struct HostConflict {
    /// `*`, or the namespace the host is exported to.
    scope: String,
    /// The host, fully qualified.
    fqdn: String,
    /// `ns/name` of each VirtualService defining it, sorted.
    names: Vec<String>,
}

impl Checker<'_> {
    /// IST0130 / IST0131: a rule after one without matches never matches;
    /// a match covered by an earlier one is ineffective, and a rule whose
    /// matches all are is unreachable.
    fn rule_shadowing<M>(
        &mut self,
        p: &Parsed,
        kind: &str,
        rules: &[Rule<'_, M>],
        covers: impl Fn(&M, &M) -> bool,
        match_name: impl Fn(&M) -> Option<&str>,
    ) {
        // Istio's names for rules and matches: the quoted name, else #index.
        let label =
            |name: Option<&str>, i: usize| name.map_or(format!("#{i}"), |n| format!("{n:?}"));
        let mut catch_all: Option<usize> = None;
        for (i, Rule { name, matches }) in rules.iter().enumerate() {
            let rule = label(*name, i);
            if let Some(c) = catch_all {
                let reason = if matches.is_empty() {
                    "only the last rule can have no matches".to_string()
                } else {
                    format!(
                        "rule {} has no matches, so it takes every request",
                        label(rules[c].name, c)
                    )
                };
                self.push(
                    p,
                    codes::UNREACHABLE_RULE,
                    Level::Warning,
                    &format!("spec.{kind}[{i}]"),
                    format!("VirtualService rule {rule} not used ({reason})."),
                    "move the rule without matches to the end",
                );
                continue;
            }
            if matches.is_empty() {
                catch_all = Some(i);
                continue;
            }
            let mut covered = 0;
            for (k, m) in matches.iter().enumerate() {
                let earlier = rules[..i]
                    .iter()
                    .enumerate()
                    .flat_map(|(j, r)| r.matches.iter().map(move |em| (j, em)))
                    .chain(matches[..k].iter().map(|em| (i, em)))
                    .find(|(_, em)| covers(em, m));
                if let Some((j, _)) = earlier {
                    covered += 1;
                    self.push(
                        p,
                        codes::INEFFECTIVE_MATCH,
                        Level::Info,
                        &format!("spec.{kind}[{i}].match[{k}]"),
                        format!(
                            "VirtualService rule {rule} match {} is not used (duplicate/overlapping match in rule {}).",
                            label(match_name(m), k),
                            label(rules[j].name, j)
                        ),
                        "remove the match, or make it more specific than the earlier one",
                    );
                }
            }
            if covered == matches.len() {
                self.push(
                    p,
                    codes::UNREACHABLE_RULE,
                    Level::Warning,
                    &format!("spec.{kind}[{i}]"),
                    format!(
                        "VirtualService rule {rule} not used (all matches used by prior rules)."
                    ),
                    "remove the rule, or reorder the rules",
                );
            }
        }
    }

    /// Shadowed rules and covered matches among the HTTP, TCP and TLS
    /// rules of a VirtualService, each kind on its own.
    pub(super) fn all_rule_shadowing(&mut self, p: &Parsed, vs: &Object<VirtualService>) {
        let http: Vec<Rule<'_, HttpMatchRequest>> = vs
            .spec
            .http
            .iter()
            .map(|r| Rule {
                name: r.name.as_deref(),
                matches: &r.matches,
            })
            .collect();
        self.rule_shadowing(p, "http", &http, covers, |m| m.name.as_deref());
        let tcp: Vec<Rule<'_, L4MatchAttributes>> = vs
            .spec
            .tcp
            .iter()
            .map(|r| Rule {
                name: None,
                matches: &r.matches,
            })
            .collect();
        self.rule_shadowing(p, "tcp", &tcp, l4_covers, |_| None);
        let tls: Vec<Rule<'_, TlsMatchAttributes>> = vs
            .spec
            .tls
            .iter()
            .map(|r| Rule {
                name: None,
                matches: &r.matches,
            })
            .collect();
        self.rule_shadowing(p, "tls", &tls, tls_covers, |_| None);
    }

    /// IST0109: VirtualServices bound to the mesh that define the same host
    /// for the same namespaces. As in Istio, hosts are scoped by `exportTo`
    /// (`*` for everywhere), and a host exported everywhere also conflicts
    /// with any overlapping host scoped to one namespace. Each VirtualService
    /// is reported once.
    pub(super) fn conflicting_mesh_hosts(&mut self, parsed: &[Parsed]) {
        // (scope, fqdn) -> "ns/name" of the VirtualServices defining it.
        let mut scoped: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        // How Istio prints each host: short names expanded, others as written.
        let mut shown: BTreeMap<String, String> = BTreeMap::new();
        for r in &self.effective {
            let Resource::VirtualService(vs) = r else {
                continue;
            };
            if !vs_applies_to_mesh(&vs.spec) {
                continue;
            }
            let ns = vs.metadata.ns();
            for scope in export_scopes(ns, &vs.spec.export_to) {
                for h in &vs.spec.hosts {
                    let fq = normalize_host(h, ns);
                    shown.entry(fq.clone()).or_insert_with(|| {
                        if h.contains('.') || h.starts_with('*') {
                            h.clone()
                        } else {
                            fq.clone()
                        }
                    });
                    scoped
                        .entry((scope.clone(), fq))
                        .or_default()
                        .push(format!("{ns}/{}", vs.metadata.name));
                }
            }
        }
        // Hosts exported everywhere, split so that a plain host finds its
        // equal by lookup and scans only the wildcards: comparing every pair
        // would take time quadratic in the number of hosts.
        let mut everywhere_exact: BTreeMap<&str, &Vec<String>> = BTreeMap::new();
        let mut everywhere_wild: Vec<(&str, &Vec<String>)> = Vec::new();
        for ((scope, fq), names) in &scoped {
            if scope != "*" {
                continue;
            }
            if wildcard(fq) {
                everywhere_wild.push((fq, names));
            } else {
                everywhere_exact.insert(fq, names);
            }
        }
        let mut conflicts: Vec<HostConflict> = Vec::new();
        for ((scope, fq), names) in &scoped {
            let mut all = names.clone();
            if scope != "*" {
                if wildcard(fq) {
                    for (other_fq, others) in &everywhere_exact {
                        if hosts_match(fq, other_fq) {
                            all.extend(others.iter().cloned());
                        }
                    }
                } else if let Some(others) = everywhere_exact.get(fq.as_str()) {
                    all.extend(others.iter().cloned());
                }
                for (other_fq, others) in &everywhere_wild {
                    if hosts_match(fq, other_fq) {
                        all.extend(others.iter().cloned());
                    }
                }
            }
            all.sort();
            all.dedup();
            if all.len() > 1 {
                conflicts.push(HostConflict {
                    scope: scope.clone(),
                    fqdn: fq.clone(),
                    names: all,
                });
            }
        }
        // Each VirtualService is reported under the first conflict naming it;
        // looking names up once keeps this linear in the number of resources.
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        for (ci, c) in conflicts.iter().enumerate() {
            for n in &c.names {
                first.entry(n.as_str()).or_insert(ci);
            }
        }
        let mut members: Vec<Vec<(&Parsed, String)>> = vec![Vec::new(); conflicts.len()];
        let mut reported = BTreeSet::new();
        for p in parsed {
            let Resource::VirtualService(vs) = &p.resource else {
                continue;
            };
            let me = format!("{}/{}", vs.metadata.ns(), vs.metadata.name);
            if let Some(&ci) = first.get(me.as_str()) {
                if reported.insert(me.clone()) {
                    members[ci].push((p, me));
                }
            }
        }
        for (HostConflict { scope, fqdn, names }, members) in conflicts.iter().zip(members) {
            let host = shown.get(fqdn).unwrap_or(fqdn);
            let listed = name_list(names);
            for (p, me) in members {
                self.push(
                    p,
                    codes::CONFLICTING_MESH_HOSTS,
                    Level::Error,
                    "metadata.name",
                    format!(
                        "The VirtualServices {listed} associated with mesh gateway define the same host {scope}/{host} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource."
                    ),
                    &format!("merge the routes for {host} into one VirtualService ({me} is one of them), or narrow their exportTo"),
                );
            }
        }
    }
}

/// Whether an earlier match `a` catches every request `b` would.
fn covers(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    let sm = |a: &Option<StringMatch>, b: &Option<StringMatch>| match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => string_covers(x, y),
    };
    sm(&a.uri, &b.uri)
        && sm(&a.method, &b.method)
        && sm(&a.authority, &b.authority)
        && sm(&a.scheme, &b.scheme)
        && a.headers
            .iter()
            .all(|(k, v)| b.headers.get(k).is_some_and(|bv| string_covers(v, bv)))
        && a.query_params
            .iter()
            .all(|(k, v)| b.query_params.get(k).is_some_and(|bv| string_covers(v, bv)))
        && a.without_headers
            .iter()
            .all(|(k, v)| b.without_headers.get(k) == Some(v))
        && a.source_labels
            .iter()
            .all(|(k, v)| b.source_labels.get(k) == Some(v))
        && (a.source_namespace.is_none() || a.source_namespace == b.source_namespace)
        && (a.port.is_none() || a.port == b.port)
        && (a.gateways.is_empty() || a.gateways.iter().all(|g| b.gateways.contains(g)))
        && a.ignore_uri_case == b.ignore_uri_case
}

/// Whether string match `a` accepts every value `b` accepts (as far as
/// can be told without solving regexes).
fn string_covers(a: &StringMatch, b: &StringMatch) -> bool {
    match (a, b) {
        (StringMatch::Exact(x), StringMatch::Exact(y)) => x == y,
        (StringMatch::Prefix(x), StringMatch::Exact(y))
        | (StringMatch::Prefix(x), StringMatch::Prefix(y)) => y.starts_with(x.as_str()),
        (StringMatch::Regex(x), StringMatch::Regex(y)) => x == y,
        (StringMatch::Regex(x), StringMatch::Exact(y)) => {
            regex::Regex::new(&format!("^(?:{x})$")).is_ok_and(|r| r.is_match(y))
        }
        _ => false,
    }
}

/// Whether an earlier L4 match catches every connection `b` would.
fn l4_covers(a: &L4MatchAttributes, b: &L4MatchAttributes) -> bool {
    (a.port.is_none() || a.port == b.port)
        && selects(&a.source_labels, &b.source_labels)
        && (a.source_namespace.is_none() || a.source_namespace == b.source_namespace)
        && a.gateways.iter().all(|g| b.gateways.contains(g))
}

/// Whether an earlier TLS match catches every connection `b` would.
fn tls_covers(a: &TlsMatchAttributes, b: &TlsMatchAttributes) -> bool {
    let sni = |pattern: &str, host: &str| {
        pattern == host
            || pattern
                .strip_prefix('*')
                .is_some_and(|suffix| host.ends_with(suffix))
    };
    let sni_covered = a.sni_hosts.is_empty()
        || (!b.sni_hosts.is_empty()
            && b.sni_hosts
                .iter()
                .all(|bh| a.sni_hosts.iter().any(|ah| sni(ah, bh))));
    sni_covered
        && (a.port.is_none() || a.port == b.port)
        && selects(&a.source_labels, &b.source_labels)
        && (a.source_namespace.is_none() || a.source_namespace == b.source_namespace)
        && a.gateways.iter().all(|g| b.gateways.contains(g))
}

/// Istio's scope for a resource's hosts: `*` when exported everywhere,
/// else each namespace it is exported to.
fn export_scopes(ns: &str, export_to: &[String]) -> Vec<String> {
    if export_to.is_empty() || export_to.iter().any(|e| e == "*") {
        return vec!["*".into()];
    }
    let mut out: Vec<String> = export_to
        .iter()
        .map(|e| if e == "." { ns.to_string() } else { e.clone() })
        .collect();
    out.sort();
    out.dedup();
    out
}
