//! What can happen to the console's state: the verbs `update` understands.
//! Keys and clicks become actions in `keys.rs`; data becomes `Data`.

use ratatui::crossterm::event::KeyEvent;

use super::data::DataEvent;

/// The views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum View {
    /// Services and edges by cluster.
    Graph,
    /// Golden signals per service version.
    Services,
    /// Live requests.
    Tap,
    /// SPIFFE IDs, certificates, trust domains.
    Identities,
    /// Traces and waterfalls.
    Traces,
    /// Applied resources, the editor, history.
    Routing,
    /// Which route a request would take, and why.
    Why,
    /// The control plane's event stream.
    Events,
    /// Vocabulary practice.
    Practice,
}

impl View {
    /// Every view, in tab order.
    pub const ALL: [View; 9] = [
        View::Graph,
        View::Services,
        View::Tap,
        View::Identities,
        View::Traces,
        View::Routing,
        View::Why,
        View::Events,
        View::Practice,
    ];

    /// The tab's title on wide terminals.
    pub fn title(self) -> &'static str {
        match self {
            View::Graph => "Graph",
            View::Services => "Services",
            View::Tap => "Tap",
            View::Identities => "Identities",
            View::Traces => "Traces",
            View::Routing => "Routing",
            View::Why => "Why",
            View::Events => "Events",
            View::Practice => "Practice",
        }
    }

    /// Its place in the tab order; its number key is one more.
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// A request for confirmation before something destructive.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    /// Quit (and stop the embedded mesh).
    Quit,
    /// Apply the editor's YAML.
    Apply,
    /// Roll back to a version.
    Rollback(u64),
    /// Run a scenario (it changes config and injects chaos).
    Scenario(String),
    /// Run a chaos action.
    Chaos(mesh::api::ChaosRequest),
    /// Throw the staged edits away.
    Discard,
    /// Apply to a real cluster what its server-side dry run accepted.
    ApplyToCluster {
        /// The YAML.
        yaml: String,
        /// What history calls it.
        file: String,
        /// kubectl's dry-run answer, shown in the question.
        output: String,
    },
}

/// Everything that changes state.
#[derive(Debug, Clone)]
pub enum Action {
    /// Leave (asks first when the mesh runs in this process).
    Quit,
    /// Open the selected proxy's access log (Graph, Services, Tap).
    Logs,
    /// Services: sort the other way.
    SortReverse,
    /// Graph: the map instead of the tree, or back.
    ToggleMap,
    /// Graph and Services: the next window (30 s, 1 m, 5 m, 15 m).
    NextWindow,
    /// Services: per route and path instead of per version, or back.
    ToggleRoutes,
    /// Show the YAML of the config that applies to the selected row.
    ShowYaml,
    /// The drill-down pane of the selected row's service.
    Detail,
    /// Ctrl-C a second time: leave without asking.
    ForceQuit,
    /// Routing: throw staged edits away (asks first).
    DiscardStaged,
    /// Scroll the Routing view's findings pane by this many lines.
    ScrollFindings(i16),
    /// Select the first row (`g`, Home).
    Top,
    /// Select the last row (`G`, End); in Events it follows new events.
    Bottom,
    /// Answer a confirmation.
    Confirm(bool),
    /// Switch to a view.
    Show(View),
    /// Tab: the next view, round to the first.
    NextView,
    /// Shift-Tab: the previous view.
    PrevView,
    /// Selection (or Why's field, or the help) up one.
    Up,
    /// Selection (or Why's field, or the help) down one.
    Down,
    /// Left: Routing's list pane; Why's previous source workload.
    Left,
    /// Right: Routing's history pane; Why's next source workload.
    Right,
    /// Ten rows up (Why: the answer scrolls).
    PageUp,
    /// Ten rows down (Why: the answer scrolls).
    PageDown,
    /// Drill into the selected row (or ask, in Why).
    Enter,
    /// Close the innermost thing open, else clear the view's filter.
    Back,
    /// Open the `:` command palette.
    OpenPalette,
    /// Why: type into the focused field.
    EditField,
    /// Open the `/` filter.
    OpenFilter,
    /// Show or hide the help overlay.
    ToggleHelp,
    /// A character typed into the palette, filter or a form field.
    Input(char),
    /// Ctrl-U in the palette, filter or a form field: clear it.
    ClearInput,
    /// Backspace in the palette, filter or a form field.
    Backspace,
    /// Tab completion (palette) or next field (forms).
    Complete,
    /// Enter in the palette, filter or a form.
    Submit,
    /// Services: exact vs bucketed percentiles.
    ToggleExact,
    /// Services: next sort column.
    SortNext,
    /// Tap: pause or resume.
    TogglePause,
    /// Graph: hide or show idle nodes and edges.
    ToggleIdle,
    /// Routing: open the selected resource in the editor.
    EditSelected,
    /// Routing: start a new resource.
    NewResource,
    /// A key for the editor.
    EditorKey(KeyEvent),
    /// Routing: apply the editor's YAML (asks first).
    ApplyEditor,
    /// Routing: shift billing's canary weight by this many points.
    ShiftCanary(i32),
    /// Routing: retries on billing on or off.
    ToggleRetries,
    /// Routing: a delay fault on auth on or off.
    ToggleFault,
    /// Routing: outlier detection on billing on or off.
    ToggleBreaker,
    /// Routing: show history.
    ShowHistory,
    /// Routing: roll back to the selected history version (asks first).
    Rollback,
    /// Run a scenario by name (asks first).
    RunScenario(String),
    /// A mouse click at (column, row).
    Click(u16, u16),
    /// Mouse wheel: lines to scroll.
    Scroll(i32),
    /// Practice: the key goes to the practice screen.
    PracticeKey(KeyEvent),
    /// Switch to a view with a filter set, saying why ("show me").
    ShowFiltered {
        /// The view to show.
        view: View,
        /// Its filter ("" clears it).
        filter: String,
        /// What the user is looking at, for the status line.
        why: String,
    },
    /// The command channel was full: the named command was not sent.
    CommandDropped(&'static str),
    /// A quarter second passed (validation, before/after, freshness).
    Tick,
    /// The terminal was resized.
    Resize(u16, u16),
    /// What a data task reported.
    Data(Box<DataEvent>),
}
