//! The meshcon source: a meshcon mesh's console API, polled and streamed.
//! Golden signals are computed here from each proxy's `/stats/prometheus`,
//! exactly as `meshcon get services` computes them.

use std::collections::HashMap;
use std::time::Duration;

use mesh::api::util::Fetched;
use mesh::api::{
    ApplyRequest, DiffRequest, Empty, EventsRequest, LatencyRequest, ResourcesRequest,
    RollbackRequest, TapRequest, TraceQuery,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::MeshClient;
use crate::tui::data::{now_s, send, Command, DataEvent, RECENT};

/// Starts the tasks that read the mesh at `addr` and carry out `commands` on it.
pub fn spawn<E: From<DataEvent> + Send + 'static>(
    addr: &str,
    mut commands: mpsc::Receiver<Command>,
    tx: mpsc::Sender<E>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let client = MeshClient::lazy(addr)?;
    let window = super::Window::new();
    {
        let client = client.clone();
        let tx = tx.clone();
        let window = window.clone();
        tokio::spawn(async move {
            while let Some(cmd) = commands.recv().await {
                if let Command::SetWindow(w) = cmd {
                    window.set(w);
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
    let _ = tx.try_send(E::from(DataEvent::Attached(
        crate::tui::data::SourceInfo::meshcon(addr),
    )));
    // Polling: workloads, proxies, scrapes, latency, traces, config, federation.
    {
        let client = client.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut c = client;
            let mut signals = super::History::default();
            let mut connected = false;
            let mut tick: u64 = 0;
            let mut admins: HashMap<String, String> = HashMap::new();
            // Each proxy's last exposition tag: unchanged ones answer 304.
            let mut etags: HashMap<String, String> = HashMap::new();
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
                        let etag = etags.get(&id).cloned();
                        async move {
                            let got = mesh::api::util::get_if_changed(
                                &a,
                                "/stats/prometheus",
                                Duration::from_millis(800),
                                etag.as_deref(),
                            )
                            .await;
                            (id, got)
                        }
                    }))
                    .await;
                    for (id, got) in scrapes {
                        match got {
                            Ok(Fetched::Changed { text, etag }) => {
                                if signals.ingest(&id, at, &text).is_ok() {
                                    match etag {
                                        Some(e) => etags.insert(id, e),
                                        None => etags.remove(&id),
                                    };
                                } else {
                                    etags.remove(&id);
                                }
                            }
                            Ok(Fetched::Unchanged) => {
                                if !signals.ingest_unchanged(&id, at) {
                                    etags.remove(&id);
                                }
                            }
                            Err(_) => {}
                        }
                    }
                    signals.keep(|t| admins.contains_key(t));
                    etags.retain(|t, _| admins.contains_key(t));
                    let now = now_s();
                    let w = window.get();
                    let (services, edges) = signals.services_and_edges(w, now);
                    send(
                        &tx,
                        DataEvent::Signals {
                            services,
                            edges,
                            recent_edges: signals.edges(RECENT, now),
                            at: now,
                        },
                    )
                    .await;
                    if tick.is_multiple_of(2) {
                        if let Ok(l) = c
                            .console
                            .latency(LatencyRequest {
                                // Exact percentiles are kept for a minute.
                                window_s: w.min(60.0) as u32,
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
    Ok(())
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
        Command::Apply { yaml, file } | Command::ApplyConfirmed { yaml, file } => {
            DataEvent::Applied(
                c.console
                    .apply(ApplyRequest { yaml, file })
                    .await
                    .map(|r| r.into_inner())
                    .map_err(msg),
            )
        }
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
        Command::ProxyConfig(_) => DataEvent::Note(
            "proxy-config reads a real Envoy's admin (attach with --envoy-admin or --config-dump); a meshcon proxy's routes and certificate are in Why and Identities".into(),
        ),
        // Taken by the command loop before it gets here.
        Command::SetWindow(_) => DataEvent::Note(String::new()),
        Command::Wait(s) => {
            tokio::time::sleep(Duration::from_secs(s)).await;
            DataEvent::Chaos(Ok(format!("waited {s} s")))
        }
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
