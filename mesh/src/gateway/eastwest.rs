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
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::server::Acceptor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::control::events::EventKind;
use crate::http::{accept_loop, Activity, ListenerLimits, Refusal, Watched};
use crate::proto::ProxyEvent;
use crate::proxy::admin;
use crate::proxy::cluster::{cluster_name, parse_sni};
use crate::proxy::context::ProxyContext;
use crate::proxy::sidecar::{start_agent, AgentSpec, ProxyHandle};
use crate::proxy::upstream::ENDPOINT_HINT_PREFIX;

/// The largest ClientHello the gateway buffers.
const MAX_HELLO: usize = 16 * 1024;

/// What the gateway reads from a ClientHello.
#[derive(Debug, Clone)]
pub struct Hello {
    /// SNI.
    pub sni: String,
    /// The endpoint hint, if any.
    pub endpoint: Option<String>,
    /// Every byte read so far (to be replayed upstream).
    pub bytes: Vec<u8>,
}

/// Why a connection's ClientHello was refused.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    /// Reading from the peer failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer closed mid-hello.
    #[error("connection closed in the middle of the TLS ClientHello")]
    Truncated,
    /// More than the gateway buffers.
    #[error("ClientHello too large")]
    TooLarge,
    /// Not a TLS record.
    #[error("not TLS: {0}")]
    NotTls(std::io::Error),
    /// The hello names no destination.
    #[error("the ClientHello carries no SNI")]
    NoSni,
    /// rustls refused the hello.
    #[error("bad ClientHello: {0}")]
    Bad(rustls::Error),
}

/// Reads the ClientHello: its SNI, endpoint hint and every byte read so far.
/// `None` when the peer closed without sending a byte: a reachability probe,
/// not a refused peer.
pub async fn read_hello(stream: &mut TcpStream) -> Result<Option<Hello>, HelloError> {
    let mut acceptor = Acceptor::default();
    let mut buf = Vec::with_capacity(1024);
    let mut fed = 0;
    loop {
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(HelloError::Truncated);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_HELLO {
            return Err(HelloError::TooLarge);
        }
        let mut cursor = Cursor::new(&buf[fed..]);
        acceptor.read_tls(&mut cursor).map_err(HelloError::NotTls)?;
        fed += cursor.position() as usize;
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let hello = accepted.client_hello();
                let sni = hello
                    .server_name()
                    .map(str::to_string)
                    .ok_or(HelloError::NoSni)?;
                let endpoint = hello.alpn().into_iter().flatten().find_map(|p| {
                    std::str::from_utf8(p)
                        .ok()?
                        .strip_prefix(ENDPOINT_HINT_PREFIX)
                        .map(str::to_string)
                });
                return Ok(Some(Hello {
                    sni,
                    endpoint,
                    bytes: buf,
                }));
            }
            Ok(None) => continue,
            Err((e, _)) => return Err(HelloError::Bad(e)),
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
    tasks.push(tokio::spawn(accept_loop(
        listener,
        "east-west",
        ListenerLimits::EASTWEST,
        Refusal::Close,
        cancel.clone(),
        move |stream, remote| {
            let ctx = Arc::clone(&gw);
            let load = Arc::clone(&load);
            let c = c.clone();
            async move {
                // A splice has no requests to drain: shutdown just cuts it.
                tokio::select! {
                    _ = c.cancelled() => {}
                    _ = splice(stream, remote, ctx, load) => {}
                }
            }
        },
    )));
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
    /// Endpoints of one cluster (SNI), least loaded first.
    fn order(&self, cluster: &str, endpoints: &[&str]) -> Vec<String> {
        let active = self.active.lock().clone();
        let n = endpoints.len().max(1);
        let start = self.rr.fetch_add(1, Ordering::Relaxed) % n;
        let mut v: Vec<(usize, usize, String)> = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let load = active.get(&format!("{cluster}|{e}")).copied().unwrap_or(0);
                (load, (i + n - start) % n, e.to_string())
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, _, e)| e).collect()
    }

    fn add(&self, key: &str, delta: isize) {
        let mut a = self.active.lock();
        let n = a.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add_signed(delta);
    }
}

async fn splice(
    mut inbound: TcpStream,
    remote: SocketAddr,
    ctx: Arc<ProxyContext>,
    load: Arc<Load>,
) {
    let hello = match tokio::time::timeout(
        ListenerLimits::EASTWEST.handshake_timeout,
        read_hello(&mut inbound),
    )
    .await
    {
        Ok(Ok(Some(x))) => x,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            ctx.emit(
                EventKind::Denied,
                format!("east-west connection from {remote} dropped: {e}"),
            );
            return;
        }
        Err(_) => return,
    };
    let sni = hello.sni.clone();
    let Some((port, subset, host)) = parse_sni(&sni) else {
        ctx.emit(
            EventKind::Denied,
            format!("east-west connection from {remote}: SNI {sni} names no mesh service"),
        );
        return;
    };
    // Opened as soon as the destination is known, so every close below
    // (NC, UH, UF or a spliced one) has its open: opened minus closed is
    // what is active.
    ctx.metrics.tcp_opened(&host, &ctx.info.cluster);
    let cfg = ctx.config();
    let name = cluster_name(port, subset.as_deref(), &host);
    let Some(cluster) = cfg.clusters.get(&name) else {
        ctx.metrics.tcp_closed(&host, &ctx.info.cluster, "NC", 0, 0);
        ctx.emit(
            EventKind::Denied,
            format!("east-west: no cluster {name} here"),
        );
        return;
    };
    let local: Vec<_> = cluster
        .endpoints
        .iter()
        .filter(|e| e.cluster == ctx.info.cluster && e.gateway.is_none())
        .collect();
    if local.is_empty() {
        ctx.metrics.tcp_closed(&host, &ctx.info.cluster, "UH", 0, 0);
        return;
    }
    let addrs: Vec<&str> = local.iter().map(|e| e.address.as_str()).collect();
    let mut order = load.order(&name, &addrs);
    if let Some(hint) = hello
        .endpoint
        .as_ref()
        .filter(|h| addrs.contains(&h.as_str()))
    {
        order.retain(|a| a != hint);
        order.insert(0, hint.clone());
    }
    let mut upstream = None;
    for a in order {
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
        ctx.metrics.tcp_closed(&host, &ctx.info.cluster, "UF", 0, 0);
        return;
    };
    let _ = up.set_nodelay(true);
    if up.write_all(&hello.bytes).await.is_err() {
        ctx.metrics.tcp_closed(&host, &ctx.info.cluster, "UC", 0, 0);
        return;
    }
    let key = format!("{name}|{chosen}");
    load.add(&key, 1);
    // Bytes either way keep a splice open; a silent one is cut after the
    // idle timeout (its byte counts are then unknown, reported as 0).
    let activity = Arc::new(Activity::default());
    let mut watched = Watched::new(inbound, Arc::clone(&activity));
    let (sent, received) = tokio::select! {
        r = tokio::io::copy_bidirectional(&mut watched, &mut up) => r.unwrap_or((0, 0)),
        _ = activity.idle(ListenerLimits::EASTWEST.idle_timeout) => {
            tracing::debug!(%remote, "idle east-west connection closed");
            (0, 0)
        }
    };
    load.add(&key, -1);
    ctx.metrics.tcp_closed(
        &host,
        &ctx.info.cluster,
        "-",
        sent + hello.bytes.len() as u64,
        received,
    );
}
