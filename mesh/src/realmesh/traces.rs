//! Traces from a real mesh: receivers its proxies send spans to, and a
//! reader of an existing Jaeger.
//!
//! Every way in ends in the same [`TraceStore`] the meshcon mesh's own
//! collector fills, as an OTLP export: Zipkin and Jaeger spans are turned
//! into OTLP spans first ([`zipkin`], [`jaeger`]), so there is one filing
//! path and one idea of a trace's root, services and failure.
//!
//! - OTLP/gRPC ([`serve_otlp`]): the mesh's [`Collector`] on a listener;
//!   Istio's `opentelemetry` extension provider sends here.
//! - Zipkin v2 JSON ([`serve_zipkin`]): `POST /api/v2/spans`, what Envoy's
//!   Zipkin tracer (Istio's `zipkin` provider) sends.
//! - Jaeger's query API ([`jaeger::traces`]): `/api/services`,
//!   `/api/traces?service=...`.

pub mod jaeger;
pub mod zipkin;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http::ListenerLimits;
use crate::telemetry::collector::{Collector, TraceStore};

pub use zipkin::serve_zipkin;

/// Where `--otlp-listen` listens by default: OTLP/gRPC's port, loopback only.
pub const DEFAULT_OTLP_LISTEN: &str = "127.0.0.1:4317";
/// Where `--zipkin-listen` listens by default: Zipkin's port, loopback only.
pub const DEFAULT_ZIPKIN_LISTEN: &str = "127.0.0.1:9411";

/// Binds a receiver's address (`HOST:PORT`), saying what to do when it
/// is taken (another collector, or a second console, already there).
pub async fn listen(addr: &str) -> Result<TcpListener, crate::realmesh::RealMeshError> {
    use crate::realmesh::RealMeshError;
    let sock: std::net::SocketAddr = addr.parse().map_err(|_| {
        RealMeshError::Address(format!(
            "{addr:?} is not an address to listen on (e.g. {DEFAULT_OTLP_LISTEN})"
        ))
    })?;
    TcpListener::bind(sock).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "; another collector is listening there: stop it or choose another address"
        } else {
            ""
        };
        RealMeshError::Address(format!("cannot listen on {addr}: {e}{hint}"))
    })
}

/// Serves OTLP/gRPC trace export on `listener` into `store` until `cancel`
/// fires, with the control plane's connection limits.
pub async fn serve_otlp(
    listener: TcpListener,
    store: TraceStore,
    cancel: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let limits = ListenerLimits::CONTROL_PLANE;
    crate::http::grpc_server(limits)
        .add_service(TraceServiceServer::new(Collector { store }))
        .serve_with_incoming_shutdown(
            crate::http::grpc_incoming(listener, "otlp", limits),
            cancel.cancelled_owned(),
        )
        .await
}

/// One span in the shape every receiver converts to before filing.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpanIn {
    /// 16 bytes.
    pub trace_id: Vec<u8>,
    /// 8 bytes.
    pub span_id: Vec<u8>,
    /// 8 bytes, empty for a root.
    pub parent_span_id: Vec<u8>,
    pub name: String,
    /// OTLP's span kind number (2 server, 3 client, 4 producer, 5 consumer, 1 internal).
    pub kind: i32,
    /// The sending workload or service.
    pub service: String,
    pub start_unix_us: u64,
    pub duration_us: u64,
    pub error: bool,
    pub attributes: Vec<(String, String)>,
}

/// OTLP's number for a span kind written as Zipkin and Jaeger write it.
pub(crate) fn kind_number(kind: &str) -> i32 {
    match kind.to_ascii_lowercase().as_str() {
        "server" => 2,
        "client" => 3,
        "producer" => 4,
        "consumer" => 5,
        _ => 1,
    }
}

/// Hex span or trace id to bytes, left-padded with zeros to `len` bytes
/// (Zipkin and Jaeger may send 64-bit trace ids).
pub(crate) fn id_bytes(hex: &str, len: usize) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if hex.is_empty() || hex.len() > len * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{hex:0>width$}", width = len * 2);
    (0..len)
        .map(|i| u8::from_str_radix(&padded[i * 2..i * 2 + 2], 16).ok())
        .collect()
}

fn text_value(v: String) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v)),
    })
}

/// The OTLP export carrying `spans`: one resource per span, naming its service.
pub(crate) fn to_export(spans: Vec<SpanIn>) -> ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Status};
    let resource_spans = spans
        .into_iter()
        .map(|s| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: text_value(s.service),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: s.trace_id,
                    span_id: s.span_id,
                    parent_span_id: s.parent_span_id,
                    name: s.name,
                    kind: s.kind,
                    start_time_unix_nano: s.start_unix_us.saturating_mul(1000),
                    end_time_unix_nano: s
                        .start_unix_us
                        .saturating_add(s.duration_us)
                        .saturating_mul(1000),
                    attributes: s
                        .attributes
                        .into_iter()
                        .map(|(key, v)| KeyValue {
                            key,
                            value: text_value(v),
                            ..Default::default()
                        })
                        .collect(),
                    status: s.error.then(|| Status {
                        code: StatusCode::Error as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// Whether a tag set says the span failed: Zipkin's and OpenTracing's
/// `error` tag (any value but `false`), or OTel's status written as a tag.
pub(crate) fn failed_by_tags<'a>(mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    tags.any(|(k, v)| {
        (k == "error" && !v.eq_ignore_ascii_case("false"))
            || (k == "otel.status_code" && v.eq_ignore_ascii_case("error"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_left_padded_and_bad_ones_refused() {
        assert_eq!(id_bytes("0a", 8), Some(vec![0, 0, 0, 0, 0, 0, 0, 0x0a]));
        assert_eq!(id_bytes("463ac35c9f6413ad", 16).map(|v| v.len()), Some(16));
        assert_eq!(id_bytes("xyz", 8), None);
        assert_eq!(id_bytes(&"a".repeat(17), 8), None);
    }
}
