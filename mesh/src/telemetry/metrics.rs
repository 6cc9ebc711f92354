//! The metrics registry of one proxy and its Prometheus exposition.
//!
//! Names and labels are Istio's standard metrics (`istio_requests_total`,
//! `istio_request_duration_milliseconds`, `istio_request_bytes`,
//! `istio_response_bytes`), so Istio's Grafana dashboards work on the mini
//! mesh. Envoy-style cluster counters carry a `_total` suffix so
//! `promtool check metrics` has nothing to lint but the `_milliseconds`
//! unit that Istio's own name draws.
//!
//! Duration buckets grow by about 10% from 0.5 ms to 10 s, so a P99 read
//! from them (interpolated, as `histogram_quantile` does) is within 10% of
//! the true value.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// Who is at one end of a request, as Istio labels it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Workload (`billing-v2`), or `unknown`.
    pub workload: String,
    /// Its Kubernetes-style namespace (`default`).
    pub namespace: String,
    /// Principal (`spiffe://us.mesh/ns/default/sa/billing`), or `unknown`.
    pub principal: String,
    /// Its `app` label: the service it belongs to.
    pub app: String,
    /// Its `version` label (`v2`), what subsets select on.
    pub version: String,
    /// The cluster it runs in, as Istio's `*_cluster` labels carry it.
    pub cluster: String,
}

impl Peer {
    /// A peer nobody knows (a plaintext caller, an unreachable upstream).
    pub fn unknown() -> Self {
        let u = || "unknown".to_string();
        Self {
            workload: u(),
            namespace: u(),
            principal: u(),
            app: u(),
            version: u(),
            cluster: u(),
        }
    }
}

/// The label set of one request series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestLabels {
    /// `source` or `destination`.
    pub reporter: &'static str,
    /// The caller.
    pub source: Peer,
    /// The callee.
    pub destination: Peer,
    /// `billing.default.svc.cluster.local`.
    pub destination_service: String,
    /// `billing`.
    pub destination_service_name: String,
    /// `default`.
    pub destination_service_namespace: String,
    /// `http` or `grpc`.
    pub request_protocol: &'static str,
    /// Status code (0 when no response).
    pub response_code: u16,
    /// Envoy flags, `-` when none.
    pub response_flags: String,
    /// `mutual_tls` or `none`.
    pub connection_security_policy: &'static str,
}

/// Istio's default bounds (ms) for `istio_request_duration_milliseconds`:
/// dashboards and alerts written for Istio query `le="100"` and the like,
/// so every one of them is a bucket here too.
pub const ISTIO_DURATION_BUCKETS: &[f64] = &[
    0.5,
    1.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10_000.0,
    30_000.0,
    60_000.0,
    300_000.0,
    600_000.0,
    1_800_000.0,
    3_600_000.0,
];

/// Upper bounds (ms) of the duration histogram: Istio's, plus bounds 10%
/// apart up to 10 s so a P99 from the buckets lands within about 10% of
/// the exact one.
pub fn duration_buckets() -> &'static [f64] {
    static B: OnceLock<Vec<f64>> = OnceLock::new();
    B.get_or_init(|| {
        let mut v: Vec<f64> = ISTIO_DURATION_BUCKETS.to_vec();
        let mut x: f64 = 0.5;
        while x < 10_000.0 {
            v.push(round_sig(x, 3));
            x *= 1.1;
        }
        v.push(15_000.0);
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    })
}

/// Upper bounds (bytes) of the size histograms, as Istio uses.
pub const SIZE_BUCKETS: &[f64] = &[
    1.0,
    10.0,
    100.0,
    1000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
    100_000_000.0,
];

fn round_sig(x: f64, digits: i32) -> f64 {
    let mag = 10f64.powi(digits - 1 - x.log10().floor() as i32);
    (x * mag).round() / mag
}

/// A cumulative histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{}\"}} {cum}",
                fmt_f64(*b)
            );
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
        let sum = f64::from_bits(self.sum_bits.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", fmt_f64(sum));
        let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
    }
}

fn fmt_f64(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One series: counts and distributions of a label set.
#[derive(Debug)]
pub struct Series {
    requests: AtomicU64,
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
}

/// A request that completed, for the registry.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Its Istio label set: the series it counts in.
    pub labels: RequestLabels,
    /// Duration, ms.
    pub duration_ms: f64,
    /// Request body size.
    pub request_bytes: u64,
    /// Response body size.
    pub response_bytes: u64,
}

