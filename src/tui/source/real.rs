//! The real-mesh source: an Istio or Linkerd mesh the console did not
//! start, read through the parts such a mesh already has: its Prometheus
//! (or direct scrapes of its proxies), trace receivers its proxies send to,
//! and the user's own kubectl for config. Edits go to the cluster with a
//! server-side dry run first, or to a file in read-only mode.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mesh::api::attach::{Dialect, Kubectl, Prometheus};
use mesh::api::realmesh;
use mesh::api::{ApplyReply, HistoryEntry, TraceStore, TraceStoreQuery, WorkloadList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::commands::proxy_config;
use crate::tui::data::{now_s, send, Command, DataEvent, RECENT};
use crate::tui::data::{Feature, SourceInfo};

/// How often figures are refreshed.
const POLL: Duration = Duration::from_secs(2);

/// Everything the console reads a real mesh from; any part may be absent.
#[derive(Debug, Clone, Default)]
pub struct RealMesh {
    /// The mesh's Prometheus.
    pub prometheus: Option<Prometheus>,
    /// Istio or Linkerd; detected from the series when not given.
    pub dialect: Option<Dialect>,
    /// Proxies to scrape directly (HOST:PORT of `/stats/prometheus`).
    pub scrape: Vec<String>,
    /// Where to receive OTLP/gRPC spans.
    pub otlp_listen: Option<SocketAddr>,
    /// Where to receive Zipkin v2 JSON spans.
    pub zipkin_listen: Option<SocketAddr>,
    /// An existing Jaeger's HTTP API to read traces from.
    pub jaeger: Option<String>,
    /// Envoy admin addresses, for certificates.
    pub envoy_admin: Vec<String>,
    /// A saved Envoy config dump, for certificates.
    pub config_dump: Option<PathBuf>,
    /// The user's kubectl, for config and edits.
    pub kubectl: Option<Kubectl>,
    /// Resources read from a file instead of the cluster.
    pub resources_file: Option<PathBuf>,
    /// Never change the cluster: edits are written to files.
    pub read_only: bool,
    /// Where read-only edits are written.
    pub edits_dir: PathBuf,
}

impl RealMesh {
    /// What the footer says, e.g. `prometheus http://127.0.0.1:9090 · istio`.
    pub fn label(&self, dialect: Option<Dialect>) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.prometheus {
            parts.push(format!("prometheus {}", p.endpoint.url()));
        }
        if !self.scrape.is_empty() {
            parts.push(format!(
                "scraping {}",
                if self.scrape.len() == 1 {
                    self.scrape[0].clone()
                } else {
                    format!("{} proxies", self.scrape.len())
                }
            ));
        }
        if !self.envoy_admin.is_empty() {
            parts.push(format!("envoy admin ×{}", self.envoy_admin.len()));
        }
        if let Some(f) = &self.config_dump {
            let name = f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            parts.push(format!("config dump {name}"));
        }
        if let Some(j) = &self.jaeger {
            parts.push(format!("jaeger {j}"));
        }
        if let Some(d) = dialect.or(self.dialect) {
            parts.push(d.as_str().to_string());
        }
        if let Some(f) = &self.resources_file {
            parts.push(format!("config {}", f.display()));
        } else if let Some(k) = &self.kubectl {
            parts.push(match &k.context {
                Some(c) => format!("kubectl {c}"),
                None => "kubectl".into(),
            });
        }
        if self.read_only {
            parts.push("read-only".into());
        }
        if parts.is_empty() {
            "a real mesh".into()
        } else {
            parts.join(" · ")
        }
    }

    /// The Envoy config dumps to read (admin addresses, a saved file).
    pub fn dump_sources(&self) -> proxy_config::Sources {
        proxy_config::Sources {
            envoy_admin: self.envoy_admin.clone(),
            config_dump: self.config_dump.clone(),
        }
    }

    /// What this source is and what it cannot do.
    pub fn info(&self, dialect: Option<Dialect>) -> SourceInfo {
        let playground =
            "a real cluster is not the playground: meshcon does not break it on purpose";
        SourceInfo {
            label: self.label(dialect),
            real: true,
            missing: vec![
                (Feature::Chaos, playground.into()),
                (Feature::Scenarios, playground.into()),
                (
                    Feature::Why,
                    "Why reads a meshcon proxy's compiled config; on a real mesh use `meshcon get proxy-config route --envoy-admin HOST:PORT`".into(),
                ),
                (
                    Feature::Versions,
                    "the cluster keeps no config versions of meshcon's; History lists what this console applied".into(),
                ),
                (
                    Feature::Tap,
                    "real proxies have no tap stream; Traces shows sampled requests".into(),
                ),
                (
                    Feature::Events,
                    "real control planes publish no event stream meshcon reads".into(),
                ),
            ],
        }
    }
}

