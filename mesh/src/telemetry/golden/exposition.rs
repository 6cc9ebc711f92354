//! Reading the Prometheus text format: one sample line at a time, and the
//! request and latency series golden signals are computed from.

use std::collections::HashMap;

use super::{SeriesKey, SeriesValue};

fn key_of(labels: &[(&str, String)]) -> SeriesKey {
    let g = |k: &str| {
        labels
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    SeriesKey {
        reporter: g("reporter"),
        source_workload: g("source_workload"),
        source_cluster: g("source_cluster"),
        destination_service: g("destination_service_name"),
        destination_namespace: g("destination_service_namespace"),
        destination_workload: g("destination_workload"),
        destination_version: g("destination_version"),
        destination_cluster: g("destination_cluster"),
        response_code: g("response_code"),
        response_flags: g("response_flags"),
        security: g("connection_security_policy"),
    }
}

/// Why an exposition could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// A sample line that is not `name{labels} value`.
    #[error("malformed sample line: {0}")]
    Malformed(String),
    /// A histogram bucket needs its upper bound.
    #[error("a bucket without le: {0}")]
    NoLe(String),
    /// An upper bound that is not a number.
    #[error("bad le in {0}")]
    BadLe(String),
}

/// A sample's name, labels and value.
pub(crate) type SampleLine<'a> = (&'a str, Vec<(&'a str, String)>, f64);

/// One line of the Prometheus text format, read with `prometheus-parse`:
/// `Some` for a sample (`name{labels} value [timestamp]`), `None` for a
/// comment, `# HELP`/`# TYPE` or a blank line, an error for anything else.
/// Every exposition meshcon reads (golden signals, `--scrape`) goes
/// through here.
pub(crate) fn sample(line: &str) -> Result<Option<SampleLine<'_>>, ScrapeError> {
    use prometheus_parse::LineInfo;
    let bad = || ScrapeError::Malformed(line.to_string());
    match LineInfo::parse(line) {
        LineInfo::Sample {
            metric_name,
            labels,
            value,
            ..
        } => {
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().map_err(|_| bad())?,
            };
            let labels = match labels {
                Some(block) => label_pairs(block).ok_or_else(bad)?,
                None => Vec::new(),
            };
            Ok(Some((metric_name, labels, value)))
        }
        LineInfo::Doc { .. } | LineInfo::Type { .. } | LineInfo::Empty => Ok(None),
        LineInfo::Ignored if line.trim_start().starts_with('#') => Ok(None),
        LineInfo::Ignored => Err(bad()),
    }
}

/// The pairs of a label block (`a="x",b="y\"z"`), escapes undone.
///
/// `prometheus-parse` finds the block but splits it on every `,` and `=`
/// and keeps escapes, which breaks on values Envoy really writes
/// (`response_flags="UF,URX"`, quoted paths); so the block's inside is
/// read here, by the format's quoting rules.
fn label_pairs(block: &str) -> Option<Vec<(&str, String)>> {
    let mut out = Vec::new();
    let mut r = block;
    loop {
        r = r.trim_start_matches([',', ' ']);
        if r.is_empty() {
            return Some(out);
        }
        let (key, after) = r.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        out.push((key.trim(), value));
        r = &after[end + 1..];
    }
}

