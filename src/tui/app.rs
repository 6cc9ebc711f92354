//! The console's state and `update`, the only place it changes. Views read
//! `&App`; the loop turns inputs into [`Action`]s, calls `update`, and sends
//! the [`Command`]s it returns to the data tasks.

use std::collections::{BTreeSet, HashMap, VecDeque};

use mesh::api::{ChaosRequest, ExplainRequest};
use mesh::api::{EdgeSignal, ServiceSignal};

use super::action::{Action, Confirm, View};
use super::data::{Command, DataEvent};
use super::editor::Editor;
use super::practice::Practice;
use super::quick;
use super::scenario;

/// Events kept for the events view.
const KEEP_EVENTS: usize = 1000;
/// Requests kept for the tap view.
const KEEP_TAP: usize = 500;
/// Points kept per sparkline.
const KEEP_POINTS: usize = 60;

/// The connection to the mesh.
#[derive(Debug, Clone, Default)]
pub struct Conn {
    /// Console API address.
    pub addr: String,
    /// Mesh name.
    pub mesh: String,
    /// Whether the last call succeeded.
    pub connected: bool,
    /// The last error.
    pub error: Option<String>,
    /// When data last arrived, seconds since the epoch.
    pub last_data: Option<f64>,
}

/// Everything learned from the mesh.
#[derive(Debug, Clone, Default)]
pub struct MeshData {
    /// Workloads and gateways.
    pub workloads: Vec<mesh::api::Workload>,
    /// Trust domains.
    pub trust_domains: Vec<mesh::api::TrustDomain>,
    /// Proxies' config state.
    pub proxies: Vec<mesh::api::ProxyState>,
    /// Current config version.
    pub version: u64,
    /// Golden signals per service version.
    pub services: Vec<ServiceSignal>,
    /// Per edge.
    pub edges: Vec<EdgeSignal>,
    /// Per edge over the last few seconds only (a change's before/after).
    pub recent_edges: Vec<EdgeSignal>,
    /// Exact percentiles.
    pub latency: Vec<mesh::api::EdgeStat>,
    /// Control-plane events, oldest first.
    pub events: VecDeque<mesh::api::Event>,
    /// Tapped requests, oldest first.
    pub tap: VecDeque<mesh::api::TapEntry>,
    /// Recent traces, newest first.
    pub traces: Vec<mesh::api::Trace>,
    /// Applied resources as YAML.
    pub resources_yaml: String,
    /// Applied resources: (kind, namespace, name, YAML).
    pub resources: Vec<(String, String, String, String)>,
    /// Config history.
    pub history: Vec<mesh::api::HistoryEntry>,
    /// Federation status.
    pub federation: mesh::api::FederationStatus,
    /// The topology.
    pub topology: Option<mesh::api::Topology>,
    /// Sparkline points per key (`service` or `source>service`): (rps, p99).
    pub series: HashMap<String, VecDeque<(f64, f64)>>,
}

/// How services are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By name.
    #[default]
    Name,
    /// Busiest first.
    Rps,
    /// Worst success first.
    Success,
    /// Slowest P99 first.
    P99,
}

/// Which pane of the routing view has focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutingPane {
    /// The applied resources.
    #[default]
    List,
    /// The YAML editor.
    Editor,
    /// Config history.
    History,
}

/// Traffic on the edges a change touched, before and after it.
#[derive(Debug, Clone, Default)]
pub struct BeforeAfter {
    /// Services the change named.
    pub services: Vec<String>,
    /// When it was applied.
    pub at: f64,
    /// Edges just before.
    pub before: Vec<EdgeSignal>,
    /// Edges ten seconds later (None until then).
    pub after: Option<Vec<EdgeSignal>>,
}

/// The routing view's state.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// Focused pane.
    pub pane: RoutingPane,
    /// Selected resource.
    pub selected: usize,
    /// The editor.
    pub editor: Editor,
    /// Findings for the editor's text.
    pub findings: Vec<mesh::api::Finding>,
    /// The edit the findings belong to.
    pub validated_seq: u64,
    /// The edit a validation was last asked for, and when the text last changed.
    pub pending: Option<(u64, f64)>,
    /// Selected history entry.
    pub history_selected: usize,
    /// A diff being shown.
    pub diff: Option<String>,
    /// The last apply's summary and NACKs.
    pub last_apply: Option<(String, Vec<String>, bool)>,
    /// Before/after of the last change.
    pub before_after: Option<BeforeAfter>,
    /// A quick action written into the editor and not yet applied.
    pub staged: Option<String>,
}

/// The why view's form.
#[derive(Debug, Clone)]
pub struct Why {
    /// Focused field: 0 source, 1 host, 2 path, 3 method, 4 headers.
    pub field: usize,
    /// Typing into the focused field.
    pub editing: bool,
    /// Index into [`App::sources`].
    pub source: usize,
    /// The user picked the source (until then it follows the data).
    pub source_chosen: bool,
    /// Host.
    pub host: String,
    /// Path.
    pub path: String,
    /// Method.
    pub method: String,
    /// Headers, `name: value; name: value`.
    pub headers: String,
    /// The answer.
    pub result: Option<Result<String, String>>,
    /// The config version the answer was asked at.
    pub asked_at: u64,
    /// Lines of the answer scrolled past.
    pub scroll: u16,
}

