//! The proxy side of the control plane: the Discovery stream (receive a
//! snapshot, apply it, ACK or NACK; reconnect with backoff; report data-plane
//! events upstream) and certificate signing over gRPC.
//!
//! Only this module knows about tonic on the proxy side: the proxy hands it a
//! closure that applies a snapshot, and gets its events from a channel.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use super::snapshot::ProxySnapshot;
use crate::identity::{CertificateSigner, IdentityError};
use crate::proto::certificates_client::CertificatesClient;
use crate::proto::discovery_client::DiscoveryClient;
use crate::proto::{DiscoveryRequest, Node, ProxyEvent, SignRequest};

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(1500);

/// A lazily connecting channel to a control plane.
pub fn channel(addr: SocketAddr) -> Channel {
    // The address is a SocketAddr, so the URI is always valid.
    Endpoint::from_shared(format!("http://{addr}"))
        .map(|e| {
            e.connect_timeout(Duration::from_secs(2))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(10))
        })
        .map(|e| e.connect_lazy())
        .unwrap_or_else(|_| Endpoint::from_static("http://127.0.0.1:1").connect_lazy())
}

/// Why a proxy refused a snapshot. Its message travels back to the control
/// plane as the NACK's `error_detail`, and from there to whoever applied.
#[derive(Debug, thiserror::Error)]
pub enum NackReason {
    /// The snapshot's bytes are not a snapshot this proxy understands.
    #[error("cannot decode snapshot: {0}")]
    Decode(#[from] serde_json::Error),
    /// The proxy could not apply the snapshot, in its own words (an invalid
    /// regex, an unknown cluster, ...).
    #[error("{0}")]
    Rejected(String),
}

impl From<String> for NackReason {
    fn from(why: String) -> Self {
        NackReason::Rejected(why)
    }
}

/// Runs the Discovery stream until `cancel`: each snapshot goes to `apply`;
/// an `Err` from it is sent back as a NACK and the proxy keeps its last good
/// config. `connected` tells whether a stream is open.
pub async fn run_discovery<F>(
    channel: Channel,
    node: Node,
    mut apply: F,
    mut events: mpsc::Receiver<ProxyEvent>,
    connected: watch::Sender<bool>,
    cancel: CancellationToken,
) where
    F: FnMut(ProxySnapshot) -> Result<(), NackReason> + Send,
{
    let mut client = DiscoveryClient::new(channel);
    let mut backoff = Duration::from_millis(50);
    let mut held_version = String::new();
    loop {
        let (req_tx, req_rx) = mpsc::channel::<DiscoveryRequest>(32);
        let hello = DiscoveryRequest {
            node: Some(node.clone()),
            version_info: held_version.clone(),
            ..Default::default()
        };
        if req_tx.send(hello).await.is_err() {
            return;
        }
        let opened = tokio::select! {
            _ = cancel.cancelled() => return,
            r = client.stream(ReceiverStream::new(req_rx)) => r,
        };
        match opened {
            Ok(resp) => {
                backoff = Duration::from_millis(50);
                let _ = connected.send(true);
                let mut stream = resp.into_inner();
                // Nonces count up within a stream; an older push arriving
                // after a newer one must not replace it.
                let mut last_nonce = 0u64;
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => {
                            let _ = connected.send(false);
                            return;
                        }
                        Some(ev) = events.recv() => {
                            let _ = req_tx.send(DiscoveryRequest { events: vec![ev], ..Default::default() }).await;
                        }
                        msg = stream.message() => {
                            let resp = match msg {
                                Ok(Some(r)) => r,
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::debug!(error = %e, "discovery stream failed");
                                    break;
                                }
                            };
                            if let Ok(n) = resp.nonce.parse::<u64>() {
                                if n <= last_nonce {
                                    tracing::warn!(nonce = n, last_nonce, "ignored a push older than the config held");
                                    continue;
                                }
                                last_nonce = n;
                            }
                            let result = serde_json::from_slice::<ProxySnapshot>(&resp.snapshot)
                                .map_err(NackReason::from)
                                .and_then(&mut apply);
                            let reply = match result {
                                Ok(()) => {
                                    held_version = resp.version_info.clone();
                                    DiscoveryRequest {
                                        version_info: resp.version_info,
                                        response_nonce: resp.nonce,
                                        ..Default::default()
                                    }
                                }
                                Err(reason) => {
                                    tracing::warn!(%reason, version = %resp.version_info, "NACK: keeping the last good config");
                                    DiscoveryRequest {
                                        version_info: held_version.clone(),
                                        response_nonce: resp.nonce,
                                        error_detail: reason.to_string(),
                                        ..Default::default()
                                    }
                                }
                            };
                            if req_tx.send(reply).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = connected.send(false);
            }
            Err(status) => {
                tracing::debug!(%status, "discovery stream refused");
            }
        }
        let jitter = Duration::from_millis(rand::random::<u64>() % 50);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff + jitter) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Signs CSRs through the control plane's Certificates service.
pub struct GrpcSigner {
    channel: Channel,
    token: String,
}

impl GrpcSigner {
    /// A signer presenting `token`.
    pub fn new(channel: Channel, token: String) -> Self {
        Self { channel, token }
    }
}

impl CertificateSigner for GrpcSigner {
    fn sign(
        &self,
        csr_pem: String,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<String>, IdentityError>> {
        let mut client = CertificatesClient::new(self.channel.clone());
        let req = SignRequest {
            csr_pem,
            token: self.token.clone(),
            ttl_seconds: ttl.as_secs().max(1),
        };
        Box::pin(async move {
            match client.sign(req).await {
                Ok(resp) => Ok(resp.into_inner().cert_chain_pem),
                Err(s) if s.code() == tonic::Code::Unauthenticated => {
                    Err(IdentityError::Token(s.message().to_string()))
                }
                Err(s) => Err(IdentityError::Unavailable(s.message().to_string())),
            }
        })
    }
}
