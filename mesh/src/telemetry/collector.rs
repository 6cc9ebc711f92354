//! The trace collector in each control plane: an OTLP/gRPC `TraceService`
//! that files spans by trace id into a bounded store (oldest traces go
//! first), and answers queries by trace id, service, minimum duration and
//! errors.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use super::trace::hex;

/// Traces kept.
pub const MAX_TRACES: usize = 2000;
/// Spans kept per trace.
pub const MAX_SPANS_PER_TRACE: usize = 256;

/// One span as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSpan {
    /// Hex span id.
    pub span_id: String,
    /// Hex parent span id, empty for roots.
    pub parent_span_id: String,
    /// What the hop did: `GET billing` (client), `GET /pay` (server), or
    /// `outbound|8080|v1|billing... attempt 2` for one try of a retried call.
    pub name: String,
    /// `client` or `server`.
    pub kind: String,
    /// The proxy's workload (resource `k8s.deployment.name`, else `service.name`).
    pub service: String,
    /// The proxy's cluster.
    pub cluster: String,
    /// Start, ms since the epoch.
    pub start_unix_ms: f64,
    /// Duration, ms.
    pub duration_ms: f64,
    /// Whether the span failed.
    pub error: bool,
    /// Tags as OTLP sent them (HTTP method, status, peer, response flags...), values as text.
    pub attributes: BTreeMap<String, String>,
}

/// A whole trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Hex trace id.
    pub trace_id: String,
    /// Earliest span start, ms since the epoch.
    pub start_unix_ms: f64,
    /// From earliest start to latest end, ms.
    pub duration_ms: f64,
    /// Workloads involved.
    pub services: Vec<String>,
    /// Clusters crossed.
    pub clusters: Vec<String>,
    /// The request failed for whoever sent it (its root span failed).
    pub error: bool,
    /// Spans that failed, retried attempts included: a trace can be `ok`
    /// with failed spans inside.
    #[serde(default)]
    pub failed_spans: u32,
    /// The spans, by start time.
    pub spans: Vec<StoredSpan>,
}

impl Trace {
    /// The span the trace starts with, and whether it is the true root: a
    /// trace whose first span has not arrived (or was not sampled) starts
    /// with a span whose parent is missing, which must not pass for a root.
    pub fn root(&self) -> Option<(&StoredSpan, bool)> {
        if let Some(r) = self.spans.iter().find(|s| s.parent_span_id.is_empty()) {
            return Some((r, true));
        }
        // A parent outside the trace is normal where a request enters the
        // mesh (a gateway's span, a client's outbound call carrying an
        // outside caller's traceparent); a sidecar's server span always
        // has a caller inside the mesh, so its absence means the trace is
        // not all here yet.
        root(&self.spans).map(|s| {
            let entry = s.kind != "server" || s.service.contains("gateway");
            (s, entry)
        })
    }

    /// What a list shows as the trace's root: `service name`, or the
    /// earliest span whose parent is missing, marked as such.
    pub fn root_label(&self) -> String {
        match self.root() {
            Some((s, true)) => format!("{} {}", s.service, s.name),
            Some((s, false)) => format!("(root missing) {} {}", s.service, s.name),
            None => String::new(),
        }
    }

    /// `error` (the caller got a failure), `recovered` (something inside
    /// failed, a retry or fallback hid it) or `ok`.
    pub fn status(&self) -> &'static str {
        match (self.error, self.failed_spans) {
            (true, _) => "error",
            (false, 0) => "ok",
            (false, _) => "recovered",
        }
    }
}

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Exact trace id.
    pub trace_id: Option<String>,
    /// A workload or service that appears in the trace.
    pub service: Option<String>,
    /// Minimum duration.
    pub min_duration_ms: f64,
    /// Only traces with a failed span (recovered ones included).
    pub errors_only: bool,
    /// At most this many (newest first).
    pub limit: usize,
}

