//! The console's data sources: background tasks that talk to the mesh only
//! through its public interfaces (the console API, each proxy's
//! `/stats/prometheus`, trace queries) and send what they learn to the UI
//! as events. Nothing here blocks the render loop; a lost connection is
//! reported and retried by itself. Practice progress is written here too,
//! in order, on a thread of its own, so `update` never waits on SQLite.
//!
//! The tasks send anything an event can be made from (`E: From<DataEvent>`),
//! so this module does not depend on the loop's event type.

use std::collections::HashMap;
use std::time::Duration;

use mesh::api::{
    ApplyReply, ApplyRequest, ChaosRequest, DiffRequest, Empty, EventsRequest, ExplainRequest,
    LatencyRequest, ResourcesRequest, RollbackRequest, TapRequest, TraceQuery,
};
use mesh::api::{EdgeSignal, ServiceSignal, Signals};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::MeshClient;
use crate::practice::progress::{Progress, Write};

/// The window golden signals are computed over in the console, seconds.
pub const WINDOW: f64 = 30.0;
/// The short window of a change's before/after panel, seconds.
pub const RECENT: f64 = 10.0;

/// What the data tasks report.
#[derive(Debug, Clone)]
pub enum DataEvent {
    /// The console API answered.
    Connected {
        /// The name the mesh reports for itself.
        mesh: String,
    },
    /// The console API did not answer.
    Disconnected(String),
    /// Workloads and trust domains.
    Workloads(mesh::api::WorkloadList),
    /// Per-proxy config state.
    Proxies(mesh::api::ProxyList),
    /// Golden signals from the latest scrapes.
    Signals {
        /// Per service version, over [`WINDOW`].
        services: Vec<ServiceSignal>,
        /// Per caller and service version, over [`WINDOW`].
        edges: Vec<EdgeSignal>,
        /// Per edge over the last [`RECENT`] seconds only.
        recent_edges: Vec<EdgeSignal>,
        /// When, seconds since the epoch.
        at: f64,
    },
    /// Exact percentiles per edge, from the proxies' histograms.
    Latency(Vec<mesh::api::EdgeStat>),
    /// New control-plane events.
    Events(Vec<mesh::api::Event>),
    /// New tapped requests.
    Tap(Vec<mesh::api::TapEntry>),
    /// The newest traces, failed ones kept longer.
    Traces(Vec<mesh::api::Trace>),
    /// The applied resources and the version.
    Resources {
        /// Every applied resource, one YAML stream.
        yaml: String,
        /// The config version they make (0 when the proxies did not say).
        version: u64,
    },
    /// Config versions, for the history pane and rollbacks.
    History(Vec<mesh::api::HistoryEntry>),
    /// Trust bundles exchanged and gateway reachability.
    Federation(mesh::api::FederationStatus),
    /// The running topology.
    Topology(Box<mesh::api::Topology>),
    /// The answer to an apply (or rollback).
    Applied(Result<ApplyReply, String>),
    /// Inline validation findings for the editor.
    Validated {
        /// Which edit they belong to.
        seq: u64,
        /// Errors and warnings, with line and column.
        findings: Vec<mesh::api::Finding>,
    },
    /// A unified diff between two config versions.
    Diff(Result<String, String>),
    /// The answer to a chaos action.
    Chaos(Result<String, String>),
    /// The answer to a "why" question.
    Explained(Result<String, String>),
    /// A practice progress write failed (the progress stays in memory).
    ProgressNotSaved(String),
}

/// What the UI asks the data tasks to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Apply YAML.
    Apply {
        /// One or more resources.
        yaml: String,
        /// What findings and history call it (a file, a quick action).
        file: String,
    },
    /// Validate YAML (dry run) for the editor.
    Validate {
        /// The edit it belongs to, so late answers are ignored.
        seq: u64,
        /// The editor's text.
        yaml: String,
    },
    /// Roll back to a version.
    Rollback(u64),
    /// Diff two versions (0: current).
    Diff(u64, u64),
    /// Run a chaos action.
    Chaos(ChaosRequest),
    /// Explain a request's path.
    Explain(ExplainRequest),
    /// Refresh history and resources now.
    RefreshConfig,
    /// Run commands one after another (a scenario).
    Sequence(Vec<Command>),
    /// Make a practice result last (in the state directory's practice.db).
    SaveProgress(Write),
}

