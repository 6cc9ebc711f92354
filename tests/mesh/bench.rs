//! The data-plane benchmark's yardstick is what it claims to be: two nginx
//! proxies with keep-alive and mTLS between them, on certificates from our CA.

use std::path::Path;

use mesh::bench::{reference_server, Layout, NginxPair, SERVER_NAME};
use tokio_util::sync::CancellationToken;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_pair_proxies_over_mtls_and_refuses_a_client_without_a_certificate() {
    let cancel = CancellationToken::new();
    let server = reference_server(1024, cancel.clone())
        .await
        .expect("reference server");
    // Both ways the bench runs it: one worker hosting both proxies, and a
    // process each.
    for layout in [Layout::OneWorker, Layout::TwoProcesses] {
        let dir = tempfile::TempDir::new().expect("dir");
        let pair = NginxPair::start(Path::new("nginx"), server, dir.path(), layout)
            .await
            .unwrap_or_else(|e| panic!("{e} (install nginx-light, see .ci/run)"));
        let r = support::request(&pair.entry.to_string(), "ref", "/bench", &[]).await;
        assert_eq!(r.status, 200, "{layout:?}: {}", r.body);
        assert_eq!(r.body.len(), 1024);

        let file = |n: &str| dir.path().join(n).display().to_string();
        let url = format!("https://{SERVER_NAME}:{}/bench", pair.mtls.port());
        let resolve = format!("{SERVER_NAME}:{}:127.0.0.1", pair.mtls.port());
        let curl = |extra: &[&str]| {
            let mut args = vec!["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"];
            let ca = file("ca.pem");
            args.push(&ca);
            args.extend_from_slice(&["--resolve", &resolve]);
            args.extend_from_slice(extra);
            args.push(&url);
            let out = support::tool("curl", &args);
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        // nginx answers a TLS 1.3 client that sent no certificate with 400.
        assert_eq!(curl(&[]), "400");
        let (cert, key) = (file("client.pem"), file("client.key"));
        assert_eq!(curl(&["--cert", &cert, "--key", &key]), "200");
        drop(pair);
    }
    cancel.cancel();
}
