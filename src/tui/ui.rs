//! Drawing: a pure function of `&App` per view, plus the frame around them.
//!
//! ```text
//! meshcon shop │1 Graph│2 Services│3 Tap│4 Identities│5 Traces│6 Routing│7 Why│8 Events│9 Practice
//! ┌ view ──────────────────────────────────────────────────────────────────┐
//! │ ...                                                                    │
//! └────────────────────────────────────────────────────────────────────────┘
//! ● 127.0.0.1:15700 shop v3 · data 0.4 s old · 11/11 proxies ACKed   ? help  : command  q quit
//! ```

pub mod events;
pub mod graph;
pub mod help;
pub mod identities;
pub mod instances;
pub mod logs;
pub mod practice;
pub mod routes;
pub mod routing;
pub mod services;
pub mod tap;
pub mod traces;
pub mod why;

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::action::{Confirm, View};
use super::app::App;
pub use super::model::hit::{areas, offset};
use super::model::hit::{compact, prefix, title_of};

/// A colour, or nothing under NO_COLOR.
pub fn fg(app: &App, c: Color) -> Style {
    if app.no_color {
        Style::default()
    } else {
        Style::default().fg(c)
    }
}

/// Bold.
pub fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// The selection highlight (reverse video works without colour too).
pub fn selected(app: &App) -> Style {
    if app.no_color {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
            .bg(Color::DarkGray)
            .add_modifier(Modifier::BOLD)
    }
}

/// Health colour of a success rate.
pub fn health(app: &App, success: f64, rps: f64) -> Style {
    if rps <= 0.0 {
        return fg(app, Color::DarkGray);
    }
    if success < app.thresholds.crit {
        fg(app, Color::Red)
    } else if success < app.thresholds.warn {
        fg(app, Color::Yellow)
    } else {
        fg(app, Color::Green)
    }
}

/// The colour of a latency: green, yellow over the slow threshold (200 ms
/// by default: a demo call answers in tens), red over the very slow one
/// (1 s), grey without traffic.
pub fn latency_health(app: &App, p99_ms: f64, rps: f64) -> Style {
    if rps <= 0.0 {
        fg(app, Color::DarkGray)
    } else if p99_ms > app.thresholds.very_slow_ms {
        fg(app, Color::Red)
    } else if p99_ms > app.thresholds.slow_ms {
        fg(app, Color::Yellow)
    } else {
        fg(app, Color::Green)
    }
}

/// The worse of two health colours (red over yellow over green).
pub fn worse(a: Style, b: Style) -> Style {
    let rank = |s: &Style| match s.fg {
        Some(Color::Red) => 3,
        Some(Color::Yellow) => 2,
        Some(Color::Green) => 1,
        _ => 0,
    };
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}

/// A bordered block with a title.
pub fn block(title: impl Into<String>) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {} ", title.into()), bold()))
}

/// ` · filter 'q'` when the view's list is filtered: a filtered list must
/// never look like the whole one.
pub fn filtered(app: &App, v: View) -> String {
    match app.filter(v) {
        "" => String::new(),
        q => format!(" · filter '{q}' (Esc clears)"),
    }
}

/// Milliseconds, compact.
pub fn ms(v: f64) -> String {
    if v <= 0.0 {
        "-".into()
    } else if v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// How many terminal columns `s` takes (wide characters take two, combining
/// marks none), which is what tables pad and cut by.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to `w` columns, with an ellipsis where it was cut.
pub fn ellipsis(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    let mut out = cut(s, w.saturating_sub(1));
    out.push('…');
    out
}

/// `s` cut to at most `w` columns, without a mark.
fn cut(s: &str, w: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > w {
            break;
        }
        used += cw;
        out.push(c);
    }
    out
}

/// `s` cut to `w` columns and padded to exactly `w` (a fixed-width column).
pub fn pad(s: &str, w: usize) -> String {
    let mut out = cut(s, w);
    let used = width(&out);
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(used)));
    out
}

