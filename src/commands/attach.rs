//! `meshcon attach` and `meshcon get` on a real Istio or Linkerd mesh: the
//! flags that name its parts (Prometheus, proxies to scrape, a trace
//! receiver, kubectl or a resources file) and the one-shot reads `get`
//! makes of them.

use std::process::ExitCode;
use std::time::Duration;

use mesh::api::attach::Dialect;
use mesh::api::realmesh;

use crate::cli::GetWhat;
use crate::commands::get::{self, GetOptions};
use crate::output::{self, Format};
use crate::tui::source::RealMesh;

/// `meshcon attach` with real-mesh flags: the console on that mesh.
pub async fn attach(real: RealMesh, state_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    // A wrong URL or a Prometheus without mesh series is said before the
    // screen changes; later failures show in the footer and are retried.
    if let Some(p) = &real.prometheus {
        if real.dialect.is_none() {
            p.detect().await?;
        }
    }
    crate::tui::run(
        crate::tui::source::Source::Real(Box::new(real)),
        false,
        crate::tui::action::View::Graph,
        state_dir,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// How long one read of a real mesh's endpoint may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What one read of a real mesh learned, for `get`.
struct Snapshot {
    services: Vec<mesh::api::ServiceSignal>,
    edges: Vec<mesh::api::EdgeSignal>,
    workloads: Vec<mesh::api::Workload>,
    dialect: Option<Dialect>,
}

async fn snapshot(real: &RealMesh, window: u64) -> anyhow::Result<Snapshot> {
    if let Some(p) = &real.prometheus {
        let d = match real.dialect {
            Some(d) => d,
            None => p.detect().await?,
        };
        let s = p.signals(d, window.max(2)).await?;
        return Ok(Snapshot {
            services: s.services,
            edges: s.edges,
            workloads: s.workloads,
            dialect: Some(d),
        });
    }
    if real.scrape.is_empty() {
        anyhow::bail!("no metrics source: give --prometheus URL or --scrape HOST:PORT");
    }
    // Rates need two scrapes or more: one a second over the window.
    let mut signals = mesh::api::Signals::new(window as f64 + 5.0);
    let started = get::now_s();
    let mut errors = Vec::new();
    for i in 0..=window.max(1) {
        let at = get::now_s();
        errors.clear();
        for t in &real.scrape {
            match crate::tui::source::real::scrape(t).await {
                Ok(text) => {
                    if let Err(e) = signals.ingest(t, at, &text) {
                        errors.push(format!("{t}: {e}"));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.len() == real.scrape.len() {
            anyhow::bail!("{}", errors.join("; "));
        }
        if i < window.max(1) {
            let wait = (started + (i + 1) as f64 - get::now_s()).max(0.0);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
    for e in &errors {
        eprintln!("meshcon: {e}");
    }
    let now = get::now_s() + 0.001;
    let services = signals.services(now - started + 0.5, now);
    let edges = signals.edges(now - started + 0.5, now);
    let workloads = crate::tui::source::real::workloads_seen(&services, &edges);
    Ok(Snapshot {
        services,
        edges,
        workloads,
        dialect: Some(Dialect::Istio),
    })
}

/// `meshcon get WHAT` on a real mesh.
pub async fn get(real: RealMesh, what: GetWhat, o: GetOptions) -> anyhow::Result<ExitCode> {
    let out = match what {
        GetWhat::Identities
            if real.prometheus.is_none()
                && real.scrape.is_empty()
                && (!real.envoy_admin.is_empty() || real.config_dump.is_some()) =>
        {
            let (workloads, domains, errors) = crate::tui::source::real::identities(&real).await;
            if workloads.is_empty() && !errors.is_empty() {
                anyhow::bail!("{}", errors.join("; "));
            }
            for e in errors {
                eprintln!("meshcon: {e}");
            }
            match o.output {
                Format::Table => {
                    let mut t = get::identities_rows(&workloads);
                    for d in domains {
                        t.push_str(&format!(
                            "trust anchor: {} ({}), valid until {}\n",
                            d.trust_domain, d.root_fingerprint, d.root_not_after
                        ));
                    }
                    t
                }
                f => output::structured(&workloads, f)?,
            }
        }
        GetWhat::Services | GetWhat::Edges | GetWhat::Workloads | GetWhat::Identities => {
            let s = snapshot(&real, o.window).await?;
            if let (Some(d), true) = (s.dialect, o.output == Format::Table) {
                let how = if real.dialect.is_some() {
                    "dialect as given"
                } else {
                    "dialect detected from the series"
                };
                eprintln!("{} · {how}", real.label(Some(d)));
            }
            match (what, o.output) {
                (GetWhat::Services, Format::Table) => get::services_table(&s.services),
                (GetWhat::Services, f) => output::structured(&s.services, f)?,
                (GetWhat::Edges, Format::Table) => get::edges_table(&s.edges),
                (GetWhat::Edges, f) => output::structured(&s.edges, f)?,
                (GetWhat::Workloads, Format::Table) => {
                    get::workloads_rows(&s.workloads, &Default::default())
                }
                (GetWhat::Identities, Format::Table) => get::identities_rows(&s.workloads),
                (_, f) => output::structured(&s.workloads, f)?,
            }
        }
        GetWhat::Routes | GetWhat::Resources => {
            let text = match (&real.resources_file, &real.kubectl) {
                (Some(f), _) => std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
                (None, Some(k)) => k.resources().await?,
                (None, None) => anyhow::bail!(
                    "no config source: give --resources FILE, or --context/--kubeconfig for kubectl"
                ),
            };
            get::resources_out(&text, what, o.output)?
        }
        GetWhat::Traces => {
            let mut traces = Vec::new();
            if let Some(base) = &real.jaeger {
                for svc in realmesh::jaeger::services(base, TIMEOUT).await? {
                    if o.service.as_ref().is_none_or(|s| *s == svc) {
                        traces
                            .extend(realmesh::jaeger::traces(base, &svc, o.limit, TIMEOUT).await?);
                    }
                }
            }
            let receivers = [real.otlp_listen, real.zipkin_listen];
            if receivers.iter().any(Option::is_some) {
                let store = mesh::api::TraceStore::default();
                let cancel = tokio_util::sync::CancellationToken::new();
                let window = o.window.max(1);
                let mut servers = Vec::new();
                for (addr, zipkin) in [(real.otlp_listen, false), (real.zipkin_listen, true)] {
                    let Some(addr) = addr else { continue };
                    let listener = realmesh::listen(&addr.to_string()).await?;
                    let (store, cancel) = (store.clone(), cancel.clone());
                    servers.push(tokio::spawn(async move {
                        if zipkin {
                            realmesh::serve_zipkin(listener, store, cancel).await;
                        } else if let Err(e) = realmesh::serve_otlp(listener, store, cancel).await {
                            eprintln!("meshcon: OTLP receiver on {addr}: {e}");
                        }
                    }));
                }
                eprintln!("receiving spans for {window} s (--window sets how long)...");
                tokio::time::sleep(Duration::from_secs(window)).await;
                cancel.cancel();
                for s in servers {
                    let _ = s.await;
                }
                traces.extend(store.query(&mesh::api::TraceStoreQuery {
                    trace_id: o.trace_id.clone(),
                    service: o.service.clone(),
                    min_duration_ms: o.min_ms as f64,
                    errors_only: o.errors,
                    limit: o.limit as usize,
                }));
            }
            if real.jaeger.is_none() && receivers.iter().all(Option::is_none) {
                anyhow::bail!("traces from a real mesh: give --jaeger URL, or --otlp-listen / --zipkin-listen and point the mesh's tracer at it");
            }
            traces.retain(|t| {
                o.trace_id.as_ref().is_none_or(|id| *id == t.trace_id)
                    && (!o.errors || t.spans.iter().any(|s| s.error))
                    && t.duration_ms >= o.min_ms as f64
            });
            match o.output {
                Format::Table => get::traces_table(&traces),
                f => output::structured(&traces, f)?,
            }
        }
        other => {
            eprintln!(
                "meshcon: `get {}` reads a meshcon mesh; on a real mesh, `get` shows services, edges, workloads, identities, routes, resources and traces",
                clap::ValueEnum::to_possible_value(&other)
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default()
            );
            return Ok(ExitCode::from(2));
        }
    };
    crate::out!("{out}");
    Ok(ExitCode::SUCCESS)
}
