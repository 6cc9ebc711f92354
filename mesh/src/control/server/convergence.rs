//! How far a config version has spread among a cluster's proxies, and
//! waiting until it has: what an apply reports, and what the mesh waits for
//! before it calls itself ready.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::push::AckState;
use super::ControlPlane;

/// How far a version has spread.
#[derive(Debug, Clone, Default)]
pub struct Convergence {
    /// Proxies with an open stream: the ones the version must reach now.
    pub total: u32,
    /// Proxies that got a push for this version.
    pub pushed: u32,
    /// Proxies holding the version.
    pub acked: u32,
    /// Proxies that refused it: (proxy id, the proxy's reason).
    pub nacked: Vec<(String, String)>,
    /// Registered proxies not connected now (their control plane is down, or
    /// they are restarting): they get the version when they reconnect.
    pub disconnected: Vec<String>,
}

impl Convergence {
    /// Every connected proxy either holds the version or refused it.
    pub fn done(&self) -> bool {
        self.acked as usize + self.nacked.len() >= self.total as usize
    }
}

impl ControlPlane {
    /// How far `version` has spread among connected proxies.
    pub fn convergence(&self, version: u64) -> Convergence {
        let mut c = Convergence::default();
        let registered: Vec<String> = self.with_registry(|r| r.entries().map(|e| e.id()).collect());
        let proxies = self.inner.proxies.lock();
        c.disconnected = registered
            .into_iter()
            .filter(|id| proxies.get(id).is_none_or(|p| p.tx.is_none()))
            .collect();
        for (id, conn) in proxies.iter() {
            if conn.tx.is_none() {
                continue;
            }
            c.total += 1;
            if conn.last_push_version == version {
                c.pushed += 1;
            }
            match &conn.state {
                AckState::Nacked(reason) if conn.sent_version >= version => {
                    c.nacked.push((id.clone(), reason.clone()))
                }
                _ if conn.acked_version >= version => c.acked += 1,
                _ => {}
            }
        }
        c
    }

    /// Whether every connected proxy holds `version` or refused it: what
    /// [`Convergence::done`] says, without building the report. Waiters ask
    /// on every ACK, so with a thousand proxies this must not allocate.
    fn converged(&self, version: u64) -> bool {
        self.inner.proxies.lock().values().all(|conn| {
            conn.tx.is_none()
                || conn.acked_version >= version
                || matches!(conn.state, AckState::Nacked(_)) && conn.sent_version >= version
        })
    }

    /// Waits until `version` has converged or `timeout` passes.
    pub async fn wait_converged(&self, version: u64, timeout: Duration) -> Convergence {
        let mut rx = self.inner.progress.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.converged(version) {
                return self.convergence(version);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.convergence(version),
            }
        }
    }

    /// No change waits for a push, and every connected proxy answered its last one.
    pub fn settled(&self) -> bool {
        if self.inner.pushed_generation.load(Ordering::Acquire)
            != self.inner.generation.load(Ordering::Acquire)
        {
            return false;
        }
        self.inner
            .proxies
            .lock()
            .values()
            .filter(|c| c.tx.is_some())
            .all(|c| c.state != AckState::Pending)
    }

    /// Waits until [`Self::settled`] or `timeout`.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let mut rx = self.inner.progress.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.settled() {
                return true;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.settled();
            }
        }
    }
}
