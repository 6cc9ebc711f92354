//! Live requests, newest at the bottom, filterable; Space pauses.
//!
//! ```text
//! ┌ Tap · 312 requests · / filter · Space pauses ───────────────────────────┐
//! │ TIME      SOURCE → DESTINATION           REQUEST        STATUS FLAGS MS TRY 🔒 │
//! │ 12:01:02  user-v1 → billing-v2           GET /cart      200    -     4.2 1  🔒 │
//! └──────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Color;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{block, fg, offset, selected};
use crate::tui::action::View;
use crate::tui::app::App;
use crate::tui::model::lists;

/// HH:MM:SS of a Unix millisecond time.
pub fn clock(unix_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(unix_ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Draws the tap.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let rows = lists::tap(app);
    let height = area.height.saturating_sub(3) as usize;
    // Follow the newest unless the user moved away from the end.
    let sel = match app.selected.get(&View::Tap) {
        Some(s) if *s + 1 < rows.len() => *s,
        _ => rows.len().saturating_sub(1),
    };
    let mut state = TableState::default()
        .with_selected(Some(sel))
        .with_offset(offset(sel, height));
    let body: Vec<Row> = rows
        .iter()
        .map(|e| {
            let status_style = if e.status >= 500 || e.status == 0 {
                fg(app, Color::Red)
            } else if e.status >= 400 {
                fg(app, Color::Yellow)
            } else {
                fg(app, Color::Green)
            };
            Row::new(vec![
                Cell::from(clock(e.unix_ms)),
                Cell::from(format!(
                    "{} → {}",
                    pod(&e.source_instance, &e.source),
                    pod(&e.destination_instance, &e.destination)
                )),
                Cell::from(format!("{} {}", e.method, e.path)),
                Cell::from(e.status.to_string()).style(status_style),
                Cell::from(e.flags.clone()),
                Cell::from(format!("{:.1}", e.latency_ms)),
                Cell::from(e.attempt.to_string()).style(if e.attempt > 1 {
                    fg(app, Color::Yellow)
                } else {
                    Default::default()
                }),
                Cell::from(if e.mtls { "🔒" } else { "" }),
            ])
        })
        .collect();
    let title = format!(
        "Tap · {} requests{} · / filter · Space {}",
        rows.len(),
        if app.filter(View::Tap).is_empty() {
            String::new()
        } else {
            format!(" matching '{}'", app.filter(View::Tap))
        },
        if app.paused {
            "resumes (PAUSED)"
        } else {
            "pauses"
        }
    );
    let table = Table::new(
        body,
        [
            Constraint::Length(8),
            Constraint::Min(24),
            Constraint::Min(12),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(3),
            Constraint::Length(4),
        ],
    )
    .header(
        Row::new([
            "TIME",
            "SOURCE → DESTINATION",
            "REQUEST",
            "STATUS",
            "FLAGS",
            "MS",
            "TRY",
            "mTLS",
        ])
        .style(super::bold()),
    )
    .row_highlight_style(selected(app))
    .block(block(title));
    f.render_stateful_widget(table, area, &mut state);
}

/// The instance (pod) when the proxy knew it, else the workload: a failing
/// replica must be told apart from its healthy siblings.
fn pod<'a>(instance: &'a str, workload: &'a str) -> &'a str {
    if instance.is_empty() {
        workload
    } else {
        instance
    }
}
