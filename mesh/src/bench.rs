//! Load scenarios for `meshcon bench` and `cargo bench`: the data plane's
//! added latency (a direct call against the same call through a sidecar pair
//! doing mTLS), and how fast a config change reaches every proxy.
//!
//! These measure; they never pass or fail. Numbers go in the closing notes
//! and the README.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::runtime::{AddressPlan, Mesh, MeshOptions};
use crate::topology::Topology;

mod nginx;

pub use nginx::{Layout, NginxError, NginxPair, SERVER_NAME};

/// Latency of one way of calling the server.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// What was measured.
    pub label: String,
    /// Requests answered 2xx.
    pub ok: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Achieved rate.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Process CPU time spent during the run, seconds.
    pub cpu_s: f64,
}

/// Options of the data-plane benchmark.
#[derive(Debug, Clone)]
pub struct DataplaneOptions {
    /// Requests sent per second, open loop (not waiting for answers).
    pub rate: u32,
    /// Length of each phase.
    pub duration: Duration,
    /// Request and response body size.
    pub body: usize,
    /// Trace sampling percentage in the sidecars.
    pub trace_sampling: f64,
    /// The nginx binary to compare against (skipped when None).
    pub nginx: Option<PathBuf>,
    /// Threads the sidecars' data plane runs on.
    pub dataplane_threads: usize,
}

/// The result of the data-plane benchmark at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct DataplaneReport {
    /// Requests a second asked for.
    pub rate: u32,
    /// Data-plane threads the sidecars ran on.
    pub dataplane_threads: usize,
    /// Calls straight to the reference server: the baseline.
    pub direct: LatencyReport,
    /// Through two sidecars with mTLS.
    pub meshed: LatencyReport,
    /// Extra CPU-seconds per 1000 requests spent by the two sidecars: the
    /// process's CPU in the meshed phase minus the direct phase's.
    pub sidecar_cpu_per_1000: f64,
    /// CPU-seconds per 1000 requests of the sidecars' data-plane threads
    /// alone, read per thread (0 where `/proc` does not say).
    pub dataplane_thread_cpu_per_1000: f64,
    /// Through two nginx proxies doing mTLS, each way nginx was run.
    pub nginx: Vec<NginxRun>,
    /// Why the nginx pair did not run.
    pub nginx_skipped: Option<String>,
}

/// The nginx pair in one layout.
#[derive(Debug, Clone, Serialize)]
pub struct NginxRun {
    /// One worker for both proxies, or a process each.
    pub layout: Layout,
    /// What a request through it took.
    pub latency: LatencyReport,
    /// CPU-seconds per 1000 requests spent by nginx.
    pub cpu_per_1000: f64,
}

/// CPU time (user + system) of this process so far, seconds.
pub fn process_cpu_seconds() -> f64 {
    crate::runtime::workers::cpu_seconds(Path::new("/proc/self/stat"))
}

/// Resident memory of this process now, bytes (Linux `VmRSS`).
pub fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A server that answers every request with `body` bytes.
pub async fn reference_server(
    body: usize,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let payload = Bytes::from(vec![b'x'; body]);
    tokio::spawn(async move {
        loop {
            let (s, _) = tokio::select! {
                _ = cancel.cancelled() => return,
                r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            };
            let _ = s.set_nodelay(true);
            let payload = payload.clone();
            let c = cancel.clone();
            tokio::spawn(async move {
                crate::http::serve_connection(
                    s,
                    move |req: http::Request<Incoming>| {
                        let payload = payload.clone();
                        async move {
                            let _ = req.into_body().collect().await;
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                crate::http::full(payload),
                            ))
                        }
                    },
                    c,
                    Duration::from_secs(1),
                )
                .await;
            });
        }
    });
    Ok(addr)
}

