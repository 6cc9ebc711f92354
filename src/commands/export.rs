//! Beyond one machine: `export kubernetes` (the playground's mesh as
//! Kubernetes and Istio YAML), `import` (such YAML back into a topology and
//! rules) and `workload` (one demo service version as a plain HTTP server,
//! what the exported Deployments run).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mesh::api::config::{self, Resource};
use mesh::api::export::{self as ex, ExportOptions, SourceFile, TraceMode, WorkloadSpec};
use mesh::api::{OfflineHistory, Topology};

use crate::output::escape;

/// Where `meshcon export` can take a mesh.
#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// Kubernetes and Istio YAML per cluster (multi-primary, multi-network),
    /// with a README of the commands that install and apply it.
    Kubernetes(KubernetesArgs),
}

/// Options of `meshcon export kubernetes`.
#[derive(Debug, Args)]
// `--version` names a config version here, as the command line has it.
#[command(disable_version_flag = true)]
pub struct KubernetesArgs {
    /// Topology file (default: the embedded two-cluster demo).
    #[arg(short = 'f', long = "file", value_name = "TOPOLOGY")]
    pub file: Option<PathBuf>,
    /// The config version whose rules to export, from the state directory's
    /// history (12 or v12; default: the latest there, if any).
    #[arg(long, value_name = "VERSION", value_parser = crate::cli::version, conflicts_with = "rules")]
    pub version: Option<u64>,
    /// Export the rules of this YAML file instead of a config version.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// The container image the Deployments run (build it with the Dockerfile).
    #[arg(long, value_name = "IMAGE", default_value = "meshcon:latest")]
    pub image: String,
    /// The directory to write (created; must not hold files yet).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
}

/// Options of `meshcon import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A directory of Kubernetes and Istio YAML (read recursively), or one file.
    #[arg(value_name = "DIR")]
    pub input: PathBuf,
    /// Where to write topology.yaml and rules.yaml (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
}

/// Options of `meshcon workload`.
#[derive(Debug, Args)]
// `--version` is the service version label, as Istio's `version` label.
#[command(disable_version_flag = true)]
pub struct WorkloadArgs {
    /// The service it implements.
    #[arg(long)]
    pub service: String,
    /// Its version label.
    #[arg(long, default_value = "v1")]
    pub version: String,
    /// The cluster it runs in (shown in answers).
    #[arg(long, default_value = "")]
    pub cluster: String,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Latency: a duration (3ms) or a log-normal p50=3ms,p99=10ms.
    #[arg(long, default_value = "1ms", value_parser = ex::parse_latency)]
    pub latency: mesh::api::export::Latency,
    /// Share of requests answered 503, 0.0 to 1.0.
    #[arg(long, default_value_t = 0.0, value_parser = ex::parse_error_rate)]
    pub error_rate: f64,
    /// A service called for every request: NAME=HOST:PORT (repeatable).
    #[arg(long = "call", value_name = "NAME=HOST:PORT", value_parser = ex::parse_call)]
    pub calls: Vec<(String, String)>,
    /// span: each hop makes its own span id (no sidecar); forward: pass
    /// trace headers on unchanged (behind an Istio sidecar).
    #[arg(long, default_value = "span", value_parser = TraceMode::parse)]
    pub trace: TraceMode,
    /// Instance name in answers (default: $HOSTNAME, the pod's name in Kubernetes).
    #[arg(long)]
    pub instance: Option<String>,
}

impl WorkloadArgs {
    /// The spec these flags describe.
    pub fn spec(&self) -> WorkloadSpec {
        WorkloadSpec {
            service: self.service.clone(),
            version: self.version.clone(),
            cluster: self.cluster.clone(),
            listen: self.listen,
            latency: self.latency,
            error_rate: self.error_rate,
            calls: self.calls.clone(),
            trace: self.trace,
        }
    }
}

