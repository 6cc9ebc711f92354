//! The command line. `meshcon` alone is `meshcon up`: the demo mesh and the
//! console on it.
//!
//! Exit codes: 0 success; 1 the mesh refused or the operation failed (bad
//! config, unknown target); 2 a usage error; 3 no mesh answered.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mesh::api::attach::{Auth, Dialect, Endpoint, Kubectl, Prometheus};

use crate::tui::source::RealMesh;

use crate::commands;
use crate::output::Format;

/// A terminal console for service meshes, with a real two-cluster mini-mesh inside.
#[derive(Debug, Parser)]
#[command(name = "meshcon", version, propagate_version = true)]
#[command(
    about = "A terminal console for service meshes, with a real two-cluster mini-mesh inside"
)]
#[command(
    after_help = "Run `meshcon` alone to start the demo mesh and open the console.\n\
Exit codes: 0 ok, 1 refused or failed, 2 usage error, 3 no mesh answered."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    up: UpArgs,
    /// The mesh to talk to (HOST:PORT of its console API); default: the local one.
    #[arg(long, global = true, env = "MESHCON_MESH", value_name = "ADDR")]
    mesh: Option<String>,
    /// Where CA keys, config history, practice progress and the running
    /// mesh's address are kept (default: $XDG_STATE_HOME/meshcon). Commands
    /// given the same directory as `up` find its mesh.
    #[arg(long, global = true, env = "MESHCON_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The console API token to present (default: console.token in the
    /// state directory); copy it from another machine to reach its mesh.
    #[arg(long, global = true, env = "MESHCON_CREDENTIALS", value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// When the console's figures turn yellow and red: success under
    /// WARN/CRIT percent, P99 over SLOW/VERY_SLOW ms
    /// [default: success=99.5/95,p99=200/1000].
    #[arg(
        long,
        global = true,
        env = "MESHCON_THRESHOLDS",
        value_name = "success=WARN/CRIT,p99=SLOW/VERY_SLOW"
    )]
    thresholds: Option<crate::tui::app::Thresholds>,
}

/// Options of `meshcon up`.
#[derive(Debug, Args, Clone, Default)]
pub struct UpArgs {
    /// Topology file (default: the embedded two-cluster demo).
    #[arg(short = 'f', long = "file", value_name = "TOPOLOGY")]
    pub file: Option<PathBuf>,
    /// Run the mesh without the console, until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub headless: bool,
    /// The state directory (the global `--state-dir`).
    #[arg(skip)]
    pub state_dir: Option<PathBuf>,
    /// Address of the console API.
    #[arg(long, value_name = "ADDR")]
    pub api: Option<std::net::SocketAddr>,
    /// Address of the ingress gateway (HTTPS).
    #[arg(long, value_name = "ADDR")]
    pub ingress: Option<std::net::SocketAddr>,
    /// Lifetime of workload certificates (e.g. 1h, 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub cert_ttl: std::time::Duration,
    /// Demo traffic, requests per second (default: the topology's).
    #[arg(long, value_name = "N")]
    pub rps: Option<f64>,
    /// Use 127.0.0.1 with ephemeral ports instead of a loopback IP per pod.
    #[arg(long)]
    pub ephemeral: bool,
    /// Percentage of new traces recorded.
    #[arg(long, value_name = "PCT", default_value_t = 100.0)]
    pub trace_sampling: f64,
    /// Also export every span with OTLP/gRPC to this collector.
    #[arg(long, value_name = "ADDR")]
    pub otlp: Vec<std::net::SocketAddr>,
    /// Threads the sidecars' data plane runs on: one keeps every hop of a
    /// request on one thread (the lowest latency); more carry more traffic
    /// (`meshcon bench dataplane` shows where one saturates).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub dataplane_threads: u16,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    mesh::api::util::parse_duration(s).map_err(|e| e.to_string())
}

