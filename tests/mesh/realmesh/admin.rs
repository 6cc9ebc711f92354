//! Envoy's admin API fetched over HTTP from a real server on loopback, and
//! what a wrong, hostile or absent one gives: a sentence, never a panic or
//! an unbounded read.

use std::time::Duration;

use bytes::Bytes;
use mesh::api::realmesh::{self, RealMeshError};

use super::{serve, Answer};

const DUMP: &str = r#"{"configs":[
 {"@type":"type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
  "static_clusters":[{"cluster":{"name":"agent","type":"STATIC"}}],
  "dynamic_active_clusters":[{"version_info":"1","cluster":{"@type":"type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "name":"outbound|9080|v2|reviews.default.svc.cluster.local","type":"EDS"}}]},
 {"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
  "dynamic_endpoint_configs":[{"endpoint_config":{"cluster_name":"outbound|9080|v2|reviews.default.svc.cluster.local",
    "endpoints":[{"locality":{"region":"eu-west1","zone":"b"},"lb_endpoints":[
      {"endpoint":{"address":{"socket_address":{"address":"10.1.0.7","port_value":9080}}},"health_status":"HEALTHY","load_balancing_weight":1},
      {"endpoint":{"address":{"socket_address":{"address":"10.1.0.8","port_value":9080}}},"health_status":"UNHEALTHY"}]}]}}]},
 {"@type":"type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
  "dynamic_route_configs":[{"route_config":{"name":"9080","virtual_hosts":[
    {"name":"reviews.default.svc.cluster.local:9080","domains":["reviews.default.svc.cluster.local","reviews","reviews.default.svc.cluster.local:9080","reviews:9080"],
     "routes":[{"match":{"prefix":"/"},"route":{"weighted_clusters":{"clusters":[
        {"name":"outbound|9080|v1|reviews.default.svc.cluster.local","weight":90},
        {"name":"outbound|9080|v2|reviews.default.svc.cluster.local","weight":10}]}},
       "metadata":{"filter_metadata":{"istio":{"config":"/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews"}}}}]},
    {"name":"allow_any","domains":["*"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"PassthroughCluster"}}]}]}}]}
]}"#;

const CERTS: &str = r#"{"certificates":[{"ca_cert":[{"path":"<inline>","serial_number":"8d5bc1b1c3f2a4e3","subject_alt_names":[],
  "days_until_expiration":"3649","valid_from":"2024-01-01T00:00:00Z","expiration_time":"2033-12-29T00:00:00Z"}],
 "cert_chain":[{"path":"<inline>","serial_number":"5e1a","subject_alt_names":[{"uri":"spiffe://cluster.local/ns/default/sa/bookinfo-reviews"}],
  "days_until_expiration":"0","valid_from":"2024-01-01T00:00:00Z","expiration_time":"2024-01-02T00:00:00Z"}]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_admin_port_gives_clusters_endpoints_routes_and_certs() {
    let (addr, seen) = serve(vec![
        ("/config_dump", Answer::json(DUMP)),
        ("/certs", Answer::json(CERTS)),
    ])
    .await;
    let admin = addr.to_string();
    let d = realmesh::fetch_config_dump(&admin, Duration::from_secs(30))
        .await
        .expect("dump");
    assert!(
        seen.lock().iter().any(|p| p == "/config_dump?include_eds"),
        "endpoints are asked for: {:?}",
        seen.lock()
    );
    assert_eq!(d.clusters.len(), 2);
    let reviews = &d.clusters[1];
    assert_eq!(
        (
            reviews.service.as_str(),
            reviews.port,
            reviews.subset.as_str(),
            reviews.direction.as_str()
        ),
        (
            "reviews.default.svc.cluster.local",
            Some(9080),
            "v2",
            "outbound"
        )
    );
    assert!(reviews.dynamic && reviews.discovery == "EDS");
    let health: Vec<(&str, &str)> = d
        .endpoints
        .iter()
        .map(|e| (e.address.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(
        health,
        [("10.1.0.7:9080", "HEALTHY"), ("10.1.0.8:9080", "UNHEALTHY")]
    );
    assert_eq!(d.endpoints[0].locality, "eu-west1/b");
    assert_eq!(d.routes.len(), 1, "the passthrough route is not listed");
    let r = &d.routes[0];
    // As istioctl: ports dropped, the FQDN kept (its short form `reviews.default` is not listed).
    assert_eq!(r.domains_text, "reviews.default.svc.cluster.local, reviews");
    assert_eq!(r.match_text, "/*");
    assert_eq!(r.virtual_service, "reviews.default");
    assert!(r.destination.contains("v1") && r.destination.contains("v2"));

    let certs = realmesh::fetch_certs(&admin, Duration::from_secs(30))
        .await
        .expect("certs");
    assert_eq!(certs.len(), 2);
    assert_eq!(
        certs[1].spiffe_id.as_deref(),
        Some("spiffe://cluster.local/ns/default/sa/bookinfo-reviews")
    );
    assert_eq!(certs[0].days_until_expiration, Some(3649));

    // The CLI reads the same proxy.
    let out = tokio::process::Command::new(crate::support::meshcon_bin())
        .args(["get", "proxy-config", "endpoint", "--envoy-admin", &admin])
        .output()
        .await
        .expect("meshcon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("10.1.0.8:9080") && l.contains("UNHEALTHY")),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_huge_and_absent_admin_ports_are_clear_errors() {
    // Over the bound: refused from Content-Length, before reading it.
    let huge = Bytes::from(vec![b' '; realmesh::MAX_DUMP_BYTES + 1]);
    let (addr, _) = serve(vec![
        ("/config_dump", Answer::json(huge)),
        (
            "/certs",
            Answer::text("<html><body>It works!</body></html>"),
        ),
    ])
    .await;
    let admin = addr.to_string();
    let e = realmesh::fetch_config_dump(&admin, Duration::from_secs(60))
        .await
        .expect_err("too large");
    assert!(matches!(e, RealMeshError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("larger than"), "{e}");

    let e = realmesh::fetch_certs(&admin, Duration::from_secs(30))
        .await
        .expect_err("html");
    assert!(e.to_string().contains("malformed certs"), "{e}");
    assert!(e.to_string().contains("/certs"), "{e}");

    // An admin port that is not Envoy's (a 404).
    let (other, _) = serve(vec![]).await;
    let e = realmesh::fetch_config_dump(&other.to_string(), Duration::from_secs(30))
        .await
        .expect_err("404");
    assert!(e.to_string().contains("404"), "{e}");

    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let e = realmesh::fetch_config_dump(&closed.to_string(), Duration::from_secs(30))
        .await
        .expect_err("closed");
    assert!(e.to_string().contains("cannot connect"), "{e}");

    // Not an address at all.
    let e = realmesh::fetch_config_dump("envoy", Duration::from_secs(1))
        .await
        .expect_err("no port");
    assert!(e.to_string().contains("HOST:PORT"), "{e}");
}

#[test]
fn a_saved_dump_over_the_bound_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.json");
    let f = std::fs::File::create(&path).expect("create");
    // A sparse file: large on paper, cheap to make.
    f.set_len(realmesh::MAX_DUMP_BYTES as u64 + 10)
        .expect("size");
    let e = realmesh::read_config_dump(&path).expect_err("too large");
    assert!(e.to_string().contains("larger than"), "{e}");
    let e = realmesh::read_config_dump(&dir.path().join("missing.json")).expect_err("missing");
    assert!(e.to_string().contains("missing.json"), "{e}");
}
