//! A small builder for integration tests: start a mesh on ephemeral ports in
//! a temporary state directory, reach it the way outside clients do, and run
//! real outside tools (curl, openssl, promtool).

#![allow(dead_code)]

pub mod peers;
pub mod python;
pub mod tmux;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use mesh::api::auth::{AuthedClient, Credentials};
use mesh::api::ConsoleClient;
use mesh::api::Topology;
use mesh::runtime::{AddressPlan, Mesh, MeshOptions};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

/// A running test mesh and its state directory (removed on drop).
pub struct TestMesh {
    /// The mesh.
    pub mesh: Mesh,
    /// Its state directory.
    pub dir: TempDir,
    /// Its place among the meshes running in this process.
    pub slot: Slot,
}

/// Meshes running in this test process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// A timing-sensitive test wants the machine to itself.
static ALONE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Places (and an [`Alone`]) held by the test running on this thread:
    /// such a test never waits for a place.
    static HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A running mesh's place in the count; starting one waits while a test runs
/// [`alone`], unless this test already runs a mesh (it would wait on itself),
/// and never more than a minute.
pub struct Slot(());

impl Slot {
    /// Takes a place.
    pub async fn take() -> Slot {
        let t0 = std::time::Instant::now();
        loop {
            RUNNING.fetch_add(1, Ordering::SeqCst);
            let holds = HELD.with(|h| h.get()) > 0;
            if holds || !ALONE.load(Ordering::SeqCst) || t0.elapsed() > Duration::from_secs(60) {
                HELD.with(|h| h.set(h.get() + 1));
                return Slot(());
            }
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        HELD.with(|h| h.set(h.get().saturating_sub(1)));
    }
}

/// Held while a test measures something a busy machine would blur (a
/// percentile against a fixed latency): no other mesh of this process starts,
/// and the test waits (at most a minute) for the running ones to finish.
pub struct Alone(());

/// Waits until this test can run alone.
pub async fn alone() -> Alone {
    while ALONE
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t0 = std::time::Instant::now();
    while RUNNING.load(Ordering::SeqCst) > 0 && t0.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    HELD.with(|h| h.set(h.get() + 1));
    Alone(())
}

impl Drop for Alone {
    fn drop(&mut self) {
        HELD.with(|h| h.set(h.get().saturating_sub(1)));
        ALONE.store(false, Ordering::SeqCst);
    }
}

impl TestMesh {
    /// The state directory path.
    pub fn state(&self) -> &Path {
        self.dir.path()
    }

    /// A console API client holding the mesh's token, read from the state
    /// directory's token file as the CLI reads it.
    pub async fn console(&self) -> AuthedClient<Channel> {
        let file = self.mesh.token_file();
        register_credentials(&self.mesh.api_addr().to_string(), &file);
        let token = mesh::api::auth::read_token(&file).expect("the mesh wrote its token");
        self.console_with(Credentials::token(&token)).await
    }

    /// A console API client presenting `credentials` (none, or wrong ones).
    pub async fn console_with(&self, credentials: Credentials) -> AuthedClient<Channel> {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{}", self.mesh.api_addr()))
                .expect("uri")
                .connect()
                .await
                .expect("console API answers");
        ConsoleClient::with_interceptor(channel, credentials)
    }

    /// Workloads from the console API.
    pub async fn workloads(&self) -> Vec<mesh::api::Workload> {
        self.console()
            .await
            .workloads(mesh::api::Empty {})
            .await
            .expect("workloads")
            .into_inner()
            .workloads
    }

    /// The workload with this instance name.
    pub async fn workload(&self, instance: &str) -> mesh::api::Workload {
        self.workloads()
            .await
            .into_iter()
            .find(|w| w.instance == instance)
            .unwrap_or_else(|| panic!("no workload {instance}"))
    }

    /// The last 500 events of the mesh.
    pub async fn events(&self) -> Vec<mesh::api::Event> {
        let mut s = self
            .console()
            .await
            .events(mesh::api::EventsRequest {
                follow: false,
                last: 500,
            })
            .await
            .expect("events")
            .into_inner();
        let mut out = Vec::new();
        while let Ok(Some(e)) = s.message().await {
            out.push(e);
        }
        out
    }

    /// The admin address of the proxy of this instance.
    pub async fn admin(&self, instance: &str) -> String {
        self.workload(instance)
            .await
            .addresses
            .and_then(|a| a.admin)
            .unwrap_or_else(|| panic!("{instance} has no admin address"))
    }

    /// The control plane of `cluster`.
    pub fn control_plane(&self, cluster: &str) -> mesh::runtime::ControlPlane {
        self.mesh
            .control_planes()
            .into_iter()
            .find(|c| c.cluster() == cluster)
            .unwrap_or_else(|| panic!("no cluster {cluster}"))
    }

    /// Whether `cluster`'s control plane sees its federation link to `peer` up.
    pub fn link_up(&self, cluster: &str, peer: &str) -> Option<bool> {
        self.control_plane(cluster).links().get(peer).copied()
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
    let slot = Slot::take().await;
    let dir = TempDir::new().expect("temp dir");
    let mut o = options(topology, &dir);
    adjust(&mut o);
    let mesh = Mesh::start(o).await.expect("mesh starts");
    register_credentials(&mesh.api_addr().to_string(), &mesh.token_file());
    TestMesh { mesh, dir, slot }
}

/// The token file of each test mesh, by console API address.
static CREDENTIALS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// Records where the mesh at `api` keeps its token, for [`tool`].
pub fn register_credentials(api: &str, file: &Path) {
    let mut all = CREDENTIALS.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(a, _)| a != api);
    all.push((api.to_string(), file.to_path_buf()));
}

/// A command whose arguments name a test mesh with `--mesh ADDR` presents
/// that mesh's token as a user on another terminal would: the environment
/// variable `MESHCON_CREDENTIALS` naming its token file.
pub fn with_credentials(cmd: &mut Command, args: &[&str]) {
    let Some(api) = args
        .iter()
        .position(|a| *a == "--mesh")
        .and_then(|i| args.get(i + 1))
    else {
        return;
    };
    let all = CREDENTIALS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, file)) = all.iter().find(|(a, _)| a == api) {
        cmd.env("MESHCON_CREDENTIALS", file);
    }
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

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status (0: no answer).
    pub status: u16,
    /// Header lines, lowercased names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a request through a sidecar's outbound listener with `Host: service`.