/// Envoy-style counters of one upstream cluster, read at exposition time.
pub type ClusterCountersRef = Arc<crate::svc::ClusterCounters>;

/// The registry of one proxy.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<HashMap<RequestLabels, Arc<Series>>>,
    clusters: Mutex<Vec<(String, ClusterCountersRef)>>,
    cert_expiry_unix: AtomicU64,
    build: Mutex<String>,
    tcp: Mutex<std::collections::BTreeMap<(String, String, String), [u64; 4]>>,
}

impl Metrics {
    /// Records a completed request.
    pub fn record(&self, obs: &Observation) {
        let series = {
            let mut map = self.series.lock();
            // Look up first: the labels are cloned only for a new series.
            match map.get(&obs.labels) {
                Some(s) => Arc::clone(s),
                None => Arc::clone(map.entry(obs.labels.clone()).or_insert_with(|| {
                    Arc::new(Series {
                        requests: AtomicU64::new(0),
                        duration: Histogram::new(duration_buckets()),
                        request_bytes: Histogram::new(SIZE_BUCKETS),
                        response_bytes: Histogram::new(SIZE_BUCKETS),
                    })
                })),
            }
        };
        series.requests.fetch_add(1, Ordering::Relaxed);
        series.duration.observe(obs.duration_ms);
        series.request_bytes.observe(obs.request_bytes as f64);
        series.response_bytes.observe(obs.response_bytes as f64);
    }

    /// Registers a cluster's counters for exposition (once per cluster name).
    pub fn register_cluster(&self, name: &str, counters: ClusterCountersRef) {
        let mut c = self.clusters.lock();
        if !c.iter().any(|(n, _)| n == name) {
            c.push((name.to_string(), counters));
        }
    }

    /// Records a TCP connection opened (gateways) to a destination service and cluster.
    pub fn tcp_opened(&self, service: &str, cluster: &str) {
        self.tcp_add(service, cluster, "-", [1, 0, 0, 0]);
    }

    /// Records a TCP connection closed, with its flags and bytes each way.
    pub fn tcp_closed(&self, service: &str, cluster: &str, flags: &str, sent: u64, received: u64) {
        self.tcp_add(service, cluster, flags, [0, 1, sent, received]);
    }

    fn tcp_add(&self, service: &str, cluster: &str, flags: &str, v: [u64; 4]) {
        let mut t = self.tcp.lock();
        let e = t
            .entry((service.to_string(), cluster.to_string(), flags.to_string()))
            .or_insert([0; 4]);
        for (a, b) in e.iter_mut().zip(v) {
            *a += b;
        }
    }

    /// Sets the expiry of the proxy's certificate (seconds since the epoch).
    pub fn set_cert_expiry(&self, unix: u64) {
        self.cert_expiry_unix.store(unix, Ordering::Relaxed);
    }

    /// Sets the `istio_build` component label.
    pub fn set_build(&self, component: &str) {
        *self.build.lock() = component.to_string();
    }

