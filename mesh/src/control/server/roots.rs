//! A cluster's roots and their rotation: a new root is introduced (trusted,
//! not signing), then signs, and the old one is retired once every proxy
//! holds a certificate from the new one. The three sets change under one
//! lock, so a snapshot never sees half a rotation.

use std::sync::Arc;
use std::time::Duration;

use super::{short_fp, ControlPlane, MAX_CERT_TTL};
use crate::control::events::EventKind;
use crate::identity::CertificateAuthority;

/// Why a root rotation did not go through. Nothing changed when one is
/// returned: an introduced root has been withdrawn again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootRotationError {
    /// Another rotation of the same cluster has not finished.
    #[error("a root rotation of {cluster} is already under way")]
    UnderWay {
        /// The cluster being rotated.
        cluster: String,
    },
    /// A federated peer cannot learn the new root, so it would refuse
    /// every certificate the root signs.
    #[error("{peer}'s link to {cluster} is down: it could not learn the new root")]
    PeerUnreachable {
        /// The peer whose link is down.
        peer: String,
        /// The cluster being rotated.
        cluster: String,
    },
    /// Some proxy or peer did not confirm the new root within the deadline.
    #[error("not every proxy and peer confirmed the new root in time")]
    NotConfirmed,
    /// The introduced root was withdrawn while the rotation waited.
    #[error("the introduced root vanished")]
    Vanished,
}

pub(super) struct Roots {
    /// The root that signs.
    signing: Arc<CertificateAuthority>,
    /// A root being introduced: trusted, not signing yet.
    next: Option<Arc<CertificateAuthority>>,
    /// Roots being retired (PEM): trusted until every proxy has renewed.
    retired: Vec<String>,
}

impl Roots {
    pub(super) fn new(signing: Arc<CertificateAuthority>) -> Self {
        Self {
            signing,
            next: None,
            retired: Vec::new(),
        }
    }

    /// The trust bundle: the signing root first, then one being introduced,
    /// then ones being retired.
    pub(super) fn bundle(&self) -> Vec<String> {
        let mut out = vec![self.signing.root_pem().to_string()];
        out.extend(self.next.iter().map(|c| c.root_pem().to_string()));
        out.extend(self.retired.iter().cloned());
        out
    }

    pub(super) fn signing_fingerprint(&self) -> String {
        self.signing.fingerprint()
    }
}

impl ControlPlane {
    /// The cluster CA (the one that signs now).
    pub fn ca(&self) -> Arc<CertificateAuthority> {
        Arc::clone(&self.inner.roots.lock().signing)
    }

    /// This cluster's trust bundle, read at one instant: the signing root
    /// first, then one being introduced, then ones being retired.
    pub fn roots_pem(&self) -> Vec<String> {
        self.inner.roots.lock().bundle()
    }

    /// The bundle and the signing root's fingerprint, read at one instant.
    pub(super) fn roots_and_signer(&self) -> (Vec<String>, String) {
        let r = self.inner.roots.lock();
        (r.bundle(), r.signing_fingerprint())
    }

    /// The first step of a root rotation: `next` joins this cluster's trust
    /// bundle (pushed to its proxies and exported to federated peers) but
    /// does not sign yet. Refused while another rotation is under way.
    pub fn introduce_root(&self, next: CertificateAuthority) -> Result<(), RootRotationError> {
        let fp = next.fingerprint();
        {
            let mut r = self.inner.roots.lock();
            if r.next.is_some() || !r.retired.is_empty() {
                return Err(RootRotationError::UnderWay {
                    cluster: self.inner.cluster.clone(),
                });
            }
            r.next = Some(Arc::new(next));
        }
        self.inner.events.emit(
            EventKind::Ca,
            &self.inner.cluster,
            "istiod",
            format!(
                "new root {} for {} joins the trust bundles; it signs once every proxy and peer trusts it",
                short_fp(&fp),
                self.inner.trust_domain
            ),
        );
        self.exports_changed();
        self.mark_dirty();
        Ok(())
    }

    /// Takes an introduced root out again (its propagation failed).
    pub fn withdraw_root(&self, why: &RootRotationError) {
        let Some(next) = self.inner.roots.lock().next.take() else {
            return;
        };
        self.inner.events.emit(
            EventKind::Ca,
            &self.inner.cluster,
            "istiod",
            format!(
                "root rotation aborted, root {} withdrawn: {why}",
                short_fp(&next.fingerprint())
            ),
        );
        self.exports_changed();
        self.mark_dirty();
    }

    /// The second step: the introduced root signs from now on. Proxies renew
    /// at once (their snapshots name the new signing root); the old root
    /// leaves the bundle when every proxy of this cluster holds a
    /// certificate from the new one. Returns the new signing CA.
    pub fn sign_with_introduced_root(&self) -> Option<Arc<CertificateAuthority>> {
        let (next, old) = {
            let mut r = self.inner.roots.lock();
            let next = r.next.take()?;
            let old = std::mem::replace(&mut r.signing, Arc::clone(&next));
            r.retired.push(old.root_pem().to_string());
            (next, old)
        };
        self.inner.events.emit(
            EventKind::Ca,
            &self.inner.cluster,
            "istiod",
            format!(
                "root {} signs now; the old root {} stays trusted until every proxy has renewed",
                short_fp(&next.fingerprint()),
                short_fp(&old.fingerprint())
            ),
        );
        self.mark_dirty();
        let cp = self.clone();
        let fp = next.fingerprint();
        tokio::spawn(async move { cp.retire_when_renewed(fp).await });
        Some(next)
    }

    async fn retire_when_renewed(&self, root: String) {
        // Certificates from the old root expire within MAX_CERT_TTL at the
        // latest: by then it can go even if some proxy never renewed.
        let deadline = tokio::time::Instant::now() + MAX_CERT_TTL;
        let mut wait = Duration::from_millis(100);
        while tokio::time::Instant::now() < deadline {
            let pending = self.with_registry(|r| {
                r.entries()
                    .filter(|e| e.ready && e.cert_root != root)
                    .count()
            });
            if pending == 0 {
                break;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
        let retired = {
            let mut r = self.inner.roots.lock();
            if r.signing.fingerprint() != root {
                return;
            }
            std::mem::take(&mut r.retired)
        };
        self.inner.events.emit(
            EventKind::Ca,
            &self.inner.cluster,
            "istiod",
            format!(
                "every proxy holds a certificate from root {}: {} old root(s) retired from the trust bundle",
                short_fp(&root),
                retired.len()
            ),
        );
        self.exports_changed();
        self.mark_dirty();
    }
}
