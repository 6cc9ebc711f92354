//! Federation as the mesh runs it: every control plane follows every other;
//! clusters can be unfederated and federated again; a cluster's root can be
//! rotated without breaking cross-cluster mTLS.

use std::time::Duration;

use super::{Mesh, RuntimeError};
use crate::control::events::EventKind;
use crate::control::federation::FederationStatus;
use crate::control::server::RootRotationError;

/// How long a new root may take to reach every proxy and federated peer
/// before a rotation is called off.
const ROOT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(20);

impl Mesh {
    /// Federation: every control plane follows every other over gRPC.
    pub(super) fn spawn_federation(&self) {
        let names: Vec<String> = self.inner.clusters.keys().cloned().collect();
        for from in &names {
            for to in names.iter().filter(|n| *n != from) {
                self.link(from, to);
            }
        }
    }

    /// Makes `follower` follow `peer` (until unfederated or shut down).
    fn link(&self, follower: &str, peer: &str) {
        let (Some(f), Some(p)) = (
            self.inner.clusters.get(follower),
            self.inner.clusters.get(peer),
        ) else {
            return;
        };
        let cancel = self.inner.cancel.child_token();
        let task = tokio::spawn(crate::control::federation::follow(
            f.cp.clone(),
            peer.to_string(),
            p.addr,
            self.inner.federation_token.clone(),
            cancel.clone(),
        ));
        self.track(task);
        let old = self
            .inner
            .links
            .lock()
            .insert((follower.to_string(), peer.to_string()), cancel);
        if let Some(old) = old {
            old.cancel();
        }
    }

    /// Rotates cluster `name`'s root CA the way a careful operator would:
    /// the new root joins the trust bundles; it signs only once every proxy
    /// of the cluster has ACKed a bundle with it and every federated peer
    /// (and its proxies) trusts it too; proxies then renew at once, and the
    /// old root is retired when all have. A peer that cannot learn the new
    /// root (its link is down) aborts the rotation and nothing changes.
    pub async fn rotate_root(&self, name: &str) -> Result<String, RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(name)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster '{name}'")))?;
        let next = rt.cp.ca().successor()?;
        let fp = next.fingerprint();
        rt.cp.introduce_root(next)?;
        let deadline = tokio::time::Instant::now() + ROOT_PROPAGATION_TIMEOUT;
        loop {
            match self.root_trusted_everywhere(name, &fp) {
                Ok(true) => break,
                Ok(false) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(false) => {
                    let why = RootRotationError::NotConfirmed;
                    rt.cp.withdraw_root(&why);
                    return Err(why.into());
                }
                Err(why) => {
                    rt.cp.withdraw_root(&why);
                    return Err(why.into());
                }
            }
        }
        let signing = rt
            .cp
            .sign_with_introduced_root()
            .ok_or(RootRotationError::Vanished)?;
        signing.save(&self.inner.opts.state_dir.join("ca"), name)?;
        Ok(fp)
    }

    /// Whether cluster `name`'s proxies, and every cluster federated with it
    /// (and its proxies), trust the root `fp`; an error when a peer cannot.
    fn root_trusted_everywhere(&self, name: &str, fp: &str) -> Result<bool, RootRotationError> {
        let trusts = |roots: &[String]| {
            roots
                .iter()
                .filter_map(|p| crate::identity::ca::pem_to_der(p).ok())
                .any(|d| crate::identity::certinfo::fingerprint(&d) == fp)
        };
        let mut ok = true;
        for (other, rt) in &self.inner.clusters {
            if other == name {
                ok &= rt.cp.settled();
                continue;
            }
            match rt.cp.links().get(name) {
                None => continue,
                Some(false) => {
                    return Err(RootRotationError::PeerUnreachable {
                        peer: other.clone(),
                        cluster: name.to_string(),
                    })
                }
                Some(true) => {}
            }
            let learned = rt
                .cp
                .remotes()
                .get(name)
                .is_some_and(|r| trusts(&r.roots_pem));
            ok &= learned && rt.cp.settled();
        }
        Ok(ok)
    }

    /// Ends federation between two clusters: each forgets the other's trust
    /// bundle and endpoints, and its proxies are told at once.
    pub fn unfederate(&self, a: &str, b: &str) -> Result<(), RuntimeError> {
        if a == b {
            return Err(RuntimeError::Refused(format!(
                "cannot unfederate {a} from itself: give two different clusters, like eu,us"
            )));
        }
        for (x, y) in [(a, b), (b, a)] {
            let rt = self
                .inner
                .clusters
                .get(x)
                .ok_or_else(|| RuntimeError::NotFound(format!("no cluster '{x}'")))?;
            let follower = self
                .inner
                .links
                .lock()
                .remove(&(x.to_string(), y.to_string()));
            if let Some(c) = follower {
                c.cancel();
            }
            rt.cp.remove_link(y);
            rt.cp.set_remote(y, None);
            rt.cp.events().emit(
                EventKind::Federation,
                x,
                "istiod",
                format!("unfederated from {y}: its trust bundle and endpoints are gone"),
            );
        }
        Ok(())
    }

    /// Federates two clusters again.
    pub fn federate(&self, a: &str, b: &str) -> Result<(), RuntimeError> {
        if a == b {
            return Err(RuntimeError::Refused(format!(
                "cannot federate {a} with itself: give two different clusters, like eu,us"
            )));
        }
        for c in [a, b] {
            if !self.inner.clusters.contains_key(c) {
                return Err(RuntimeError::NotFound(format!("no cluster '{c}'")));
            }
        }
        self.link(a, b);
        self.link(b, a);
        Ok(())
    }

    /// What each cluster trusts, exports and can reach, with warnings for
    /// the checks Istio's multicluster docs make people do by hand.
    pub async fn federation_status(&self) -> FederationStatus {
        FederationStatus::of(&self.control_planes()).await
    }
}
