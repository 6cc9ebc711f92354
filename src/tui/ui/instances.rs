//! Under the Services table when its filter names one service: each
//! instance's figures from the tap, and the service's saturation.
//!
//! ```text
//! ┌ billing: instances (tap, last 42 s) · saturation 0.4 in flight of 100 (http2MaxRequests) ┐
//! │ INSTANCE        STATE    REQ   FAILED   P99ms   IN FLIGHT                              │
//! │ billing-v1-1    ejected  31    100%     2.1     0.01                                   │
//! └─────────────────────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Color;
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::{block, fg, ms};
use crate::tui::app::App;
use crate::tui::model::instances::{self, InstanceRow};

/// Rows the panel needs for `service` (borders and header included).
pub fn height(app: &App, service: &str) -> u16 {
    instances::for_service(app, service).0.len() as u16 + 3
}

/// Draws the instances of `service`.
pub fn draw(f: &mut Frame, area: Rect, app: &App, service: &str) {
    let (mut rows, span) = instances::for_service(app, service);
    let sat = instances::saturation(app, service, &rows);
    // Sorted as the Services table above is (s, S reverses).
    use crate::tui::app::SortKey;
    let failed = |r: &InstanceRow| f64::from(r.failed) / f64::from(r.requests.max(1));
    match app.sort {
        SortKey::Name => rows.sort_by(|a, b| a.instance.cmp(&b.instance)),
        SortKey::Rps => rows.sort_by_key(|r| std::cmp::Reverse(r.requests)),
        SortKey::Success => rows.sort_by(|a, b| failed(b).total_cmp(&failed(a))),
        SortKey::P99 => rows.sort_by(|a, b| b.p99_ms.total_cmp(&a.p99_ms)),
    }
    if app.sort_reversed {
        rows.reverse();
    }
    let ejected = crate::tui::model::graph::ejected(app);
    let state = |instance: &str| {
        let ready = app
            .mesh
            .workloads
            .iter()
            .find(|w| w.instance == instance)
            .is_none_or(|w| w.ready);
        match (ready, ejected.contains_key(instance)) {
            (false, true) => "down, ejected",
            (false, false) => "down",
            (true, true) => "ejected",
            (true, false) => "ready",
        }
    };
    let saturation = match sat.limit {
        Some((limit, what)) => format!(
            "saturation {:.0}%: {:.2} in flight of {limit} ({what})",
            sat.in_flight / limit.max(1) as f64 * 100.0,
            sat.in_flight
        ),
        None => format!(
            "saturation: {:.2} requests in flight, no connection-pool limit",
            sat.in_flight
        ),
    };
    let body: Vec<Row> = rows
        .iter()
        .map(|r: &InstanceRow| {
            let share = if r.requests == 0 {
                0.0
            } else {
                f64::from(r.failed) / f64::from(r.requests)
            };
            let style = if share >= 0.5 {
                fg(app, Color::Red)
            } else if share > 0.0 {
                fg(app, Color::Yellow)
            } else {
                Default::default()
            };
            let st = state(&r.instance);
            Row::new(vec![
                Cell::from(r.instance.clone()),
                Cell::from(st).style(if st == "ready" {
                    fg(app, Color::Green)
                } else {
                    fg(app, Color::Red)
                }),
                Cell::from(r.requests.to_string()),
                Cell::from(if r.requests == 0 {
                    "-".to_string()
                } else {
                    format!("{:.0}%", share * 100.0)
                })
                .style(style),
                Cell::from(if r.requests == 0 {
                    "-".to_string()
                } else {
                    ms(r.p99_ms)
                }),
                Cell::from(if r.requests == 0 {
                    "-".to_string()
                } else {
                    format!("{:.2}", r.in_flight)
                }),
            ])
        })
        .collect();
    let title = format!("{service}: instances (tap, last {span:.0} s) · {saturation}");
    let table = Table::new(
        body,
        [
            Constraint::Min(16),
            Constraint::Length(14),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new(["INSTANCE", "STATE", "REQ", "FAILED", "P99ms", "IN FLIGHT"]).style(super::bold()),
    )
    .block(block(title));
    f.render_widget(table, area);
}