/// Sends `rate` requests a second for `duration` to `target` with `host`,
/// open loop, and records each latency.
pub async fn open_loop(
    label: &str,
    target: SocketAddr,
    host: &str,
    rate: u32,
    duration: Duration,
    body: usize,
) -> LatencyReport {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(http);
    let payload = Bytes::from(vec![b'y'; body]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
    let cpu0 = process_cpu_seconds();
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = (rate as f64 * duration.as_secs_f64()) as u64;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for _ in 0..total {
        tick.tick().await;
        let client = client.clone();
        let tx = tx.clone();
        let payload = payload.clone();
        let uri = format!("http://{target}/bench");
        let host = host.to_string();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let req = http::Request::post(uri)
                .header(http::header::HOST, host)
                .body(Full::new(payload));
            let ok = match req {
                Ok(r) => match client.request(r).await {
                    Ok(resp) => {
                        let good = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        good
                    }
                    Err(_) => false,
                },
                Err(_) => false,
            };
            let _ = tx.send(ok.then(|| t0.elapsed().as_micros() as u64));
        });
    }
    drop(tx);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .expect("constant histogram bounds are valid");
    let mut errors = 0;
    while let Some(r) = rx.recv().await {
        match r {
            Some(us) => {
                let _ = hist.record(us.max(1));
            }
            None => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    LatencyReport {
        label: label.to_string(),
        ok: hist.len(),
        errors,
        rps: hist.len() as f64 / elapsed,
        p50_us: hist.value_at_quantile(0.5),
        p90_us: hist.value_at_quantile(0.9),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        cpu_s: process_cpu_seconds() - cpu0,
    }
}

/// A one-cluster topology with a reference server behind a sidecar and a
/// client-only workload whose sidecar the load goes through.
pub fn pair_topology(server: SocketAddr) -> Topology {
    let yaml = format!(
        "mesh: bench\nclusters:\n- name: bench\n  trustDomain: bench.mesh\nservices:\n- name: ref\n  cluster: bench\n  external: {{app: '{server}'}}\n- name: client\n  cluster: bench\n  external: {{outbound: '127.0.0.1:0'}}\n  calls: [ref]\nload: {{rps: 0}}\n"
    );
    Topology::parse("bench", &yaml).unwrap_or_else(|e| panic!("bench topology: {e}"))
}

/// Direct vs through a sidecar pair with mTLS, at a fixed rate.
pub async fn dataplane(
    opts: &DataplaneOptions,
    state_dir: &std::path::Path,
) -> Result<DataplaneReport, crate::runtime::RuntimeError> {
    let cancel = CancellationToken::new();
    let server = reference_server(opts.body, cancel.clone()).await?;
    let mut mo = MeshOptions::new(pair_topology(server), state_dir.to_path_buf());
    mo.plan = AddressPlan::Ephemeral;
    mo.trace_sampling = opts.trace_sampling;
    mo.dataplane_threads = opts.dataplane_threads;
    let mesh = Mesh::start(mo).await?;
    let outbound = mesh
        .workload_addresses()
        .await
        .values()
        .find(|w| w.instance.service == "client")
        .and_then(|w| w.addresses.outbound)
        .ok_or_else(|| crate::runtime::RuntimeError::NotFound("client sidecar".into()))?;
    // Warm both paths (connections, TLS sessions) before measuring.
    let warm = Duration::from_millis(500);
    open_loop("warm", server, "ref", 200, warm, opts.body).await;
    open_loop("warm", outbound, "ref", 200, warm, opts.body).await;
    let direct = open_loop("direct", server, "ref", opts.rate, opts.duration, opts.body).await;
    let threads0 = mesh.dataplane_cpu_seconds();
    let meshed = open_loop(
        "two sidecars, mTLS",
        outbound,
        "ref",
        opts.rate,
        opts.duration,
        opts.body,
    )
    .await;
    let threads_cpu = mesh.dataplane_cpu_seconds() - threads0;
    mesh.shutdown().await;
    let per_1000 = |cpu: f64, r: &LatencyReport| {
        if r.ok == 0 {
            0.0
        } else {
            cpu / r.ok as f64 * 1000.0
        }
    };
    let (mut nginx, mut nginx_skipped) = (Vec::new(), None);
    match &opts.nginx {
        None => nginx_skipped = Some("not asked for".to_string()),
        Some(bin) => {
            for layout in [Layout::OneWorker, Layout::TwoProcesses] {
                let dir = state_dir.join(format!("nginx-{layout:?}"));
                match NginxPair::start(bin, server, &dir, layout).await {
                    Ok(pair) => {
                        open_loop("warm", pair.entry, "ref", 200, warm, opts.body).await;
                        let cpu0 = pair.cpu_seconds();
                        let label = match layout {
                            Layout::OneWorker => "two nginx, one worker",
                            Layout::TwoProcesses => "two nginx processes",
                        };
                        let r = open_loop(
                            label,
                            pair.entry,
                            "ref",
                            opts.rate,
                            opts.duration,
                            opts.body,
                        )
                        .await;
                        nginx.push(NginxRun {
                            layout,
                            cpu_per_1000: per_1000(pair.cpu_seconds() - cpu0, &r),
                            latency: r,
                        });
                    }
                    Err(e) => {
                        nginx_skipped = Some(e.to_string());
                        break;
                    }
                }
            }
        }
    }
    cancel.cancel();
    Ok(DataplaneReport {
        rate: opts.rate,
        dataplane_threads: opts.dataplane_threads,
        sidecar_cpu_per_1000: (per_1000(meshed.cpu_s, &meshed) - per_1000(direct.cpu_s, &direct))
            .max(0.0),
        dataplane_thread_cpu_per_1000: per_1000(threads_cpu, &meshed),
        direct,
        meshed,
        nginx,
        nginx_skipped,
    })
}

/// Convergence of config changes.
#[derive(Debug, Clone, Serialize)]
pub struct ConvergenceReport {
    /// Proxies in the mesh, each of which must ACK every apply.
    pub proxies: usize,
    /// How many applies were timed.
    pub applies: usize,
    /// Apply to every proxy ACKed, P50, ms.
    pub p50_ms: f64,
    /// Apply to every proxy ACKed, P99, ms.
    pub p99_ms: f64,
    /// The slowest apply to every proxy ACKed, ms.
    pub max_ms: f64,
    /// Resident memory of the whole process (control planes, CAs and every
    /// proxy) once the applies are done, MiB.
    pub rss_mib: f64,
    /// That divided by the proxies: an upper bound on a proxy's share, KiB.
    pub rss_per_proxy_kib: f64,
}

/// A topology of `n` single-replica services in one cluster, each calling the next.
pub fn generated_topology(n: usize) -> Topology {
    let mut y = String::from(
        "mesh: generated\nclusters:\n- name: gen\n  trustDomain: gen.mesh\nservices:\n",
    );
    for i in 0..n {
        y.push_str(&format!(
            "- name: svc-{i}\n  cluster: gen\n  versions: [{{name: v1}}]\n"
        ));
        if i + 1 < n {
            y.push_str(&format!("  calls: [svc-{}]\n", i + 1));
        }
    }
    y.push_str("load: {rps: 0}\n");
    Topology::parse("generated", &y).unwrap_or_else(|e| panic!("generated topology: {e}"))
}

/// Applies `applies` changes that concern every proxy of a `services`-proxy
/// mesh and measures apply → all ACKed.
pub async fn convergence(
    services: usize,
    applies: usize,
    state_dir: &std::path::Path,
) -> Result<ConvergenceReport, crate::runtime::RuntimeError> {
    let mut mo = MeshOptions::new(generated_topology(services), state_dir.to_path_buf());
    mo.plan = AddressPlan::Ephemeral;
    mo.trace_sampling = 0.0;
    let mesh = Mesh::start(mo).await?;
    let proxies: usize = mesh
        .control_planes()
        .iter()
        .map(|c| c.proxies().len())
        .sum();
    let mut times = Vec::new();
    for i in 0..applies {
        // A mesh-wide PeerAuthentication concerns every proxy.
        let mode = if i % 2 == 0 { "PERMISSIVE" } else { "STRICT" };
        let yaml = format!(
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: default, namespace: istio-system}}\nspec:\n  mtls: {{mode: {mode}}}\n"
        );
        let (resources, _) = crate::config::check(
            "bench",
            &yaml,
            mesh.topology(),
            &mesh.store().current().resources,
        );
        let (merged, summary) = crate::config::merge(&mesh.store().current().resources, resources);
        let t0 = Instant::now();
        let version = mesh
            .store()
            .commit(merged, &summary)
            .map_err(crate::runtime::RuntimeError::Store)?;
        for cp in mesh.control_planes() {
            cp.wait_converged(version, Duration::from_secs(10)).await;
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let rss = process_rss_bytes().unwrap_or(0) as f64;
    mesh.shutdown().await;
    times.sort_by(f64::total_cmp);
    let q = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok(ConvergenceReport {
        proxies,
        applies,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: times.last().copied().unwrap_or(0.0),
        rss_mib: rss / (1024.0 * 1024.0),
        rss_per_proxy_kib: rss / 1024.0 / proxies.max(1) as f64,
    })
}
