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
