//! A Zipkin v2 receiver: `POST /api/v2/spans` with a JSON array of spans,
//! what Envoy's Zipkin tracer and Zipkin's own libraries send.
//!
//! Bodies are bounded ([`MAX_BODY`]); a batch that is not Zipkin v2 JSON is
//! refused whole with 400 and a sentence, so a misconfigured tracer shows
//! up in its own logs instead of as silently missing traces. Envoy's
//! default B3 "shared span" model gives a server span the id of the client
//! span that called it; such a server span (when it has a parent, as every
//! sidecar's does) is filed under an id of its own, as the client span's
//! child, so the waterfall keeps both hops.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use hyper::body::Incoming;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{failed_by_tags, id_bytes, kind_number, to_export, SpanIn};
use crate::http::{self as mhttp, Body, ListenerLimits, Refusal};
use crate::realmesh::RealMeshError;
use crate::telemetry::collector::TraceStore;

/// The largest batch accepted, bytes.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// One span of Zipkin's v2 model (only the fields the console reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZipkinSpan {
    trace_id: String,
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    /// Microseconds since the epoch.
    #[serde(default)]
    timestamp: Option<u64>,
    /// Microseconds.
    #[serde(default)]
    duration: Option<u64>,
    #[serde(default)]
    local_endpoint: Option<Endpoint>,
    #[serde(default)]
    remote_endpoint: Option<Endpoint>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    shared: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    #[serde(default)]
    service_name: Option<String>,
}

/// Reads a Zipkin v2 JSON batch into spans ready to file.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<SpanIn>, RealMeshError> {
    let bad = |detail: String| RealMeshError::Malformed {
        what: "Zipkin spans".into(),
        detail,
    };
    let spans: Vec<ZipkinSpan> = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "{e}; expected Zipkin v2 JSON: an array of spans with traceId and id"
        ))
    })?;
    spans
        .into_iter()
        .map(|z| {
            let trace_id = id_bytes(&z.trace_id, 16).ok_or_else(|| {
                bad(format!(
                    "traceId {:?} is not 16 or 32 hex digits",
                    z.trace_id
                ))
            })?;
            let mut span_id = id_bytes(&z.id, 8)
                .ok_or_else(|| bad(format!("id {:?} is not 16 hex digits", z.id)))?;
            let mut parent_span_id = match z.parent_id.as_deref() {
                Some(p) if !p.is_empty() => id_bytes(p, 8)
                    .ok_or_else(|| bad(format!("parentId {p:?} is not 16 hex digits")))?,
                _ => Vec::new(),
            };
            let kind = z.kind.as_deref().unwrap_or_default();
            // Only a shared span with a parent joined a traced caller whose
            // client span carries the same id; a shared root (a client
            // library's first span) has no twin to tell apart from.
            if z.shared && kind.eq_ignore_ascii_case("server") && !parent_span_id.is_empty() {
                parent_span_id = span_id.clone();
                // A distinct id derived from the shared one: stable, so a
                // span reported twice is still one span.
                for b in span_id.iter_mut() {
                    *b ^= 0x5a;
                }
            }
            let service = z
                .local_endpoint
                .as_ref()
                .and_then(|e| e.service_name.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".into());
            let mut attributes: Vec<(String, String)> =
                z.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            if let Some(peer) = z.remote_endpoint.and_then(|e| e.service_name) {
                attributes.push(("peer.service".into(), peer));
            }
            Ok(SpanIn {
                trace_id,
                span_id,
                parent_span_id,
                name: z.name.unwrap_or_default(),
                kind: kind_number(kind),
                service,
                start_unix_us: z.timestamp.unwrap_or(0),
                duration_us: z.duration.unwrap_or(0),
                error: failed_by_tags(z.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                attributes,
            })
        })
        .collect()
}

async fn handle(req: http::Request<Incoming>, store: TraceStore) -> http::Response<Body> {
    if req.uri().path() != "/api/v2/spans" {
        return mhttp::text_response(
            404,
            "meshcon: this is a Zipkin v2 receiver; POST spans to /api/v2/spans\n",
        );
    }
    if req.method() != http::Method::POST {
        return mhttp::text_response(405, "meshcon: POST Zipkin v2 JSON spans here\n");
    }
    let ctype = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if ctype.contains("protobuf") || ctype.contains("thrift") {
        return mhttp::text_response(
            415,
            format!("meshcon: {ctype} is not read here; send Zipkin v2 JSON (application/json)\n"),
        );
    }
    let body = match mhttp::collect_limited(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return mhttp::text_response(
                413,
                format!("meshcon: the span batch could not be read ({e}); at most {MAX_BODY} bytes are accepted\n"),
            )
        }
    };
    match parse(&body) {
        Ok(spans) => {
            store.add(&to_export(spans));
            mhttp::text_response(202, "")
        }
        Err(e) => mhttp::text_response(400, format!("meshcon: {e}\n")),
    }
}

/// Serves the Zipkin v2 receiver on `listener` into `store` until `cancel`
/// fires, with the admin listeners' connection limits.
pub async fn serve_zipkin(listener: TcpListener, store: TraceStore, cancel: CancellationToken) {
    let limits = ListenerLimits::ADMIN;
    let conn_cancel = cancel.clone();
    mhttp::accept_loop(
        listener,
        "zipkin",
        limits,
        Refusal::Http503,
        cancel,
        move |stream, _remote| {
            let store = store.clone();
            let cancel = conn_cancel.clone();
            async move {
                let svc = move |req| {
                    let store = store.clone();
                    async move { Ok::<_, Infallible>(handle(req, store).await) }
                };
                mhttp::serve_connection_with(stream, svc, cancel, Duration::from_secs(2), limits)
                    .await;
            }
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_shared_server_spans_become_children_of_their_client_span() {
        let body = br#"[
          {"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","parentId":"5af7183fb1d4cf5f","name":"get /","kind":"CLIENT",
           "timestamp":1700000000000000,"duration":2000,"localEndpoint":{"serviceName":"frontend"},
           "remoteEndpoint":{"serviceName":"backend"}},
          {"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","parentId":"5af7183fb1d4cf5f","name":"get /","kind":"SERVER","shared":true,
           "timestamp":1700000000000500,"duration":1000,"localEndpoint":{"serviceName":"backend"},
           "tags":{"http.status_code":"503","error":"true"}}
        ]"#;
        let spans = parse(body).expect("parses");
        assert_eq!(spans[0].trace_id.len(), 16);
        assert_eq!(spans[1].parent_span_id, spans[0].span_id);
        assert_ne!(spans[1].span_id, spans[0].span_id);
        assert!(spans[1].error && !spans[0].error);
        assert_eq!(spans[1].service, "backend");
        assert_eq!(spans[1].kind, 2);
    }

    #[test]
    fn a_batch_that_is_not_zipkin_is_refused_with_a_reason() {
        let e = parse(b"{\"spans\":[]}").expect_err("an object");
        assert!(e.to_string().contains("Zipkin v2 JSON"), "{e}");
        let e = parse(br#"[{"traceId":"zz","id":"1"}]"#).expect_err("bad id");
        assert!(e.to_string().contains("traceId"), "{e}");
    }
}
