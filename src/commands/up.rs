//! `meshcon up`: start a mesh, then open the console on it (or, with
//! `--headless`, serve until Ctrl-C/SIGTERM).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use mesh::api::Topology;
use mesh::runtime::{AddressPlan, Mesh, MeshOptions};

use crate::cli::UpArgs;
use crate::client::api_file;

/// Sends logs to `<state>/meshcon.log`, never to the screen.
pub fn init_logging(state_dir: &std::path::Path) {
    use std::os::unix::fs::OpenOptionsExt;
    // The log names services, addresses and config changes: private.
    let _ = mesh::api::state::private_dir(state_dir);
    let log = state_dir.join("meshcon.log");
    let _ = mesh::api::state::touch_private(&log);
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MESHCON_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,h2=warn,hyper=warn,tower=warn,tonic=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Arc::new(file))
        .try_init();
}

/// Reads the topology: a file, or the embedded demo.
pub fn load_topology(file: Option<&std::path::Path>) -> anyhow::Result<Topology> {
    match file {
        Some(path) => {
            let src = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "cannot read topology file {}",
                    crate::output::escape(&path.display().to_string())
                )
            })?;
            Ok(Topology::parse(&path.display().to_string(), &src)?)
        }
        None => Ok(Topology::demo()),
    }
}

