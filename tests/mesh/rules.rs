//! Traffic rules on a running mesh, measured from traffic (answers and
//! metrics), never from the config: weights, header matches, retries,
//! outlier detection, faults, timeouts, mirroring, pool limits, mTLS modes,
//! authorization; and the config life cycle (rejections, NACKs, history,
//! rollback, a control plane that goes away).

use std::time::{Duration, Instant};

use crate::support::{
    self, apply, apply_rule, burst, chaos, instance_of, outbound_of, request, version_of,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_90_10_canary_sends_ten_percent_of_2000_requests_to_v2() {
    let m = support::demo().await;
    let r = apply_rule(&m, "canary-90-10.yaml").await;
    assert!(r.summary.contains("ACKed"), "{}", r.summary);
    let user = outbound_of(&m, "user-v1-0").await;
    let answers = burst(&user, "billing", "/pay", &[], 2000, 16).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "all succeed");
    let v2 = answers
        .iter()
        .filter(|(_, b)| version_of(b) == "v2")
        .count();
    let share = v2 as f64 / 2000.0;
    assert!(
        (0.07..=0.13).contains(&share),
        "v2 got {v2} of 2000 ({:.1}%)",
        share * 100.0
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_matching_routes_all_tester_traffic_to_v2() {
    let m = support::demo().await;
    apply_rule(&m, "header-routing.yaml").await;
    let user = outbound_of(&m, "user-v1-0").await;
    let tester = burst(&user, "billing", "/", &[("end-user", "tester")], 200, 16).await;
    assert!(
        tester
            .iter()
            .all(|(s, b)| *s == 200 && version_of(b) == "v2"),
        "tester traffic must all reach v2"
    );
    let others = burst(&user, "billing", "/", &[("end-user", "alice")], 200, 16).await;
    assert!(
        others
            .iter()
            .all(|(s, b)| *s == 200 && version_of(b) == "v1"),
        "other users stay on v1"
    );
    // The header travels through the whole chain from the ingress, as the demo apps forward it.
    let client = m.mesh.ingress_client().expect("client");
    let a = client
        .get("/", &[("end-user", "tester")])
        .await
        .expect("request");
    let chain: serde_json::Value = serde_json::from_slice(&a.body).expect("json");
    assert_eq!(chain["calls"][1]["calls"][0]["version"], "v2", "{chain}");
    m.stop().await;
}

/// Billing's subsets with outlier detection: five 5xx in a row eject a
/// host for `ejection` (a Go duration).
fn outlier_rule(ejection: &str) -> String {
    format!(
        "
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: billing, namespace: default}}
spec:
  host: billing
  trafficPolicy:
    outlierDetection: {{consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: {ejection}, maxEjectionPercent: 100}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"
    )
}

const V1_ONLY: &str = "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: billing, namespace: default}
spec:
  hosts: [billing]
  http:
  - route:
    - destination: {host: billing, subset: v1}
";

const V1_WITH_RETRIES: &str = "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: billing, namespace: default}
spec:
  hosts: [billing]
  http:
  - route:
    - destination: {host: billing, subset: v1}
    retries: {attempts: 3, retryOn: 5xx}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_5xx_raise_success_from_about_half_to_over_99_percent() {
    let m = support::demo().await;
    apply_rule(&m, "billing-subsets.yaml").await;
    apply(&m, V1_ONLY).await;
    // One of the two v1 instances fails: half the requests fail without retries.
    let said = chaos(&m, "fail", "billing-v1-0", 1.0, 0).await;
    assert!(said.contains("billing-v1-0"), "{said}");
    let user = outbound_of(&m, "user-v1-0").await;
    let without = burst(&user, "billing", "/", &[], 400, 8).await;
    let ok_without = without.iter().filter(|(s, _)| *s == 200).count() as f64 / 400.0;
    assert!(
        (0.35..=0.65).contains(&ok_without),
        "without retries {:.1}% succeed",
        ok_without * 100.0
    );

    let r = apply(&m, V1_WITH_RETRIES).await;
    assert!(r.applied, "{:?}", r.findings);
    let with = burst(&user, "billing", "/", &[], 400, 8).await;
    let ok_with = with.iter().filter(|(s, _)| *s == 200).count() as f64 / 400.0;
    assert!(
        ok_with >= 0.99,
        "with retries only {:.1}% succeed",
        ok_with * 100.0
    );
    // The retries are visible in the source sidecar's Envoy-style counter.
    let admin = m.admin("user-v1-0").await;
    let (_, metrics) = support::http_get(&admin, "/stats/prometheus").await;
    let retries: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("envoy_cluster_upstream_rq_retry{cluster_name=\"outbound|8080|v1|billing")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        retries >= 100.0,
        "about half of 400 requests were retried, counter says {retries}"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlier_detection_ejects_after_five_consecutive_503s_until_the_ejection_ends() {
    let m = support::demo().await;
    apply(&m, &outlier_rule("3s")).await;
    apply(&m, V1_ONLY).await;
    chaos(&m, "fail", "billing-v1-0", 1.0, 0).await;
    let user = outbound_of(&m, "user-v1-0").await;
    // Round robin over two hosts: v1-0 answers 503 five times within the first ten requests.
    let first = burst(&user, "billing", "/", &[], 10, 1).await;
    let failed_first = first.iter().filter(|(s, _)| *s == 503).count();
    assert_eq!(
        failed_first,
        5,
        "v1-0 should fail 5 times before ejection: {:?}",
        first.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    let ejected_at = Instant::now();
    // While ejected, v1-0 gets nothing.
    let during = burst(&user, "billing", "/", &[], 40, 4).await;
    if ejected_at.elapsed() < Duration::from_millis(2500) {
        assert!(
            during
                .iter()
                .all(|(s, b)| *s == 200 && instance_of(b) == "billing-v1-1"),
            "traffic reached the ejected host"
        );
    }
    // When the ejection ends, it gets traffic again (and fails again).
    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(ejected_at.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let after = burst(&user, "billing", "/", &[], 10, 1).await;
    assert!(
        after.iter().any(|(s, _)| *s == 503),
        "the host should be back after its 3 s ejection"
    );
    // The ejection is an event and a counter.
    let admin = m.admin("user-v1-0").await;
    let (_, metrics) = support::http_get(&admin, "/stats/prometheus").await;
    assert!(
        metrics.lines().any(|l| l.starts_with("envoy_cluster_outlier_detection_ejections_enforced_total{cluster_name=\"outbound|8080|v1|billing") && !l.ends_with(" 0")),
        "ejection counter"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_fault_answers_503_with_fi_and_a_delay_shows_in_latency() {
    let m = support::demo().await;
    apply(
        &m,
        "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: auth, namespace: default}
spec:
  hosts: [auth]
  http:
  - fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route:
    - destination: {host: auth}
",
    )
    .await;
    let frontend = outbound_of(&m, "frontend-v1-0").await;
    let r = request(&frontend, "auth", "/", &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-meshcon-flags"), Some("FI"));
    let admin = m.admin("frontend-v1-0").await;
    let (_, metrics) = support::http_get(&admin, "/stats/prometheus").await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("istio_requests_total{reporter=\"source\"")
                && l.contains("destination_service_name=\"auth\"")
                && l.contains("response_code=\"503\"")
                && l.contains("response_flags=\"FI\"")
        ),
        "FI in metrics"
    );
    apply_rule(&m, "auth-delay.yaml").await;
    let t0 = Instant::now();
    let r = request(&frontend, "auth", "/", &[]).await;
    let took = t0.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        took >= Duration::from_millis(500),
        "the 500 ms delay did not show: {took:?}"
    );
    assert_eq!(r.header("x-meshcon-flags"), Some("DI"));
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_timeout_turns_a_slow_answer_into_504_ut() {
    let m = support::demo().await;
    apply_rule(&m, "timeout-2s.yaml").await;
    chaos(&m, "slow", "billing", 0.0, 3000).await;
    let user = outbound_of(&m, "user-v1-0").await;
    let t0 = Instant::now();
    let r = request(&user, "billing", "/", &[]).await;
    let took = t0.elapsed();
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(
        r.header("x-meshcon-flags")
            .is_some_and(|f| f.contains("UT")),
        "{:?}",
        r.headers
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(2900),
        "{took:?}"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_files_are_rejected_with_positions_and_change_nothing() {
    let m = support::demo().await;
    apply_rule(&m, "canary-90-10.yaml").await;
    let before = m.mesh.store().current().version;
    let bin = support::meshcon_bin();
    let api = m.mesh.api_addr().to_string();
    let dir = tempfile::TempDir::new().expect("dir");
    let cases = [
        ("bad-yaml.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x\nspec: {}\n", "bad-yaml.yaml:"),
        (
            "missing-subset.yaml",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: billing}\nspec:\n  hosts: [billing]\n  http:\n  - route:\n    - destination: {host: billing, subset: v9}\n",
            "missing-subset.yaml:8:",
        ),
        (
            "weights.yaml",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: billing}\nspec:\n  hosts: [billing]\n  http:\n  - route:\n    - destination: {host: billing, subset: v1}\n      weight: 80\n    - destination: {host: billing, subset: v2}\n      weight: 10\n",
            "weights.yaml:7:",
        ),
    ];
    for (name, yaml, position) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, yaml).expect("write");
        let out = support::tool(
            bin.to_str().expect("path"),
            &["apply", "-f", path.to_str().expect("path"), "--mesh", &api],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(position),
            "{name}: expected a finding at {position}: {err}"
        );
        assert!(
            err.contains("fix:"),
            "{name}: findings say what to do: {err}"
        );
        assert!(err.contains(&format!("v{before} stays current")), "{err}");
    }
    assert!(String::from_utf8_lossy(
        &support::tool(
            bin.to_str().expect("path"),
            &[
                "apply",
                "-f",
                dir.path().join("weights.yaml").to_str().expect("p"),
                "--mesh",
                &api
            ]
        )
        .stderr
    )
    .contains("add up to 90"));
    assert_eq!(
        m.mesh.store().current().version,
        before,
        "the version must not move"
    );
    // Traffic still follows the last good config.
    let user = outbound_of(&m, "user-v1-0").await;
    let answers = burst(&user, "billing", "/", &[], 200, 16).await;
    assert!(answers.iter().all(|(s, _)| *s == 200));
    assert!(
        answers.iter().any(|(_, b)| version_of(b) == "v2"),
        "the 90/10 canary still applies"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_a_proxy_cannot_build_is_nacked_and_the_old_config_kept() {
    let m = support::demo().await;
    apply_rule(&m, "header-routing.yaml").await;
    // Bypass validation, as a buggy control plane would: a regex no proxy accepts.
    let store = m.mesh.store();
    let mut resources = store.current().resources.as_ref().clone();
    let bad = mesh::api::config::parse(
        "x",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: billing}\nspec:\n  hosts: [billing]\n  http:\n  - match: [{uri: {regex: '(unclosed'}}]\n    route: [{destination: {host: billing, subset: v2}}]\n",
    );
    let bad = bad.resources.into_iter().next().expect("parsed").resource;
    resources.retain(|r| r.key() != bad.key());
    resources.push(bad);
    let version = store
        .commit(resources, "test: bypass validation")
        .expect("commit");
    let mut nacked = Vec::new();
    for cp in m.mesh.control_planes() {
        nacked.extend(
            cp.wait_converged(version, Duration::from_secs(10))
                .await
                .nacked,
        );
    }
    assert!(
        nacked
            .iter()
            .any(|(p, r)| p.starts_with("user-v1-0") && r.contains("regex")),
        "{nacked:?}"
    );
    let proxies = m
        .console()
        .await
        .proxies(mesh::api::Empty {})
        .await
        .expect("proxies")
        .into_inner();
    let user = proxies
        .proxies
        .iter()
        .find(|p| p.id.starts_with("user-v1-0"))
        .expect("user proxy");
    assert_eq!(user.state, "NACKED");
    assert!(user.acked_version < version);
    // The user sidecar still routes testers to v2 with its previous config.
    let out = outbound_of(&m, "user-v1-0").await;
    let r = burst(&out, "billing", "/", &[("end-user", "tester")], 20, 4).await;
    assert!(r.iter().all(|(s, b)| *s == 200 && version_of(b) == "v2"));
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_survives_a_dead_control_plane_and_proxies_resync_when_it_returns() {
    let m = support::demo().await;
    let client = m.mesh.ingress_client().expect("client");
    chaos(&m, "stop-control-plane", "eu", 0.0, 0).await;
    chaos(&m, "stop-control-plane", "us", 0.0, 0).await;
    for i in 0..50 {
        let a = client.get("/", &[]).await.expect("request");
        assert_eq!(a.status, 200, "request {i} with the control planes down");
    }
    // A change made while they are down...
    let applied = apply_rule(&m, "header-routing.yaml").await;
    assert_eq!(
        applied.proxies_total, 0,
        "no proxy is connected: {}",
        applied.summary
    );
    // ...says which proxies have not got it yet...
    assert_eq!(applied.disconnected.len(), 11, "{:?}", applied.disconnected);
    assert!(
        applied
            .summary
            .contains("11 not connected to a control plane"),
        "{}",
        applied.summary
    );
    chaos(&m, "start-control-plane", "eu", 0.0, 0).await;
    chaos(&m, "start-control-plane", "us", 0.0, 0).await;
    // ...reaches every proxy when they are back.
    let version = applied.version;
    support::eventually(
        Duration::from_secs(20),
        "every proxy reconnects and ACKs the current version",
        || {
            let m = &m;
            async move {
                let p = m
                    .console()
                    .await
                    .proxies(mesh::api::Empty {})
                    .await
                    .expect("proxies")
                    .into_inner();
                p.proxies.len() >= 11
                    && p.proxies
                        .iter()
                        .all(|x| x.connected && x.state == "ACKED" && x.acked_version >= version)
            }
        },
    )
    .await;
    let a = client
        .get("/", &[("end-user", "tester")])
        .await
        .expect("request");
    let chain: serde_json::Value = serde_json::from_slice(&a.body).expect("json");
    assert_eq!(chain["calls"][1]["calls"][0]["version"], "v2");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_restart_and_rollback_restores_an_old_version() {
    let dir = tempfile::TempDir::new().expect("dir");
    let path = dir.path().to_path_buf();
    let mut o = support::options(mesh::api::Topology::demo(), &dir);
    o.state_dir = path.clone();
    let mesh1 = mesh::runtime::Mesh::start(o.clone()).await.expect("start");
    let m = support::TestMesh {
        mesh: mesh1,
        dir,
        slot: support::Slot::take().await,
    };
    let v1 = apply_rule(&m, "canary-90-10.yaml").await.version;
    let v2 = apply_rule(&m, "header-routing.yaml").await.version;
    assert_eq!(v2, v1 + 1);
    let dir = m.stop().await;
    // Restart on the same state directory.
    let mesh2 = mesh::runtime::Mesh::start(o).await.expect("restart");
    let m = support::TestMesh {
        mesh: mesh2,
        dir,
        slot: support::Slot::take().await,
    };
    let mut c = m.console().await;
    let h = c
        .history(mesh::api::Empty {})
        .await
        .expect("history")
        .into_inner();
    let versions: Vec<u64> = h.entries.iter().map(|e| e.version).collect();
    assert_eq!(versions, [v1, v2]);
    let user = outbound_of(&m, "user-v1-0").await;
    let tester = burst(&user, "billing", "/", &[("end-user", "tester")], 20, 4).await;
    assert!(
        tester.iter().all(|(_, b)| version_of(b) == "v2"),
        "v{v2} is in force after the restart"
    );
    let d = c
        .diff(mesh::api::DiffRequest { from: v1, to: v2 })
        .await
        .expect("diff")
        .into_inner()
        .text;
    assert!(d.contains("+") && d.contains("end-user"), "{d}");
    let back = c
        .rollback(mesh::api::RollbackRequest { version: v1 })
        .await
        .expect("rollback")
        .into_inner();
    assert_eq!(back.version, v2 + 1);
    let answers = burst(&user, "billing", "/", &[("end-user", "tester")], 300, 16).await;
    let v2s = answers
        .iter()
        .filter(|(_, b)| version_of(b) == "v2")
        .count();
    assert!(
        v2s > 5 && v2s < 90,
        "after rollback to the canary, testers get about 10% v2: {v2s}/300"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_by_principal_refuses_the_user_with_rbac() {
    let m = support::demo().await;
    apply_rule(&m, "deny-user.yaml").await;
    let user = outbound_of(&m, "user-v1-0").await;
    let r = request(&user, "billing", "/", &[]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("RBAC"), "{}", r.body);
    // Another caller with another identity is still served (through the ingress chain, catalog is fine).
    let frontend = outbound_of(&m, "frontend-v1-0").await;
    assert_eq!(request(&frontend, "catalog", "/", &[]).await.status, 200);
    m.stop().await;
}

/// An AuthorizationPolicy on billing that allows callers with `source`.
fn allow_billing_from(source: &str) -> String {
    format!(
        "
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: billing-from, namespace: default}}
spec:
  selector: {{matchLabels: {{app: billing}}}}
  rules:
  - from:
    - source: {{{source}}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_policy_on_ip_blocks_admits_only_those_addresses() {
    let m = support::demo().await;
    let user = outbound_of(&m, "user-v1-0").await;
    // Istio would allow only callers from 10.99.0.0/16, so nobody here.
    let reply = support::apply(&m, &allow_billing_from("ipBlocks: [10.99.0.0/16]")).await;
    assert!(reply.applied, "{:?}", reply.findings);
    let r = request(&user, "billing", "/", &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("RBAC"), "{}", r.body);
    // The sidecars' pod addresses are loopback ones (or 127.0.0.1).
    let reply = support::apply(&m, &allow_billing_from("ipBlocks: [127.0.0.0/8]")).await;
    assert!(reply.applied, "{:?}", reply.findings);
    assert_eq!(request(&user, "billing", "/", &[]).await.status, 200);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_policy_on_a_condition_meshcon_does_not_evaluate_fails_closed() {
    let m = support::demo().await;
    // JWT principals are not evaluated: Istio would allow only requests
    // with a token, and meshcon must not allow more.
    let reply = support::apply(&m, &allow_billing_from("requestPrincipals: ['*']")).await;
    assert!(reply.applied, "{:?}", reply.findings);
    assert!(
        reply.findings.iter().any(|f| {
            f.message.contains("`requestPrincipals`") && f.message.contains("fail closed")
        }),
        "the apply says how the condition is enforced: {:?}",
        reply.findings
    );
    let user = outbound_of(&m, "user-v1-0").await;
    let r = request(&user, "billing", "/", &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("RBAC"), "{}", r.body);
    // A second rule meshcon does evaluate still allows what it names.
    let reply = support::apply(
        &m,
        &format!(
            "{}  - from:
    - source:
        principals: [cluster.local/ns/default/sa/user]
",
            allow_billing_from("requestPrincipals: ['*']")
        ),
    )
    .await;
    assert!(reply.applied, "{:?}", reply.findings);
    support::eventually(Duration::from_secs(10), "user is allowed again", || {
        let user = user.clone();
        async move { request(&user, "billing", "/", &[]).await.status == 200 }
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_mode_accepts_plaintext_and_strict_refuses_it() {
    let m = support::demo().await;
    let inbound = m
        .workload("catalog-v1-0")
        .await
        .addresses
        .and_then(|a| a.inbound)
        .expect("inbound");
    let curl = |inbound: &str| {
        support::tool(
            "curl",
            &[
                "-sS",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("http://{inbound}/"),
            ],
        )
    };
    let before = curl(&inbound);
    assert!(
        !before.status.success(),
        "STRICT is the default: {}",
        String::from_utf8_lossy(&before.stdout)
    );
    apply_rule(&m, "permissive-mtls.yaml").await;
    let (status, body) = support::http_get(&inbound, "/").await;
    assert_eq!(status, 200, "{body}");
    apply_rule(&m, "strict-mtls.yaml").await;
    assert!(
        !curl(&inbound).status.success(),
        "STRICT refuses plaintext again"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirroring_copies_traffic_to_v2_and_answers_from_v1() {
    let m = support::demo().await;
    apply_rule(&m, "billing-subsets.yaml").await;
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
    mirror: {host: billing, subset: v2}
    mirrorPercentage: {value: 100}
",
    )
    .await;
    let user = outbound_of(&m, "user-v1-0").await;
    let answers = burst(&user, "billing", "/", &[], 50, 5).await;
    assert!(answers
        .iter()
        .all(|(s, b)| *s == 200 && version_of(b) == "v1"));
    let admin = m.admin("billing-v2-0").await;
    support::eventually(
        Duration::from_secs(5),
        "v2 receives the mirrored copies",
        || {
            let admin = admin.clone();
            async move {
                let (_, metrics) = support::http_get(&admin, "/stats/prometheus").await;
                metrics
                    .lines()
                    .filter(|l| {
                        l.starts_with("istio_requests_total{reporter=\"destination\"")
                            && l.contains("source_workload=\"user-v1\"")
                    })
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                    .sum::<u64>()
                    >= 45
            }
        },
    )
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_keeps_a_user_on_one_instance() {
    let m = support::demo().await;
    apply(
        &m,
        "
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: frontend, namespace: default}
spec:
  host: frontend
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: end-user}
",
    )
    .await;
    let client = m.mesh.ingress_client().expect("client");
    for user in ["ann", "bob", "cho"] {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..15 {
            let a = client
                .get("/", &[("end-user", user)])
                .await
                .expect("request");
            seen.insert(instance_of(&String::from_utf8_lossy(&a.body)));
        }
        assert_eq!(seen.len(), 1, "{user} was spread over {seen:?}");
    }
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_connection_pool_overflows_with_503_uo() {
    let m = support::demo().await;
    apply(
        &m,
        "
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: billing, namespace: default}
spec:
  host: billing
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1}
",
    )
    .await;
    chaos(&m, "slow", "billing", 0.0, 300).await;
    let user = outbound_of(&m, "user-v1-0").await;
    // Scraped meanwhile, as the console does, so the overflows have a rate.
    let ((signals, now), answers) = tokio::join!(support::scrape_alongside(&m, 5), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        burst(&user, "billing", "/", &[], 6, 6).await
    });
    let overflow = answers
        .iter()
        .filter(|(s, b)| *s == 503 && b.contains("overflow"))
        .count();
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(
        overflow >= 3,
        "6 at once with 1 in flight and 1 pending: {overflow} overflowed"
    );
    assert!((1..=2).contains(&ok), "{ok} got through");
    // The overflows are told apart in the edges the console and `get edges`
    // show (the caller's proxy reports them with Envoy's UO flag).
    let edges = signals.edges(30.0, now);
    assert!(
        edges
            .iter()
            .any(|e| e.source == "user-v1" && e.service == "billing" && e.overflow_rate > 0.0),
        "{edges:?}"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_takes_short_kinds_v_versions_and_checks_chaos_amounts_and_reapplies_are_no_ops() {
    let m = support::demo().await;
    let v = apply_rule(&m, "canary-90-10.yaml").await.version;
    // The same file again changes nothing and makes no version.
    let again = apply_rule(&m, "canary-90-10.yaml").await;
    assert_eq!(again.version, v);
    assert!(again.summary.starts_with("unchanged"), "{}", again.summary);
    let bin = support::meshcon_bin();
    let api = m.mesh.api_addr().to_string();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--mesh", &api]);
        let out = support::tool(bin.to_str().expect("path"), &all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = run(&["delete", "vs", "billing"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("v{}", v + 1)), "{out}");
    let (code, out, err) = run(&["diff", &format!("v{v}"), &format!("v{}", v + 1)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("-kind: VirtualService"), "{out}");
    let (code, _, err) = run(&["diff", "latest"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a config version"), "{err}");
    let (code, _, err) = run(&["chaos", "fail", "billing-v1-0", "--rate", "1.5"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("at most 1"), "{err}");
    let (code, out, err) = run(&["chaos", "fail", "billing-v1-0"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("billing-v1-0 now fails 100%"), "{out}");
    let (code, out, err) = run(&["get", "events", "--limit", "3"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let (code, _, err) = run(&["get", "traces", "--trace-id", "deadbeef"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no trace deadbeef"), "{err}");
    let (code, _, err) = run(&["chaos", "slow", "auth", "--rate", "0.5"]);
    assert_eq!(code, Some(2), "an amount the action ignores: {err}");
    let (code, _, err) = run(&["delete", "foo", "billing"]);
    assert_eq!(code, Some(2), "{err}");
    // Rolling back to what runs already makes no version either.
    let current = m.mesh.store().current().version;
    let (code, out, err) = run(&["rollback", &format!("v{current}")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("unchanged"), "{out}");
    assert_eq!(m.mesh.store().current().version, current);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_events_say_whether_the_cli_or_the_console_caused_them() {
    let m = support::demo().await;
    let api = m.mesh.api_addr().to_string();
    let out = support::tool(
        support::meshcon_bin().to_str().expect("path"),
        &["chaos", "slow", "auth", "--delay-ms", "50", "--mesh", &api],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = m.events().await;
    let chaos = events
        .iter()
        .rev()
        .find(|e| e.kind == "chaos")
        .expect("a chaos event");
    assert_eq!(chaos.source, "cli", "{chaos:?}");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ejected_instance_is_said_in_get_workloads() {
    let m = support::demo().await;
    apply(&m, &outlier_rule("60s")).await;
    apply(&m, V1_ONLY).await;
    chaos(&m, "fail", "billing-v1-0", 1.0, 0).await;
    let user = outbound_of(&m, "user-v1-0").await;
    burst(&user, "billing", "/", &[], 10, 1).await;
    let api = m.mesh.api_addr().to_string();
    let bin = support::meshcon_bin();
    let row = |out: &str| -> Option<String> {
        out.lines()
            .find(|l| l.contains("billing-v1-0"))
            .map(str::to_string)
    };
    let mut last = String::new();
    support::eventually(
        Duration::from_secs(20),
        "billing-v1-0 listed as ejected",
        || {
            let out = support::tool(
                bin.to_str().expect("path"),
                &["get", "workloads", "--mesh", &api],
            );
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            let ok = row(&last).is_some_and(|r| r.split_whitespace().any(|w| w == "ejected"));
            async move { ok }
        },
    )
    .await;
    // Its sibling is not.
    let sibling = last
        .lines()
        .find(|l| l.contains("billing-v1-1"))
        .unwrap_or_default()
        .to_string();
    assert!(!sibling.contains("ejected"), "{sibling}");
    m.stop().await;
}
