//! Golden signals from a mesh's Prometheus, through its HTTP API
//! (`/api/v1/query`), asked the way Kiali asks an Istio mesh's Prometheus
//! and `linkerd viz` asks Linkerd's: rates of the request counters and
//! `histogram_quantile` over the latency buckets, grouped by the labels
//! each mesh puts on them. The answers fill the same types the console
//! computes for a meshcon mesh, so its views do not know the difference.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::fetch::Endpoint;
use super::AttachError;
use crate::proto::Workload;
use crate::telemetry::golden::{EdgeSignal, ServiceSignal};

/// Which mesh wrote the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Istio's standard metrics (`istio_requests_total`, ...), as meshcon's proxies also write them.
    Istio,
    /// linkerd2-proxy's metrics (`response_total`, `response_latency_ms`).
    Linkerd,
}

impl Dialect {
    /// The name the command line and the footer use.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Istio => "istio",
            Dialect::Linkerd => "linkerd",
        }
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "istio" => Ok(Dialect::Istio),
            "linkerd" => Ok(Dialect::Linkerd),
            _ => Err(format!("'{s}' is not a dialect: istio or linkerd")),
        }
    }
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// Its value (NaN when Prometheus said so, e.g. a quantile without traffic).
    pub value: f64,
}

impl Sample {
    fn get(&self, label: &str) -> &str {
        self.labels.get(label).map_or("", String::as_str)
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<VectorItem>,
}

#[derive(Deserialize)]
struct VectorItem {
    metric: BTreeMap<String, String>,
    value: (serde_json::Value, String),
}

/// Everything one round of queries learned.
#[derive(Debug, Clone, Default)]
pub struct MeshSignals {
    /// Per service version, like the console's own computation.
    pub services: Vec<ServiceSignal>,
    /// Per caller workload and service version.
    pub edges: Vec<EdgeSignal>,
    /// Workloads the series name, callers included.
    pub workloads: Vec<Workload>,
}

/// A mesh's Prometheus.
#[derive(Debug, Clone)]
pub struct Prometheus {
    /// Where it is and how to reach it.
    pub endpoint: Endpoint,
}

impl Prometheus {
    /// An instant query (`/api/v1/query`).
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>, AttachError> {
        let body = self
            .endpoint
            .get(&format!("/api/v1/query?query={}", encode(promql)))
            .await?;
        let what = || format!("{} /api/v1/query", self.endpoint.url());
        let a: Answer = serde_json::from_slice(&body).map_err(|e| AttachError::Malformed {
            what: what(),
            why: format!("not a Prometheus API answer ({e})"),
        })?;
        if a.status != "success" {
            return Err(AttachError::Malformed {
                what: what(),
                why: format!("query refused: {}", a.error),
            });
        }
        let data = a.data.ok_or_else(|| AttachError::Malformed {
            what: what(),
            why: "no data in the answer".into(),
        })?;
        if data.result_type != "vector" {
            return Err(AttachError::Malformed {
                what: what(),
                why: format!("expected a vector, got a {}", data.result_type),
            });
        }
        Ok(data
            .result
            .into_iter()
            .map(|v| Sample {
                labels: v.metric,
                value: v.value.1.parse().unwrap_or(f64::NAN),
            })
            .collect())
    }

    /// Which mesh's series this Prometheus holds.
    pub async fn detect(&self) -> Result<Dialect, AttachError> {
        if !self.query("count(istio_requests_total)").await?.is_empty() {
            return Ok(Dialect::Istio);
        }
        if !self
            .query("count(response_total) or count(request_total)")
            .await?
            .is_empty()
        {
            return Ok(Dialect::Linkerd);
        }
        Err(AttachError::NoMesh(format!(
            "{} answers but holds no mesh series (neither Istio's istio_requests_total nor Linkerd's response_total): is it the mesh's Prometheus, and has traffic flowed?",
            self.endpoint.url()
        )))
    }

