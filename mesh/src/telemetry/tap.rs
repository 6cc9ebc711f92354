//! The tap: a bounded ring of a proxy's most recent requests plus a
//! broadcast for live followers, what the console's "live requests" view
//! and access logs read.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::OnceLock;

use tokio::sync::broadcast;

use crate::proto::TapEntry;

const KEEP: usize = 512;

/// Entries a live follower may fall behind by before it skips ahead.
const FOLLOW_BACKLOG: usize = 256;

/// Recent requests of one proxy.
///
/// Both parts grow only when used: a broadcast channel preallocates every
/// slot, and a ring of 512 entries per proxy was most of the memory of a
/// thousand idle sidecars.
#[derive(Debug, Default)]
pub struct Tap {
    ring: Mutex<VecDeque<TapEntry>>,
    tx: OnceLock<broadcast::Sender<TapEntry>>,
}

impl Tap {
    /// Records a request.
    pub fn push(&self, entry: TapEntry) {
        let follower = self.tx.get().filter(|tx| tx.receiver_count() > 0);
        {
            let mut r = self.ring.lock();
            if r.len() == KEEP {
                r.pop_front();
            }
            match follower {
                None => {
                    r.push_back(entry);
                    return;
                }
                Some(_) => r.push_back(entry.clone()),
            }
        }
        if let Some(tx) = follower {
            let _ = tx.send(entry);
        }
    }

    /// The most recent `n` entries, oldest first.
    pub fn recent(&self, n: usize) -> Vec<TapEntry> {
        let r = self.ring.lock();
        r.iter().skip(r.len().saturating_sub(n)).cloned().collect()
    }

    /// Follows new entries.
    pub fn subscribe(&self) -> broadcast::Receiver<TapEntry> {
        self.tx
            .get_or_init(|| broadcast::channel(FOLLOW_BACKLOG).0)
            .subscribe()
    }
}

impl TapEntry {
    /// Which proxy logged this request: the caller's sidecar for outbound
    /// (`source`) reports, the server's for inbound ones.
    pub fn logged_by(&self) -> &str {
        if self.reporter == "source" {
            &self.source_instance
        } else {
            &self.destination_instance
        }
    }

    /// The request as a line of Envoy's default access log, followed by the
    /// fields Istio's default format adds (upstream cluster, downstream
    /// address, route name); `-` where a value is unknown.
    pub fn access_log_line(&self) -> String {
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let start =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.unix_ms) * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                    ))
                    .ok()
                })
                .unwrap_or_else(|| "-".into());
        format!(
            "[{start}] \"{} {} {}\" {} {} {} {} {:.0} - \"-\" \"{}\" \"-\" \"{}\" \"{}\" {} {} {}",
            self.method,
            crate::yaml::escape_control(&self.path),
            dash(&self.protocol),
            self.status,
            dash(&self.flags),
            self.bytes_received,
            self.bytes_sent,
            self.latency_ms,
            dash(&crate::yaml::escape_control(&self.user_agent)),
            dash(&crate::yaml::escape_control(&self.authority)),
            dash(&self.upstream_host),
            dash(&self.upstream_cluster),
            dash(&self.downstream_remote),
            dash(&self.route_name),
        )
    }
}

#[cfg(test)]
mod log_tests {
    use super::*;

    #[test]
    fn a_request_reads_as_envoys_default_access_log() {
        let e = TapEntry {
            unix_ms: 1_764_556_200_123,
            reporter: "source".into(),
            source_instance: "user-v1-0".into(),
            method: "GET".into(),
            path: "/pay".into(),
            protocol: "HTTP/1.1".into(),
            status: 503,
            flags: "UF,URX".into(),
            bytes_received: 0,
            bytes_sent: 19,
            latency_ms: 12.4,
            user_agent: "curl/8.5".into(),
            authority: "billing:8080".into(),
            upstream_host: "127.0.0.1:40375".into(),
            upstream_cluster: "outbound|8080|v1|billing.default.svc.cluster.local".into(),
            ..Default::default()
        };
        assert_eq!(
            e.access_log_line(),
            "[2025-12-01T02:30:00.123Z] \"GET /pay HTTP/1.1\" 503 UF,URX 0 19 12 - \"-\" \"curl/8.5\" \"-\" \"billing:8080\" \"127.0.0.1:40375\" outbound|8080|v1|billing.default.svc.cluster.local - -"
        );
        assert_eq!(e.logged_by(), "user-v1-0");
    }
}