impl Default for Why {
    fn default() -> Self {
        Self {
            field: 1,
            editing: false,
            source: 0,
            source_chosen: false,
            host: "billing".into(),
            path: "/".into(),
            method: "GET".into(),
            headers: "end-user: tester".into(),
            asked_at: 0,
            scroll: 0,
            result: None,
        }
    }
}

/// The console's whole state.
#[derive(Debug)]
pub struct App {
    /// Current view.
    pub view: View,
    /// The mesh runs in this process (quitting stops it).
    pub embedded: bool,
    /// Connection state.
    pub conn: Conn,
    /// Now, seconds since the epoch (set on ticks, so views stay pure).
    pub now: f64,
    /// The time the traces list was last aged at (a Tick copies `now`), so
    /// that a trace ageing into view happens inside an update.
    pub traces_at: f64,
    /// Terminal size.
    pub size: (u16, u16),
    /// Help overlay shown.
    pub help: bool,
    /// Lines of the help overlay scrolled past.
    pub help_scroll: u16,
    /// A pending confirmation.
    pub confirm: Option<Confirm>,
    /// The `:` palette's input, when open.
    pub palette: Option<String>,
    /// The `/` filter being typed.
    pub filter_input: Option<String>,
    /// Filters per view.
    pub filters: HashMap<View, String>,
    /// A message for the status line (text, is error).
    pub status: Option<(String, bool)>,
    /// What a scenario asks the user to look at.
    pub look: Option<(String, String)>,
    /// Quit now.
    pub quit: bool,
    /// Data from the mesh.
    pub d: MeshData,
    /// Selected row per list view.
    pub selected: HashMap<View, usize>,
    /// Graph: hide idle edges.
    pub hide_idle: bool,
    /// Graph: collapsed services.
    pub collapsed: BTreeSet<String>,
    /// Services: sort key.
    pub sort: SortKey,
    /// Services: show exact percentiles.
    pub exact: bool,
    /// Tap: paused.
    pub paused: bool,
    /// Traces: the trace whose waterfall is open.
    pub open_trace: Option<String>,
    /// Routing view.
    pub routing: Routing,
    /// Why view.
    pub why: Why,
    /// Practice view.
    pub practice: Practice,
    /// No colours (NO_COLOR).
    pub no_color: bool,
}

impl App {
    /// A fresh console for the mesh at `addr`.
    pub fn new(addr: &str, embedded: bool, practice: Practice) -> Self {
        Self {
            view: View::Graph,
            embedded,
            conn: Conn {
                addr: addr.to_string(),
                ..Default::default()
            },
            now: 0.0,
            traces_at: 0.0,
            size: (80, 24),
            help: false,
            help_scroll: 0,
            confirm: None,
            palette: None,
            filter_input: None,
            filters: HashMap::new(),
            status: None,
            look: None,
            quit: false,
            d: MeshData::default(),
            selected: HashMap::new(),
            hide_idle: false,
            collapsed: BTreeSet::new(),
            sort: SortKey::default(),
            exact: false,
            paused: false,
            open_trace: None,
            routing: Routing::default(),
            why: Why::default(),
            practice,
            no_color: false,
        }
    }

    /// The filter of a view.
    pub fn filter(&self, v: View) -> &str {
        self.filters.get(&v).map(String::as_str).unwrap_or("")
    }

    /// The selected row of a view.
    pub fn sel(&self, v: View) -> usize {
        self.selected.get(&v).copied().unwrap_or(0)
    }

    fn set_sel(&mut self, v: View, i: usize) {
        self.selected.insert(v, i);
    }

    /// How many rows the current view lists (for selection bounds).
    pub fn rows(&self) -> usize {
        match self.view {
            View::Graph => super::ui::graph::rows(self).len(),
            View::Services => super::ui::services::rows(self).len(),
            View::Tap => super::ui::tap::rows(self).len(),
            View::Identities => super::ui::identities::rows(self).len(),
            View::Traces => match &self.open_trace {
                Some(_) => 0,
                None => super::ui::traces::rows(self).len(),
            },
            View::Routing => match self.routing.pane {
                RoutingPane::History => self.d.history.len(),
                _ => self.d.resources.len(),
            },
            View::Events => super::ui::events::rows(self).len(),
            View::Why | View::Practice => 0,
        }
    }
    /// Workloads the why view can ask from: sidecars first, so the default
    /// question is one a service asks.
    pub fn sources(&self) -> Vec<&mesh::api::Workload> {
        let of = |kind: &'static str| self.d.workloads.iter().filter(move |w| w.kind == kind);
        of("sidecar").chain(of("ingress-gateway")).collect()
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some((text.into(), error));
    }
}

/// The palette's commands, for help and completion.
pub const PALETTE: &[(&str, &str)] = &[
    ("graph", "the service graph"),
    ("svc", "golden signals per service"),
    ("tap", "live requests"),
    ("identities", "SPIFFE IDs and certificates"),
    ("traces", "recent traces"),
    ("routing", "applied rules and the editor"),
    ("why", "which route a request takes"),
    ("events", "the control plane's events"),
    ("practice", "vocabulary practice"),
    ("vs", "vs NAME: edit a VirtualService"),
    ("dr", "dr NAME: edit a DestinationRule"),
    ("scenario", "scenario NAME: run a demo scenario"),
    ("apply", "apply RULE: apply a file of demo/rules"),
    (
        "chaos",
        "chaos ACTION TARGET [AMOUNT]: slow (ms), fail (share), heal, kill, restart, rogue, rotate-root...",
    ),
    ("rollback", "rollback N: make version N current again"),
    ("help", "every key"),
    ("quit", "leave"),
];

