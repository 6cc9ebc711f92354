//! The console's data: the events the data tasks send the UI and the
//! commands the UI sends back. Two sources fill them (see
//! [`source`](super::source)): a meshcon mesh's console API, or a real
//! Istio or Linkerd mesh read through Prometheus, Envoy admin, trace
//! receivers and kubectl; views never know which. Nothing blocks the render
//! loop; a lost connection is reported and retried by itself.
//!
//! The tasks send anything an event can be made from (`E: From<DataEvent>`),
//! so this module does not depend on the loop's event type.

use std::time::Duration;

use mesh::api::{ApplyReply, ChaosRequest, ExplainRequest};
use mesh::api::{EdgeSignal, ServiceSignal};
use tokio::sync::mpsc;

use crate::practice::progress::Write;

/// The window golden signals are computed over in the console, seconds.
pub const WINDOW: f64 = 30.0;
/// The short window of a change's before/after panel, seconds.
pub const RECENT: f64 = 10.0;

/// What the data tasks report.
#[derive(Debug, Clone)]
pub enum DataEvent {
    /// What the console is attached to and what that source cannot do.
    Attached(SourceInfo),
    /// A text to read in a panel over the view (a proxy's config).
    Look {
        /// The panel's title.
        title: String,
        /// Its lines.
        text: String,
    },
    /// A neutral note for the status line (where an edit was written, what
    /// a source does not offer).
    Note(String),
    /// A real cluster's server-side dry run of an edit: shown, then applied
    /// for real only if the user confirms.
    DryRun {
        /// The YAML that would be applied.
        yaml: String,
        /// What history calls it.
        file: String,
        /// kubectl's answer.
        output: String,
        /// Whether kubectl accepted it.
        ok: bool,
    },
    /// The console API answered.
    Connected {
        /// The name the mesh reports for itself.
        mesh: String,
    },
    /// The console API did not answer.
    Disconnected(String),
    /// Workloads and trust domains.
    Workloads(mesh::api::WorkloadList),
    /// Per-proxy config state.
    Proxies(mesh::api::ProxyList),
    /// Golden signals from the latest scrapes.
    Signals {
        /// Per service version, over [`WINDOW`].
        services: Vec<ServiceSignal>,
        /// Per caller and service version, over [`WINDOW`].
        edges: Vec<EdgeSignal>,
        /// Per edge over the last [`RECENT`] seconds only.
        recent_edges: Vec<EdgeSignal>,
        /// When, seconds since the epoch.
        at: f64,
    },
    /// Exact percentiles per edge, from the proxies' histograms.
    Latency(Vec<mesh::api::EdgeStat>),
    /// New control-plane events.
    Events(Vec<mesh::api::Event>),
    /// New tapped requests.
    Tap(Vec<mesh::api::TapEntry>),
    /// The newest traces, failed ones kept longer.
    Traces(Vec<mesh::api::Trace>),
    /// The applied resources and the version.
    Resources {
        /// Every applied resource, one YAML stream.
        yaml: String,
        /// The config version they make (0 when the proxies did not say).
        version: u64,
    },
    /// The analyzer's findings in a real mesh's config, as loaded.
    ConfigFindings(Vec<mesh::api::Finding>),
    /// Config versions, for the history pane and rollbacks.
    History(Vec<mesh::api::HistoryEntry>),
    /// Trust bundles exchanged and gateway reachability.
    Federation(mesh::api::FederationStatus),
    /// The running topology.
    Topology(Box<mesh::api::Topology>),
    /// The answer to an apply (or rollback).
    Applied(Result<ApplyReply, String>),
    /// Inline validation findings for the editor.
    Validated {
        /// Which edit they belong to.
        seq: u64,
        /// Errors and warnings, with line and column.
        findings: Vec<mesh::api::Finding>,
    },
    /// A unified diff between two config versions.
    Diff(Result<String, String>),
    /// The answer to a chaos action.
    Chaos(Result<String, String>),
    /// The answer to a "why" question.
    Explained(Result<String, String>),
    /// A practice progress write failed (the progress stays in memory).
    ProgressNotSaved(String),
}

