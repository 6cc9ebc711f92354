//! The graph view's rows: a call tree from each ingress with cross-cluster
//! hops marked, then each cluster's remaining services and its east-west
//! gateway, with the traffic on the edge into each.

use crate::tui::action::View;
use std::collections::HashMap;

use crate::tui::app::App;

/// One line of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphRow {
    /// Tree drawing and name.
    pub label: String,
    /// The service the row is about.
    pub service: String,
    /// The cluster(s) the service runs in, comma-separated.
    pub cluster: String,
    /// The calling service's workloads (`service-version`), whose edges the row sums.
    pub callers: Vec<String>,
    /// Sparkline series summed for the details panel (`caller>service`).
    pub series: Vec<String>,
    /// For exact percentiles: the calling workload when the row is about
    /// what a gateway sends on, else the row's service as destination.
    pub exact_from: Option<String>,
    /// Requests per second on the edge into it.
    pub rps: f64,
    /// Error share on that edge.
    pub error_rate: f64,
    /// P99 of that edge, ms.
    pub p99: f64,
    /// Share of the edge's requests sent over mTLS.
    pub mtls: f64,
    /// Per-version share, e.g. `v1 90% v2 10%`.
    pub split: String,
    /// The call crosses clusters (through an east-west gateway).
    pub cross: bool,
    /// Is a gateway or cluster line.
    pub infra: bool,
    /// What it is about is down (a stopped gateway): its numbers are what
    /// callers attempted, not what it carried.
    pub down: bool,
}

/// Instances an outlier detector has ejected and not yet returned, from the
/// events (`billing-v1-1 (127.0.0.1:4242) ejected from ... for 30s`), with
/// when their ejection ends, ms since the epoch.
pub fn ejected(app: &App) -> std::collections::BTreeMap<String, i64> {
    mesh::api::ejected_instances(&app.mesh.events, (app.now * 1000.0) as i64)
}

/// What the graph and the map look up once per row, gathered in one pass
/// over the mesh's data: with a thousand services, scanning every
/// workload, edge and tap entry for each row made a frame take 8 ms.
pub(crate) struct Index<'a> {
    app: &'a App,
    /// Workloads by service.
    workloads: HashMap<&'a str, Vec<&'a mesh::api::Workload>>,
    /// Edges by the service they call.
    edges: HashMap<&'a str, Vec<&'a mesh::api::EdgeSignal>>,
    /// The clusters each service runs in, sorted.
    clusters: HashMap<&'a str, Vec<String>>,
    /// What each service calls, by the topology.
    calls: HashMap<&'a str, Vec<String>>,
    ejected: std::collections::BTreeMap<String, i64>,
    /// Requests to each service its callers' circuit breakers turned away
    /// (Envoy's `UO`: upstream overflow) in the last window of the tap.
    overflow: HashMap<&'a str, usize>,
}

impl<'a> Index<'a> {
    /// Indexes the mesh `app` holds now.
    pub(crate) fn new(app: &'a App) -> Self {
        let mut workloads: HashMap<&str, Vec<_>> = HashMap::new();
        for w in &app.mesh.workloads {
            workloads.entry(w.service.as_str()).or_default().push(w);
        }
        let mut edges: HashMap<&str, Vec<_>> = HashMap::new();
        for e in &app.mesh.edges {
            edges.entry(e.service.as_str()).or_default().push(e);
        }
        let mut clusters: HashMap<&str, Vec<String>> = HashMap::new();
        let mut calls: HashMap<&str, Vec<String>> = HashMap::new();
        if let Some(t) = &app.mesh.topology {
            for s in &t.services {
                clusters
                    .entry(s.name.as_str())
                    .or_default()
                    .push(s.cluster.clone());
                calls
                    .entry(s.name.as_str())
                    .or_default()
                    .extend(s.calls.iter().cloned());
            }
        }
        for c in clusters.values_mut() {
            c.sort();
            c.dedup();
        }
        let since = ((app.now - crate::tui::data::WINDOW) * 1000.0) as i64;
        let mut overflow: HashMap<&str, usize> = HashMap::new();
        for e in app.mesh.tap.iter().filter(|e| {
            e.unix_ms >= since && e.reporter == "source" && e.flags.split(',').any(|f| f == "UO")
        }) {
            // The service named by the destination, or by the first label
            // of the upstream cluster's host.
            let host = e
                .upstream_cluster
                .rsplit('|')
                .next()
                .and_then(|h| h.split('.').next());
            *overflow.entry(e.destination.as_str()).or_default() += 1;
            if let Some(h) = host.filter(|h| *h != e.destination) {
                *overflow.entry(h).or_default() += 1;
            }
        }
        Self {
            app,
            workloads,
            edges,
            clusters,
            calls,
            ejected: ejected(app),
            overflow,
        }
    }

