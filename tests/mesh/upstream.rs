//! How requests cross between sidecars: HTTP/1.1 on kept-alive mTLS
//! connections by default (Istio's `h2UpgradePolicy` DO_NOT_UPGRADE), one
//! multiplexed HTTP/2 connection when a DestinationRule says UPGRADE, a
//! connection replaced after `maxRequestsPerConnection` either way.

use std::time::Duration;

use crate::support::{self, TestMesh};

/// `envoy_cluster_upstream_cx_total` of the caller's clusters for `service`.
async fn connections_to(admin: &str, service: &str) -> u64 {
    let (status, text) = support::http_get(admin, "/stats/prometheus").await;
    assert_eq!(status, 200, "{text}");
    let host = format!("|{service}.default.svc.cluster.local\"");
    text.lines()
        .filter(|l| l.starts_with("envoy_cluster_upstream_cx_total{") && l.contains(&host))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The protocols auth's sidecar logged for requests from frontend, newest
/// `n`.
async fn protocols_seen_by_auth(m: &TestMesh, path: &str) -> Vec<String> {
    let admin = m.admin("auth-v1-0").await;
    let (status, body) = support::http_get(&admin, "/tap?n=512").await;
    assert_eq!(status, 200, "{body}");
    let entries: Vec<mesh::api::TapEntry> = serde_json::from_str(&body).expect("tap JSON");
    entries
        .into_iter()
        .filter(|e| e.reporter == "destination" && e.path == path)
        .map(|e| e.protocol)
        .collect()
}

/// Applies a DestinationRule for auth with `http` as its
/// `connectionPool.http`, waits until every proxy has it, and returns the
/// findings' messages.
async fn set_auth_pool(m: &TestMesh, http: &str) -> Vec<String> {
    let yaml = format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: auth, namespace: default}}\nspec:\n  host: auth\n  trafficPolicy:\n    connectionPool:\n      http: {{{http}}}\n"
    );
    let r = support::apply(m, &yaml).await;
    assert!(r.applied, "{:?}", r.findings);
    assert!(m.mesh.wait_settled(Duration::from_secs(10)).await);
    r.findings.into_iter().map(|f| f.message).collect()
}

async fn all_ok(outbound: &str, path: &str, n: usize, concurrency: usize) {
    for (status, body) in support::burst(outbound, "auth", path, &[], n, concurrency).await {
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http11_crosses_as_http11_on_kept_connections_and_as_http2_when_upgraded() {
    let m = support::start(mesh::api::Topology::demo(), |o| o.rps = Some(0.0)).await;
    let frontend = support::outbound_of(&m, "frontend-v1-0").await;
    let admin = m.admin("frontend-v1-0").await;

    // Sequential requests share one connection (start-up checks may have
    // opened it already); a concurrent burst opens more, and they are all
    // kept: the next requests open none.
    let start = connections_to(&admin, "auth").await;
    all_ok(&frontend, "/h1", 10, 1).await;
    let one = connections_to(&admin, "auth").await;
    assert!(
        one >= 1 && one <= start + 1,
        "ten requests one after another: {start} → {one} connections"
    );
    all_ok(&frontend, "/h1", 48, 16).await;
    let burst = connections_to(&admin, "auth").await;
    assert!(
        burst <= one + 16,
        "{one} → {burst} connections for 16 at a time"
    );
    all_ok(&frontend, "/h1", 48, 16).await;
    all_ok(&frontend, "/h1", 10, 1).await;
    assert_eq!(
        connections_to(&admin, "auth").await,
        burst,
        "kept connections are reused"
    );
    // A wider burst than there are connections: requests beyond the two
    // handshakes a pool runs at once wait for a connection to come back,
    // and every one is answered.
    all_ok(&frontend, "/h1", 128, 64).await;
    let seen = protocols_seen_by_auth(&m, "/h1").await;
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|p| p == "HTTP/1.1"), "{seen:?}");

    // UPGRADE: the same requests cross as HTTP/2, on one new connection.
    let findings = set_auth_pool(&m, "h2UpgradePolicy: UPGRADE").await;
    assert!(
        findings.iter().all(|f| !f.contains("h2UpgradePolicy")),
        "h2UpgradePolicy is implemented, not ignored: {findings:?}"
    );
    let before = connections_to(&admin, "auth").await;
    all_ok(&frontend, "/h2", 48, 16).await;
    assert_eq!(connections_to(&admin, "auth").await, before + 1);
    let seen = protocols_seen_by_auth(&m, "/h2").await;
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|p| p == "HTTP/2"), "{seen:?}");

    // maxRequestsPerConnection: 1 replaces the connection after every
    // request, on HTTP/1.1 too.
    set_auth_pool(&m, "maxRequestsPerConnection: 1").await;
    all_ok(&frontend, "/once", 1, 1).await;
    let before = connections_to(&admin, "auth").await;
    all_ok(&frontend, "/once", 5, 1).await;
    assert_eq!(connections_to(&admin, "auth").await, before + 5);
    let seen = protocols_seen_by_auth(&m, "/once").await;
    assert!(seen.iter().all(|p| p == "HTTP/1.1"), "{seen:?}");
}

/// A kept connection's server was verified under the roots of its
/// handshake: when the caller's roots change, it is not reused, and the
/// next request makes a new, verified one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_connections_are_not_reused_once_the_trusted_roots_change() {
    let m = support::start(mesh::api::Topology::demo(), |o| o.rps = Some(0.0)).await;
    let frontend = support::outbound_of(&m, "frontend-v1-0").await;
    let admin = m.admin("frontend-v1-0").await;
    all_ok(&frontend, "/", 10, 1).await;
    let kept = connections_to(&admin, "auth").await;
    all_ok(&frontend, "/", 10, 1).await;
    assert_eq!(
        connections_to(&admin, "auth").await,
        kept,
        "kept and reused"
    );

    // eu stops trusting us's root; auth (in eu) is still trusted.
    let said = support::chaos(&m, "unfederate", "eu,us", 0.0, 0).await;
    assert!(said.contains("no longer federated"), "{said}");
    assert!(m.mesh.wait_settled(Duration::from_secs(10)).await);
    all_ok(&frontend, "/", 10, 1).await;
    assert_eq!(
        connections_to(&admin, "auth").await,
        kept + 1,
        "one new connection under the new roots, then reused"
    );
}
