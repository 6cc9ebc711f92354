//! Federation between control planes, as in Istio's multi-primary mesh on
//! separate networks: each cluster keeps its own control plane, CA and trust
//! domain; peers follow each other's trust bundle and exported services
//! over a gRPC stream (authenticated by the mesh's federation token), and
//! reach remote endpoints only through the remote east-west gateway.
//!
//! When the link goes down, a control plane keeps the last state it heard:
//! both clusters go on serving on their last known endpoints.
//!
//! Also here: the federation status the console shows ([`FederationStatus`]).
//! What a control plane knows of its peers lives with it, in `server/peers.rs`.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::events::EventKind;
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
            EventKind::Federation,
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
                                        EventKind::Federation,
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
                EventKind::Federation,
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

// The status types below declare their fields in alphabetical order: that is
// the order the untyped JSON this status replaced had, so the console API
// sends the same bytes as before.

/// What each cluster trusts, exports and can reach, with warnings for the
/// checks Istio's multicluster docs make people do by hand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FederationStatus {
    /// One entry per cluster, in cluster-name order.
    pub clusters: Vec<ClusterFederation>,
    /// Problems found, one sentence each, naming the clusters involved.
    pub warnings: Vec<String>,
}

/// One cluster's side of the federation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterFederation {
    /// The cluster's name, e.g. `eu`.
    pub cluster: String,
    /// Where peers reach this cluster's services, if it has an east-west gateway.
    pub eastwest_gateway: Option<String>,
    /// What this cluster offers its peers.
    pub exported_services: Vec<ExportedService>,
    /// Whether the east-west gateway accepted a TCP connection just now.
    pub gateway_reachable: bool,
    /// Whether the control-plane link to each peer is up, by peer cluster.
    pub links: BTreeMap<String, bool>,
    /// What each peer exports to this cluster: peer cluster → service → endpoints.
    pub remote_endpoints: BTreeMap<String, BTreeMap<String, RemoteEndpoints>>,
    /// SHA-256 fingerprint of the root that signs this cluster's certificates now.
    pub root_fingerprint: String,
    /// Fingerprints of the roots this cluster trusts, by trust domain (its
    /// own and every peer's).
    pub trust_bundles: BTreeMap<String, Vec<String>>,
    /// The trust domain its CA signs for, e.g. `eu.mesh`.
    pub trust_domain: String,
}

/// A service one cluster exports to its peers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedService {
    /// How many ready endpoints it exports.
    pub endpoints: usize,
    /// The service's namespace.
    pub namespace: String,
    /// The service's short name, e.g. `billing`.
    pub service: String,
}

/// What a peer exports of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteEndpoints {
    /// How many endpoints the peer exports.
    pub endpoints: usize,
    /// The peer's east-west gateway they are reached through, if any.
    pub via: Option<String>,
}

/// Fingerprints of the PEM roots in `roots` (unreadable ones skipped).
fn fingerprints(roots: &[String]) -> Vec<String> {
    roots
        .iter()
        .filter_map(|p| crate::identity::ca::pem_to_der(p).ok())
        .map(|d| crate::identity::certinfo::fingerprint(&d))
        .collect()
}

impl FederationStatus {
    /// The federation status of the clusters `cps` serve. Probes each
    /// east-west gateway with a TCP connect of at most a second.
    pub async fn of(cps: &[ControlPlane]) -> FederationStatus {
        let mut status = FederationStatus::default();
        for cp in cps {
            let cluster = cluster_status(cp, cps, &mut status.warnings).await;
            status.clusters.push(cluster);
        }
        status
    }
}