    /// Golden signals over the last `window_s` seconds.
    pub async fn signals(
        &self,
        dialect: Dialect,
        window_s: u64,
    ) -> Result<MeshSignals, AttachError> {
        match dialect {
            Dialect::Istio => self.istio(window_s).await,
            Dialect::Linkerd => self.linkerd(window_s).await,
        }
    }

    /// Only the edges over the last `window_s` seconds (a change's
    /// before/after needs no more).
    pub async fn edges(
        &self,
        dialect: Dialect,
        window_s: u64,
    ) -> Result<Vec<EdgeSignal>, AttachError> {
        match dialect {
            Dialect::Istio => self.istio_edges(window_s).await,
            Dialect::Linkerd => self.linkerd_edges(window_s).await,
        }
    }

    /// Istio's edges over `w` seconds: per caller workload and service version.
    async fn istio_edges(&self, w: u64) -> Result<Vec<EdgeSignal>, AttachError> {
        const EDGE: &str = "source_workload,source_cluster,destination_service_name,destination_version,destination_cluster";
        // Edges as callers report them (local failures such as no healthy
        // upstream exist only there); a Prometheus holding only the
        // destination side still shows who called whom.
        let mut reporter = "source";
        let mut edges = self
            .query(&format!("sum by ({EDGE},response_code,response_flags,connection_security_policy,destination_workload) (rate(istio_requests_total{{reporter=\"source\"}}[{w}s]))"))
            .await?;
        if edges.is_empty() {
            reporter = "destination";
            edges = self
                .query(&format!("sum by ({EDGE},response_code,response_flags,connection_security_policy,destination_workload) (rate(istio_requests_total{{reporter=\"destination\"}}[{w}s]))"))
                .await?;
        }
        let edge_p99 = self
            .query(&format!("histogram_quantile(0.99, sum by (le,{EDGE}) (rate(istio_request_duration_milliseconds_bucket{{reporter=\"{reporter}\"}}[{w}s])))"))
            .await?;
        let ekey = |s: &Sample| {
            (
                s.get("source_workload").to_string(),
                s.get("source_cluster").to_string(),
                s.get("destination_service_name").to_string(),
                s.get("destination_version").to_string(),
                s.get("destination_cluster").to_string(),
            )
        };
        let mut by: BTreeMap<(String, String, String, String, String), EdgeSignal> =
            BTreeMap::new();
        for s in &edges {
            let k = ekey(s);
            let e = by.entry(k.clone()).or_insert_with(|| EdgeSignal {
                source: k.0,
                source_cluster: k.1,
                service: k.2,
                version: k.3,
                destination_cluster: k.4,
                ..Default::default()
            });
            let v = finite(s.value);
            e.rps += v;
            if failed(s.get("response_code")) {
                e.error_rate += v;
            }
            if s.get("connection_security_policy") == "mutual_tls"
                || (reporter == "source" && s.get("destination_workload") != "unknown")
            {
                e.mtls_ratio += v;
            }
            if s.get("response_flags").split(',').any(|f| f == "UO") {
                e.overflow_rate += v;
            }
        }
        for s in &edge_p99 {
            if let Some(e) = by.get_mut(&ekey(s)) {
                e.p99_ms = finite(s.value);
            }
        }
        Ok(by.into_values().map(edge_shares).collect())
    }