impl Command {
    /// What the command does, in a word or two, for the status line.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Apply { .. } => "apply",
            Command::Validate { .. } => "validate",
            Command::Rollback(_) => "rollback",
            Command::Diff(..) => "diff",
            Command::Chaos(_) => "chaos",
            Command::Explain(_) => "why",
            Command::RefreshConfig => "refresh",
            Command::Sequence(_) => "scenario",
            Command::SaveProgress(_) => "save progress",
        }
    }
}

/// The background side, as the console waits for it on exit.
#[derive(Debug)]
pub struct Background {
    writer: std::thread::JoinHandle<()>,
}

impl Background {
    /// Waits (a little) for the progress writes still queued: they are sent
    /// before the loop ends, and written once the command channel closes.
    pub async fn finish(self) {
        let join = tokio::task::spawn_blocking(move || self.writer.join());
        let _ = tokio::time::timeout(Duration::from_secs(3), join).await;
    }
}

async fn send<E: From<DataEvent>>(tx: &mpsc::Sender<E>, ev: DataEvent) -> bool {
    tx.send(E::from(ev)).await.is_ok()
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Starts every data task for the mesh at `addr`, and the writer of
/// practice progress into `progress`.
pub fn spawn<E: From<DataEvent> + Send + 'static>(
    addr: &str,
    tx: mpsc::Sender<E>,
    mut commands: mpsc::Receiver<Command>,
    cancel: CancellationToken,
    mut progress: Progress,
) -> anyhow::Result<Background> {
    // No address: practice on its own, which never connects anywhere.
    let offline = addr.is_empty();
    let client = MeshClient::lazy(if offline { "127.0.0.1:0" } else { addr })?;

    // Progress writes, in the order they were made.
    let (writes, queued) = std::sync::mpsc::channel::<Write>();
    let writer = {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("practice-progress".into())
            .spawn(move || {
                for w in queued {
                    if let Err(e) = progress.write(&w) {
                        let _ =
                            tx.blocking_send(E::from(DataEvent::ProgressNotSaved(e.to_string())));
                    }
                }
            })?
    };

    // Commands from the UI, until the loop drops its sender: the last
    // progress writes still arrive after the mesh tasks are cancelled.
    {
        let client = client.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            while let Some(cmd) = commands.recv().await {
                if let Command::SaveProgress(w) = cmd {
                    let _ = writes.send(w);
                    continue;
                }
                if cancel.is_cancelled() || offline {
                    continue;
                }
                let mut c = client.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let ev = run_command(&mut c, cmd).await;
                    // The new config goes first, so the view that says
                    // "applied" already lists what was applied.
                    if matches!(ev, DataEvent::Applied(_)) {
                        refresh_config(&mut c, &tx).await;
                    }
                    send(&tx, ev).await;
                });
            }
        });
    }

    // Polling: workloads, proxies, scrapes, latency, traces, config, federation.
    if !offline {
        let client = client.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut c = client;
            let mut signals = Signals::new(WINDOW * 2.0 + 5.0);
            let mut connected = false;
            let mut tick: u64 = 0;
            let mut admins: HashMap<String, String> = HashMap::new();
            loop {
                match c.console.workloads(Empty {}).await {
                    Ok(w) => {
                        let w = w.into_inner();
                        if !connected {
                            connected = true;
                            send(
                                &tx,
                                DataEvent::Connected {
                                    mesh: w.mesh.clone(),
                                },
                            )
                            .await;
                            if let Ok(t) = c.console.topology(Empty {}).await {
                                if let Ok(topo) =
                                    mesh::api::Topology::parse("mesh", &t.into_inner().text)
                                {
                                    send(&tx, DataEvent::Topology(Box::new(topo))).await;
                                }
                            }
                            refresh_config(&mut c, &tx).await;
                        }
                        admins = w
                            .workloads
                            .iter()
                            .filter(|x| x.ready)
                            .filter_map(|x| {
                                x.addresses
                                    .as_ref()
                                    .and_then(|a| a.admin.clone())
                                    .map(|a| (x.instance.clone() + "." + &x.cluster, a))
                            })
                            .collect();
                        if !send(&tx, DataEvent::Workloads(w)).await {
                            return;
                        }
                    }
                    Err(e) => {
                        if connected || tick == 0 {
                            send(&tx, DataEvent::Disconnected(e.message().to_string())).await;
                        }
                        connected = false;
                    }
                }
                if connected {
                    if let Ok(p) = c.console.proxies(Empty {}).await {
                        send(&tx, DataEvent::Proxies(p.into_inner())).await;
                    }
                    let at = now_s();
                    let scrapes = futures::future::join_all(admins.iter().map(|(id, a)| {
                        let id = id.clone();
                        let a = a.clone();
                        async move {
                            (
                                id,
                                mesh::api::util::get_text(
                                    &a,
                                    "/stats/prometheus",
                                    Duration::from_millis(800),
                                )
                                .await,
                            )
                        }
                    }))
                    .await;
                    for (id, text) in scrapes {
                        if let Ok(t) = text {
                            let _ = signals.ingest(&id, at, &t);
                        }
                    }
                    let gone: Vec<String> = signals
                        .targets()
                        .filter(|t| !admins.contains_key(*t))
                        .map(str::to_string)
                        .collect();
                    for g in gone {
                        signals.forget(&g);
                    }
                    let now = now_s();
                    send(
                        &tx,
                        DataEvent::Signals {
                            services: signals.services(WINDOW, now),
                            edges: signals.edges(WINDOW, now),
                            recent_edges: signals.edges(RECENT, now),
                            at: now,
                        },
                    )
                    .await;
                    if tick.is_multiple_of(2) {
                        if let Ok(l) = c
                            .console
                            .latency(LatencyRequest {
                                window_s: WINDOW as u32,
                            })
                            .await
                        {
                            if let Ok(stats) = mesh::api::decode(&l.into_inner()) {
                                send(&tx, DataEvent::Latency(stats)).await;
                            }
                        }
                        let traces = recent_traces(&mut c).await;
                        if !traces.is_empty() {
                            send(&tx, DataEvent::Traces(traces)).await;
                        }
                    }
                    if tick.is_multiple_of(5) {
                        if let Ok(f) = c.console.federation(Empty {}).await {
                            if let Ok(v) = mesh::api::decode(&f.into_inner()) {
                                send(&tx, DataEvent::Federation(v)).await;
                            }
                        }
                        refresh_config(&mut c, &tx).await;
                    }
                }
                tick += 1;
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }

    // Streams: events and the tap, re-subscribed after any failure.
    {
        let client = client.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let mut c = client.clone();
                if let Ok(s) = c
                    .console
                    .events(EventsRequest {
                        follow: true,
                        last: if first { 300 } else { 0 },
                    })
                    .await
                {
                    first = false;
                    let mut s = s.into_inner();
                    loop {
                        let msg = tokio::select! {
                            _ = cancel.cancelled() => return,
                            m = s.message() => m,
                        };
                        match msg {
                            Ok(Some(e)) => {
                                if !send(&tx, DataEvent::Events(vec![e])).await {
                                    return;
                                }
                            }
                            _ => break,
                        }
                    }
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let mut c = client.clone();
                if let Ok(s) = c.console.tap(TapRequest::default()).await {
                    let mut s = s.into_inner();
                    let mut batch = Vec::new();
                    let mut flush = tokio::time::interval(Duration::from_millis(250));
                    loop {
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = flush.tick() => {
                                if !batch.is_empty() && !send(&tx, DataEvent::Tap(std::mem::take(&mut batch))).await {
                                    return;
                                }
                            }
                            m = s.message() => match m {
                                Ok(Some(e)) => batch.push(e),
                                _ => break,
                            }
                        }
                    }
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }
    Ok(Background { writer })
}

/// The newest traces, and the newest ones with a failure too, which would
/// otherwise scroll away within seconds at demo traffic.
async fn recent_traces(c: &mut MeshClient) -> Vec<mesh::api::Trace> {
    let mut all: Vec<mesh::api::Trace> = Vec::new();
    for (limit, errors_only) in [(150, false), (50, true)] {
        let query = TraceQuery {
            limit,
            errors_only,
            ..Default::default()
        };
        if let Ok(t) = c.console.traces(query).await {
            if let Ok(list) = mesh::api::decode::<Vec<mesh::api::Trace>>(&t.into_inner()) {
                all.extend(list);
            }
        }
    }
    all.sort_by(|a, b| b.start_unix_ms.total_cmp(&a.start_unix_ms));
    all.dedup_by(|a, b| a.trace_id == b.trace_id);
    all
}

async fn refresh_config<E: From<DataEvent>>(c: &mut MeshClient, tx: &mpsc::Sender<E>) {
    if let Ok(r) = c.console.resources(ResourcesRequest::default()).await {
        let yaml = r.into_inner().text;
        // The proxies' ACK states go with the version, so the status line
        // never shows a new version against old ACKs.
        let proxies = c.console.proxies(Empty {}).await.map(|p| p.into_inner());
        let version = proxies.as_ref().map_or(0, |p| p.version);
        if let Ok(p) = proxies {
            send(tx, DataEvent::Proxies(p)).await;
        }
        send(tx, DataEvent::Resources { yaml, version }).await;
    }
    if let Ok(h) = c.console.history(Empty {}).await {
        send(tx, DataEvent::History(h.into_inner().entries)).await;
    }
}

async fn run_command(c: &mut MeshClient, cmd: Command) -> DataEvent {
    if let Command::Sequence(steps) = cmd {
        let mut last = DataEvent::Chaos(Ok("nothing to do".into()));
        for step in steps {
            last = Box::pin(run_command(c, step)).await;
            if let DataEvent::Applied(Err(e)) | DataEvent::Chaos(Err(e)) = &last {
                return DataEvent::Chaos(Err(format!("scenario stopped: {e}")));
            }
        }
        return last;
    }
    let msg = |s: tonic::Status| s.message().to_string();
    match cmd {
        Command::Apply { yaml, file } => DataEvent::Applied(
            c.console
                .apply(ApplyRequest { yaml, file })
                .await
                .map(|r| r.into_inner())
                .map_err(msg),
        ),
        Command::Validate { seq, yaml } => {
            let findings = c
                .console
                .validate(ApplyRequest {
                    yaml,
                    file: "editor".into(),
                })
                .await
                .map(|r| r.into_inner().findings)
                .unwrap_or_default();
            DataEvent::Validated { seq, findings }
        }
        Command::Rollback(v) => DataEvent::Applied(
            c.console
                .rollback(RollbackRequest { version: v })
                .await
                .map(|r| r.into_inner())
                .map_err(msg),
        ),
        Command::Diff(from, to) => DataEvent::Diff(
            c.console
                .diff(DiffRequest { from, to })
                .await
                .map(|r| r.into_inner().text)
                .map_err(msg),
        ),
        Command::Chaos(req) => DataEvent::Chaos(
            c.console
                .chaos(req)
                .await
                .map(|r| r.into_inner().text)
                .map_err(msg),
        ),
        Command::Explain(req) => DataEvent::Explained(
            c.console
                .explain(req)
                .await
                .map(|r| r.into_inner().text)
                .map_err(msg),
        ),
        // Handled before: a sequence's steps above, progress by the writer.
        Command::Sequence(_) | Command::SaveProgress(_) => DataEvent::Chaos(Ok(String::new())),
        Command::RefreshConfig => DataEvent::Resources {
            yaml: c
                .console
                .resources(ResourcesRequest::default())
                .await
                .map(|r| r.into_inner().text)
                .unwrap_or_default(),
            version: c
                .console
                .proxies(Empty {})
                .await
                .map(|p| p.into_inner().version)
                .unwrap_or(0),
        },
    }
}
