//! Golden signals, computed the way Prometheus computes them: `rate()` over
//! a window (with Prometheus's extrapolation to the window's edges and
//! counter-reset handling) and `histogram_quantile()` (linear interpolation
//! inside the bucket that holds the rank). The input is the Prometheus text
//! the proxies serve, scraped repeatedly; the TUI and `meshcon get services`
//! both use this module, so they can never disagree.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// The labels golden signals are grouped by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    /// `source` or `destination`.
    pub reporter: String,
    /// Calling workload.
    pub source_workload: String,
    /// Caller's cluster.
    pub source_cluster: String,
    /// Destination service short name.
    pub destination_service: String,
    /// Destination namespace.
    pub destination_namespace: String,
    /// Destination workload.
    pub destination_workload: String,
    /// Destination version.
    pub destination_version: String,
    /// Destination cluster.
    pub destination_cluster: String,
    /// Status code.
    pub response_code: String,
    /// Envoy flags.
    pub response_flags: String,
    /// `mutual_tls`, `none` or `unknown`.
    pub security: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct SeriesValue {
    requests: f64,
    /// (upper bound, cumulative count).
    buckets: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
struct Sample {
    at: f64,
    series: HashMap<SeriesKey, SeriesValue>,
}

/// A series' request rate and its buckets' rates, (upper bound, rate).
type SeriesRate = (SeriesKey, f64, Vec<(f64, f64)>);

/// An edge: source workload, source cluster, service, version, destination cluster.
type EdgeKey = (String, String, String, String, String);

/// An edge's rates: requests, errors, mTLS, circuit-breaker overflows, and
/// buckets keyed by upper bound's bits.
type EdgeSums = (f64, f64, f64, f64, BTreeMap<u64, f64>);

/// Scrape history of every target, and the signals derived from it.
#[derive(Debug, Default)]
pub struct Signals {
    targets: BTreeMap<String, VecDeque<Sample>>,
    /// The series lines each target's scrapes have shown.
    lines: HashMap<String, LineCache>,
    /// History kept, seconds.
    pub max_age: f64,
}

/// Golden signals of one service version (reported by its destination side).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSignal {
    /// The cluster whose instances answered (`destination_cluster`).
    pub cluster: String,
    /// `destination_service_namespace`.
    pub namespace: String,
    /// `destination_service_name`.
    pub service: String,
    /// `destination_version`: one row per version, so a canary shows apart.
    pub version: String,
    /// Requests per second received (attempts, retries included).
    pub rps: f64,
    /// Share of non-5xx answers, 0-1 (1 when idle).
    pub success_rate: f64,
    /// Median latency from the buckets, ms.
    pub p50_ms: f64,
    /// P90 from the buckets, ms.
    pub p90_ms: f64,
    /// P99 from the buckets, ms.
    pub p99_ms: f64,
    /// Share of requests over mutual TLS, 0-1.
    pub mtls_ratio: f64,
    /// Requests per second callers made to the service (logical requests).
    pub effective_rps: f64,
    /// Exact P50 from the sidecars' HDR histograms, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_p50_ms: Option<f64>,
    /// Exact P90, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_p90_ms: Option<f64>,
    /// Exact P99, when known: the figure a bucketed P99 is checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_p99_ms: Option<f64>,
    /// Exact P99.9, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_p999_ms: Option<f64>,
}

impl ServiceSignal {
    /// Whether the window saw enough traffic to judge by: below what tables
    /// show as 0.1 requests a second there is no success rate or percentile
    /// worth printing.
    pub fn has_traffic(&self) -> bool {
        self.rps >= 0.05
    }
}

/// Signals of one edge (caller workload → service version), from the caller's side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EdgeSignal {
    /// Calling workload.
    pub source: String,
    /// Caller's cluster.
    pub source_cluster: String,
    /// Destination service.
    pub service: String,
    /// Destination version (`unknown` when no instance answered).
    pub version: String,
    /// Destination cluster.
    pub destination_cluster: String,
    /// Requests per second.
    pub rps: f64,
    /// Share of 5xx and local failures, 0-1.
    pub error_rate: f64,
    /// P99 from the buckets, ms.
    pub p99_ms: f64,
    /// Share over mutual TLS, 0-1.
    pub mtls_ratio: f64,
    /// Share turned away by the caller's circuit breaker (`UO`), 0-1.
    #[serde(default)]
    pub overflow_rate: f64,
}

