//! Services by route: golden signals per VirtualService route and path.

use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::{block, health, ms};
use crate::tui::app::App;
use crate::tui::model::routes;

/// Draws the routes table.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let (rows, span) = routes::rows(app);
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            Row::new(vec![
                Cell::from(r.service.clone()),
                Cell::from(r.route.clone()),
                Cell::from(r.path.clone()),
                Cell::from(format!("{:.1}", r.rps)),
                Cell::from(format!("{:.1}%", r.success * 100.0))
                    .style(health(app, r.success, r.rps)),
                Cell::from(ms(r.p99_ms)),
            ])
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Length(12),
            Constraint::Min(20),
            Constraint::Length(16),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new(["SERVICE", "ROUTE", "PATH", "RPS", "SUCCESS", "P99ms"]).style(super::bold()),
    )
    .block(block(format!(
        "Routes · per VirtualService route and path · the last {span:.0} s of requests seen · r: by version{}",
        super::filtered(app, crate::tui::action::View::Services)
    )));
    f.render_widget(table, area);
}