pub async fn request(outbound: &str, service: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
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
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Sends a request through a sidecar's outbound listener; status and body.
pub async fn via_sidecar(
    outbound: &str,
    service: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let r = request(outbound, service, path, headers).await;
    (r.status, r.body)
}

/// Runs an outside tool; a missing tool is a test failure that says what to install.
pub fn tool(cmd: &str, args: &[&str]) -> Output {
    let mut command = Command::new(cmd);
    with_credentials(&mut command, args);
    command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd} ({e}); install it (see .ci/run)"))
}

/// Runs an outside tool with standard input.
pub fn tool_stdin(cmd: &str, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut command = Command::new(cmd);
    with_credentials(&mut command, args);
    let mut child = command
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

/// Applies YAML through the console API.
pub async fn apply(m: &TestMesh, yaml: &str) -> mesh::api::ApplyReply {
    m.console()
        .await
        .apply(mesh::api::ApplyRequest {
            yaml: yaml.to_string(),
            file: "test.yaml".into(),
        })
        .await
        .expect("apply answered")
        .into_inner()
}

/// Applies a file of `demo/rules/`, which must be accepted.
pub async fn apply_rule(m: &TestMesh, name: &str) -> mesh::api::ApplyReply {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("demo/rules")
        .join(name);
    let yaml = std::fs::read_to_string(&path).expect("demo rule");
    let r = apply(m, &yaml).await;
    assert!(r.applied, "{name} rejected: {:?}", r.findings);
    assert!(r.nacks.is_empty(), "{name} NACKed: {:?}", r.nacks);
    r
}

/// Runs a chaos action.
pub async fn chaos(
    m: &TestMesh,
    action: &str,
    target: &str,
    error_rate: f64,
    delay_ms: u64,
) -> String {
    m.console()
        .await
        .chaos(mesh::api::ChaosRequest {
            action: action.into(),
            target: target.into(),
            delay_ms,
            error_rate,
        })
        .await
        .unwrap_or_else(|e| panic!("chaos {action} {target}: {e}"))
        .into_inner()
        .text
}

/// The outbound address of an instance's sidecar.
pub async fn outbound_of(m: &TestMesh, instance: &str) -> String {
    m.workload(instance)
        .await
        .addresses
        .and_then(|a| a.outbound)
        .expect("outbound address")
}

/// Sends `n` requests through `outbound` to `service`, `concurrency` at a time.
pub async fn burst(
    outbound: &str,
    service: &str,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
    concurrency: usize,
) -> Vec<(u16, String)> {
    let mut out = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let k = left.min(concurrency);
        let batch = (0..k).map(|_| via_sidecar(outbound, service, path, headers));
        out.extend(futures::future::join_all(batch).await);
        left -= k;
    }
    out
}

/// The `version` field of a demo app's JSON answer.
pub fn version_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The `instance` field of a demo app's JSON answer.
pub fn instance_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["instance"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A free TCP port on loopback (free when asked; bind soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A real Prometheus server (Debian's `prometheus`) on loopback, stopped on drop.
pub struct Prometheus {
    /// Its HTTP address.
    pub listen: String,
    child: tokio::process::Child,
    _dir: TempDir,
}

impl Prometheus {
    /// Starts one with this configuration and waits until it is ready.
    pub async fn start(config: &str) -> Prometheus {
        let dir = TempDir::new().expect("dir");
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, config).expect("write config");
        let listen = format!("127.0.0.1:{}", free_port());
        let child = tokio::process::Command::new("prometheus")
            .args([
                &format!("--config.file={}", cfg.display()),
                &format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                &format!("--web.listen-address={listen}"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the prometheus server (Debian package `prometheus`) runs");
        let p = Prometheus {
            listen,
            child,
            _dir: dir,
        };
        eventually(Duration::from_secs(30), "prometheus is ready", || {
            let listen = p.listen.clone();
            async move {
                mesh::api::util::get_text(&listen, "/-/ready", Duration::from_secs(1))
                    .await
                    .is_ok()
            }
        })
        .await;
        p
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Serves `body` to every HTTP request on a loopback port, as a scrape
/// target serves its exposition; stops when the test's runtime ends.
pub async fn serve_text(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let body = std::sync::Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Seconds since the epoch.
pub fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Scrapes every proxy of `m` once a second for `rounds` seconds, as the
/// console does, and returns the history and when it ended.
pub async fn scrape_alongside(m: &TestMesh, rounds: usize) -> (mesh::api::Signals, f64) {
    let admins: Vec<String> = m
        .workloads()
        .await
        .into_iter()
        .filter_map(|w| w.addresses.and_then(|a| a.admin))
        .collect();
    let mut signals = mesh::api::Signals::new(60.0);
    for _ in 0..rounds {
        let at = now_s();
        for a in &admins {
            if let Ok(t) =
                mesh::api::util::get_text(a, "/stats/prometheus", Duration::from_secs(2)).await
            {
                signals.ingest(a, at, &t).expect("parses");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    (signals, now_s())
}
