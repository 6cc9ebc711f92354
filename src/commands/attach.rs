//! `meshcon attach` and `meshcon get` on a real Istio or Linkerd mesh: the
//! flags that name its parts (Prometheus, proxies to scrape, a trace
//! receiver, kubectl or a resources file) and the one-shot reads `get`
//! makes of them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use mesh::api::attach::{Auth, Dialect, Endpoint, Kubectl, Prometheus};

use crate::cli::GetWhat;
use crate::commands::get::{self, GetOptions};
use crate::output::{self, Format};
use crate::tui::source::RealMesh;

/// Where a real mesh's data comes from (`attach` and `get` take the same flags).
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// The mesh's Prometheus: http(s)://HOST:PORT[/prefix].
    #[arg(long, env = "MESHCON_PROMETHEUS", value_name = "URL")]
    pub prometheus: Option<String>,
    /// The metrics' dialect (default: detected from the series present).
    #[arg(long, value_name = "istio|linkerd", value_parser = dialect)]
    pub dialect: Option<Dialect>,
    /// A bearer token for Prometheus.
    #[arg(
        long,
        env = "MESHCON_PROMETHEUS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub prometheus_token: Option<String>,
    /// A file holding the bearer token (a service account's, say).
    #[arg(long, env = "MESHCON_PROMETHEUS_TOKEN_FILE", value_name = "FILE")]
    pub prometheus_token_file: Option<PathBuf>,
    /// Basic auth for Prometheus, USER:PASSWORD.
    #[arg(
        long,
        env = "MESHCON_PROMETHEUS_BASIC_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    pub prometheus_basic_auth: Option<String>,
    /// CA certificates (PEM) to trust for an https Prometheus.
    #[arg(long, env = "MESHCON_PROMETHEUS_CA", value_name = "FILE")]
    pub prometheus_ca: Option<PathBuf>,
    /// Without Prometheus: scrape a proxy's metrics directly (Envoy
    /// HOST:15090 or HOST:15020, or a full URL); repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    pub scrape: Vec<String>,
    /// A file listing scrape targets, one per line.
    #[arg(long, value_name = "FILE")]
    pub scrape_file: Option<PathBuf>,
    /// Receive OTLP/gRPC spans from the mesh's proxies here [default: 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:4317")]
    pub otlp_listen: Option<SocketAddr>,
    /// The kubectl context to read config from and apply edits to.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig file (default: kubectl's own: $KUBECONFIG, ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Read Istio resources from this file (a `kubectl get -o yaml|json`
    /// List or multi-document YAML) instead of the cluster.
    #[arg(long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Never change the cluster: edits are written to files.
    #[arg(long)]
    pub read_only: bool,
}

fn dialect(s: &str) -> Result<Dialect, String> {
    s.parse()
}

impl SourceArgs {
    /// The real mesh these flags describe, or None when none was given
    /// (the console then talks to a meshcon mesh).
    pub fn real(&self, state_dir: &std::path::Path) -> anyhow::Result<Option<RealMesh>> {
        let mut real = RealMesh {
            dialect: self.dialect,
            otlp_listen: self.otlp_listen,
            resources_file: self.resources.clone(),
            read_only: self.read_only,
            edits_dir: state_dir.join("edits"),
            ..Default::default()
        };
        if let Some(url) = &self.prometheus {
            let mut endpoint = Endpoint::parse(url)?;
            endpoint.ca = self.prometheus_ca.clone();
            endpoint.auth = if let Some(t) = &self.prometheus_token {
                Auth::Bearer(t.clone())
            } else if let Some(f) = &self.prometheus_token_file {
                let t = std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("--prometheus-token-file {}: {e}", f.display()))?;
                Auth::Bearer(t.trim().to_string())
            } else if let Some(b) = &self.prometheus_basic_auth {
                let (user, password) = b.split_once(':').ok_or_else(|| {
                    anyhow::anyhow!("--prometheus-basic-auth takes USER:PASSWORD")
                })?;
                Auth::Basic {
                    user: user.into(),
                    password: password.into(),
                }
            } else {
                Auth::None
            };
            real.prometheus = Some(Prometheus { endpoint });
        }
        real.scrape = self.scrape.clone();
        if let Some(f) = &self.scrape_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("--scrape-file {}: {e}", f.display()))?;
            real.scrape.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        // The cluster's config through kubectl when the user has one set up
        // (a file given instead wins); edits need it too.
        let kube_configured = self.context.is_some()
            || self.kubeconfig.is_some()
            || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
            || std::env::var_os("HOME")
                .is_some_and(|h| PathBuf::from(h).join(".kube/config").exists());
        if kube_configured {
            real.kubectl = Some(Kubectl {
                context: self.context.clone(),
                kubeconfig: self.kubeconfig.clone(),
                ..Default::default()
            });
        }
        let asked = real.prometheus.is_some()
            || !real.scrape.is_empty()
            || real.otlp_listen.is_some()
            || real.resources_file.is_some()
            || self.context.is_some()
            || self.kubeconfig.is_some();
        Ok(asked.then_some(real))
    }
}

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
        GetWhat::Services | GetWhat::Edges | GetWhat::Workloads | GetWhat::Identities => {
            let s = snapshot(&real, o.window).await?;
            if let (Some(d), true) = (s.dialect, o.output == Format::Table) {
                eprintln!(
                    "{} · {}",
                    real.label(Some(d)),
                    "dialect detected from the series"
                );
            }
            match (what, o.output) {
                (GetWhat::Services, Format::Table) => get::services_table(&s.services),
                (GetWhat::Services, f) => output::structured(&s.services, f)?,
                (GetWhat::Edges, Format::Table) => get::edges_table(&s.edges),
                (GetWhat::Edges, f) => output::structured(&s.edges, f)?,
                (GetWhat::Workloads, Format::Table) => get::workloads_rows(&s.workloads),
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
            let Some(addr) = real.otlp_listen else {
                anyhow::bail!("traces from a real mesh: give --otlp-listen ADDR and point the mesh's tracer at it");
            };
            let store = mesh::api::TraceStore::default();
            let listener = mesh::api::attach::bind_otlp(addr).await?;
            let window = o.window.max(1);
            eprintln!("receiving OTLP spans on {addr} for {window} s (--window sets how long)...");
            let server = mesh::api::attach::serve_otlp(
                listener,
                store.clone(),
                tokio::time::sleep(Duration::from_secs(window)),
            );
            server.await?;
            let traces = store.query(&mesh::api::TraceStoreQuery {
                trace_id: o.trace_id.clone(),
                service: o.service.clone(),
                min_duration_ms: o.min_ms as f64,
                errors_only: o.errors,
                limit: o.limit as usize,
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
