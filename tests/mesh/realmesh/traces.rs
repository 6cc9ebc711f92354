//! Spans from real clients reach the store the Traces view reads, with
//! their parent/child structure: Python's OpenTelemetry SDK over OTLP/gRPC,
//! `py_zipkin` over Zipkin v2 JSON; and traces read from a Jaeger query
//! API served on loopback. The Python clients are outside tools: without
//! them the test says what to install and is skipped (CI installs them,
//! see .ci/run).

use std::process::Stdio;
use std::time::Duration;

use mesh::api::realmesh::{self, TraceFilter};
use mesh::api::{Trace, TraceStore};
use tokio_util::sync::CancellationToken;

use super::{serve, Answer};
use crate::support::eventually;
use crate::support::python::{python_with, run_python, OTEL_CLIENT};

fn find(store: &TraceStore, trace_id: &str) -> Option<Trace> {
    store
        .query(&TraceFilter {
            trace_id: Some(trace_id.to_string()),
            limit: 1,
            ..Default::default()
        })
        .into_iter()
        .next()
}

/// The trace's two spans: (parent, child), the child pointing at the parent.
fn parent_and_child(t: &Trace) -> (&mesh::api::StoredSpan, &mesh::api::StoredSpan) {
    assert_eq!(t.spans.len(), 2, "{t:#?}");
    let child = t
        .spans
        .iter()
        .find(|s| !s.parent_span_id.is_empty())
        .expect("a child span");
    let parent = t
        .spans
        .iter()
        .find(|s| s.span_id == child.parent_span_id)
        .expect("the child's parent is in the trace");
    assert!(parent.parent_span_id.is_empty(), "the parent is the root");
    (parent, child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_sdk_spans_reach_the_store_over_otlp() {
    let Some(python) = python_with(
        "opentelemetry.exporter.otlp.proto.grpc",
        "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc",
    ) else {
        return;
    };
    let listener = realmesh::listen("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // The same address twice: the second says why it cannot.
    let taken = realmesh::listen(&addr.to_string())
        .await
        .expect_err("taken");
    assert!(taken.to_string().contains("another collector"), "{taken}");
    let store = TraceStore::default();
    let cancel = CancellationToken::new();
    let server = tokio::spawn(realmesh::serve_otlp(
        listener,
        store.clone(),
        cancel.clone(),
    ));

    let trace_id = run_python(&python, OTEL_CLIENT, &format!("http://{addr}")).await;
    assert_eq!(trace_id.len(), 32, "{trace_id}");
    // SimpleSpanProcessor exports as each span ends; poll until both are filed.
    eventually(Duration::from_secs(60), "both spans are filed", || {
        let t = find(&store, &trace_id);
        async move { t.is_some_and(|t| t.spans.len() == 2) }
    })
    .await;
    let t = find(&store, &trace_id).expect("trace");
    let (parent, child) = parent_and_child(&t);
    assert_eq!(
        (parent.name.as_str(), parent.kind.as_str()),
        ("GET /checkout", "server")
    );
    assert_eq!(
        (child.name.as_str(), child.kind.as_str()),
        ("POST /charge", "client")
    );
    assert_eq!(child.service, "frontend");
    assert!(child.error && !parent.error);
    assert_eq!(
        child.attributes.get("http.status_code").map(String::as_str),
        Some("503")
    );
    assert_eq!(t.status(), "recovered", "a failed child under a good root");

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the receiver stops on cancel")
        .expect("join")
        .expect("served");
}

const ZIPKIN_CLIENT: &str = r#"
import sys, urllib.request
from py_zipkin import Encoding, Kind
from py_zipkin.zipkin import zipkin_span
from py_zipkin.transport import BaseTransportHandler

class Http(BaseTransportHandler):
    def get_max_payload_bytes(self):
        return None
    def send(self, payload):
        # The V2 JSON encoder hands over text.
        if isinstance(payload, str):
            payload = payload.encode()
        req = urllib.request.Request(sys.argv[1], data=payload, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            if r.status != 202:
                raise SystemExit("receiver answered %d" % r.status)

with zipkin_span(service_name="productpage", span_name="GET /productpage", transport_handler=Http(),
                 sample_rate=100.0, encoding=Encoding.V2_JSON, use_128bit_trace_id=True,
                 kind=Kind.SERVER) as root:
    with zipkin_span(service_name="productpage", span_name="GET reviews", kind=Kind.CLIENT,
                     binary_annotations={"http.status_code": "500", "error": "true"}):
        pass
    print(root.zipkin_attrs.trace_id)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_zipkin_spans_reach_the_store_over_zipkin_v2() {
    let Some(python) = python_with("py_zipkin", "apt-get install python3-py-zipkin") else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let store = TraceStore::default();
    let cancel = CancellationToken::new();
    tokio::spawn(realmesh::serve_zipkin(
        listener,
        store.clone(),
        cancel.clone(),
    ));

    let trace_id = run_python(
        &python,
        ZIPKIN_CLIENT,
        &format!("http://{addr}/api/v2/spans"),
    )
    .await;
    assert_eq!(trace_id.len(), 32, "{trace_id}");
    // The client's send returned 202 after the spans were filed.
    let t = find(&store, &trace_id).expect("the trace is stored");
    let (parent, child) = parent_and_child(&t);
    assert_eq!(
        (parent.name.as_str(), parent.kind.as_str()),
        ("GET /productpage", "server")
    );
    assert_eq!(
        (child.name.as_str(), child.kind.as_str()),
        ("GET reviews", "client")
    );
    assert_eq!(parent.service, "productpage");
    assert!(child.error && !parent.error);
    assert_eq!(
        child.attributes.get("http.status_code").map(String::as_str),
        Some("500")
    );
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zipkin_receiver_refuses_what_is_not_zipkin_json() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let store = TraceStore::default();
    tokio::spawn(realmesh::serve_zipkin(
        listener,
        store.clone(),
        CancellationToken::new(),
    ));
    let post = |body: Vec<u8>, ctype: &'static str| {
        let addr = addr.clone();
        async move {
            let out = tokio::process::Command::new("curl")
                .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "-H"])
                .arg(format!("content-type: {ctype}"))
                .args(["--data-binary", "@-"])
                .arg(format!("http://{addr}/api/v2/spans"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn();
            let mut child = out.expect("curl (see .ci/run)");
            use tokio::io::AsyncWriteExt;
            if let Some(mut i) = child.stdin.take() {
                let _ = i.write_all(&body).await;
            }
            let out = child.wait_with_output().await.expect("curl output");
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    };
    let garbage = post(b"not json at all".to_vec(), "application/json").await;
    assert!(
        garbage.ends_with("400") && garbage.contains("Zipkin v2 JSON"),
        "{garbage}"
    );
    let proto = post(vec![0x0a, 0x01], "application/x-protobuf").await;
    assert!(proto.ends_with("415"), "{proto}");
    let huge = post(vec![b'['; 9 * 1024 * 1024], "application/json").await;
    assert!(huge.ends_with("413"), "{huge}");
    assert!(store.is_empty());
}

/// What Jaeger's query API answers, in its shape: two services, one trace
/// with a server span and its client child, ids 64-bit as Jaeger writes
/// them for B3 senders.
const JAEGER_TRACES: &str = r#"{"data":[{"traceID":"3f2a8c1b9d4e5f60","spans":[
  {"traceID":"3f2a8c1b9d4e5f60","spanID":"3f2a8c1b9d4e5f60","flags":1,"operationName":"productpage.default.svc.cluster.local:9080/productpage",
   "references":[],"startTime":1700000000000000,"duration":48000,
   "tags":[{"key":"span.kind","type":"string","value":"server"},{"key":"http.status_code","type":"string","value":"200"},
           {"key":"istio.canonical_service","type":"string","value":"productpage"}],
   "logs":[],"processID":"p1","warnings":null},
  {"traceID":"3f2a8c1b9d4e5f60","spanID":"a1b2c3d4e5f60718","flags":1,"operationName":"reviews.default.svc.cluster.local:9080/*",
   "references":[{"refType":"CHILD_OF","traceID":"3f2a8c1b9d4e5f60","spanID":"3f2a8c1b9d4e5f60"}],
   "startTime":1700000000005000,"duration":30000,
   "tags":[{"key":"span.kind","type":"string","value":"client"},{"key":"error","type":"bool","value":true},
           {"key":"http.status_code","type":"string","value":"503"},{"key":"response_flags","type":"string","value":"UF,URX"}],
   "logs":[],"processID":"p2","warnings":null}],
 "processes":{"p1":{"serviceName":"productpage.default","tags":[{"key":"ip","type":"string","value":"10.244.0.194"}]},
              "p2":{"serviceName":"productpage.default","tags":[]}},
 "warnings":null}],"total":0,"limit":0,"offset":0,"errors":null}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_read_from_a_jaeger_query_api_keep_their_structure() {
    let (addr, seen) = serve(vec![
        (
            "/jaeger/api/services",
            Answer::json(r#"{"data":["productpage.default","reviews.default"],"total":2,"limit":0,"offset":0,"errors":null}"#),
        ),
        ("/jaeger/api/traces", Answer::json(JAEGER_TRACES)),
    ])
    .await;
    let base = format!("http://{addr}/jaeger");
    let services = realmesh::jaeger::services(&base, Duration::from_secs(30))
        .await
        .expect("services");
    assert_eq!(services, ["productpage.default", "reviews.default"]);
    let traces =
        realmesh::jaeger::traces(&base, "productpage.default", 20, Duration::from_secs(30))
            .await
            .expect("traces");
    assert!(
        seen.lock()
            .iter()
            .any(|p| p == "/jaeger/api/traces?service=productpage.default&limit=20"),
        "{:?}",
        seen.lock()
    );
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert_eq!(t.trace_id, "00000000000000003f2a8c1b9d4e5f60");
    let (parent, child) = parent_and_child(t);
    assert_eq!(parent.kind, "server");
    assert_eq!(child.kind, "client");
    assert!(child.error && !t.error);
    assert_eq!(child.attributes["response_flags"], "UF,URX");
    assert_eq!(t.services, ["productpage.default"]);
    assert!((t.duration_ms - 48.0).abs() < 1e-6, "{}", t.duration_ms);

    // Jaeger's own error answer, and an address that is not Jaeger.
    let (bad, _) = serve(vec![(
        "/api/traces",
        Answer {
            status: 200,
            content_type: "application/json",
            body: bytes::Bytes::from_static(
                br#"{"data":null,"errors":[{"code":400,"msg":"parameter 'service' is required"}]}"#,
            ),
        },
    )])
    .await;
    let e = realmesh::jaeger::traces(&bad.to_string(), "", 5, Duration::from_secs(30))
        .await
        .expect_err("jaeger error");
    assert!(
        e.to_string().contains("parameter 'service' is required"),
        "{e}"
    );
    let e = realmesh::jaeger::services(&bad.to_string(), Duration::from_secs(30))
        .await
        .expect_err("404");
    assert!(e.to_string().contains("404"), "{e}");
}
