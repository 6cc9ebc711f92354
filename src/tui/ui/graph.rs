//! The service graph, as a call tree from the ingress with cross-cluster
//! hops marked, then each cluster's remaining services and gateways.
//!
//! ```text
//! ┌ Graph ─ 2 clusters ─────────────────────────────────────────────────────┐
//! │ CALL                              CLUSTER  RPS    ERR   P99ms  mTLS  SPLIT │
//! │ ⇥ ingress shop.example.com        eu       10.0   0.0%  41     🔒         │
//! │ └─▶ frontend v1×2                 eu       10.0   0.0%  12     🔒         │
//! │     ├─▶ user v1                   eu       10.0   0.0%  8      🔒         │
//! │     │   └─▶ billing v1×2 v2×1     us ⇄     10.0   0.0%  5      🔒  v1 90% │
//! └──────────────────────────────────────────────────────────────────────────┘
//! ┌ frontend → billing ── rps ▁▂▃ ─ p99 ▅▆▇ ───────────────────────────────────┐
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

use super::{block, fg, health, ms, offset, selected};
use crate::tui::action::View;
use crate::tui::app::App;

/// One line of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphRow {
    /// Tree drawing and name.
    pub label: String,
    /// The service the row is about.
    pub service: String,
    /// Its cluster(s).
    pub cluster: String,
    /// The caller's workloads.
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
    /// Share over mTLS.
    pub mtls: f64,
    /// Per-version share, e.g. `v1 90% v2 10%`.
    pub split: String,
    /// Crosses clusters.
    pub cross: bool,
    /// Is a gateway or cluster line.
    pub infra: bool,
}

