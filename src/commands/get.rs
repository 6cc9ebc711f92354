//! `meshcon get ...`: mesh state as tables for people, JSON/YAML for scripts.

use std::process::ExitCode;

use mesh::api::{Empty, EventsRequest, ResourcesRequest, TraceQuery};

use crate::cli::GetWhat;
use crate::client::{resolve_addr, status_error, MeshClient};
use crate::output::{self, Format};

/// Options of `meshcon get`.
#[derive(Debug, Clone)]
pub struct GetOptions {
    /// Output format.
    pub output: Format,
    /// Traces: trace id.
    pub trace_id: Option<String>,
    /// Traces: service.
    pub service: Option<String>,
    /// Traces: minimum duration.
    pub min_ms: u64,
    /// Traces: failed only.
    pub errors: bool,
    /// How many.
    pub limit: u32,
    /// Services: the sampling window, s (scrape-config: the scrape interval).
    pub window: u64,
    /// Events: follow.
    pub follow: bool,
}

/// Time left until an RFC 3339 instant, for people.
pub fn until(rfc3339: &str) -> String {
    let Ok(t) =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
    else {
        return "-".into();
    };
    let secs = (t - time::OffsetDateTime::now_utc()).whole_seconds();
    if secs < 0 {
        return "expired".into();
    }
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// The workloads table of a mesh.
pub async fn workloads_table(addr: &str) -> anyhow::Result<String> {
    let mut c = MeshClient::connect(addr).await?;
    let list = c
        .console
        .workloads(Empty {})
        .await
        .map_err(status_error)?
        .into_inner();
    // Ejections are told as events; the table says which still hold.
    let mut events = Vec::new();
    if let Ok(stream) = c
        .console
        .events(EventsRequest {
            follow: false,
            last: 1000,
        })
        .await
    {
        let mut stream = stream.into_inner();
        while let Ok(Some(e)) = stream.message().await {
            events.push(e);
        }
    }
    let ejected = mesh::api::ejected_instances(&events, (now_s() * 1000.0) as i64);
    Ok(workloads_rows(&list.workloads, &ejected))
}

/// Workloads as a table; READY says `ejected` for an instance an outlier
/// detector has taken out of its callers' pools.
pub fn workloads_rows(
    workloads: &[mesh::api::Workload],
    ejected: &std::collections::BTreeMap<String, i64>,
) -> String {
    let rows: Vec<Vec<String>> = workloads
        .iter()
        .map(|w| {
            let a = w.addresses.clone().unwrap_or_default();
            vec![
                w.kind.clone(),
                w.cluster.clone(),
                format!("{}/{}", w.namespace, w.service),
                w.version.clone(),
                w.instance.clone(),
                match (w.ready, ejected.contains_key(&w.instance)) {
                    (true, false) => "yes".into(),
                    (true, true) => "ejected".into(),
                    (false, _) => "no".into(),
                },
                a.inbound.unwrap_or_else(|| "-".into()),
                a.admin.unwrap_or_else(|| "-".into()),
                w.spiffe_id.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "KIND",
            "CLUSTER",
            "SERVICE",
            "VERSION",
            "INSTANCE",
            "READY",
            "INBOUND",
            "ADMIN",
            "SPIFFE ID",
        ],
        &rows,
    )
}

/// `meshcon get WHAT`.
pub async fn run(mesh: Option<&str>, what: GetWhat, o: GetOptions) -> anyhow::Result<ExitCode> {
    let addr = resolve_addr(mesh);
    let mut c = MeshClient::connect(&addr).await?;
    let out = match what {
        GetWhat::Workloads => match o.output {
            Format::Table => workloads_table(&addr).await?,
            f => {
                let list = c
                    .console
                    .workloads(Empty {})
                    .await
                    .map_err(status_error)?
                    .into_inner();
                output::structured(&list.workloads, f)?
            }
        },
        GetWhat::Identities => {
            let list = c
                .console
                .workloads(Empty {})
                .await
                .map_err(status_error)?
                .into_inner();
            match o.output {
                Format::Table => {
                    let mut s = identities_rows(&list.workloads);
                    s.push('\n');
                    let tds: Vec<Vec<String>> = list
                        .trust_domains
                        .iter()
                        .map(|t| {
                            vec![
                                t.cluster.clone(),
                                t.trust_domain.clone(),
                                t.root_fingerprint.chars().take(23).collect(),
                                t.mtls_mode.clone(),
                            ]
                        })
                        .collect();
                    s.push_str(&output::table(
                        &["CLUSTER", "TRUST DOMAIN", "ROOT SHA-256", "mTLS"],
                        &tds,
                    ));
                    s
                }
                f => output::structured(&list, f)?,
            }
        }
        GetWhat::Routes | GetWhat::Resources => {
            let kind = if what == GetWhat::Routes {
                "routes"
            } else {
                ""
            };
            let text = c
                .console
                .resources(ResourcesRequest {
                    kind: kind.into(),
                    version: 0,
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .text;
            resources_out(&text, what, o.output)?
        }
        GetWhat::Proxies => {
            let list = c
                .console
                .proxies(Empty {})
                .await
                .map_err(status_error)?
                .into_inner();
            match o.output {
                Format::Table => {
                    let rows: Vec<Vec<String>> = list
                        .proxies
                        .iter()
                        .map(|p| {
                            vec![
                                p.id.clone(),
                                p.kind.clone(),
                                format!("v{}", p.acked_version),
                                p.state.clone(),
                                p.pushes.to_string(),
                                p.nack_reason.clone(),
                            ]
                        })
                        .collect();
                    format!(
                        "config version v{}\n{}",
                        list.version,
                        output::table(
                            &["PROXY", "KIND", "ACKED", "STATE", "PUSHES", "NACK"],
                            &rows
                        )
                    )
                }
                f => output::structured(&list.proxies, f)?,
            }
        }
        GetWhat::Events => {
            let mut stream = c
                .console
                .events(EventsRequest {
                    follow: o.follow,
                    last: o.limit.max(1),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let mut events = Vec::new();
            while let Some(ev) = stream.message().await.map_err(status_error)? {
                if o.follow {
                    crate::outln!("{}", event_line(&ev));
                } else {
                    events.push(ev);
                }
            }
            match o.output {
                Format::Table => events
                    .iter()
                    .map(|e| format!("{}\n", event_line(e)))
                    .collect(),
                f => output::structured(&events, f)?,
            }
        }
        GetWhat::Traces => {
            let text = c
                .console
                .traces(TraceQuery {
                    trace_id: o.trace_id.clone().unwrap_or_default(),
                    service: o.service.clone().unwrap_or_default(),
                    min_duration_ms: o.min_ms,
                    errors_only: o.errors,
                    limit: o.limit,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let traces: Vec<mesh::api::Trace> = mesh::api::decode(&text)?;
            if traces.is_empty() && (o.trace_id.is_some() || o.service.is_some()) {
                let what = match (&o.trace_id, &o.service) {
                    (Some(id), _) => format!("trace {id}"),
                    (None, Some(s)) => format!("trace through service '{s}'"),
                    _ => String::new(),
                };
                eprintln!("no {what} among the traces the mesh keeps (see `meshcon get traces`)");
                return Ok(ExitCode::from(1));
            }
            match o.output {
                Format::Table => traces_table(&traces),
                f => output::structured(&traces, f)?,
            }
        }
        GetWhat::Federation => {
            let text = c
                .console
                .federation(Empty {})
                .await
                .map_err(status_error)?
                .into_inner();
            let v: mesh::api::FederationStatus = mesh::api::decode(&text)?;
            match o.output {
                Format::Table => federation_text(&v),
                f => output::structured(&v, f)?,
            }
        }
        GetWhat::Latency => {
            let text = c
                .console
                .latency(mesh::api::LatencyRequest {
                    window_s: o.window.clamp(1, 60) as u32,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let stats: Vec<mesh::api::EdgeStat> = mesh::api::decode(&text)?;
            match o.output {
                Format::Table => {
                    let rows: Vec<Vec<String>> = stats
                        .iter()
                        .filter_map(|s| {
                            let e = s.edge.as_ref()?;
                            Some(vec![
                                e.reporter.clone(),
                                e.source_workload.clone(),
                                format!("{} ({})", e.destination_workload, e.destination_service),
                                s.count.to_string(),
                                format!("{:.2}", s.p50_ms),
                                format!("{:.2}", s.p90_ms),
                                format!("{:.2}", s.p99_ms),
                                format!("{:.2}", s.p999_ms),
                            ])
                        })
                        .collect();
                    output::table(
                        &[
                            "REPORTER",
                            "SOURCE",
                            "DESTINATION",
                            "N",
                            "P50 ms",
                            "P90 ms",
                            "P99 ms",
                            "P99.9 ms",
                        ],
                        &rows,
                    )
                }
                f => output::structured(&stats, f)?,
            }
        }
        // Reads an Envoy, not the mesh: cli.rs sends it to commands::proxy_config.
        GetWhat::ProxyConfig => {
            anyhow::bail!("proxy-config reads an Envoy: give --envoy-admin or --config-dump")
        }
        GetWhat::ScrapeConfig => {
            let list = c
                .console
                .workloads(Empty {})
                .await
                .map_err(status_error)?
                .into_inner();
            mesh::api::scrape_config(&list.mesh, &list.workloads, o.window.clamp(1, 60))
        }
        GetWhat::Services | GetWhat::Edges => {
            let window = o.window.max(2);
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!("sampling {window} s of traffic (--window sets how long)...");
            }
            let (rows, edges) = signals(&mut c, window).await?;
            match (what, o.output) {
                (GetWhat::Edges, Format::Table) => edges_table(&edges),
                (GetWhat::Edges, f) => output::structured(&edges, f)?,
                (_, Format::Table) => services_table(&rows),
                (_, f) => output::structured(&rows, f)?,
            }
        }
    };
    crate::out!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Seconds since the epoch.
pub fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Scrapes every proxy once a second for `window` seconds and computes the
/// golden signals as Prometheus would over that window.
pub async fn services(
    c: &mut MeshClient,
    window: u64,
) -> anyhow::Result<Vec<mesh::api::ServiceSignal>> {
    Ok(signals(c, window).await?.0)
}

/// Golden signals per service version and per edge, over `window` seconds of scrapes.
async fn signals(
    c: &mut MeshClient,
    window: u64,
) -> anyhow::Result<(Vec<mesh::api::ServiceSignal>, Vec<mesh::api::EdgeSignal>)> {
    let list = c
        .console
        .workloads(Empty {})
        .await
        .map_err(status_error)?
        .into_inner();
    let admins: Vec<String> = list
        .workloads
        .iter()
        .filter(|w| w.ready)
        .filter_map(|w| w.addresses.as_ref().and_then(|a| a.admin.clone()))
        .collect();
    let mut signals = mesh::api::Signals::new(window as f64 + 5.0);
    let started = now_s();
    for i in 0..=window {
        let at = now_s();
        let scrapes = futures::future::join_all(admins.iter().map(|a| {
            mesh::api::util::get_text(a, "/stats/prometheus", std::time::Duration::from_secs(2))
        }))
        .await;
        for (a, text) in admins.iter().zip(scrapes) {
            if let Ok(t) = text {
                let _ = signals.ingest(a, at, &t);
            }
        }
        if i < window {
            let next = started + (i + 1) as f64;
            let wait = (next - now_s()).max(0.0);
            tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
        }
    }
    let now = now_s() + 0.001;
    let mut rows = signals.services(now - started + 0.5, now);
    let edges = signals.edges(now - started + 0.5, now);
    let latency = c
        .console
        .latency(mesh::api::LatencyRequest {
            window_s: window.clamp(1, 60) as u32,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let exact: Vec<mesh::api::EdgeStat> = mesh::api::decode(&latency).unwrap_or_default();
    mesh::api::merge_exact(&mut rows, &exact);
    Ok((rows, edges))
}

pub fn services_table(rows: &[mesh::api::ServiceSignal]) -> String {
    let ms = |v: f64| format!("{v:.1}");
    let exact = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let live = r.has_traffic();
            let or_dash = |s: String| if live { s } else { "-".into() };
            vec![
                r.cluster.clone(),
                format!("{}/{}", r.namespace, r.service),
                r.version.clone(),
                format!("{:.1}", r.rps),
                or_dash(format!("{:.1}%", r.success_rate * 100.0)),
                or_dash(ms(r.p50_ms)),
                or_dash(ms(r.p90_ms)),
                or_dash(ms(r.p99_ms)),
                or_dash(exact(r.exact_p99_ms)),
                or_dash(format!("{:.0}%", r.mtls_ratio * 100.0)),
            ]
        })
        .collect();
    output::table(
        &[
            "CLUSTER",
            "SERVICE",
            "VERSION",
            "RPS",
            "SUCCESS",
            "P50 ms",
            "P90 ms",
            "P99 ms",
            "P99 exact",
            "mTLS",
        ],
        &table,
    )
}

fn event_line(e: &mesh::api::Event) -> String {
    let when = time::OffsetDateTime::from_unix_timestamp_nanos(e.unix_ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .ok()
        })
        .unwrap_or_default();
    format!(
        "{when}  {:<14} {:<4} {:<40} {}",
        e.kind, e.cluster, e.source, e.message
    )
}

pub fn traces_table(traces: &[mesh::api::Trace]) -> String {
    let rows: Vec<Vec<String>> = traces
        .iter()
        .map(|t| {
            vec![
                t.trace_id.clone(),
                format!("{:.1}", t.duration_ms),
                t.spans.len().to_string(),
                t.clusters.join(","),
                t.status().to_string(),
                t.root_label(),
            ]
        })
        .collect();
    output::table(
        &["TRACE ID", "MS", "SPANS", "CLUSTERS", "STATUS", "ROOT"],
        &rows,
    )
}

fn federation_text(v: &mesh::api::FederationStatus) -> String {
    let short = |fp: &str| fp.chars().take(16).collect::<String>();
    let mut s = String::new();
    for c in &v.clusters {
        s.push_str(&format!(
            "cluster {} (trust domain {}, root {}...)\n",
            c.cluster,
            c.trust_domain,
            short(&c.root_fingerprint)
        ));
        s.push_str(&format!(
            "  east-west gateway: {} ({})\n",
            c.eastwest_gateway.as_deref().unwrap_or("none"),
            if c.gateway_reachable {
                "reachable"
            } else {
                "NOT reachable"
            }
        ));
        for (peer, up) in &c.links {
            s.push_str(&format!(
                "  control-plane link to {peer}: {}\n",
                if *up {
                    "up"
                } else {
                    "DOWN (serving on the last known endpoints)"
                }
            ));
        }
        for (td, fps) in &c.trust_bundles {
            let fp: Vec<String> = fps.iter().map(|f| short(f)).collect();
            s.push_str(&format!("  trusts {td}: {}\n", fp.join(", ")));
        }
        let exported: Vec<String> = c
            .exported_services
            .iter()
            .map(|e| format!("{} ({} endpoints)", e.service, e.endpoints))
            .collect();
        s.push_str(&format!("  exports: {}\n", exported.join(", ")));
        for (cluster, svcs) in &c.remote_endpoints {
            let list: Vec<String> = svcs
                .iter()
                .map(|(n, r)| {
                    format!(
                        "{n} ×{} via {}",
                        r.endpoints,
                        r.via.as_deref().unwrap_or("direct")
                    )
                })
                .collect();
            s.push_str(&format!("  from {cluster}: {}\n", list.join(", ")));
        }
    }
    if v.warnings.is_empty() {
        s.push_str("no warnings: roots agree, bundles exchanged, gateways reachable\n");
    }
    for w in &v.warnings {
        s.push_str(&format!("WARNING: {w}\n"));
    }
    s
}

/// Identities (SPIFFE ID, certificate) as a table.
pub fn identities_rows(workloads: &[mesh::api::Workload]) -> String {
    let rows: Vec<Vec<String>> = workloads
        .iter()
        .map(|w| {
            vec![
                w.instance.clone(),
                or_dash(&w.spiffe_id),
                or_dash(&w.cert_serial.chars().take(16).collect::<String>()),
                if w.cert_not_after.is_empty() {
                    "-".into()
                } else {
                    until(&w.cert_not_after)
                },
                w.rotations.to_string(),
            ]
        })
        .collect();
    output::table(
        &["INSTANCE", "SPIFFE ID", "SERIAL", "EXPIRES IN", "ROTATIONS"],
        &rows,
    )
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// Per caller and service version: the edges of the graph.
pub fn edges_table(edges: &[mesh::api::EdgeSignal]) -> String {
    let rows: Vec<Vec<String>> = edges
        .iter()
        .map(|e| {
            vec![
                e.source.clone(),
                or_dash(&e.source_cluster),
                e.service.clone(),
                or_dash(&e.version),
                or_dash(&e.destination_cluster),
                format!("{:.1}", e.rps),
                format!("{:.1}%", e.error_rate * 100.0),
                format!("{:.1}", e.p99_ms),
                format!("{:.0}%", e.mtls_ratio * 100.0),
                format!("{:.1}%", e.overflow_rate * 100.0),
            ]
        })
        .collect();
    output::table(
        &[
            "SOURCE", "FROM", "SERVICE", "VERSION", "TO", "RPS", "ERRORS", "P99 ms", "mTLS",
            "OVERFLOW",
        ],
        &rows,
    )
}

/// Resources in the asked format (`routes` lists the routing kinds only).
pub fn resources_out(text: &str, what: GetWhat, format: Format) -> anyhow::Result<String> {
    let out = mesh::api::config::parse("-", text);
    let routing = [
        "VirtualService",
        "DestinationRule",
        "Gateway",
        "ServiceEntry",
    ];
    let values: Vec<_> = out
        .resources
        .iter()
        .map(|p| &p.resource)
        .filter(|r| what != GetWhat::Routes || routing.contains(&r.key().kind.as_str()))
        .collect();
    Ok(match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = values
                .iter()
                .map(|r| {
                    let k = r.key();
                    vec![k.kind, k.namespace, k.name]
                })
                .collect();
            if rows.is_empty() {
                "no resources (every service uses its default route)\n".into()
            } else {
                output::table(&["KIND", "NAMESPACE", "NAME"], &rows)
            }
        }
        Format::Yaml => {
            let owned: Vec<_> = values.into_iter().cloned().collect();
            mesh::api::config::to_yaml(&owned)
        }
        Format::Json => output::structured(&values, Format::Json)?,
    })
}