/// Prometheus's `extrapolatedRate` for a counter: the per-second increase
/// over `[start, end]` from samples `(t, v)` in that range.
pub fn prometheus_rate(samples: &[(f64, f64)], start: f64, end: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.1 - first.1;
    for w in samples.windows(2) {
        if w[1].1 < w[0].1 {
            result += w[0].1; // a counter reset
        }
    }
    let sampled = last.0 - first.0;
    if sampled <= 0.0 {
        return None;
    }
    let mut to_start = first.0 - start;
    let to_end = end - last.0;
    let avg = sampled / (samples.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    Some(result * (interval / sampled) / (end - start))
}

/// Prometheus's `histogram_quantile` over cumulative `(upper bound, count)`
/// buckets (the last must be `+Inf`).
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if buckets.len() < 2 || !buckets[buckets.len() - 1].0.is_infinite() {
        return None;
    }
    let mut b: Vec<(f64, f64)> = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Counts must not decrease; fix what rates of scrapes taken apart can do.
    for i in 1..b.len() {
        if b[i].1 < b[i - 1].1 {
            b[i].1 = b[i - 1].1;
        }
    }
    let total = b[b.len() - 1].1;
    if total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let mut rank = q * total;
    let i = b
        .iter()
        .position(|(_, c)| *c >= rank)
        .unwrap_or(b.len() - 1);
    if i == b.len() - 1 {
        return Some(b[b.len() - 2].0);
    }
    if i == 0 && b[0].0 <= 0.0 {
        return Some(b[0].0);
    }
    let (start, mut count) = if i == 0 {
        (0.0, b[0].1)
    } else {
        (b[i - 1].0, b[i].1 - b[i - 1].1)
    };
    if i > 0 {
        rank -= b[i - 1].1;
    }
    if count <= 0.0 {
        count = 1.0;
    }
    Some(start + (b[i].0 - start) * (rank / count))
}

mod exposition;

#[cfg(test)]
use exposition::parse;
pub(crate) use exposition::sample;
use exposition::LineCache;
pub use exposition::ScrapeError;

impl Signals {
    /// An empty history keeping `max_age` seconds.
    pub fn new(max_age: f64) -> Self {
        Self {
            targets: BTreeMap::new(),
            lines: HashMap::new(),
            max_age,
        }
    }

    /// Adds a scrape of `target` taken at `at` (seconds).
    pub fn ingest(&mut self, target: &str, at: f64, text: &str) -> Result<(), ScrapeError> {
        let series = self
            .lines
            .entry(target.to_string())
            .or_default()
            .parse(target, text)?;
        let q = self.targets.entry(target.to_string()).or_default();
        q.push_back(Sample { at, series });
        while q.front().is_some_and(|s| at - s.at > self.max_age) {
            q.pop_front();
        }
        Ok(())
    }

    /// Records that `target`'s exposition at `at` is the one last
    /// ingested (a scrape answered 304); false if there is none to repeat.
    pub fn ingest_unchanged(&mut self, target: &str, at: f64) -> bool {
        let Some(q) = self.targets.get_mut(target) else {
            return false;
        };
        let Some(series) = q.back().map(|s| s.series.clone()) else {
            return false;
        };
        q.push_back(Sample { at, series });
        while q.front().is_some_and(|s| at - s.at > self.max_age) {
            q.pop_front();
        }
        true
    }

    /// Forgets a target (a proxy that is gone).
    pub fn forget(&mut self, target: &str) {
        self.targets.remove(target);
        self.lines.remove(target);
    }

