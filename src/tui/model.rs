//! The view model: what the views show, computed from the state alone, so
//! that `update` (selection bounds, Enter, clicks) and the views (drawing)
//! agree on it. State code reads rows and hit-tests here; it never calls
//! into `ui/`, which depends on this module and on `app`, never the
//! other way round.
//!
//! - [`graph`]: the call tree of the graph view;
//! - [`lists`]: the rows of the other list views, filtered and sorted;
//! - [`hit`]: where things are on screen, for clicks;
//! - [`instances`]: per-instance figures and saturation for Services.

pub mod detail;
pub mod graph;
pub mod hit;
pub mod instances;
pub mod lists;
pub mod map;
pub mod routes;

use super::action::View;
use super::app::{App, RoutingPane};

/// How many rows the current view lists (for selection bounds).
pub fn row_count(app: &App) -> usize {
    match app.view {
        View::Graph => graph::rows(app).len(),
        View::Services => lists::services(app).len(),
        View::Tap => lists::tap(app).len(),
        View::Identities => lists::identities(app).len(),
        View::Traces => match &app.open_trace {
            Some(_) => 0,
            None => lists::traces(app).len(),
        },
        View::Routing => match app.routing.pane {
            RoutingPane::History => app.mesh.history.len(),
            _ => app.mesh.resources.len(),
        },
        View::Events => lists::events(app).len(),
        View::Why | View::Practice => 0,
    }
}