/// The rules to export and a phrase saying where they came from.
fn rules(
    args: &KubernetesArgs,
    topology: &Topology,
    state_dir: Option<&Path>,
) -> anyhow::Result<(Vec<Resource>, String)> {
    if let Some(path) = &args.rules {
        let shown = path.display().to_string();
        let text = super::config::read_input(&path.display().to_string())?.1;
        let (resources, findings) = config::check(&shown, &text, topology, &[]);
        let protos: Vec<_> = findings.iter().map(mesh::api::finding).collect();
        super::config::print_findings(&protos);
        if findings.iter().any(|f| f.blocks()) {
            bail!(
                "{} has errors (above): fix them, as `meshcon apply` would refuse it",
                escape(&shown)
            );
        }
        // A later resource replaces a same-named one, as `apply` does.
        let mut merged: Vec<Resource> = Vec::new();
        for r in resources {
            merged.retain(|m| m.key() != r.key());
            merged.push(r);
        }
        return Ok((merged, format!("the rules of `{}`", escape(&shown))));
    }
    let dir = state_dir.map_or_else(mesh::api::state::default_dir, Path::to_path_buf);
    let db = dir.join("config.db");
    if !db.exists() {
        if let Some(v) = args.version {
            bail!(
                "no config history at {} to take v{v} from: start a mesh with this --state-dir and apply rules, or give --rules FILE",
                escape(&db.display().to_string())
            );
        }
        return Ok((Vec::new(), "no rules (no config history yet)".into()));
    }
    let history = OfflineHistory::open(&db)?;
    let (version, resources) = history.resources(args.version.unwrap_or(0))?;
    Ok((
        resources,
        format!("the rules of config version v{version} (`meshcon history`)"),
    ))
}

/// Refuses a directory holding files: an export never overwrites.
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    let shown = escape(&dir.display().to_string());
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            bail!("{shown} is not empty: give a new directory (meshcon does not overwrite files)");
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {shown}"))
}