    /// Targets with history.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str)
    }

    /// Per-series rates over `[now - window, now]`: request rate and bucket rates.
    fn rates(&self, window: f64, now: f64) -> Vec<SeriesRate> {
        let mut out = Vec::new();
        for samples in self.targets.values() {
            let mut start = now - window;
            let in_range: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.at > start && s.at <= now)
                .collect();
            let [first, .., last] = in_range[..] else {
                continue;
            };
            // A history that begins inside the window (the console has only
            // just started watching) is rated over the time it covers rather
            // than diluted by time nobody watched; with a full history this is
            // exactly Prometheus's rate().
            let step = (last.at - first.at) / (in_range.len() - 1) as f64;
            if samples.front().is_some_and(|s| s.at > start + step * 1.1) {
                start = first.at;
            }
            let mut keys: Vec<&SeriesKey> = in_range.iter().flat_map(|s| s.series.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                // Each sample's value of the series, looked up once (not once
                // per bucket: the console rates every series every second).
                let values: Vec<(f64, Option<&SeriesValue>)> =
                    in_range.iter().map(|s| (s.at, s.series.get(k))).collect();
                // A series that appears mid-window starts from zero, as a new counter would.
                let points = |f: &dyn Fn(&SeriesValue) -> f64| -> Vec<(f64, f64)> {
                    values
                        .iter()
                        .map(|(at, v)| (*at, v.map_or(0.0, f)))
                        .collect()
                };
                let rps = prometheus_rate(&points(&|v| v.requests), start, now).unwrap_or(0.0);
                let bounds: Vec<f64> = values
                    .iter()
                    .rev()
                    .find_map(|(_, v)| v.map(|v| v.buckets.iter().map(|b| b.0).collect()))
                    .unwrap_or_default();
                let buckets = bounds
                    .iter()
                    .map(|le| {
                        let pts =
                            points(&|v| v.buckets.iter().find(|b| b.0 == *le).map_or(0.0, |b| b.1));
                        (*le, prometheus_rate(&pts, start, now).unwrap_or(0.0))
                    })
                    .collect();
                out.push((k.clone(), rps, buckets));
            }
        }
        out
    }

    /// Golden signals per service version, over `window` seconds ending `now`.
    pub fn services(&self, window: f64, now: f64) -> Vec<ServiceSignal> {
        services_of(&self.rates(window, now))
    }

    /// Signals per edge (caller workload → service version), from callers' reports.
    pub fn edges(&self, window: f64, now: f64) -> Vec<EdgeSignal> {
        edges_of(&self.rates(window, now))
    }

    /// Both [`Self::services`] and [`Self::edges`], from one pass over the history.
    pub fn services_and_edges(
        &self,
        window: f64,
        now: f64,
    ) -> (Vec<ServiceSignal>, Vec<EdgeSignal>) {
        let rates = self.rates(window, now);
        (services_of(&rates), edges_of(&rates))
    }
}