    async fn istio(&self, w: u64) -> Result<MeshSignals, AttachError> {
        const DEST: &str = "destination_cluster,destination_service_namespace,destination_service_name,destination_version";
        let rows = self
            .query(&format!("sum by ({DEST},response_code,connection_security_policy) (rate(istio_requests_total{{reporter=\"destination\"}}[{w}s]))"))
            .await?;
        let effective = self
            .query(&format!("sum by (destination_service_namespace,destination_service_name,destination_version) (rate(istio_requests_total{{reporter=\"source\"}}[{w}s]))"))
            .await?;
        let mut q = Vec::new();
        for p in [0.5, 0.9, 0.99] {
            q.push(self.query(&format!("histogram_quantile({p}, sum by (le,{DEST}) (rate(istio_request_duration_milliseconds_bucket{{reporter=\"destination\"}}[{w}s])))")).await?);
        }
        let dests = self
            .query("count by (destination_workload,destination_workload_namespace,destination_service_name,destination_version,destination_cluster,destination_principal) (istio_requests_total)")
            .await?;
        let sources = self
            .query("count by (source_workload,source_workload_namespace,source_canonical_service,source_app,source_version,source_cluster,source_principal) (istio_requests_total)")
            .await?;

        let key = |s: &Sample| {
            (
                s.get("destination_cluster").to_string(),
                s.get("destination_service_namespace").to_string(),
                s.get("destination_service_name").to_string(),
                s.get("destination_version").to_string(),
            )
        };
        let mut services: BTreeMap<(String, String, String, String), ServiceSignal> =
            BTreeMap::new();
        for s in &rows {
            let k = key(s);
            let row = services.entry(k.clone()).or_insert_with(|| row_of(k));
            let v = finite(s.value);
            row.rps += v;
            if !failed(s.get("response_code")) {
                row.success_rate += v; // the ok rate, divided below
            }
            if s.get("connection_security_policy") == "mutual_tls" {
                row.mtls_ratio += v;
            }
        }
        percentiles(&mut services, &q, key);
        for s in &effective {
            for row in services.values_mut().filter(|r| {
                r.namespace == s.get("destination_service_namespace")
                    && r.service == s.get("destination_service_name")
                    && r.version == s.get("destination_version")
            }) {
                row.effective_rps += finite(s.value);
            }
        }
        let services = services.into_values().map(ratios).collect();

        let edges = self.istio_edges(w).await?;

        let mut workloads: BTreeMap<(String, String), Workload> = BTreeMap::new();
        for s in &dests {
            let name = s.get("destination_workload");
            if name.is_empty() || name == "unknown" {
                continue;
            }
            workloads
                .entry((s.get("destination_cluster").into(), name.into()))
                .or_insert_with(|| Workload {
                    kind: kind_of(name).into(),
                    cluster: s.get("destination_cluster").into(),
                    namespace: s.get("destination_workload_namespace").into(),
                    service: s.get("destination_service_name").into(),
                    version: s.get("destination_version").into(),
                    instance: name.into(),
                    spiffe_id: principal(s.get("destination_principal")),
                    ready: true,
                    ..Default::default()
                });
        }
        for s in &sources {
            let name = s.get("source_workload");
            if name.is_empty() || name == "unknown" {
                continue;
            }
            let service = [s.get("source_canonical_service"), s.get("source_app")]
                .into_iter()
                .find(|x| !x.is_empty() && *x != "unknown")
                .unwrap_or(name);
            workloads
                .entry((s.get("source_cluster").into(), name.into()))
                .or_insert_with(|| Workload {
                    kind: kind_of(name).into(),
                    cluster: s.get("source_cluster").into(),
                    namespace: s.get("source_workload_namespace").into(),
                    service: service.into(),
                    version: s.get("source_version").into(),
                    instance: name.into(),
                    spiffe_id: principal(s.get("source_principal")),
                    ready: true,
                    ..Default::default()
                });
        }
        Ok(MeshSignals {
            services,
            edges,
            workloads: workloads.into_values().collect(),
        })
    }

