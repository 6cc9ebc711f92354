//! Why: pick a source workload and describe a request; the mesh says which
//! route, subset, policies and endpoints it would take, and why.
//!
//! ```text
//! ┌ Why · Tab next field · i edit · Enter ask ───────────────────────────────┐
//! │ from    ◀ user-v1-0 (eu) ▶                                               │
//! │ host    billing                                                          │
//! │ ...                                                                      │
//! ├ answer ──────────────────────────────────────────────────────────────────┤
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{block, fg, selected};
use crate::tui::app::App;

/// Draws the why view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [form, answer] = Layout::vertical([Constraint::Length(7), Constraint::Min(3)]).areas(area);
    let w = &app.why;
    let source = app
        .sources()
        .get(w.source)
        .map(|s| format!("◀ {} ({}) ▶", s.instance, s.cluster))
        .unwrap_or_else(|| "waiting for workloads...".into());
    let fields = [
        ("from", source),
        ("host", w.host.clone()),
        ("path", w.path.clone()),
        ("method", w.method.clone()),
        ("headers", w.headers.clone()),
    ];
    let lines: Vec<Line> = fields
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            let focus = i == w.field;
            let cursor = if focus && w.editing { "▏" } else { "" };
            Line::from(vec![
                Span::styled(super::pad(name, 8.max(super::width(name))), super::bold()),
                Span::styled(
                    format!("{value}{cursor}"),
                    if focus {
                        selected(app)
                    } else {
                        Default::default()
                    },
                ),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(block(
            "Why · ↑/↓ field · i edit · Enter ask · ←/→ source · PgDn/PgUp scroll",
        )),
        form,
    );
    let mut text: Vec<Line> = Vec::new();
    if w.result.is_some() && w.asked_at != app.mesh.version {
        text.push(Line::styled(
            format!(
                "The mesh's config changed since this was asked (v{} → v{}). Enter asks again.",
                w.asked_at, app.mesh.version
            ),
            fg(app, Color::Yellow),
        ));
    }
    match &w.result {
        None => text.push(Line::styled(
            "Enter asks the mesh which route this request takes from that workload, and why.",
            fg(app, Color::DarkGray),
        )),
        Some(Ok(t)) => text.extend(t.lines().map(|l| Line::raw(l.to_string()))),
        Some(Err(e)) => text.push(Line::styled(e.clone(), fg(app, Color::Red))),
    }
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((w.scroll, 0))
            .block(block("Answer")),
        answer,
    );
}
