//! Golden signals per service and version, sortable, with exact or
//! bucketed percentiles.
//!
//! ```text
//! ┌ Services · window 30 s · percentiles from buckets (e: exact) · sort: name (s) ┐
//! │ SERVICE          VER  CLUSTER  RPS    SUCCESS  P50   P90   P99   mTLS  CALLS/RECV │
//! │ billing          v1   us       6.0    100.0%   4.1   8.9   11    100%  5.9/6.0    │
//! └──────────────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{block, health, ms, offset, selected};
use crate::tui::action::View;
use crate::tui::app::{App, SortKey};
use crate::tui::model::lists;

/// Draws the services table (and, when the filter names one service,
/// its instances below).
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let area = match crate::tui::model::instances::focused_service(app) {
        Some(s) if area.height >= 14 => {
            let h = super::instances::height(app, &s).min(area.height / 2);
            let [top, bottom] =
                Layout::vertical([Constraint::Min(6), Constraint::Length(h)]).areas(area);
            super::instances::draw(f, bottom, app, &s);
            top
        }
        _ => area,
    };
    let rows = lists::services(app);
    let sel = app.sel(View::Services).min(rows.len().saturating_sub(1));
    let height = area.height.saturating_sub(3) as usize;
    // Only the rows on screen are formatted: at 1000 services the rest were
    // most of a frame's work.
    let first = offset(sel, height);
    let mut state = TableState::default().with_selected(Some(sel - first));
    let pick = |exact: Option<f64>, bucketed: f64| {
        if app.exact {
            exact.map(ms).unwrap_or_else(|| "-".into())
        } else {
            ms(bucketed)
        }
    };
    // Narrow terminals drop P90 so SENT/RECV still fits.
    let wide = area.width >= 100;
    let body: Vec<Row> = rows
        .iter()
        .skip(first)
        .take(height)
        .map(|r| {
            let live = r.has_traffic();
            let pick = |exact: Option<f64>, bucketed: f64| {
                if live {
                    pick(exact, bucketed)
                } else {
                    "-".to_string()
                }
            };
            let calls = if r.effective_rps > 0.0 {
                format!("{:.1}/{:.1}", r.effective_rps, r.rps)
            } else {
                "-".into()
            };
            let mut cells = vec![
                Cell::from(r.service.clone()),
                Cell::from(r.version.clone()),
                Cell::from(r.cluster.clone()),
                Cell::from(format!("{:.1}", r.rps)),
                Cell::from(if live {
                    format!("{:.1}%", r.success_rate * 100.0)
                } else {
                    "-".into()
                })
                .style(health(app, r.success_rate, r.rps)),
                Cell::from(pick(r.exact_p50_ms, r.p50_ms)),
                Cell::from(pick(r.exact_p90_ms, r.p90_ms)),
                Cell::from(pick(r.exact_p99_ms, r.p99_ms)),
                Cell::from(if live {
                    format!("{:.0}%", r.mtls_ratio * 100.0)
                } else {
                    "-".into()
                }),
                Cell::from(calls),
            ];
            if !wide {
                cells.remove(6);
            }
            Row::new(cells)
        })
        .collect();
    // Each key's natural direction: names A→Z, the worst rows first.
    let (sort, natural_down) = match app.sort {
        SortKey::Name => ("name", false),
        SortKey::Rps => ("rps", true),
        SortKey::Success => ("success", false),
        SortKey::P99 => ("p99", true),
    };
    let arrow = if natural_down != app.sort_reversed {
        "↓"
    } else {
        "↑"
    };
    let sort = format!("{sort} {arrow}");
    let title = format!(
        "Services · last {} (w) · percentiles {} (e toggles) · sort {sort} (s, S reverses) · Enter: traces{}",
        crate::tui::app::window_words(app.window),
        if app.exact {
            "exact, HDR"
        } else {
            "from buckets, like Prometheus"
        },
        super::filtered(app, View::Services)
    );
    let mut widths = vec![
        Constraint::Min(12),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(11),
    ];
    let mut header = vec![
        "SERVICE",
        "VER",
        "CLUSTER",
        "RPS",
        "SUCCESS",
        "P50ms",
        "P90ms",
        "P99ms",
        "mTLS",
        "SENT/RECV",
    ];
    if !wide {
        widths.remove(6);
        header.remove(6);
    }
    let table = Table::new(body, widths)
        .header(Row::new(header).style(super::bold()))
        .row_highlight_style(selected(app))
        .block(block(title));
    f.render_stateful_widget(table, area, &mut state);
}
