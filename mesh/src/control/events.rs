//! The control plane's event stream: pushes, ACKs, NACKs, certificates,
//! ejections, denied connections, chaos. A bounded ring of past events plus a
//! broadcast for followers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::proto::Event;

/// How many past events are kept for late subscribers.
const KEEP: usize = 2000;

/// Mesh-wide event bus.
#[derive(Debug)]
pub struct EventBus {
    seq: AtomicU64,
    ring: Mutex<VecDeque<Event>>,
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            seq: AtomicU64::new(0),
            ring: Mutex::new(VecDeque::with_capacity(KEEP)),
            tx,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl EventBus {
    /// Records and broadcasts an event.
    pub fn emit(&self, kind: &str, cluster: &str, source: &str, message: impl Into<String>) {
        self.emit_at(unix_ms(), kind, cluster, source, message)
    }

    /// Records an event that happened at `unix_ms` (events reported by proxies).
    pub fn emit_at(
        &self,
        unix_ms: i64,
        kind: &str,
        cluster: &str,
        source: &str,
        message: impl Into<String>,
    ) {
        let ev = Event {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            unix_ms,
            kind: kind.to_string(),
            cluster: cluster.to_string(),
            source: source.to_string(),
            // One line per event, whatever the message carried.
            message: message.into().replace(['\n', '\r'], " "),
        };
        tracing::info!(kind, cluster, source, message = %ev.message, "event");
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == KEEP {
                ring.pop_front();
            }
            ring.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    /// The last `n` events, oldest first.
    pub fn recent(&self, n: usize) -> Vec<Event> {
        match self.ring.lock() {
            Ok(ring) => ring
                .iter()
                .skip(ring.len().saturating_sub(n))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Follows new events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
