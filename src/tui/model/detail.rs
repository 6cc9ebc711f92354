//! Drill-down (k9s `d`, Kiali's side panel): everything the console knows
//! about one service, in one pane — its instances with their own figures
//! and state, the config that applies to it, its recent events, its
//! certificates and its traffic over the last minute.

use crate::tui::app::App;

/// A one-line sparkline of `values` (▁ to █), empty when there are none.
fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(0.0, f64::max);
    values
        .iter()
        .map(|v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// Whether a resource's YAML names `service` as a host or destination.
pub fn concerns(yaml: &str, service: &str) -> bool {
    yaml.lines().any(|l| {
        let v = l.trim().trim_start_matches("- ").trim();
        let v = v.strip_prefix("host:").map(str::trim).unwrap_or(v);
        v == service || v.starts_with(&format!("{service}."))
    })
}

/// The detail pane of `service`: (title, text).
pub fn service(app: &App, service: &str) -> (String, String) {
    let mut out = Vec::new();
    let workloads: Vec<&mesh::api::Workload> = app
        .mesh
        .workloads
        .iter()
        .filter(|w| w.service == service)
        .collect();
    let ejected = super::graph::ejected(app);
    let (rows, span) = super::instances::for_service(app, service);
    out.push(format!(
        "Instances (figures from the last {span:.0} s of requests seen):"
    ));
    for w in &workloads {
        let state = match (w.ready, ejected.contains_key(&w.instance)) {
            (false, true) => "DOWN,ejected",
            (false, false) => "DOWN",
            (true, true) => "ejected",
            (true, false) => "ready",
        };
        let figures = rows
            .iter()
            .find(|r| r.instance == w.instance && r.requests > 0)
            .map(|r| {
                format!(
                    "{} requests, {} failed, P99 {:.0} ms, {:.1} in flight",
                    r.requests, r.failed, r.p99_ms, r.in_flight
                )
            })
            .unwrap_or_else(|| "no requests seen".into());
        out.push(format!(
            "  {:<24} {:<4} {:<4} {:<12} {figures}",
            w.instance, w.version, w.cluster, state
        ));
    }
    let config: Vec<String> = app
        .mesh
        .resources
        .iter()
        .filter(|r| concerns(&r.yaml, service))
        .map(|r| format!("  {} {}/{}", r.kind, r.namespace, r.name))
        .collect();
    out.push(String::new());
    if config.is_empty() {
        out.push("Config: none applies; every request takes the default route".into());
    } else {
        out.push("Config that applies (y shows the YAML, 6 edits it in Routing):".into());
        out.extend(config);
    }
    out.push(String::new());
    out.push("Traffic, last minute (requests/s, P99):".into());
    let mut keys: Vec<&String> = app
        .mesh
        .series
        .keys()
        .filter(|k| k.split('/').next() == Some(service))
        .collect();
    keys.sort();
    if keys.is_empty() {
        out.push("  no samples yet".into());
    }
    for k in keys {
        if let Some(points) = app.mesh.series.get(k) {
            let rps: Vec<f64> = points.iter().map(|p| p.0).collect();
            let p99: Vec<f64> = points.iter().map(|p| p.1).collect();
            out.push(format!(
                "  {k:<14} {}  {}",
                sparkline(&rps),
                sparkline(&p99)
            ));
        }
    }
    let names: Vec<&str> = workloads.iter().map(|w| w.instance.as_str()).collect();
    let events: Vec<String> = app
        .mesh
        .events
        .iter()
        .rev()
        .filter(|e| e.message.contains(service) || names.iter().any(|n| e.message.contains(n)))
        .take(5)
        .map(|e| format!("  {} {}", e.kind, e.message))
        .collect();
    out.push(String::new());
    out.push(if events.is_empty() {
        "Recent events: none".into()
    } else {
        "Recent events:".into()
    });
    out.extend(events);
    out.push(String::new());
    out.push("Certificates:".into());
    for w in &workloads {
        out.push(format!(
            "  {:<24} {} serial {} until {}",
            w.instance,
            w.spiffe_id,
            w.cert_serial.chars().take(12).collect::<String>(),
            if w.cert_not_after.is_empty() {
                "-"
            } else {
                &w.cert_not_after
            }
        ));
    }
    (format!("{service} · d · Esc closes"), out.join("\n"))
}
