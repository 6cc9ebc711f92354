//! Recent traces, filterable; Enter opens a waterfall of one trace across
//! clusters, with each retry attempt on its own line.
//!
//! ```text
//! ┌ Trace 4bf92f35… · 23.4 ms · eu,us ─────────────────────────────────────┐
//! │ istio-ingressgateway GET frontend        ██████████████████████  23.4  │
//! │  frontend-v1 GET /                          ████████████████    18.0  │
//! │   ...billing attempt 1  503                      ██              1.2  │
//! │   ...billing attempt 2  200                         ███          2.0  │
//! └──────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{block, fg, offset, selected};
use crate::tui::action::View;
use crate::tui::app::App;
use crate::tui::model::lists;
use mesh::api::Trace;

fn waterfall(f: &mut Frame, area: Rect, app: &App, t: &Trace) {
    let width = area.width.saturating_sub(2) as usize;
    // Names are long (`outbound|8080|v1|billing... attempt 2`): the label
    // takes over half of a wide screen, and leads with what tells spans apart.
    let label_w = (width * 55 / 100).min(width.saturating_sub(24)).max(10);
    let bar_w = width.saturating_sub(label_w + 9).max(4);
    let total = t.duration_ms.max(0.001);
    let mut lines = Vec::new();
    for (i, (depth, s)) in lists::span_order(t).into_iter().enumerate() {
        let status = s
            .attributes
            .get("http.status_code")
            .cloned()
            .unwrap_or_default();
        let attempt = s.attributes.get("attempt").map(|a| format!("attempt {a}"));
        let name = s.name.split(" attempt ").next().unwrap_or(&s.name);
        let parts: Vec<String> = [
            Some(format!("{} ({})", s.service, s.cluster)),
            attempt,
            (!status.is_empty()).then(|| status.clone()),
            Some(name.to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let label = format!("{}{}", " ".repeat(depth.min(12)), parts.join(" "));
        let start = (((s.start_unix_ms - t.start_unix_ms) / total) * bar_w as f64)
            .floor()
            .max(0.0) as usize;
        let len = ((s.duration_ms / total) * bar_w as f64).ceil().max(1.0) as usize;
        let start = start.min(bar_w.saturating_sub(1));
        let len = len.min(bar_w - start);
        let style = if s.error || status.starts_with('5') {
            fg(app, Color::Red)
        } else {
            fg(app, cluster_colour(&t.clusters, &s.cluster))
        };
        let marker = if i == app.span_sel {
            selected(app)
        } else {
            Default::default()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", super::pad(&label, label_w)), marker),
            Span::raw(" ".repeat(start)),
            Span::styled("█".repeat(len), style),
            Span::raw(" ".repeat(bar_w - start - len)),
            Span::raw(format!(" {:>6.1}", s.duration_ms)),
        ]));
    }
    let title = format!(
        "Trace {}… · {:.1} ms · {} spans · {} · ↑↓ Enter: a span · Esc back",
        t.trace_id.chars().take(16).collect::<String>(),
        t.duration_ms,
        t.spans.len(),
        t.clusters.join(",")
    );
    f.render_widget(Paragraph::new(lines).block(block(title)), area);
}

/// Draws the traces view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    if let Some(id) = &app.open_trace {
        if let Some(t) = app.mesh.traces.iter().find(|t| &t.trace_id == id) {
            waterfall(f, area, app, t);
            return;
        }
    }
    let rows = lists::traces(app);
    let sel = app.sel(View::Traces).min(rows.len().saturating_sub(1));
    let height = area.height.saturating_sub(3) as usize;
    let mut state = TableState::default()
        .with_selected(Some(sel))
        .with_offset(offset(sel, height));
    let body: Vec<Row> = rows
        .iter()
        .map(|t| {
            let retries = t
                .spans
                .iter()
                .filter(|s| s.attributes.get("attempt").is_some_and(|a| a != "1"))
                .count();
            Row::new(vec![
                Cell::from(super::tap::clock(t.start_unix_ms as i64)),
                Cell::from(t.trace_id.chars().take(16).collect::<String>()),
                Cell::from(format!("{:.1}", t.duration_ms)),
                Cell::from(t.spans.len().to_string()),
                Cell::from(t.clusters.join(",")),
                Cell::from(if retries > 0 {
                    retries.to_string()
                } else {
                    "-".into()
                })
                .style(if retries > 0 {
                    fg(app, Color::Yellow)
                } else {
                    Default::default()
                }),
                Cell::from(t.status()).style(match t.status() {
                    "error" => fg(app, Color::Red),
                    "recovered" => fg(app, Color::Yellow),
                    _ => fg(app, Color::Green),
                }),
                Cell::from(t.root_label()),
            ])
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Length(8),
            Constraint::Length(17),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new([
            "TIME", "TRACE", "MS", "SPANS", "CLUSTERS", "RETRIES", "STATUS", "ROOT",
        ])
        .style(super::bold()),
    )
    .row_highlight_style(selected(app))
    .block(block(format!(
        "Traces · {}{} · Enter: waterfall · / service, id, status or 'error'",
        rows.len(),
        super::filtered(app, View::Traces)
    )));
    f.render_stateful_widget(table, area, &mut state);
}

/// Bars take their cluster's colour, so a hop across clusters shows.
fn cluster_colour(clusters: &[String], cluster: &str) -> Color {
    const COLOURS: [Color; 4] = [Color::Cyan, Color::Magenta, Color::Blue, Color::Green];
    let i = clusters.iter().position(|c| c == cluster).unwrap_or(0);
    COLOURS[i % COLOURS.len()]
}
