//! The control plane's event stream: pushes, ACKs, NACKs, certificates,
//! ejections, refused connections, chaos. Newest at the bottom.
//!
//! ```text
//! ┌ Events · 120 · / filter ──────────────────────────────────────────────┐
//! │ TIME      KIND          CLUSTER SOURCE                  MESSAGE         │
//! └──────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{block, fg, offset, selected};
use crate::tui::action::View;
use crate::tui::app::App;
use crate::tui::model::lists;
use mesh::api::EventKind;

/// Draws the events view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    // The selected event's whole message, wrapped, under the table.
    let [area, detail] = Layout::vertical([Constraint::Min(5), Constraint::Length(4)]).areas(area);
    let rows = lists::events(app);
    let height = area.height.saturating_sub(3) as usize;
    let sel = match app.selected.get(&View::Events) {
        Some(s) if *s + 1 < rows.len() => *s,
        _ => rows.len().saturating_sub(1),
    };
    let mut state = TableState::default()
        .with_selected(Some(sel))
        .with_offset(offset(sel, height));
    let body: Vec<Row> = rows
        .iter()
        .map(|e| {
            let style = match e.event_kind() {
                Some(EventKind::Nack | EventKind::Denied | EventKind::Ejection) => {
                    fg(app, Color::Red)
                }
                Some(EventKind::Uneject | EventKind::CertRotated) => fg(app, Color::Green),
                Some(EventKind::Chaos | EventKind::ControlPlane) => fg(app, Color::Yellow),
                Some(EventKind::Config) => fg(app, Color::Cyan),
                _ => Default::default(),
            };
            Row::new(vec![
                Cell::from(super::tap::clock(e.unix_ms)),
                Cell::from(e.kind.clone()).style(style),
                Cell::from(e.cluster.clone()),
                Cell::from(e.source.clone()),
                Cell::from(e.message.clone()),
            ])
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Length(8),
            Constraint::Length(13),
            Constraint::Length(4),
            Constraint::Length(30),
            Constraint::Min(20),
        ],
    )
    .header(Row::new(["TIME", "KIND", "CL", "SOURCE", "MESSAGE"]).style(super::bold()))
    .row_highlight_style(selected(app))
    .block(block(format!(
        "Events · {} · {}{} · / filter (try: nack, ejection, denied, cert)",
        rows.len(),
        if app.events_follow {
            "following (Space holds)"
        } else {
            "held (Space or G follows)"
        },
        super::filtered(app, View::Events)
    )));
    f.render_stateful_widget(table, area, &mut state);
    let text = rows
        .get(sel)
        .map(|e| format!("{} · {} · {}", e.kind, e.source, e.message))
        .unwrap_or_default();
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(block("Selected event")),
        detail,
    );
}
