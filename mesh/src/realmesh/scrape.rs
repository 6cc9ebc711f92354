//! A proxy's Prometheus exposition, fetched directly (`--scrape`): Envoy's
//! `/stats/prometheus` (istio-proxy's 15090, or the agent's merged 15020)
//! or linkerd-proxy's `/metrics` (4191).
//!
//! The text is read with the same line parser as the golden signals
//! (`prometheus-parse`, see `telemetry::golden`), and kept whole beside
//! its samples: rates come from successive scrapes fed to
//! [`Signals`](crate::telemetry::golden::Signals), which reads the text.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use super::fetch::{self, Target};
use super::RealMeshError;
use crate::telemetry::golden::{sample, ScrapeError};

/// The largest exposition read: a busy gateway's Envoy writes a few MB;
/// ten times that is not a metrics endpoint.
pub const MAX_EXPOSITION_BYTES: usize = 32 * 1024 * 1024;

/// One sample of an exposition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSample {
    /// The series name as written (`istio_requests_total`, `..._bucket`).
    pub name: String,
    /// Its labels, escapes undone.
    pub labels: BTreeMap<String, String>,
    /// The value (`+Inf`, `NaN` included).
    pub value: f64,
    /// The family's declared type (`counter`, `gauge`, `histogram`,
    /// `summary`), `untyped` when no `# TYPE` line names it.
    pub kind: String,
}

/// A scrape: the text as served and its samples.
#[derive(Debug, Clone, Serialize)]
pub struct Exposition {
    /// Where it came from (URL or file).
    pub source: String,
    /// The text, for [`Signals::ingest`](crate::telemetry::golden::Signals::ingest).
    #[serde(skip)]
    pub text: String,
    /// Every sample, in the order written.
    pub samples: Vec<MetricSample>,
}

/// Parses exposition text; a line that is neither a sample nor a comment
/// fails the whole text, naming the line.
pub fn parse_exposition(text: &str) -> Result<Vec<MetricSample>, RealMeshError> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let prometheus_parse::LineInfo::Type {
            metric_alias,
            metric_name,
            sample_type,
        } = prometheus_parse::LineInfo::parse(line)
        {
            // The crate names a histogram family by its `_bucket` series.
            let family = metric_alias.unwrap_or(metric_name);
            types.insert(family, format!("{sample_type:?}").to_ascii_lowercase());
            continue;
        }
        let Some((name, labels, value)) = sample(line).map_err(|e| RealMeshError::Malformed {
            what: "Prometheus exposition".into(),
            detail: format!(
                "line {}: {}; expected the Prometheus text format (is this a metrics endpoint?)",
                n + 1,
                match e {
                    ScrapeError::Malformed(l) => crate::yaml::escape_control(&clip(&l)),
                    other => other.to_string(),
                }
            ),
        })?
        else {
            continue;
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        out.push(MetricSample {
            name: name.to_string(),
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            value,
            kind: types
                .get(family)
                .cloned()
                .unwrap_or_else(|| "untyped".into()),
        });
    }
    Ok(out)
}

/// At most 120 characters of a bad line, for a message.
fn clip(line: &str) -> String {
    match line.char_indices().nth(120) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// The path a target is scraped at: the one it names, else linkerd-proxy's
/// `/metrics` on its admin port 4191, else Envoy's `/stats/prometheus`.
pub fn default_path(target: &Target) -> &'static str {
    if target.authority.ends_with(":4191") {
        "/metrics"
    } else {
        "/stats/prometheus"
    }
}

/// Fetches and parses one exposition. `target` is `HOST:PORT` or
/// `http://HOST:PORT/path`; without a path, [`default_path`].
pub async fn scrape(target: &str, timeout: Duration) -> Result<Exposition, RealMeshError> {
    let mut t = Target::parse(target)?;
    // A URL's path is the metrics path here, not a prefix under which it lives.
    let path = if t.prefix.is_empty() {
        default_path(&t).to_string()
    } else {
        std::mem::take(&mut t.prefix)
    };
    let source = t.url(&path);
    let text = fetch::get_text(&t, &path, MAX_EXPOSITION_BYTES, timeout).await?;
    let samples = parse_exposition(&text)?;
    Ok(Exposition {
        source,
        text,
        samples,
    })
}

/// Reads a saved exposition (`--scrape-file`).
pub fn read_exposition(path: &std::path::Path) -> Result<Exposition, RealMeshError> {
    let text = fetch::read_file(path, MAX_EXPOSITION_BYTES)?;
    let samples = parse_exposition(&text)?;
    Ok(Exposition {
        source: path.display().to_string(),
        text,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_keep_their_type_and_labels_their_commas() {
        let text = "# HELP istio_requests_total Total requests.\n# TYPE istio_requests_total counter\nistio_requests_total{response_flags=\"UF,URX\",path=\"a=b\"} 3\n# TYPE d histogram\nd_bucket{le=\"+Inf\"} 2\nd_count 2\nplain 1.5 1700000000000\n# EOF\n";
        let s = parse_exposition(text).expect("parses");
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].labels["response_flags"], "UF,URX");
        assert_eq!(s[0].labels["path"], "a=b");
        assert_eq!(s[0].kind, "counter");
        assert_eq!(s[1].kind, "histogram");
        assert_eq!((s[1].labels["le"].as_str(), s[1].value), ("+Inf", 2.0));
        assert_eq!(s[2].kind, "histogram");
        assert_eq!(
            (s[3].name.as_str(), s[3].kind.as_str()),
            ("plain", "untyped")
        );
    }

    #[test]
    fn garbage_names_its_line() {
        let e = parse_exposition("ok 1\n<html><body>Not Found</body></html>\n").expect_err("html");
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
