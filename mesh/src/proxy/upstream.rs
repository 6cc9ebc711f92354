//! Connections to upstream sidecars: TCP (bound to the pod address, so the
//! peer sees where a call really came from), then mTLS with the destination's
//! expected identity, then HTTP/1.1 or HTTP/2 as the request goes.
//!
//! As in Istio, an HTTP/1.1 request crosses to the next sidecar as HTTP/1.1
//! (`h2UpgradePolicy` DO_NOT_UPGRADE, the mesh default): a pool of
//! keep-alive connections per endpoint and SNI, a connection going back to
//! the pool when its answer's body has been read. HTTP/2 requests, and every
//! request to a cluster whose DestinationRule says UPGRADE, share one
//! multiplexed connection per endpoint and SNI. Either kind is replaced when
//! it dies or has served `maxRequestsPerConnection` requests.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;

use crate::http::Body;
use crate::identity::tls::{ALPN_H2, ALPN_HTTP11};
use crate::identity::{resumption, TrustStore};
use crate::svc::{ClusterCounters, ProxyError};

/// The ALPN value by which a sidecar asks the east-west gateway for one
/// endpoint.
///
/// Istio's gateway balances passthrough connections on its own, so a caller
/// cannot eject or hash to a single remote instance. meshcon's sidecars add
/// `meshcon-ep=<address>` to the ClientHello's ALPN list (the destination
/// sidecar ignores it and picks h2); the gateway honours it when the
/// address is one of its local endpoints for that SNI. Per-endpoint policies
/// (outlier detection, consistent hashing) then work across clusters.
pub fn endpoint_hint(endpoint: &str) -> Vec<u8> {
    format!("{ENDPOINT_HINT_PREFIX}{endpoint}").into_bytes()
}

/// What every [`endpoint_hint`] starts with.
pub const ENDPOINT_HINT_PREFIX: &str = "meshcon-ep=";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    addr: SocketAddr,
    sni: String,
    /// Remote endpoints share their gateway's address and SNI; each still
    /// gets its own connection, so the gateway spreads them over its backends.
    endpoint: String,
}

struct Conn<S> {
    sender: S,
    used: usize,
    /// The generation of trusted roots its server was verified under.
    generation: u64,
}

type H1Conn = Conn<http1::SendRequest<Full<Bytes>>>;

/// Idle HTTP/1.1 connections kept per endpoint; more are closed when their
/// answer is read.
const MAX_IDLE_H1: usize = 256;

/// HTTP/1.1 handshakes one endpoint's pool runs at once. Further requests
/// wait for a connection to come back, which under a burst is sooner than a
/// handshake: a pool that dials for every waiting request turns a burst
/// into handshakes that slow every request, and so into a bigger burst.
const MAX_CONNECTING_H1: usize = 2;

#[derive(Default)]
struct Slot {
    h2: tokio::sync::Mutex<Option<Conn<http2::SendRequest<Full<Bytes>>>>>,
    h1_idle: Mutex<Vec<H1Conn>>,
    h1_connecting: AtomicUsize,
    /// A connection came back, or a handshake ended.
    h1_changed: Notify,
}

impl Slot {
    fn give_back(&self, conn: H1Conn) {
        {
            let mut idle = self.h1_idle.lock();
            if idle.len() < MAX_IDLE_H1 {
                idle.push(conn);
            }
        }
        self.h1_changed.notify_one();
    }
}

/// One of a slot's handshakes in flight; its end wakes a waiting request.
struct Connecting<'a>(&'a Slot);

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        self.0.h1_connecting.fetch_sub(1, Ordering::AcqRel);
        self.0.h1_changed.notify_one();
    }
}

/// Where and how to reach one endpoint.
pub struct Dial<'a> {
    /// Address to connect to (the endpoint, or an east-west gateway).
    pub addr: SocketAddr,
    /// The endpoint this connection is for.
    pub endpoint: &'a str,
    /// For endpoints behind an east-west gateway: which one this connection
    /// should reach (see `gateway::eastwest`).
    pub via_gateway: bool,
    /// SNI naming the destination (`outbound_.8080_.v2_.billing...`).
    pub sni: &'a str,
    /// mTLS configuration with the expected server identities.
    pub tls: Arc<ClientConfig>,
    /// Requests per connection before it is replaced.
    pub max_requests_per_connection: Option<usize>,
    /// HTTP/2 (one multiplexed connection) rather than HTTP/1.1.
    pub http2: bool,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Counters of the cluster.
    pub counters: &'a ClusterCounters,
    /// The proxy's trusted roots: connections made under an older
    /// generation are not reused, and a resumed session's server is checked
    /// against them again.
    pub trust: &'a TrustStore,
}

