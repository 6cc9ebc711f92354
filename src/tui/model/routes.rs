//! Golden signals per route (like `linkerd viz routes`): the callers'
//! requests grouped by the VirtualService route that matched them and
//! their path, from the requests the console has seen.

use crate::tui::app::App;

/// One route and path of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRow {
    /// The destination service.
    pub service: String,
    /// The VirtualService route that matched (`default` without one).
    pub route: String,
    /// The request path.
    pub path: String,
    /// Requests per second over the span seen.
    pub rps: f64,
    /// Share answered without a 5xx.
    pub success: f64,
    /// P99 of their latency, ms.
    pub p99_ms: f64,
}

/// The service a caller's request went to: the host of its upstream
/// cluster (`outbound|8080|v1|billing.default.svc.cluster.local`), else
/// of its authority.
fn service_of(e: &mesh::api::TapEntry) -> String {
    let host = e
        .upstream_cluster
        .rsplit('|')
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or(&e.authority);
    host.split(['.', ':'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Rows by service, route and path, and the seconds of requests they cover.
pub fn rows(app: &App) -> (Vec<RouteRow>, f64) {
    let entries: Vec<&mesh::api::TapEntry> = app
        .mesh
        .tap
        .iter()
        .filter(|e| e.reporter == "source")
        .collect();
    let span = match (entries.first(), entries.last()) {
        (Some(a), Some(b)) => ((b.unix_ms - a.unix_ms) as f64 / 1000.0).max(1.0),
        _ => 1.0,
    };
    let mut groups: std::collections::BTreeMap<
        (String, String, String),
        Vec<&mesh::api::TapEntry>,
    > = Default::default();
    for e in entries {
        let route = if e.route_name.is_empty() {
            "default".to_string()
        } else {
            e.route_name.clone()
        };
        let path = e.path.split('?').next().unwrap_or_default().to_string();
        groups
            .entry((service_of(e), route, path))
            .or_default()
            .push(e);
    }
    let q = app
        .filter(crate::tui::action::View::Services)
        .to_lowercase();
    let rows = groups
        .into_iter()
        .filter(|((s, r, p), _)| q.is_empty() || s.contains(&q) || r.contains(&q) || p.contains(&q))
        .map(|((service, route, path), es)| {
            let n = es.len();
            let ok = es
                .iter()
                .filter(|e| e.status != 0 && e.status < 500)
                .count();
            let mut lat: Vec<f64> = es.iter().map(|e| e.latency_ms).collect();
            lat.sort_by(f64::total_cmp);
            let p99 = lat
                .get(((n as f64 * 0.99).ceil() as usize).clamp(1, n.max(1)) - 1)
                .copied()
                .unwrap_or(0.0);
            RouteRow {
                service,
                route,
                path,
                rps: n as f64 / span,
                success: ok as f64 / n.max(1) as f64,
                p99_ms: p99,
            }
        })
        .collect();
    (rows, span)
}
