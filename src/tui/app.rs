//! The console's state. Views read `&App`; the loop turns inputs into
//! [`Action`](super::action::Action)s, calls [`update`], the only place state
//! changes, and sends the [`Command`](super::data::Command)s it returns to
//! the data tasks.
//!
//! This file holds the state; its children hold `update` and the pieces it
//! delegates to:
//! - [`update`](mod@update): the dispatcher, one arm per action;
//! - [`ingest`]: what the data tasks report, applied to the state;
//! - [`palette`]: the `:` command line (clap) and its completion;
//! - [`routing`]: the editor, staged quick actions, applies and scenarios;
//! - [`why`]: the explain form.
//!
//! None of them draws or knows where things are on screen: rows and
//! hit-testing come from [`model`](super::model).

pub mod ingest;
pub mod palette;
pub mod routing;
pub mod update;
pub mod why;

pub use update::update;

use std::collections::{BTreeSet, HashMap};

use mesh::api::EdgeSignal;

use super::action::{Confirm, View};
use super::editor::Editor;
use super::mesh_data::MeshData;
use super::practice::Practice;
use why::Why;

/// The connection to the mesh.
#[derive(Debug, Clone, Default)]
pub struct Conn {
    /// Console API address (HOST:PORT), as given or discovered.
    pub addr: String,
    /// The name the mesh reports for itself.
    pub mesh: String,
    /// Whether the last call succeeded.
    pub connected: bool,
    /// Why the last call failed, while disconnected.
    pub error: Option<String>,
    /// When data last arrived, seconds since the epoch.
    pub last_data: Option<f64>,
    /// What the console is attached to, once the source has said.
    pub source: crate::tui::source::SourceInfo,
}

/// How services are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Alphabetical by service, version, cluster.
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
    /// When it was applied, seconds since the epoch.
    pub at: f64,
    /// Those services' edges over the short window just before.
    pub before: Vec<EdgeSignal>,
    /// Edges ten seconds later (None until then).
    pub after: Option<Vec<EdgeSignal>>,
}

/// The mesh's answer to the last apply or rollback.
#[derive(Debug, Clone, PartialEq)]
pub struct LastApply {
    /// The mesh's one-line summary (version, ACKs, convergence time).
    pub summary: String,
    /// Proxies that refused the config, with their reasons.
    pub nacks: Vec<String>,
    /// Applied and ACKed by every proxy.
    pub ok: bool,
}

/// The routing view's state.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// The pane keys go to.
    pub pane: RoutingPane,
    /// Lines the findings pane is scrolled down by (`[` and `]`, Alt-↑/↓ in
    /// the editor): a long list must be readable to its last finding.
    pub findings_scroll: u16,
    /// Index into the applied resources.
    pub selected: usize,
    /// The YAML being edited or staged.
    pub editor: Editor,
    /// Findings for the editor's text.
    pub findings: Vec<mesh::api::Finding>,
    /// The edit the findings belong to.
    pub validated_seq: u64,
    /// The edit a validation was last asked for, and when the text last changed.
    pub pending: Option<(u64, f64)>,
    /// Index into the history.
    pub history_selected: usize,
    /// The diff of a history version against the current one, while shown.
    pub diff: Option<String>,
    /// The last apply's summary and NACKs.
    pub last_apply: Option<LastApply>,
    /// Before/after of the last change.
    pub before_after: Option<BeforeAfter>,
    /// A quick action written into the editor and not yet applied.
    pub staged: Option<String>,
}

/// A message in the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// One line for people.
    pub text: String,
    /// Shown in red: something failed or was refused.
    pub error: bool,
}

/// A scenario's note on what to look at, shown over the view until Esc.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// The scenario's title.
    pub title: String,
    /// What to watch, a few lines.
    pub text: String,
}

