//! Routing: the applied resources, a YAML editor with findings as you type,
//! quick actions, the last apply's convergence or NACKs, a before/after of
//! the traffic it changed, and history with diffs and rollback.
//!
//! ```text
//! ┌ Routing · v7 ────────────────────┐┌ Editor (Ctrl-S applies) ────────────────┐
//! │ VirtualService default/billing    ││  1 apiVersion: networking.istio.io/v1  │
//! │ DestinationRule default/billing   ││  2 kind: VirtualService                │
//! └───────────────────────────────────┘└────────────────────────────────────────┘
//! ┌ findings ─────────────────────────────────────────────────────────────────┐
//! ┌ last apply · before → after ───────────────────────────────────────────────┐
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{block, fg, ms, offset, selected};
use crate::tui::action::View;
use crate::tui::app::{App, RoutingPane};

/// Istio's short names for kinds, as kubectl takes them.
fn short_kind(kind: &str) -> &str {
    match kind {
        "VirtualService" => "VS",
        "DestinationRule" => "DR",
        "Gateway" => "GW",
        "PeerAuthentication" => "PA",
        "AuthorizationPolicy" => "AP",
        k => k,
    }
}

/// A history entry's summary, short enough for the list: what changed, in
/// short kinds, without the `default/` namespace (Enter shows the whole diff).
fn short_summary(s: &str) -> String {
    let s = s.strip_prefix("apply: ").unwrap_or(s);
    // What changed comes first; resources applied unchanged are left out.
    let changed: Vec<&str> = s
        .split(", ")
        .filter(|part| !part.ends_with(" unchanged"))
        .collect();
    let mut out = if changed.is_empty() {
        s.to_string()
    } else {
        changed.join(", ")
    }
    .replace("default/", "");
    for kind in [
        "VirtualService",
        "DestinationRule",
        "Gateway",
        "PeerAuthentication",
        "AuthorizationPolicy",
    ] {
        out = out.replace(&format!("{kind} "), &format!("{} ", short_kind(kind)));
    }
    out
}

fn list(f: &mut Frame, area: Rect, app: &App) {
    let focused = app.routing.pane == RoutingPane::List;
    if app.routing.pane == RoutingPane::History {
        let sel = app
            .routing
            .history_selected
            .min(app.mesh.history.len().saturating_sub(1));
        let height = area.height.saturating_sub(2) as usize;
        let mut state = TableState::default()
            .with_selected(Some(sel))
            .with_offset(offset(sel, height));
        let rows: Vec<Row> = app
            .mesh
            .history
            .iter()
            .map(|h| {
                let when = h
                    .unix_time
                    .parse::<i64>()
                    .map(super::tap::clock)
                    .unwrap_or_default();
                Row::new(vec![
                    Cell::from(format!("v{}", h.version)),
                    Cell::from(when),
                    Cell::from(short_summary(&h.summary)),
                ])
            })
            .collect();
        let t = Table::new(
            rows,
            [
                Constraint::Length(5),
                Constraint::Length(8),
                Constraint::Min(10),
            ],
        )
        .row_highlight_style(selected(app))
        .block(block("History · Enter diff · R roll back · ← back"));
        f.render_stateful_widget(t, area, &mut state);
        return;
    }
    let sel = app
        .sel(View::Routing)
        .min(app.mesh.resources.len().saturating_sub(1));
    let height = area.height.saturating_sub(2) as usize;
    let mut state = TableState::default()
        .with_selected(if focused { Some(sel) } else { None })
        .with_offset(offset(sel, height));
    let rows: Vec<Row> = app
        .mesh
        .resources
        .iter()
        .map(|r| {
            let name = if r.namespace == "default" {
                r.name.clone()
            } else {
                format!("{}/{}", r.namespace, r.name)
            };
            let kind = if area.width < 44 {
                short_kind(&r.kind)
            } else {
                &r.kind
            };
            Row::new(vec![Cell::from(kind.to_string()), Cell::from(name)])
        })
        .collect();
    let empty = rows.is_empty();
    let kind_w = if area.width < 44 { 3 } else { 20 };
    let t = Table::new(rows, [Constraint::Length(kind_w), Constraint::Min(10)])
        .row_highlight_style(selected(app))
        .block(block(if area.width < 44 {
            format!("v{} · e edit n new H hist", app.mesh.version)
        } else {
            format!("Applied · v{} · e edit n new H history", app.mesh.version)
        }));
    f.render_stateful_widget(t, area, &mut state);
    if empty {
        let inner = Rect::new(
            area.x + 2,
            area.y + 2,
            area.width.saturating_sub(4),
            area.height.saturating_sub(3),
        );
        f.render_widget(
            Paragraph::new("no rules: every service takes its default route. n starts a VirtualService; :scenario canary applies one.").wrap(Wrap { trim: true }),
            inner,
        );
    }
}

