//! SPIFFE identities: who each workload is, its certificate's issuer,
//! serial, expiry countdown and rotations; the trust domains with their root
//! fingerprints and mTLS mode; and peers the sidecars refused.
//!
//! ```text
//! ┌ Identities ──────────────────────────────────────────────────────────────┐
//! │ INSTANCE        SPIFFE ID                             ISSUER  SERIAL  EXPIRES ROT │
//! ├ Trust domains ──────────────────────┬ Refused peers ──────────────────────┤
//! │ eu eu.mesh 9c14b8…  STRICT          │ 12:01:02 plaintext from 127.0.0.1…   │
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{block, fg, offset, selected};
use crate::tui::action::View;
use crate::tui::app::App;
use crate::tui::model::lists::identities as rows;
use mesh::api::EventKind;

/// Seconds until an RFC 3339 time, relative to `now`.
pub fn countdown(rfc3339: &str, now: f64) -> (String, f64) {
    let Ok(t) =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
    else {
        return ("-".into(), f64::MAX);
    };
    let left = t.unix_timestamp() as f64 - now;
    let text = if left < 0.0 {
        "expired".into()
    } else if left < 120.0 {
        format!("{left:.0}s")
    } else if left < 7200.0 {
        format!("{}m{:02}s", (left / 60.0) as u64, (left % 60.0) as u64)
    } else {
        format!("{:.1}h", left / 3600.0)
    };
    (text, left)
}

/// An instance's name; narrow, gateways get short names and their cluster,
/// since every cluster has one of the same name.
fn instance_label(w: &mesh::api::Workload, wide: bool) -> String {
    let short = match w.instance.as_str() {
        _ if wide => return w.instance.clone(),
        n if n.starts_with("istio-eastwestgateway") => "east-west gw",
        n if n.starts_with("istio-ingressgateway") => "ingress gw",
        _ => return w.instance.clone(),
    };
    format!("{short} {}", w.cluster)
}

/// Draws the identities view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [top, bottom] = Layout::vertical([Constraint::Min(5), Constraint::Length(8)]).areas(area);
    let rows = rows(app);
    let sel = app.sel(View::Identities).min(rows.len().saturating_sub(1));
    let height = top.height.saturating_sub(3) as usize;
    let mut state = TableState::default()
        .with_selected(Some(sel))
        .with_offset(offset(sel, height));
    // Narrow terminals drop the serial; the SPIFFE ID takes what is left,
    // cut with an ellipsis rather than silently.
    let wide = top.width >= 100;
    let inner = top.width.saturating_sub(2) as usize;
    let inst_w = if wide { 24 } else { 16 };
    let fixed = if wide {
        8 + 9 + 8 + 3 + 5
    } else {
        7 + 8 + 3 + 4
    };
    let spiffe_w = inner.saturating_sub(inst_w + fixed).max(12);
    let body: Vec<Row> = rows
        .iter()
        .map(|w| {
            let (left, secs) = countdown(&w.cert_not_after, app.now);
            let style = if !w.ready {
                fg(app, Color::DarkGray)
            } else if secs < 60.0 {
                fg(app, Color::Yellow)
            } else {
                Default::default()
            };
            let issuer = w
                .issuer
                .rsplit("CN=")
                .next()
                .unwrap_or(&w.issuer)
                .replace("meshcon ", "")
                .replace(" root CA", "");
            let mut cells = vec![
                Cell::from(super::ellipsis(&instance_label(w, wide), inst_w)),
                Cell::from(super::ellipsis(&w.spiffe_id, spiffe_w)),
                Cell::from(issuer),
            ];
            if wide {
                cells.push(Cell::from(
                    w.cert_serial.chars().take(8).collect::<String>(),
                ));
            }
            cells.push(Cell::from(left).style(style));
            cells.push(Cell::from(w.rotations.to_string()));
            Row::new(cells).style(if w.ready {
                Default::default()
            } else {
                fg(app, Color::DarkGray)
            })
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(inst_w as u16),
        Constraint::Min(spiffe_w as u16),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(3),
    ];
    let mut header = vec![
        "INSTANCE",
        "SPIFFE ID",
        "ISSUER",
        "SERIAL",
        "EXPIRES",
        "ROT",
    ];
    if !wide {
        widths.remove(3);
        header.remove(3);
    }
    let table = Table::new(body, widths)
        .header(Row::new(header).style(super::bold()))
        .row_highlight_style(selected(app))
        .block(block(format!(
            "Identities · X.509-SVIDs rotate at half-life{}",
            super::filtered(app, View::Identities)
        )));
    f.render_stateful_widget(table, top, &mut state);

    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    let mut tds: Vec<Line> = app
        .mesh
        .trust_domains
        .iter()
        .map(|t| {
            Line::raw(format!(
                "{} {} root {}… {}",
                t.cluster,
                t.trust_domain,
                mesh::api::short_fp(&t.root_fingerprint),
                t.mtls_mode
            ))
        })
        .collect();
    for warn in &app.mesh.federation.warnings {
        tds.push(Line::styled(format!("⚠ {warn}"), fg(app, Color::Red)));
    }
    f.render_widget(
        Paragraph::new(tds)
            .wrap(Wrap { trim: true })
            .block(block("Trust domains")),
        left,
    );
    let refused: Vec<Line> = app
        .mesh
        .events
        .iter()
        .rev()
        .filter(|e| e.event_kind() == Some(EventKind::Denied))
        .take(bottom.height.saturating_sub(2) as usize)
        .map(|e| {
            Line::raw(format!(
                "{} {}: {}",
                super::tap::clock(e.unix_ms),
                e.source.split('.').next().unwrap_or(&e.source),
                e.message
            ))
        })
        .collect();
    let refused = if refused.is_empty() {
        vec![Line::styled(
            "none so far (try :scenario rogue)",
            fg(app, Color::DarkGray),
        )]
    } else {
        refused
    };
    f.render_widget(
        Paragraph::new(refused)
            .wrap(Wrap { trim: true })
            .block(block("Refused peers")),
        right,
    );
}
