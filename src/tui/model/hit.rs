//! Where things are on screen, for clicks: the frame's areas, the tabs'
//! columns and the list rows. The views draw with the same functions, so a
//! click lands where the user saw the thing.

use ratatui::layout::{Constraint, Layout, Rect};
use unicode_width::UnicodeWidthStr;

use crate::tui::action::View;
use crate::tui::app::{App, RoutingPane};

/// What a click landed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// A tab: its view is shown.
    Tab(View),
    /// A row of the current list, by index into its rows: it is selected.
    Row(usize),
}

/// The first row shown so that `sel` is visible in `height` rows.
pub fn offset(sel: usize, height: usize) -> usize {
    sel.saturating_sub(height.saturating_sub(1))
}

/// The frame's parts: tabs, body, status.
pub fn areas(app: &App, area: Rect) -> (Rect, Rect, Rect) {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(status_rows(app, area.width)),
    ])
    .areas(area);
    (tabs, body, status)
}

/// The status line takes rows of its own for a message that would not fit
/// beside the connection, so a long message is read whole, not cut.
pub fn status_rows(app: &App, width: u16) -> u16 {
    let Some(st) = &app.status else { return 1 };
    let w = unicode_width::UnicodeWidthStr::width(st.text.as_str());
    if w + 60 <= width as usize {
        return 1;
    }
    // Wrapped under the connection line, three rows at most.
    (1 + w.div_ceil(width.max(1) as usize)).min(3) as u16
}

/// Narrow terminals get shorter tab titles and status line.
pub fn compact(app: &App) -> bool {
    app.size.0 < 100
}

/// A tab's title, shortened on narrow terminals.
pub fn title_of(app: &App, v: View) -> &'static str {
    if !compact(app) {
        return v.title();
    }
    match v {
        View::Services => "Svc",
        View::Identities => "Ids",
        View::Routing => "Route",
        other => other.title(),
    }
}

/// What the tab line starts with: the mesh's name, when there is room.
pub fn prefix(app: &App) -> String {
    if compact(app) {
        String::new()
    } else {
        format!("meshcon {} ", app.conn.mesh)
    }
}

/// Each tab's columns, [from, to).
fn tab_ranges(app: &App) -> Vec<(u16, u16, View)> {
    let mut x = prefix(app).width() as u16;
    let mut out = Vec::new();
    for v in View::ALL {
        let label = format!("│{} {}", v.index() + 1, title_of(app, v));
        let w = label.width() as u16;
        out.push((x, x + w, v));
        x += w;
    }
    out
}

/// The view's list area, where rows start (after a border and a header), for clicks.
fn list_origin(app: &App, body: Rect) -> Option<(u16, usize)> {
    let header = match app.view {
        View::Graph => 2,
        View::Services | View::Tap | View::Identities | View::Traces | View::Events => 2,
        View::Routing => 1,
        _ => return None,
    };
    let height = body.height.saturating_sub(header + 1) as usize;
    Some((body.y + header, height))
}

/// Which tab or row is at (x, y).
pub fn hit(app: &App, x: u16, y: u16) -> Option<Hit> {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    let (tabs, body, _) = areas(app, area);
    if y == tabs.y {
        return tab_ranges(app)
            .into_iter()
            .find(|(a, b, _)| x >= *a && x < *b)
            .map(|(_, _, v)| Hit::Tab(v));
    }
    let (top, height) = list_origin(app, body)?;
    if y < top || y >= top + height as u16 {
        return None;
    }
    let sel = if app.view == View::Routing && app.routing.pane == RoutingPane::History {
        app.routing.history_selected
    } else {
        app.sel(app.view)
    };
    Some(Hit::Row(offset(sel, height) + (y - top) as usize))
}