fn editor(f: &mut Frame, area: Rect, app: &App) {
    if let Some(diff) = &app.routing.diff {
        let lines: Vec<Line> = diff
            .lines()
            .map(|l| {
                let style = if l.starts_with('+') {
                    fg(app, Color::Green)
                } else if l.starts_with('-') {
                    fg(app, Color::Red)
                } else {
                    Default::default()
                };
                Line::styled(l.to_string(), style)
            })
            .collect();
        f.render_widget(
            Paragraph::new(lines).block(block("Diff against the current version · Esc closes")),
            area,
        );
        return;
    }
    let e = &app.routing.editor;
    let editing = app.routing.pane == RoutingPane::Editor;
    let height = area.height.saturating_sub(2) as usize;
    // Long lines scroll sideways so the cursor stays in view (borders and
    // the four-cell gutter take six columns).
    let text_w = (area.width as usize).saturating_sub(6).max(1);
    let left = if editing {
        (e.col + 1).saturating_sub(text_w)
    } else {
        0
    };
    let error_lines: std::collections::BTreeSet<u32> = app
        .routing
        .findings
        .iter()
        .filter(|x| x.level == "Error")
        .map(|x| x.line)
        .collect();
    let lines: Vec<Line> = if e.lines.iter().all(|l| l.is_empty()) && !editing {
        let preview = app
            .mesh
            .resources
            .get(app.sel(View::Routing))
            .map(|r| r.yaml.clone())
            .unwrap_or_default();
        preview.lines().map(|l| Line::raw(l.to_string())).collect()
    } else {
        e.lines
            .iter()
            .enumerate()
            .skip(e.first_shown(height))
            .take(height)
            .map(|(i, l)| {
                let n = i as u32 + 1;
                let gutter = if error_lines.contains(&n) {
                    Span::styled(format!("{n:>3}✗"), fg(app, Color::Red))
                } else {
                    Span::styled(format!("{n:>3} "), fg(app, Color::DarkGray))
                };
                let chars: Vec<char> = l.chars().skip(left).collect();
                if editing && i == e.row {
                    let col = e.col - left;
                    let before: String = chars.iter().take(col).collect();
                    let at: String = chars
                        .get(col)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| " ".into());
                    let after: String = chars.iter().skip(col + 1).collect();
                    Line::from(vec![
                        gutter,
                        Span::raw(before),
                        Span::styled(
                            at,
                            ratatui::style::Style::default().add_modifier(Modifier::REVERSED),
                        ),
                        Span::raw(after),
                    ])
                } else {
                    Line::from(vec![
                        gutter,
                        Span::raw(chars.into_iter().collect::<String>()),
                    ])
                }
            })
            .collect()
    };
    let title = if editing {
        "Editor · Ctrl-S (or F2) applies · Esc leaves".to_string()
    } else if let Some(what) = &app.routing.staged {
        format!("Staged: {what} · a applies · e edits")
    } else {
        "YAML · e edits".to_string()
    };
    f.render_widget(Paragraph::new(lines).block(block(&title)), area);
    if editing {
        // The terminal's own cursor too, for terminals and screen readers
        // that follow it. The gutter is four cells wide.
        let row = e.row - e.first_shown(height);
        let (x, y) = (area.x + 5 + (e.col - left) as u16, area.y + 1 + row as u16);
        if x < area.right().saturating_sub(1) && y < area.bottom().saturating_sub(1) {
            f.set_cursor_position((x, y));
        }
    }
}

/// The editor's findings, else (on a real mesh) those in the config as loaded.
fn shown_findings(app: &App) -> (&[mesh::api::Finding], &'static str) {
    if app.routing.findings.is_empty() && !app.mesh.config_findings.is_empty() {
        (&app.mesh.config_findings, " in the loaded config")
    } else {
        (&app.routing.findings, "")
    }
}