fn versions(app: &App, service: &str) -> String {
    let mut counts: std::collections::BTreeMap<String, (usize, usize)> =
        std::collections::BTreeMap::new();
    for w in app
        .d
        .workloads
        .iter()
        .filter(|w| w.is_sidecar() && w.service == service)
    {
        let e = counts.entry(w.version.clone()).or_default();
        e.0 += 1;
        if w.ready {
            e.1 += 1;
        }
    }
    counts
        .iter()
        .map(|(v, (n, ready))| {
            let mut s = if *n > 1 {
                format!("{v}×{n}")
            } else {
                v.clone()
            };
            if ready < n {
                s.push_str(&format!("({} down)", n - ready));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn clusters_of(app: &App, service: &str) -> Vec<String> {
    let mut c: Vec<String> = app
        .d
        .topology
        .as_ref()
        .map(|t| {
            t.services_named(service)
                .map(|s| s.cluster.clone())
                .collect()
        })
        .unwrap_or_default();
    c.sort();
    c.dedup();
    c
}

fn workloads_of(app: &App, service: &str) -> Vec<String> {
    if service == "ingress" {
        return vec!["istio-ingressgateway".into()];
    }
    let mut w: Vec<String> = app
        .d
        .workloads
        .iter()
        .filter(|w| w.service == service)
        .map(|w| format!("{}-{}", w.service, w.version))
        .collect();
    w.sort();
    w.dedup();
    w
}

fn edge_row(
    app: &App,
    parent: &str,
    child: &str,
    label: String,
    parent_cluster: &[String],
) -> GraphRow {
    let callers = workloads_of(app, parent);
    let edges: Vec<&mesh::api::EdgeSignal> = app
        .d
        .edges
        .iter()
        .filter(|e| e.service == child && callers.contains(&e.source))
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
    let cl = clusters_of(app, child);
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
    }
}

/// The graph's rows, filtered (the selection indexes these).
pub fn rows(app: &App) -> Vec<GraphRow> {
    let Some(t) = &app.d.topology else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in &t.clusters {
        let Some(ing) = &c.ingress else { continue };
        let mut root = edge_row(
            app,
            "client",
            "ingress",
            format!("⇥ ingress {}", ing.hosts.join(",")),
            &[],
        );
        root.service = "ingress".into();
        root.cluster = c.name.clone();
        root.infra = true;
        // The ingress's traffic is what it sends on.
        let from_ingress = edge_row(app, "ingress", &ing.service, String::new(), &[]);
        root.rps = from_ingress.rps;
        root.error_rate = from_ingress.error_rate;
        root.p99 = from_ingress.p99;
        root.mtls = from_ingress.mtls;
        root.series = from_ingress.series;
        root.exact_from = from_ingress.callers.first().cloned();
        out.push(root);
        walk(
            app,
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
                app,
                "",
                &s.name,
                format!("· {} {}", s.name, versions(app, &s.name)),
                &[],
            );
            r.cluster = c.name.clone();
            out.push(r);
        }
        if t.clusters.len() > 1 {
            // What the gateway carries: every call into this cluster from another.
            let crossing: Vec<&mesh::api::EdgeSignal> = app
                .d
                .edges
                .iter()
                .filter(|e| e.destination_cluster == c.name && e.source_cluster != c.name)
                .collect();
            let rps: f64 = crossing.iter().map(|e| e.rps).sum();
            out.push(GraphRow {
                label: "⇄ east-west gateway (inbound)".into(),
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
    app: &App,
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
    let folded = app.collapsed.contains(child);
    let calls: Vec<String> = t
        .services_named(child)
        .flat_map(|s| s.calls.clone())
        .collect();
    let mark = if folded && !calls.is_empty() {
        " [+]"
    } else {
        ""
    };
    let row = edge_row(
        app,
        parent,
        child,
        format!("{prefix}{branch}{child} {}{mark}", versions(app, child)),
        parent_clusters,
    );
    let cross = row.cross;
    out.push(row);
    seen.insert(child.to_string());
    if folded || depth > 16 {
        return;
    }
    let here = clusters_of(app, child);
    let next_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
    let _ = cross;
    for (i, c) in calls.iter().enumerate() {
        walk(
            app,
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

/// Draws the graph.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [top, bottom] = Layout::vertical([Constraint::Min(5), Constraint::Length(7)]).areas(area);
    let rows = rows(app);
    let sel = app.sel(View::Graph).min(rows.len().saturating_sub(1));
    let height = top.height.saturating_sub(3) as usize;
    let mut state = TableState::default()
        .with_selected(Some(sel))
        .with_offset(offset(sel, height));
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            let lock = if r.mtls >= 0.99 {
                "🔒"
            } else if r.rps > 0.0 {
                "open"
            } else {
                ""
            };
            let cluster = if r.cross {
                format!("{} ⇄", r.cluster)
            } else {
                r.cluster.clone()
            };
            let style = if r.infra {
                fg(app, Color::Cyan)
            } else {
                health(app, 1.0 - r.error_rate, r.rps)
            };
            Row::new(vec![
                Cell::from(r.label.clone()).style(style),
                Cell::from(cluster),
                Cell::from(if r.rps > 0.0 {
                    format!("{:.1}", r.rps)
                } else {
                    "-".into()
                }),
                Cell::from(if r.rps > 0.0 {
                    format!("{:.1}%", r.error_rate * 100.0)
                } else {
                    "-".into()
                })
                .style(health(app, 1.0 - r.error_rate, r.rps)),
                Cell::from(ms(r.p99)),
                Cell::from(lock),
                Cell::from(r.split.clone()),
            ])
        })
        .collect();
    let clusters = app.d.topology.as_ref().map_or(0, |t| t.clusters.len());
    let title = format!(
        "Graph · {clusters} clusters · {} · i {} idle · Enter folds{}",
        if app.hide_idle {
            "idle hidden"
        } else {
            "all edges"
        },
        if app.hide_idle { "shows" } else { "hides" },
        if app.filter(View::Graph).is_empty() {
            String::new()
        } else {
            format!(" · filter '{}'", app.filter(View::Graph))
        }
    );
    let table = Table::new(
        body,
        [
            Constraint::Min(26),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(4),
            Constraint::Length(14),
        ],
    )
    .header(
        Row::new(["CALL", "CLUSTER", "RPS", "ERR", "P99ms", "mTLS", "SPLIT"]).style(super::bold()),
    )
    .row_highlight_style(selected(app))
    .block(block(title));
    f.render_stateful_widget(table, top, &mut state);

    let Some(r) = rows.get(sel) else {
        let hint = if app.d.topology.is_none() {
            "waiting for the mesh..."
        } else {
            "no rows (filter?)"
        };
        f.render_widget(Paragraph::new(hint).block(block("details")), bottom);
        return;
    };
    // Sum the row's series point by point, aligned on the newest.
    let mut points: Vec<(f64, f64)> = Vec::new();
    for q in r.series.iter().filter_map(|k| app.d.series.get(k)) {
        if q.len() > points.len() {
            let missing = q.len() - points.len();
            points.splice(0..0, std::iter::repeat_n((0.0, 0.0), missing));
        }
        let skip = points.len() - q.len();
        for (p, x) in points[skip..].iter_mut().zip(q) {
            p.0 += x.0;
            p.1 = p.1.max(x.1);
        }
    }
    let rps: Vec<u64> = points.iter().map(|p| (p.0 * 10.0) as u64).collect();
    let p99: Vec<u64> = points.iter().map(|p| (p.1 * 10.0) as u64).collect();
    let exact = app
        .d
        .latency
        .iter()
        .filter(|e| {
            e.edge.as_ref().is_some_and(|k| match &r.exact_from {
                Some(w) => k.reporter == "source" && &k.source_workload == w,
                None => k.reporter == "destination" && k.destination_service == r.service,
            })
        })
        .max_by_key(|e| e.count);
    let title = format!(
        "{} · {} · exact p50 {} p99 {} ms · instances: {}",
        r.service,
        r.cluster,
        exact.map_or("-".into(), |e| ms(e.p50_ms)),
        exact.map_or("-".into(), |e| ms(e.p99_ms)),
        app.d
            .workloads
            .iter()
            .filter(|w| w.service == r.service)
            .map(|w| format!("{}{}", w.instance, if w.ready { "" } else { "✗" }))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let b = block(title);
    let inner = b.inner(bottom);
    f.render_widget(b, bottom);
    let [l1, s1, l2, s2] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    f.render_widget(
        Paragraph::new(Line::from(vec![Span::styled(
            "requests/s (last 60 s)",
            fg(app, Color::DarkGray),
        )])),
        l1,
    );
    f.render_widget(
        Sparkline::default().data(&rps).style(fg(app, Color::Green)),
        s1,
    );
    f.render_widget(
        Paragraph::new(Line::from(vec![Span::styled(
            "P99 ms",
            fg(app, Color::DarkGray),
        )])),
        l2,
    );
    f.render_widget(
        Sparkline::default()
            .data(&p99)
            .style(fg(app, Color::Yellow)),
        s2,
    );
}
