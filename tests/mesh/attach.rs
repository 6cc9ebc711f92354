//! The console attached to a real mesh's parts: a real Prometheus server
//! scraping a meshcon mesh (the figures must match the native console's),
//! recorded Istio and Linkerd expositions served to a real Prometheus (the
//! dialect detected, exactly the workloads and edges they contain), and bad
//! endpoints answered with clear messages.

use std::collections::BTreeSet;
use std::time::Duration;

use mesh::api::{EdgeSignal, ServiceSignal, Workload};

use crate::support::{self, peers, tool, Prometheus};

fn meshcon(args: &[&str]) -> std::process::Output {
    tool(support::meshcon_bin().to_str().expect("path"), args)
}

fn json<T: serde::de::DeserializeOwned>(out: &std::process::Output, what: &str) -> T {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn within(a: f64, b: f64, share: f64) -> bool {
    (a - b).abs() <= share * b.abs().max(1e-9)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_to_prometheus_the_console_shows_what_the_native_one_shows() {
    let _alone = support::alone().await;
    let m = support::start(crate::telemetry::slow_topology(), |o| o.rps = Some(20.0)).await;
    let api = m.mesh.api_addr().to_string();
    let cfg = meshcon(&["get", "scrape-config", "--window", "1", "--mesh", &api]);
    let prom = Prometheus::start(&String::from_utf8_lossy(&cfg.stdout)).await;
    // The native console's computation, from the proxies' own scrapes, over
    // the same seconds Prometheus scrapes them.
    let (signals, now) = support::scrape_alongside(&m, 16).await;
    let native = signals.services(10.0, now);
    let native_edges = signals.edges(10.0, now);
    let url = prom.url();
    let attached: Vec<ServiceSignal> = json(
        &meshcon(&[
            "get",
            "services",
            "--prometheus",
            &url,
            "--window",
            "10",
            "-o",
            "json",
        ]),
        "get services --prometheus",
    );
    let edges: Vec<EdgeSignal> = json(
        &meshcon(&[
            "get",
            "edges",
            "--prometheus",
            &url,
            "--window",
            "10",
            "-o",
            "json",
        ]),
        "get edges --prometheus",
    );
    let rows = |v: &[ServiceSignal]| -> BTreeSet<(String, String, String)> {
        v.iter()
            .map(|s| (s.cluster.clone(), s.service.clone(), s.version.clone()))
            .collect()
    };
    assert_eq!(rows(&attached), rows(&native), "the same service versions");
    let calls = |v: &[EdgeSignal]| -> BTreeSet<(String, String, String)> {
        v.iter()
            .map(|e| (e.source.clone(), e.service.clone(), e.version.clone()))
            .collect()
    };
    assert_eq!(calls(&edges), calls(&native_edges), "the same edges");
    let slow = |v: &[ServiceSignal]| {
        v.iter()
            .find(|s| s.service == "slow")
            .cloned()
            .expect("slow")
    };
    let (a, n) = (slow(&attached), slow(&native));
    assert!(
        within(a.rps, n.rps, 0.1),
        "RPS: attached {} native {}",
        a.rps,
        n.rps
    );
    assert!(
        within(a.p99_ms, n.p99_ms, 0.1),
        "P99: attached {} native {}",
        a.p99_ms,
        n.p99_ms
    );
    for e in &edges {
        let n = native_edges
            .iter()
            .find(|x| x.source == e.source && x.service == e.service && x.version == e.version)
            .expect("native edge");
        assert!(
            within(e.rps, n.rps, 0.1),
            "{} → {}: {} vs {}",
            e.source,
            e.service,
            e.rps,
            n.rps
        );
    }
    // The workloads the series name, with their SPIFFE identities.
    let workloads: Vec<Workload> = json(
        &meshcon(&["get", "workloads", "--prometheus", &url, "-o", "json"]),
        "get workloads --prometheus",
    );
    let slow_wl = workloads
        .iter()
        .find(|w| w.service == "slow")
        .expect("slow's workload");
    assert_eq!(slow_wl.spiffe_id, "spiffe://one.mesh/ns/default/sa/slow");
    prom.stop().await;
    m.stop().await;
}

/// Serves a recorded exposition to a real Prometheus, with the target
/// labels `extra` (what a Kubernetes service discovery would add).
async fn prometheus_on_capture(body: Vec<u8>, extra: &str) -> Prometheus {
    let target = support::serve_text(body).await;
    let prom = Prometheus::start(&format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: capture\n  static_configs:\n  - targets: ['{target}']\n    labels: {{{extra}}}\n"
    ))
    .await;
    // Rates need two samples inside the window.
    let url = prom.url();
    support::eventually(
        Duration::from_secs(30),
        "two scrapes of the capture",
        || {
            let url = url.clone();
            async move {
                let p = mesh::api::attach::Prometheus {
                    endpoint: mesh::api::attach::Endpoint::parse(&url).expect("url"),
                };
                p.query("count_over_time(up[1m])")
                    .await
                    .is_ok_and(|v| v.first().is_some_and(|s| s.value >= 3.0))
            }
        },
    )
    .await;
    prom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_istio_and_linkerd_metrics_show_exactly_their_workloads_and_edges() {
    let Some(root) = peers::find() else { return };
    // Istio: one sidecar's capture, productpage-v1 calling reviews-v1.
    let istio =
        std::fs::read(root.join("metrics/datadog-istio/istio-1.11.4-reviews-v1-istio-excerpt.txt"))
            .expect("istio capture");
    let prom = prometheus_on_capture(istio, "").await;
    let url = prom.url();
    let table = meshcon(&["get", "services", "--prometheus", &url]);
    assert!(
        String::from_utf8_lossy(&table.stderr).contains("· istio"),
        "dialect: {}",
        String::from_utf8_lossy(&table.stderr)
    );
    let workloads: Vec<Workload> = json(
        &meshcon(&["get", "workloads", "--prometheus", &url, "-o", "json"]),
        "istio workloads",
    );
    let names: BTreeSet<String> = workloads.iter().map(|w| w.instance.clone()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["productpage-v1".to_string(), "reviews-v1".to_string()])
    );
    let reviews = workloads
        .iter()
        .find(|w| w.instance == "reviews-v1")
        .expect("reviews");
    assert_eq!(
        reviews.spiffe_id,
        "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    );
    let edges: Vec<EdgeSignal> = json(
        &meshcon(&["get", "edges", "--prometheus", &url, "-o", "json"]),
        "istio edges",
    );
    let calls: Vec<(String, String, String)> = edges
        .iter()
        .map(|e| (e.source.clone(), e.service.clone(), e.version.clone()))
        .collect();
    assert_eq!(
        calls,
        vec![("productpage-v1".into(), "reviews".into(), "v1".into())]
    );
    prom.stop().await;

    // Linkerd: one proxy's capture (linkerd-viz's Prometheus adds the pod's
    // namespace and controller); inbound traffic only, no HTTP edges.
    let linkerd = std::fs::read(root.join("metrics/linkerd2/sampleMetrics.txt")).expect("capture");
    let prom = prometheus_on_capture(
        linkerd,
        "namespace: default, deployment: slow-cooker, pod: slow-cooker-opaque-pod-mjqsw",
    )
    .await;
    let url = prom.url();
    let table = meshcon(&["get", "services", "--prometheus", &url]);
    assert!(
        String::from_utf8_lossy(&table.stderr).contains("· linkerd"),
        "dialect: {}",
        String::from_utf8_lossy(&table.stderr)
    );
    let services: Vec<ServiceSignal> = json(
        &meshcon(&["get", "services", "--prometheus", &url, "-o", "json"]),
        "linkerd services",
    );
    let rows: Vec<(String, String)> = services
        .iter()
        .map(|s| (s.namespace.clone(), s.service.clone()))
        .collect();
    assert_eq!(rows, vec![("default".into(), "slow-cooker".into())]);
    let workloads: Vec<Workload> = json(
        &meshcon(&["get", "workloads", "--prometheus", &url, "-o", "json"]),
        "linkerd workloads",
    );
    let names: Vec<String> = workloads.iter().map(|w| w.service.clone()).collect();
    assert_eq!(names, vec!["slow-cooker".to_string()]);
    assert_eq!(workloads[0].instance, "slow-cooker-opaque-pod-mjqsw");
    let edges: Vec<EdgeSignal> = json(
        &meshcon(&["get", "edges", "--prometheus", &url, "-o", "json"]),
        "linkerd edges",
    );
    assert!(edges.is_empty(), "no HTTP edges in the capture: {edges:?}");
    prom.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_metrics_sources_get_clear_answers() {
    // Nothing listening.
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    let out = meshcon(&["get", "services", "--prometheus", &dead]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&dead) && err.contains("refused"), "{err}");

    // A real Prometheus that scrapes nothing of a mesh.
    let prom = Prometheus::start("global: {scrape_interval: 1s}\nscrape_configs: []\n").await;
    let out = meshcon(&["get", "services", "--prometheus", &prom.url()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("holds no mesh series"), "{err}");
    prom.stop().await;

    // Not Prometheus at all.
    let html = support::serve_text(b"<html>hello</html>".to_vec()).await;
    let out = meshcon(&["get", "services", "--prometheus", &html]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not a Prometheus API answer"), "{err}");

    // Garbage on a scrape target.
    let garbage = support::serve_text(b"this is { not an exposition\n\x00\x01".to_vec()).await;
    let out = meshcon(&["get", "services", "--scrape", &garbage, "--window", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&garbage), "{err}");

    // A 50 MB exposition is refused, not read into memory whole.
    let line = "istio_requests_total{reporter=\"destination\",destination_service_name=\"x\"} 1\n";
    let huge = line.repeat(50_000_000 / line.len() + 1).into_bytes();
    let big = support::serve_text(huge).await;
    let out = meshcon(&["get", "services", "--scrape", &big, "--window", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("larger than"), "{err}");
}

/// nginx in front of a real Prometheus, over TLS from a CA of the test's
/// own: basic auth on one port, a bearer token on the other.
struct GuardedPrometheus {
    basic: String,
    bearer: String,
    ca: std::path::PathBuf,
    nginx: tokio::process::Child,
    _dir: tempfile::TempDir,
}

async fn guarded(prometheus: &str) -> GuardedPrometheus {
    let dir = tempfile::TempDir::new().expect("dir");
    let d = dir.path();
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    let cert = params
        .signed_by(&key, &rcgen::Issuer::from_params(&ca_params, &ca_key))
        .expect("cert");
    std::fs::write(d.join("ca.pem"), ca_cert.pem()).expect("ca");
    std::fs::write(d.join("server.pem"), cert.pem()).expect("cert");
    std::fs::write(d.join("server.key"), key.serialize_pem()).expect("key");
    let hash = tool("openssl", &["passwd", "-apr1", "s3cret"]);
    assert!(hash.status.success(), "openssl passwd");
    std::fs::write(
        d.join("htpasswd"),
        format!("ops:{}", String::from_utf8_lossy(&hash.stdout)),
    )
    .expect("htpasswd");
    let (basic, bearer) = (support::free_port(), support::free_port());
    let dd = d.display();
    let tls = format!("ssl_certificate {dd}/server.pem; ssl_certificate_key {dd}/server.key;");
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {dd}/nginx.pid; error_log {dd}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off; client_body_temp_path {dd}/body; proxy_temp_path {dd}/proxy;
  server {{ listen 127.0.0.1:{basic} ssl; {tls}
    auth_basic \"prometheus\"; auth_basic_user_file {dd}/htpasswd;
    location / {{ proxy_pass http://{prometheus}; }} }}
  server {{ listen 127.0.0.1:{bearer} ssl; {tls}
    location / {{ if ($http_authorization != \"Bearer t0ken\") {{ return 401; }} proxy_pass http://{prometheus}; }} }}
}}
"
    );
    std::fs::write(d.join("nginx.conf"), conf).expect("conf");
    let nginx = tokio::process::Command::new("nginx")
        .args(["-c", &d.join("nginx.conf").display().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx (Debian package nginx-light) runs");
    for port in [basic, bearer] {
        support::eventually(Duration::from_secs(20), "nginx listens", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
    }
    GuardedPrometheus {
        basic: format!("https://127.0.0.1:{basic}"),
        bearer: format!("https://127.0.0.1:{bearer}"),
        ca: d.join("ca.pem"),
        nginx,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_behind_tls_and_auth_is_reached_with_the_right_credentials_only() {
    let exposition = "# TYPE istio_requests_total counter\nistio_requests_total{reporter=\"destination\",source_workload=\"web-v1\",destination_workload=\"api-v1\",destination_service_name=\"api\",destination_service_namespace=\"default\",destination_version=\"v1\",destination_cluster=\"c1\",response_code=\"200\",connection_security_policy=\"mutual_tls\"} 5\n";
    let prom = prometheus_on_capture(exposition.as_bytes().to_vec(), "").await;
    let mut g = guarded(&prom.listen).await;
    let ca = g.ca.display().to_string();
    let services = |out: &std::process::Output| -> Vec<String> {
        json::<Vec<ServiceSignal>>(out, "services")
            .into_iter()
            .map(|s| s.service)
            .collect()
    };
    let ok = meshcon(&[
        "get",
        "services",
        "--prometheus",
        &g.basic,
        "--prometheus-ca",
        &ca,
        "--prometheus-basic-auth",
        "ops:s3cret",
        "-o",
        "json",
    ]);
    assert_eq!(services(&ok), vec!["api".to_string()]);
    let ok = meshcon(&[
        "get",
        "services",
        "--prometheus",
        &g.bearer,
        "--prometheus-ca",
        &ca,
        "--prometheus-token",
        "t0ken",
        "-o",
        "json",
    ]);
    assert_eq!(services(&ok), vec!["api".to_string()]);
    for (args, says) in [
        (
            vec![
                "--prometheus",
                g.basic.as_str(),
                "--prometheus-ca",
                ca.as_str(),
            ],
            "HTTP 401",
        ),
        (
            vec![
                "--prometheus",
                g.basic.as_str(),
                "--prometheus-ca",
                ca.as_str(),
                "--prometheus-basic-auth",
                "ops:wrong",
            ],
            "HTTP 401",
        ),
        (
            vec![
                "--prometheus",
                g.bearer.as_str(),
                "--prometheus-ca",
                ca.as_str(),
                "--prometheus-token",
                "nope",
            ],
            "HTTP 401",
        ),
        // Not our CA: the system's roots do not vouch for it.
        (
            vec![
                "--prometheus",
                g.bearer.as_str(),
                "--prometheus-token",
                "t0ken",
            ],
            "TLS",
        ),
    ] {
        let mut all = vec!["get", "services"];
        all.extend(args);
        let out = meshcon(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{all:?}: {err}");
        assert!(err.contains(says), "{all:?}: {err}");
    }
    let _ = g.nginx.kill().await;
    prom.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_from_a_saved_envoy_dump_state_what_istioctl_states() {
    let Some(root) = peers::find() else { return };
    let dir = root.join("istio/istioctl/pkg/writer/envoy/configdump/testdata/secret/istio");
    let dump = dir.join("config_dump.json");
    let out = meshcon(&[
        "get",
        "identities",
        "--config-dump",
        dump.to_str().expect("path"),
        "-o",
        "json",
    ]);
    let workloads: Vec<Workload> = json(&out, "identities from a dump");
    // istioctl's table beside the dump names the same certificate.
    let istioctl = std::fs::read_to_string(dir.join("output")).expect("istioctl output");
    let default = istioctl
        .lines()
        .find(|l| l.starts_with("default"))
        .expect("istioctl's default row");
    assert_eq!(workloads.len(), 1, "{workloads:?}");
    let w = &workloads[0];
    assert!(default.contains(&w.cert_serial), "{default} vs {w:?}");
    assert!(default.contains(&w.cert_not_after), "{default} vs {w:?}");
    assert_eq!(
        w.spiffe_id,
        "spiffe://cluster.local/ns/ambient/sa/namespace-istio-waypoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_scraped_directly_show_without_prometheus() {
    let Some(root) = peers::find() else { return };
    let istio =
        std::fs::read(root.join("metrics/datadog-istio/istio-1.11.4-reviews-v1-istio-excerpt.txt"))
            .expect("istio capture");
    let linkerd = std::fs::read(root.join("metrics/linkerd2/sampleMetrics.txt")).expect("capture");
    let (envoy, proxy) = (
        support::serve_text(istio).await,
        support::serve_text(linkerd).await,
    );
    let services: Vec<ServiceSignal> = json(
        &meshcon(&[
            "get", "services", "--scrape", &envoy, "--scrape", &proxy, "--window", "2", "-o",
            "json",
        ]),
        "services from scrapes",
    );
    let rows: BTreeSet<(String, String)> = services
        .iter()
        .map(|s| (s.service.clone(), s.version.clone()))
        .collect();
    // The Envoy names its service; a linkerd2-proxy scraped directly is
    // named by its address (its own series do not name it).
    assert_eq!(
        rows,
        BTreeSet::from([
            ("reviews".to_string(), "v1".to_string()),
            (proxy.clone(), String::new()),
        ])
    );
}