/// The config history this console made on a real cluster.
#[derive(Debug, Default)]
struct History {
    entries: Vec<HistoryEntry>,
}

/// Starts the tasks that read `real` and carry out `commands` on it.
pub fn spawn<E: From<DataEvent> + Send + 'static>(
    real: RealMesh,
    mut commands: mpsc::Receiver<Command>,
    tx: mpsc::Sender<E>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let _ = tx.try_send(E::from(DataEvent::Attached(real.info(None))));
    let store = TraceStore::default();
    for (addr, zipkin) in [(real.otlp_listen, false), (real.zipkin_listen, true)] {
        let Some(addr) = addr else { continue };
        let tx = tx.clone();
        let store = store.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let listener = match realmesh::listen(&addr.to_string()).await {
                Ok(l) => l,
                Err(e) => {
                    send(&tx, DataEvent::Note(format!("trace receiver: {e}"))).await;
                    return;
                }
            };
            if zipkin {
                realmesh::serve_zipkin(listener, store, cancel).await;
            } else if let Err(e) = realmesh::serve_otlp(listener, store, cancel).await {
                send(
                    &tx,
                    DataEvent::Note(format!("OTLP receiver on {addr}: {e}")),
                )
                .await;
            }
        });
    }
    let history = std::sync::Arc::new(parking_lot::Mutex::new(History::default()));
    let window = super::Window::new();
    {
        let real = real.clone();
        let tx = tx.clone();
        let history = history.clone();
        let window = window.clone();
        tokio::spawn(async move {
            while let Some(cmd) = commands.recv().await {
                if let Command::SetWindow(w) = cmd {
                    window.set(w);
                    continue;
                }
                let ev = run_command(&real, &history, cmd).await;
                let applied = matches!(ev, DataEvent::Applied(Ok(_)));
                if applied {
                    refresh_config(&real, &history, &tx).await;
                }
                send(&tx, ev).await;
            }
        });
    }
    tokio::spawn(async move {
        let mut dialect = real.dialect;
        let mut signals = super::History::default();
        let mut slow = Slow::default();
        let mut tick: u64 = 0;
        loop {
            // Certificates and an outside Jaeger change slowly: read every 10 s.
            if tick.is_multiple_of(5) {
                slow.refresh(&real, &tx).await;
            }
            if !poll(
                &real,
                &mut dialect,
                &mut signals,
                &slow,
                window.get(),
                &store,
                &tx,
            )
            .await
            {
                return;
            }
            if tick.is_multiple_of(5) {
                refresh_config(&real, &history, &tx).await;
            }
            tick += 1;
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    });
    Ok(())
}

/// What is read every few rounds rather than every round.
#[derive(Debug, Default)]
struct Slow {
    /// Proxies' certificates and trust anchors from Envoy admin, and what
    /// could not be read.
    identities: (
        Vec<mesh::api::Workload>,
        Vec<mesh::api::TrustDomain>,
        Vec<String>,
    ),
    /// An outside Jaeger's newest traces.
    jaeger: Vec<mesh::api::Trace>,
}

impl Slow {
    async fn refresh<E: From<DataEvent>>(&mut self, real: &RealMesh, tx: &mpsc::Sender<E>) {
        self.identities = identities(real).await;
        if let Some(base) = &real.jaeger {
            match jaeger_traces(base).await {
                Ok(t) => self.jaeger = t,
                Err(e) => {
                    send(tx, DataEvent::Note(format!("jaeger {base}: {e}"))).await;
                }
            }
        }
    }
}

