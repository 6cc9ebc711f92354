//! A small builder for integration tests: start a mesh on ephemeral ports in
//! a temporary state directory, reach it the way outside clients do, and run
//! real outside tools (curl, openssl, promtool).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use mesh::proto::console_client::ConsoleClient;
use mesh::runtime::{AddressPlan, Mesh, MeshOptions};
use mesh::topology::Topology;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

/// A running test mesh and its state directory (removed on drop).
pub struct TestMesh {
    /// The mesh.
    pub mesh: Mesh,
    /// Its state directory.
    pub dir: TempDir,
}

impl TestMesh {
    /// The state directory path.
    pub fn state(&self) -> &Path {
        self.dir.path()
    }

    /// A console API client.
    pub async fn console(&self) -> ConsoleClient<Channel> {
        ConsoleClient::connect(format!("http://{}", self.mesh.api_addr()))
            .await
            .expect("console API answers")
    }

    /// Workloads from the console API.
    pub async fn workloads(&self) -> Vec<mesh::proto::Workload> {
        self.console()
            .await
            .workloads(mesh::proto::Empty {})
            .await
            .expect("workloads")
            .into_inner()
            .workloads
    }

    /// The workload with this instance name.
    pub async fn workload(&self, instance: &str) -> mesh::proto::Workload {
        self.workloads()
            .await
            .into_iter()
            .find(|w| w.instance == instance)
            .unwrap_or_else(|| panic!("no workload {instance}"))
    }

    /// Stops the mesh.
    pub async fn stop(self) -> TempDir {
        self.mesh.shutdown().await;
        self.dir
    }
}

/// Options for the demo topology with test-friendly defaults.
pub fn options(topology: Topology, dir: &TempDir) -> MeshOptions {
    let mut o = MeshOptions::new(topology, dir.path().to_path_buf());
    o.plan = AddressPlan::Ephemeral;
    o.rps = Some(0.0);
    o
}

/// Starts the demo mesh without background load.
pub async fn demo() -> TestMesh {
    start(Topology::demo(), |_| {}).await
}

/// Starts a mesh of `topology`, letting the test adjust the options.
pub async fn start(topology: Topology, adjust: impl FnOnce(&mut MeshOptions)) -> TestMesh {
    let dir = TempDir::new().expect("temp dir");
    let mut o = options(topology, &dir);
    adjust(&mut o);
    let mesh = Mesh::start(o).await.expect("mesh starts");
    TestMesh { mesh, dir }
}

/// A topology from YAML text.
pub fn topology(yaml: &str) -> Topology {
    Topology::parse("test.yaml", yaml).expect("valid topology")
}

/// A plain HTTP/1.0 GET; returns status and body.
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_get_with(addr, path, &[]).await
}

/// A plain HTTP/1.0 GET with extra headers; returns status and body.
pub async fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Sends a request through a sidecar's outbound listener with `Host: service`.
pub async fn via_sidecar(
    outbound: &str,
    service: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(outbound)
        .await
        .expect("connect outbound");
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {service}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Runs an outside tool; a missing tool is a test failure that says what to install.
pub fn tool(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd} ({e}); install it (see .ci/run)"))
}

/// Runs an outside tool with standard input.
pub fn tool_stdin(cmd: &str, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd} ({e}); install it (see .ci/run)"));
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin);
    }
    child.wait_with_output().expect("tool output")
}

/// The path of the meshcon binary under test.
pub fn meshcon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_meshcon"))
}

/// Parses `HOST:PORT`.
pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Waits until `f` holds, polling, or panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
