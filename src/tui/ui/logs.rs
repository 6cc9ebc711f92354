//! A proxy's access log over the view (k9s `l`): the requests it logged,
//! in Envoy's default format, newest at the bottom and followed as they
//! arrive; the view's filter narrows the lines.

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{block, ellipsis, fg};
use crate::tui::app::App;

/// Draws the log of `app.logs` over `area`.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(proxy) = &app.logs else { return };
    let q = app.filter(app.view).to_lowercase();
    let lines: Vec<String> = app
        .mesh
        .tap
        .iter()
        .filter(|e| e.logged_by() == proxy)
        .map(|e| e.access_log_line())
        .filter(|l| q.is_empty() || l.to_lowercase().contains(&q))
        .collect();
    let room = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let shown: Vec<Line> = if lines.is_empty() {
        vec![Line::styled(
            "no requests logged yet; new ones appear here as they happen",
            fg(app, Color::DarkGray),
        )]
    } else {
        lines
            .iter()
            .skip(lines.len().saturating_sub(room))
            .map(|l| {
                let failed = l
                    .split_whitespace()
                    .nth(4)
                    .is_some_and(|code| code.starts_with('5') || code == "0");
                let line = ellipsis(l, width);
                if failed {
                    Line::styled(line, fg(app, Color::Red))
                } else {
                    Line::raw(line)
                }
            })
            .collect()
    };
    let filter = if q.is_empty() {
        String::new()
    } else {
        format!(" · filter \"{q}\"")
    };
    let title = format!(
        "access log · {proxy} · {} line{}{filter} · following · Esc closes",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" }
    );
    f.render_widget(Clear, area);
    f.render_widget(Paragraph::new(shown).block(block(title)), area);
}
