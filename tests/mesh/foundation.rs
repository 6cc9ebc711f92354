//! The foundation: the demo mesh starts, answers through the ingress with
//! the call chain, refuses plaintext and foreign certificates, hands out
//! SPIFFE certificates and rotates them without losing a request, serves
//! Prometheus metrics promtool accepts, survives a killed instance, and
//! leaves nothing listening when it stops.

use std::time::Duration;

use crate::support::{self, tool, tool_stdin};

fn curl_ingress(m: &support::TestMesh, path: &str) -> std::process::Output {
    let addr = m.mesh.ingress_addr().expect("ingress");
    let host = m.mesh.ingress_host().expect("host");
    let ca = m.state().join("ingress-ca.pem");
    let resolve = format!("{host}:{}:{}", addr.port(), addr.ip());
    let url = format!("https://{host}:{}{path}", addr.port());
    tool(
        "curl",
        &[
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            ca.to_str().expect("utf-8 path"),
            "--resolve",
            &resolve,
            "-w",
            "\n%{http_code}",
            &url,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_the_ingress_returns_the_call_chain() {
    let m = support::demo().await;
    let out = curl_ingress(&m, "/checkout");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.trim_end().ends_with("200"), "{text}");
    let body = text.trim_end().trim_end_matches("200");
    let chain: serde_json::Value = serde_json::from_str(body.trim()).expect("JSON call chain");
    assert_eq!(chain["service"], "frontend");
    assert_eq!(chain["path"], "/checkout");
    let calls = chain["calls"]
        .as_array()
        .expect("frontend calls downstreams");
    let names: Vec<&str> = calls.iter().filter_map(|c| c["service"].as_str()).collect();
    assert_eq!(names, ["auth", "user", "catalog"]);
    let user = &calls[1];
    assert_eq!(user["calls"][0]["service"], "billing");
    assert_eq!(user["calls"][0]["cluster"], "us");
    // Billing saw the caller's own identity, across clusters.
    assert_eq!(
        user["calls"][0]["peer"],
        "spiffe://eu.mesh/ns/default/sa/user"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_an_inbound_port_is_refused() {
    let m = support::demo().await;
    let w = m.workload("billing-v1-0").await;
    let inbound = w.addresses.and_then(|a| a.inbound).expect("inbound");
    let out = tool(
        "curl",
        &["-sS", "--max-time", "5", &format!("http://{inbound}/")],
    );
    assert!(
        !out.status.success(),
        "plaintext was accepted: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The refusal is an event the console shows.
    support::eventually(Duration::from_secs(5), "a denied event", || {
        let m = &m;
        async move {
            m.events()
                .await
                .iter()
                .any(|e| e.kind == "denied" && e.message.contains("plaintext"))
        }
    })
    .await;
    m.stop().await;
}

/// Writes a client certificate for `id` signed by the cluster CA kept in the state directory.
fn mesh_client_cert(
    m: &support::TestMesh,
    cluster: &str,
    td: &str,
    id: &str,
) -> (tempfile::TempDir, String, String) {
    let ca = mesh::identity::CertificateAuthority::load_or_create(
        &m.state().join("ca"),
        cluster,
        Some(td),
    )
    .expect("cluster CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let spiffe: mesh::identity::SpiffeId = id.parse().expect("spiffe id");
    let issued = ca
        .sign_csr(&csr, &spiffe, Duration::from_secs(600))
        .expect("signed");
    let dir = tempfile::TempDir::new().expect("dir");
    let cert = dir.path().join("client.pem");
    let keyf = dir.path().join("client-key.pem");
    std::fs::write(&cert, &issued.chain_pem[0]).expect("write cert");
    std::fs::write(&keyf, key.serialize_pem()).expect("write key");
    let c = cert.to_string_lossy().to_string();
    let k = keyf.to_string_lossy().to_string();
    (dir, c, k)
}

/// The inbound address of `instance`, and a client certificate for an eu
/// workload (`spiffe://eu.mesh/ns/default/sa/tester`) kept in the returned
/// directory.
async fn inbound_and_eu_tester(
    m: &support::TestMesh,
    instance: &str,
) -> (String, tempfile::TempDir, String, String) {
    let w = m.workload(instance).await;
    let inbound = w.addresses.and_then(|a| a.inbound).expect("inbound");
    let (dir, cert, key) =
        mesh_client_cert(m, "eu", "eu.mesh", "spiffe://eu.mesh/ns/default/sa/tester");
    (inbound, dir, cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_with_a_self_signed_certificate_is_refused_and_with_a_mesh_certificate_accepted() {
    let m = support::demo().await;
    let w = m.workload("billing-v1-0").await;
    let inbound = w.addresses.and_then(|a| a.inbound).expect("inbound");
    let request = b"GET /pay HTTP/1.1\r\nHost: billing\r\nConnection: close\r\n\r\n";

    // A self-made certificate that even claims a real identity.
    let dir = tempfile::TempDir::new().expect("dir");
    let cert = dir.path().join("rogue.pem");
    let key = dir.path().join("rogue-key.pem");
    let made = tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=rogue",
            "-addext",
            "subjectAltName=URI:spiffe://eu.mesh/ns/default/sa/user",
            "-keyout",
            key.to_str().expect("path"),
            "-out",
            cert.to_str().expect("path"),
        ],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let rogue = tool_stdin(
        "openssl",
        &[
            "s_client",
            "-connect",
            &inbound,
            "-quiet",
            "-alpn",
            "http/1.1",
            "-cert",
            cert.to_str().expect("path"),
            "-key",
            key.to_str().expect("path"),
        ],
        request,
    );
    let out = String::from_utf8_lossy(&rogue.stdout);
    let err = String::from_utf8_lossy(&rogue.stderr);
    assert!(
        !out.contains("HTTP/1.1 200"),
        "a self-signed certificate got through: {out}"
    );
    assert!(
        err.contains("alert") || err.contains("error"),
        "expected a TLS alert, got: {err}"
    );

    // A certificate from the mesh CA is accepted, and the server chains to the CA.
    let (_keep, cert, key) =
        mesh_client_cert(&m, "eu", "eu.mesh", "spiffe://eu.mesh/ns/default/sa/tester");
    let us_ca = m.state().join("ca").join("us.pem");
    let ok = tool_stdin(
        "openssl",
        &[
            "s_client",
            "-connect",
            &inbound,
            "-quiet",
            "-alpn",
            "http/1.1",
            "-cert",
            &cert,
            "-key",
            &key,
            "-CAfile",
            us_ca.to_str().expect("path"),
            "-verify_return_error",
        ],
        request,
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.starts_with("HTTP/1.1 200"),
        "mesh certificate refused: {out} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        out.contains("spiffe://eu.mesh/ns/default/sa/tester"),
        "billing should see the caller's SPIFFE ID: {out}"
    );
    m.stop().await;
}

/// `openssl s_client` to `inbound` with a mesh client certificate; `extra`
/// adds the session options. Its whole output, session summary included.
fn s_client_with_session(inbound: &str, cert: &str, key: &str, extra: &[&str]) -> String {
    let request = b"GET /pay HTTP/1.1\r\nHost: billing\r\nConnection: close\r\n\r\n";
    let mut args = vec![
        "s_client", "-connect", inbound, "-alpn", "http/1.1", "-ign_eof", "-cert", cert, "-key",
        key,
    ];
    args.extend_from_slice(extra);
    let out = tool_stdin("openssl", &args, request);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A resumed TLS 1.3 session carries no certificate, so no verifier runs on
/// it: a session must not outlive the trust it was verified under.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_session_resumes_across_pushes_but_not_after_its_trust_domain_is_unfederated() {
    let m = support::demo().await;
    let (inbound, keep, cert, key) = inbound_and_eu_tester(&m, "billing-v1-0").await;
    let path = |name: &str| keep.path().join(name).to_string_lossy().to_string();
    let (first, second) = (path("first.session"), path("second.session"));

    let full = s_client_with_session(&inbound, &cert, &key, &["-sess_out", &first]);
    assert!(full.contains("HTTP/1.1 200"), "{full}");
    assert!(full.contains("New, TLSv1.3"), "{full}");

    // A config push re-sends the same trust bundles: sessions stay.
    let r = support::apply(
        &m,
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: billing, namespace: default}
spec:
  host: billing
  trafficPolicy:
    connectionPool:
      http: {maxRequestsPerConnection: 100}
",
    )
    .await;
    assert!(r.applied, "{:?}", r.findings);
    m.mesh.wait_settled(Duration::from_secs(5)).await;
    let resumed = s_client_with_session(
        &inbound,
        &cert,
        &key,
        &["-sess_in", &first, "-sess_out", &second],
    );
    assert!(resumed.contains("HTTP/1.1 200"), "{resumed}");
    assert!(resumed.contains("Reused, TLSv1.3"), "{resumed}");

    let said = support::chaos(&m, "unfederate", "eu,us", 0.0, 0).await;
    assert!(said.contains("no longer federated"), "{said}");
    m.mesh.wait_settled(Duration::from_secs(5)).await;
    let after = s_client_with_session(&inbound, &cert, &key, &["-sess_in", &second]);
    assert!(
        !after.contains("HTTP/1.1 200") && !after.contains("Reused,"),
        "a session from before unfederation was resumed: {after}"
    );
    assert!(after.contains("alert"), "expected a TLS alert: {after}");
    m.stop().await;
}

/// `openssl s_client` holding one kept-alive connection, its answers read
/// as they come.
struct KeptAlive {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl KeptAlive {
    fn open(inbound: &str, cert: &str, key: &str) -> Self {
        use std::io::Read;
        let mut child = std::process::Command::new("openssl")
            .args([
                "s_client", "-connect", inbound, "-quiet", "-ign_eof", "-alpn", "http/1.1",
                "-cert", cert, "-key", key,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_client (see .ci/run)");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Self { child, stdin, seen }
    }

    /// Sends one kept-alive request; false when the connection is gone.
    fn send(&mut self) -> bool {
        use std::io::Write;
        let request = b"GET /pay HTTP/1.1\r\nHost: billing\r\n\r\n";
        self.stdin.write_all(request).is_ok() && self.stdin.flush().is_ok()
    }

    fn answers(&self) -> usize {
        self.seen
            .lock()
            .map(|s| s.matches("HTTP/1.1 200").count())
            .unwrap_or(0)
    }

    async fn wait_answers(&self, n: usize) {
        support::eventually(Duration::from_secs(10), "an answer", || {
            let got = self.answers();
            async move { got >= n }
        })
        .await;
    }

    fn closed(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }
}

impl Drop for KeptAlive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection's peer is verified at its handshake; a kept-alive
/// connection must still end when the trust bundles stop trusting that
/// peer, and only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_ends_when_its_peer_is_no_longer_trusted() {
    let m = support::demo().await;
    let (inbound, _eu, cert, key) = inbound_and_eu_tester(&m, "billing-v1-0").await;
    let mut eu = KeptAlive::open(&inbound, &cert, &key);
    let (_us, us_cert, us_key) =
        mesh_client_cert(&m, "us", "us.mesh", "spiffe://us.mesh/ns/default/sa/tester");
    let mut us = KeptAlive::open(&inbound, &us_cert, &us_key);
    for c in [&mut eu, &mut us] {
        assert!(c.send(), "first request");
        c.wait_answers(1).await;
    }

    let said = support::chaos(&m, "unfederate", "eu,us", 0.0, 0).await;
    assert!(said.contains("no longer federated"), "{said}");
    support::eventually(
        Duration::from_secs(10),
        "billing closes the eu connection",
        || {
            let closed = eu.closed();
            async move { closed }
        },
    )
    .await;
    // Whatever reaches the closed connection now is not answered.
    eu.send();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(eu.answers(), 1);
    // A peer still trusted keeps its connection.
    assert!(!us.closed(), "the us connection was closed too");
    assert!(us.send(), "second request from us");
    us.wait_answers(2).await;
    support::eventually(Duration::from_secs(5), "the closing is an event", || {
        let m = &m;
        async move {
            m.events().await.iter().any(|e| {
                e.kind == "denied"
                    && e.message.contains("mTLS connection from")
                    && e.message.contains("eu.mesh")
            })
        }
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_presents_one_spiffe_uri_san_that_chains_to_its_cluster_ca() {
    let m = support::demo().await;
    let (inbound, _keep, cert, key) = inbound_and_eu_tester(&m, "billing-v2-0").await;
    let shown = tool_stdin(
        "openssl",
        &[
            "s_client",
            "-connect",
            &inbound,
            "-showcerts",
            "-cert",
            &cert,
            "-key",
            &key,
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&shown.stdout);
    let pem: String = {
        let start = text
            .find("-----BEGIN CERTIFICATE-----")
            .expect("server certificate shown");
        let end = text[start..]
            .find("-----END CERTIFICATE-----")
            .expect("end")
            + start
            + "-----END CERTIFICATE-----".len();
        text[start..end].to_string()
    };
    let sans = tool_stdin(
        "openssl",
        &["x509", "-noout", "-ext", "subjectAltName"],
        pem.as_bytes(),
    );
    let sans = String::from_utf8_lossy(&sans.stdout);
    let uris: Vec<&str> = sans
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| s.starts_with("URI:"))
        .collect();
    assert_eq!(
        uris,
        ["URI:spiffe://us.mesh/ns/default/sa/billing"],
        "{sans}"
    );
    assert!(!sans.contains("DNS:"), "{sans}");
    let dir = tempfile::TempDir::new().expect("dir");
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, &pem).expect("write");
    let us_ca = m.state().join("ca").join("us.pem");
    let verify = tool(
        "openssl",
        &[
            "verify",
            "-CAfile",
            us_ca.to_str().expect("path"),
            leaf.to_str().expect("path"),
        ],
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let eu_ca = m.state().join("ca").join("eu.pem");
    let wrong = tool(
        "openssl",
        &[
            "verify",
            "-CAfile",
            eu_ca.to_str().expect("path"),
            leaf.to_str().expect("path"),
        ],
    );
    assert!(
        !wrong.status.success(),
        "a us certificate must not chain to the eu CA"
    );
    // The CA key is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(m.state().join("ca").join("us-key.pem"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_under_steady_traffic_without_a_failed_request() {
    let m = support::start(mesh::api::Topology::demo(), |o| {
        o.cert_ttl = Duration::from_secs(10)
    })
    .await;
    let client = m.mesh.ingress_client().expect("ingress client");
    let started = tokio::time::Instant::now();
    let (mut ok, mut failed) = (0u32, Vec::new());
    // 30 s of traffic at about 20 requests a second, bounded.
    while started.elapsed() < Duration::from_secs(30) && ok + (failed.len() as u32) < 700 {
        match client.get("/", &[]).await {
            Ok(a) if a.status == 200 => ok += 1,
            Ok(a) => failed.push(format!("{} {}", a.status, String::from_utf8_lossy(&a.body))),
            Err(e) => failed.push(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok > 100, "only {ok} requests in 30 s");
    for w in m.workloads().await.iter().filter(|w| w.kind == "sidecar") {
        assert!(
            w.rotations >= 2,
            "{} rotated {} times in 30 s with a 10 s lifetime",
            w.instance,
            w.rotations
        );
    }
    m.stop().await;
}

/// Envoy's cluster counters whose names carry no `_total` in Envoy's own
/// `/stats/prometheus`; promtool's `_total` lint on them is expected.
const ENVOY_COUNTERS_WITHOUT_TOTAL: &[&str] = &[
    "envoy_cluster_upstream_rq_retry",
    "envoy_cluster_upstream_rq_retry_success",
    "envoy_cluster_upstream_rq_retry_overflow",
    "envoy_cluster_upstream_rq_timeout",
    "envoy_cluster_upstream_rq_pending_overflow",
    "envoy_cluster_upstream_cx_connect_fail",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_exposition_answers_304_to_its_tag_and_a_changed_one_the_text() {
    use mesh::api::util::{get_if_changed, Fetched};
    let m = support::start(mesh::api::Topology::demo(), |o| o.rps = Some(0.0)).await;
    // The ingress gateway: every request through the mesh changes its counters.
    let gateway = m
        .workloads()
        .await
        .into_iter()
        .find(|w| w.kind == "ingress-gateway")
        .and_then(|w| w.addresses.and_then(|a| a.admin))
        .expect("the ingress gateway's admin address");
    let wait = Duration::from_secs(5);
    let path = "/stats/prometheus";
    let Fetched::Changed {
        etag: Some(tag), ..
    } = get_if_changed(&gateway, path, wait, None)
        .await
        .expect("scrape")
    else {
        panic!("a first scrape is the text, with a tag");
    };
    // Nothing happened in between: curl, holding the tag, gets 304 and no body.
    let url = format!("http://{gateway}{path}");
    let header = format!("If-None-Match: {tag}");
    let out = tool(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download}",
            "-H",
            &header,
            &url,
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "304 0");
    // A request through the mesh changes the gateway's counters: the text again.
    let client = m.mesh.ingress_client().expect("client");
    client.get("/cart", &[]).await.expect("request");
    match get_if_changed(&gateway, path, wait, Some(&tag))
        .await
        .expect("scrape")
    {
        Fetched::Changed { text, etag } => {
            assert!(text.contains("istio_requests_total"), "{text}");
            assert!(etag.is_some_and(|t| t != tag));
        }
        Fetched::Unchanged => panic!("the gateway's counters changed, yet 304"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_every_stats_endpoint_under_load() {
    let m = support::start(mesh::api::Topology::demo(), |o| o.rps = Some(50.0)).await;
    let client = m.mesh.ingress_client().expect("client");
    for _ in 0..20 {
        client.get("/cart", &[]).await.expect("request");
    }
    let workloads = m.workloads().await;
    assert!(workloads.len() >= 10);
    for w in workloads {
        let admin = w.addresses.and_then(|a| a.admin).expect("admin");
        let (status, body) = support::http_get(&admin, "/stats/prometheus").await;
        assert_eq!(status, 200, "{}", w.instance);
        let out = tool_stdin("promtool", &["check", "metrics"], body.as_bytes());
        let lint = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        // Exit 3 is lint; the only acceptable lints are those Istio's and
        // Envoy's own names draw: the unit of Istio's duration histogram, and
        // the Envoy counters Envoy itself exposes without `_total` (kept so,
        // for Envoy fidelity, as real dashboards and alerts query them).
        let envoy_counter = |l: &str| {
            ENVOY_COUNTERS_WITHOUT_TOTAL.iter().any(|name| {
                l.trim() == format!("{name} counter metrics should have \"_total\" suffix")
            })
        };
        let other: Vec<&str> = lint
            .lines()
            .filter(|l| {
                !l.trim().is_empty()
                    && !l.contains("use base unit \"seconds\" instead of \"milliseconds\"")
                    && !envoy_counter(l)
            })
            .collect();
        assert!(
            matches!(out.status.code(), Some(0) | Some(3)),
            "{}: promtool failed: {lint}",
            w.instance
        );
        assert!(
            other.is_empty(),
            "{}: unexpected promtool findings: {other:?}",
            w.instance
        );
        if w.kind == "sidecar" && w.service == "frontend" {
            assert!(
                body.contains("istio_requests_total{reporter=\"destination\""),
                "{body}"
            );
            assert!(
                body.contains("istio_request_duration_milliseconds_bucket{"),
                "{body}"
            );
        }
    }
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_does_not_take_the_mesh_down() {
    let m = support::demo().await;
    let mut c = m.console().await;
    let killed = c
        .chaos(mesh::api::ChaosRequest {
            action: "kill".into(),
            target: "billing-v1-0".into(),
            ..Default::default()
        })
        .await
        .expect("kill")
        .into_inner();
    assert!(killed.text.contains("billing-v1-0"), "{}", killed.text);
    let client = m.mesh.ingress_client().expect("client");
    m.mesh.wait_settled(Duration::from_secs(5)).await;
    for i in 0..30 {
        let a = client.get("/", &[]).await.expect("request");
        assert_eq!(
            a.status,
            200,
            "request {i} failed after a kill: {}",
            String::from_utf8_lossy(&a.body)
        );
    }
    let w = m.workload("billing-v1-0").await;
    assert!(!w.ready, "a killed instance is listed as not ready");
    let proxies = c
        .proxies(mesh::api::Empty {})
        .await
        .expect("proxies")
        .into_inner()
        .proxies;
    assert!(
        proxies
            .iter()
            .any(|p| p.instance == "billing-v1-0" && p.state == "STOPPED" && !p.connected),
        "{proxies:?}"
    );
    c.chaos(mesh::api::ChaosRequest {
        action: "restart".into(),
        target: "billing-v1-0".into(),
        ..Default::default()
    })
    .await
    .expect("restart");
    m.mesh.wait_settled(Duration::from_secs(5)).await;
    let mut seen_back = false;
    for _ in 0..60 {
        let a = client.get("/", &[]).await.expect("request");
        assert_eq!(a.status, 200);
        seen_back |= String::from_utf8_lossy(&a.body).contains("billing-v1-0");
    }
    assert!(seen_back, "the restarted instance gets traffic again");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_listener_behind() {
    let m = support::demo().await;
    let mut addrs: Vec<String> = m
        .workloads()
        .await
        .into_iter()
        .filter_map(|w| w.addresses)
        .flat_map(|a| [a.app, a.inbound, a.outbound, a.admin])
        .flatten()
        .collect();
    addrs.push(m.mesh.api_addr().to_string());
    for cp in m.mesh.control_planes() {
        if let Some(g) = cp.gateway() {
            addrs.push(g.to_string());
        }
    }
    assert!(addrs.len() > 30, "{addrs:?}");
    for a in &addrs {
        assert!(
            tokio::net::TcpStream::connect(a).await.is_ok(),
            "{a} should listen while the mesh runs"
        );
    }
    let _dir = m.stop().await;
    for a in &addrs {
        assert!(
            tokio::net::TcpStream::connect(a).await.is_err(),
            "{a} still listens after shutdown"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_meshes_run_side_by_side() {
    let (a, b) = tokio::join!(support::demo(), support::demo());
    assert_ne!(a.mesh.api_addr(), b.mesh.api_addr());
    for m in [&a, &b] {
        let out = curl_ingress(m, "/");
        assert!(String::from_utf8_lossy(&out.stdout)
            .trim_end()
            .ends_with("200"));
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_up_prints_ready_serves_the_cli_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::TempDir::new().expect("dir");
    let mut child = tokio::process::Command::new(support::meshcon_bin())
        .args([
            "up",
            "--headless",
            "--ephemeral",
            "--rps",
            "5",
            "--state-dir",
            dir.path().to_str().expect("path"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("meshcon starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut api = String::new();
    let mut seen_ready = false;
    let started = tokio::time::Instant::now();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await
    {
        seen_ready |= line == "ready";
        if let Some(rest) = line.strip_prefix("console API: ") {
            api = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            break;
        }
    }
    assert!(seen_ready, "no `ready` line");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Other terminals present the token `up` wrote in its state directory.
    support::register_credentials(&api, &dir.path().join("console.token"));
    let out = tool(
        support::meshcon_bin().to_str().expect("path"),
        &["get", "workloads", "-o", "json", "--mesh", &api],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON array");
    let billing = list
        .iter()
        .find(|w| w["instance"] == "billing-v2-0")
        .expect("billing v2");
    for field in [
        "kind",
        "cluster",
        "namespace",
        "service",
        "version",
        "instance",
        "spiffe_id",
        "ready",
        "cert_not_after",
    ] {
        assert!(!billing[field].is_null(), "missing {field}: {billing}");
    }
    assert_eq!(
        billing["spiffe_id"],
        "spiffe://us.mesh/ns/default/sa/billing"
    );
    assert_eq!(billing["kind"], "sidecar");
    assert!(billing["addresses"]["inbound"]
        .as_str()
        .is_some_and(|a| a.contains(':')));
    assert!(billing["addresses"].get("outbound").is_some());
    assert!(time::OffsetDateTime::parse(
        billing["cert_not_after"].as_str().unwrap_or(""),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    // The control plane's events are the log.
    let log = std::fs::read_to_string(dir.path().join("meshcon.log")).unwrap_or_default();
    assert!(log.contains("control plane serving"), "meshcon.log: {log}");
    // The same --state-dir finds the mesh without --mesh.
    let by_dir = tool(
        support::meshcon_bin().to_str().expect("path"),
        &[
            "get",
            "proxies",
            "--state-dir",
            dir.path().to_str().expect("path"),
        ],
    );
    assert!(
        by_dir.status.success() && String::from_utf8_lossy(&by_dir.stdout).contains("billing-v2-0"),
        "{}",
        String::from_utf8_lossy(&by_dir.stderr)
    );
    // A second mesh on the same state directory is refused, and says where the first is.
    let second = tool(
        support::meshcon_bin().to_str().expect("path"),
        &[
            "up",
            "--headless",
            "--ephemeral",
            "--state-dir",
            dir.path().to_str().expect("path"),
        ],
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already running at") && err.contains(&api),
        "{err}"
    );
    let kinds: Vec<&str> = list.iter().filter_map(|w| w["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"ingress-gateway") && kinds.contains(&"eastwest-gateway"),
        "{kinds:?}"
    );
    let table = tool(
        support::meshcon_bin().to_str().expect("path"),
        &["get", "workloads", "--mesh", &api],
    );
    assert!(
        String::from_utf8_lossy(&table.stdout).starts_with("KIND"),
        "table output"
    );

    let rule =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/rules/canary-90-10.yaml");
    let applied = tool(
        support::meshcon_bin().to_str().expect("path"),
        &["apply", "-f", rule.to_str().expect("path"), "--mesh", &api],
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    let pid = child.id().expect("pid").to_string();
    assert!(tool("kill", &["-TERM", &pid]).status.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("status");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        tokio::net::TcpStream::connect(&api).await.is_err(),
        "API still listening after exit"
    );
    // The history outlives the mesh: it is read from the state directory.
    let state = dir.path().to_str().expect("path");
    let history = tool(
        support::meshcon_bin().to_str().expect("path"),
        &["history", "--state-dir", state, "--mesh", &api],
    );
    let out = String::from_utf8_lossy(&history.stdout);
    assert!(
        history.status.success() && out.contains("v1"),
        "{out}{}",
        String::from_utf8_lossy(&history.stderr)
    );
    let diff = tool(
        support::meshcon_bin().to_str().expect("path"),
        &["diff", "0", "1", "--state-dir", state, "--mesh", &api],
    );
    assert!(String::from_utf8_lossy(&diff.stdout).contains("+kind: VirtualService"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_topology_file_is_reported_with_its_position() {
    let dir = tempfile::TempDir::new().expect("dir");
    let file = dir.path().join("topo.yaml");
    std::fs::write(&file, "clusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n- name: a\n  cluster: eu\n  versoins: []\n").expect("write");
    let out = tool(
        support::meshcon_bin().to_str().expect("path"),
        &[
            "up",
            "--headless",
            "--ephemeral",
            "-f",
            file.to_str().expect("path"),
            "--state-dir",
            dir.path().to_str().expect("path"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("topo.yaml:7:3"), "{err}");
    assert!(err.contains("unknown field `versoins`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_workload_is_refused_and_the_event_says_why_in_words() {
    let m = support::demo().await;
    let said = support::chaos(&m, "rogue", "billing", 0.0, 0).await;
    assert!(
        said.contains("plaintext HTTP") && said.contains("self-made certificate"),
        "{said}"
    );
    support::eventually(Duration::from_secs(5), "the refusals are events", || {
        let m = &m;
        async move {
            let denied: Vec<String> = m
                .events()
                .await
                .into_iter()
                .filter(|e| e.kind == "denied")
                .map(|e| e.message)
                .collect();
            denied
                .iter()
                .any(|d| d.contains("its issuer is not a root this mesh trusts"))
                && denied
                    .iter()
                    .all(|d| !d.contains("OtherError") && !d.contains('\n'))
        }
    })
    .await;
    m.stop().await;
}
