//! The help overlay: every key.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{block, bold, centered, pad, width};
use crate::tui::app::palette;
use crate::tui::app::App;
use crate::tui::keys::HELP;

/// Draws the help overlay over `area`.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(pad(k, 24.max(width(k))), bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled("commands after ':'", bold()));
    for (c, what) in palette::commands() {
        lines.push(Line::from(vec![
            Span::styled(format!("  :{}", pad(&c, 22.max(width(&c)))), bold()),
            Span::raw(what),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("scenarios (:scenario NAME)", bold()));
    for s in crate::tui::scenario::all() {
        lines.push(Line::from(vec![
            Span::styled(
                format!("  {}", pad(&s.name, 22.max(width(&s.name)))),
                bold(),
            ),
            Span::raw(s.title),
        ]));
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, area.width.saturating_sub(4).min(100), h);
    let p = Paragraph::new(lines).wrap(Wrap { trim: false });
    // Wrapped, the text may need more rows than it has lines.
    let hidden =
        (p.line_count(r.width.saturating_sub(2)) as u16).saturating_sub(r.height.saturating_sub(2));
    let scroll = app.help_scroll.min(hidden);
    let title = if hidden == 0 {
        "Help · any key closes".to_string()
    } else if scroll < hidden {
        format!(
            "Help · {} more lines: ↓ PgDn scroll · any other key closes",
            hidden - scroll
        )
    } else {
        "Help · ↑ PgUp scroll back · any other key closes".to_string()
    };
    f.render_widget(Clear, r);
    f.render_widget(p.scroll((scroll, 0)).block(block(&title)), r);
}