/// Starts the mesh the options describe.
pub async fn start(args: &UpArgs) -> anyhow::Result<Mesh> {
    let topology = load_topology(args.file.as_deref())?;
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(mesh::api::state::default_dir);
    // Two meshes on one state directory would share CA keys and history,
    // and the second would hide the first from every other command.
    if let Ok(addr) = std::fs::read_to_string(api_file(&state_dir)) {
        let addr = addr.trim();
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            crate::client::MeshClient::connect(addr),
        )
        .await;
        if matches!(answered, Ok(Ok(_))) {
            anyhow::bail!(
                "a mesh started with state directory {} is already running at {addr}: attach to it (`meshcon attach {addr}`), or start another with a different --state-dir",
                state_dir.display()
            );
        }
        // Left by a mesh that is gone: no command should find it while this
        // one starts, nor after, should recording the new address fail.
        let _ = std::fs::remove_file(api_file(&state_dir));
    }
    init_logging(&state_dir);
    let instances = topology.instances().len();
    eprintln!(
        "meshcon: starting mesh '{}': {} clusters, {} workload instances...",
        topology.mesh,
        topology.clusters.len(),
        instances
    );
    let mut opts = MeshOptions::new(topology, state_dir.clone());
    opts.plan = if args.ephemeral {
        AddressPlan::Ephemeral
    } else {
        AddressPlan::Loopback
    };
    opts.api = args.api;
    opts.ingress = args.ingress;
    opts.cert_ttl = args.cert_ttl;
    opts.rps = args.rps;
    opts.trace_sampling = args.trace_sampling;
    opts.otlp = args.otlp.clone();
    opts.dataplane_threads = usize::from(args.dataplane_threads);
    let started = std::time::Instant::now();
    let mesh = Mesh::start(opts).await.context("the mesh did not start")?;
    for w in mesh.state_warnings() {
        eprintln!("meshcon: warning: {w}");
    }
    // This process's own console talks to the mesh it runs, whatever
    // --credentials named.
    crate::client::use_credentials(Some(mesh.token_file()), None);
    let api = api_file(&state_dir);
    if let Err(e) = mesh::api::state::write_private(&api, mesh.api_addr().to_string().as_bytes()) {
        mesh.shutdown().await;
        anyhow::bail!(
            "cannot record the console API address in {} ({e}); other commands would not find this mesh, so it was stopped: free space or fix the directory's permissions, then start again",
            api.display()
        );
    }
    eprintln!(
        "meshcon: mesh ready in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(mesh)
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn summary(mesh: &Mesh) -> String {
    let state = mesh.state_dir().display().to_string();
    let mut s = String::from("ready\n");
    let t = mesh.topology();
    s.push_str(&format!(
        "mesh {}: {} clusters ({}), {} workload instances, address plan {}\n",
        t.mesh,
        t.clusters.len(),
        t.clusters
            .iter()
            .map(|c| format!("{} = {}", c.name, c.trust_domain))
            .collect::<Vec<_>>()
            .join(", "),
        t.instances().len(),
        match mesh.plan() {
            AddressPlan::Loopback => "loopback (a 127.x.y.z address per pod)",
            AddressPlan::Ephemeral => "ephemeral (127.0.0.1, kernel-chosen ports)",
        }
    ));
    s.push_str(&format!(
        "console API: {}   (meshcon get workloads --mesh {})\n",
        mesh.api_addr(),
        mesh.api_addr()
    ));
    s.push_str(&format!(
        "credentials: {}   (other terminals: the same --state-dir, or --credentials FILE)\n",
        mesh.token_file().display()
    ));
    if let (Some(addr), Some(host)) = (mesh.ingress_addr(), mesh.ingress_host()) {
        s.push_str(&format!(
            "ingress:     https://{host}:{}  (CA: {state}/ingress-ca.pem)\n",
            addr.port()
        ));
        s.push_str(&format!(
            "try:         curl --cacert {state}/ingress-ca.pem --resolve {host}:{port}:{ip} https://{host}:{port}/\n",
            port = addr.port(),
            ip = addr.ip()
        ));
    }
    s
}

/// `meshcon up`.
pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let mesh = start(&args).await?;
    if args.headless {
        crate::out!("{}", summary(&mesh));
        let workloads = crate::commands::get::workloads_table(&mesh.api_addr().to_string()).await;
        if let Ok(t) = workloads {
            crate::out!("{t}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        eprintln!("meshcon: shutting down...");
        mesh.shutdown().await;
        eprintln!("meshcon: stopped");
        return Ok(ExitCode::SUCCESS);
    }
    let state_dir = mesh.state_dir().to_path_buf();
    let result = crate::tui::run(
        crate::tui::source::Source::Meshcon {
            addr: mesh.api_addr().to_string(),
        },
        true,
        crate::tui::action::View::Graph,
        &state_dir,
    )
    .await;
    eprintln!("meshcon: stopping the mesh...");
    mesh.shutdown().await;
    result?;
    Ok(ExitCode::SUCCESS)
}

/// `meshcon attach`: the console on a mesh started elsewhere.
pub async fn attach(
    addr: Option<String>,
    state_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<ExitCode> {
    let addr = crate::client::resolve_addr(addr.as_deref());
    // Fail early and clearly when nothing answers or the mesh refuses our
    // credentials; once running, the console reconnects by itself.
    crate::client::MeshClient::connect(&addr)
        .await?
        .check()
        .await?;
    let state_dir = state_dir.unwrap_or_else(mesh::api::state::default_dir);
    init_logging(&state_dir);
    crate::tui::run(
        crate::tui::source::Source::Meshcon { addr },
        false,
        crate::tui::action::View::Graph,
        &state_dir,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `meshcon practice`: works without a mesh. It links to one only when
/// named (`--mesh`, or the `--state-dir` a mesh was started with), so a
/// drill never injects faults into a mesh the learner did not choose.
pub async fn practice(
    addr: Option<String>,
    state_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<ExitCode> {
    let addr = practice_addr(addr, state_dir.as_deref());
    let state_dir = state_dir.unwrap_or_else(mesh::api::state::default_dir);
    init_logging(&state_dir);
    crate::tui::run(
        crate::tui::source::Source::Meshcon { addr },
        false,
        crate::tui::action::View::Practice,
        &state_dir,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// The mesh `practice` links to: the one named with `--mesh`, or the one
/// running from the `--state-dir` given; otherwise none (empty), never the
/// default one another process may be running.
fn practice_addr(addr: Option<String>, state_dir: Option<&std::path::Path>) -> String {
    match (addr, state_dir) {
        (Some(a), _) => a,
        (None, Some(dir)) => std::fs::read_to_string(crate::client::api_file(dir))
            .map(|t| t.trim().to_string())
            .unwrap_or_default(),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn practice_links_only_to_a_mesh_it_is_given() {
        assert_eq!(practice_addr(None, None), "");
        assert_eq!(
            practice_addr(Some("127.0.0.1:9".into()), None),
            "127.0.0.1:9"
        );
        let dir = tempfile::TempDir::new().expect("dir");
        assert_eq!(practice_addr(None, Some(dir.path())), "");
        std::fs::write(crate::client::api_file(dir.path()), "127.0.0.1:4242\n").expect("api.addr");
        assert_eq!(practice_addr(None, Some(dir.path())), "127.0.0.1:4242");
    }
}