/// What `meshcon get` can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetWhat {
    /// Golden signals per service and version.
    Services,
    /// Golden signals per caller and service version: the graph's edges.
    Edges,
    /// Workload instances and gateways.
    Workloads,
    /// SPIFFE identities and certificates.
    Identities,
    /// Applied routing resources.
    Routes,
    /// Every applied resource.
    Resources,
    /// Recent traces.
    Traces,
    /// The event stream.
    Events,
    /// Each proxy's config version and ACK state.
    Proxies,
    /// Trust bundles, exported services, gateway reachability.
    Federation,
    /// Exact per-edge latency percentiles.
    Latency,
    /// A Prometheus scrape configuration for this mesh.
    ScrapeConfig,
    /// An Envoy's secrets, endpoints, routes or clusters, as istioctl
    /// proxy-config shows them (needs --envoy-admin or --config-dump).
    ProxyConfig,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a mesh (the demo by default) and open the console on it.
    Up(UpArgs),
    /// Open the console on a mesh started elsewhere: a meshcon mesh (its
    /// console API), or a real Istio or Linkerd mesh (--prometheus,
    /// --scrape, --otlp-listen, --context, --resources).
    Attach {
        /// Console API address of a meshcon mesh (default: the local mesh).
        addr: Option<String>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Practise the vocabulary of service meshes (works without a mesh).
    Practice {
        #[command(subcommand)]
        what: Option<PracticeCommand>,
    },
    /// Validate and apply Istio resources; prints the version and its convergence.
    Apply {
        /// YAML file, or - for standard input.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: String,
    },
    /// Check Istio resources without applying them.
    Validate {
        /// YAML file, or - for standard input.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: String,
    },
    /// Delete an applied resource.
    Delete {
        /// Kind (VirtualService, vs, DestinationRule, dr, ...).
        kind: String,
        /// Name.
        name: String,
        /// Namespace.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Show mesh state.
    Get {
        /// What to show.
        what: GetWhat,
        /// Proxy-config: secret, endpoint, route or cluster.
        #[arg(value_enum)]
        section: Option<commands::proxy_config::Section>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
        /// Traces: one trace id.
        #[arg(long)]
        trace_id: Option<String>,
        /// Traces: only those through this service.
        #[arg(long)]
        service: Option<String>,
        /// Traces: only those slower than this (ms).
        #[arg(long, default_value_t = 0)]
        min_ms: u64,
        /// Traces: only failed ones.
        #[arg(long)]
        errors: bool,
        /// How many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        /// Services: how long to sample, in seconds (rates and percentiles cover it).
        /// Scrape-config: the scrape interval.
        #[arg(long, default_value_t = 5)]
        window: u64,
        /// Events: keep following.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// One proxy's access log, in Envoy's default format.
    Logs {
        /// The proxy: an instance (billing-v1-0, istio-ingressgateway-0), or
        /// INSTANCE.CLUSTER where a name repeats (istio-eastwestgateway-0.us).
        instance: String,
        /// Keep following new requests.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N kept lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// List config versions.
    History {
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Show what changed between two config versions.
    Diff {
        /// From this version (12 or v12).
        #[arg(value_parser = version)]
        from: u64,
        /// To this version (default: the current one).
        #[arg(value_parser = version)]
        to: Option<u64>,
    },
    /// Make an old config version current again.
    Rollback {
        /// The version to restore (12 or v12).
        #[arg(value_name = "VERSION", value_parser = version)]
        to: u64,
    },
    /// Measure the data plane (against a pair of nginx) or config convergence.
    Bench {
        #[command(subcommand)]
        what: crate::commands::bench::BenchWhat,
    },
    /// Break things on purpose: slow or fail instances, kill them, partition or
    /// unfederate clusters, rotate a CA root.
    Chaos(ChaosArgs),
    /// Take the mesh to real clusters: Kubernetes and Istio YAML per cluster.
    Export {
        #[command(subcommand)]
        what: commands::export::ExportWhat,
    },
    /// Read Kubernetes and Istio YAML back into a topology and rules.
    Import(commands::export::ImportArgs),
    /// Serve one demo service version as a plain HTTP server (what the
    /// exported Deployments run).
    Workload(commands::export::WorkloadArgs),
}

/// What `meshcon practice` can do besides opening the console.
#[derive(Debug, Subcommand)]
enum PracticeCommand {
    /// Check an explanation of the diagram (about 100 words): prints the
    /// rubric and the verdict; exit 0 on pass, 1 on fail.
    Check {
        /// The text, or - for standard input.
        file: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
}

/// The words of `meshcon chaos`, which the console's `:chaos` takes too.
#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// The action.
    pub action: ChaosAction,
    /// Instance (billing-v1-0), workload (billing-v1), service, cluster, or
    /// for (un)federate two clusters (eu,us).
    pub target: String,
    /// slow: extra latency in ms, at most 60000 (one minute) [default: 200].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=mesh::runtime::plan::MAX_CHAOS_DELAY_MS))]
    pub delay_ms: Option<u64>,
    /// fail: share of requests answered 503, above 0 and at most 1 [default: 1].
    #[arg(long, value_parser = share)]
    pub rate: Option<f64>,
}

impl ChaosArgs {
    /// The request these words ask for. An amount the action would ignore
    /// is a mistake worth saying; an amount not given is sent as 0, which
    /// leaves it to the mesh, the one place the defaults live.
    pub fn request(&self) -> Result<mesh::api::ChaosRequest, String> {
        let action = self.action.name();
        for (flag, given, takes) in [
            ("--delay-ms", self.delay_ms.is_some(), "slow"),
            ("--rate", self.rate.is_some(), "fail"),
        ] {
            if given && action != takes {
                return Err(format!(
                    "{flag} is for `chaos {takes}`, not `chaos {action}`"
                ));
            }
        }
        Ok(mesh::api::ChaosRequest {
            action,
            target: self.target.clone(),
            delay_ms: self.delay_ms.unwrap_or(0),
            error_rate: self.rate.unwrap_or(0.0),
        })
    }
}

/// What `meshcon chaos` can do.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ChaosAction {
    /// Add latency to an instance, workload or service.
    Slow,
    /// Answer a share of requests with 503.
    Fail,
    /// Undo slow and fail.
    Heal,
    /// Stop instances (sidecar and app).
    Kill,
    /// Start killed instances again.
    Restart,
    /// Stop a cluster's control plane.
    StopControlPlane,
    /// Start it again.
    StartControlPlane,
    /// Stop a cluster's east-west gateway (a partition).
    StopGateway,
    /// Start it again.
    StartGateway,
    /// Try plaintext and a self-made certificate against a service.
    Rogue,
    /// Stop two clusters trusting each other (eu,us).
    Unfederate,
    /// Federate two clusters again (eu,us).
    Federate,
    /// Rotate a cluster's CA root in checked steps.
    RotateRoot,
}

impl ChaosAction {
    /// The action as the command line spells it (`rotate-root`).
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// Where a real mesh's data comes from (`attach` and `get` take the same flags).
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// The mesh's Prometheus: http(s)://HOST:PORT[/prefix].
    #[arg(long, env = "MESHCON_PROMETHEUS", value_name = "URL")]
    pub prometheus: Option<String>,
    /// The metrics' dialect (default: detected from the series present).
    #[arg(long, value_name = "istio|linkerd", value_parser = dialect)]
    pub dialect: Option<Dialect>,
    /// A bearer token for Prometheus.
    #[arg(
        long,
        env = "MESHCON_PROMETHEUS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub prometheus_token: Option<String>,
    /// A file holding the bearer token (a service account's, say).
    #[arg(long, env = "MESHCON_PROMETHEUS_TOKEN_FILE", value_name = "FILE")]
    pub prometheus_token_file: Option<PathBuf>,
    /// Basic auth for Prometheus, USER:PASSWORD.
    #[arg(
        long,
        env = "MESHCON_PROMETHEUS_BASIC_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    pub prometheus_basic_auth: Option<String>,
    /// CA certificates (PEM) to trust for an https Prometheus.
    #[arg(long, env = "MESHCON_PROMETHEUS_CA", value_name = "FILE")]
    pub prometheus_ca: Option<PathBuf>,
    /// Without Prometheus: scrape a proxy's metrics directly (Envoy
    /// HOST:15090 or HOST:15020, or a full URL); repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    pub scrape: Vec<String>,
    /// A file listing scrape targets, one per line.
    #[arg(long, value_name = "FILE")]
    pub scrape_file: Option<PathBuf>,
    /// Receive OTLP/gRPC spans from the mesh's proxies here [default: 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:4317")]
    pub otlp_listen: Option<SocketAddr>,
    /// Receive Zipkin v2 JSON spans (`POST /api/v2/spans`, what Envoy's
    /// Zipkin tracer sends) here [default: 127.0.0.1:9411].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9411")]
    pub zipkin_listen: Option<SocketAddr>,
    /// Read traces from an existing Jaeger's HTTP API (http://HOST:16686).
    #[arg(long, value_name = "URL")]
    pub jaeger: Option<String>,
    /// An Envoy admin address (HOST:PORT, e.g. a port-forwarded 15000):
    /// its certificates in Identities, and `get proxy-config`; repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    pub envoy_admin: Vec<String>,
    /// A saved Envoy /config_dump instead of a live proxy.
    #[arg(long, value_name = "FILE")]
    pub config_dump: Option<PathBuf>,
    /// The kubectl context to read config from and apply edits to.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig file (default: kubectl's own: $KUBECONFIG, ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Read Istio resources from this file (a `kubectl get -o yaml|json`
    /// List or multi-document YAML) instead of the cluster.
    #[arg(long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Never change the cluster: edits are written to files.
    #[arg(long)]
    pub read_only: bool,
}

fn dialect(s: &str) -> Result<Dialect, String> {
    s.parse()
}

impl SourceArgs {
    /// The real mesh these flags describe, or None when none was given
    /// (the console then talks to a meshcon mesh).
    pub fn real(&self, state_dir: &std::path::Path) -> anyhow::Result<Option<RealMesh>> {
        let mut real = RealMesh {
            dialect: self.dialect,
            otlp_listen: self.otlp_listen,
            zipkin_listen: self.zipkin_listen,
            jaeger: self.jaeger.clone(),
            envoy_admin: self.envoy_admin.clone(),
            config_dump: self.config_dump.clone(),
            resources_file: self.resources.clone(),
            read_only: self.read_only,
            edits_dir: state_dir.join("edits"),
            ..Default::default()
        };
        if let Some(url) = &self.prometheus {
            let mut endpoint = Endpoint::parse(url)?;
            endpoint.ca = self.prometheus_ca.clone();
            endpoint.auth = if let Some(t) = &self.prometheus_token {
                Auth::Bearer(t.clone())
            } else if let Some(f) = &self.prometheus_token_file {
                let t = std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("--prometheus-token-file {}: {e}", f.display()))?;
                Auth::Bearer(t.trim().to_string())
            } else if let Some(b) = &self.prometheus_basic_auth {
                let (user, password) = b.split_once(':').ok_or_else(|| {
                    anyhow::anyhow!("--prometheus-basic-auth takes USER:PASSWORD")
                })?;
                Auth::Basic {
                    user: user.into(),
                    password: password.into(),
                }
            } else {
                Auth::None
            };
            real.prometheus = Some(Prometheus { endpoint });
        }
        real.scrape = self.scrape.clone();
        if let Some(f) = &self.scrape_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("--scrape-file {}: {e}", f.display()))?;
            real.scrape.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        // The cluster's config through kubectl when the user has one set up
        // (a file given instead wins); edits need it too.
        let kube_configured = self.context.is_some()
            || self.kubeconfig.is_some()
            || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
            || std::env::var_os("HOME")
                .is_some_and(|h| PathBuf::from(h).join(".kube/config").exists());
        if kube_configured {
            real.kubectl = Some(Kubectl {
                context: self.context.clone(),
                kubeconfig: self.kubeconfig.clone(),
                ..Default::default()
            });
        }
        let asked = real.prometheus.is_some()
            || !real.scrape.is_empty()
            || real.otlp_listen.is_some()
            || real.zipkin_listen.is_some()
            || real.jaeger.is_some()
            || !real.envoy_admin.is_empty()
            || real.config_dump.is_some()
            || real.resources_file.is_some()
            || self.context.is_some()
            || self.kubeconfig.is_some();
        Ok(asked.then_some(real))
    }
}

/// Exits with clap's usage error (code 2) and `msg`.
fn usage_error(msg: String) -> ! {
    use clap::CommandFactory;
    Cli::command()
        .error(clap::error::ErrorKind::InvalidValue, msg)
        .exit()
}

/// A config version as `history` prints it (v12) or bare (12).
pub(crate) fn version(s: &str) -> Result<u64, String> {
    s.strip_prefix(['v', 'V'])
        .unwrap_or(s)
        .parse()
        .map_err(|_| {
            format!("'{s}' is not a config version (like 12 or v12; see `meshcon history`)")
        })
}

/// A share of requests: above 0, at most 1.
pub(crate) fn share(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| *r > 0.0 && *r <= 1.0)
        .ok_or_else(|| {
            format!("'{s}' is not a share of requests above 0 and at most 1 (0.3 is 30%)")
        })
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("meshcon: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let state_dir = cli.state_dir.clone();
    crate::client::use_credentials(cli.credentials.clone(), state_dir.as_deref());
    if let Some(t) = cli.thresholds {
        crate::tui::use_thresholds(t);
    }
    // A mesh started with this state directory recorded its address there.
    let mesh = cli.mesh.clone().or_else(|| {
        let dir = state_dir.as_ref()?;
        let text = std::fs::read_to_string(crate::client::api_file(dir)).ok()?;
        Some(text.trim().to_string()).filter(|t| !t.is_empty())
    });
    let result = rt.block_on(async move {
        match cli.command {
            None => {
                commands::up::run(UpArgs {
                    state_dir,
                    ..cli.up
                })
                .await
            }
            Some(Command::Up(args)) => commands::up::run(UpArgs { state_dir, ..args }).await,
            Some(Command::Attach { addr, source }) => {
                let dir = state_dir.clone().unwrap_or_else(mesh::api::state::default_dir);
                match source.real(&dir)? {
                    Some(real) => {
                        commands::up::init_logging(&dir);
                        commands::attach::attach(real, &dir).await
                    }
                    None => commands::up::attach(addr.or(mesh), state_dir).await,
                }
            }
            Some(Command::Practice { what: None }) => commands::up::practice(mesh, state_dir).await,
            Some(Command::Practice {
                what: Some(PracticeCommand::Check { file, output }),
            }) => commands::check::run(&file, output),
            Some(Command::Apply { file }) => {
                commands::config::apply(mesh.as_deref(), &file, false).await
            }
            Some(Command::Validate { file }) => {
                commands::config::apply(mesh.as_deref(), &file, true).await
            }
            Some(Command::Delete {
                kind,
                name,
                namespace,
            }) => {
                const KINDS: [&str; 5] = [
                    "VirtualService",
                    "DestinationRule",
                    "Gateway",
                    "PeerAuthentication",
                    "AuthorizationPolicy",
                ];
                if !KINDS.iter().any(|k| mesh::api::config::kind_matches(&kind, k)) || kind == "routes" {
                    usage_error(format!(
                        "'{kind}' is not a kind meshcon deletes: VirtualService (vs), DestinationRule (dr), Gateway (gw), PeerAuthentication (pa), AuthorizationPolicy (ap)"
                    ));
                }
                commands::config::delete(mesh.as_deref(), &kind, &name, &namespace).await
            }
            Some(Command::Get {
                what: GetWhat::ProxyConfig,
                section,
                source,
                output,
                ..
            }) => {
                let Some(section) = section else {
                    usage_error(
                        "proxy-config needs what to show: secret, endpoint, route or cluster".into(),
                    );
                };
                let sources = commands::proxy_config::Sources {
                    envoy_admin: source.envoy_admin,
                    config_dump: source.config_dump,
                };
                commands::proxy_config::run(section, sources, output).await
            }
            Some(Command::Get {
                what,
                section: None,
                output,
                trace_id,
                service,
                min_ms,
                errors,
                limit,
                window,
                follow,
                source,
                ..
            }) => {
                let opts = commands::get::GetOptions {
                    output,
                    trace_id,
                    service,
                    min_ms,
                    errors,
                    limit,
                    window,
                    follow,
                };
                let dir = state_dir.clone().unwrap_or_else(mesh::api::state::default_dir);
                match source.real(&dir)? {
                    Some(real) => commands::attach::get(real, what, opts).await,
                    None => commands::get::run(mesh.as_deref(), what, opts).await,
                }
            }
            Some(Command::Get { section: Some(s), .. }) => usage_error(format!(
                "'{}' only follows 'get proxy-config'",
                s.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
            )),
            Some(Command::Bench { what }) => commands::bench::run(what).await,
            Some(Command::Logs {
                instance,
                follow,
                tail,
            }) => commands::logs::run(mesh.as_deref(), &instance, follow, tail).await,
            Some(Command::History { output }) => {
                commands::config::history(mesh.as_deref(), state_dir.as_deref(), output).await
            }
            Some(Command::Diff { from, to }) => {
                commands::config::diff(mesh.as_deref(), state_dir.as_deref(), from, to).await
            }
            Some(Command::Rollback { to }) => commands::config::rollback(mesh.as_deref(), to).await,
            Some(Command::Export {
                what: commands::export::ExportWhat::Kubernetes(args),
            }) => commands::export::kubernetes(args, state_dir.as_deref()),
            Some(Command::Import(args)) => commands::export::import(args),
            Some(Command::Workload(args)) => commands::export::workload(args).await,
            Some(Command::Chaos(args)) => {
                let req = args.request().unwrap_or_else(|e| usage_error(e));
                commands::config::chaos(
                    mesh.as_deref(),
                    &req.action,
                    &req.target,
                    req.delay_ms,
                    req.error_rate,
                )
                .await
            }
        }
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "meshcon: {}",
                crate::output::escape_lines(&format!("{e:#}"))
            );
            if e.to_string().contains("cannot reach a meshcon mesh") {
                ExitCode::from(3)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[test]
    fn every_subcommand_parses_without_clashing_arguments() {
        // clap checks names and defaults of every subcommand here, which it
        // would otherwise do only when that subcommand is first used.
        super::Cli::command().debug_assert();
        for args in [
            &["meshcon", "rollback", "v3"][..],
            &["meshcon", "diff", "v2", "3"],
            &["meshcon", "chaos", "fail", "billing-v1-0", "--rate", "0.5"],
            &["meshcon", "delete", "vs", "billing"],
            &["meshcon", "practice"],
            &["meshcon", "practice", "check", "-o", "json", "-"],
            &[
                "meshcon",
                "attach",
                "--prometheus",
                "http://127.0.0.1:9090",
                "--otlp-listen",
            ],
            &[
                "meshcon", "get", "edges", "--scrape", "a:15090", "--scrape", "b:4191",
            ],
            &[
                "meshcon",
                "get",
                "proxy-config",
                "secret",
                "--config-dump",
                "d.json",
            ],
            &[
                "meshcon",
                "export",
                "kubernetes",
                "--version",
                "v3",
                "-o",
                "out",
            ],
            &[
                "meshcon",
                "workload",
                "--service",
                "billing",
                "--version",
                "v2",
            ],
        ] {
            assert!(super::Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn data_plane_threads_are_between_1_and_64() {
        for ok in [
            &["meshcon", "up", "--dataplane-threads", "2"][..],
            &[
                "meshcon",
                "bench",
                "dataplane",
                "--dataplane-threads",
                "4",
                "--rate",
                "500,1000",
            ],
        ] {
            assert!(super::Cli::try_parse_from(ok).is_ok(), "{ok:?}");
        }
        for bad in ["0", "65", "two"] {
            let e = super::Cli::try_parse_from(["meshcon", "up", "--dataplane-threads", bad])
                .expect_err("refused");
            assert!(e.to_string().contains("--dataplane-threads"), "{e}");
        }
        let e = super::Cli::try_parse_from(["meshcon", "bench", "dataplane", "--rate", "0"])
            .expect_err("a rate of 0 is refused");
        assert!(e.to_string().contains("--rate"), "{e}");
    }
}
