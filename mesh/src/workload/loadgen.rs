//! The load generator: steady HTTPS traffic to the ingress gateway at a
//! fixed rate, over kept-alive connections, as an outside client would send
//! it (TLS with SNI, verified against the ingress CA). Also the client tests
//! and benchmarks use to reach the ingress.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

/// Connections kept open at most.
const MAX_CONNECTIONS: usize = 64;

/// A TLS client of the ingress gateway with a small connection pool.
#[derive(Clone)]
pub struct IngressClient {
    addr: SocketAddr,
    host: String,
    tls: TlsConnector,
    idle: Arc<Mutex<Vec<SendRequest<Empty<Bytes>>>>>,
}

impl std::fmt::Debug for IngressClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngressClient")
            .field("addr", &self.addr)
            .field("host", &self.host)
            .finish()
    }
}

/// Why a request to the ingress got no answer.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// The ingress CA given is not PEM certificates.
    #[error(transparent)]
    Ca(#[from] crate::identity::IdentityError),
    /// rustls refused the ingress CA or the client configuration.
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    /// The ingress host is not a name SNI can carry.
    #[error(transparent)]
    ServerName(#[from] rustls::pki_types::InvalidDnsNameError),
    /// The ingress host cannot be a Host header.
    #[error(transparent)]
    Host(#[from] http::header::InvalidHeaderValue),
    /// No TCP connection to the ingress.
    #[error("connect {addr}: {source}")]
    Connect {
        /// The ingress address.
        addr: SocketAddr,
        /// What the connect said.
        source: std::io::Error,
    },
    /// The TLS handshake with the ingress failed.
    #[error("TLS: {0}")]
    Handshake(#[source] std::io::Error),
    /// The path is not a valid request target.
    #[error("bad path {path}: {source}")]
    BadPath {
        /// The path given.
        path: String,
        /// Why it is not a URI.
        source: http::uri::InvalidUri,
    },
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// An answer from the ingress.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The whole response body.
    pub body: Bytes,
    /// Response headers.
    pub headers: http::HeaderMap,
}

impl IngressClient {
    /// A client of `addr` presenting SNI `host`, trusting `ca_pem`.
    pub fn new(addr: SocketAddr, host: &str, ca_pem: &str) -> Result<Self, IngressError> {
        let mut roots = rustls::RootCertStore::empty();
        for der in crate::identity::ca::pem_to_ders(ca_pem)? {
            roots.add(der)?;
        }
        let cfg =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Self {
            addr,
            host: host.to_string(),
            tls: TlsConnector::from(Arc::new(cfg)),
            idle: Arc::new(Mutex::new(Vec::new())),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, IngressError> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|source| IngressError::Connect {
                addr: self.addr,
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(self.host.clone())?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(IngressError::Handshake)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends a GET for `path` with extra headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<Answer, IngressError> {
        let reused = self.idle.lock().pop();
        let mut sender = match reused {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender.ready().await?;
        let mut req = http::Request::new(Empty::<Bytes>::new());
        *req.uri_mut() = path.parse().map_err(|source| IngressError::BadPath {
            path: path.to_string(),
            source,
        })?;
        req.headers_mut()
            .insert(http::header::HOST, http::HeaderValue::from_str(&self.host)?);
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                req.headers_mut().insert(k, v);
            }
        }
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        {
            let mut idle = self.idle.lock();
            if idle.len() < MAX_CONNECTIONS {
                idle.push(sender);
            }
        }
        Ok(Answer {
            status,
            body,
            headers,
        })
    }
}

/// Counters of the load generator.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// Requests sent.
    pub sent: AtomicU64,
    /// 2xx answers.
    pub ok: AtomicU64,
    /// Other answers or failures.
    pub failed: AtomicU64,
}

/// Runs steady load until `cancel`: `rps` requests a second cycling through
/// `paths`; every tenth request carries `end-user: tester`.
pub fn spawn(
    client: IngressClient,
    rps: f64,
    paths: Vec<String>,
    cancel: CancellationToken,
) -> Arc<LoadStats> {
    let stats = Arc::new(LoadStats::default());
    if rps <= 0.0 || paths.is_empty() {
        return stats;
    }
    let out = Arc::clone(&stats);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rps));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let in_flight = Arc::new(AtomicU64::new(0));
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            // Never pile up more than a second's worth of requests on a sick mesh.
            if in_flight.load(Ordering::Relaxed) as f64 > rps.max(8.0) {
                continue;
            }
            n += 1;
            let path = paths[(n as usize) % paths.len()].clone();
            let user = if n.is_multiple_of(10) {
                "tester".to_string()
            } else {
                format!("user-{}", n % 7)
            };
            let client = client.clone();
            let stats = Arc::clone(&stats);
            let in_flight = Arc::clone(&in_flight);
            in_flight.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                let r = tokio::time::timeout(
                    Duration::from_secs(30),
                    client.get(&path, &[("end-user", &user)]),
                )
                .await;
                match r {
                    Ok(Ok(a)) if (200..300).contains(&a.status) => {
                        stats.ok.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => stats.failed.fetch_add(1, Ordering::Relaxed),
                };
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    out
}