    /// Linkerd's edges over `w` seconds: per caller and destination workload.
    async fn linkerd_edges(&self, w: u64) -> Result<Vec<EdgeSignal>, AttachError> {
        const WL: &str = "namespace,deployment,statefulset,daemonset,pod,job";
        let edges = self
            .query(&format!("sum by ({WL},dst_namespace,dst_deployment,dst_statefulset,dst_daemonset,dst_service,classification,tls) (rate(response_total{{direction=\"outbound\"}}[{w}s]))"))
            .await?;
        let edge_p99 = self
            .query(&format!("histogram_quantile(0.99, sum by (le,{WL},dst_namespace,dst_deployment,dst_statefulset,dst_daemonset,dst_service) (rate(response_latency_ms_bucket{{direction=\"outbound\"}}[{w}s])))"))
            .await?;
        let ekey = |s: &Sample| {
            (
                linkerd_workload(s, ""),
                s.get("dst_namespace").to_string(),
                linkerd_workload(s, "dst_"),
            )
        };
        let mut by: BTreeMap<(String, String, String), EdgeSignal> = BTreeMap::new();
        for s in &edges {
            let k = ekey(s);
            if k.2.is_empty() {
                continue;
            }
            let e = by.entry(k.clone()).or_insert_with(|| EdgeSignal {
                source: k.0.clone(),
                service: k.2.clone(),
                ..Default::default()
            });
            let v = finite(s.value);
            e.rps += v;
            if s.get("classification") == "failure" {
                e.error_rate += v;
            }
            if s.get("tls") == "true" {
                e.mtls_ratio += v;
            }
        }
        for s in &edge_p99 {
            if let Some(e) = by.get_mut(&ekey(s)) {
                e.p99_ms = finite(s.value);
            }
        }
        Ok(by.into_values().map(edge_shares).collect())
    }