#[derive(Default)]
struct Inner {
    traces: HashMap<String, Vec<StoredSpan>>,
    order: VecDeque<String>,
}

/// A bounded store of traces.
#[derive(Default, Clone)]
pub struct TraceStore {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceStore")
    }
}

fn attr_text(kv: &KeyValue) -> Option<(String, String)> {
    let v = kv.value.as_ref()?.value.as_ref()?;
    let text = match v {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        _ => return None,
    };
    Some((kv.key.clone(), text))
}

impl TraceStore {
    /// Files the spans of an OTLP export.
    pub fn add(&self, req: &ExportTraceServiceRequest) {
        // Convert first, then hold the lock only to insert: queries from the
        // console never wait behind a batch being decoded.
        let mut spans_in: Vec<(String, StoredSpan)> = Vec::new();
        for rs in &req.resource_spans {
            let res: BTreeMap<String, String> = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.iter().filter_map(attr_text).collect())
                .unwrap_or_default();
            // The workload when the sender names it (meshcon, OTel's
            // Kubernetes attributes), else the service as Istio names it.
            let service = res
                .get("k8s.deployment.name")
                .or_else(|| res.get("service.name"))
                .cloned()
                .unwrap_or_else(|| "unknown".into());
            let cluster = res.get("k8s.cluster.name").cloned().unwrap_or_default();
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let tid = hex(&s.trace_id);
                    if tid.len() != 32 {
                        continue;
                    }
                    let span = StoredSpan {
                        span_id: hex(&s.span_id),
                        parent_span_id: hex(&s.parent_span_id),
                        name: s.name.clone(),
                        kind: match s.kind {
                            2 => "server",
                            3 => "client",
                            4 => "producer",
                            5 => "consumer",
                            _ => "internal",
                        }
                        .into(),
                        service: service.clone(),
                        cluster: cluster.clone(),
                        start_unix_ms: s.start_time_unix_nano as f64 / 1e6,
                        duration_ms: s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano)
                            as f64
                            / 1e6,
                        error: s
                            .status
                            .as_ref()
                            .is_some_and(|st| st.code == StatusCode::Error as i32),
                        attributes: s.attributes.iter().filter_map(attr_text).collect(),
                    };
                    spans_in.push((tid, span));
                }
            }
        }
        let mut inner = self.inner.lock();
        for (tid, span) in spans_in {
            if !inner.traces.contains_key(&tid) {
                if inner.order.len() >= MAX_TRACES {
                    if let Some(old) = inner.order.pop_front() {
                        inner.traces.remove(&old);
                    }
                }
                inner.order.push_back(tid.clone());
            }
            let spans = inner.traces.entry(tid).or_default();
            if spans.len() < MAX_SPANS_PER_TRACE {
                spans.push(span);
            }
        }
    }

    /// Traces that match, newest first.
    pub fn query(&self, q: &Query) -> Vec<Trace> {
        query_all(std::slice::from_ref(self), q)
    }

    fn ids_newest_first(&self) -> Vec<(String, f64)> {
        let inner = self.inner.lock();
        inner
            .order
            .iter()
            .rev()
            .map(|id| {
                let start = inner
                    .traces
                    .get(id)
                    .map(|s| {
                        s.iter()
                            .map(|x| x.start_unix_ms)
                            .fold(f64::INFINITY, f64::min)
                    })
                    .unwrap_or(0.0);
                (id.clone(), start)
            })
            .collect()
    }

    fn spans_of(&self, id: &str) -> Vec<StoredSpan> {
        self.inner
            .lock()
            .traces
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Traces held.
    pub fn len(&self) -> usize {
        self.inner.lock().order.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Queries several stores (one per cluster's collector) as one: a trace that
/// crossed clusters has spans in each, and comes back whole.
pub fn query_all(stores: &[TraceStore], q: &Query) -> Vec<Trace> {
    let limit = if q.limit == 0 { 50 } else { q.limit };
    let mut ids: Vec<(String, f64)> = Vec::new();
    for s in stores {
        for (id, start) in s.ids_newest_first() {
            if !ids.iter().any(|(i, _)| *i == id) {
                ids.push((id, start));
            }
        }
    }
    ids.sort_by(|a, b| b.1.total_cmp(&a.1));
    if let Some(want) = &q.trace_id {
        let want = want.to_ascii_lowercase();
        ids.retain(|(i, _)| *i == want);
    }
    let mut out = Vec::new();
    for (id, _) in ids {
        let spans: Vec<StoredSpan> = stores.iter().flat_map(|s| s.spans_of(&id)).collect();
        let t = assemble(&id, &spans);
        if let Some(s) = &q.service {
            let hit = t
                .services
                .iter()
                .any(|w| w == s || w.starts_with(&format!("{s}-")))
                || t.spans
                    .iter()
                    .any(|sp| sp.attributes.get("istio.canonical_service") == Some(s));
            if !hit {
                continue;
            }
        }
        let failed = t.error || t.failed_spans > 0;
        if t.duration_ms < q.min_duration_ms || (q.errors_only && !failed) {
            continue;
        }
        out.push(t);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// The earliest span whose parent is not in the trace: the caller's view.
fn root(spans: &[StoredSpan]) -> Option<&StoredSpan> {
    spans
        .iter()
        .filter(|s| !spans.iter().any(|p| p.span_id == s.parent_span_id))
        .min_by(|a, b| a.start_unix_ms.total_cmp(&b.start_unix_ms))
}

fn assemble(id: &str, spans: &[StoredSpan]) -> Trace {
    let mut spans = spans.to_vec();
    spans.sort_by(|a, b| a.start_unix_ms.total_cmp(&b.start_unix_ms));
    let start = spans
        .iter()
        .map(|s| s.start_unix_ms)
        .fold(f64::INFINITY, f64::min);
    let end = spans
        .iter()
        .map(|s| s.start_unix_ms + s.duration_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut services: Vec<String> = spans.iter().map(|s| s.service.clone()).collect();
    services.sort();
    services.dedup();
    let mut clusters: Vec<String> = spans
        .iter()
        .map(|s| s.cluster.clone())
        .filter(|c| !c.is_empty())
        .collect();
    clusters.sort();
    clusters.dedup();
    Trace {
        trace_id: id.to_string(),
        start_unix_ms: if start.is_finite() { start } else { 0.0 },
        duration_ms: if end.is_finite() && start.is_finite() {
            end - start
        } else {
            0.0
        },
        services,
        clusters,
        error: root(&spans).is_some_and(|r| r.error),
        failed_spans: spans.iter().filter(|s| s.error).count() as u32,
        spans,
    }
}

/// The OTLP/gRPC endpoint in front of a store.
#[derive(Debug, Clone)]
pub struct Collector {
    /// Where spans go.
    pub store: TraceStore,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.store.add(request.get_ref());
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[cfg(test)]
mod root_tests {
    use super::*;

    fn span(id: &str, parent: &str, start: f64, name: &str) -> StoredSpan {
        StoredSpan {
            span_id: id.into(),
            parent_span_id: parent.into(),
            name: name.into(),
            kind: "server".into(),
            service: "billing-v1".into(),
            cluster: "us".into(),
            start_unix_ms: start,
            duration_ms: 1.0,
            error: false,
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn a_trace_without_its_first_span_does_not_name_a_child_as_root() {
        let whole = assemble(
            "t",
            &[span("a", "", 1.0, "GET /"), span("b", "a", 2.0, "GET /pay")],
        );
        assert_eq!(whole.root_label(), "billing-v1 GET /");
        // The root has not arrived; an earlier-starting child of it has.
        let partial = assemble(
            "t",
            &[
                span("c", "a", 0.5, "POST /charge"),
                span("b", "a", 2.0, "GET /pay"),
            ],
        );
        assert_eq!(
            partial.root_label(),
            "(root missing) billing-v1 POST /charge"
        );
    }
}