/// Golden signals per service version, from the series' rates.
fn services_of(rates: &[SeriesRate]) -> Vec<ServiceSignal> {
    struct Acc {
        rps: f64,
        ok: f64,
        mtls: f64,
        buckets: BTreeMap<u64, f64>,
    }
    let mut by: BTreeMap<(String, String, String, String), Acc> = BTreeMap::new();
    // What callers sent to each version (a retried request counts once,
    // for the version its last attempt reached).
    let mut effective: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for (k, rps, buckets) in rates {
        if k.reporter == "source" {
            *effective
                .entry((
                    k.destination_namespace.clone(),
                    k.destination_service.clone(),
                    k.destination_version.clone(),
                ))
                .or_default() += rps;
            continue;
        }
        if k.reporter != "destination" {
            continue;
        }
        let acc = by
            .entry((
                k.destination_cluster.clone(),
                k.destination_namespace.clone(),
                k.destination_service.clone(),
                k.destination_version.clone(),
            ))
            .or_insert(Acc {
                rps: 0.0,
                ok: 0.0,
                mtls: 0.0,
                buckets: BTreeMap::new(),
            });
        acc.rps += rps;
        if !k.response_code.starts_with('5') && k.response_code != "0" {
            acc.ok += rps;
        }
        if k.security == "mutual_tls" {
            acc.mtls += rps;
        }
        for (le, v) in buckets {
            *acc.buckets.entry(le.to_bits()).or_default() += v;
        }
    }
    by.into_iter()
        .map(|((cluster, namespace, service, version), a)| {
            let buckets: Vec<(f64, f64)> = a
                .buckets
                .iter()
                .map(|(le, v)| (f64::from_bits(*le), *v))
                .collect();
            let q = |p: f64| histogram_quantile(p, &buckets).unwrap_or(0.0);
            ServiceSignal {
                effective_rps: effective
                    .get(&(namespace.clone(), service.clone(), version.clone()))
                    .copied()
                    .unwrap_or(0.0),
                cluster,
                namespace,
                service,
                version,
                success_rate: if a.rps > 0.0 { a.ok / a.rps } else { 1.0 },
                mtls_ratio: if a.rps > 0.0 { a.mtls / a.rps } else { 0.0 },
                rps: a.rps,
                p50_ms: q(0.5),
                p90_ms: q(0.9),
                p99_ms: q(0.99),
                ..Default::default()
            }
        })
        .collect()
}

/// Signals per edge (caller workload → service version), from callers'
/// reports, from the series' rates.
fn edges_of(rates: &[SeriesRate]) -> Vec<EdgeSignal> {
    let mut by: BTreeMap<EdgeKey, EdgeSums> = BTreeMap::new();
    for (k, rps, buckets) in rates.iter().filter(|(k, _, _)| k.reporter == "source") {
        let e = by
            .entry((
                k.source_workload.clone(),
                k.source_cluster.clone(),
                k.destination_service.clone(),
                k.destination_version.clone(),
                k.destination_cluster.clone(),
            ))
            .or_default();
        e.0 += rps;
        if k.response_code.starts_with('5') || k.response_code == "0" {
            e.1 += rps;
        }
        // Source sidecars originate mTLS to every endpoint they reach.
        if k.destination_workload != "unknown" {
            e.2 += rps;
        }
        // Envoy's UO: the caller's circuit breaker turned it away.
        if k.response_flags.split(',').any(|f| f == "UO") {
            e.3 += rps;
        }
        for (le, v) in buckets {
            *e.4.entry(le.to_bits()).or_default() += v;
        }
    }
    by.into_iter()
        .map(
            |(
                (source, source_cluster, service, version, destination_cluster),
                (rps, err, mtls, overflow, b),
            )| {
                let buckets: Vec<(f64, f64)> =
                    b.iter().map(|(le, v)| (f64::from_bits(*le), *v)).collect();
                EdgeSignal {
                    source,
                    source_cluster,
                    service,
                    version,
                    destination_cluster,
                    error_rate: if rps > 0.0 { err / rps } else { 0.0 },
                    mtls_ratio: if rps > 0.0 { mtls / rps } else { 0.0 },
                    overflow_rate: if rps > 0.0 { overflow / rps } else { 0.0 },
                    p99_ms: histogram_quantile(0.99, &buckets).unwrap_or(0.0),
                    rps,
                }
            },
        )
        .collect()
}

/// Merges exact percentiles (destination-side HDR windows) into service signals.
pub fn merge_exact(signals: &mut [ServiceSignal], exact: &[super::exact::EdgeStat]) {
    // Several callers: the one with the most samples (the first of equals)
    // speaks for the version. Indexed once, as a console with a thousand
    // services merges on every frame.
    let mut best: HashMap<(&str, &str, &str), &super::exact::EdgeStat> = HashMap::new();
    for e in exact {
        let Some(k) = e.edge.as_ref().filter(|k| k.reporter == "destination") else {
            continue;
        };
        let key = (
            k.destination_service.as_str(),
            k.destination_version.as_str(),
            k.destination_cluster.as_str(),
        );
        match best.get(&key) {
            Some(have) if have.count >= e.count => {}
            _ => {
                best.insert(key, e);
            }
        }
    }
    for s in signals.iter_mut() {
        let key = (s.service.as_str(), s.version.as_str(), s.cluster.as_str());
        if let Some(e) = best.get(&key) {
            s.exact_p50_ms = Some(e.p50_ms);
            s.exact_p90_ms = Some(e.p90_ms);
            s.exact_p99_ms = Some(e.p99_ms);
            s.exact_p999_ms = Some(e.p999_ms);
        }
    }
}

