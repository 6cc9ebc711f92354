//! Recorded mesh state: the demo mesh as the console saw it at one moment,
//! and a generated mesh of any size. Snapshot tests render these headlessly;
//! `cargo bench` times frames of them.

use super::app::App;
use super::mesh_data::Resource;
use super::practice::Practice;
use crate::practice::progress::Ledger;
use mesh::api::{EdgeKey, EdgeStat};
use mesh::api::{EdgeSignal, ServiceSignal};
use mesh::api::{Event, TapEntry, TrustDomain, Workload};
use mesh::api::{StoredSpan, Trace};

/// Fixed "now" for every test: 2026-11-26T12:00:00Z.
pub const NOW: f64 = 1_795_694_400.0;

fn workload(cluster: &str, service: &str, version: &str, i: u32, ready: bool) -> Workload {
    let td = format!("{cluster}.mesh");
    Workload {
        kind: "sidecar".into(),
        cluster: cluster.into(),
        namespace: "default".into(),
        service: service.into(),
        version: version.into(),
        instance: format!("{service}-{version}-{i}"),
        spiffe_id: format!("spiffe://{td}/ns/default/sa/{service}"),
        addresses: Some(mesh::api::Addresses {
            admin: Some(format!("127.0.0.1:{}", 40000 + i)),
            ..Default::default()
        }),
        ready,
        cert_not_after: "2026-11-26T12:30:00Z".into(),
        cert_serial: format!("01ab{i:02}cd"),
        rotations: i,
        issuer: format!("O=meshcon, CN=meshcon {td} root CA"),
        external: false,
    }
}

fn signal(
    cluster: &str,
    service: &str,
    version: &str,
    rps: f64,
    success: f64,
    p99: f64,
) -> ServiceSignal {
    ServiceSignal {
        cluster: cluster.into(),
        namespace: "default".into(),
        service: service.into(),
        version: version.into(),
        rps,
        success_rate: success,
        p50_ms: p99 / 4.0,
        p90_ms: p99 / 2.0,
        p99_ms: p99,
        mtls_ratio: 1.0,
        effective_rps: rps,
        ..Default::default()
    }
}

/// `from` is (workload, cluster); `to` is (service, version, cluster).
fn edge(from: (&str, &str), to: (&str, &str, &str), rps: f64, err: f64, p99: f64) -> EdgeSignal {
    let (source, sc) = from;
    let (service, version, dc) = to;
    EdgeSignal {
        source: source.into(),
        source_cluster: sc.into(),
        service: service.into(),
        version: version.into(),
        destination_cluster: dc.into(),
        rps,
        error_rate: err,
        p99_ms: p99,
        mtls_ratio: 1.0,
        overflow_rate: 0.0,
    }
}

/// `ids` is (span, parent); `at` is (service, cluster); `time` is (start, duration) in ms.
fn span(
    ids: (&str, &str),
    at: (&str, &str),
    name: &str,
    time: (f64, f64),
    attempt: Option<(&str, &str)>,
) -> StoredSpan {
    let (id, parent) = ids;
    let (service, cluster) = at;
    let (start, dur) = time;
    let mut attributes = std::collections::BTreeMap::new();
    if let Some((n, status)) = attempt {
        attributes.insert("attempt".to_string(), n.to_string());
        attributes.insert("http.status_code".to_string(), status.to_string());
    }
    StoredSpan {
        span_id: id.into(),
        parent_span_id: parent.into(),
        name: name.into(),
        kind: "client".into(),
        service: service.into(),
        cluster: cluster.into(),
        start_unix_ms: (NOW - 10.0) * 1000.0 + start,
        duration_ms: dur,
        error: attempt.is_some_and(|(_, s)| s.starts_with('5')),
        attributes,
    }
}

