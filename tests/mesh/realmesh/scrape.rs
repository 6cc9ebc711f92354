//! Direct scrapes (`--scrape`): recorded real expositions (Istio's Envoy,
//! linkerd-proxy; ../shared/peers/metrics) served on loopback are read
//! sample for sample; garbage and a 50 MB answer are clear errors.

use std::time::Duration;

use bytes::Bytes;
use mesh::api::realmesh;

use super::{serve, Answer};
use crate::support::peers;

/// The sample lines of an exposition, counted without the parser under
/// test: every line that is neither blank nor a comment.
fn sample_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_istio_and_linkerd_expositions_are_read_whole() {
    let Some(root) = peers::find() else { return };
    let istio = std::fs::read_to_string(
        root.join("metrics/datadog-istio/istio-1.11.4-reviews-v1-istio-excerpt.txt"),
    )
    .expect("istio exposition");
    let linkerd = std::fs::read_to_string(root.join("metrics/linkerd2/sampleMetrics.txt"))
        .expect("linkerd exposition");
    let (addr, seen) = serve(vec![
        ("/stats/prometheus", Answer::text(istio.clone())),
        ("/metrics", Answer::text(linkerd.clone())),
    ])
    .await;

    let envoy = realmesh::scrape(&addr.to_string(), Duration::from_secs(30))
        .await
        .expect("envoy scrape");
    assert_eq!(envoy.source, format!("http://{addr}/stats/prometheus"));
    let lines = sample_lines(&istio);
    assert_eq!(envoy.samples.len(), lines.len());
    for (s, line) in envoy.samples.iter().zip(&lines) {
        assert!(line.starts_with(&s.name), "{} vs {line}", s.name);
    }
    let requests: Vec<_> = envoy
        .samples
        .iter()
        .filter(|s| s.name == "istio_requests_total")
        .collect();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|s| s.kind == "counter"
        && s.labels.contains_key("destination_workload")
        && s.labels.contains_key("reporter")));
    assert!(envoy
        .samples
        .iter()
        .any(|s| s.name == "istio_request_duration_milliseconds_bucket" && s.kind == "histogram"));

    let proxy = realmesh::scrape(&format!("http://{addr}/metrics"), Duration::from_secs(30))
        .await
        .expect("linkerd scrape");
    assert_eq!(proxy.samples.len(), sample_lines(&linkerd).len());
    let latency = proxy
        .samples
        .iter()
        .find(|s| s.name == "response_latency_ms_bucket")
        .expect("linkerd latency buckets");
    assert_eq!(latency.kind, "histogram");
    assert!(latency.labels.contains_key("le"));
    assert!(seen.lock().iter().any(|p| p == "/metrics"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_50_mb_exposition_are_clear_errors() {
    let fifty_mb = Bytes::from(
        "envoy_cluster_upstream_rq_total{cluster_name=\"a\"} 1\n".repeat(50 * 1024 * 1024 / 52),
    );
    assert!(fifty_mb.len() > realmesh::MAX_EXPOSITION_BYTES);
    let (addr, _) = serve(vec![
        ("/stats/prometheus", Answer::text(fifty_mb)),
        (
            "/metrics",
            Answer::text("<!doctype html>\n<title>Grafana</title>\n"),
        ),
    ])
    .await;
    let e = realmesh::scrape(&addr.to_string(), Duration::from_secs(60))
        .await
        .expect_err("too large");
    assert!(e.to_string().contains("larger than"), "{e}");
    let e = realmesh::scrape(&format!("http://{addr}/metrics"), Duration::from_secs(30))
        .await
        .expect_err("html");
    let msg = e.to_string();
    assert!(
        msg.contains("line 1") && msg.contains("Prometheus text format"),
        "{msg}"
    );
}