/// The labels of a linkerd2-proxy series read as Istio's: a proxy scraped
/// directly does not name itself, so `target` stands for it; its callers
/// are named by their mTLS identity (`client_id`), its destinations by the
/// `dst_*` labels.
fn linkerd_key(target: &str, labels: &[(&str, String)]) -> SeriesKey {
    let g = |k: &str| {
        labels
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let first = |xs: &[&str]| -> String {
        xs.iter()
            .map(|k| g(k))
            .find(|v| !v.is_empty())
            .unwrap_or("unknown")
            .to_string()
    };
    let code = g("status_code");
    // Linkerd classifies failures itself (gRPC status, not only 5xx).
    let response_code = if g("classification") == "failure" && !code.starts_with('5') {
        "0".to_string()
    } else {
        code.to_string()
    };
    let security = if g("tls") == "true" {
        "mutual_tls"
    } else {
        "none"
    }
    .to_string();
    if g("direction") == "outbound" {
        let service = first(&[
            "dst_service",
            "dst_deployment",
            "dst_statefulset",
            "dst_daemonset",
        ]);
        SeriesKey {
            reporter: "source".into(),
            source_workload: target.to_string(),
            destination_service: service.clone(),
            destination_namespace: g("dst_namespace").to_string(),
            destination_workload: first(&[
                "dst_deployment",
                "dst_statefulset",
                "dst_daemonset",
                "dst_pod",
            ]),
            response_code,
            security,
            ..Default::default()
        }
    } else {
        // client_id: `web.emojivoto.serviceaccount.identity.linkerd.cluster.local`.
        let caller = g("client_id").split('.').next().unwrap_or_default();
        SeriesKey {
            reporter: "destination".into(),
            source_workload: if caller.is_empty() { "unknown" } else { caller }.to_string(),
            destination_service: target.to_string(),
            destination_workload: target.to_string(),
            response_code,
            security,
            ..Default::default()
        }
    }
}

/// What one series line of a mesh family says, apart from its value.
#[derive(Debug, Clone)]
struct Series {
    key: SeriesKey,
    /// A bucket's upper bound; None for a request counter.
    le: Option<f64>,
}

/// The series lines of one target read so far, by the text before their
/// value: a proxy's label sets hardly change between scrapes, so each is
/// read (with `prometheus-parse`, label by label) once, and later scrapes
/// only read the number after it. A console scraping every proxy every
/// second spent most of its idle time reading the same labels again.
#[derive(Debug, Default)]
pub(super) struct LineCache {
    series: HashMap<String, Series>,
}

/// Series lines remembered per target before the cache starts over (label
/// sets that keep changing must not grow it without bound).
const MAX_CACHED_SERIES: usize = 20_000;

impl LineCache {
    /// Reads the mesh series of one exposition (Istio's, or a
    /// linkerd2-proxy's read as Istio's): request counts, and the duration
    /// histogram's cumulative buckets.
    pub(super) fn parse(
        &mut self,
        target: &str,
        text: &str,
    ) -> Result<HashMap<SeriesKey, SeriesValue>, ScrapeError> {
        const FAMILIES: [&str; 4] = [REQUESTS, BUCKETS, LINKERD_RESPONSES, LINKERD_BUCKETS];
        if self.series.len() > MAX_CACHED_SERIES {
            self.series.clear();
        }
        let mut out: HashMap<SeriesKey, SeriesValue> = HashMap::new();
        for line in text.lines() {
            // Other families (byte sizes, Envoy counters) are most of an
            // exposition: skip them before reading a single label.
            if !FAMILIES.iter().any(|p| line.starts_with(p)) {
                continue;
            }
            // The value (and any timestamp) follows the label block's
            // closing brace, which they cannot contain.
            let split = line
                .rfind('}')
                .map(|i| i + 1)
                .or_else(|| line.find(char::is_whitespace))
                .unwrap_or(line.len());
            let (head, rest) = line.split_at(split);
            let known = self.series.get(head).cloned();
            let (series, v) = match known.zip(rest.split_whitespace().next()) {
                Some((series, value)) => match number(value) {
                    Some(v) => (series, v),
                    None => return Err(ScrapeError::Malformed(line.to_string())),
                },
                None => {
                    let Some((series, v)) = read_series(target, line)? else {
                        continue;
                    };
                    self.series.insert(head.to_string(), series.clone());
                    (series, v)
                }
            };
            let e = out.entry(series.key).or_default();
            match series.le {
                None => e.requests += v,
                Some(le) => match e.buckets.iter_mut().find(|b| b.0 == le) {
                    Some(b) => b.1 += v,
                    None => e.buckets.push((le, v)),
                },
            }
        }
        for v in out.values_mut() {
            v.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Ok(out)
    }
}

const REQUESTS: &str = "istio_requests_total";
const BUCKETS: &str = "istio_request_duration_milliseconds_bucket";
const LINKERD_RESPONSES: &str = "response_total";
const LINKERD_BUCKETS: &str = "response_latency_ms_bucket";

/// A sample value as the text format writes it.
fn number(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        v => v.parse().ok(),
    }
}

/// Reads one line of a mesh family whole: its series and value; None for
/// a family that only starts like one of them.
fn read_series(target: &str, line: &str) -> Result<Option<(Series, f64)>, ScrapeError> {
    let Some((name, mut labels, v)) = sample(line)? else {
        return Ok(None);
    };
    let linkerd = name == LINKERD_RESPONSES || name == LINKERD_BUCKETS;
    let le = if name == REQUESTS || name == LINKERD_RESPONSES {
        None
    } else if name == BUCKETS || name == LINKERD_BUCKETS {
        let le = labels
            .iter()
            .position(|(n, _)| *n == "le")
            .map(|i| labels.remove(i).1)
            .ok_or_else(|| ScrapeError::NoLe(line.to_string()))?;
        Some(number(&le).ok_or_else(|| ScrapeError::BadLe(line.to_string()))?)
    } else {
        return Ok(None);
    };
    let key = if linkerd {
        linkerd_key(target, &labels)
    } else {
        key_of(&labels)
    };
    Ok(Some((Series { key, le }, v)))
}

/// Reads the mesh series of one exposition, without a cache.
#[cfg(test)]
pub(super) fn parse(
    target: &str,
    text: &str,
) -> Result<HashMap<SeriesKey, SeriesValue>, ScrapeError> {
    LineCache::default().parse(target, text)
}
