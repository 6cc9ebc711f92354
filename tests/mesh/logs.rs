//! `meshcon logs`: one proxy's access log in Envoy's default format, kept
//! lines and followed ones, driven through the real binary.

use std::time::Duration;

use tokio::io::AsyncBufReadExt;

use crate::support::{self, tool};

/// `[start] "METHOD path PROTOCOL" code flags received sent duration ...`
fn envoy_line(line: &str, path: &str) -> bool {
    line.starts_with('[')
        && line.contains(&format!("\"GET {path} HTTP/"))
        && line
            .split_whitespace()
            .nth(4)
            .is_some_and(|code| code.parse::<u16>().is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxys_access_log_is_read_and_followed() {
    let m = support::demo().await;
    let api = m.mesh.api_addr().to_string();
    let client = m.mesh.ingress_client().expect("client");
    client.get("/checkout", &[]).await.expect("request");
    let bin = support::meshcon_bin();
    let bin = bin.to_str().expect("path");
    // The ingress gateway logged the request it let in.
    let mut lines = String::new();
    support::eventually(Duration::from_secs(20), "the gateway's log line", || {
        let out = tool(bin, &["logs", "istio-ingressgateway-0", "--mesh", &api]);
        lines = String::from_utf8_lossy(&out.stdout).into_owned();
        let ok = out.status.success() && lines.lines().any(|l| envoy_line(l, "/checkout"));
        async move { ok }
    })
    .await;
    let out = tool(
        bin,
        &[
            "logs",
            "istio-ingressgateway-0",
            "--tail",
            "1",
            "--mesh",
            &api,
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    // No such proxy: said, exit 1.
    let out = tool(bin, &["logs", "nobody-v9-0", "--mesh", &api]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no proxy named 'nobody-v9-0'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Following: a request made afterwards appears.
    let args = ["logs", "-f", "istio-ingressgateway-0", "--mesh", &api];
    let mut std_cmd = std::process::Command::new(bin);
    support::with_credentials(&mut std_cmd, &args);
    std_cmd.args(args).stdout(std::process::Stdio::piped());
    let mut child = tokio::process::Command::from(std_cmd)
        .kill_on_drop(true)
        .spawn()
        .expect("meshcon logs -f");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = tokio::io::BufReader::new(stdout).lines();
    let followed = async {
        // Keep asking until the follower is subscribed and sees one.
        let ask = async {
            loop {
                let _ = client.get("/followed", &[]).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        };
        let read = async {
            while let Ok(Some(l)) = reader.next_line().await {
                if envoy_line(&l, "/followed") {
                    return l;
                }
            }
            panic!("the follower ended");
        };
        tokio::select! {
            l = read => l,
            _ = ask => unreachable!(),
        }
    };
    let line = tokio::time::timeout(Duration::from_secs(30), followed)
        .await
        .expect("a followed line within 30 s");
    assert!(line.contains("\"GET /followed HTTP/"), "{line}");
    let _ = child.kill().await;
    m.stop().await;
}
