//! The service graph, as a call tree from the ingress with cross-cluster
//! hops marked, then each cluster's remaining services and gateways.
//!
//! ```text
//! ┌ Graph ─ 2 clusters ─────────────────────────────────────────────────────┐
//! │ CALL                              CLUSTER  RPS    ERR   P99ms  mTLS  SPLIT │
//! │ ⇥ ingress shop.example.com        eu       10.0   0.0%  41     🔒         │
//! │ └─▶ frontend v1×2                 eu       10.0   0.0%  12     🔒         │
//! │     ├─▶ user v1                   eu       10.0   0.0%  8      🔒         │
//! │     │   └─▶ billing v1×2 v2×1     us ⇄     10.0   0.0%  5      🔒  v1 90% │
//! └──────────────────────────────────────────────────────────────────────────┘
//! ┌ frontend → billing ── rps ▁▂▃ ─ p99 ▅▆▇ ───────────────────────────────────┐
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

use super::{block, fg, health, ms, offset, selected};
use crate::tui::action::View;
use crate::tui::app::App;
use crate::tui::model::graph;

/// Draws the map when asked for and it fits; else the tree, saying why.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    if app.graph_map {
        // Each box holds at least 4 lines by 5 columns of its own, so a mesh
        // with more boxes than the area has room for is not laid out at all
        // (laying out a thousand services took 30 ms a frame).
        let boxes = app
            .mesh
            .topology
            .as_ref()
            .map_or(0, |t| t.services.len() + t.clusters.len());
        if boxes * 20 > usize::from(area.width) * usize::from(area.height) {
            let why = format!(
                "{boxes} boxes need more than {}×{}",
                area.width, area.height
            );
            return tree(f, area, app, Some(why));
        }
        let lines = crate::tui::model::map::spec(app)
            .map(|s| crate::map::draw(&s))
            .unwrap_or_default();
        let wide = lines.iter().map(|l| super::width(l)).max().unwrap_or(0);
        let (w, h) = (wide as u16 + 2, lines.len() as u16 + 2);
        if w <= area.width && h <= area.height && !lines.is_empty() {
            let text: Vec<Line> = lines.into_iter().map(Line::raw).collect();
            f.render_widget(
                Paragraph::new(text).block(block(format!(
                    "Graph · map · last {} (w) · m: the tree{}",
                    crate::tui::app::window_words(app.window),
                    super::filtered(app, View::Graph)
                ))),
                area,
            );
            return;
        }
        let why = if lines.is_empty() {
            "no topology yet".to_string()
        } else {
            format!("needs {w}×{h}")
        };
        return tree(f, area, app, Some(why));
    }
    tree(f, area, app, None)
}

