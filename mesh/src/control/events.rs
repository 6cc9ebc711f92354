//! The control plane's event stream: pushes, ACKs, NACKs, certificates,
//! ejections, denied connections, chaos. A bounded ring of past events plus a
//! broadcast for followers.
//!
//! Event kinds are an enum inside the mesh and a string on the wire
//! (`Event.kind`, `ProxyEvent.kind`), so the console and older proxies keep
//! reading and sending what they always did.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::proto::Event;

/// How many past events are kept for late subscribers.
const KEEP: usize = 2000;

/// Every kind of event the mesh emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The whole mesh started and serves traffic.
    Mesh,
    /// A config version was committed from the console.
    Config,
    /// A chaos action from the console took effect.
    Chaos,
    /// A control plane sent a proxy a new snapshot.
    Push,
    /// A proxy refused a snapshot and keeps its previous config.
    Nack,
    /// A proxy opened its Discovery stream.
    Connect,
    /// A control plane started or stopped serving.
    ControlPlane,
    /// A step of a root CA rotation.
    Ca,
    /// A workload got its first certificate.
    CertIssued,
    /// A workload renewed its certificate.
    CertRotated,
    /// A federation link came up or went down, or clusters were unfederated.
    Federation,
    /// The outlier detector ejected an endpoint (reported by a proxy).
    Ejection,
    /// An ejected endpoint is back in its pool (reported by a proxy).
    Uneject,
    /// A proxy refused a connection or request (reported by a proxy).
    Denied,
}

impl EventKind {
    /// Every kind, in the order the console documents them.
    pub const ALL: [EventKind; 14] = [
        EventKind::Mesh,
        EventKind::Config,
        EventKind::Chaos,
        EventKind::Push,
        EventKind::Nack,
        EventKind::Connect,
        EventKind::ControlPlane,
        EventKind::Ca,
        EventKind::CertIssued,
        EventKind::CertRotated,
        EventKind::Federation,
        EventKind::Ejection,
        EventKind::Uneject,
        EventKind::Denied,
    ];

    /// The kind as it travels in `Event.kind` and `ProxyEvent.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Mesh => "mesh",
            EventKind::Config => "config",
            EventKind::Chaos => "chaos",
            EventKind::Push => "push",
            EventKind::Nack => "nack",
            EventKind::Connect => "connect",
            EventKind::ControlPlane => "control-plane",
            EventKind::Ca => "ca",
            EventKind::CertIssued => "cert-issued",
            EventKind::CertRotated => "cert-rotated",
            EventKind::Federation => "federation",
            EventKind::Ejection => "ejection",
            EventKind::Uneject => "uneject",
            EventKind::Denied => "denied",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind string that names no [`EventKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind '{0}'")]
pub struct UnknownEventKind(pub String);

impl std::str::FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_string()))
    }
}

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
    pub fn emit(&self, kind: EventKind, cluster: &str, source: &str, message: impl Into<String>) {
        self.emit_at(unix_ms(), kind, cluster, source, message)
    }

    /// Records an event that happened at `unix_ms` (events reported by proxies).
    pub fn emit_at(
        &self,
        unix_ms: i64,
        kind: EventKind,
        cluster: &str,
        source: &str,
        message: impl Into<String>,
    ) {
        let ev = Event {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            unix_ms,
            kind: kind.as_str().to_string(),
            cluster: cluster.to_string(),
            source: source.to_string(),
            // One line per event, whatever the message carried.
            message: message.into().replace(['\n', '\r'], " "),
        };
        tracing::info!(kind = kind.as_str(), cluster, source, message = %ev.message, "event");
        {
            let mut ring = self.ring.lock();
            if ring.len() == KEEP {
                ring.pop_front();
            }
            ring.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    /// The last `n` events, oldest first.
    pub fn recent(&self, n: usize) -> Vec<Event> {
        let ring = self.ring.lock();
        ring.iter()
            .skip(ring.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// Follows new events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_wire_string() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
    }

    #[test]
    fn unknown_kind_is_an_error() {
        assert_eq!(
            "reboot".parse::<EventKind>(),
            Err(UnknownEventKind("reboot".into()))
        );
    }
}

/// What an ejection event says: the instance first, its address, the
/// upstream cluster and for how long; [`ejected_instances`] reads it back.
pub(crate) fn ejection_message(
    instance: &str,
    host: &str,
    cluster: &str,
    secs: u64,
    times: u32,
) -> String {
    format!("{instance} ({host}) ejected from {cluster} for {secs}s (ejection #{times})")
}

/// What a return event says (the address that is back).
pub(crate) fn uneject_message(host: &str, cluster: &str) -> String {
    format!("{host} back in {cluster}")
}

/// Instances an outlier detector has ejected and not yet returned, read
/// from the events in order, each with when its ejection ends (ms since
/// the epoch); those whose time is up by `now_ms` are left out.
pub fn ejected_instances<'a>(
    events: impl IntoIterator<Item = &'a crate::proto::Event>,
    now_ms: i64,
) -> std::collections::BTreeMap<String, i64> {
    let mut out: std::collections::BTreeMap<String, (String, i64)> = Default::default();
    for e in events {
        match e.kind.parse::<EventKind>() {
            Ok(EventKind::Ejection) => {
                let mut words = e.message.split_whitespace();
                let (Some(instance), Some(host)) = (words.next(), words.next()) else {
                    continue;
                };
                let secs: i64 = e
                    .message
                    .rsplit(" for ")
                    .next()
                    .and_then(|r| r.split('s').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let host = host.trim_matches(|c| c == '(' || c == ')').to_string();
                out.insert(instance.to_string(), (host, e.unix_ms + secs * 1000));
            }
            Ok(EventKind::Uneject) => {
                let host = e.message.split_whitespace().next().unwrap_or_default();
                out.retain(|_, (h, _)| h != host);
            }
            _ => {}
        }
    }
    out.into_iter()
        .filter(|(_, (_, until))| *until > now_ms)
        .map(|(i, (_, until))| (i, until))
        .collect()
}

#[cfg(test)]
mod ejection_tests {
    use super::*;

    #[test]
    fn an_ejection_is_read_back_until_its_return_or_its_time_is_up() {
        let ev = |kind: &str, ms: i64, message: String| crate::proto::Event {
            kind: kind.into(),
            unix_ms: ms,
            message,
            ..Default::default()
        };
        let out = ev(
            "ejection",
            1_000,
            ejection_message(
                "billing-v1-1",
                "127.0.0.1:9",
                "outbound|8080|v1|billing",
                30,
                1,
            ),
        );
        assert_eq!(
            ejected_instances([&out], 2_000).get("billing-v1-1"),
            Some(&31_000)
        );
        assert!(ejected_instances([&out], 40_000).is_empty(), "time is up");
        let back = ev(
            "uneject",
            5_000,
            uneject_message("127.0.0.1:9", "outbound|8080|v1|billing"),
        );
        assert!(
            ejected_instances([&out, &back], 6_000).is_empty(),
            "returned"
        );
    }
}