/// The demo mesh, recorded: every view has something to show.
pub fn recorded_app() -> App {
    let mut app = App::new("127.0.0.1:15700", true, Practice::new(Ledger::default()));
    app.now = NOW;
    app.traces_at = NOW;
    app.size = (100, 30);
    let d = &mut app.mesh;
    d.topology = Some(mesh::api::Topology::demo());
    d.workloads = vec![
        workload("eu", "frontend", "v1", 0, true),
        workload("eu", "frontend", "v1", 1, true),
        workload("eu", "user", "v1", 0, true),
        workload("eu", "auth", "v1", 0, true),
        workload("us", "billing", "v1", 0, true),
        workload("us", "billing", "v1", 1, false),
        workload("us", "billing", "v2", 0, true),
        workload("us", "catalog", "v1", 0, true),
    ];
    d.trust_domains = vec![
        TrustDomain {
            cluster: "eu".into(),
            trust_domain: "eu.mesh".into(),
            root_fingerprint: "9c14b8646322aaf8ff".into(),
            root_not_after: String::new(),
            mtls_mode: "STRICT".into(),
        },
        TrustDomain {
            cluster: "us".into(),
            trust_domain: "us.mesh".into(),
            root_fingerprint: "29983b803dbaca70aa".into(),
            root_not_after: String::new(),
            mtls_mode: "STRICT".into(),
        },
    ];
    d.version = 3;
    d.services = vec![
        signal("eu", "frontend", "v1", 10.0, 1.0, 41.0),
        signal("eu", "user", "v1", 10.0, 1.0, 21.0),
        signal("eu", "auth", "v1", 10.0, 1.0, 8.0),
        signal("us", "billing", "v1", 9.0, 0.92, 12.0),
        signal("us", "billing", "v2", 1.0, 1.0, 11.0),
        signal("us", "catalog", "v1", 10.0, 1.0, 10.0),
    ];
    d.edges = vec![
        edge(
            ("istio-ingressgateway", "eu"),
            ("frontend", "v1", "eu"),
            10.0,
            0.0,
            41.0,
        ),
        edge(("frontend-v1", "eu"), ("auth", "v1", "eu"), 10.0, 0.0, 9.0),
        edge(("frontend-v1", "eu"), ("user", "v1", "eu"), 10.0, 0.0, 22.0),
        edge(
            ("frontend-v1", "eu"),
            ("catalog", "v1", "us"),
            10.0,
            0.0,
            11.0,
        ),
        edge(("user-v1", "eu"), ("billing", "v1", "us"), 9.0, 0.08, 13.0),
        edge(("user-v1", "eu"), ("billing", "v2", "us"), 1.0, 0.0, 12.0),
    ];
    d.latency = vec![EdgeStat {
        edge: Some(EdgeKey {
            reporter: "destination".into(),
            source_workload: "user-v1".into(),
            source_cluster: "eu".into(),
            destination_service: "billing".into(),
            destination_workload: "billing-v1".into(),
            destination_version: "v1".into(),
            destination_cluster: "us".into(),
        }),
        count: 270,
        errors: 21,
        p50_ms: 3.1,
        p90_ms: 7.9,
        p99_ms: 11.2,
        p999_ms: 12.0,
        max_ms: 12.4,
        window_s: 30.0,
    }];
    for (i, kind, source, msg) in [
        (1, "config", "console", "v3: apply: VirtualService default/billing configured"),
        (2, "push", "user-v1-0.default.eu", "pushed v3"),
        (3, "ejection", "user-v1-0.default.eu", "billing-v1-1 (127.2.1.2:15006) ejected from outbound|8080|v1|billing.default.svc.cluster.local for 30s (ejection #1)"),
        (4, "denied", "billing-v1-0.default.us", "plaintext connection from 127.0.0.1:40000 refused: PeerAuthentication is STRICT"),
        (5, "cert-rotated", "auth-v1-0.default.eu", "spiffe://eu.mesh/ns/default/sa/auth serial 01ab until 2026-11-26T12:30:00Z"),
    ] {
        d.events.push_back(Event { seq: i, unix_ms: (NOW * 1000.0) as i64 + i as i64 * 1000, kind: kind.into(), cluster: if source.ends_with("us") { "us".into() } else { "eu".into() }, source: source.into(), message: msg.into() });
    }
    for (i, (src, dst, status, flags, ms, attempt)) in [
        ("istio-ingressgateway", "frontend-v1", 200, "-", 38.2, 1),
        ("frontend-v1", "auth-v1", 200, "-", 4.1, 1),
        ("user-v1", "billing-v1", 503, "-", 3.0, 1),
        ("user-v1", "billing-v2", 200, "URX", 9.8, 2),
        ("frontend-v1", "catalog-v1", 200, "-", 5.5, 1),
    ]
    .into_iter()
    .enumerate()
    {
        d.tap.push_back(TapEntry {
            unix_ms: (NOW * 1000.0) as i64 + i as i64 * 100,
            reporter: "source".into(),
            source: src.into(),
            destination: dst.into(),
            method: "GET".into(),
            path: "/cart".into(),
            status,
            flags: flags.into(),
            latency_ms: ms,
            attempt,
            mtls: true,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            authority: "billing".into(),
            source_instance: format!("{src}-0"),
            // The failed first try went to the second billing-v1 replica.
            destination_instance: format!("{dst}-{}", u8::from(i == 2)),
            ..Default::default()
        });
    }
    d.recent_edges = d.edges.clone();
    d.traces = vec![Trace {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        start_unix_ms: (NOW - 10.0) * 1000.0,
        duration_ms: 40.0,
        services: vec![
            "frontend-v1".into(),
            "istio-ingressgateway".into(),
            "user-v1".into(),
            "billing-v1".into(),
        ],
        clusters: vec!["eu".into(), "us".into()],
        error: false,
        failed_spans: 1,
        spans: vec![
            span(
                ("a1", "00f067aa0ba902b7"),
                ("istio-ingressgateway", "eu"),
                "GET frontend",
                (0.0, 40.0),
                None,
            ),
            span(
                ("a2", "a1"),
                ("frontend-v1", "eu"),
                "GET /cart",
                (2.0, 36.0),
                None,
            ),
            span(
                ("a3", "a2"),
                ("frontend-v1", "eu"),
                "GET user",
                (4.0, 30.0),
                None,
            ),
            span(
                ("a4", "a3"),
                ("user-v1", "eu"),
                "outbound|8080||billing attempt 1",
                (6.0, 4.0),
                Some(("1", "503")),
            ),
            span(
                ("a5", "a3"),
                ("user-v1", "eu"),
                "outbound|8080||billing attempt 2",
                (14.0, 12.0),
                Some(("2", "200")),
            ),
            span(
                ("a6", "a5"),
                ("billing-v2", "us"),
                "GET /cart",
                (16.0, 9.0),
                None,
            ),
        ],
    }];
    d.resources_yaml = super::quick::canary_yaml(10);
    d.resources = Resource::split(&d.resources_yaml);
    d.history = vec![
        mesh::api::HistoryEntry {
            version: 1,
            unix_time: ((NOW - 600.0) * 1000.0).to_string(),
            summary: "apply: DestinationRule default/billing created".into(),
            resources: 1,
        },
        mesh::api::HistoryEntry {
            version: 2,
            unix_time: ((NOW - 300.0) * 1000.0).to_string(),
            summary: "apply: VirtualService default/billing created".into(),
            resources: 2,
        },
        mesh::api::HistoryEntry {
            version: 3,
            unix_time: ((NOW - 60.0) * 1000.0).to_string(),
            summary: "apply: VirtualService default/billing configured".into(),
            resources: 2,
        },
    ];
    d.proxies = vec![mesh::api::ProxyState {
        id: "user-v1-0.default.eu".into(),
        state: "ACKED".into(),
        acked_version: 3,
        connected: true,
        ..Default::default()
    }];
    app.conn.connected = true;
    app.conn.mesh = "shop".into();
    app.conn.last_data = Some(NOW - 0.4);
    app
}

/// A console with a generated mesh of `n` services (benchmarks and scale tests).
pub fn big_app(n: usize) -> App {
    let mut app = recorded_app();
    let topo = mesh::bench::generated_topology(n);
    app.mesh.workloads = topo
        .instances()
        .iter()
        .map(|i| workload("gen", &i.service, &i.version, i.index, true))
        .collect();
    app.mesh.services = (0..n)
        .map(|i| signal("gen", &format!("svc-{i}"), "v1", 5.0, 1.0, 10.0 + i as f64))
        .collect();
    app.mesh.edges = (0..n.saturating_sub(1))
        .map(|i| {
            edge(
                (&format!("svc-{i}-v1"), "gen"),
                (&format!("svc-{}", i + 1), "v1", "gen"),
                5.0,
                0.0,
                10.0,
            )
        })
        .collect();
    app.mesh.topology = Some(topo);
    app
}
