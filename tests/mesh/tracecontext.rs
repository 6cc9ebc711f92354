//! The W3C Trace Context test suite (Level 2, strict) run through the
//! sidecars. The suite's harness POSTs to a service's inbound sidecar; the
//! service, an ordinary app that forwards the trace headers it received as
//! Istio asks apps to, POSTs each callback through its own outbound sidecar,
//! over mTLS, to the harness's sidecar and on to the harness. What the
//! harness checks is therefore what the sidecars propagate. The suite lives
//! outside the repository (`../shared/peers/w3c-trace-context`, SOURCES.md
//! §3) and needs `python3` with `aiohttp`; without either the test says so
//! on stderr and is skipped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::support;

/// Bounds every exchange of the service under test, so a stuck peer fails
/// the case instead of hanging the test.
const EXCHANGE: Duration = Duration::from_secs(20);
/// The whole suite (41 cases) never legitimately takes this long.
const SUITE: Duration = Duration::from_secs(600);

/// The suite's `test/` folder, or `None` (after saying why on stderr).
fn suite() -> Option<PathBuf> {
    let dir = support::peers::find()?.join("w3c-trace-context/test");
    if dir.join("test.py").exists() {
        return Some(dir);
    }
    eprintln!(
        "w3c trace-context: skipped: the suite is not at {}",
        dir.display()
    );
    None
}

/// A Python that can import aiohttp: `python3` on the PATH, else Debian's
/// (its `python3-aiohttp` package serves only the system interpreter).
fn python() -> Option<String> {
    for candidate in ["python3", "/usr/bin/python3"] {
        let ok = std::process::Command::new(candidate)
            .args(["-c", "import aiohttp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(candidate.to_string());
        }
    }
    eprintln!(
        "w3c trace-context: skipped: no python3 with aiohttp (apt-get install python3-aiohttp)"
    );
    None
}

/// The headers an app in Istio must copy from its request to its own calls.
const FORWARDED: &[&str] = &[
    "traceparent",
    "tracestate",
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
];

/// One HTTP/1.1 request as the service under test reads it.
struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok()?;
    if line.trim().is_empty() {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        if headers.len() > 200 {
            return None;
        }
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            stream.read_line(&mut line).await.ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            if size > 1 << 20 || body.len() > 1 << 20 {
                return None;
            }
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if n > 1 << 20 {
            return None;
        }
        body.resize(n, 0);
        stream.read_exact(&mut body).await.ok()?;
    }
    Some(Request { headers, body })
}

/// POSTs one callback through the outbound sidecar, naming the harness's
/// service in `Host` (the app knows its mesh) and keeping the callback's path.
async fn callback(outbound: SocketAddr, action: &serde_json::Value, forward: &[(String, String)]) {
    let url = action["url"].as_str().unwrap_or_default();
    let path = url
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    let body = serde_json::to_vec(&action["arguments"]).unwrap_or_default();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: harness\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in forward {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let exchange = async {
        let mut s = TcpStream::connect(outbound).await.ok()?;
        s.write_all(req.as_bytes()).await.ok()?;
        s.write_all(&body).await.ok()?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.ok()?;
        Some(())
    };
    if tokio::time::timeout(EXCHANGE, exchange)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        eprintln!("service under test: callback to {path} failed");
    }
}

/// The service under test: for each action of a POSTed JSON array, POST its
/// `arguments` to its `url`, carrying on the trace headers it was given.
async fn serve(listener: TcpListener, outbound: SocketAddr) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut stream = BufReader::new(stream);
            let handled = async {
                let req = read_request(&mut stream).await?;
                let forward: Vec<(String, String)> = req
                    .headers
                    .iter()
                    .filter(|(k, _)| FORWARDED.contains(&k.as_str()))
                    .cloned()
                    .collect();
                let actions: serde_json::Value =
                    serde_json::from_slice(&req.body).unwrap_or_default();
                for action in actions.as_array().into_iter().flatten() {
                    callback(outbound, action, &forward).await;
                }
                let body = "{}";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.get_mut().write_all(answer.as_bytes()).await.ok()
            };
            let _ = tokio::time::timeout(EXCHANGE * 4, handled).await;
        });
    }
}

/// Whether the inbound listener serves a plaintext request (STRICT closes it).
async fn answers_plaintext(inbound: &str) -> bool {
    let probe = async {
        let mut s = TcpStream::connect(inbound).await.ok()?;
        s.write_all(b"GET /probe HTTP/1.0\r\nHost: tracee\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.ok()?;
        answer.starts_with(b"HTTP/").then_some(())
    };
    tokio::time::timeout(EXCHANGE, probe)
        .await
        .ok()
        .flatten()
        .is_some()
}

async fn run_suite(python: &str, dir: &Path, endpoint: &str, harness_port: u16) -> (bool, String) {
    let child = tokio::process::Command::new(python)
        .arg("test.py")
        .arg(endpoint)
        .current_dir(dir)
        .env("SPEC_LEVEL", "2")
        .env("STRICT_LEVEL", "2")
        .env("HARNESS_HOST", "127.0.0.1")
        .env("HARNESS_PORT", harness_port.to_string())
        .env("HARNESS_TIMEOUT", "20")
        .env_remove("HARNESS_DEBUG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run the suite");
    let out = tokio::time::timeout(SUITE, child.wait_with_output())
        .await
        .expect("the suite finishes in time")
        .expect("the suite's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_w3c_trace_context_suite_passes_through_the_sidecars() {
    let (Some(dir), Some(python)) = (suite(), python()) else {
        return;
    };
    let app = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let app_addr = app.local_addr().expect("app address");
    let harness_port = support::free_port();
    let m = support::start(
        support::topology(&format!(
            "mesh: w3c\nclusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n\
             - name: harness\n  cluster: eu\n  external: {{app: '127.0.0.1:{harness_port}'}}\n\
             - name: tracee\n  cluster: eu\n  external: {{app: '{app_addr}', outbound: '127.0.0.1:0'}}\n  calls: [harness]\n\
             load: {{rps: 0}}\n"
        )),
        |_| {},
    )
    .await;
    let addresses = m
        .workload("tracee-v1-0")
        .await
        .addresses
        .expect("addresses");
    let outbound = support::addr(&addresses.outbound.expect("outbound"));
    let inbound = addresses.inbound.expect("inbound");
    tokio::spawn(serve(app, outbound));
    // The harness is an outside client speaking plaintext, as a client
    // outside the mesh would to a PERMISSIVE workload.
    let applied = support::apply(
        &m,
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata: {name: tracee, namespace: default}\n\
         spec: {selector: {matchLabels: {app: tracee}}, mtls: {mode: PERMISSIVE}}\n",
    )
    .await;
    assert!(applied.applied, "{}", applied.summary);
    support::eventually(Duration::from_secs(30), "plaintext accepted", || {
        answers_plaintext(&inbound)
    })
    .await;

    let endpoint = format!("http://{inbound}/test");
    let (passed, text) = run_suite(&python, &dir, &endpoint, harness_port).await;
    let summary = text
        .lines()
        .filter(|l| l.starts_with("Ran ") || l.starts_with("OK") || l.starts_with("FAILED"))
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("w3c trace-context (SPEC_LEVEL=2 STRICT_LEVEL=2): {summary}");
    assert!(passed, "the W3C trace-context suite failed:\n{text}");
    m.stop().await;
}