/// The console's whole state.
#[derive(Debug)]
pub struct App {
    /// The view on screen.
    pub view: View,
    /// The mesh runs in this process (quitting stops it).
    pub embedded: bool,
    /// Where the mesh is and whether it answers.
    pub conn: Conn,
    /// Now, seconds since the epoch (set on ticks, so views stay pure).
    pub now: f64,
    /// The time the traces list was last aged at (a Tick copies `now`), so
    /// that a trace ageing into view happens inside an update.
    pub traces_at: f64,
    /// Terminal size (columns, rows), for clicks and the editor's scrolling.
    pub size: (u16, u16),
    /// Help overlay shown.
    pub help: bool,
    /// Lines of the help overlay scrolled past.
    pub help_scroll: u16,
    /// A question waiting for y or n.
    pub confirm: Option<Confirm>,
    /// The proxy whose access log is open over the view.
    pub logs: Option<String>,
    /// Graph shows the map rather than the tree.
    pub graph_map: bool,
    /// The selected span of the open trace's waterfall.
    pub span_sel: usize,
    /// The window golden signals cover, seconds.
    pub window: f64,
    /// Services shows routes rather than versions.
    pub by_route: bool,
    /// When figures turn yellow and red.
    pub thresholds: Thresholds,
    /// The `:` palette's input, when open.
    pub palette: Option<String>,
    /// The `/` filter being typed.
    pub filter_input: Option<String>,
    /// Filters per view, kept when switching views.
    pub filters: HashMap<View, String>,
    /// A message for the status line.
    pub status: Option<Status>,
    /// What a scenario asks the user to look at.
    pub look: Option<Look>,
    /// The loop ends after this update.
    pub quit: bool,
    /// Everything learned from the mesh.
    pub mesh: MeshData,
    /// Selected row per list view.
    pub selected: HashMap<View, usize>,
    /// Events: the selection stays on the newest event as events arrive,
    /// until the user moves up the list.
    pub events_follow: bool,
    /// Graph: hide idle edges.
    pub hide_idle: bool,
    /// Graph: services whose callees are folded away.
    pub collapsed: BTreeSet<String>,
    /// Services: the column rows are sorted by.
    pub sort: SortKey,
    /// The sort runs the other way (`S`).
    pub sort_reversed: bool,
    /// Services: show exact percentiles.
    pub exact: bool,
    /// Tap: new requests are dropped while paused.
    pub paused: bool,
    /// Traces: the trace whose waterfall is open.
    pub open_trace: Option<String>,
    /// The routing view's panes, editor and last change.
    pub routing: Routing,
    /// The why view's form and answer.
    pub why: Why,
    /// The practice view's screens and progress.
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
            logs: None,
            graph_map: false,
            span_sel: 0,
            window: crate::tui::data::WINDOW,
            by_route: false,
            thresholds: Thresholds::default(),
            palette: None,
            filter_input: None,
            filters: HashMap::new(),
            status: None,
            look: None,
            quit: false,
            mesh: MeshData::default(),
            selected: HashMap::new(),
            events_follow: true,
            hide_idle: false,
            collapsed: BTreeSet::new(),
            sort: SortKey::default(),
            sort_reversed: false,
            exact: false,
            paused: false,
            open_trace: None,
            routing: Routing::default(),
            why: Why::default(),
            practice,
            no_color: false,
        }
    }

    /// The filter of a view ("" when none).
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

    /// Workloads the why view can ask from: sidecars first, so the default
    /// question is one a service asks.
    pub fn sources(&self) -> Vec<&mesh::api::Workload> {
        let of = |kind: &'static str| self.mesh.workloads.iter().filter(move |w| w.kind == kind);
        of("sidecar").chain(of("ingress-gateway")).collect()
    }

    /// Leaves, asking first when the mesh runs in this process (quitting stops it).
    fn ask_quit(&mut self) {
        if self.embedded {
            self.confirm = Some(Confirm::Quit);
        } else {
            self.quit = true;
        }
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
        });
    }
}

/// A window as titles say it: `30 s`, `5 m`.
pub fn window_words(seconds: f64) -> String {
    if seconds >= 60.0 {
        format!("{:.0} m", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

/// When figures turn yellow and red: success rate under `warn`/`crit`
/// (shares), P99 over `slow_ms`/`very_slow_ms`. Kiali's defaults are of
/// the same order; `--thresholds` (env `MESHCON_THRESHOLDS`) changes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Success below this is yellow.
    pub warn: f64,
    /// Success below this is red.
    pub crit: f64,
    /// P99 above this is yellow, ms.
    pub slow_ms: f64,
    /// P99 above this is red, ms.
    pub very_slow_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn: 0.995,
            crit: 0.95,
            slow_ms: 200.0,
            very_slow_ms: 1000.0,
        }
    }
}

impl std::str::FromStr for Thresholds {
    type Err = String;

    /// `success=99.5/95,p99=200/1000` (either part may be left out).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("'{s}' is not thresholds like success=99.5/95,p99=200/1000 (percent, then ms)")
        };
        let mut t = Thresholds::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(bad)?;
            let (a, b) = value.split_once('/').ok_or_else(bad)?;
            let a: f64 = a.trim().parse().map_err(|_| bad())?;
            let b: f64 = b.trim().parse().map_err(|_| bad())?;
            match key.trim() {
                "success" if (0.0..=100.0).contains(&b) && b <= a && a <= 100.0 => {
                    t.warn = a / 100.0;
                    t.crit = b / 100.0;
                }
                "p99" if a > 0.0 && a <= b => {
                    t.slow_ms = a;
                    t.very_slow_ms = b;
                }
                _ => return Err(bad()),
            }
        }
        Ok(t)
    }
}
