//! The why view's form: which workload asks, the request's host, path,
//! method and headers, and the mesh's explanation of the route it takes.

use mesh::api::ExplainRequest;

use super::App;
use crate::tui::data::Command;

/// The last field of the form (0 source, 1 host, 2 path, 3 method, 4 headers).
const LAST_FIELD: usize = 4;

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
    /// The Host (or `:authority`) the request is sent to.
    pub host: String,
    /// The request path routes match on.
    pub path: String,
    /// The HTTP method routes may match on.
    pub method: String,
    /// Headers, `name: value; name: value`.
    pub headers: String,
    /// The explanation, or why the mesh could not give one.
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

/// ↑ ↓: the previous or next field; typing stops.
pub(super) fn move_field(app: &mut App, down: bool) {
    app.why.field = if down {
        (app.why.field + 1).min(LAST_FIELD)
    } else {
        app.why.field.saturating_sub(1)
    };
    app.why.editing = false;
}

/// Tab: the next field, round to the first; text fields start typing.
pub(super) fn next_field(app: &mut App) {
    app.why.field = (app.why.field + 1) % (LAST_FIELD + 1);
    app.why.editing = app.why.field != 0;
}

/// PgUp PgDn through the answer, never past its last lines.
pub(super) fn scroll(app: &mut App, down: bool) {
    let lines = match &app.why.result {
        Some(Ok(t)) => t.lines().count(),
        _ => 1,
    };
    let last = lines.saturating_sub(5).min(u16::MAX as usize) as u16;
    app.why.scroll = if down {
        app.why.scroll.saturating_add(10).min(last)
    } else {
        app.why.scroll.saturating_sub(10)
    };
}

/// ← →: the previous or next workload to ask from.
pub(super) fn pick_source(app: &mut App, right: bool) {
    let n = app.sources().len().max(1);
    app.why.source_chosen = true;
    app.why.source = if right {
        (app.why.source + 1) % n
    } else {
        (app.why.source + n - 1) % n
    };
}

/// `i`: type into the focused field (the source is picked, not typed).
pub(super) fn edit_field(app: &mut App) {
    if app.why.field == 0 {
        app.say("the source is chosen with ← →", false);
    } else {
        app.why.editing = true;
    }
}

/// The text of the focused field.
pub(super) fn field(app: &mut App) -> &mut String {
    match app.why.field {
        1 => &mut app.why.host,
        2 => &mut app.why.path,
        3 => &mut app.why.method,
        _ => &mut app.why.headers,
    }
}

/// Asks the mesh how it would route the form's request.
pub(super) fn submit(app: &mut App) -> Vec<Command> {
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
    app.why.asked_at = app.mesh.version;
    vec![Command::Explain(ExplainRequest {
        source: src,
        host: app.why.host.trim().to_string(),
        path: app.why.path.trim().to_string(),
        method: app.why.method.trim().to_string(),
        headers,
    })]
}

/// A workload whose service calls the why view's host, so the first
/// question asked is one the mesh really answers every second.
pub(super) fn default_source(app: &App) -> usize {
    let callers: Vec<&str> = app
        .mesh
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