/// One round of reading; false once the UI is gone.
async fn poll<E: From<DataEvent>>(
    real: &RealMesh,
    dialect: &mut Option<Dialect>,
    signals: &mut super::History,
    slow: &Slow,
    window: f64,
    store: &TraceStore,
    tx: &mpsc::Sender<E>,
) -> bool {
    let mut workloads = Vec::new();
    let mut services = Vec::new();
    let mut edges = Vec::new();
    let mut recent_edges = Vec::new();
    let mut failure = None;
    if let Some(p) = &real.prometheus {
        let known = *dialect;
        let d = match known {
            Some(d) => Ok(d),
            None => p.detect().await,
        };
        match d {
            Ok(d) => {
                if known.is_none() {
                    *dialect = Some(d);
                    send(tx, DataEvent::Attached(real.info(Some(d)))).await;
                }
                match (
                    p.signals(d, window as u64).await,
                    p.edges(d, RECENT as u64).await,
                ) {
                    (Ok(all), Ok(recent)) => {
                        workloads = all.workloads;
                        services = all.services;
                        edges = all.edges;
                        recent_edges = recent;
                    }
                    (Err(e), _) | (_, Err(e)) => failure = Some(e.to_string()),
                }
            }
            Err(e) => failure = Some(e.to_string()),
        }
    } else if !real.scrape.is_empty() {
        let at = now_s();
        let mut errors = Vec::new();
        for target in &real.scrape {
            match scrape(target).await {
                Ok(text) => {
                    if let Err(e) = signals.ingest(target, at, &text) {
                        errors.push(format!("{target}: {e}"));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let now = now_s();
        (services, edges) = signals.services_and_edges(window, now);
        recent_edges = signals.edges(RECENT, now);
        workloads = workloads_seen(&services, &edges);
        if errors.len() == real.scrape.len() {
            failure = Some(errors.join("; "));
        } else if !errors.is_empty() {
            send(tx, DataEvent::Note(errors.join("; "))).await;
        }
    }
    let (certs, trust_domains, cert_errors) = slow.identities.clone();
    if real.prometheus.is_none()
        && real.scrape.is_empty()
        && !cert_errors.is_empty()
        && certs.is_empty()
    {
        failure = failure.or(Some(cert_errors.join("; ")));
    } else if !cert_errors.is_empty() {
        send(tx, DataEvent::Note(cert_errors.join("; "))).await;
    }
    if let Some(why) = failure {
        return send(tx, DataEvent::Disconnected(why)).await;
    }
    // A proxy's certificate completes the workload its metrics named.
    for c in certs {
        match workloads.iter_mut().find(|w| {
            !c.spiffe_id.is_empty() && w.spiffe_id == c.spiffe_id && w.cert_serial.is_empty()
        }) {
            Some(w) => {
                w.cert_serial = c.cert_serial;
                w.cert_not_after = c.cert_not_after;
                w.issuer = c.issuer;
            }
            None => workloads.push(c),
        }
    }
    let label = real.label(*dialect);
    send(
        tx,
        DataEvent::Connected {
            mesh: label.clone(),
        },
    )
    .await;
    let topology = mesh::api::attach::observed_topology(&label, &services, &edges, &workloads);
    send(tx, DataEvent::Topology(Box::new(topology))).await;
    let list = WorkloadList {
        workloads,
        mesh: label,
        trust_domains,
    };
    if !send(tx, DataEvent::Workloads(list)).await {
        return false;
    }
    send(
        tx,
        DataEvent::Signals {
            services,
            edges,
            recent_edges,
            at: now_s(),
        },
    )
    .await;
    let mut traces = store.query(&TraceStoreQuery {
        limit: 150,
        ..Default::default()
    });
    if !slow.jaeger.is_empty() {
        traces.extend(slow.jaeger.iter().cloned());
        traces.sort_by(|a, b| b.start_unix_ms.total_cmp(&a.start_unix_ms));
        traces.dedup_by(|a, b| a.trace_id == b.trace_id);
    }
    if !traces.is_empty() {
        send(tx, DataEvent::Traces(traces)).await;
    }
    true
}

/// The newest traces of every service an existing Jaeger knows (at most
/// ten services, twenty traces each: a console, not an export).
async fn jaeger_traces(base: &str) -> Result<Vec<mesh::api::Trace>, String> {
    let t = Duration::from_secs(3);
    let services = realmesh::jaeger::services(base, t)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for s in services.iter().take(10) {
        out.extend(
            realmesh::jaeger::traces(base, s, 20, t)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

/// Workload certificates and trust anchors from Envoy admin addresses or a
/// saved config dump (what `istioctl proxy-config secret` shows), and what
/// could not be read.
pub async fn identities(
    real: &RealMesh,
) -> (
    Vec<mesh::api::Workload>,
    Vec<mesh::api::TrustDomain>,
    Vec<String>,
) {
    let (dumps, errors) = proxy_config::dumps(&real.dump_sources()).await;
    let mut workloads = Vec::new();
    let mut domains: Vec<mesh::api::TrustDomain> = Vec::new();
    for (from, dump) in dumps {
        for s in &dump.secrets {
            let domain = |id: &str| {
                id.strip_prefix("spiffe://")
                    .and_then(|r| r.split('/').next())
                    .unwrap_or_default()
                    .to_string()
            };
            if s.root_ca {
                let td = s
                    .chain
                    .first()
                    .and_then(|c| c.spiffe_id.as_deref())
                    .map(domain)
                    .unwrap_or_default();
                if !domains.iter().any(|d| d.root_not_after == s.not_after) {
                    domains.push(mesh::api::TrustDomain {
                        cluster: String::new(),
                        trust_domain: td,
                        root_fingerprint: format!("serial {}", s.serial),
                        root_not_after: s.not_after.clone(),
                        mtls_mode: String::new(),
                    });
                }
                continue;
            }
            let Some(id) = &s.spiffe_id else { continue };
            if s.state != "ACTIVE" {
                continue;
            }
            let sa = id.rsplit('/').next().unwrap_or_default();
            let ns = id
                .split("/ns/")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .unwrap_or_default();
            workloads.push(mesh::api::Workload {
                kind: "sidecar".into(),
                namespace: ns.into(),
                service: sa.into(),
                instance: from.clone(),
                spiffe_id: id.clone(),
                ready: s.valid,
                cert_not_after: s.not_after.clone(),
                cert_serial: s.serial.clone(),
                issuer: s
                    .chain
                    .first()
                    .map(|c| c.issuer.clone())
                    .unwrap_or_default(),
                ..Default::default()
            });
        }
    }
    (workloads, domains, errors)
}

/// Reads one proxy's exposition, bounded in size and time.
pub async fn scrape(target: &str) -> Result<String, String> {
    realmesh::scrape(target, Duration::from_secs(2))
        .await
        .map(|e| e.text)
        .map_err(|e| {
            let e = e.to_string();
            if e.contains(target) {
                e
            } else {
                format!("{target}: {e}")
            }
        })
}

/// Workloads named by scraped series: the versions that answered and the callers.
pub fn workloads_seen(
    services: &[mesh::api::ServiceSignal],
    edges: &[mesh::api::EdgeSignal],
) -> Vec<mesh::api::Workload> {
    let mut out: Vec<mesh::api::Workload> = Vec::new();
    for s in services {
        let instance = format!("{}-{}", s.service, s.version);
        if !out
            .iter()
            .any(|w| w.instance == instance && w.cluster == s.cluster)
        {
            out.push(mesh::api::Workload {
                kind: "sidecar".into(),
                cluster: s.cluster.clone(),
                namespace: s.namespace.clone(),
                service: s.service.clone(),
                version: s.version.clone(),
                instance,
                ready: true,
                ..Default::default()
            });
        }
    }
    for e in edges {
        if !out.iter().any(|w| w.instance == e.source) {
            out.push(mesh::api::Workload {
                kind: "sidecar".into(),
                cluster: e.source_cluster.clone(),
                service: e.source.clone(),
                instance: e.source.clone(),
                ready: true,
                ..Default::default()
            });
        }
    }
    out
}

async fn resources(real: &RealMesh) -> Result<String, String> {
    if let Some(f) = &real.resources_file {
        let meta = std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?;
        if meta.len() > mesh::api::util::MAX_INPUT_BYTES as u64 {
            return Err(format!(
                "{}: larger than {} bytes",
                f.display(),
                mesh::api::util::MAX_INPUT_BYTES
            ));
        }
        return std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()));
    }
    match &real.kubectl {
        Some(k) => k.resources().await.map_err(|e| e.to_string()),
        None => Ok(String::new()),
    }
}

async fn refresh_config<E: From<DataEvent>>(
    real: &RealMesh,
    history: &parking_lot::Mutex<History>,
    tx: &mpsc::Sender<E>,
) {
    if real.resources_file.is_none() && real.kubectl.is_none() {
        return;
    }
    let version = history.lock().entries.len() as u64;
    match resources(real).await {
        Ok(yaml) => {
            let file = match &real.resources_file {
                Some(f) => f.display().to_string(),
                None => "kubectl".into(),
            };
            let findings = analyze(&file, &yaml);
            send(tx, DataEvent::ConfigFindings(findings)).await;
            send(tx, DataEvent::Resources { yaml, version }).await;
        }
        Err(e) => {
            send(tx, DataEvent::Note(format!("config: {e}"))).await;
        }
    }
    let entries = history.lock().entries.clone();
    send(tx, DataEvent::History(entries)).await;
}

async fn run_command(
    real: &RealMesh,
    history: &parking_lot::Mutex<History>,
    cmd: Command,
) -> DataEvent {
    let info = real.info(real.dialect);
    let unavailable = |f: Feature| {
        DataEvent::Note(format!(
            "{} not available here: {}",
            f.name(),
            info.lacks(f).unwrap_or("this source cannot")
        ))
    };
    match cmd {
        Command::Apply { yaml, file } => match (&real.kubectl, real.read_only) {
            (Some(k), false) => match k.apply(&yaml, true).await {
                Ok(out) => DataEvent::DryRun {
                    yaml,
                    file,
                    output: out.text(),
                    ok: out.ok,
                },
                Err(e) => DataEvent::Applied(Err(e.to_string())),
            },
            _ => match write_edit(&real.edits_dir, &file, &yaml) {
                Ok(path) => DataEvent::Note(format!(
                    "read-only: the edit was written to {} (apply it with kubectl apply -f {})",
                    path.display(),
                    path.display()
                )),
                Err(e) => DataEvent::Applied(Err(format!(
                    "read-only, and the edit could not be written: {e}"
                ))),
            },
        },
        Command::ApplyConfirmed { yaml, file } => {
            let Some(k) = &real.kubectl else {
                return DataEvent::Applied(Err("no kubectl to apply with".into()));
            };
            match k.apply(&yaml, false).await {
                Ok(out) if out.ok => {
                    let mut h = history.lock();
                    let version = h.entries.len() as u64 + 1;
                    let summary = format!("{file}: {}", out.text().replace('\n', "; "));
                    h.entries.push(HistoryEntry {
                        version,
                        unix_time: format!("{}", now_s() as i64),
                        summary: summary.clone(),
                        resources: mesh::api::config::parse(&file, &yaml).resources.len() as u32,
                    });
                    DataEvent::Applied(Ok(ApplyReply {
                        applied: true,
                        version,
                        summary,
                        ..Default::default()
                    }))
                }
                Ok(out) => DataEvent::Applied(Err(format!("kubectl refused: {}", out.text()))),
                Err(e) => DataEvent::Applied(Err(e.to_string())),
            }
        }
        Command::Validate { seq, yaml } => DataEvent::Validated {
            seq,
            findings: analyze("editor", &yaml),
        },
        Command::ProxyConfig(section) => {
            let (dumps, errors) = proxy_config::dumps(&real.dump_sources()).await;
            if dumps.is_empty() && errors.is_empty() {
                return DataEvent::Note(
                    "proxy-config reads Envoy's admin: attach with --envoy-admin HOST:PORT or --config-dump FILE".into(),
                );
            }
            let mut text = String::new();
            for (from, dump) in &dumps {
                text.push_str(&format!(
                    "# {from}\n{}\n",
                    proxy_config::table(section, dump)
                ));
            }
            for e in errors {
                text.push_str(&format!("{e}\n"));
            }
            DataEvent::Look {
                title: format!("proxy-config {}", section.name()),
                text,
            }
        }
        Command::RefreshConfig => DataEvent::Resources {
            yaml: resources(real).await.unwrap_or_default(),
            version: history.lock().entries.len() as u64,
        },
        // Taken by the command loop before it gets here.
        Command::SetWindow(_) | Command::Wait(_) => DataEvent::Note(String::new()),
        Command::Chaos(_) => unavailable(Feature::Chaos),
        Command::Sequence(_) => unavailable(Feature::Scenarios),
        Command::Explain(_) => unavailable(Feature::Why),
        Command::Rollback(_) | Command::Diff(..) => unavailable(Feature::Versions),
        // Written by the progress writer, never sent here.
        Command::SaveProgress(_) => DataEvent::Note(String::new()),
    }
}

/// The analyzer's findings on a real mesh's config. meshcon does not hold
/// the cluster's service registry, so a host it has not seen is a warning
/// there, not an error: the cluster's own dry run is the authority.
fn analyze(file: &str, yaml: &str) -> Vec<mesh::api::Finding> {
    mesh::api::config::analyze_standalone(file, yaml)
        .iter()
        .map(mesh::api::finding)
        .map(|mut f| {
            if f.code == "IST0101" && f.message.starts_with("Referenced host not found") {
                f.level = "Warning".into();
                f.fix = format!(
                    "meshcon does not see the cluster's services; if the host exists there, this is fine ({})",
                    f.fix
                );
            }
            f
        })
        .collect()
}

/// Writes a read-only edit where the user can find it.
fn write_edit(dir: &std::path::Path, file: &str, yaml: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stem: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let path = dir.join(format!(
        "{}-{}.yaml",
        now_s() as u64,
        stem.trim_matches('-')
    ));
    std::fs::write(&path, yaml)?;
    Ok(path)
}

#[cfg(test)]
mod apply_tests {
    use super::*;

    /// A stand-in for kubectl that answers like a cluster that accepts
    /// everything, so the console's side of the flow can be followed.
    fn accepting_kubectl(dir: &std::path::Path) -> Kubectl {
        let script = dir.join("kubectl");
        std::fs::write(
            &script,
            "#!/bin/sh\ncat >/dev/null\ncase \"$*\" in *dry-run*) echo 'virtualservice.networking.istio.io/reviews serverside-applied (server dry run)';; *) echo 'virtualservice.networking.istio.io/reviews serverside-applied';; esac\n",
        )
        .expect("script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Kubectl {
            program: script,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_edit_is_dry_run_then_applied_and_recorded_with_kubectls_words() {
        let dir = tempfile::TempDir::new().expect("dir");
        let real = RealMesh {
            kubectl: Some(accepting_kubectl(dir.path())),
            edits_dir: dir.path().join("edits"),
            ..Default::default()
        };
        let history = parking_lot::Mutex::new(History::default());
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}\n";
        let ev = run_command(
            &real,
            &history,
            Command::Apply {
                yaml: yaml.into(),
                file: "editor".into(),
            },
        )
        .await;
        let DataEvent::DryRun { output, ok, .. } = ev else {
            panic!("a dry run first: {ev:?}");
        };
        assert!(ok && output.contains("server dry run"), "{output}");
        assert!(
            history.lock().entries.is_empty(),
            "nothing recorded by a dry run"
        );
        let ev = run_command(
            &real,
            &history,
            Command::ApplyConfirmed {
                yaml: yaml.into(),
                file: "editor".into(),
            },
        )
        .await;
        assert!(
            matches!(ev, DataEvent::Applied(Ok(ref r)) if r.applied),
            "{ev:?}"
        );
        let h = history.lock();
        assert_eq!(h.entries.len(), 1);
        assert!(
            h.entries[0].summary.contains("serverside-applied"),
            "{:?}",
            h.entries
        );
    }

    #[tokio::test]
    async fn read_only_writes_the_edit_to_a_file_and_says_where() {
        let dir = tempfile::TempDir::new().expect("dir");
        let real = RealMesh {
            kubectl: Some(accepting_kubectl(dir.path())),
            read_only: true,
            edits_dir: dir.path().join("edits"),
            ..Default::default()
        };
        let history = parking_lot::Mutex::new(History::default());
        let ev = run_command(
            &real,
            &history,
            Command::Apply {
                yaml: "kind: VirtualService\n".into(),
                file: "canary on reviews".into(),
            },
        )
        .await;
        let DataEvent::Note(text) = ev else {
            panic!("a note: {ev:?}");
        };
        let path = text
            .split_whitespace()
            .find(|w| w.ends_with(".yaml"))
            .expect("a path in the note");
        assert_eq!(
            std::fs::read_to_string(path).expect("written"),
            "kind: VirtualService\n"
        );
        assert!(history.lock().entries.is_empty());
    }
}
