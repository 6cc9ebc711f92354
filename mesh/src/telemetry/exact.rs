//! Exact latency percentiles per edge, over a sliding window: each edge keeps
//! HDR histograms (microseconds, two significant digits: 1% resolution) for
//! twelve 5-second slots; a query merges the slots that overlap the window.
//! Unlike percentiles interpolated from Prometheus buckets, these are the
//! order statistics of the recorded samples to within 1%.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Width of one slot.
pub const SLOT: Duration = Duration::from_secs(5);
/// Slots kept: the longest window is `SLOT * SLOTS`.
pub const SLOTS: usize = 12;

/// Identifies an edge as the reporting proxy sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EdgeKey {
    /// `source` or `destination`.
    pub reporter: String,
    /// Calling workload (`frontend-v1`).
    pub source_workload: String,
    /// Source cluster.
    pub source_cluster: String,
    /// Destination service name.
    pub destination_service: String,
    /// Destination workload (`billing-v2`), or `unknown`.
    pub destination_workload: String,
    /// Destination version.
    pub destination_version: String,
    /// Destination cluster.
    pub destination_cluster: String,
}

/// Exact percentiles of one edge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EdgeStat {
    /// The edge.
    pub edge: Option<EdgeKey>,
    /// Samples in the window.
    pub count: u64,
    /// Of which failed (status ≥ 500 or no response).
    pub errors: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Largest sample, ms.
    pub max_ms: f64,
    /// Window length, s.
    pub window_s: f64,
}

struct Slot {
    start: Instant,
    hist: Histogram<u32>,
    errors: u64,
}

struct Edge {
    slots: Vec<Slot>,
}

fn new_hist() -> Option<Histogram<u32>> {
    // 1 µs to 1 hour at 2 significant digits: about 10 KB per slot.
    Histogram::new_with_bounds(1, 3_600_000_000, 2).ok()
}

/// Whether a slot holds samples from the last `window`.
fn in_window(start: Instant, now: Instant, window: Duration) -> bool {
    now.duration_since(start) < window + SLOT
}

impl Edge {
    fn slot(&mut self, now: Instant) -> Option<&mut Slot> {
        let fresh = self
            .slots
            .last()
            .is_none_or(|s| now.duration_since(s.start) >= SLOT);
        if fresh {
            if self.slots.len() == SLOTS {
                self.slots.remove(0);
            }
            self.slots.push(Slot {
                start: now,
                hist: new_hist()?,
                errors: 0,
            });
        }
        self.slots.last_mut()
    }
}

/// Per-edge sliding-window histograms of one proxy.
#[derive(Default)]
pub struct EdgeLatencies {
    edges: Mutex<HashMap<EdgeKey, Edge>>,
}

impl std::fmt::Debug for EdgeLatencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeLatencies")
    }
}

impl EdgeLatencies {
    /// Records one request.
    pub fn record(&self, key: EdgeKey, latency: Duration, error: bool) {
        self.record_at(key, latency, error, Instant::now());
    }

    /// Records one request at a given time (tests).
    pub fn record_at(&self, key: EdgeKey, latency: Duration, error: bool, now: Instant) {
        let mut edges = self.edges.lock();
        let edge = edges
            .entry(key)
            .or_insert_with(|| Edge { slots: Vec::new() });
        if let Some(slot) = edge.slot(now) {
            let micros = (latency.as_micros() as u64).clamp(1, 3_600_000_000);
            let _ = slot.hist.record(micros);
            if error {
                slot.errors += 1;
            }
        }
    }

    /// The merged histogram and error count of every edge over `window`.
    pub fn histograms(&self, window: Duration) -> Vec<(EdgeKey, Histogram<u32>, u64)> {
        let now = Instant::now();
        let edges = self.edges.lock();
        let mut out = Vec::new();
        for (key, edge) in edges.iter() {
            let Some(mut merged) = new_hist() else {
                continue;
            };
            let mut errors = 0;
            for s in edge
                .slots
                .iter()
                .filter(|s| in_window(s.start, now, window))
            {
                let _ = merged.add(&s.hist);
                errors += s.errors;
            }
            if !merged.is_empty() {
                out.push((key.clone(), merged, errors));
            }
        }
        out
    }