    fn workloads(&self, service: &str) -> &[&'a mesh::api::Workload] {
        self.workloads.get(service).map_or(&[], Vec::as_slice)
    }

    fn clusters_of(&self, service: &str) -> Vec<String> {
        self.clusters.get(service).cloned().unwrap_or_default()
    }

    fn calls(&self, service: &str) -> Vec<String> {
        self.calls.get(service).cloned().unwrap_or_default()
    }
}

pub(crate) fn versions(ix: &Index<'_>, service: &str) -> String {
    let mut counts: std::collections::BTreeMap<String, (usize, usize, usize)> =
        std::collections::BTreeMap::new();
    for w in ix.workloads(service).iter().filter(|w| w.is_sidecar()) {
        let e = counts.entry(w.version.clone()).or_default();
        e.0 += 1;
        if w.ready {
            e.1 += 1;
        }
        if ix.ejected.contains_key(&w.instance) {
            e.2 += 1;
        }
    }
    let overflow = ix.overflow.get(service).copied().unwrap_or(0);
    let mut text = counts
        .iter()
        .map(|(v, (n, ready, out))| {
            let mut s = if *n > 1 {
                format!("{v}×{n}")
            } else {
                v.clone()
            };
            if ready < n {
                s.push_str(&format!("({} down)", n - ready));
            }
            if *out > 0 {
                s.push_str(&format!("({out} ejected)"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(" ");
    if overflow > 0 {
        // The circuit breaker is tripping: callers get 503 UO at once.
        text.push_str(&format!(" ⚡{overflow} overflow"));
    }
    text
}

fn workloads_of(ix: &Index<'_>, service: &str) -> Vec<String> {
    if service == "ingress" {
        return vec!["istio-ingressgateway".into()];
    }
    let mut w: Vec<String> = ix
        .workloads(service)
        .iter()
        // Edges name the calling workload: `service-version` in meshcon, the
        // Deployment (the workload's instance name here) in a real mesh.
        .flat_map(|w| [format!("{}-{}", w.service, w.version), w.instance.clone()])
        .collect();
    w.sort();
    w.dedup();
    w
}

pub(crate) fn edge_row(
    ix: &Index<'_>,
    parent: &str,
    child: &str,
    label: String,
    parent_cluster: &[String],
) -> GraphRow {
    let callers = workloads_of(ix, parent);
    let edges: Vec<&mesh::api::EdgeSignal> = ix
        .edges
        .get(child)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|e| callers.contains(&e.source))
        .copied()
        .collect();
    let rps: f64 = edges.iter().map(|e| e.rps).sum();
    let err = if rps > 0.0 {
        edges.iter().map(|e| e.rps * e.error_rate).sum::<f64>() / rps
    } else {
        0.0
    };
    let mtls = if rps > 0.0 {
        edges.iter().map(|e| e.rps * e.mtls_ratio).sum::<f64>() / rps
    } else {
        0.0
    };
    let p99 = edges.iter().map(|e| e.p99_ms).fold(0.0, f64::max);
    // The split is between versions that answered; calls that never reached
    // one (no healthy endpoint) show in ERR, not as a version "unknown".
    let mut by_version: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for e in edges.iter().filter(|e| e.version != "unknown") {
        *by_version.entry(e.version.as_str()).or_default() += e.rps;
    }
    let answered: f64 = by_version.values().sum();
    let split = if by_version.len() > 1 && answered > 0.0 {
        by_version
            .iter()
            .map(|(v, r)| format!("{v} {:.0}%", r / answered * 100.0))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    let cl = ix.clusters_of(child);
    let cross = !parent_cluster.is_empty() && !cl.iter().any(|c| parent_cluster.contains(c));
    GraphRow {
        label,
        service: child.to_string(),
        cluster: cl.join(","),
        series: callers.iter().map(|c| format!("{c}>{child}")).collect(),
        exact_from: None,
        callers,
        rps,
        error_rate: err,
        p99,
        mtls,
        split,
        cross,
        infra: false,
        down: false,
    }
}

fn hide_callees(
    t: &mesh::api::Topology,
    service: &str,
    seen: &mut std::collections::BTreeSet<String>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    let calls: Vec<String> = t
        .services_named(service)
        .flat_map(|s| s.calls.clone())
        .collect();
    for c in calls {
        if seen.insert(c.clone()) {
            hide_callees(t, &c, seen, depth + 1);
        }
    }
}

/// The graph's rows, filtered (the selection indexes these).
pub fn rows(app: &App) -> Vec<GraphRow> {
    let Some(t) = &app.mesh.topology else {
        return Vec::new();
    };
    let ix = Index::new(app);
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in &t.clusters {
        let Some(ing) = &c.ingress else { continue };
        let mut root = edge_row(
            &ix,
            "client",
            "ingress",
            format!("⇥ ingress {}", ing.hosts.join(",")),
            &[],
        );
        root.service = "ingress".into();
        root.cluster = c.name.clone();
        root.infra = true;
        // The ingress's traffic is what it sends on.
        let from_ingress = edge_row(&ix, "ingress", &ing.service, String::new(), &[]);
        root.rps = from_ingress.rps;
        root.error_rate = from_ingress.error_rate;
        root.p99 = from_ingress.p99;
        root.mtls = from_ingress.mtls;
        root.series = from_ingress.series;
        root.exact_from = from_ingress.callers.first().cloned();
        out.push(root);
        walk(
            &ix,
            t,
            "ingress",
            &ing.service,
            std::slice::from_ref(&c.name),
            "",
            true,
            &mut out,
            &mut seen,
            0,
        );
    }
    for c in &t.clusters {
        for s in t.services.iter().filter(|s| s.cluster == c.name) {
            if seen.contains(&s.name) {
                continue;
            }
            seen.insert(s.name.clone());
            let mut r = edge_row(
                &ix,
                "",
                &s.name,
                format!("· {} {}", s.name, versions(&ix, &s.name)),
                &[],
            );
            r.cluster = c.name.clone();
            out.push(r);
        }
        if t.clusters.len() > 1 {
            // What the gateway carries: every call into this cluster from another.
            let crossing: Vec<&mesh::api::EdgeSignal> = app
                .mesh
                .edges
                .iter()
                .filter(|e| e.destination_cluster == c.name && e.source_cluster != c.name)
                .collect();
            let rps: f64 = crossing.iter().map(|e| e.rps).sum();
            let down = app
                .mesh
                .workloads
                .iter()
                .any(|w| w.kind == "eastwest-gateway" && w.cluster == c.name && !w.ready);
            out.push(GraphRow {
                label: if down {
                    "⇄ east-west gateway (inbound) DOWN".into()
                } else {
                    "⇄ east-west gateway (inbound)".into()
                },
                down,
                service: format!("eastwest-{}", c.name),
                cluster: c.name.clone(),
                callers: Vec::new(),
                series: crossing
                    .iter()
                    .map(|e| format!("{}>{}", e.source, e.service))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                exact_from: None,
                rps,
                error_rate: if rps > 0.0 {
                    crossing.iter().map(|e| e.rps * e.error_rate).sum::<f64>() / rps
                } else {
                    0.0
                },
                p99: crossing.iter().map(|e| e.p99_ms).fold(0.0, f64::max),
                mtls: 1.0,
                split: String::new(),
                cross: false,
                infra: true,
            });
        }
    }
    let q = app.filter(View::Graph).to_lowercase();
    out.into_iter()
        .filter(|r| q.is_empty() || r.label.to_lowercase().contains(&q) || r.cluster.contains(&q))
        // The ingress roots the tree, so it stays even when idle.
        .filter(|r| !app.hide_idle || r.rps > 0.0 || r.service == "ingress")
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn walk(
    ix: &Index<'_>,
    t: &mesh::api::Topology,
    parent: &str,
    child: &str,
    parent_clusters: &[String],
    prefix: &str,
    last: bool,
    out: &mut Vec<GraphRow>,
    seen: &mut std::collections::BTreeSet<String>,
    depth: usize,
) {
    let branch = if last { "└─▶ " } else { "├─▶ " };
    let folded = ix.app.collapsed.contains(child);
    let calls = ix.calls(child);
    let mark = if folded && !calls.is_empty() {
        " [+]"
    } else {
        ""
    };
    let row = edge_row(
        ix,
        parent,
        child,
        format!("{prefix}{branch}{child} {}{mark}", versions(ix, child)),
        parent_clusters,
    );
    let cross = row.cross;
    out.push(row);
    seen.insert(child.to_string());
    if folded {
        // Folded away, not detached: its callees are not listed apart.
        hide_callees(t, child, seen, depth);
        return;
    }
    if depth > 16 {
        return;
    }
    let here = ix.clusters_of(child);
    let next_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
    let _ = cross;
    for (i, c) in calls.iter().enumerate() {
        walk(
            ix,
            t,
            child,
            c,
            &here,
            &next_prefix,
            i + 1 == calls.len(),
            out,
            seen,
            depth + 1,
        );
    }
}