    async fn linkerd(&self, w: u64) -> Result<MeshSignals, AttachError> {
        // linkerd-viz's Prometheus adds the pod's namespace, name and
        // controller (deployment, statefulset...) to every series; a
        // Prometheus without that relabelling still names the pod or job.
        const WL: &str = "namespace,deployment,statefulset,daemonset,pod,job";
        let rows = self
            .query(&format!("sum by ({WL},classification,tls) (rate(response_total{{direction=\"inbound\"}}[{w}s]))"))
            .await?;
        let requests = self
            .query(&format!(
                "sum by ({WL},tls) (rate(request_total{{direction=\"inbound\"}}[{w}s]))"
            ))
            .await?;
        let mut q = Vec::new();
        for p in [0.5, 0.9, 0.99] {
            q.push(self.query(&format!("histogram_quantile({p}, sum by (le,{WL}) (rate(response_latency_ms_bucket{{direction=\"inbound\"}}[{w}s])))")).await?);
        }
        let seen = self
            .query(&format!(
                "count by ({WL}) (request_total) or count by ({WL}) (response_total)"
            ))
            .await?;

        let key = |s: &Sample| (s.get("namespace").to_string(), linkerd_workload(s, ""));
        let mut services: BTreeMap<(String, String), ServiceSignal> = BTreeMap::new();
        let row =
            |k: &(String, String)| row_of((String::new(), k.0.clone(), k.1.clone(), String::new()));
        for s in &rows {
            let k = key(s);
            let r = services.entry(k.clone()).or_insert_with(|| row(&k));
            let v = finite(s.value);
            r.rps += v;
            if s.get("classification") != "failure" {
                r.success_rate += v;
            }
            if s.get("tls") == "true" {
                r.mtls_ratio += v;
            }
        }
        // A proxy that saw requests but no responses yet still gets a row.
        for s in &requests {
            let k = key(s);
            services.entry(k.clone()).or_insert_with(|| row(&k));
        }
        percentiles(&mut services, &q, key);
        for r in services.values_mut() {
            r.effective_rps = r.rps;
        }
        let services = services.into_values().map(ratios).collect();

        let edges = self.linkerd_edges(w).await?;
        let mut workloads: BTreeMap<(String, String), Workload> = BTreeMap::new();
        for s in &seen {
            let name = linkerd_workload(s, "");
            if name.is_empty() {
                continue;
            }
            workloads
                .entry((s.get("namespace").into(), name.clone()))
                .or_insert_with(|| Workload {
                    kind: "sidecar".into(),
                    namespace: s.get("namespace").into(),
                    service: name.clone(),
                    instance: [s.get("pod"), name.as_str()]
                        .into_iter()
                        .find(|x| !x.is_empty())
                        .unwrap_or_default()
                        .into(),
                    ready: true,
                    ..Default::default()
                });
        }
        Ok(MeshSignals {
            services,
            edges,
            workloads: workloads.into_values().collect(),
        })
    }
}

/// The workload a Linkerd series belongs to: its controller's name, else
/// the pod, else the scrape job.
fn linkerd_workload(s: &Sample, prefix: &str) -> String {
    [
        "deployment",
        "statefulset",
        "daemonset",
        "service",
        "pod",
        "job",
    ]
    .iter()
    .filter(|l| !(prefix.is_empty() && **l == "service"))
    .map(|l| s.get(&format!("{prefix}{l}")))
    .find(|v| !v.is_empty())
    .unwrap_or_default()
    .to_string()
}

fn row_of(k: (String, String, String, String)) -> ServiceSignal {
    ServiceSignal {
        cluster: k.0,
        namespace: k.1,
        service: k.2,
        version: k.3,
        ..Default::default()
    }
}

/// Fills P50, P90 and P99 from the three quantile queries, in that order.
fn percentiles<K: Ord>(
    rows: &mut BTreeMap<K, ServiceSignal>,
    q: &[Vec<Sample>],
    key: impl Fn(&Sample) -> K,
) {
    for (i, list) in q.iter().enumerate() {
        for s in list {
            if let Some(r) = rows.get_mut(&key(s)) {
                let v = finite(s.value);
                match i {
                    0 => r.p50_ms = v,
                    1 => r.p90_ms = v,
                    _ => r.p99_ms = v,
                }
            }
        }
    }
}

/// Turns an edge's summed error, mTLS and overflow rates into shares.
fn edge_shares(mut e: EdgeSignal) -> EdgeSignal {
    if e.rps > 0.0 {
        e.error_rate /= e.rps;
        e.mtls_ratio /= e.rps;
        e.overflow_rate /= e.rps;
    } else {
        e.error_rate = 0.0;
        e.mtls_ratio = 0.0;
        e.overflow_rate = 0.0;
    }
    e
}

/// Turns the summed ok and mTLS rates into shares.
fn ratios(mut r: ServiceSignal) -> ServiceSignal {
    if r.rps > 0.0 {
        r.success_rate /= r.rps;
        r.mtls_ratio /= r.rps;
    } else {
        r.success_rate = 1.0;
        r.mtls_ratio = 0.0;
    }
    r
}

fn failed(code: &str) -> bool {
    code.starts_with('5') || code == "0"
}

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn kind_of(workload: &str) -> &'static str {
    if workload.contains("eastwestgateway") || workload.contains("eastwest-gateway") {
        "eastwest-gateway"
    } else if workload.contains("ingressgateway") || workload.contains("ingress-gateway") {
        "ingress-gateway"
    } else {
        "sidecar"
    }
}

fn principal(p: &str) -> String {
    if p.starts_with("spiffe://") {
        p.to_string()
    } else {
        String::new()
    }
}

/// Percent-encodes a query parameter's value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_whole() {
        assert_eq!(encode("a{b=\"c\"} [30s]"), "a%7Bb%3D%22c%22%7D%20%5B30s%5D");
    }

    #[test]
    fn linkerd_series_name_their_workload_by_controller_then_pod() {
        let s = |pairs: &[(&str, &str)]| Sample {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: 1.0,
        };
        assert_eq!(
            linkerd_workload(&s(&[("deployment", "web"), ("pod", "web-1")]), ""),
            "web"
        );
        assert_eq!(linkerd_workload(&s(&[("pod", "web-1")]), ""), "web-1");
        assert_eq!(
            linkerd_workload(&s(&[("dst_service", "api")]), "dst_"),
            "api"
        );
    }
}