/// Prometheus's configuration file, as much of it as a scrape of a mesh needs.
#[derive(Serialize)]
struct PrometheusConfig {
    global: GlobalConfig,
    scrape_configs: Vec<ScrapeJob>,
}

#[derive(Serialize)]
struct GlobalConfig {
    scrape_interval: String,
    evaluation_interval: String,
}

#[derive(Serialize)]
struct ScrapeJob {
    job_name: String,
    metrics_path: &'static str,
    scrape_interval: String,
    static_configs: Vec<StaticConfig>,
}

/// One proxy's admin address, labelled so queries can group by workload
/// and pod as they would on Kubernetes.
#[derive(Serialize)]
struct StaticConfig {
    targets: Vec<String>,
    labels: BTreeMap<&'static str, String>,
}

/// A Prometheus configuration that scrapes every proxy of a mesh.
pub fn scrape_config(mesh: &str, workloads: &[crate::proto::Workload], interval_s: u64) -> String {
    let every = format!("{interval_s}s");
    let static_configs = workloads
        .iter()
        .filter_map(|w| {
            let admin = w.addresses.as_ref().and_then(|a| a.admin.clone())?;
            Some(StaticConfig {
                targets: vec![admin],
                labels: BTreeMap::from([
                    ("kind", w.kind.clone()),
                    ("cluster", w.cluster.clone()),
                    ("namespace", w.namespace.clone()),
                    ("workload", w.service.clone()),
                    ("pod", w.instance.clone()),
                ]),
            })
        })
        .collect();
    let config = PrometheusConfig {
        global: GlobalConfig {
            scrape_interval: every.clone(),
            evaluation_interval: every.clone(),
        },
        scrape_configs: vec![ScrapeJob {
            job_name: format!("meshcon-{mesh}"),
            metrics_path: "/stats/prometheus",
            scrape_interval: every,
            static_configs,
        }],
    };
    format!(
        "# Prometheus scrape configuration for meshcon mesh '{mesh}'.\n# prometheus --config.file=<this file>\n{}",
        serde_saphyr::to_string(&config).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_config_is_yaml_prometheus_reads() {
        let w = crate::proto::Workload {
            kind: "sidecar".into(),
            cluster: "eu".into(),
            namespace: "default".into(),
            service: "billing".into(),
            instance: "billing-v1-0".into(),
            addresses: Some(crate::proto::Addresses {
                admin: Some("127.1.0.5:15000".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = scrape_config("demo", &[w, crate::proto::Workload::default()], 5);
        assert!(text.starts_with("# Prometheus scrape configuration for meshcon mesh 'demo'."));
        let doc = crate::yaml::parse_one(&text).expect("yaml");
        let v = doc.value;
        assert_eq!(v["global"]["scrape_interval"], "5s");
        let job = &v["scrape_configs"][0];
        assert_eq!(job["job_name"], "meshcon-demo");
        assert_eq!(job["metrics_path"], "/stats/prometheus");
        let statics = job["static_configs"].as_array().expect("list");
        assert_eq!(
            statics.len(),
            1,
            "a workload without an admin address is not scraped"
        );
        assert_eq!(statics[0]["targets"][0], "127.1.0.5:15000");
        assert_eq!(statics[0]["labels"]["pod"], "billing-v1-0");
        assert_eq!(statics[0]["labels"]["workload"], "billing");
    }

    #[test]
    fn reads_our_exposition_with_escapes_and_buckets() {
        let text = concat!(
            "# TYPE istio_requests_total counter\n",
            "istio_requests_total{reporter=\"destination\",destination_service_name=\"billing\",response_flags=\"a\\\"b\\\\c\"} 7\n",
            "istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service_name=\"billing\",response_flags=\"a\\\"b\\\\c\",le=\"5\"} 3\n",
            "istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service_name=\"billing\",response_flags=\"a\\\"b\\\\c\",le=\"+Inf\"} 7\n",
            "istio_request_bytes_bucket{le=\"1\"} 1\n",
        );
        let series = parse("t", text).expect("parses");
        assert_eq!(series.len(), 1);
        let (k, v) = series.iter().next().expect("one");
        assert_eq!(k.destination_service, "billing");
        assert_eq!(k.response_flags, "a\"b\\c");
        assert_eq!(v.requests, 7.0);
        assert_eq!(v.buckets, vec![(5.0, 3.0), (f64::INFINITY, 7.0)]);
        assert!(parse("t", "istio_requests_total{reporter=\"x} 1\n").is_err());
        assert!(parse("t", "istio_requests_total 1x\n").is_err());
    }

    #[test]
    fn a_cached_series_reads_its_new_value_and_new_series_are_read_whole() {
        let scrape = |requests: u32, inf: u32, extra: &str| {
            format!(
                "istio_requests_total{{reporter=\"source\",destination_service_name=\"billing\",response_flags=\"UF,URX\"}} {requests}\n\
                 istio_request_duration_milliseconds_bucket{{reporter=\"source\",destination_service_name=\"billing\",response_flags=\"UF,URX\",le=\"+Inf\"}} {inf} 1700000000000\n{extra}"
            )
        };
        let mut cache = LineCache::default();
        let first = cache.parse("t", &scrape(1, 1, "")).expect("parses");
        assert_eq!(first, parse("t", &scrape(1, 1, "")).expect("parses"));
        let added =
            "istio_requests_total{reporter=\"source\",destination_service_name=\"catalog\"} 4\n";
        let text = scrape(9, 8, added);
        let second = cache.parse("t", &text).expect("parses");
        assert_eq!(second, parse("t", &text).expect("parses"));
        let billing = second
            .iter()
            .find(|(k, _)| k.destination_service == "billing")
            .map(|(_, v)| v)
            .expect("billing");
        assert_eq!(billing.requests, 9.0);
        assert_eq!(billing.buckets, vec![(f64::INFINITY, 8.0)]);
        assert_eq!(second.len(), 2);
        // A known series with a broken value is still refused.
        assert!(cache
            .parse("t", &scrape(1, 1, "").replace("} 1\n", "} x\n"))
            .is_err());
    }

    #[test]
    fn an_unchanged_scrape_repeats_the_last_one_at_its_own_time() {
        let text = "istio_requests_total{reporter=\"destination\",destination_service_name=\"billing\",destination_version=\"v1\",destination_cluster=\"us\",response_code=\"200\"} 10\n";
        let mut s = Signals::new(60.0);
        assert!(!s.ingest_unchanged("t", 1.0), "nothing to repeat yet");
        s.ingest("t", 1.0, text).expect("parses");
        let busier = text.replace("} 10", "} 20");
        s.ingest("t", 2.0, &busier).expect("parses");
        for at in [3.0, 4.0, 5.0] {
            assert!(s.ingest_unchanged("t", at));
        }
        // Ten requests in the first second, none since: the same as four
        // full scrapes saying 20.
        let mut full = Signals::new(60.0);
        full.ingest("t", 1.0, text).expect("parses");
        for at in [2.0, 3.0, 4.0, 5.0] {
            full.ingest("t", at, &busier).expect("parses");
        }
        assert_eq!(s.services(10.0, 5.0), full.services(10.0, 5.0));
        assert!(s.services(10.0, 5.0).iter().any(|x| x.rps > 0.0));
    }

    #[test]
    fn rate_matches_prometheus_on_a_steady_counter() {
        // 10 requests a second, scraped every second, in a 10 s window.
        let samples: Vec<(f64, f64)> = (1..=10).map(|i| (i as f64, 10.0 * i as f64)).collect();
        let r = prometheus_rate(&samples, 0.5, 10.5).expect("rate");
        assert!((r - 10.0).abs() < 0.01, "{r}");
    }

    #[test]
    fn a_history_shorter_than_the_window_is_rated_over_what_it_covers() {
        // A counter at 10/s for a long time; the watcher saw its last 5 s.
        let mut g = Signals::new(60.0);
        for t in 0..=5 {
            let v = 5000 + 10 * t;
            let text = format!(
                "istio_requests_total{{reporter=\"destination\",destination_service_name=\"auth\",destination_version=\"v1\",response_code=\"200\"}} {v}\n"
            );
            g.ingest("auth-0", 100.0 + t as f64, &text).expect("ingest");
        }
        let rows = g.services(30.0, 105.0);
        let auth = rows.iter().find(|r| r.service == "auth").expect("auth row");
        assert!((auth.rps - 10.0).abs() < 0.01, "{}", auth.rps);
    }

    #[test]
    fn what_callers_sent_is_counted_per_version() {
        let line = |reporter: &str, version: &str, n: u64| {
            format!("istio_requests_total{{reporter=\"{reporter}\",destination_service_name=\"b\",destination_service_namespace=\"default\",destination_version=\"{version}\",response_code=\"200\"}} {n}\n")
        };
        let mut g = Signals::new(60.0);
        for t in 0..=10u64 {
            // The caller sends 10/s to v1 (each retried once) and 5/s to v2.
            let caller = line("source", "v1", 10 * t) + &line("source", "v2", 5 * t);
            g.ingest("a", t as f64, &caller).expect("caller");
            g.ingest("b-v1", t as f64, &line("destination", "v1", 20 * t))
                .expect("v1");
            g.ingest("b-v2", t as f64, &line("destination", "v2", 5 * t))
                .expect("v2");
        }
        let rows = g.services(10.0, 10.0);
        let v = |name: &str| rows.iter().find(|r| r.version == name).expect("row");
        assert!((v("v1").effective_rps - 10.0).abs() < 0.5 && (v("v1").rps - 20.0).abs() < 1.0);
        assert!((v("v2").effective_rps - 5.0).abs() < 0.5 && (v("v2").rps - 5.0).abs() < 0.5);
    }

    #[test]
    fn rate_handles_counter_resets() {
        let samples = [(1.0, 90.0), (2.0, 100.0), (3.0, 5.0), (4.0, 15.0)];
        let r = prometheus_rate(&samples, 0.5, 4.5).expect("rate");
        // Increase: 10 + (100 reset) 5 + 10 = 25 over the samples; extrapolated.
        assert!(r > 6.0 && r < 9.0, "{r}");
    }

    #[test]
    fn quantile_interpolates_inside_the_bucket() {
        let buckets = [
            (10.0, 0.0),
            (20.0, 50.0),
            (30.0, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(histogram_quantile(0.5, &buckets), Some(20.0));
        assert_eq!(histogram_quantile(0.75, &buckets), Some(25.0));
        assert_eq!(histogram_quantile(0.99, &buckets), Some(29.8));
        let all_inf = [(10.0, 0.0), (f64::INFINITY, 5.0)];
        assert_eq!(histogram_quantile(0.5, &all_inf), Some(10.0));
        assert_eq!(histogram_quantile(0.5, &[(f64::INFINITY, 0.0)]), None);
    }

    #[test]
    fn services_come_from_scrapes() {
        let mk = |n: u64| {
            format!(
                "# TYPE istio_requests_total counter\nistio_requests_total{{reporter=\"destination\",destination_service_name=\"b\",destination_service_namespace=\"default\",destination_version=\"v1\",destination_cluster=\"eu\",response_code=\"200\",connection_security_policy=\"mutual_tls\"}} {n}\n# TYPE istio_request_duration_milliseconds histogram\nistio_request_duration_milliseconds_bucket{{reporter=\"destination\",destination_service_name=\"b\",destination_service_namespace=\"default\",destination_version=\"v1\",destination_cluster=\"eu\",response_code=\"200\",connection_security_policy=\"mutual_tls\",le=\"50\"}} 0\nistio_request_duration_milliseconds_bucket{{reporter=\"destination\",destination_service_name=\"b\",destination_service_namespace=\"default\",destination_version=\"v1\",destination_cluster=\"eu\",response_code=\"200\",connection_security_policy=\"mutual_tls\",le=\"55\"}} {n}\nistio_request_duration_milliseconds_bucket{{reporter=\"destination\",destination_service_name=\"b\",destination_service_namespace=\"default\",destination_version=\"v1\",destination_cluster=\"eu\",response_code=\"200\",connection_security_policy=\"mutual_tls\",le=\"+Inf\"}} {n}\n"
            )
        };
        let mut s = Signals::new(60.0);
        for i in 0..=10u64 {
            s.ingest("a", i as f64, &mk(i * 20)).expect("parses");
        }
        let out = s.services(10.0, 10.0);
        assert_eq!(out.len(), 1);
        let b = &out[0];
        assert!((b.rps - 20.0).abs() < 0.5, "{}", b.rps);
        assert!((b.p99_ms - 54.95).abs() < 0.1, "{}", b.p99_ms);
        assert_eq!(b.success_rate, 1.0);
        assert_eq!(b.mtls_ratio, 1.0);
    }

    #[test]
    fn a_linkerd_proxy_scraped_directly_gives_rows_and_edges() {
        let scrape = |n: u32| {
            format!(
                "response_total{{direction=\"inbound\",client_id=\"web.shop.serviceaccount.identity.linkerd.cluster.local\",tls=\"true\",status_code=\"200\",classification=\"success\"}} {}\n\
                 response_total{{direction=\"outbound\",dst_deployment=\"api\",dst_namespace=\"shop\",tls=\"true\",status_code=\"503\",classification=\"failure\"}} {}\n",
                n * 10,
                n
            )
        };
        let mut s = Signals::new(60.0);
        for i in 0..5u32 {
            s.ingest("cart:4191", f64::from(i), &scrape(i))
                .expect("parses");
        }
        let rows = s.services(4.0, 4.0);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].service, "cart:4191");
        assert!((rows[0].rps - 10.0).abs() < 0.5, "{rows:?}");
        assert!((rows[0].mtls_ratio - 1.0).abs() < 1e-9);
        let edges = s.edges(4.0, 4.0);
        assert_eq!(edges.len(), 1, "{edges:?}");
        assert_eq!(
            (edges[0].source.as_str(), edges[0].service.as_str()),
            ("cart:4191", "api")
        );
        assert!((edges[0].error_rate - 1.0).abs() < 1e-9, "{edges:?}");
    }

    #[test]
    fn circuit_breaker_overflows_are_a_share_of_the_edge() {
        let scrape = |n: u32| {
            format!(
                "istio_requests_total{{reporter=\"source\",source_workload=\"user-v1\",destination_service_name=\"billing\",destination_version=\"v1\",destination_workload=\"billing-v1\",response_code=\"200\",response_flags=\"-\"}} {}\n\
                 istio_requests_total{{reporter=\"source\",source_workload=\"user-v1\",destination_service_name=\"billing\",destination_version=\"unknown\",destination_workload=\"unknown\",response_code=\"503\",response_flags=\"UO\"}} {}\n",
                n * 3,
                n
            )
        };
        let mut s = Signals::new(60.0);
        for i in 0..5u32 {
            s.ingest("t", f64::from(i), &scrape(i)).expect("parses");
        }
        let edges = s.edges(4.0, 4.0);
        let rejected = edges
            .iter()
            .find(|e| e.version == "unknown")
            .expect("the overflowing requests");
        assert!((rejected.overflow_rate - 1.0).abs() < 1e-9, "{edges:?}");
        let served = edges.iter().find(|e| e.version == "v1").expect("served");
        assert_eq!(served.overflow_rate, 0.0);
    }
}
