//! The east-west gateway: the only way between clusters. It reads the SNI
//! of each incoming TLS ClientHello (Istio's form,
//! `outbound_.8080_.v2_.billing.default.svc.cluster.local`), picks a local
//! endpoint of that service and subset, and splices the bytes through
//! without terminating TLS. The client's sidecar and the server's sidecar do
//! mTLS end to end; the gateway never sees plaintext or holds their keys.

use std::collections::HashMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::server::Acceptor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::proto::ProxyEvent;
use crate::proxy::admin;
use crate::proxy::cluster::{cluster_name, parse_sni};
use crate::proxy::context::ProxyContext;
use crate::proxy::sidecar::{start_agent, AgentSpec, ProxyHandle};

/// The largest ClientHello the gateway buffers.
const MAX_HELLO: usize = 16 * 1024;

/// Reads the ClientHello and returns its SNI and every byte read so far.
pub async fn read_sni(stream: &mut TcpStream) -> Result<(String, Vec<u8>), String> {
    let mut acceptor = Acceptor::default();
    let mut buf = Vec::with_capacity(1024);
    let mut fed = 0;
    loop {
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the TLS ClientHello".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_HELLO {
            return Err("ClientHello too large".into());
        }
        let mut cursor = Cursor::new(&buf[fed..]);
        acceptor
            .read_tls(&mut cursor)
            .map_err(|e| format!("not TLS: {e}"))?;
        fed += cursor.position() as usize;
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let sni = accepted
                    .client_hello()
                    .server_name()
                    .map(str::to_string)
                    .ok_or_else(|| "the ClientHello carries no SNI".to_string())?;
                return Ok((sni, buf));
            }
            Ok(None) => continue,
            Err((e, _)) => return Err(format!("bad ClientHello: {e}")),
        }
    }
}

/// Starts an east-west gateway on `listener`.
pub fn start(
    ctx: Arc<ProxyContext>,
    events: tokio::sync::mpsc::Receiver<ProxyEvent>,
    spec: &AgentSpec,
    listener: TcpListener,
    admin_listener: TcpListener,
) -> ProxyHandle {
    let cancel = CancellationToken::new();
    let mut tasks = start_agent(&ctx, events, spec, &cancel);
    tasks.push(tokio::spawn(admin::serve(
        admin_listener,
        Arc::clone(&ctx),
        cancel.clone(),
    )));
    let c = cancel.clone();
    let gw = Arc::clone(&ctx);
    let load = Arc::new(Load::default());
    tasks.push(tokio::spawn(async move {
        loop {
            let (stream, remote) = tokio::select! {
                _ = c.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let ctx = Arc::clone(&gw);
            let load = Arc::clone(&load);
            let c = c.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = c.cancelled() => {}
                    _ = splice(stream, remote, ctx, load) => {}
                }
            });
        }
    }));
    ProxyHandle::new(ctx, cancel, tasks)
}

/// Connections spliced to each local endpoint: a new connection goes to the
/// least loaded one, so every instance behind the gateway gets its share
/// even though callers keep their connections for a long time.
#[derive(Default)]
struct Load {
    active: Mutex<HashMap<String, usize>>,
    rr: AtomicUsize,
}

impl Load {
    fn order(&self, endpoints: &[&str]) -> Vec<String> {
        let active = self.active.lock().map(|a| a.clone()).unwrap_or_default();
        let n = endpoints.len().max(1);
        let start = self.rr.fetch_add(1, Ordering::Relaxed) % n;
        let mut v: Vec<(usize, usize, String)> = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    active.get(*e).copied().unwrap_or(0),
                    (i + n - start) % n,
                    e.to_string(),
                )
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, _, e)| e).collect()
    }

    fn add(&self, endpoint: &str, delta: isize) {
        if let Ok(mut a) = self.active.lock() {
            let n = a.entry(endpoint.to_string()).or_insert(0);
            *n = n.saturating_add_signed(delta);
        }
    }
}

async fn splice(
    mut inbound: TcpStream,
    remote: SocketAddr,
    ctx: Arc<ProxyContext>,
    load: Arc<Load>,
) {
    let (sni, hello) =
        match tokio::time::timeout(Duration::from_secs(10), read_sni(&mut inbound)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                ctx.emit(
                    "denied",
                    format!("east-west connection from {remote} dropped: {e}"),
                );
                return;
            }
            Err(_) => return,
        };
    let Some((port, subset, host)) = parse_sni(&sni) else {
        ctx.emit(
            "denied",
            format!("east-west connection from {remote}: SNI {sni} names no mesh service"),
        );
        return;
    };
    let cfg = ctx.config();
    let name = cluster_name(port, subset.as_deref(), &host);
    let Some(cluster) = cfg.clusters.get(&name) else {
        ctx.metrics.record_tcp(&host, &ctx.info.cluster, "NC", 0, 0);
        ctx.emit("denied", format!("east-west: no cluster {name} here"));
        return;
    };
    let local: Vec<_> = cluster
        .endpoints
        .iter()
        .filter(|e| e.cluster == ctx.info.cluster && e.gateway.is_none())
        .collect();
    if local.is_empty() {
        ctx.metrics.record_tcp(&host, &ctx.info.cluster, "UH", 0, 0);
        return;
    }
    let addrs: Vec<&str> = local.iter().map(|e| e.address.as_str()).collect();
    let mut upstream = None;
    for a in load.order(&addrs) {
        let Ok(addr) = a.parse::<SocketAddr>() else {
            continue;
        };
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
        {
            upstream = Some((s, a));
            break;
        }
    }
    let Some((mut up, chosen)) = upstream else {
        ctx.metrics.record_tcp(&host, &ctx.info.cluster, "UF", 0, 0);
        return;
    };
    let _ = up.set_nodelay(true);
    if up.write_all(&hello).await.is_err() {
        return;
    }
    load.add(&chosen, 1);
    let (sent, received) = tokio::io::copy_bidirectional(&mut inbound, &mut up)
        .await
        .unwrap_or((0, 0));
    load.add(&chosen, -1);
    ctx.metrics.record_tcp(
        &host,
        &ctx.info.cluster,
        "-",
        sent + hello.len() as u64,
        received,
    );
}