fn tree(f: &mut Frame, area: Rect, app: &App, note: Option<String>) {
    let [top, bottom] = Layout::vertical([Constraint::Min(5), Constraint::Length(7)]).areas(area);
    let rows = graph::rows(app);
    let sel = app.sel(View::Graph).min(rows.len().saturating_sub(1));
    let height = top.height.saturating_sub(3) as usize;
    let mut state = TableState::default()
        .with_selected(Some(sel))
        .with_offset(offset(sel, height));
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            let lock = if r.mtls >= 0.99 {
                "🔒"
            } else if r.rps > 0.0 {
                "open"
            } else {
                ""
            };
            let cluster = if r.cross {
                format!("{} ⇄", r.cluster)
            } else {
                r.cluster.clone()
            };
            let style = if r.down {
                fg(app, Color::Red)
            } else if r.infra {
                fg(app, Color::Cyan)
            } else {
                super::worse(
                    health(app, 1.0 - r.error_rate, r.rps),
                    super::latency_health(app, r.p99, r.rps),
                )
            };
            Row::new(vec![
                Cell::from(r.label.clone()).style(style),
                Cell::from(cluster),
                Cell::from(if r.rps > 0.0 {
                    format!("{:.1}", r.rps)
                } else {
                    "-".into()
                }),
                Cell::from(if r.rps > 0.0 {
                    format!("{:.1}%", r.error_rate * 100.0)
                } else {
                    "-".into()
                })
                .style(health(app, 1.0 - r.error_rate, r.rps)),
                Cell::from(ms(r.p99)).style(super::latency_health(app, r.p99, r.rps)),
                Cell::from(lock),
                Cell::from(r.split.clone()),
            ])
        })
        .collect();
    let clusters = app.mesh.topology.as_ref().map_or(0, |t| t.clusters.len());
    let title = format!(
        "Graph · {clusters} clusters · last {} (w) · {} · i {} idle · Enter folds · m {}{}",
        crate::tui::app::window_words(app.window),
        if app.hide_idle {
            "idle hidden"
        } else {
            "all edges"
        },
        if app.hide_idle { "shows" } else { "hides" },
        match &note {
            Some(why) => format!("map: {why}, tree shown"),
            None => "map".to_string(),
        },
        super::filtered(app, View::Graph)
    );
    let table = Table::new(
        body,
        [
            Constraint::Min(26),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(4),
            Constraint::Length(14),
        ],
    )
    .header(
        Row::new(["CALL", "CLUSTER", "RPS", "ERR", "P99ms", "mTLS", "SPLIT"]).style(super::bold()),
    )
    .row_highlight_style(selected(app))
    .block(block(title));
    f.render_stateful_widget(table, top, &mut state);

    let Some(r) = rows.get(sel) else {
        let hint = if app.mesh.topology.is_none() {
            "waiting for the mesh..."
        } else {
            "no rows (filter?)"
        };
        f.render_widget(Paragraph::new(hint).block(block("details")), bottom);
        return;
    };
    // Sum the row's series point by point, aligned on the newest.
    let mut points: Vec<(f64, f64)> = Vec::new();
    for q in r.series.iter().filter_map(|k| app.mesh.series.get(k)) {
        if q.len() > points.len() {
            let missing = q.len() - points.len();
            points.splice(0..0, std::iter::repeat_n((0.0, 0.0), missing));
        }
        let skip = points.len() - q.len();
        for (p, x) in points[skip..].iter_mut().zip(q) {
            p.0 += x.0;
            p.1 = p.1.max(x.1);
        }
    }
    let rps: Vec<u64> = points.iter().map(|p| (p.0 * 10.0) as u64).collect();
    let p99: Vec<u64> = points.iter().map(|p| (p.1 * 10.0) as u64).collect();
    let exact = app
        .mesh
        .latency
        .iter()
        .filter(|e| {
            e.edge.as_ref().is_some_and(|k| match &r.exact_from {
                Some(w) => k.reporter == "source" && &k.source_workload == w,
                None => k.reporter == "destination" && k.destination_service == r.service,
            })
        })
        .max_by_key(|e| e.count);
    let title = format!(
        "{} · {} · exact p50 {} p99 {} ms · instances: {}",
        r.service,
        r.cluster,
        exact.map_or("-".into(), |e| ms(e.p50_ms)),
        exact.map_or("-".into(), |e| ms(e.p99_ms)),
        app.mesh
            .workloads
            .iter()
            .filter(|w| w.service == r.service)
            .map(|w| format!("{}{}", w.instance, if w.ready { "" } else { "✗" }))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let b = block(title);
    let inner = b.inner(bottom);
    f.render_widget(b, bottom);
    let [l1, s1, l2, s2] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    f.render_widget(
        Paragraph::new(Line::from(vec![Span::styled(
            "requests/s (last 60 s)",
            fg(app, Color::DarkGray),
        )])),
        l1,
    );
    f.render_widget(
        Sparkline::default().data(&rps).style(fg(app, Color::Green)),
        s1,
    );
    f.render_widget(
        Paragraph::new(Line::from(vec![Span::styled(
            "P99 ms",
            fg(app, Color::DarkGray),
        )])),
        l2,
    );
    f.render_widget(
        Sparkline::default()
            .data(&p99)
            .style(fg(app, Color::Yellow)),
        s2,
    );
}