/// The upstream connection pool of one proxy.
#[derive(Default)]
pub struct UpstreamPool {
    slots: Mutex<HashMap<PoolKey, Arc<Slot>>>,
    bind_ip: Option<IpAddr>,
}

impl UpstreamPool {
    /// A pool whose connections leave from `bind_ip` (the pod address).
    pub fn new(bind_ip: Option<IpAddr>) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            bind_ip: bind_ip.filter(|ip| !ip.is_unspecified()),
        }
    }

    /// Sends `req` to the endpoint, opening a connection if needed.
    pub async fn send(
        &self,
        dial: Dial<'_>,
        req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Body>, ProxyError> {
        let key = PoolKey {
            addr: dial.addr,
            sni: dial.sni.to_string(),
            endpoint: dial.endpoint.to_string(),
        };
        let slot = Arc::clone(self.slots.lock().entry(key).or_default());
        if dial.http2 {
            self.send_h2(&slot, &dial, req).await
        } else {
            self.send_h1(slot, &dial, req).await
        }
    }

    async fn send_h2(
        &self,
        slot: &Slot,
        dial: &Dial<'_>,
        req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Body>, ProxyError> {
        let mut sender = {
            let mut guard = slot.h2.lock().await;
            let reusable = guard.as_ref().is_some_and(|c| {
                !c.sender.is_closed()
                    && c.generation == dial.trust.generation()
                    && dial.max_requests_per_connection.is_none_or(|m| c.used < m)
            });
            if !reusable {
                *guard = None;
                let (io, generation) = self.connect(dial, ALPN_H2).await?;
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .keep_alive_interval(Duration::from_secs(20))
                    .handshake(io)
                    .await
                    .map_err(|e| connect_failure(dial, format!("HTTP/2 handshake failed: {e}")))?;
                drive(conn);
                *guard = Some(Conn {
                    sender,
                    used: 0,
                    generation,
                });
            }
            match guard.as_mut() {
                Some(c) => {
                    c.used += 1;
                    c.sender.clone()
                }
                None => {
                    return Err(ProxyError::Reset {
                        reason: "connection vanished".into(),
                    })
                }
            }
        };
        sender.ready().await.map_err(|e| ProxyError::Reset {
            reason: format!("connection closed: {e}"),
        })?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ProxyError::Reset {
                reason: reset_reason(&e),
            })?;
        Ok(resp.map(crate::http::incoming))
    }

    /// One request on an idle keep-alive connection, or on a new one when
    /// none is idle or the idle one turns out closed before the request
    /// left.
    async fn send_h1(
        &self,
        slot: Arc<Slot>,
        dial: &Dial<'_>,
        mut req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Body>, ProxyError> {
        let spent = |c: &H1Conn| {
            c.sender.is_closed()
                || c.generation != dial.trust.generation()
                || dial
                    .max_requests_per_connection
                    .is_some_and(|m| c.used >= m)
        };
        loop {
            let idle = slot.h1_idle.lock().pop();
            let (mut conn, reused) = match idle {
                Some(c) if spent(&c) => continue,
                Some(c) => (c, true),
                None => match self.connect_or_wait(&slot, dial).await? {
                    Some(c) => (c, false),
                    None => continue,
                },
            };
            if conn.sender.ready().await.is_err() {
                if reused {
                    continue;
                }
                return Err(ProxyError::Reset {
                    reason: "connection closed before the request was sent".into(),
                });
            }
            conn.used += 1;
            match conn.sender.try_send_request(req).await {
                Ok(resp) => {
                    let keep = dial
                        .max_requests_per_connection
                        .is_none_or(|m| conn.used < m);
                    let back = keep.then(|| (conn, Arc::clone(&slot)));
                    return Ok(resp.map(|body| Recycle { body, back }.boxed_unsync()));
                }
                Err(mut e) => {
                    // A kept connection the peer closed while idle: the
                    // request never left, so it goes on a fresh one.
                    match e.take_message() {
                        Some(r) if reused => req = r,
                        _ => {
                            return Err(ProxyError::Reset {
                                reason: reset_reason(e.error()),
                            })
                        }
                    }
                }
            }
        }
    }

    /// A new connection when fewer than [`MAX_CONNECTING_H1`] handshakes
    /// are under way; otherwise waits until a connection comes back or a
    /// handshake ends (None: look again).
    async fn connect_or_wait(
        &self,
        slot: &Slot,
        dial: &Dial<'_>,
    ) -> Result<Option<H1Conn>, ProxyError> {
        // Registered before looking, so a wake-up in between is not lost.
        let changed = slot.h1_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if slot.h1_connecting.fetch_add(1, Ordering::AcqRel) < MAX_CONNECTING_H1 {
            let _connecting = Connecting(slot);
            return self.connect_h1(dial).await.map(Some);
        }
        slot.h1_connecting.fetch_sub(1, Ordering::AcqRel);
        if !slot.h1_idle.lock().is_empty() {
            return Ok(None);
        }
        let _ = tokio::time::timeout(dial.connect_timeout, changed).await;
        Ok(None)
    }

    async fn connect_h1(&self, dial: &Dial<'_>) -> Result<H1Conn, ProxyError> {
        let (io, generation) = self.connect(dial, ALPN_HTTP11).await?;
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| connect_failure(dial, format!("HTTP/1.1 handshake failed: {e}")))?;
        drive(conn);
        Ok(Conn {
            sender,
            used: 0,
            generation,
        })
    }

    /// TCP, then mTLS offering `alpn` (plus the endpoint hint through a
    /// gateway); with the generation of roots the server was verified under.
    async fn connect(
        &self,
        dial: &Dial<'_>,
        alpn: &[u8],
    ) -> Result<(TokioIo<tokio_rustls::client::TlsStream<TcpStream>>, u64), ProxyError> {
        let fail = |reason: String| connect_failure(dial, reason);
        let generation = dial.trust.generation();
        let tcp = tokio::time::timeout(dial.connect_timeout, self.tcp_connect(dial.addr))
            .await
            .map_err(|_| fail(format!("connect timeout after {:?}", dial.connect_timeout)))?
            .map_err(|e| fail(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(dial.sni.to_string())
            .map_err(|e| fail(format!("bad SNI {}: {e}", dial.sni)))?;
        let mut protocols = vec![alpn.to_vec()];
        if dial.via_gateway {
            protocols.push(endpoint_hint(dial.endpoint));
        }
        let config = if dial.tls.alpn_protocols == protocols {
            Arc::clone(&dial.tls)
        } else {
            let mut c = (*dial.tls).clone();
            c.alpn_protocols = protocols;
            Arc::new(c)
        };
        let tls = tokio::time::timeout(
            dial.connect_timeout,
            TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| fail("TLS handshake timeout".into()))?
        .map_err(|e| {
            fail(format!(
                "TLS handshake failed: {}",
                crate::identity::verify::handshake_failure(&e)
            ))
        })?;
        let now = resumption::check_server(tls.get_ref().1, dial.trust, generation)
            .map_err(|e| fail(format!("TLS session no longer trusted: {e}")))?;
        dial.counters.cx_total.fetch_add(1, Ordering::Relaxed);
        Ok((TokioIo::new(tls), now))
    }

    async fn tcp_connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = self.bind_ip {
            if ip.is_ipv4() == addr.is_ipv4() {
                socket.bind(SocketAddr::new(ip, 0))?;
            }
        }
        socket.connect(addr).await
    }
}

fn connect_failure(dial: &Dial<'_>, reason: String) -> ProxyError {
    dial.counters.connect_fail.fetch_add(1, Ordering::Relaxed);
    ProxyError::ConnectFailure {
        endpoint: dial.addr.to_string(),
        reason,
    }
}

/// Runs a connection's I/O on this thread until it ends.
fn drive<F>(conn: F)
where
    F: std::future::Future<Output = hyper::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
}

/// An HTTP/1.1 answer's body that returns its connection to the pool once
/// read to the end; a body dropped early takes its connection with it.
struct Recycle {
    body: Incoming,
    back: Option<(H1Conn, Arc<Slot>)>,
}

impl Recycle {
    fn done(&mut self) {
        if let Some((conn, slot)) = self.back.take() {
            slot.give_back(conn);
        }
    }
}

impl Drop for Recycle {
    fn drop(&mut self) {
        // An empty answer is complete before anyone reads it.
        if self.body.is_end_stream() {
            self.done();
        }
    }
}

impl http_body::Body for Recycle {
    type Data = Bytes;
    type Error = crate::http::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            std::task::Poll::Ready(None) => self.done(),
            std::task::Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.done(),
            std::task::Poll::Ready(Some(Err(_))) => self.back = None,
            _ => {}
        }
        polled.map(|f| f.map(|r| r.map_err(|e| Box::new(e) as crate::http::BoxError)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

fn reset_reason(e: &hyper::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
