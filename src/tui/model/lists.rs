//! The rows of the list views, filtered (and sorted) as shown: the
//! selection indexes these, so `update` and the views must agree on them.

use mesh::api::{Event, ServiceSignal, StoredSpan, TapEntry, Trace, Workload};

use crate::tui::action::View;
use crate::tui::app::{App, SortKey};

/// The table's rows: filtered, sorted, with exact percentiles merged.
pub fn services(app: &App) -> Vec<ServiceSignal> {
    let mut rows = app.mesh.services.clone();
    mesh::api::merge_exact(&mut rows, &app.mesh.latency);
    // Versions that run but had no traffic in the window still get a row.
    let mut have: std::collections::HashSet<(String, String, String)> = rows
        .iter()
        .map(|r| (r.service.clone(), r.version.clone(), r.cluster.clone()))
        .collect();
    for w in app.mesh.workloads.iter().filter(|w| w.is_sidecar()) {
        if have.insert((w.service.clone(), w.version.clone(), w.cluster.clone())) {
            rows.push(ServiceSignal {
                cluster: w.cluster.clone(),
                namespace: w.namespace.clone(),
                service: w.service.clone(),
                version: w.version.clone(),
                success_rate: 1.0,
                ..Default::default()
            });
        }
    }
    let q = app.filter(View::Services).to_lowercase();
    rows.retain(|r| {
        q.is_empty() || r.service.contains(&q) || r.cluster.contains(&q) || r.version.contains(&q)
    });
    match app.sort {
        SortKey::Name => rows.sort_by(|a, b| {
            (&a.service, &a.version, &a.cluster).cmp(&(&b.service, &b.version, &b.cluster))
        }),
        SortKey::Rps => rows.sort_by(|a, b| b.rps.total_cmp(&a.rps)),
        SortKey::Success => rows.sort_by(|a, b| a.success_rate.total_cmp(&b.success_rate)),
        SortKey::P99 => rows.sort_by(|a, b| b.p99_ms.total_cmp(&a.p99_ms)),
    }
    if app.sort_reversed {
        rows.reverse();
    }
    rows
}

/// Entries shown: callers' reports (one line per request), and for a
/// retried request the failed attempts as their destination saw them,
/// filtered.
pub fn tap(app: &App) -> Vec<&TapEntry> {
    let q = app.filter(View::Tap).to_lowercase();
    let retried: std::collections::HashSet<&str> = app
        .mesh
        .tap
        .iter()
        .filter(|e| e.reporter == "source" && e.attempt > 1)
        .map(|e| e.trace_id.as_str())
        .collect();
    app.mesh
        .tap
        .iter()
        .filter(|e| {
            e.reporter == "source" || (e.status >= 500 && retried.contains(e.trace_id.as_str()))
        })
        .filter(|e| {
            q.is_empty()
                || e.source.contains(&q)
                || e.destination.contains(&q)
                || e.source_instance.contains(&q)
                || e.destination_instance.contains(&q)
                || e.path.to_lowercase().contains(&q)
                || e.status.to_string() == q
                || e.flags.to_lowercase().contains(&q)
        })
        .collect()
}

/// How long a trace's spans may still be arriving, seconds.
const SETTLE_S: f64 = 2.0;

/// Traces listed, filtered by service, id or status.
pub fn traces(app: &App) -> Vec<&Trace> {
    let q = app.filter(View::Traces).to_lowercase();
    app.mesh
        .traces
        .iter()
        // Spans arrive from each proxy in its own batch (flushed every
        // second): a younger trace may still be missing some.
        .filter(|t| app.traces_at - t.start_unix_ms / 1000.0 >= SETTLE_S)
        .filter(|t| {
            q.is_empty()
                || t.trace_id.starts_with(&q)
                || t.services.iter().any(|s| s.contains(&q))
                || t.status() == q
                || (q == "error" && t.status() != "ok")
        })
        .collect()
}

/// Events shown, filtered. During a live drill the chaos and config events
/// that would name the injected fault wait until it ends.
pub fn events(app: &App) -> Vec<&Event> {
    let q = app.filter(View::Events).to_lowercase();
    let drill = app.practice.drill_under_way();
    app.mesh
        .events
        .iter()
        .filter(|e| !(drill && matches!(e.kind.as_str(), "chaos" | "config")))
        .filter(|e| {
            q.is_empty()
                || e.kind.contains(&q)
                || e.source.contains(&q)
                || e.message.to_lowercase().contains(&q)
                || e.cluster == q
        })
        .collect()
}

/// Workloads with certificates, filtered.
pub fn identities(app: &App) -> Vec<&Workload> {
    let q = app.filter(View::Identities).to_lowercase();
    app.mesh
        .workloads
        .iter()
        .filter(|w| {
            q.is_empty()
                || w.instance.contains(&q)
                || w.spiffe_id.contains(&q)
                || w.cluster.contains(&q)
        })
        .collect()
}

/// A trace's spans in waterfall order, with their depth: each span under
/// its parent, siblings by start; spans whose parent is missing first.
pub fn span_order(t: &Trace) -> Vec<(usize, &StoredSpan)> {
    let ids: std::collections::BTreeSet<&str> =
        t.spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut out = Vec::new();
    fn visit<'a>(t: &'a Trace, parent: &str, depth: usize, out: &mut Vec<(usize, &'a StoredSpan)>) {
        let mut kids: Vec<&StoredSpan> = t
            .spans
            .iter()
            .filter(|s| s.parent_span_id == parent)
            .collect();
        kids.sort_by(|a, b| a.start_unix_ms.total_cmp(&b.start_unix_ms));
        for k in kids {
            out.push((depth, k));
            if depth < 40 {
                visit(t, &k.span_id, depth + 1, out);
            }
        }
    }
    let roots: Vec<&StoredSpan> = t
        .spans
        .iter()
        .filter(|s| !ids.contains(s.parent_span_id.as_str()))
        .collect();
    let mut parents: Vec<&str> = roots.iter().map(|s| s.parent_span_id.as_str()).collect();
    parents.sort();
    parents.dedup();
    for p in parents {
        visit(t, p, 0, &mut out);
    }
    out
}