/// `meshcon export kubernetes`.
pub fn kubernetes(args: KubernetesArgs, state_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let topology = super::up::load_topology(args.file.as_deref())?;
    let (rules, rules_source) = rules(&args, &topology, state_dir)?;
    let export = ex::kubernetes(
        &topology,
        &rules,
        &ExportOptions {
            image: args.image.clone(),
            rules_source: rules_source.clone(),
        },
    );
    fresh_dir(&args.output)?;
    for f in &export.files {
        let path = args.output.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &f.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let out = escape(&args.output.display().to_string());
    crate::outln!(
        "wrote {} files to {out} for mesh {} (clusters: {}), {} resources: {}",
        export.files.len(),
        escape(&topology.mesh),
        topology
            .clusters
            .iter()
            .map(|c| escape(&c.name))
            .collect::<Vec<_>>()
            .join(", "),
        rules.len(),
        rules_source
    );
    // The same analysis `meshcon validate` runs, over what each cluster gets.
    let mut blocking = 0;
    for c in &topology.clusters {
        let (name, text) = cluster_istio_yaml(&export, &c.name);
        let (_, findings) = config::check(&name, &text, &topology, &[]);
        let protos: Vec<_> = findings.iter().map(mesh::api::finding).collect();
        super::config::print_findings(&protos);
        let e = findings.iter().filter(|f| f.is_error()).count();
        blocking += findings.iter().filter(|f| f.blocks()).count();
        crate::outln!(
            "analysis of {}: {e} error(s), {} other finding(s)",
            escape(&c.name),
            findings.len() - e
        );
    }
    for n in &export.notes {
        eprintln!("not exported: {}", escape(n));
    }
    crate::outln!("next: the commands in {out}/README.md, in order");
    // As `meshcon validate`: advisory errors (a subset without pods yet)
    // are shown but do not fail the export.
    Ok(if blocking > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What a cluster is given to apply, as one text for the analyzer.
pub fn cluster_istio_yaml(export: &ex::Export, cluster: &str) -> (String, String) {
    let prefix = format!("{cluster}/");
    let text = export
        .files
        .iter()
        .filter(|f| {
            f.path.starts_with(&prefix)
                && f.path.ends_with(".yaml")
                && !f.path.contains("/install/")
        })
        .map(|f| f.text.as_str())
        .collect::<Vec<_>>()
        .join("---\n");
    (format!("{cluster}/*.yaml"), text)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> anyhow::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", escape(&dir.display().to_string())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out, depth + 1)?;
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// `meshcon import`.
pub fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let mut paths = Vec::new();
    let root = if args.input.is_dir() {
        yaml_files(&args.input, &mut paths, 0)?;
        args.input.clone()
    } else {
        paths.push(args.input.clone());
        args.input
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    };
    let mut files = Vec::new();
    for p in &paths {
        let rel = p.strip_prefix(&root).unwrap_or(p);
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        files.push(SourceFile {
            path: rel,
            text: super::config::read_input(&p.display().to_string())?.1,
        });
    }
    let imported = ex::import(&files)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let write = |name: &str, text: String| -> anyhow::Result<PathBuf> {
        let path = args.output.join(name);
        if path.exists() {
            bail!(
                "{} exists: meshcon does not overwrite files",
                escape(&path.display().to_string())
            );
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    };
    let t = &imported.topology;
    let topo = write(
        "topology.yaml",
        format!(
            "# Imported by `meshcon import` from {}.\n{}",
            args.input.display(),
            t.to_yaml()
        ),
    )?;
    crate::outln!(
        "read {} files: mesh {}, {} clusters, {} services, {} resources",
        files.len(),
        escape(&t.mesh),
        t.clusters.len(),
        t.services.len(),
        imported.rules.len()
    );
    crate::outln!("wrote {}", escape(&topo.display().to_string()));
    if !imported.rules.is_empty() {
        let rules = write("rules.yaml", config::to_yaml(&imported.rules))?;
        crate::outln!("wrote {}", escape(&rules.display().to_string()));
    }
    if imported.unmapped.is_empty() {
        crate::outln!("everything read was mapped");
    } else {
        eprintln!("not imported ({}):", imported.unmapped.len());
        for u in &imported.unmapped {
            eprintln!("  {}", escape(u));
        }
    }
    crate::outln!(
        "next: meshcon up -f {}{}",
        escape(&topo.display().to_string()),
        if imported.rules.is_empty() {
            String::new()
        } else {
            format!(
                ", then meshcon apply -f {}",
                escape(&args.output.join("rules.yaml").display().to_string())
            )
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `meshcon workload`: serves until Ctrl-C or SIGTERM.
pub async fn workload(args: WorkloadArgs) -> anyhow::Result<ExitCode> {
    let spec = args.spec();
    let listener = tokio::net::TcpListener::bind(spec.listen)
        .await
        .with_context(|| format!("cannot listen on {}", spec.listen))?;
    let addr = listener.local_addr()?;
    let instance = args
        .instance
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("{}-{}", spec.service, spec.version));
    crate::outln!(
        "meshcon workload: {} {} ({}) listening on http://{addr}",
        escape(&spec.service),
        escape(&spec.version),
        escape(&instance)
    );
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    let cancel = tokio_util::sync::CancellationToken::new();
    let serving = {
        let cancel = cancel.clone();
        let spec = spec.clone();
        tokio::spawn(async move { ex::serve_workload(&spec, &instance, listener, cancel).await })
    };
    super::up::wait_for_signal().await;
    cancel.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), serving).await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        w: WorkloadArgs,
    }

    #[test]
    fn the_arguments_an_export_writes_parse_as_the_same_workload() {
        let spec = WorkloadSpec::from_args(
            &[
                "workload",
                "--service",
                "billing",
                "--version",
                "v2",
                "--cluster",
                "us",
                "--listen",
                "0.0.0.0:8080",
                "--latency",
                "p50=3ms,p99=12ms",
                "--error-rate",
                "0.1",
                "--call",
                "auth=auth.default.svc.cluster.local:8080",
                "--trace",
                "forward",
            ]
            .map(String::from),
        )
        .expect("spec");
        let mut argv = vec!["meshcon".to_string()];
        argv.extend(spec.to_args().into_iter().skip(1));
        let parsed = Probe::try_parse_from(&argv).expect("clap reads what export writes");
        assert_eq!(parsed.w.spec(), spec);
    }
}
