//! Federation between control planes, as in Istio's multi-primary mesh on
//! separate networks: each cluster keeps its own control plane, CA and trust
//! domain; peers follow each other's trust bundle and exported services
//! over a gRPC stream (authenticated by the mesh's federation token), and
//! reach remote endpoints only through the remote east-west gateway.
//!
//! When the link goes down, a control plane keeps the last state it heard:
//! both clusters go on serving on their last known endpoints.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::snapshot::RemoteCluster;
use super::ControlPlane;
use crate::proto::federation_client::FederationClient;
use crate::proto::federation_server::Federation;
use crate::proto::{FederationHello, FederationState};

/// The Federation service of one control plane.
pub struct FederationService {
    /// The control plane whose exports are served.
    pub cp: ControlPlane,
    /// The token peers must present.
    pub token: String,
    /// Ends every stream when the control plane stops serving.
    pub session: CancellationToken,
}

/// Compares tokens in time that does not depend on where they differ.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type StateStream = Pin<Box<dyn Stream<Item = Result<FederationState, Status>> + Send>>;

#[tonic::async_trait]
impl Federation for FederationService {
    type WatchStream = StateStream;

    async fn watch(
        &self,
        request: Request<FederationHello>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let hello = request.into_inner();
        if self.token.is_empty() || !same_token(hello.token.as_bytes(), self.token.as_bytes()) {
            return Err(Status::unauthenticated(
                "wrong federation token: this control plane does not federate with you",
            ));
        }
        let cp = self.cp.clone();
        let session = self.session.clone();
        let mut changes = cp.watch_exports();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        cp.events().emit(
            "federation",
            cp.cluster(),
            "istiod",
            format!("cluster {} follows this cluster", hello.cluster),
        );
        tokio::spawn(async move {
            loop {
                let exported = serde_json::to_vec(&cp.exported()).unwrap_or_default();
                let state = FederationState {
                    cluster: cp.cluster().to_string(),
                    exported,
                };
                if tx.send(Ok(state)).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = session.cancelled() => return,
                    r = changes.changed() => if r.is_err() { return },
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// Follows a peer control plane until `cancel`, updating `cp`'s view of it.
/// Reconnects with backoff; never forgets the last state heard.
pub async fn follow(
    cp: ControlPlane,
    peer: String,
    peer_addr: std::net::SocketAddr,
    token: String,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    let mut was_up = false;
    loop {
        let channel = super::client::channel(peer_addr);
        let mut client = FederationClient::new(channel);
        let hello = FederationHello {
            cluster: cp.cluster().to_string(),
            token: token.clone(),
        };
        let opened = tokio::select! {
            _ = cancel.cancelled() => return,
            r = client.watch(hello) => r,
        };
        if let Ok(resp) = opened {
            let mut stream = resp.into_inner();
            loop {
                let msg = tokio::select! {
                    _ = cancel.cancelled() => return,
                    m = stream.message() => m,
                };
                match msg {
                    Ok(Some(state)) => {
                        match serde_json::from_slice::<RemoteCluster>(&state.exported) {
                            Ok(remote) => {
                                if !was_up {
                                    was_up = true;
                                    backoff = Duration::from_millis(100);
                                    cp.events().emit(
                                        "federation",
                                        cp.cluster(),
                                        "istiod",
                                        format!("link to {peer} up"),
                                    );
                                }
                                cp.heard_from(&peer, remote, &cancel);
                            }
                            Err(e) => tracing::warn!(error = %e, %peer, "bad federation state"),
                        }
                    }
                    _ => break,
                }
            }
        }
        if was_up {
            was_up = false;
            cp.set_link(&peer, false);
            cp.events().emit(
                "federation",
                cp.cluster(),
                "istiod",
                format!("link to {peer} down: serving on the last known endpoints"),
            );
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