fn findings(f: &mut Frame, area: Rect, app: &App) {
    let (list, whose) = shown_findings(app);
    let lines: Vec<Line> = if list.is_empty() {
        vec![Line::styled(
            if app.routing.pane == RoutingPane::Editor {
                "no findings: the YAML is valid"
            } else {
                ""
            },
            fg(app, Color::Green),
        )]
    } else {
        list.iter()
            .map(|x| {
                let style = if x.level == "Error" {
                    fg(app, Color::Red)
                } else {
                    fg(app, Color::Yellow)
                };
                Line::from(vec![
                    Span::styled(
                        format!("{}:{} {} [{}] ", x.line, x.column, x.level, x.code),
                        style,
                    ),
                    Span::raw(format!("{} — {}", x.message, x.fix)),
                ])
            })
            .collect()
    };
    let n = list.len();
    let errors = list.iter().filter(|x| x.level == "Error").count();
    let para = Paragraph::new(lines).wrap(Wrap { trim: true });
    let inner = area.width.saturating_sub(2);
    let total = para.line_count(inner) as u16;
    let room = area.height.saturating_sub(2);
    let max = total.saturating_sub(room);
    let scroll = app.routing.findings_scroll.min(max);
    let title = match (n, max) {
        (0, _) => "Findings".to_string(),
        (_, 0) => format!("Findings{whose} · {n} ({errors} error(s))"),
        _ => format!(
            "Findings{whose} · {n} ({errors} error(s)) · lines {}-{} of {total} · [ ] scroll",
            scroll + 1,
            (scroll + room).min(total)
        ),
    };
    f.render_widget(para.scroll((scroll, 0)).block(block(title)), area);
}

/// Rows the findings pane takes: all its lines, up to a third of the view.
fn findings_height(area: Rect, app: &App) -> u16 {
    let n = shown_findings(app).0.len() as u16;
    (n.max(1) * 2 + 2).clamp(5, (area.height / 3).max(5))
}

fn last(f: &mut Frame, area: Rect, app: &App) {
    let mut lines = Vec::new();
    match &app.routing.last_apply {
        Some(crate::tui::app::LastApply { summary, nacks, ok }) => {
            lines.push(Line::styled(summary.clone(), if *ok { fg(app, Color::Green) } else { fg(app, Color::Red) }));
            for n in nacks {
                lines.push(Line::styled(format!("NACK {n}"), fg(app, Color::Red)));
            }
        }
        None => lines.push(Line::styled(
            "quick actions write the YAML, a applies: + / - canary weight on billing · r retries · f fault on auth · c circuit breaker",
            fg(app, Color::DarkGray),
        )),
    }
    if let Some(ba) = &app.routing.before_after {
        let keys: std::collections::BTreeSet<(String, String)> = ba
            .before
            .iter()
            .chain(ba.after.iter().flatten())
            .map(|e| (e.source.clone(), e.service.clone()))
            .collect();
        let cell = |edges: &[mesh::api::EdgeSignal], k: &(String, String)| {
            let es: Vec<&mesh::api::EdgeSignal> = edges
                .iter()
                .filter(|e| e.source == k.0 && e.service == k.1)
                .collect();
            let rps: f64 = es.iter().map(|e| e.rps).sum();
            if rps <= 0.0 {
                return "idle".to_string();
            }
            let split = es
                .iter()
                .map(|e| format!("{} {:.0}%", e.version, e.rps / rps * 100.0))
                .collect::<Vec<_>>()
                .join(" ");
            let err = es.iter().map(|e| e.rps * e.error_rate).sum::<f64>() / rps;
            let p99 = es.iter().map(|e| e.p99_ms).fold(0.0, f64::max);
            format!("{split} · p99 {} ms · err {:.1}%", ms(p99), err * 100.0)
        };
        let waiting = ba.after.is_none();
        for k in keys.iter().take(area.height.saturating_sub(3) as usize) {
            let after = match &ba.after {
                Some(a) => cell(a, k),
                None => format!("measuring... {:.0} s", (10.0 - (app.now - ba.at)).max(0.0)),
            };
            lines.push(Line::raw(format!(
                "{} → {}: {}  ⇒  {}",
                k.0,
                k.1,
                cell(&ba.before, k),
                after
            )));
        }
        if keys.is_empty() && waiting {
            lines.push(Line::raw(
                "before/after: no traffic on the changed services yet",
            ));
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block("Last apply · before ⇒ after (10 s)")),
        area,
    );
}

/// Draws the routing view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(findings_height(area, app)),
        Constraint::Length(6),
    ])
    .areas(area);
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(top);
    list(f, l, app);
    editor(f, r, app);
    findings(f, mid, app);
    last(f, bottom, app);
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_history_line_starts_with_what_changed() {
        assert_eq!(
            super::short_summary(
                "apply: DestinationRule default/billing unchanged, VirtualService default/billing configured"
            ),
            "VS billing configured"
        );
        assert_eq!(super::short_summary("rollback to v3"), "rollback to v3");
    }
}
