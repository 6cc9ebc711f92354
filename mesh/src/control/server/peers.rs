//! What one control plane knows of its federated peers (their trust
//! bundles and endpoints, the links to them, the token they must present),
//! and the control plane's federation operations on it. The Federation
//! service that peers talk to is `control/federation.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::ControlPlane;
use crate::control::snapshot::{self, RemoteCluster};

/// What one control plane knows of its federated peers.
pub(crate) struct Peers {
    /// What each peer cluster exports to this one, by cluster name.
    remote: RwLock<BTreeMap<String, RemoteCluster>>,
    /// This cluster's east-west gateway, which peers reach its endpoints through.
    gateway: RwLock<Option<SocketAddr>>,
    /// Whether the link to each peer is up, by cluster name.
    links: Mutex<BTreeMap<String, bool>>,
    /// The token peers must present to follow this cluster.
    token: RwLock<String>,
    /// Bumps whenever what this cluster exports changes, to wake followers.
    exports: watch::Sender<u64>,
}

impl Default for Peers {
    fn default() -> Self {
        Self {
            remote: RwLock::new(BTreeMap::new()),
            gateway: RwLock::new(None),
            links: Mutex::new(BTreeMap::new()),
            token: RwLock::new(String::new()),
            exports: watch::channel(0).0,
        }
    }
}

impl ControlPlane {
    fn peers(&self) -> &Peers {
        &self.inner.peers
    }

    /// Tells federated peers that what this cluster exports changed.
    pub(super) fn exports_changed(&self) {
        self.peers().exports.send_modify(|g| *g += 1);
    }

    /// Bumps whenever the local registry (and so the exported services) changes.
    pub fn watch_exports(&self) -> watch::Receiver<u64> {
        self.peers().exports.subscribe()
    }

    /// Replaces what another cluster exports to this one.
    pub fn set_remote(&self, cluster: &str, remote: Option<RemoteCluster>) {
        self.set_remote_unless(cluster, remote, &CancellationToken::new());
    }

    /// What a follower heard from its peer: the peer's exports, and its link
    /// marked up. Unless `cancelled`, checked under the same lock that
    /// unfederating takes, so a follower that loses the race with unfederate
    /// can never bring the peer back.
    pub fn heard_from(&self, cluster: &str, remote: RemoteCluster, cancelled: &CancellationToken) {
        self.set_remote_unless(cluster, Some(remote), cancelled);
    }

    fn set_remote_unless(
        &self,
        cluster: &str,
        remote: Option<RemoteCluster>,
        cancelled: &CancellationToken,
    ) {
        {
            let mut r = self.peers().remote.write();
            if cancelled.is_cancelled() {
                return;
            }
            if remote.is_some() {
                self.set_link(cluster, true);
            }
            let changed = match &remote {
                Some(new) => r.get(cluster) != Some(new),
                None => r.contains_key(cluster),
            };
            if !changed {
                return;
            }
            match remote {
                Some(new) => r.insert(cluster.to_string(), new),
                None => r.remove(cluster),
            };
        }
        self.mark_dirty();
    }

    /// What other clusters export to this one.
    pub fn remotes(&self) -> BTreeMap<String, RemoteCluster> {
        self.peers().remote.read().clone()
    }

    /// Sets the east-west gateway peers reach this cluster's endpoints through.
    pub fn set_gateway(&self, addr: Option<SocketAddr>) {
        *self.peers().gateway.write() = addr;
        self.exports_changed();
    }

    /// The east-west gateway address, if any.
    pub fn gateway(&self) -> Option<SocketAddr> {
        *self.peers().gateway.read()
    }

    /// Forgets the link to a peer this cluster no longer federates with.
    pub fn remove_link(&self, peer: &str) {
        self.peers().links.lock().remove(peer);
    }

    /// Sets the token peers must present to follow this cluster.
    pub fn set_federation_token(&self, token: &str) {
        *self.peers().token.write() = token.to_string();
    }

    /// The token peers must present to follow this cluster.
    pub(super) fn federation_token(&self) -> String {
        self.peers().token.read().clone()
    }

    /// Records whether the link to a peer is up.
    pub fn set_link(&self, peer: &str, up: bool) {
        self.peers().links.lock().insert(peer.to_string(), up);
    }

    /// Peers and whether their links are up.
    pub fn links(&self) -> BTreeMap<String, bool> {
        self.peers().links.lock().clone()
    }

    /// Local services and endpoints, as exported to peers: with an east-west
    /// gateway, every endpoint is reached through it.
    pub fn exported(&self) -> RemoteCluster {
        let mut services = self.with_registry(|r| snapshot::local_services(r, self.cluster()));
        if let Some(gw) = self.gateway() {
            for s in &mut services {
                for e in &mut s.endpoints {
                    e.gateway = Some(gw.to_string());
                }
            }
        }
        RemoteCluster {
            trust_domain: self.trust_domain().to_string(),
            roots_pem: self.roots_pem(),
            services,
        }
    }
}
