//! Connections to upstream sidecars: TCP (bound to the pod address, so the
//! peer sees where a call really came from), then mTLS with the destination's
//! expected identity, then HTTP/2. One multiplexed connection per endpoint
//! and SNI, reused by every request, replaced when it dies or has served
//! `maxRequestsPerConnection` requests.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

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

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    used: usize,
}

#[derive(Default)]
struct Slot {
    conn: tokio::sync::Mutex<Option<Conn>>,
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
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Counters of the cluster.
    pub counters: &'a ClusterCounters,
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
    ) -> Result<http::Response<Incoming>, ProxyError> {
        let key = PoolKey {
            addr: dial.addr,
            sni: dial.sni.to_string(),
            endpoint: dial.endpoint.to_string(),
        };
        let slot = Arc::clone(self.slots.lock().entry(key).or_default());
        let mut sender = {
            let mut guard = slot.conn.lock().await;
            let reusable = guard.as_ref().is_some_and(|c| {
                !c.sender.is_closed() && dial.max_requests_per_connection.is_none_or(|m| c.used < m)
            });
            if !reusable {
                *guard = None;
                let sender = self.connect(&dial).await?;
                *guard = Some(Conn { sender, used: 0 });
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
        sender
            .send_request(req)
            .await
            .map_err(|e| ProxyError::Reset {
                reason: reset_reason(&e),
            })
    }

    async fn connect(&self, dial: &Dial<'_>) -> Result<SendRequest<Full<Bytes>>, ProxyError> {
        let fail = |reason: String| {
            dial.counters.connect_fail.fetch_add(1, Ordering::Relaxed);
            ProxyError::ConnectFailure {
                endpoint: dial.addr.to_string(),
                reason,
            }
        };
        let tcp = tokio::time::timeout(dial.connect_timeout, self.tcp_connect(dial.addr))
            .await
            .map_err(|_| fail(format!("connect timeout after {:?}", dial.connect_timeout)))?
            .map_err(|e| fail(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(dial.sni.to_string())
            .map_err(|e| fail(format!("bad SNI {}: {e}", dial.sni)))?;
        let config = if dial.via_gateway {
            let mut c = (*dial.tls).clone();
            c.alpn_protocols.push(endpoint_hint(dial.endpoint));
            Arc::new(c)
        } else {
            Arc::clone(&dial.tls)
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
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(20))
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| fail(format!("HTTP/2 handshake failed: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        dial.counters.cx_total.fetch_add(1, Ordering::Relaxed);
        Ok(sender)
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
