//! Federation: two clusters with their own control planes, CAs and trust
//! domains; cross-cluster calls through the east-west gateways with identity
//! end to end; foreign CAs refused; locality failover; partitions.

use std::time::{Duration, Instant};

use crate::support::{self, apply, chaos, outbound_of, request, tool, tool_stdin};

fn cluster_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["cluster"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_to_billing_path_goes_through_the_east_west_gateway() {
    let m = support::demo().await;
    let us_gateway = m.control_plane("us").gateway().expect("us gateway");
    let admin = m.admin("user-v1-0").await;
    let (_, dump) = support::http_get(&admin, "/config_dump").await;
    let dump: serde_json::Value = serde_json::from_str(&dump).expect("json");
    let billing = dump["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .find(|c| c["name"] == "outbound|8080||billing.default.svc.cluster.local")
        .expect("billing cluster");
    let endpoints = billing["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 3);
    for e in endpoints {
        assert_eq!(e["gateway"], us_gateway.to_string(), "{e}");
        assert_eq!(e["cluster"], "us");
    }
    // And the traffic really crosses it.
    let user = outbound_of(&m, "user-v1-0").await;
    for _ in 0..10 {
        assert_eq!(request(&user, "billing", "/", &[]).await.status, 200);
    }
    let gw_admin = m
        .workloads()
        .await
        .into_iter()
        .find(|w| w.kind == "eastwest-gateway" && w.cluster == "us")
        .and_then(|w| w.addresses.and_then(|a| a.admin))
        .expect("gateway admin");
    support::eventually(Duration::from_secs(5), "the gateway counts the spliced connections", || {
        let gw_admin = gw_admin.clone();
        async move {
            let (_, metrics) = support::http_get(&gw_admin, "/stats/prometheus").await;
            metrics
                .lines()
                .any(|l| l.starts_with("istio_tcp_connections_opened_total{destination_service=\"billing.default.svc.cluster.local\"") && !l.ends_with(" 0"))
        }
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_cluster_calls_carry_both_identities_and_the_gateway_sees_only_tls() {
    let m = support::demo().await;
    let port = m.control_plane("us").gateway().expect("us gateway").port();
    // Capture the us east-west gateway's port while traffic flows.
    let dir = tempfile::TempDir::new().expect("dir");
    let pcap = dir.path().join("gw.pcap");
    let mut capture = tokio::process::Command::new("tshark")
        .args([
            "-i",
            "lo",
            "-f",
            &format!("tcp port {port}"),
            "-a",
            "duration:6",
            "-w",
            pcap.to_str().expect("path"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tshark runs (Debian package tshark; captures need root)");
    // tshark says when it is capturing: start the traffic only then.
    {
        use tokio::io::AsyncBufReadExt;
        let stderr = capture.stderr.take().expect("stderr");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(l)) = lines.next_line().await {
                if l.contains("Capturing on") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            started,
            Ok(true),
            "tshark did not start capturing (run the tests as root)"
        );
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    }
    // New connections, so the capture holds handshakes too.
    chaos(&m, "kill", "user-v1-0", 0.0, 0).await;
    chaos(&m, "restart", "user-v1-0", 0.0, 0).await;
    m.mesh.wait_settled(Duration::from_secs(5)).await;
    let client = m.mesh.ingress_client().expect("client");
    for _ in 0..20 {
        assert_eq!(
            client.get("/checkout", &[]).await.expect("request").status,
            200
        );
    }
    let status = tokio::time::timeout(Duration::from_secs(20), capture.wait())
        .await
        .expect("capture ends")
        .expect("status");
    assert!(
        status.success(),
        "tshark could not capture (run the tests as root)"
    );
    let fields = tool(
        "tshark",
        &[
            "-r",
            pcap.to_str().expect("path"),
            "-d",
            &format!("tcp.port=={port},tls"),
            "-Y",
            "tcp.len > 0",
            "-T",
            "fields",
            "-e",
            "frame.protocols",
            "-e",
            "tcp.payload",
            "-e",
            "tls.handshake.type",
            "-e",
            "tls.handshake.extensions_server_name",
        ],
    );
    let out = String::from_utf8_lossy(&fields.stdout);
    let frames: Vec<&str> = out.lines().collect();
    assert!(
        frames.len() > 10,
        "captured {} payload frames",
        frames.len()
    );
    // The restarted user sidecar opened new connections: their ClientHellos
    // cross the gateway in the clear, carrying Istio's SNI form.
    assert!(
        frames.iter().any(|f| {
            let cols: Vec<&str> = f.split('\t').collect();
            cols.get(2).is_some_and(|t| t.split(',').any(|x| x == "1"))
                && cols
                    .get(3)
                    .is_some_and(|sni| sni.starts_with("outbound_.8080_"))
        }),
        "no ClientHello with an outbound_ SNI in the capture"
    );
    // On a loaded machine the capture can miss a segment; the next one then
    // starts inside a TLS record and tshark cannot name it (seen once in a
    // full run). A few such frames are tolerated; the plaintext check below
    // holds for every frame all the same.
    let undissected = frames
        .iter()
        .filter(|f| !f.split('\t').next().unwrap_or("").contains("tls"))
        .count();
    assert!(
        undissected * 50 <= frames.len(),
        "{undissected} of {} frames crossing the gateway are not TLS",
        frames.len()
    );
    for f in &frames {
        let mut cols = f.split('\t');
        let _protocols = cols.next();
        let payload = cols.next().unwrap_or("");
        // "GET /", "HTTP/" and "PRI *" in hex: no plaintext HTTP anywhere.
        for needle in ["474554202f", "485454502f", "505249202a"] {
            assert!(
                !payload.contains(needle),
                "plaintext on the wire: {payload}"
            );
        }
    }
    // billing saw the caller's eu identity, checked by its own sidecar.
    let admin = m.admin("billing-v1-0").await;
    let (_, metrics) = support::http_get(&admin, "/stats/prometheus").await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("istio_requests_total{reporter=\"destination\"")
                && l.contains("source_principal=\"spiffe://eu.mesh/ns/default/sa/user\"")
                && l.contains("connection_security_policy=\"mutual_tls\"")
                && l.contains("source_cluster=\"eu\"")
                && l.contains("destination_cluster=\"us\"")
        ),
        "billing's metrics name the eu caller"
    );
    m.stop().await;
}

/// A client certificate signed by a CA that no cluster trusts.
fn foreign_cert(dir: &std::path::Path) -> (String, String) {
    let ca = mesh::identity::CertificateAuthority::generate("mars.mesh").expect("third CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let id: mesh::identity::SpiffeId = "spiffe://mars.mesh/ns/default/sa/frontend"
        .parse()
        .expect("id");
    let issued = ca
        .sign_csr(&csr, &id, Duration::from_secs(600))
        .expect("signed");
    let cert = dir.join("mars.pem");
    let keyf = dir.join("mars-key.pem");
    std::fs::write(&cert, &issued.chain_pem[0]).expect("write");
    std::fs::write(&keyf, key.serialize_pem()).expect("write");
    (cert.to_string_lossy().into(), keyf.to_string_lossy().into())
}

fn s_client(inbound: &str, cert: &str, key: &str) -> String {
    let out = tool_stdin(
        "openssl",
        &[
            "s_client", "-connect", inbound, "-quiet", "-alpn", "http/1.1", "-cert", cert, "-key",
            key,
        ],
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unfederated_third_ca_is_refused_by_both_clusters() {
    let m = support::demo().await;
    let dir = tempfile::TempDir::new().expect("dir");
    let (cert, key) = foreign_cert(dir.path());
    for instance in ["frontend-v1-0", "billing-v1-0"] {
        let inbound = m
            .workload(instance)
            .await
            .addresses
            .and_then(|a| a.inbound)
            .expect("inbound");
        let out = s_client(&inbound, &cert, &key);
        assert!(
            !out.contains("HTTP/1.1 200"),
            "{instance} accepted a mars.mesh certificate: {out}"
        );
    }
    support::eventually(Duration::from_secs(5), "both refusals are events", || {
        let m = &m;
        async move {
            let clusters: std::collections::BTreeSet<String> = m
                .events()
                .await
                .into_iter()
                .filter(|e| e.kind == "denied" && e.message.contains("mars.mesh"))
                .map(|e| e.cluster)
                .collect();
            clusters.len() == 2
        }
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfederating_removes_the_peer_bundle_at_once_and_refederating_restores_it() {
    let m = support::demo().await;
    let user = outbound_of(&m, "user-v1-0").await;
    assert_eq!(request(&user, "billing", "/", &[]).await.status, 200);
    let said = chaos(&m, "unfederate", "eu,us", 0.0, 0).await;
    assert!(said.contains("no longer federated"), "{said}");
    m.mesh.wait_settled(Duration::from_secs(5)).await;
    let r = request(&user, "billing", "/", &[]).await;
    assert_eq!(
        r.status, 404,
        "billing is not known in eu any more: {}",
        r.body
    );
    // us proxies no longer trust eu certificates (no restart involved).
    let admin = m.admin("billing-v1-0").await;
    let (_, certs) = support::http_get(&admin, "/certs").await;
    let v: serde_json::Value = serde_json::from_str(&certs).expect("json");
    assert!(v["trust_domains"].get("eu.mesh").is_none(), "{v}");
    chaos(&m, "federate", "eu,us", 0.0, 0).await;
    support::eventually(Duration::from_secs(10), "traffic flows again", || {
        let user = user.clone();
        async move { request(&user, "billing", "/", &[]).await.status == 200 }
    })
    .await;
    m.stop().await;
}

fn failover_topology() -> mesh::api::Topology {
    support::topology(
        "
mesh: failover
clusters:
- name: eu
  trustDomain: eu.mesh
- name: us
  trustDomain: us.mesh
services:
- name: web
  cluster: eu
  versions: [{name: v1}]
  calls: [catalog]
- name: catalog
  cluster: eu
  versions: [{name: v1, replicas: 2}]
- name: catalog
  cluster: us
  versions: [{name: v1}]
load: {rps: 0}
",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_fails_over_to_the_other_cluster_and_comes_back() {
    let m = support::start(failover_topology(), |_| {}).await;
    let r = apply(
        &m,
        "
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: catalog, namespace: default}
spec:
  host: catalog
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 10s, maxEjectionPercent: 100}
    loadBalancer:
      localityLbSetting:
        enabled: true
        failover: [{from: eu, to: us}]
",
    )
    .await;
    assert!(r.applied, "{:?}", r.findings);
    let web = outbound_of(&m, "web-v1-0").await;
    // Healthy: locality keeps traffic in eu.
    let local = support::burst(&web, "catalog", "/", &[], 40, 4).await;
    assert!(
        local
            .iter()
            .all(|(s, b)| *s == 200 && cluster_of(b) == "eu"),
        "local first"
    );
    // Every local instance fails.
    chaos(&m, "fail", "catalog-v1-0.default.eu", 1.0, 0).await;
    chaos(&m, "fail", "catalog-v1-1.default.eu", 1.0, 0).await;
    let _warmup = support::burst(&web, "catalog", "/", &[], 8, 1).await;
    let during = support::burst(&web, "catalog", "/", &[], 200, 4).await;
    let ok = during
        .iter()
        .filter(|(s, b)| *s == 200 && cluster_of(b) == "us")
        .count();
    assert!(ok >= 198, "after ejection, {ok}/200 succeeded through us");
    // Local instances recover: traffic returns when their ejection ends.
    chaos(&m, "heal", "catalog", 0.0, 0).await;
    let started = Instant::now();
    support::eventually(Duration::from_secs(30), "traffic returns to eu", || {
        let web = web.clone();
        async move {
            let r = support::burst(&web, "catalog", "/", &[], 10, 2).await;
            r.iter().all(|(s, b)| *s == 200 && cluster_of(b) == "eu")
        }
    })
    .await;
    // Ejected for 10 s: back once that ends, not stuck elsewhere.
    assert!(started.elapsed() < Duration::from_secs(30));
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_fails_fast_and_heals_without_restarting_anything_else() {
    let m = support::demo().await;
    let user = outbound_of(&m, "user-v1-0").await;
    assert_eq!(request(&user, "billing", "/", &[]).await.status, 200);
    chaos(&m, "stop-gateway", "us", 0.0, 0).await;
    for _ in 0..10 {
        let t0 = Instant::now();
        let r = request(&user, "billing", "/", &[]).await;
        let took = t0.elapsed();
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(took < Duration::from_secs(2), "a failed call took {took:?}");
    }
    let status = tool(
        support::meshcon_bin().to_str().expect("path"),
        &[
            "get",
            "federation",
            "--mesh",
            &m.mesh.api_addr().to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("NOT reachable"), "{text}");
    chaos(&m, "start-gateway", "us", 0.0, 0).await;
    support::eventually(Duration::from_secs(10), "traffic crosses again", || {
        let user = user.clone();
        async move { request(&user, "billing", "/", &[]).await.status == 200 }
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_control_plane_link_goes_down_both_clusters_serve_on_the_last_known_endpoints() {
    let m = support::demo().await;
    let user = outbound_of(&m, "user-v1-0").await;
    chaos(&m, "stop-control-plane", "us", 0.0, 0).await;
    support::eventually(
        Duration::from_secs(10),
        "eu notices the link is down",
        || {
            let m = &m;
            async move { m.link_up("eu", "us") == Some(false) }
        },
    )
    .await;
    for _ in 0..20 {
        assert_eq!(request(&user, "billing", "/", &[]).await.status, 200);
    }
    let f: serde_json::Value = serde_json::from_str(
        &m.console()
            .await
            .federation(mesh::api::Empty {})
            .await
            .expect("federation")
            .into_inner()
            .text,
    )
    .expect("json");
    assert!(
        f["warnings"].as_array().is_some_and(|w| w.iter().any(|x| x
            .as_str()
            .is_some_and(|s| s.contains("last known endpoints")))),
        "{f}"
    );
    chaos(&m, "start-control-plane", "us", 0.0, 0).await;
    support::eventually(Duration::from_secs(10), "the link comes back", || {
        let m = &m;
        async move { m.link_up("eu", "us") == Some(true) }
    })
    .await;
    m.stop().await;
}

/// `/certs` of every sidecar and gateway of `cluster`.
async fn certs_of(m: &support::TestMesh, cluster: &str) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for w in m
        .workloads()
        .await
        .into_iter()
        .filter(|w| w.cluster == cluster && w.kind != "rogue")
    {
        let Some(admin) = w.addresses.and_then(|a| a.admin) else {
            continue;
        };
        let (status, body) = support::http_get(&admin, "/certs").await;
        if status == 200 {
            out.push((
                w.instance.clone(),
                serde_json::from_str(&body).expect("json"),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_rotation_reaches_every_proxy_and_the_peer_without_a_failed_request() {
    let m = support::demo().await;
    // One request per connection to billing: every cross-cluster call is a
    // new mTLS handshake through the gateway, in every phase of the rotation.
    let r = apply(
        &m,
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: billing, namespace: default}\nspec:\n  host: billing\n  trafficPolicy:\n    connectionPool:\n      http: {maxRequestsPerConnection: 1}\n",
    )
    .await;
    assert!(r.applied, "{:?}", r.findings);
    m.mesh.wait_settled(Duration::from_secs(5)).await;
    let eu = m.control_plane("eu");
    let old = eu.ca().fingerprint();
    let old_pem = eu.ca().root_pem().to_string();
    let user = outbound_of(&m, "user-v1-0").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let stop = std::sync::Arc::clone(&stop);
        let user = user.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            let until = Instant::now() + Duration::from_secs(90);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                let r = request(&user, "billing", "/", &[]).await;
                if r.status == 200 {
                    ok += 1;
                } else {
                    failed.push(format!("{} {:?}", r.status, r.body));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let said = chaos(&m, "rotate-root", "eu", 0.0, 0).await;
    let new = eu.ca().fingerprint();
    assert_ne!(new, old, "{said}");
    assert!(said.contains(&new[..12]), "{said}");
    // It signs only once the peer's proxies trust it.
    for (instance, c) in certs_of(&m, "us").await {
        let roots = &c["trust_domains"]["eu.mesh"];
        assert!(
            roots
                .as_array()
                .is_some_and(|r| r.iter().any(|f| f == new.as_str())),
            "{instance} does not trust the new eu root yet: {roots}"
        );
    }
    // Every eu proxy renews at once under the new root, without a restart.
    support::eventually(
        Duration::from_secs(30),
        "every eu proxy holds a certificate from the new root",
        || {
            let m = &m;
            let new = new.clone();
            async move {
                let certs = certs_of(m, "eu").await;
                !certs.is_empty()
                    && certs
                        .iter()
                        .all(|(_, c)| c["root_fingerprint"] == new.as_str())
            }
        },
    )
    .await;
    // Then both clusters drop the old root.
    support::eventually(
        Duration::from_secs(30),
        "both clusters trust only the new eu root",
        || {
            let m = &m;
            let (new, old) = (new.clone(), old.clone());
            async move {
                let mut all = certs_of(m, "eu").await;
                all.extend(certs_of(m, "us").await);
                all.iter().all(|(_, c)| {
                    let eu_roots = &c["trust_domains"]["eu.mesh"];
                    eu_roots.as_array().is_some_and(|r| {
                        r.iter().any(|f| f == new.as_str()) && !r.iter().any(|f| f == old.as_str())
                    })
                })
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = traffic.await.expect("traffic");
    assert!(ok > 20 && failed.is_empty(), "{ok} ok, failed: {failed:?}");

    // openssl agrees: a leaf now chains to the new root and not to the old.
    let dir = tempfile::TempDir::new().expect("dir");
    let (_, user_certs) = certs_of(&m, "eu")
        .await
        .into_iter()
        .find(|(i, _)| i == "user-v1-0")
        .expect("user");
    let chain: Vec<&str> = user_certs["chain_pem"]
        .as_array()
        .expect("chain")
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    let leaf = dir.path().join("leaf.pem");
    let new_root = dir.path().join("new.pem");
    let old_root = dir.path().join("old.pem");
    std::fs::write(&leaf, chain[0]).expect("write");
    std::fs::write(&new_root, chain.last().expect("root")).expect("write");
    std::fs::write(&old_root, &old_pem).expect("write");
    let path = |p: &std::path::Path| p.to_str().expect("path").to_string();
    let good = tool(
        "openssl",
        &["verify", "-CAfile", &path(&new_root), &path(&leaf)],
    );
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let bad = tool(
        "openssl",
        &["verify", "-CAfile", &path(&old_root), &path(&leaf)],
    );
    assert!(
        !bad.status.success(),
        "the old root must not verify the renewed leaf"
    );
    // The new root is what the state directory keeps.
    let kept = std::fs::read_to_string(m.state().join("ca").join("eu.pem")).expect("kept root");
    assert_eq!(kept.trim(), chain.last().expect("root").trim());
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_rotation_is_called_off_when_a_peer_cannot_learn_the_new_root() {
    let m = support::demo().await;
    let eu = m.control_plane("eu");
    let before = eu.roots_pem();
    // With eu's control plane down, us cannot follow it.
    chaos(&m, "stop-control-plane", "eu", 0.0, 0).await;
    support::eventually(
        Duration::from_secs(10),
        "us notices its link to eu is down",
        || {
            let m = &m;
            async move { m.link_up("us", "eu") == Some(false) }
        },
    )
    .await;
    let refused = m
        .console()
        .await
        .chaos(mesh::api::ChaosRequest {
            action: "rotate-root".into(),
            target: "eu".into(),
            ..Default::default()
        })
        .await
        .expect_err("a rotation the peer cannot follow is refused");
    assert!(
        refused.message().contains("link to eu is down"),
        "{}",
        refused.message()
    );
    assert_eq!(eu.roots_pem(), before, "nothing changed");
    let withdrawn = m
        .events()
        .await
        .into_iter()
        .any(|e| e.kind == "ca" && e.message.contains("withdrawn"));
    assert!(withdrawn, "the aborted rotation is an event");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_names_the_route_subset_gateway_and_identity_of_a_cross_cluster_call() {
    let m = support::demo().await;
    let r = support::apply_rule(&m, "header-routing.yaml").await;
    assert!(r.applied, "{:?}", r.findings);
    m.mesh.wait_settled(Duration::from_secs(5)).await;
    let ask = |headers: &[(&str, &str)]| mesh::api::ExplainRequest {
        source: "user-v1-0".into(),
        host: "billing".into(),
        path: "/".into(),
        method: "GET".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let answer = m
        .console()
        .await
        .explain(ask(&[("end-user", "tester")]))
        .await
        .expect("explain")
        .into_inner()
        .text;
    assert!(answer.contains("testers-to-canary"), "{answer}");
    assert!(
        answer.contains("outbound|8080|v2|billing.default.svc.cluster.local"),
        "{answer}"
    );
    assert!(
        answer.contains("via east-west gateway")
            && answer.contains("SNI outbound_.8080_.v2_.billing"),
        "{answer}"
    );
    assert!(
        answer.contains("spiffe://us.mesh/ns/default/sa/billing"),
        "{answer}"
    );
    assert!(
        !answer.contains("{") && !answer.contains("Some("),
        "no debug output: {answer}"
    );
    // Without the header the same request falls through to v1.
    let other = m
        .console()
        .await
        .explain(ask(&[]))
        .await
        .expect("explain")
        .into_inner()
        .text;
    assert!(
        other.contains("outbound|8080|v1|billing") && !other.contains("|v2|"),
        "{other}"
    );
    // And says why the header route passed it by.
    assert!(
        other.contains("does not match: no header end-user that is exact \"tester\""),
        "{other}"
    );
    m.stop().await;
}