fn tabs(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::styled(prefix(app), bold())];
    for v in View::ALL {
        let label = format!("│{} {}", v.index() + 1, title_of(app, v));
        let style = if v == app.view {
            selected(app)
        } else {
            Style::default()
        };
        spans.push(Span::styled(label, style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = Vec::new();
    if let Some(p) = &app.palette {
        let hint = super::app::palette::completions(app, p)
            .into_iter()
            .take(6)
            .collect::<Vec<_>>()
            .join("  ");
        spans.push(Span::styled(format!(":{p}▏"), bold()));
        spans.push(Span::styled(format!("  {hint}"), fg(app, Color::DarkGray)));
    } else if let Some(q) = &app.filter_input {
        spans.push(Span::styled(format!("/{q}▏"), bold()));
        spans.push(Span::styled(
            "  Enter keeps the filter, Esc closes",
            fg(app, Color::DarkGray),
        ));
    } else {
        let (dot, style) = if app.conn.connected {
            ("●", fg(app, Color::Green))
        } else {
            ("○", fg(app, Color::Red))
        };
        spans.push(Span::styled(dot, style));
        let fresh = match app.conn.last_data {
            Some(t) if app.now > 0.0 => format!("data {:.1} s old", (app.now - t).max(0.0)),
            _ => "no data yet".into(),
        };
        if app.conn.connected {
            let acked = app
                .mesh
                .proxies
                .iter()
                .filter(|p| p.state == "ACKED" && p.acked_version >= app.mesh.version)
                .count();
            // A message needs the room more than the address does.
            let text = if app.conn.source.real {
                // A real mesh has no meshcon config versions or ACKs.
                format!(" {} · {fresh}", app.conn.source.label)
            } else if compact(app) || (app.status.is_some() && area.height < 2) {
                format!(
                    " {} v{} · {fresh} · {acked}/{} ACKed",
                    app.conn.mesh,
                    app.mesh.version,
                    app.mesh.proxies.len()
                )
            } else {
                format!(
                    " {} · mesh {} · v{} · {fresh} · {acked}/{} proxies ACKed",
                    app.conn.addr,
                    app.conn.mesh,
                    app.mesh.version,
                    app.mesh.proxies.len()
                )
            };
            spans.push(Span::raw(text));
        } else if app.conn.addr.is_empty() {
            spans.push(Span::styled(
                " no mesh: practice on its own (drills need `meshcon practice --mesh ADDR`)",
                fg(app, Color::DarkGray),
            ));
        } else {
            spans.push(Span::styled(
                format!(
                    " not connected to {} ({}); retrying · {fresh}",
                    app.conn.addr,
                    app.conn
                        .error
                        .clone()
                        .unwrap_or_else(|| "connecting".into())
                ),
                fg(app, Color::Red),
            ));
        }
        let hint = if compact(app) {
            "  ? help q quit"
        } else {
            "  ? help  : command  q quit"
        };
        let used: usize = spans.iter().map(|s| width(&s.content)).sum();
        let room = (area.width as usize).saturating_sub(used + 3);
        let mut show_hint = true;
        let mut second = None;
        if let Some(super::app::Status { text: msg, error }) = &app.status {
            let style = if *error {
                fg(app, Color::Red)
            } else {
                fg(app, Color::Cyan)
            };
            if area.height >= 2 {
                // A long message gets rows of its own, cut only past them.
                let room = area.width as usize * (area.height as usize - 1);
                second = Some(Line::styled(ellipsis(msg, room), style));
            } else {
                // The hint gives way first; then the message is cut, visibly.
                show_hint = width(msg) + width(hint) <= room;
                spans.push(Span::raw(" │ "));
                spans.push(Span::styled(ellipsis(msg, room), style));
            }
        }
        if show_hint {
            spans.push(Span::styled(hint, fg(app, Color::DarkGray)));
        }
        if let Some(line) = second {
            f.render_widget(
                Paragraph::new(vec![Line::from(spans), line]).wrap(Wrap { trim: false }),
                area,
            );
            return;
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A rectangle of `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn overlay(f: &mut Frame, area: Rect, title: &str, text: Vec<Line<'static>>) {
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(text)
            .block(block(title))
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// A console that lost its mesh shows the last figures in grey with their
/// age on the frame: green numbers would look live.
fn stale(f: &mut Frame, body: Rect, app: &App) {
    let buf = f.buffer_mut();
    if !app.no_color {
        for y in body.top()..body.bottom() {
            for x in body.left()..body.right() {
                buf[(x, y)].set_fg(Color::DarkGray);
            }
        }
    }
    if let Some(t) = app.conn.last_data {
        let note = format!(" last data {:.0} s ago, not live ", (app.now - t).max(0.0));
        let w = width(&note) as u16;
        if body.width > w + 4 {
            buf.set_string(
                body.right() - w - 2,
                body.top(),
                note,
                fg(app, Color::Red).add_modifier(Modifier::BOLD),
            );
        }
    }
}

/// Why the current view has nothing from the attached source, if so.
fn unavailable_here(app: &App) -> Option<&str> {
    use crate::tui::source::Feature;
    let feature = match app.view {
        View::Tap => Feature::Tap,
        View::Events => Feature::Events,
        View::Why => Feature::Why,
        _ => return None,
    };
    app.conn.source.lacks(feature)
}

/// The smallest terminal the views are laid out for.
pub const MIN_SIZE: (u16, u16) = (60, 16);

/// Draws the whole console.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        // Cut views would mislead; say what is needed instead.
        let text = format!(
            "meshcon needs a terminal of at least {}×{}; this one is {}×{}. Enlarge it, or press q to quit.",
            MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
        );
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let (t, body, s) = areas(app, area);
    tabs(f, t, app);
    match app.view {
        View::Graph => graph::draw(f, body, app),
        View::Services if app.by_route => routes::draw(f, body, app),
        View::Services => services::draw(f, body, app),
        View::Tap => tap::draw(f, body, app),
        View::Identities => identities::draw(f, body, app),
        View::Traces => traces::draw(f, body, app),
        View::Routing => routing::draw(f, body, app),
        View::Why => why::draw(f, body, app),
        View::Events => events::draw(f, body, app),
        View::Practice => practice::draw(f, body, app),
    }
    if let Some(why) = unavailable_here(app) {
        let note = format!(" {} not available here: {why} ", app.view.title());
        let w = (width(&note) as u16 + 2).min(body.width).min(70);
        let lines = vec![Line::styled(note, fg(app, Color::DarkGray))];
        let h = Paragraph::new(lines.clone())
            .wrap(Wrap { trim: false })
            .line_count(w.saturating_sub(2)) as u16
            + 2;
        overlay(f, centered(body, w, h.min(body.height)), "", lines);
    }
    if app.view != View::Practice && !app.conn.connected && app.conn.last_data.is_some() {
        stale(f, body, app);
    }
    logs::draw(f, body, app);
    status(f, s, app);
    if let Some(look) = &app.look {
        let title = &look.title;
        let lines: Vec<Line> = look
            .text
            .lines()
            .map(|l| Line::raw(l.to_string()))
            .chain([Line::styled(
                "Esc closes this note",
                fg(app, Color::DarkGray),
            )])
            .collect();
        let h = (lines.len() as u16 + 2).min(body.height);
        let area = Rect::new(
            body.x + 2,
            body.bottom().saturating_sub(h),
            body.width.saturating_sub(4),
            h,
        );
        overlay(f, area, title, lines);
    }
    if app.help {
        help::draw(f, body, app);
    }
    if let Some(c) = &app.confirm {
        let text = match c {
            Confirm::Quit => "Quit? The mesh running in this console stops too.".to_string(),
            Confirm::Apply => "Apply the editor's YAML to the mesh?".to_string(),
            Confirm::Discard => format!(
                "Discard the staged edits ({})? The mesh keeps what it runs.",
                app.routing.staged.as_deref().unwrap_or("none")
            ),
            Confirm::Rollback(v) => format!("Make version v{v} current again (as a new version)?"),
            Confirm::ApplyToCluster { output, .. } => format!(
                "The cluster's dry run (kubectl apply --server-side --dry-run=server) says:\n{}\n\nApply it for real?",
                output.lines().take(8).collect::<Vec<_>>().join("\n")
            ),
            Confirm::Scenario(n) => {
                format!("Run scenario '{n}'? It resets the rules and may break things on purpose.")
            }
            Confirm::Chaos(r) => match (r.action.as_str(), r.delay_ms, r.error_rate) {
                ("slow", ms, _) if ms > 0 => format!("Slow '{}' by {ms} ms?", r.target),
                ("fail", _, rate) if rate > 0.0 => {
                    format!("Fail {:.0}% of requests to '{}'?", rate * 100.0, r.target)
                }
                (action, ..) => format!("Run chaos '{action}' on '{}'?", r.target),
            },
        };
        let mut lines: Vec<Line> = text.lines().map(|l| Line::raw(l.to_string())).collect();
        lines.extend([
            Line::raw(""),
            Line::styled("y / Enter: yes    n / Esc: no", bold()),
        ]);
        let w = 64.min(body.width);
        // As tall as the wrapped question needs, so the keys always show.
        let h = Paragraph::new(lines.clone())
            .wrap(Wrap { trim: false })
            .line_count(w.saturating_sub(2)) as u16
            + 2;
        overlay(f, centered(body, w, h.min(body.height)), "confirm", lines);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_cut_and_padded_by_display_width() {
        assert_eq!(super::width("日本語"), 6);
        assert_eq!(super::pad("日本語", 5), "日本 ");
        assert_eq!(super::pad("ab", 4), "ab  ");
        let cut = super::ellipsis("日本語です", 5);
        assert_eq!(cut, "日本…");
        assert_eq!(super::width(&cut), 5);
        assert_eq!(super::ellipsis("mTLS", 4), "mTLS");
    }
}