/// What the UI asks the data tasks to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Apply YAML.
    Apply {
        /// One or more resources.
        yaml: String,
        /// What findings and history call it (a file, a quick action).
        file: String,
    },
    /// Validate YAML (dry run) for the editor.
    Validate {
        /// The edit it belongs to, so late answers are ignored.
        seq: u64,
        /// The editor's text.
        yaml: String,
    },
    /// Apply YAML to a real cluster after its dry run was shown and confirmed.
    ApplyConfirmed {
        /// One or more resources.
        yaml: String,
        /// What history calls it.
        file: String,
    },
    /// Show what the attached Envoys say of one part of their config.
    ProxyConfig(crate::commands::proxy_config::Section),
    /// Compute golden signals over this many seconds from now on.
    SetWindow(f64),
    /// Roll back to a version.
    Rollback(u64),
    /// Diff two versions (0: current).
    Diff(u64, u64),
    /// Run a chaos action.
    Chaos(ChaosRequest),
    /// Explain a request's path.
    Explain(ExplainRequest),
    /// Refresh history and resources now.
    RefreshConfig,
    /// Run commands one after another (a scenario).
    Sequence(Vec<Command>),
    /// In a sequence: let the mesh run this many seconds before the next step.
    Wait(u64),
    /// Make a practice result last (in the state directory's practice.db).
    SaveProgress(Write),
}

impl Command {
    /// What the command does, in a word or two, for the status line.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Apply { .. } | Command::ApplyConfirmed { .. } => "apply",
            Command::Validate { .. } => "validate",
            Command::SetWindow(_) => "window",
            Command::ProxyConfig(_) => "proxy-config",
            Command::Rollback(_) => "rollback",
            Command::Diff(..) => "diff",
            Command::Chaos(_) => "chaos",
            Command::Explain(_) => "why",
            Command::RefreshConfig => "refresh",
            Command::Sequence(_) => "scenario",
            Command::Wait(_) => "wait",
            Command::SaveProgress(_) => "save progress",
        }
    }
}

/// The background side, as the console waits for it on exit.
#[derive(Debug)]
pub struct Background {
    pub(crate) writer: std::thread::JoinHandle<()>,
}

impl Background {
    /// Waits (a little) for the progress writes still queued: they are sent
    /// before the loop ends, and written once the command channel closes.
    pub async fn finish(self) {
        let join = tokio::task::spawn_blocking(move || self.writer.join());
        let _ = tokio::time::timeout(Duration::from_secs(3), join).await;
    }
}

pub(crate) async fn send<E: From<DataEvent>>(tx: &mpsc::Sender<E>, ev: DataEvent) -> bool {
    tx.send(E::from(ev)).await.is_ok()
}

pub(crate) fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A console feature a source may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Breaking things on purpose (and the live drills built on it).
    Chaos,
    /// Scripted scenarios.
    Scenarios,
    /// "Why": a proxy's own account of a request's path.
    Why,
    /// Rolling back or diffing config versions.
    Versions,
    /// The live request tap.
    Tap,
    /// The control plane's event stream.
    Events,
}

impl Feature {
    /// What the feature is called on screen.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Chaos => "chaos and live drills",
            Feature::Scenarios => "scenarios",
            Feature::Why => "Why",
            Feature::Versions => "rollback and diff",
            Feature::Tap => "the tap",
            Feature::Events => "events",
        }
    }
}

/// What the console is attached to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceInfo {
    /// What the footer says (`prometheus http://127.0.0.1:9090 · istio`).
    pub label: String,
    /// Whether this is a real mesh rather than a meshcon one.
    pub real: bool,
    /// Features this source cannot offer, each with a one-line reason.
    pub missing: Vec<(Feature, String)>,
}

impl SourceInfo {
    /// A meshcon mesh: everything is there.
    pub fn meshcon(addr: &str) -> SourceInfo {
        SourceInfo {
            label: addr.to_string(),
            real: false,
            missing: Vec::new(),
        }
    }

    /// Why `f` is not available here, if it is not.
    pub fn lacks(&self, f: Feature) -> Option<&str> {
        self.missing
            .iter()
            .find(|(m, _)| *m == f)
            .map(|(_, why)| why.as_str())
    }
}
