//! Per-instance figures for the Services view, from the tapped requests
//! (each names the pod that answered), so a failing or slow replica can be
//! told from its siblings; and the service's saturation: requests in
//! flight (Little's law: rate × mean latency) against the connection-pool
//! limit its DestinationRule sets, if any.

use mesh::api::config::model::Resource as Rule;

use crate::tui::action::View;
use crate::tui::app::App;

/// One instance of a service, over the tapped requests.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRow {
    /// The pod (`billing-v1-1`).
    pub instance: String,
    /// Requests it answered in the tap.
    pub requests: u32,
    /// Of which 5xx (or no answer).
    pub failed: u32,
    /// The slowest 1% of its answers started here, ms.
    pub p99_ms: f64,
    /// Requests in flight on average (rate × mean latency).
    pub in_flight: f64,
}

/// How full a service is.
#[derive(Debug, Clone, PartialEq)]
pub struct Saturation {
    /// Requests in flight to the service on average.
    pub in_flight: f64,
    /// The connection-pool limit on them, and which setting it is.
    pub limit: Option<(i64, &'static str)>,
}

/// The one service the Services filter names, if it names exactly one.
pub fn focused_service(app: &App) -> Option<String> {
    let q = app.filter(View::Services).to_lowercase();
    if q.is_empty() {
        return None;
    }
    let mut names: Vec<String> = super::lists::services(app)
        .into_iter()
        .map(|r| r.service)
        .collect();
    names.dedup();
    match names.as_slice() {
        [one] => Some(one.clone()),
        _ => names.into_iter().find(|n| *n == q),
    }
}

/// The service's instances over the tap, and the seconds it spans.
pub fn for_service(app: &App, service: &str) -> (Vec<InstanceRow>, f64) {
    let of = |instance: &str| {
        app.mesh
            .workloads
            .iter()
            .find(|w| w.instance == instance)
            .map(|w| w.service.as_str())
    };
    let entries: Vec<&mesh::api::TapEntry> = app
        .mesh
        .tap
        .iter()
        .filter(|e| e.reporter == "source" && of(&e.destination_instance) == Some(service))
        .collect();
    let span = match (app.mesh.tap.front(), app.mesh.tap.back()) {
        (Some(a), Some(b)) => ((b.unix_ms - a.unix_ms) as f64 / 1000.0).max(1.0),
        _ => 1.0,
    };
    let mut rows: Vec<InstanceRow> = Vec::new();
    let mut names: Vec<&str> = entries
        .iter()
        .map(|e| e.destination_instance.as_str())
        .collect();
    names.sort();
    names.dedup();
    // Instances that answered nothing still get a row.
    let mut idle: Vec<&str> = app
        .mesh
        .workloads
        .iter()
        .filter(|w| w.is_sidecar() && w.service == service && !names.contains(&w.instance.as_str()))
        .map(|w| w.instance.as_str())
        .collect();
    names.append(&mut idle);
    for name in names {
        let mut lat: Vec<f64> = entries
            .iter()
            .filter(|e| e.destination_instance == name)
            .map(|e| e.latency_ms)
            .collect();
        lat.sort_by(f64::total_cmp);
        let failed = entries
            .iter()
            .filter(|e| e.destination_instance == name && (e.status >= 500 || e.status == 0))
            .count() as u32;
        let n = lat.len();
        let p99 = if n == 0 {
            0.0
        } else {
            lat[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1]
        };
        let mean_s = lat.iter().sum::<f64>() / n.max(1) as f64 / 1000.0;
        rows.push(InstanceRow {
            instance: name.to_string(),
            requests: n as u32,
            failed,
            p99_ms: p99,
            in_flight: n as f64 / span * mean_s,
        });
    }
    (rows, span)
}

/// The service's saturation: the instances' in-flight requests summed,
/// against the DestinationRule's connection-pool limit.
pub fn saturation(app: &App, service: &str, rows: &[InstanceRow]) -> Saturation {
    let parsed = mesh::api::config::parse("-", &app.mesh.resources_yaml);
    let limit = parsed.resources.iter().find_map(|p| match &p.resource {
        Rule::DestinationRule(dr) if mesh::api::config::short_name(&dr.spec.host) == service => {
            let pool = dr.spec.traffic_policy.as_ref()?.connection_pool.as_ref()?;
            let http = pool.http.as_ref();
            http.and_then(|h| h.http2_max_requests.map(|v| (v, "http2MaxRequests")))
                .or_else(|| {
                    http.and_then(|h| {
                        h.http1_max_pending_requests
                            .map(|v| (v, "http1MaxPendingRequests"))
                    })
                })
                .or_else(|| {
                    pool.tcp
                        .as_ref()
                        .and_then(|t| t.max_connections.map(|v| (v, "maxConnections")))
                })
        }
        _ => None,
    });
    Saturation {
        in_flight: rows.iter().map(|r| r.in_flight).sum(),
        limit,
    }
}
