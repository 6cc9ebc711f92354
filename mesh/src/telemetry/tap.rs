//! The tap: a bounded ring of a proxy's most recent requests plus a
//! broadcast for live followers, what the console's "live requests" view
//! and access logs read.

use parking_lot::Mutex;
use std::collections::VecDeque;

use tokio::sync::broadcast;

use crate::proto::TapEntry;

const KEEP: usize = 512;

/// Recent requests of one proxy.
#[derive(Debug)]
pub struct Tap {
    ring: Mutex<VecDeque<TapEntry>>,
    tx: broadcast::Sender<TapEntry>,
}

impl Default for Tap {
    fn default() -> Self {
        Self {
            ring: Mutex::new(VecDeque::with_capacity(KEEP)),
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Tap {
    /// Records a request.
    pub fn push(&self, entry: TapEntry) {
        {
            let mut r = self.ring.lock();
            if r.len() == KEEP {
                r.pop_front();
            }
            if self.tx.receiver_count() == 0 {
                r.push_back(entry);
                return;
            }
            r.push_back(entry.clone());
        }
        let _ = self.tx.send(entry);
    }

    /// The most recent `n` entries, oldest first.
    pub fn recent(&self, n: usize) -> Vec<TapEntry> {
        let r = self.ring.lock();
        r.iter().skip(r.len().saturating_sub(n)).cloned().collect()
    }

    /// Follows new entries.
    pub fn subscribe(&self) -> broadcast::Receiver<TapEntry> {
        self.tx.subscribe()
    }
}
