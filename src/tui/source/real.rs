//! The real-mesh source: an Istio or Linkerd mesh the console did not
//! start, read through the parts such a mesh already has: its Prometheus
//! (or direct scrapes of its proxies), trace receivers its proxies send to,
//! and the user's own kubectl for config. Edits go to the cluster with a
//! server-side dry run first, or to a file in read-only mode.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mesh::api::attach::{Dialect, Endpoint, Kubectl, Prometheus};
use mesh::api::{ApplyReply, HistoryEntry, Signals, TraceStore, TraceStoreQuery, WorkloadList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Feature, SourceInfo};
use crate::tui::data::{now_s, send, Command, DataEvent, RECENT, WINDOW};

/// How often figures are refreshed.
const POLL: Duration = Duration::from_secs(2);
/// Largest exposition read from one scrape target.
pub const MAX_SCRAPE_BYTES: usize = 16 << 20;

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
    /// Whether any real-mesh part was asked for.
    pub fn is_empty(&self) -> bool {
        self.prometheus.is_none()
            && self.scrape.is_empty()
            && self.otlp_listen.is_none()
            && self.kubectl.is_none()
            && self.resources_file.is_none()
    }

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
    if let Some(addr) = real.otlp_listen {
        let tx = tx.clone();
        let store = store.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_otlp(addr, store, cancel).await {
                send(
                    &tx,
                    DataEvent::Note(format!("OTLP receiver on {addr}: {e}")),
                )
                .await;
            }
        });
    }
    let history = std::sync::Arc::new(parking_lot::Mutex::new(History::default()));
    {
        let real = real.clone();
        let tx = tx.clone();
        let history = history.clone();
        tokio::spawn(async move {
            while let Some(cmd) = commands.recv().await {
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
        let mut signals = Signals::new(WINDOW * 2.0 + 5.0);
        let mut tick: u64 = 0;
        loop {
            if !poll(&real, &mut dialect, &mut signals, &store, &tx).await {
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

async fn serve_otlp(
    addr: SocketAddr,
    store: TraceStore,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let listener = mesh::api::attach::bind_otlp(addr).await?;
    mesh::api::attach::serve_otlp(listener, store, cancel.cancelled_owned()).await?;
    Ok(())
}

/// One round of reading; false once the UI is gone.
async fn poll<E: From<DataEvent>>(
    real: &RealMesh,
    dialect: &mut Option<Dialect>,
    signals: &mut Signals,
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
                    p.signals(d, WINDOW as u64).await,
                    p.signals(d, RECENT as u64).await,
                ) {
                    (Ok(all), Ok(recent)) => {
                        workloads = all.workloads;
                        services = all.services;
                        edges = all.edges;
                        recent_edges = recent.edges;
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
        services = signals.services(WINDOW, now);
        edges = signals.edges(WINDOW, now);
        recent_edges = signals.edges(RECENT, now);
        workloads = workloads_seen(&services, &edges);
        if errors.len() == real.scrape.len() {
            failure = Some(errors.join("; "));
        } else if !errors.is_empty() {
            send(tx, DataEvent::Note(errors.join("; "))).await;
        }
    }
    if let Some(why) = failure {
        return send(tx, DataEvent::Disconnected(why)).await;
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
        trust_domains: Vec::new(),
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
    let traces = store.query(&TraceStoreQuery {
        limit: 150,
        ..Default::default()
    });
    if !traces.is_empty() {
        send(tx, DataEvent::Traces(traces)).await;
    }
    true
}

/// Reads one proxy's exposition, bounded in size and time.
pub async fn scrape(target: &str) -> Result<String, String> {
    let mut e = Endpoint::parse(target).map_err(|e| e.to_string())?;
    e.limit = MAX_SCRAPE_BYTES;
    e.timeout = Duration::from_secs(2);
    let path = if target.contains("/") && target.contains("://") {
        ""
    } else {
        "/stats/prometheus"
    };
    let body = e.get(path).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| format!("{target}: the answer is not text, so not a Prometheus exposition"))?;
    if !text.trim().is_empty() && !text.lines().any(is_sample) {
        let first: String = text.lines().next().unwrap_or("").chars().take(60).collect();
        return Err(format!(
            "{target}: not a Prometheus exposition (it begins {:?})",
            mesh::api::util::escape_control(&first)
        ));
    }
    Ok(text)
}

/// Whether a line looks like a sample: `name{labels} value` or `name value`.
fn is_sample(line: &str) -> bool {
    let line = line.trim();
    if line.starts_with('#') || line.is_empty() {
        return false;
    }
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let valid_name = name_end > 0 && !line.starts_with(|c: char| c.is_ascii_digit());
    let value = line.rsplit(char::is_whitespace).next().unwrap_or("");
    let value = if line.ends_with('}') { "" } else { value };
    // A timestamp may follow the value.
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let numeric = |t: &str| t.parse::<f64>().is_ok() || matches!(t, "+Inf" | "-Inf" | "NaN");
    valid_name && (numeric(value) || (tokens.len() >= 3 && numeric(tokens[tokens.len() - 2])))
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
            findings: mesh::api::config::analyze_standalone("editor", &yaml)
                .iter()
                .map(mesh::api::finding)
                .collect(),
        },
        Command::RefreshConfig => DataEvent::Resources {
            yaml: resources(real).await.unwrap_or_default(),
            version: history.lock().entries.len() as u64,
        },
        Command::Chaos(_) => unavailable(Feature::Chaos),
        Command::Sequence(_) => unavailable(Feature::Scenarios),
        Command::Explain(_) => unavailable(Feature::Why),
        Command::Rollback(_) | Command::Diff(..) => unavailable(Feature::Versions),
        // Written by the progress writer, never sent here.
        Command::SaveProgress(_) => DataEvent::Note(String::new()),
    }
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
mod tests {
    #[test]
    fn samples_are_told_from_garbage() {
        for ok in [
            "up 1",
            "istio_requests_total{a=\"b c\"} 7",
            "x_bucket{le=\"+Inf\"} 3 1700000000",
            "g NaN",
        ] {
            assert!(super::is_sample(ok), "{ok}");
        }
        for bad in [
            "this is { not an exposition",
            "# HELP x y",
            "<html>",
            "12 13",
        ] {
            assert!(!super::is_sample(bad), "{bad}");
        }
    }
}
