//! Telemetry: traces across every hop and both clusters (one span per retry
//! attempt), percentiles that match a known latency (exact and from
//! buckets), agreement with a real Prometheus server, and OTLP export to an
//! outside collector.

use std::time::{Duration, Instant};

use mesh::api::Trace;
use mesh::api::TraceQuery;

use crate::support::{self, apply, chaos, outbound_of, tool};

async fn trace(m: &support::TestMesh, id: &str, min_spans: usize) -> Trace {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = m
            .console()
            .await
            .traces(TraceQuery {
                trace_id: id.to_string(),
                ..Default::default()
            })
            .await
            .expect("traces")
            .into_inner()
            .text;
        let traces: Vec<Trace> = serde_json::from_str(&text).expect("JSON");
        if let Some(t) = traces
            .into_iter()
            .next()
            .filter(|t| t.spans.len() >= min_spans)
        {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "trace {id} did not reach the collectors with {min_spans} spans"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_traceparent_gives_one_trace_across_both_clusters() {
    let m = support::demo().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let client = m.mesh.ingress_client().expect("client");
    let a = client
        .get(
            "/checkout",
            &[("traceparent", &format!("00-{trace_id}-{parent}-01"))],
        )
        .await
        .expect("request");
    assert_eq!(a.status, 200);
    // ingress (request, attempt), frontend (server + 3×(request, attempt)), auth, user (server,
    // request, attempt), catalog, billing: 15 spans.
    let t = trace(&m, trace_id, 15).await;
    assert_eq!(t.trace_id, trace_id);
    assert_eq!(t.clusters, ["eu", "us"]);
    let ids: std::collections::BTreeSet<&str> =
        t.spans.iter().map(|s| s.span_id.as_str()).collect();
    for s in &t.spans {
        assert!(
            s.parent_span_id == parent || ids.contains(s.parent_span_id.as_str()),
            "span {} ({}) has a dangling parent {}",
            s.name,
            s.service,
            s.parent_span_id
        );
    }
    // Walk up from billing's server span: billing ← user ← frontend ← ingress ← the caller.
    let by_id: std::collections::BTreeMap<&str, &mesh::api::StoredSpan> =
        t.spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let billing = t
        .spans
        .iter()
        .find(|s| s.kind == "server" && s.service.starts_with("billing-"))
        .expect("billing server span");
    assert_eq!(billing.cluster, "us");
    let mut servers = vec![billing.service.clone()];
    let mut cur = billing;
    while let Some(p) = by_id.get(cur.parent_span_id.as_str()) {
        if p.kind == "server"
            || p.service == "istio-ingressgateway"
                && servers.last().map(String::as_str) != Some("istio-ingressgateway")
        {
            servers.push(p.service.clone());
        }
        cur = p;
    }
    assert_eq!(
        cur.parent_span_id, parent,
        "the chain ends at the caller's span"
    );
    servers.dedup();
    assert_eq!(
        servers.first().map(String::as_str),
        Some(billing.service.as_str())
    );
    assert!(
        servers.contains(&"user-v1".to_string()) && servers.contains(&"frontend-v1".to_string()),
        "{servers:?}"
    );
    assert_eq!(
        servers.last().map(String::as_str),
        Some("istio-ingressgateway")
    );
    // The CLI prints the same trace.
    let out = tool(
        support::meshcon_bin().to_str().expect("path"),
        &[
            "get",
            "traces",
            "--trace-id",
            trace_id,
            "-o",
            "json",
            "--mesh",
            &m.mesh.api_addr().to_string(),
        ],
    );
    let printed: Vec<Trace> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(printed[0].trace_id, trace_id);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_shows_each_attempt_as_a_span() {
    let m = support::demo().await;
    support::apply_rule(&m, "billing-subsets.yaml").await;
    apply(
        &m,
        "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: billing, namespace: default}
spec:
  hosts: [billing]
  http:
  - route:
    - destination: {host: billing, subset: v1}
    retries: {attempts: 3, retryOn: 5xx}
",
    )
    .await;
    chaos(&m, "fail", "billing-v1-0", 1.0, 0).await;
    let user = outbound_of(&m, "user-v1-0").await;
    // Find a request whose first try hit the failing instance.
    let mut retried = None;
    for i in 0..20 {
        let id = format!("{:032x}", 0xabc0000 + i);
        let r = support::request(
            &user,
            "billing",
            "/",
            &[("traceparent", &format!("00-{id}-00f067aa0ba902b7-01"))],
        )
        .await;
        assert_eq!(r.status, 200);
        let t = trace(&m, &id, 3).await;
        if t.spans
            .iter()
            .filter(|s| s.name.contains("attempt"))
            .count()
            >= 2
        {
            retried = Some(t);
            break;
        }
    }
    let t = retried.expect("a retried request within 20");
    let attempts: Vec<&mesh::api::StoredSpan> = t
        .spans
        .iter()
        .filter(|s| s.name.contains("attempt"))
        .collect();
    let request = t
        .spans
        .iter()
        .find(|s| s.kind == "client" && !s.name.contains("attempt"))
        .expect("request span");
    assert!(
        attempts.iter().all(|a| a.parent_span_id == request.span_id),
        "attempts hang under the request span"
    );
    // The caller got 200: the trace recovered, it did not fail.
    assert!(!t.error && t.failed_spans >= 1, "{:?}", t.spans);
    assert_eq!(t.status(), "recovered");
    let first = attempts
        .iter()
        .find(|a| a.attributes.get("attempt").map(String::as_str) == Some("1"))
        .expect("attempt 1");
    assert_eq!(
        first.attributes.get("http.status_code").map(String::as_str),
        Some("503")
    );
    assert_eq!(
        first
            .attributes
            .get("upstream_instance")
            .map(String::as_str),
        Some("billing-v1-0")
    );
    let second = attempts
        .iter()
        .find(|a| a.attributes.get("attempt").map(String::as_str) == Some("2"))
        .expect("attempt 2");
    assert_eq!(
        second
            .attributes
            .get("http.status_code")
            .map(String::as_str),
        Some("200")
    );
    assert!(second
        .attributes
        .get("peer.spiffe_id")
        .is_some_and(|p| p.starts_with("spiffe://us.mesh/")));
    assert_eq!(
        request.attributes.get("attempts").map(String::as_str),
        Some("2")
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_traceparent_restarts_the_trace_and_never_fails_the_request() {
    let m = support::demo().await;
    let client = m.mesh.ingress_client().expect("client");
    for bad in [
        "00-zzzz",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ] {
        let a = client
            .get("/", &[("traceparent", bad)])
            .await
            .expect("request");
        assert_eq!(a.status, 200, "{bad}");
    }
    m.stop().await;
}

pub(crate) fn slow_topology() -> mesh::api::Topology {
    support::topology(
        "
mesh: slow
clusters:
- name: one
  trustDomain: one.mesh
  ingress: {hosts: [slow.example.com], service: front}
services:
- name: front
  cluster: one
  versions: [{name: v1, latency: 1ms}]
  calls: [slow]
- name: slow
  cluster: one
  versions: [{name: v1, latency: 50ms, replicas: 2}]
load: {rps: 20, paths: [/]}
",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_50ms_service_shows_p99_of_50ms_exact_and_bucketed() {
    // Other meshes sharing two cores add milliseconds of scheduling delay to
    // a 50 ms answer; this measures the mesh, not the neighbours.
    let _alone = support::alone().await;
    let m = support::start(slow_topology(), |o| o.rps = Some(20.0)).await;
    let app = m
        .workload("slow-v1-0")
        .await
        .addresses
        .and_then(|a| a.app)
        .expect("slow's app address");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Timers on this kind of machine fire 1-4 ms late, so a "fixed 50 ms"
    // app really answers in 51-54 ms. The truth is measured beside the mesh,
    // straight at the app's port, over the same seconds; meshcon's exact P99
    // must be within 10% of it, and the bucketed P99 within 10% of the exact.
    // A window that catches a burst of delay is read again (four at most).
    let mut readings = Vec::new();
    for _ in 0..4 {
        let direct = tokio::spawn({
            let app = app.clone();
            async move {
                // 40 requests a second for the 5 s window, open loop.
                let calls = (0..200u64).map(|k| {
                    let app = app.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(k * 25)).await;
                        let t0 = Instant::now();
                        let (status, _) = support::http_get(&app, "/").await;
                        (status == 200).then(|| t0.elapsed().as_secs_f64() * 1000.0)
                    }
                });
                let mut took: Vec<f64> = futures::future::join_all(calls)
                    .await
                    .into_iter()
                    .flatten()
                    .collect();
                took.sort_by(f64::total_cmp);
                took.get(took.len() * 99 / 100).copied().unwrap_or(0.0)
            }
        });
        let out = tool(
            support::meshcon_bin().to_str().expect("path"),
            &[
                "get",
                "services",
                "-o",
                "json",
                "--window",
                "5",
                "--mesh",
                &m.mesh.api_addr().to_string(),
            ],
        );
        let truth = direct.await.expect("direct measurement");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
        let slow = rows
            .iter()
            .find(|r| r["service"] == "slow")
            .expect("slow row")
            .clone();
        for field in [
            "cluster",
            "namespace",
            "service",
            "version",
            "rps",
            "success_rate",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "mtls_ratio",
        ] {
            assert!(!slow[field].is_null(), "missing {field}: {slow}");
        }
        let rps = slow["rps"].as_f64().expect("rps");
        assert!((14.0..=26.0).contains(&rps), "rps {rps}");
        assert_eq!(slow["mtls_ratio"].as_f64(), Some(1.0));
        let p99 = slow["p99_ms"].as_f64().expect("p99");
        let exact = slow["exact_p99_ms"].as_f64().expect("exact p99");
        readings.push((truth, exact, p99));
        // A window where even the app itself was far from 50 ms saw a
        // machine too busy to judge by; it is read again.
        let calm = (50.0..=60.0).contains(&truth);
        if calm && (exact - truth).abs() <= truth * 0.1 && (p99 - exact).abs() <= exact * 0.1 {
            m.stop().await;
            return;
        }
    }
    panic!("(app's own P99, exact, bucketed) not within 10% in any calm window: {readings:?}");
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn prom_query(addr: &str, q: &str) -> Option<f64> {
    let text = mesh::api::util::get_text(
        addr,
        &format!("/api/v1/query?query={}", encode(q)),
        Duration::from_secs(5),
    )
    .await
    .ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_meshcon_agree_on_rate_and_p99() {
    let m = support::start(slow_topology(), |o| o.rps = Some(20.0)).await;
    let dir = tempfile::TempDir::new().expect("dir");
    let cfg = dir.path().join("prometheus.yml");
    let out = tool(
        support::meshcon_bin().to_str().expect("path"),
        &[
            "get",
            "scrape-config",
            "--window",
            "1",
            "--mesh",
            &m.mesh.api_addr().to_string(),
        ],
    );
    std::fs::write(&cfg, &out.stdout).expect("write config");
    let check = tool(
        "promtool",
        &["check", "config", cfg.to_str().expect("path")],
    );
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let prom = support::Prometheus::start(&String::from_utf8_lossy(&out.stdout)).await;
    let listen = prom.listen.clone();
    // Scrape alongside Prometheus, once a second, for 15 s.
    let (signals, now) = support::scrape_alongside(&m, 16).await;
    let ours = signals.services(10.0, now);
    let slow = ours.iter().find(|s| s.service == "slow").expect("slow");
    let rate = prom_query(&listen, "sum(rate(istio_requests_total{reporter=\"destination\",destination_service_name=\"slow\"}[10s]))")
        .await
        .expect("prometheus rate");
    let p99 = prom_query(
        &listen,
        "histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service_name=\"slow\"}[10s])))",
    )
    .await
    .expect("prometheus p99");
    let within = |a: f64, b: f64| (a - b).abs() <= 0.1 * b.abs().max(1e-9);
    assert!(
        within(slow.rps, rate),
        "rate: meshcon {} vs Prometheus {rate}",
        slow.rps
    );
    assert!(
        within(slow.p99_ms, p99),
        "P99: meshcon {} vs Prometheus {p99}",
        slow.p99_ms
    );
    // Dashboards written for Istio query its default bucket bounds by name.
    for le in [
        "0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000",
        "30000", "60000", "300000", "600000", "1800000", "3600000",
    ] {
        let n = prom_query(
            &listen,
            &format!("count(istio_request_duration_milliseconds_bucket{{le=\"{le}\"}})"),
        )
        .await;
        assert!(
            n.is_some_and(|n| n >= 1.0),
            "no series with le=\"{le}\" in Prometheus"
        );
    }
    let under_100 = prom_query(
        &listen,
        "sum(istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service_name=\"slow\",le=\"100\"})",
    )
    .await
    .expect("le=100 of slow");
    assert!(
        under_100 > 0.0,
        "the ~50 ms service counts under le=\"100\""
    );
    prom.stop().await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_also_exported_to_an_outside_otlp_collector() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
    let store = mesh::api::TraceStore::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let svc = TraceServiceServer::new(mesh::api::Collector {
        store: store.clone(),
    });
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let m = support::start(mesh::api::Topology::demo(), |o| o.otlp = vec![addr]).await;
    let client = m.mesh.ingress_client().expect("client");
    client.get("/", &[]).await.expect("request");
    support::eventually(
        Duration::from_secs(10),
        "spans reach the outside collector",
        || {
            let store = store.clone();
            async move {
                store
                    .query(&Default::default())
                    .iter()
                    .any(|t| t.spans.len() >= 10)
            }
        },
    )
    .await;
    m.stop().await;
    server.abort();
}

/// An OTLP receiver that keeps spans as they arrived, attribute types and
/// all (meshcon's own collector turns values into text).
#[derive(Clone, Default)]
struct RawReceiver(std::sync::Arc<std::sync::Mutex<Vec<RawSpan>>>);

/// A span with its resource's attributes as text.
#[derive(Clone)]
struct RawSpan {
    resource: std::collections::BTreeMap<String, String>,
    span: opentelemetry_proto::tonic::trace::v1::Span,
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for RawReceiver
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        let mut all = self.0.lock().expect("lock");
        for rs in request.into_inner().resource_spans {
            let resource: std::collections::BTreeMap<String, String> = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .filter_map(|a| match a.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(v) => Some((a.key.clone(), v.clone())),
                    _ => None,
                })
                .collect();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                all.push(RawSpan {
                    resource: resource.clone(),
                    span,
                });
            }
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_carry_the_http_semantic_conventions_and_the_tracestate() {
    const CALLER_SPAN: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let receiver = RawReceiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let m = support::start(mesh::api::Topology::demo(), |o| {
        o.otlp = vec![addr];
        o.rps = Some(0.0);
    })
    .await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client = m.mesh.ingress_client().expect("client");
    client
        .get(
            "/",
            &[
                ("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01")),
                ("tracestate", "vendor=opaque,other@tenant=1"),
                ("user-agent", "semconv-test/1.0"),
            ],
        )
        .await
        .expect("request");
    let want_id = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>();
    support::eventually(Duration::from_secs(10), "the ingress spans arrive", || {
        let r = receiver.clone();
        let want_id = want_id.clone();
        async move {
            r.0.lock()
                .expect("lock")
                .iter()
                .filter(|s| s.span.trace_id == want_id)
                .map(|s| (s.span.kind, s.span.parent_span_id == CALLER_SPAN))
                .collect::<std::collections::BTreeSet<_>>()
                .is_superset(&[(3, true), (2, false)].into())
        }
    })
    .await;
    let spans = receiver.0.lock().expect("lock").clone();
    // The ingress's client span: the first hop of the request sent above.
    let raw = spans
        .iter()
        .find(|s| {
            s.span.trace_id == want_id && s.span.kind == 3 && s.span.parent_span_id == CALLER_SPAN
        })
        .expect("the ingress's span, child of the caller's");
    let span = &raw.span;
    // Istio's resource naming: `<app>.<namespace>`, the workload beside it.
    assert_eq!(
        raw.resource.get("service.name").map(String::as_str),
        Some("istio-ingressgateway.istio-system")
    );
    assert!(raw.resource.contains_key("k8s.deployment.name"));
    let frontend = spans
        .iter()
        .find(|s| s.span.trace_id == want_id && s.span.kind == 2)
        .expect("a server span");
    assert!(
        frontend
            .resource
            .get("service.name")
            .is_some_and(|n| n.ends_with(".default")),
        "{:?}",
        frontend.resource
    );
    let attr = |k: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.as_ref())
            .and_then(|v| v.value.clone())
    };
    assert_eq!(
        attr("http.request.method"),
        Some(Value::StringValue("GET".into()))
    );
    assert_eq!(
        attr("http.response.status_code"),
        Some(Value::IntValue(200))
    );
    assert_eq!(attr("http.status_code"), Some(Value::IntValue(200)));
    assert_eq!(attr("url.path"), Some(Value::StringValue("/".into())));
    assert!(matches!(attr("url.full"), Some(Value::StringValue(u)) if u.starts_with("http://")));
    assert!(matches!(attr("server.address"), Some(Value::StringValue(a)) if !a.is_empty()));
    assert!(matches!(attr("network.peer.address"), Some(Value::StringValue(a)) if !a.is_empty()));
    assert_eq!(
        attr("user_agent.original"),
        Some(Value::StringValue("semconv-test/1.0".into()))
    );
    assert_eq!(span.trace_state, "vendor=opaque,other@tenant=1");
    m.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tap_names_the_pods_at_both_ends() {
    let m = support::demo().await;
    let mut console = m.console().await;
    let mut stream = console
        .tap(mesh::api::TapRequest::default())
        .await
        .expect("tap")
        .into_inner();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(e)) = stream.message().await {
            if e.reporter == "source"
                && e.source == "user-v1"
                && e.destination.starts_with("billing")
            {
                return Some(e);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("a call from user to billing in the tap");
    assert_eq!(found.source_instance, "user-v1-0");
    assert!(
        found.destination_instance.starts_with("billing-v"),
        "{found:?}"
    );
    m.stop().await;
}