    /// Exact percentiles of every edge over the last `window`.
    pub fn stats(&self, window: Duration) -> Vec<EdgeStat> {
        self.stats_at(window, Instant::now())
    }

    /// Exact percentiles at a given time (tests).
    pub fn stats_at(&self, window: Duration, now: Instant) -> Vec<EdgeStat> {
        let edges = self.edges.lock();
        let mut out = Vec::new();
        for (key, edge) in edges.iter() {
            let Some(mut merged) = new_hist() else {
                continue;
            };
            let mut errors = 0;
            for s in edge
                .slots
                .iter()
                .filter(|s| in_window(s.start, now, window))
            {
                let _ = merged.add(&s.hist);
                errors += s.errors;
            }
            if merged.is_empty() {
                continue;
            }
            let ms = |q: f64| merged.value_at_quantile(q) as f64 / 1000.0;
            out.push(EdgeStat {
                edge: Some(key.clone()),
                count: merged.len(),
                errors,
                p50_ms: ms(0.5),
                p90_ms: ms(0.9),
                p99_ms: ms(0.99),
                p999_ms: ms(0.999),
                max_ms: merged.max() as f64 / 1000.0,
                window_s: window.as_secs_f64(),
            });
        }
        out.sort_by(|a, b| a.edge.cmp(&b.edge));
        out
    }
}

fn stat_of(key: EdgeKey, h: &Histogram<u32>, errors: u64, window: Duration) -> EdgeStat {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    EdgeStat {
        edge: Some(key),
        count: h.len(),
        errors,
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: h.max() as f64 / 1000.0,
        window_s: window.as_secs_f64(),
    }
}

/// Exact percentiles per edge across several proxies: the histograms of one
/// edge (e.g. every instance of a version) are added before percentiles are
/// taken, so the result is exact for the edge as a whole.
pub fn merged<'a>(all: impl Iterator<Item = &'a EdgeLatencies>, window: Duration) -> Vec<EdgeStat> {
    let mut by: std::collections::BTreeMap<EdgeKey, (Histogram<u32>, u64)> =
        std::collections::BTreeMap::new();
    for l in all {
        for (k, h, e) in l.histograms(window) {
            match by.get_mut(&k) {
                Some((acc, errs)) => {
                    let _ = acc.add(&h);
                    *errs += e;
                }
                None => {
                    by.insert(k, (h, e));
                }
            }
        }
    }
    by.into_iter()
        .map(|(k, (h, e))| stat_of(k, &h, e, window))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EdgeKey {
        EdgeKey {
            reporter: "source".into(),
            source_workload: "a".into(),
            source_cluster: "eu".into(),
            destination_service: "b".into(),
            destination_workload: "b-v1".into(),
            destination_version: "v1".into(),
            destination_cluster: "eu".into(),
        }
    }

    #[test]
    fn percentiles_are_exact_order_statistics() {
        let e = EdgeLatencies::default();
        let now = Instant::now();
        for ms in 1..=1000u64 {
            e.record_at(key(), Duration::from_millis(ms), ms > 990, now);
        }
        let s = &e.stats_at(Duration::from_secs(60), now)[0];
        assert_eq!(s.count, 1000);
        assert_eq!(s.errors, 10);
        assert!((s.p50_ms - 500.0).abs() <= 5.0, "{}", s.p50_ms);
        assert!((s.p99_ms - 990.0).abs() <= 10.0, "{}", s.p99_ms);
    }

    #[test]
    fn old_slots_leave_the_window() {
        let e = EdgeLatencies::default();
        let t0 = Instant::now();
        e.record_at(key(), Duration::from_millis(500), false, t0);
        let later = t0 + Duration::from_secs(25);
        e.record_at(key(), Duration::from_millis(5), false, later);
        let s = &e.stats_at(Duration::from_secs(15), later)[0];
        assert_eq!(s.count, 1, "the 500 ms sample is 25 s old");
        assert!(s.p99_ms < 6.0);
    }
}