    /// Total requests recorded, by (reporter, response code): for tests and summaries.
    pub fn request_count(&self, filter: impl Fn(&RequestLabels) -> bool) -> u64 {
        self.series
            .lock()
            .iter()
            .filter(|(l, _)| filter(l))
            .map(|(_, s)| s.requests.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        let mut series: Vec<(RequestLabels, Arc<Series>)> = self
            .series
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        series.sort_by_cached_key(|(l, _)| label_text(l));
        let texts: Vec<String> = series.iter().map(|(l, _)| label_text(l)).collect();

        out.push_str(
            "# HELP istio_requests_total Requests handled, by source, destination and response.\n",
        );
        out.push_str("# TYPE istio_requests_total counter\n");
        for ((_, s), labels) in series.iter().zip(&texts) {
            let _ = writeln!(
                out,
                "istio_requests_total{{{labels}}} {}",
                s.requests.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP istio_request_duration_milliseconds Request duration in milliseconds.\n",
        );
        out.push_str("# TYPE istio_request_duration_milliseconds histogram\n");
        for ((_, s), labels) in series.iter().zip(&texts) {
            s.duration
                .render(&mut out, "istio_request_duration_milliseconds", labels);
        }
        out.push_str("# HELP istio_request_bytes Request body sizes in bytes.\n");
        out.push_str("# TYPE istio_request_bytes histogram\n");
        for ((_, s), labels) in series.iter().zip(&texts) {
            s.request_bytes
                .render(&mut out, "istio_request_bytes", labels);
        }
        out.push_str("# HELP istio_response_bytes Response body sizes in bytes.\n");
        out.push_str("# TYPE istio_response_bytes histogram\n");
        for ((_, s), labels) in series.iter().zip(&texts) {
            s.response_bytes
                .render(&mut out, "istio_response_bytes", labels);
        }

        let clusters = self.clusters.lock().clone();
        // Envoy's own stat names, as its /stats/prometheus prints them: a
        // counter gets `_total` only when the stat is called so
        // (`upstream_cx_total`), never as a suffix, so dashboards and alerts
        // written for Istio find these series under the same names.
        let counters: [ClusterCounter; 8] = [
            (
                "envoy_cluster_upstream_rq_retry",
                "Retries sent to the cluster.",
                |c| c.retry.load(Ordering::Relaxed),
            ),
            (
                "envoy_cluster_upstream_rq_retry_success",
                "Requests that succeeded after a retry.",
                |c| c.retry_success.load(Ordering::Relaxed),
            ),
            (
                "envoy_cluster_upstream_rq_retry_overflow",
                "Retries refused by the retry budget.",
                |c| c.retry_overflow.load(Ordering::Relaxed),
            ),
            (
                "envoy_cluster_upstream_rq_timeout",
                "Requests that timed out.",
                |c| c.timeout.load(Ordering::Relaxed),
            ),
            (
                "envoy_cluster_upstream_rq_pending_overflow",
                "Requests refused by the connection pool limit.",
                |c| c.pending_overflow.load(Ordering::Relaxed),
            ),
            (
                "envoy_cluster_upstream_cx_connect_fail",
                "Connection attempts that failed.",
                |c| c.connect_fail.load(Ordering::Relaxed),
            ),
            (
                "envoy_cluster_upstream_cx_total",
                "Connections opened.",
                |c| c.cx_total.load(Ordering::Relaxed),
            ),
            (
                "envoy_cluster_outlier_detection_ejections_enforced_total",
                "Hosts ejected by outlier detection.",
                |c| c.ejections_enforced.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (cluster, c) in &clusters {
                let _ = writeln!(
                    out,
                    "{name}{{cluster_name=\"{}\"}} {}",
                    escape(cluster),
                    get(c)
                );
            }
        }
        out.push_str(
            "# HELP envoy_cluster_outlier_detection_ejections_active Hosts ejected right now.\n",
        );
        out.push_str("# TYPE envoy_cluster_outlier_detection_ejections_active gauge\n");
        for (cluster, c) in &clusters {
            let _ = writeln!(
                out,
                "envoy_cluster_outlier_detection_ejections_active{{cluster_name=\"{}\"}} {}",
                escape(cluster),
                c.ejections_active.load(Ordering::Relaxed)
            );
        }
        let tcp = self.tcp.lock().clone();
        for (i, (name, help)) in [
            (
                "istio_tcp_connections_opened_total",
                "TCP connections passed through.",
            ),
            (
                "istio_tcp_connections_closed_total",
                "TCP connections passed through and closed.",
            ),
            (
                "istio_tcp_sent_bytes_total",
                "Bytes sent to the destination.",
            ),
            (
                "istio_tcp_received_bytes_total",
                "Bytes received from the destination.",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for ((svc, cluster, flags), v) in &tcp {
                let _ = writeln!(
                    out,
                    "{name}{{destination_service=\"{}\",destination_cluster=\"{}\",response_flags=\"{}\"}} {}",
                    escape(svc),
                    escape(cluster),
                    escape(flags),
                    v[i]
                );
            }
        }
        out.push_str("# HELP istio_agent_cert_expiry_seconds When the workload certificate expires, seconds since the epoch.\n");
        out.push_str("# TYPE istio_agent_cert_expiry_seconds gauge\n");
        let _ = writeln!(
            out,
            "istio_agent_cert_expiry_seconds {}",
            self.cert_expiry_unix.load(Ordering::Relaxed)
        );
        let component = self.build.lock().clone();
        out.push_str("# HELP istio_build The build of the proxy.\n");
        out.push_str("# TYPE istio_build gauge\n");
        let _ = writeln!(
            out,
            "istio_build{{component=\"{}\",tag=\"meshcon-{}\"}} 1",
            escape(&component),
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// Escapes a label value for the text format.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// An Envoy cluster counter: metric name, help text, and how to read it.
type ClusterCounter = (
    &'static str,
    &'static str,
    fn(&crate::svc::ClusterCounters) -> u64,
);

fn label_text(l: &RequestLabels) -> String {
    let mut s = String::with_capacity(700);
    let mut put = |k: &str, v: &str| {
        if !s.is_empty() {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"{}\"", escape(v));
    };
    put("reporter", l.reporter);
    put("source_workload", &l.source.workload);
    put("source_workload_namespace", &l.source.namespace);
    put("source_principal", &l.source.principal);
    put("source_app", &l.source.app);
    put("source_version", &l.source.version);
    put("source_cluster", &l.source.cluster);
    put("source_canonical_service", &l.source.app);
    put("source_canonical_revision", &l.source.version);
    put("destination_workload", &l.destination.workload);
    put("destination_workload_namespace", &l.destination.namespace);
    put("destination_principal", &l.destination.principal);
    put("destination_app", &l.destination.app);
    put("destination_version", &l.destination.version);
    put("destination_service", &l.destination_service);
    put("destination_service_name", &l.destination_service_name);
    put(
        "destination_service_namespace",
        &l.destination_service_namespace,
    );
    put("destination_cluster", &l.destination.cluster);
    put("destination_canonical_service", &l.destination.app);
    put("destination_canonical_revision", &l.destination.version);
    put("request_protocol", l.request_protocol);
    put("response_code", &l.response_code.to_string());
    put("grpc_response_status", "");
    put("response_flags", &l.response_flags);
    put("connection_security_policy", l.connection_security_policy);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istios_default_duration_bounds_are_all_buckets() {
        let b = duration_buckets();
        for bound in ISTIO_DURATION_BUCKETS {
            assert!(b.contains(bound), "le={bound} missing");
        }
        assert!(
            b.windows(2).all(|w| w[0] < w[1]),
            "bounds ascend, each once"
        );
        // Between 1 ms and 10 s neighbours are 10% apart (rounded to three
        // significant figures, so up to 11%).
        assert!(b
            .windows(2)
            .filter(|w| w[0] >= 1.0 && w[1] <= 10_000.0)
            .all(|w| w[1] / w[0] <= 1.11));
    }

    #[test]
    fn buckets_grow_by_at_most_ten_percent_below_ten_seconds() {
        let b = duration_buckets();
        for w in b.windows(2).filter(|w| w[1] <= 10_000.0) {
            assert!(w[1] / w[0] <= 1.11, "{} -> {}", w[0], w[1]);
        }
        assert_eq!(b.first(), Some(&0.5));
    }

    #[test]
    fn exposition_has_help_type_and_cumulative_buckets() {
        let m = Metrics::default();
        let labels = RequestLabels {
            reporter: "source",
            source: Peer::unknown(),
            destination: Peer::unknown(),
            destination_service: "a.default.svc.cluster.local".into(),
            destination_service_name: "a".into(),
            destination_service_namespace: "default".into(),
            request_protocol: "http",
            response_code: 200,
            response_flags: "-".into(),
            connection_security_policy: "unknown",
        };
        for ms in [1.0, 2.0, 50.0] {
            m.record(&Observation {
                labels: labels.clone(),
                duration_ms: ms,
                request_bytes: 0,
                response_bytes: 10,
            });
        }
        let text = m.render();
        assert!(text.contains("# TYPE istio_requests_total counter"));
        assert!(text.contains("response_code=\"200\","), "{text}");
        assert!(
            text.contains("connection_security_policy=\"unknown\"} 3"),
            "{text}"
        );
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains("istio_request_duration_milliseconds_sum{"));
    }

    #[test]
    fn envoy_counters_keep_envoys_names() {
        let m = Metrics::default();
        m.register_cluster("outbound|8080||a", Arc::default());
        let text = m.render();
        for name in [
            "upstream_rq_retry",
            "upstream_rq_retry_success",
            "upstream_rq_retry_overflow",
            "upstream_rq_timeout",
            "upstream_rq_pending_overflow",
            "upstream_cx_connect_fail",
        ] {
            let full = format!("envoy_cluster_{name}");
            assert!(
                text.contains(&format!("# TYPE {full} counter\n")),
                "{full}: {text}"
            );
            assert!(
                text.contains(&format!("{full}{{cluster_name=\"outbound|8080||a\"}} 0\n")),
                "{full}: {text}"
            );
            assert!(!text.contains(&format!("{full}_total")), "{full}_total");
        }
        assert!(text.contains("# TYPE envoy_cluster_upstream_cx_total counter\n"));
    }
}