/// The chaos actions, as `meshcon chaos` takes them.
fn chaos_actions() -> Vec<String> {
    use clap::ValueEnum;
    crate::cli::ChaosAction::value_variants()
        .iter()
        .filter_map(|a| a.to_possible_value())
        .map(|v| v.get_name().to_string())
        .collect()
}

/// Completions of a palette input.
pub fn completions(app: &App, input: &str) -> Vec<String> {
    let words: Vec<&str> = input.split_whitespace().collect();
    let trailing = input.ends_with(' ');
    if words.is_empty() || (words.len() == 1 && !trailing) {
        let prefix = words.first().copied().unwrap_or("");
        return PALETTE
            .iter()
            .map(|(c, _)| c.to_string())
            .filter(|c| c.starts_with(prefix))
            .collect();
    }
    let arg = if trailing {
        ""
    } else {
        words.last().copied().unwrap_or("")
    };
    let options: Vec<String> = match words[0] {
        "scenario" => scenario::all().into_iter().map(|s| s.name).collect(),
        "apply" => scenario::RULES.iter().map(|(n, _)| n.to_string()).collect(),
        "vs" | "dr" => {
            let mut v: Vec<String> = app
                .d
                .topology
                .as_ref()
                .map(|t| t.services.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default();
            v.sort();
            v.dedup();
            v
        }
        "chaos" if words.len() == 1 || (words.len() == 2 && !trailing) => chaos_actions(),
        "chaos" => {
            let mut v: Vec<String> = app
                .d
                .workloads
                .iter()
                .filter(|w| w.is_sidecar())
                .flat_map(|w| [w.instance.clone(), w.service.clone()])
                .collect();
            v.extend(app.d.trust_domains.iter().map(|t| t.cluster.clone()));
            v.sort();
            v.dedup();
            v
        }
        "rollback" => app
            .d
            .history
            .iter()
            .map(|h| h.version.to_string())
            .collect(),
        _ => Vec::new(),
    };
    let head: String = if trailing {
        input.to_string()
    } else {
        input[..input.len() - arg.len()].to_string()
    };
    options
        .into_iter()
        .filter(|o| o.starts_with(arg))
        .map(|o| format!("{head}{o}"))
        .collect()
}

fn resource_rows(yaml: &str) -> Vec<(String, String, String, String)> {
    let out = mesh::api::config::parse("-", yaml);
    out.resources
        .iter()
        .map(|p| {
            let k = p.resource.key();
            let text = mesh::api::config::to_yaml(std::slice::from_ref(&p.resource));
            (k.kind, k.namespace, k.name, text)
        })
        .collect()
}

fn services_named(yaml: &str) -> Vec<String> {
    let out = mesh::api::config::parse("-", yaml);
    let mut v: Vec<String> = out
        .resources
        .iter()
        .flat_map(|p| match &p.resource {
            mesh::api::config::model::Resource::VirtualService(vs) => vs
                .spec
                .hosts
                .iter()
                .map(|h| mesh::api::config::short_name(h))
                .collect(),
            mesh::api::config::model::Resource::DestinationRule(dr) => {
                vec![mesh::api::config::short_name(&dr.spec.host)]
            }
            _ => Vec::new(),
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn template(kind: &str, name: &str) -> String {
    match kind {
        "dr" => format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  host: {name}\n  trafficPolicy:\n    outlierDetection:\n      consecutive5xxErrors: 5\n      interval: 1s\n      baseEjectionTime: 30s\n"
        ),
        _ => format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  hosts:\n  - {name}\n  http:\n  - route:\n    - destination:\n        host: {name}\n"
        ),
    }
}

fn open_editor(app: &mut App, text: &str, seq_base: u64) -> Vec<Command> {
    app.view = View::Routing;
    app.routing.pane = RoutingPane::Editor;
    app.routing.editor = Editor::new(text);
    app.routing.staged = None;
    app.routing.editor.seq = seq_base + 1;
    app.routing.findings.clear();
    app.routing.pending = None;
    vec![Command::Validate {
        seq: app.routing.editor.seq,
        yaml: app.routing.editor.text(),
    }]
}

/// What quick actions build on: the staged YAML, then what the mesh runs.
/// None (with the reason said) while the staged YAML has errors, which a
/// quick action would otherwise silently drop.
fn draft(app: &mut App) -> Option<quick::Draft> {
    let staged = app
        .routing
        .staged
        .is_some()
        .then(|| app.routing.editor.text());
    if staged.is_some() && app.routing.findings.iter().any(|f| f.level == "Error") {
        app.say(
            "the staged YAML has errors: fix them (e) before a quick action builds on it",
            true,
        );
        return None;
    }
    Some(quick::Draft::new(staged.as_deref(), &app.d.resources_yaml))
}

/// Writes a quick action's YAML into the editor, validated, for `a` to apply:
/// the user sees the rule before it changes the traffic.
fn stage(app: &mut App, yaml: String, what: String) -> Vec<Command> {
    let seq = app.routing.editor.seq;
    let cmds = open_editor(app, &yaml, seq);
    app.routing.pane = RoutingPane::List;
    app.say(format!("staged {what}: a applies, e edits it first"), false);
    app.routing.staged = Some(what);
    cmds
}

/// Applies YAML now, remembering the traffic it is about to change.
fn apply(app: &mut App, yaml: String, file: &str) -> Vec<Command> {
    let services = services_named(&yaml);
    let before = app
        .d
        .recent_edges
        .iter()
        .filter(|e| services.contains(&e.service))
        .cloned()
        .collect();
    app.routing.before_after = Some(BeforeAfter {
        services,
        at: app.now,
        before,
        after: None,
    });
    app.say(format!("applying {file}..."), false);
    vec![Command::Apply {
        yaml,
        file: file.to_string(),
    }]
}

/// `ACTION TARGET [AMOUNT | --delay-ms N | --rate R]` as the CLI takes it;
/// an amount is milliseconds for slow and a share (0-1] for fail, and
/// without one the mesh's defaults apply (200 ms, every request).
fn chaos_request(words: &[&str]) -> Result<ChaosRequest, String> {
    let [action, target, rest @ ..] = words else {
        return Err("chaos needs an action and a target, e.g. :chaos slow auth 300".into());
    };
    let known = chaos_actions();
    if !known.iter().any(|a| a == action) {
        return Err(format!(
            "unknown chaos action '{action}': {}",
            known.join(", ")
        ));
    }
    let mut req = ChaosRequest {
        action: action.to_string(),
        target: target.to_string(),
        ..Default::default()
    };
    let amount = match rest {
        [] => return Ok(req),
        [n] | ["--delay-ms" | "--rate", n] => *n,
        _ => {
            return Err(format!(
                "chaos {action}: too many words after the target: {}",
                rest.join(" ")
            ))
        }
    };
    match *action {
        "slow" => {
            req.delay_ms = amount
                .parse()
                .map_err(|_| format!("slow takes milliseconds, not '{amount}'"))?
        }
        "fail" => req.error_rate = crate::cli::share(amount)?,
        _ => return Err(format!("chaos {action} takes no amount")),
    }
    Ok(req)
}

fn run_palette(app: &mut App, input: &str) -> Vec<Command> {
    let words: Vec<&str> = input.split_whitespace().collect();
    let Some(cmd) = words.first() else {
        return Vec::new();
    };
    let arg = words.get(1).copied();
    let show = |app: &mut App, v: View| {
        app.view = v;
        Vec::new()
    };
    match (*cmd, arg) {
        ("graph", _) => show(app, View::Graph),
        ("svc" | "services", _) => show(app, View::Services),
        ("tap", _) => show(app, View::Tap),
        ("id" | "identities", _) => show(app, View::Identities),
        ("traces", _) => show(app, View::Traces),
        ("routing" | "routes", _) => {
            app.routing.pane = RoutingPane::List;
            show(app, View::Routing)
        }
        ("why", _) => show(app, View::Why),
        ("events", _) => show(app, View::Events),
        ("practice", _) => show(app, View::Practice),
        ("help", _) => {
            app.help = true;
            Vec::new()
        }
        ("quit" | "q", _) => update(app, Action::Quit),
        ("vs" | "dr", Some(name)) => {
            let kind = if *cmd == "vs" {
                "VirtualService"
            } else {
                "DestinationRule"
            };
            let existing = app
                .d
                .resources
                .iter()
                .find(|r| r.0 == kind && r.2 == name)
                .map(|r| r.3.clone());
            let text = existing.unwrap_or_else(|| template(cmd, name));
            let seq = app.routing.editor.seq;
            open_editor(app, &text, seq)
        }
        ("scenario", Some(name)) => match scenario::find(name) {
            Some(_) => {
                app.confirm = Some(Confirm::Scenario(name.to_string()));
                Vec::new()
            }
            None => {
                let names: Vec<String> = scenario::all().into_iter().map(|s| s.name).collect();
                app.say(
                    format!("no scenario '{name}' (try {})", names.join(", ")),
                    true,
                );
                Vec::new()
            }
        },
        ("apply", Some(name)) => match scenario::rule(name) {
            Some(text) => {
                let seq = app.routing.editor.seq;
                let mut c = open_editor(app, text, seq);
                app.confirm = Some(Confirm::Apply);
                c.truncate(1);
                c
            }
            None => {
                app.say(format!("no rule file '{name}' in demo/rules"), true);
                Vec::new()
            }
        },
        ("chaos", Some(_)) => {
            match chaos_request(&words[1..]) {
                Ok(req) => app.confirm = Some(Confirm::Chaos(req)),
                Err(e) => app.say(e, true),
            }
            Vec::new()
        }
        ("rollback", Some(v)) => match crate::cli::version(v) {
            Ok(v) if app.d.history.iter().any(|h| h.version == v) => {
                app.confirm = Some(Confirm::Rollback(v));
                Vec::new()
            }
            Ok(v) => {
                app.say(
                    format!("there is no version v{v} (see the history: H in Routing)"),
                    true,
                );
                Vec::new()
            }
            Err(e) => {
                app.say(e, true);
                Vec::new()
            }
        },
        (c, _) => {
            app.say(
                format!("unknown command ':{c}' (press : then Tab to see the commands)"),
                true,
            );
            Vec::new()
        }
    }
}

fn run_scenario(app: &mut App, name: &str) -> Vec<Command> {
    let Some(s) = scenario::find(name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for step in &s.steps {
        if step.reset {
            out.push(Command::Rollback(0));
            let services: BTreeSet<String> = app
                .d
                .workloads
                .iter()
                .filter(|w| w.is_sidecar())
                .map(|w| w.service.clone())
                .collect();
            for svc in services {
                out.push(Command::Chaos(ChaosRequest {
                    action: "heal".into(),
                    target: svc,
                    ..Default::default()
                }));
            }
        }
        if let Some(file) = &step.apply {
            if let Some(text) = scenario::rule(file) {
                out.push(Command::Apply {
                    yaml: text.to_string(),
                    file: file.clone(),
                });
            }
        }
        if let Some(c) = &step.chaos {
            out.push(Command::Chaos(ChaosRequest {
                action: c.action.clone(),
                target: c.target.clone(),
                delay_ms: c.delay_ms,
                error_rate: c.rate,
            }));
        }
    }
    app.look = Some((s.title.clone(), s.look.clone()));
    app.say(format!("scenario {}: {}", s.name, s.title), false);
    vec![Command::Sequence(out)]
}

fn move_sel(app: &mut App, delta: i64) {
    let v = app.view;
    if v == View::Routing && app.routing.pane == RoutingPane::History {
        let n = app.d.history.len();
        let cur = app.routing.history_selected as i64;
        app.routing.history_selected = (cur + delta).clamp(0, n.saturating_sub(1) as i64) as usize;
        return;
    }
    let n = app.rows();
    let cur = app.sel(v) as i64;
    app.set_sel(
        v,
        (cur + delta).clamp(0, n.saturating_sub(1) as i64) as usize,
    );
}

/// A workload whose service calls the why view's host, so the first
/// question asked is one the mesh really answers every second.
fn default_why_source(app: &App) -> usize {
    let callers: Vec<&str> = app
        .d
        .topology
        .iter()
        .flat_map(|t| &t.services)
        .filter(|s| s.calls.iter().any(|c| c == &app.why.host))
        .map(|s| s.name.as_str())
        .collect();
    app.sources()
        .iter()
        .position(|w| callers.contains(&w.service.as_str()))
        .unwrap_or(0)
}

fn key_for(e: &EdgeSignal) -> String {
    format!("{}>{}", e.source, e.service)
}

fn ingest(app: &mut App, ev: DataEvent) -> Vec<Command> {
    app.conn.last_data = Some(app.now);
    match ev {
        DataEvent::Connected { mesh } => {
            app.conn.connected = true;
            app.conn.error = None;
            app.conn.mesh = mesh;
        }
        DataEvent::Disconnected(e) => {
            app.conn.connected = false;
            app.conn.error = Some(e);
            app.conn.last_data = None;
        }
        DataEvent::Workloads(w) => {
            app.conn.connected = true;
            app.conn.error = None;
            app.d.workloads = w.workloads;
            app.d.trust_domains = w.trust_domains;
            if !app.why.source_chosen {
                app.why.source = default_why_source(app);
            }
        }
        DataEvent::Proxies(p) => {
            app.d.version = p.version;
            app.d.proxies = p.proxies;
        }
        DataEvent::Signals {
            services,
            edges,
            recent_edges,
            ..
        } => {
            for s in &services {
                let key = format!("{}/{}", s.service, s.version);
                let q = app.d.series.entry(key).or_default();
                q.push_back((s.rps, s.p99_ms));
                while q.len() > KEEP_POINTS {
                    q.pop_front();
                }
            }
            // One point per caller and service: versions summed, the worst P99.
            let mut points: HashMap<String, (f64, f64)> = HashMap::new();
            for e in &edges {
                let p = points.entry(key_for(e)).or_default();
                p.0 += e.rps;
                p.1 = p.1.max(e.p99_ms);
            }
            for (key, p) in points {
                let q = app.d.series.entry(key).or_default();
                q.push_back(p);
                while q.len() > KEEP_POINTS {
                    q.pop_front();
                }
            }
            app.d.services = services;
            app.d.edges = edges;
            app.d.recent_edges = recent_edges;
        }
        DataEvent::Latency(l) => app.d.latency = l,
        DataEvent::Events(evs) => {
            for e in evs {
                app.d.events.push_back(e);
            }
            while app.d.events.len() > KEEP_EVENTS {
                app.d.events.pop_front();
            }
        }
        DataEvent::Tap(entries) => {
            if !app.paused {
                for e in entries {
                    app.d.tap.push_back(e);
                }
                while app.d.tap.len() > KEEP_TAP {
                    app.d.tap.pop_front();
                }
            }
        }
        DataEvent::Traces(t) => app.d.traces = t,
        DataEvent::Resources { yaml, version } => {
            app.d.resources = resource_rows(&yaml);
            app.d.resources_yaml = yaml;
            if version > 0 {
                app.d.version = version;
            }
        }
        DataEvent::History(h) => app.d.history = h,
        DataEvent::Federation(f) => app.d.federation = f,
        DataEvent::Topology(t) => app.d.topology = Some(*t),
        DataEvent::Applied(r) => match r {
            Ok(reply) => {
                let ok = reply.applied && reply.nacks.is_empty();
                if !reply.applied {
                    app.routing.findings = reply.findings.clone();
                    app.routing.before_after = None;
                }
                app.routing.last_apply = Some((reply.summary.clone(), reply.nacks.clone(), ok));
                app.say(reply.summary, !ok);
            }
            Err(e) => {
                app.routing.before_after = None;
                app.say(format!("apply failed: {e}"), true);
            }
        },
        DataEvent::Validated { seq, findings } => {
            if seq >= app.routing.validated_seq && seq == app.routing.editor.seq {
                app.routing.validated_seq = seq;
                app.routing.findings = findings;
            }
        }
        DataEvent::Diff(d) => match d {
            Ok(text) => {
                app.routing.diff = Some(if text.is_empty() {
                    "no difference".into()
                } else {
                    text
                })
            }
            Err(e) => app.say(format!("diff failed: {e}"), true),
        },
        DataEvent::Chaos(r) => match r {
            Ok(t) => app.say(t, false),
            Err(e) => app.say(e, true),
        },
        DataEvent::Explained(r) => {
            app.why.result = Some(r);
            app.why.scroll = 0;
        }
    }
    Vec::new()
}

/// The only place state changes. Returns commands for the data tasks.
pub fn update(app: &mut App, action: Action) -> Vec<Command> {
    // New traces arrive at the top and young ones age into view: the
    // selection stays on its trace unless the user moves it.
    let moves = matches!(
        action,
        Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Scroll(_)
            | Action::Click(..)
    );
    let anchor = (app.view == View::Traces && !moves)
        .then(|| {
            super::ui::traces::rows(app)
                .get(app.sel(View::Traces))
                .map(|t| t.trace_id.clone())
        })
        .flatten();
    let cmds = update_state(app, action);
    if let Some(id) = anchor {
        if let Some(i) = super::ui::traces::rows(app)
            .iter()
            .position(|t| t.trace_id == id)
        {
            app.set_sel(View::Traces, i);
        }
    }
    cmds
}

fn update_state(app: &mut App, action: Action) -> Vec<Command> {
    match action {
        Action::Data(ev) => return ingest(app, *ev),
        Action::Tick => {
            app.traces_at = app.now;
            if let Some((seq, at)) = app.routing.pending {
                // Validate 300 ms after the last keystroke.
                if app.now - at >= 0.3 && seq == app.routing.editor.seq {
                    app.routing.pending = None;
                    return vec![Command::Validate {
                        seq,
                        yaml: app.routing.editor.text(),
                    }];
                }
            }
            if let Some(ba) = &mut app.routing.before_after {
                // A whole short window after the change (plus a second for
                // the push and a scrape), so no traffic from before it counts.
                if ba.after.is_none() && app.now - ba.at >= super::data::RECENT + 1.0 {
                    let services = ba.services.clone();
                    ba.after = Some(
                        app.d
                            .recent_edges
                            .iter()
                            .filter(|e| services.contains(&e.service))
                            .cloned()
                            .collect(),
                    );
                }
            }
            return app.practice.tick(app.now);
        }
        Action::Resize(w, h) => app.size = (w, h),
        Action::ForceQuit => app.quit = true,
        Action::Quit => {
            if app.embedded {
                app.confirm = Some(Confirm::Quit);
            } else {
                app.quit = true;
            }
        }
        Action::Confirm(yes) => {
            let Some(c) = app.confirm.take() else {
                return Vec::new();
            };
            if !yes {
                app.say("cancelled", false);
                return Vec::new();
            }
            return match c {
                Confirm::Quit => {
                    app.quit = true;
                    Vec::new()
                }
                Confirm::Apply => {
                    let yaml = app.routing.editor.text();
                    let what = app
                        .routing
                        .staged
                        .take()
                        .unwrap_or_else(|| "editor".to_string());
                    apply(app, yaml, &what)
                }
                Confirm::Rollback(v) => {
                    app.say(format!("rolling back to v{v}..."), false);
                    vec![Command::Rollback(v)]
                }
                Confirm::Scenario(name) => run_scenario(app, &name),
                Confirm::Chaos(req) => vec![Command::Chaos(req)],
            };
        }
        Action::ToggleHelp => {
            app.help = !app.help;
            app.help_scroll = 0;
        }
        Action::Show(v) => {
            app.view = v;
            app.open_trace = None;
        }
        Action::NextView => {
            let i = (app.view.index() + 1) % View::ALL.len();
            app.view = View::ALL[i];
        }
        Action::PrevView => {
            let i = (app.view.index() + View::ALL.len() - 1) % View::ALL.len();
            app.view = View::ALL[i];
        }
        Action::Up | Action::Down | Action::PageUp | Action::PageDown if app.help => {
            let step = match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -10,
                _ => 10,
            };
            app.help_scroll = (i32::from(app.help_scroll) + step).clamp(0, 200) as u16;
        }
        Action::Up | Action::Down if app.view == View::Why => {
            let down = matches!(action, Action::Down);
            app.why.field = if down {
                (app.why.field + 1).min(4)
            } else {
                app.why.field.saturating_sub(1)
            };
            app.why.editing = false;
        }
        Action::PageUp | Action::PageDown if app.view == View::Why => {
            // Never past the answer's last lines.
            let lines = match &app.why.result {
                Some(Ok(t)) => t.lines().count(),
                _ => 1,
            };
            let last = lines.saturating_sub(5).min(u16::MAX as usize) as u16;
            app.why.scroll = if matches!(action, Action::PageDown) {
                app.why.scroll.saturating_add(10).min(last)
            } else {
                app.why.scroll.saturating_sub(10)
            };
        }
        Action::Up => move_sel(app, -1),
        Action::Down => move_sel(app, 1),
        Action::PageUp => move_sel(app, -10),
        Action::PageDown => move_sel(app, 10),
        Action::Scroll(n) => move_sel(app, n as i64),
        Action::Left | Action::Right => {
            let right = matches!(action, Action::Right);
            if app.view == View::Why {
                let n = app.sources().len().max(1);
                app.why.source_chosen = true;
                app.why.source = if right {
                    (app.why.source + 1) % n
                } else {
                    (app.why.source + n - 1) % n
                };
            } else if app.view == View::Routing {
                app.routing.pane = match (app.routing.pane, right) {
                    (RoutingPane::List, true) => RoutingPane::History,
                    (RoutingPane::History, false) => RoutingPane::List,
                    (p, _) => p,
                };
            }
        }
        Action::Enter => match app.view {
            View::Traces if app.open_trace.is_none() => {
                let rows = super::ui::traces::rows(app);
                app.open_trace = rows.get(app.sel(View::Traces)).map(|t| t.trace_id.clone());
            }
            View::Graph => {
                let rows = super::ui::graph::rows(app);
                if let Some(r) = rows.get(app.sel(View::Graph)) {
                    if !app.collapsed.remove(&r.service) {
                        app.collapsed.insert(r.service.clone());
                    }
                }
            }
            View::Services => {
                if let Some(r) = super::ui::services::rows(app).get(app.sel(View::Services)) {
                    app.filters.insert(View::Traces, r.service.clone());
                    app.view = View::Traces;
                    app.say(format!("traces through {}", r.service), false);
                }
            }
            View::Routing => match app.routing.pane {
                RoutingPane::List => return update(app, Action::EditSelected),
                RoutingPane::History => {
                    if let Some(h) = app.d.history.get(app.routing.history_selected) {
                        return vec![Command::Diff(h.version, 0)];
                    }
                }
                RoutingPane::Editor => {}
            },
            View::Why => return submit_why(app),
            _ => {}
        },
        Action::Back => {
            if app.palette.take().is_some() || app.filter_input.take().is_some() {
                return Vec::new();
            }
            if app.help {
                app.help = false;
            } else if app.look.is_some() {
                app.look = None;
            } else if app.open_trace.is_some() {
                app.open_trace = None;
            } else if app.routing.diff.is_some() && app.view == View::Routing {
                app.routing.diff = None;
            } else if app.view == View::Routing && app.routing.pane != RoutingPane::List {
                app.routing.pane = RoutingPane::List;
            } else if app.view == View::Why && app.why.editing {
                app.why.editing = false;
            } else {
                app.filters.remove(&app.view);
                app.status = None;
            }
        }
        Action::OpenPalette => app.palette = Some(String::new()),
        Action::EditField => {
            if app.why.field == 0 {
                app.say("the source is chosen with ← →", false);
            } else {
                app.why.editing = true;
            }
        }
        Action::OpenFilter => app.filter_input = Some(app.filter(app.view).to_string()),
        Action::Input(c) => {
            if let Some(p) = &mut app.palette {
                p.push(c);
            } else if let Some(f) = &mut app.filter_input {
                f.push(c);
                let f = f.clone();
                app.filters.insert(app.view, f);
                app.set_sel(app.view, 0);
            } else if app.view == View::Why && app.why.editing {
                why_field(app).push(c);
            }
        }
        Action::Backspace | Action::ClearInput => {
            let edit = |s: &mut String| {
                if matches!(action, Action::ClearInput) {
                    s.clear();
                } else {
                    s.pop();
                }
            };
            if let Some(p) = &mut app.palette {
                edit(p);
            } else if let Some(f) = &mut app.filter_input {
                edit(f);
                let f = f.clone();
                app.filters.insert(app.view, f);
            } else if app.view == View::Why && app.why.editing {
                edit(why_field(app));
            }
        }
        Action::Complete => {
            if let Some(p) = app.palette.clone() {
                let options = completions(app, &p);
                if let Some(first) = options.first() {
                    let common = options.iter().skip(1).fold(first.clone(), |acc, o| {
                        acc.chars()
                            .zip(o.chars())
                            .take_while(|(a, b)| a == b)
                            .map(|(a, _)| a)
                            .collect()
                    });
                    let mut next = if common.len() > p.len() {
                        common
                    } else {
                        first.clone()
                    };
                    if options.len() == 1 {
                        next.push(' ');
                    }
                    app.palette = Some(next);
                }
            } else if app.view == View::Why {
                app.why.field = (app.why.field + 1) % 5;
                app.why.editing = app.why.field != 0;
            }
        }
        Action::Submit => {
            if let Some(p) = app.palette.take() {
                return run_palette(app, p.trim());
            }
            if app.filter_input.take().is_some() {
                return Vec::new();
            }
            if app.view == View::Why {
                app.why.editing = false;
                return submit_why(app);
            }
        }
        Action::ToggleExact => app.exact = !app.exact,
        Action::SortNext => {
            app.sort = match app.sort {
                SortKey::Name => SortKey::Rps,
                SortKey::Rps => SortKey::Success,
                SortKey::Success => SortKey::P99,
                SortKey::P99 => SortKey::Name,
            }
        }
        Action::TogglePause => app.paused = !app.paused,
        Action::ToggleIdle => app.hide_idle = !app.hide_idle,
        Action::EditSelected => {
            // A staged quick action is edited where it stands.
            if app.routing.staged.is_some() {
                app.routing.pane = RoutingPane::Editor;
                return Vec::new();
            }
            if let Some(r) = app.d.resources.get(app.sel(View::Routing)).cloned() {
                let seq = app.routing.editor.seq;
                return open_editor(app, &r.3, seq);
            }
            let seq = app.routing.editor.seq;
            return open_editor(app, &template("vs", "billing"), seq);
        }
        Action::NewResource => {
            if let Some(what) = &app.routing.staged {
                app.say(
                    format!("'{what}' is staged: a applies it, or e edits it; a new resource would replace it"),
                    true,
                );
                return Vec::new();
            }
            let seq = app.routing.editor.seq;
            return open_editor(app, &template("vs", "billing"), seq);
        }
        Action::EditorKey(k) => {
            if app.routing.editor.handle(k) {
                app.routing.pending = Some((app.routing.editor.seq, app.now));
                // Edited by hand: no longer just the quick action it was,
                // and edits of an applied resource are staged too, so Esc,
                // `e` and quick actions keep them until applied.
                match &mut app.routing.staged {
                    Some(what) if !what.ends_with(", edited") && what != "your edits" => {
                        what.push_str(", edited")
                    }
                    Some(_) => {}
                    None => app.routing.staged = Some("your edits".into()),
                }
            }
            let height = app.size.1.saturating_sub(12) as usize;
            app.routing.editor.follow(height);
        }
        Action::ApplyEditor => {
            let errors = app
                .routing
                .findings
                .iter()
                .filter(|f| f.level == "Error")
                .count();
            if errors > 0 {
                app.say(
                    format!("the YAML has {errors} error(s), listed under the editor; the mesh would refuse it"),
                    true,
                );
            } else {
                app.confirm = Some(Confirm::Apply);
            }
        }
        Action::ShiftCanary(delta) => {
            let Some(mut d) = draft(app) else {
                return Vec::new();
            };
            let next = (d.canary() as i32 + delta).clamp(0, 100) as u32;
            d.set_canary(next);
            return stage(app, d.yaml(), format!("canary {next}% to billing v2"));
        }
        Action::ToggleRetries => {
            let Some(mut d) = draft(app) else {
                return Vec::new();
            };
            let on = !d.retries();
            d.set_retries(on);
            let what = if on {
                "retries on billing"
            } else {
                "no retries on billing"
            };
            return stage(app, d.yaml(), what.to_string());
        }
        Action::ToggleFault => {
            let Some(mut d) = draft(app) else {
                return Vec::new();
            };
            let on = !d.fault();
            d.set_fault(on);
            let what = if on {
                "500 ms delay on auth"
            } else {
                "no fault on auth"
            };
            return stage(app, d.yaml(), what.to_string());
        }
        Action::ToggleBreaker => {
            let Some(mut d) = draft(app) else {
                return Vec::new();
            };
            let on = !d.breaker();
            d.set_breaker(on);
            let what = if on {
                "circuit breaker on billing"
            } else {
                "no circuit breaker on billing"
            };
            return stage(app, d.yaml(), what.to_string());
        }
        Action::ShowHistory => {
            app.routing.pane = RoutingPane::History;
            return vec![Command::RefreshConfig];
        }
        Action::Rollback => {
            if let Some(h) = app.d.history.get(app.routing.history_selected) {
                app.confirm = Some(Confirm::Rollback(h.version));
            }
        }
        Action::RunScenario(name) => app.confirm = Some(Confirm::Scenario(name)),
        Action::Click(x, y) => {
            if let Some(hit) = super::ui::hit(app, x, y) {
                match hit {
                    super::ui::Hit::Tab(v) => {
                        app.view = v;
                        app.open_trace = None;
                    }
                    super::ui::Hit::Row(i) => {
                        if app.view == View::Routing && app.routing.pane == RoutingPane::History {
                            app.routing.history_selected =
                                i.min(app.d.history.len().saturating_sub(1));
                        } else {
                            let n = app.rows();
                            app.set_sel(app.view, i.min(n.saturating_sub(1)));
                        }
                    }
                }
            }
        }
        Action::PracticeKey(k) => {
            let fx = app.practice.key(k, app.now, &app.d, app.conn.connected);
            if let Some((view, filter, why)) = fx.show {
                app.view = view;
                if filter.is_empty() {
                    app.filters.remove(&view);
                } else {
                    app.filters.insert(view, filter);
                }
                app.say(
                    format!("show me · {why} (Esc clears the filter, 9 returns to practice)"),
                    false,
                );
            }
            return fx.commands;
        }
    }
    Vec::new()
}

fn why_field(app: &mut App) -> &mut String {
    match app.why.field {
        1 => &mut app.why.host,
        2 => &mut app.why.path,
        3 => &mut app.why.method,
        _ => &mut app.why.headers,
    }
}

fn submit_why(app: &mut App) -> Vec<Command> {
    let Some(src) = app
        .sources()
        .get(app.why.source)
        .map(|w| w.instance.clone())
    else {
        app.why.result = Some(Err("no workload to ask from yet".into()));
        return Vec::new();
    };
    let headers = app
        .why
        .headers
        .split(';')
        .filter_map(|h| h.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect();
    app.why.result = None;
    app.why.asked_at = app.d.version;
    vec![Command::Explain(ExplainRequest {
        source: src,
        host: app.why.host.trim().to_string(),
        path: app.why.path.trim().to_string(),
        method: app.why.method.trim().to_string(),
        headers,
    })]
}