async fn cluster_status(
    cp: &ControlPlane,
    cps: &[ControlPlane],
    warnings: &mut Vec<String>,
) -> ClusterFederation {
    let exported = cp.exported();
    let remotes = cp.remotes();
    let gw = cp.gateway();
    let reachable = match gw {
        Some(a) => tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(a))
            .await
            .is_ok_and(|r| r.is_ok()),
        None => false,
    };
    let mut bundles = BTreeMap::new();
    bundles.insert(cp.trust_domain().to_string(), fingerprints(&cp.roots_pem()));
    for (name, r) in &remotes {
        let fps = fingerprints(&r.roots_pem);
        if let Some(peer) = cps.iter().find(|c| c.cluster() == name) {
            if !fps.contains(&peer.ca().fingerprint()) {
                warnings.push(format!(
                    "{} trusts a root for {} that is not the root {} uses now: cross-cluster mTLS to {} will fail",
                    cp.cluster(),
                    r.trust_domain,
                    name,
                    name
                ));
            }
        }
        bundles.insert(r.trust_domain.clone(), fps);
    }
    for other in cps.iter().filter(|o| o.cluster() != cp.cluster()) {
        if !remotes.contains_key(other.cluster()) {
            warnings.push(format!(
                "{} has no trust bundle or endpoints from {}",
                cp.cluster(),
                other.cluster()
            ));
        }
    }
    for (peer, up) in cp.links() {
        if !up {
            warnings.push(format!("the link from {} to {peer}'s control plane is down: {} serves on the last known endpoints", cp.cluster(), cp.cluster()));
        }
    }
    if gw.is_some() && !reachable {
        warnings.push(format!("the east-west gateway of {} is not reachable: other clusters cannot reach its services", cp.cluster()));
    }
    let remote_endpoints = remotes
        .iter()
        .map(|(name, r)| {
            let services = r
                .services
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        RemoteEndpoints {
                            endpoints: s.endpoints.len(),
                            via: s.endpoints.iter().find_map(|e| e.gateway.clone()),
                        },
                    )
                })
                .collect();
            (name.clone(), services)
        })
        .collect();
    ClusterFederation {
        cluster: cp.cluster().to_string(),
        trust_domain: cp.trust_domain().to_string(),
        root_fingerprint: cp.ca().fingerprint(),
        trust_bundles: bundles,
        exported_services: exported
            .services
            .iter()
            .map(|s| ExportedService {
                service: s.name.clone(),
                namespace: s.namespace.clone(),
                endpoints: s.endpoints.len(),
            })
            .collect(),
        remote_endpoints,
        eastwest_gateway: gw.map(|a| a.to_string()),
        links: cp.links(),
        gateway_reachable: reachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serializes_with_the_keys_the_console_reads() {
        let status = FederationStatus {
            clusters: vec![ClusterFederation {
                cluster: "eu".into(),
                trust_domain: "eu.mesh".into(),
                root_fingerprint: "ab".into(),
                trust_bundles: BTreeMap::from([("eu.mesh".into(), vec!["ab".into()])]),
                exported_services: vec![ExportedService {
                    service: "auth".into(),
                    namespace: "default".into(),
                    endpoints: 1,
                }],
                remote_endpoints: BTreeMap::from([(
                    "us".into(),
                    BTreeMap::from([(
                        "billing".into(),
                        RemoteEndpoints {
                            endpoints: 2,
                            via: Some("127.0.0.1:15443".into()),
                        },
                    )]),
                )]),
                eastwest_gateway: None,
                links: BTreeMap::from([("us".into(), true)]),
                gateway_reachable: false,
            }],
            warnings: vec!["w".into()],
        };
        let typed = serde_json::to_string(&status).expect("serialize");
        // What the untyped version built, key for key.
        let untyped = serde_json::json!({
            "clusters": [{
                "cluster": "eu",
                "trust_domain": "eu.mesh",
                "root_fingerprint": "ab",
                "trust_bundles": {"eu.mesh": ["ab"]},
                "exported_services": [{"service": "auth", "namespace": "default", "endpoints": 1}],
                "remote_endpoints": {"us": {"billing": {"endpoints": 2, "via": "127.0.0.1:15443"}}},
                "eastwest_gateway": null,
                "links": {"us": true},
                "gateway_reachable": false,
            }],
            "warnings": ["w"],
        });
        assert_eq!(typed, untyped.to_string());
        let back: FederationStatus = serde_json::from_str(&typed).expect("deserialize");
        assert_eq!(back, status);
    }
}
