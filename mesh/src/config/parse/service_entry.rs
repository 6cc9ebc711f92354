//! Istio's validation rules for ServiceEntries.

use serde_json::Value;

/// Istio's validation rules for a ServiceEntry's spec, as (path, message,
/// fix): meshcon does not route to what a ServiceEntry declares, but a
/// file it calls valid must be one Istio accepts.
pub(super) fn service_entry_mistakes(spec: &Value) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    let hosts = spec["hosts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if hosts.is_empty() {
        out.push((
            "spec".into(),
            "a ServiceEntry needs at least one host".into(),
            "add hosts: [api.example.com]",
        ));
    }
    for (i, h) in hosts.iter().enumerate() {
        if h.as_str() == Some("*") {
            out.push((
                format!("spec.hosts[{i}]"),
                "invalid host *: a ServiceEntry cannot capture every host".into(),
                "name the hosts, or a wildcard domain such as *.example.com",
            ));
        }
    }
    let resolution = spec["resolution"].as_str().unwrap_or("NONE");
    let endpoints = spec["endpoints"].as_array().map(Vec::len).unwrap_or(0);
    if !spec["workloadSelector"].is_null() && endpoints > 0 {
        out.push((
            "spec.workloadSelector".into(),
            "only one of workloadSelector or endpoints is allowed in a ServiceEntry".into(),
            "keep one of them",
        ));
    }
    for (i, a) in spec["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let cidr = a.as_str().is_some_and(|a| a.contains('/'));
        if cidr && !matches!(resolution, "NONE" | "STATIC") {
            out.push((
                format!("spec.addresses[{i}]"),
                format!("CIDR addresses are allowed only for NONE/STATIC resolution types, not {resolution}"),
                "use single addresses, or resolution NONE or STATIC",
            ));
        }
    }
    match resolution {
        "NONE" if endpoints > 0 => out.push((
            "spec.endpoints".into(),
            "no endpoints should be provided for resolution type NONE".into(),
            "remove the endpoints, or use resolution STATIC",
        )),
        "DNS_ROUND_ROBIN" if endpoints > 1 => out.push((
            "spec.endpoints".into(),
            "there must only be 0 or 1 endpoint for resolution type DNS_ROUND_ROBIN".into(),
            "keep one endpoint, or use resolution DNS",
        )),
        _ => {}
    }
    let mut names = Vec::new();
    let mut numbers = Vec::new();
    for (i, p) in spec["ports"].as_array().into_iter().flatten().enumerate() {
        let at = format!("spec.ports[{i}]");
        match p["number"].as_u64() {
            Some(n @ 1..=65535) => {
                if numbers.contains(&n) {
                    out.push((
                        format!("{at}.number"),
                        format!("port number {n} is not unique"),
                        "give each port its own number",
                    ));
                }
                numbers.push(n);
            }
            _ => out.push((
                format!("{at}.number"),
                format!("port number {}: must be between 1 and 65535", p["number"]),
                "use a port number from 1 to 65535",
            )),
        }
        match p["name"].as_str() {
            Some(name) if !name.is_empty() => {
                if names.contains(&name) {
                    out.push((
                        format!("{at}.name"),
                        format!("port name {name} is not unique"),
                        "give each port its own name",
                    ));
                }
                names.push(name);
            }
            _ => out.push((
                at.clone(),
                "a ServiceEntry port needs a name".into(),
                "add name: http",
            )),
        }
    }
    out
}

/// IST0134, as (path, message, fix): without `addresses`, a port that is
/// TCP (or says no protocol) cannot be told apart from other TCP traffic
/// to that port, since Istio matches TCP by address and port only.
pub(super) fn addresses_required(spec: &Value) -> Vec<(String, String, &'static str)> {
    let no_addresses = spec["addresses"].as_array().is_none_or(Vec::is_empty);
    if !no_addresses {
        return Vec::new();
    }
    spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, p)| matches!(p["protocol"].as_str(), None | Some("" | "TCP")))
        .map(|(i, p)| {
            (
                format!("spec.ports[{i}]"),
                format!(
                    "ServiceEntry addresses are required for this protocol (port {} is {}).",
                    p["number"],
                    p["protocol"].as_str().filter(|s| !s.is_empty()).unwrap_or("TCP by default")
                ),
                "add addresses (the hosts' IPs or a CIDR), or give the port an application protocol such as HTTP or TLS",
            )
        })
        .collect()
}

/// What IST0177 needs of one ServiceEntry.
#[derive(Clone)]
pub(super) struct Declared {
    /// `ns/name`, as the finding lists it.
    pub name: String,
    /// Namespace, for `exportTo: ["."]`.
    pub namespace: String,
    /// `spec.exportTo`.
    pub export_to: Vec<String>,
    /// `spec.hosts`.
    pub hosts: Vec<String>,
    /// `spec.ports[]` as (number, protocol upper-cased).
    pub ports: Vec<(u64, String)>,
}

impl Declared {
    /// Reads the fields IST0177 compares.
    pub(super) fn new(name: String, namespace: String, spec: &Value) -> Self {
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        Declared {
            name,
            namespace,
            export_to: list(&spec["exportTo"]),
            hosts: list(&spec["hosts"]),
            ports: spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or_default();
                    Some((p["number"].as_u64()?, proto.to_ascii_uppercase()))
                })
                .collect(),
        }
    }

    /// The namespaces that see the entry; `*` for all.
    fn scopes(&self) -> Vec<String> {
        if self.export_to.is_empty() || self.export_to.iter().any(|e| e == "*") {
            return vec!["*".into()];
        }
        self.export_to
            .iter()
            .map(|e| {
                if e == "." {
                    self.namespace.clone()
                } else {
                    e.clone()
                }
            })
            .collect()
    }
}

/// IST0177: ServiceEntries visible in one namespace that give the same
/// host and port different protocols; Istio then picks one of them. Returns
/// (index of the entry reported, message), each entry at most once.
pub(super) fn conflicting_protocols(entries: &[Declared]) -> Vec<(usize, String)> {
    use std::collections::{BTreeMap, BTreeSet};
    type Key<'a> = (String, &'a str, u64);
    let mut index: BTreeMap<Key<'_>, Vec<(usize, &str)>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        for scope in e.scopes() {
            for h in &e.hosts {
                for (port, proto) in &e.ports {
                    index
                        .entry((scope.clone(), h.as_str(), *port))
                        .or_default()
                        .push((i, proto.as_str()));
                }
            }
        }
    }
    let mut reported = BTreeSet::new();
    let mut out = Vec::new();
    for ((scope, host, port), here) in &index {
        let mut all = here.clone();
        if scope != "*" {
            if let Some(everywhere) = index.get(&("*".to_string(), *host, *port)) {
                all.extend(everywhere.iter().copied());
            }
        }
        let protocols: BTreeSet<&str> = all.iter().map(|(_, p)| *p).collect();
        if protocols.len() < 2 {
            continue;
        }
        let names: BTreeSet<&str> = all.iter().map(|(i, _)| entries[*i].name.as_str()).collect();
        let names = names.into_iter().collect::<Vec<_>>().join(", ");
        let protocols = protocols
            .into_iter()
            .map(|p| if p.is_empty() { "unset" } else { p })
            .collect::<Vec<_>>()
            .join(", ");
        for (i, _) in all {
            if reported.insert(i) {
                out.push((i, format!("Multiple ServiceEntries ({names}) define the same host {host:?} and port {port} with conflicting protocols ({protocols}).")));
            }
        }
    }
    out
}
