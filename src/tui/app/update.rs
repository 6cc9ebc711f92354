//! `update`: the only place the console's state changes. One arm per
//! action; the bigger ones live with their part of the state (routing,
//! why, the palette, ingest) and are called from here.

use super::routing::{self, Quick};
use super::{ingest, palette, why, App, RoutingPane, SortKey};
use crate::tui::action::{Action, Confirm, View};
use crate::tui::data::Command;
use crate::tui::model::{self, hit::Hit};

/// The only place state changes. Returns commands for the data tasks.
pub fn update(app: &mut App, action: Action) -> Vec<Command> {
    // New traces arrive at the top and young ones age into view: the
    // selection stays on its trace unless the user moves it.
    let moves = matches!(
        action,
        Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
            | Action::Scroll(_)
            | Action::Click(..)
    );
    let anchor = (app.view == View::Traces && !moves)
        .then(|| {
            model::lists::traces(app)
                .get(app.sel(View::Traces))
                .map(|t| t.trace_id.clone())
        })
        .flatten();
    let cmds = update_state(app, action);
    let cmds = available(app, cmds);
    if let Some(id) = anchor {
        if let Some(i) = model::lists::traces(app)
            .iter()
            .position(|t| t.trace_id == id)
        {
            app.set_sel(View::Traces, i);
        }
    }
    cmds
}

fn update_state(app: &mut App, action: Action) -> Vec<Command> {
    match action {
        Action::Data(ev) => {
            // A drill's undo waits for the mesh when it stops answering.
            let was = app.conn.connected;
            ingest::ingest(app, *ev);
            if app.conn.connected && !was {
                return app.practice.connected();
            }
            if was && !app.conn.connected {
                app.practice.disconnected();
            }
        }
        Action::Tick => {
            app.traces_at = app.now;
            return routing::tick(app);
        }
        Action::Resize(w, h) => app.size = (w, h),
        Action::ForceQuit => app.quit = true,
        Action::Quit => app.ask_quit(),
        Action::Confirm(yes) => return confirm(app, yes),
        Action::ToggleHelp => {
            app.help = !app.help;
            app.help_scroll = 0;
        }
        Action::Show(v) => {
            app.view = v;
            app.open_trace = None;
        }
        Action::ShowFiltered { view, filter, why } => {
            app.view = view;
            if filter.is_empty() {
                app.filters.remove(&view);
            } else {
                app.filters.insert(view, filter);
            }
            app.say(
                format!("show me · {why} (Esc clears the filter, 9 returns to practice)"),
                false,
            );
        }
        Action::NextView => {
            let i = (app.view.index() + 1) % View::ALL.len();
            app.view = View::ALL[i];
        }
        Action::PrevView => {
            let i = (app.view.index() + View::ALL.len() - 1) % View::ALL.len();
            app.view = View::ALL[i];
        }
        Action::Up | Action::Down | Action::PageUp | Action::PageDown if app.help => {
            let step = match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -10,
                _ => 10,
            };
            app.help_scroll = (i32::from(app.help_scroll) + step).clamp(0, 200) as u16;
        }
        Action::Up | Action::Down if app.view == View::Why => {
            why::move_field(app, matches!(action, Action::Down))
        }
        Action::PageUp | Action::PageDown if app.view == View::Why => {
            why::scroll(app, matches!(action, Action::PageDown))
        }
        Action::Up | Action::Down if app.view == View::Traces && app.open_trace.is_some() => {
            let n = open_spans(app);
            app.span_sel = if matches!(action, Action::Down) {
                (app.span_sel + 1).min(n.saturating_sub(1))
            } else {
                app.span_sel.saturating_sub(1)
            };
        }
        Action::Up => move_sel(app, -1),
        Action::Down => move_sel(app, 1),
        Action::DiscardStaged => match &app.routing.staged {
            Some(_) => app.confirm = Some(Confirm::Discard),
            None => app.say("nothing is staged", false),
        },
        Action::ScrollFindings(by) => {
            let s = &mut app.routing.findings_scroll;
            *s = s.saturating_add_signed(by);
        }
        Action::Top => move_sel(app, i64::from(i32::MIN)),
        Action::Bottom => move_sel(app, i64::from(i32::MAX)),
        Action::PageUp => move_sel(app, -10),
        Action::PageDown => move_sel(app, 10),
        Action::Scroll(n) => move_sel(app, n as i64),
        Action::Left | Action::Right => {
            let right = matches!(action, Action::Right);
            if app.view == View::Why {
                why::pick_source(app, right);
            } else if app.view == View::Routing {
                app.routing.pane = match (app.routing.pane, right) {
                    (RoutingPane::List, true) => RoutingPane::History,
                    (RoutingPane::History, false) => RoutingPane::List,
                    (p, _) => p,
                };
            }
        }
        Action::Enter => return enter(app),
        Action::Back => back(app),
        Action::Logs => open_logs(app),
        Action::OpenPalette => app.palette = Some(String::new()),
        Action::EditField => why::edit_field(app),
        Action::OpenFilter => app.filter_input = Some(app.filter(app.view).to_string()),
        Action::Input(c) => {
            if let Some(p) = &mut app.palette {
                p.push(c);
            } else if let Some(f) = &mut app.filter_input {
                f.push(c);
                let f = f.clone();
                app.filters.insert(app.view, f);
                app.set_sel(app.view, 0);
            } else if app.view == View::Why && app.why.editing {
                why::field(app).push(c);
            }
        }
        Action::Backspace | Action::ClearInput => {
            let edit = |s: &mut String| {
                if matches!(action, Action::ClearInput) {
                    s.clear();
                } else {
                    s.pop();
                }
            };
            if let Some(p) = &mut app.palette {
                edit(p);
            } else if let Some(f) = &mut app.filter_input {
                edit(f);
                let f = f.clone();
                app.filters.insert(app.view, f);
            } else if app.view == View::Why && app.why.editing {
                edit(why::field(app));
            }
        }
        Action::Complete => {
            if app.palette.is_some() {
                palette::complete(app);
            } else if app.view == View::Why {
                why::next_field(app);
            }
        }
        Action::Submit => {
            if let Some(p) = app.palette.take() {
                return palette::run(app, p.trim());
            }
            if app.filter_input.take().is_some() {
                return Vec::new();
            }
            if app.view == View::Why {
                app.why.editing = false;
                return why::submit(app);
            }
        }
        Action::ToggleExact => app.exact = !app.exact,
        Action::SortNext => {
            app.sort = match app.sort {
                SortKey::Name => SortKey::Rps,
                SortKey::Rps => SortKey::Success,
                SortKey::Success => SortKey::P99,
                SortKey::P99 => SortKey::Name,
            }
        }
        Action::SortReverse => app.sort_reversed = !app.sort_reversed,
        Action::ToggleMap => app.graph_map = !app.graph_map,
        Action::ToggleRoutes => app.by_route = !app.by_route,
        Action::NextWindow => {
            use crate::tui::source::WINDOWS;
            let at = WINDOWS.iter().position(|w| *w == app.window).unwrap_or(0);
            app.window = WINDOWS[(at + 1) % WINDOWS.len()];
            app.say(
                format!(
                    "figures cover the last {} from the next scrape on{}",
                    crate::tui::app::window_words(app.window),
                    if app.window > 60.0 {
                        " (exact percentiles: the last minute)"
                    } else {
                        ""
                    }
                ),
                false,
            );
            return vec![Command::SetWindow(app.window)];
        }
        Action::ShowYaml => show_yaml(app),
        Action::Detail => detail(app),
        Action::TogglePause if app.view == View::Events => {
            // Following jumps to the newest; not following holds the place.
            app.events_follow = !app.events_follow;
            if app.events_follow {
                let n = model::row_count(app);
                app.set_sel(View::Events, n.saturating_sub(1));
            }
        }
        Action::TogglePause => app.paused = !app.paused,
        Action::ToggleIdle => app.hide_idle = !app.hide_idle,
        Action::EditSelected => return routing::edit_selected(app),
        Action::NewResource => return routing::new_resource(app),
        Action::EditorKey(k) => routing::editor_key(app, k),
        Action::ApplyEditor => routing::ask_apply(app),
        Action::ShiftCanary(delta) => return routing::quick(app, Quick::Canary(delta)),
        Action::ToggleRetries => return routing::quick(app, Quick::Retries),
        Action::ToggleFault => return routing::quick(app, Quick::Fault),
        Action::ToggleBreaker => return routing::quick(app, Quick::Breaker),
        Action::ShowHistory => {
            app.routing.pane = RoutingPane::History;
            // The newest version first: R on the oldest would roll far back.
            app.routing.history_selected = app.mesh.history.len().saturating_sub(1);
            return vec![Command::RefreshConfig];
        }
        Action::Rollback => {
            if let Some(h) = app.mesh.history.get(app.routing.history_selected) {
                app.confirm = Some(Confirm::Rollback(h.version));
            }
        }
        Action::RunScenario(name) => app.confirm = Some(Confirm::Scenario(name)),
        Action::Click(x, y) => click(app, x, y),
        Action::PracticeKey(k) => {
            let fx = app.practice.key(k, app.now, &app.mesh, app.conn.connected);
            let mut cmds = fx.commands;
            for a in fx.actions {
                cmds.extend(update_state(app, a));
            }
            return cmds;
        }
        Action::CommandDropped(what) => app.say(
            format!("busy: the mesh tasks are behind, so '{what}' was dropped; try again"),
            true,
        ),
    }
    Vec::new()
}

/// Drops what the attached source cannot do, saying why in the status
/// line: greyed, not an error (a real cluster has no chaos, for one).
fn available(app: &mut App, cmds: Vec<Command>) -> Vec<Command> {
    use crate::tui::source::Feature;
    // Nor is the question asked first.
    let asks = match &app.confirm {
        Some(Confirm::Chaos(_)) => Some(Feature::Chaos),
        Some(Confirm::Scenario(_)) => Some(Feature::Scenarios),
        Some(Confirm::Rollback(_)) => Some(Feature::Versions),
        _ => None,
    };
    if let Some((f, why)) = asks.and_then(|f| app.conn.source.lacks(f).map(|w| (f, w.to_string())))
    {
        app.confirm = None;
        app.say(format!("{} not available here: {why}", f.name()), false);
    }
    let mut kept = Vec::with_capacity(cmds.len());
    for c in cmds {
        let needs = match &c {
            Command::Chaos(_) => Some(Feature::Chaos),
            Command::Sequence(_) => Some(Feature::Scenarios),
            Command::Explain(_) => Some(Feature::Why),
            Command::Rollback(_) | Command::Diff(..) => Some(Feature::Versions),
            _ => None,
        };
        match needs.and_then(|f| app.conn.source.lacks(f).map(|why| (f, why.to_string()))) {
            Some((f, why)) => app.say(format!("{} not available here: {why}", f.name()), false),
            None => kept.push(c),
        }
    }
    kept
}

/// y or n to the question asked.
fn confirm(app: &mut App, yes: bool) -> Vec<Command> {
    let Some(c) = app.confirm.take() else {
        return Vec::new();
    };
    if !yes {
        app.say("cancelled", false);
        return Vec::new();
    }
    match c {
        Confirm::Quit => {
            app.quit = true;
            Vec::new()
        }
        Confirm::Apply => routing::apply_editor(app),
        Confirm::Discard => {
            routing::discard_staged(app);
            Vec::new()
        }
        Confirm::Rollback(v) => {
            app.say(format!("rolling back to v{v}..."), false);
            // The diff shown was of the old pair; the new version makes it stale.
            app.routing.diff = None;
            let services = routing::services_a_rollback_moves(app);
            routing::start_before_after(app, services);
            vec![Command::Rollback(v)]
        }
        Confirm::Scenario(name) => routing::run_scenario(app, &name),
        Confirm::Chaos(req) => vec![Command::Chaos(req)],
        Confirm::ApplyToCluster { yaml, file, .. } => {
            app.say("applying to the cluster...", false);
            vec![Command::ApplyConfirmed { yaml, file }]
        }
    }
}

/// Enter: drill into the selected row.
fn enter(app: &mut App) -> Vec<Command> {
    match app.view {
        View::Traces if app.open_trace.is_none() => {
            let rows = model::lists::traces(app);
            app.open_trace = rows.get(app.sel(View::Traces)).map(|t| t.trace_id.clone());
            app.span_sel = 0;
        }
        View::Traces => open_span(app),
        View::Tap => {
            // The request's trace: its waterfall if the console has it.
            if let Some(id) = model::lists::tap(app)
                .get(app.sel(View::Tap))
                .map(|e| e.trace_id.clone())
                .filter(|id| !id.is_empty())
            {
                app.view = View::Traces;
                if app.mesh.traces.iter().any(|t| t.trace_id == id) {
                    app.open_trace = Some(id);
                    app.span_sel = 0;
                } else {
                    app.say(
                        format!("trace {id} has not arrived yet; listed when it does"),
                        false,
                    );
                    app.filters.insert(View::Traces, id);
                }
            }
        }
        View::Graph => {
            let rows = model::graph::rows(app);
            if let Some(r) = rows.get(app.sel(View::Graph)) {
                if !app.collapsed.remove(&r.service) {
                    app.collapsed.insert(r.service.clone());
                }
            }
        }
        View::Services => {
            if let Some(r) = model::lists::services(app).get(app.sel(View::Services)) {
                app.filters.insert(View::Traces, r.service.clone());
                app.view = View::Traces;
                app.say(format!("traces through {}", r.service), false);
            }
        }
        View::Routing => match app.routing.pane {
            RoutingPane::List => return routing::edit_selected(app),
            RoutingPane::History => {
                if let Some(h) = app.mesh.history.get(app.routing.history_selected) {
                    return vec![Command::Diff(h.version, 0)];
                }
            }
            RoutingPane::Editor => {}
        },
        View::Why => return why::submit(app),
        _ => {}
    }
    Vec::new()
}

/// `l`: the access log of the proxy behind the selected row: the reporting
/// proxy of a Tap row, else the first instance of the selected service.
fn open_logs(app: &mut App) {
    if let Some(why) = app
        .conn
        .source
        .lacks(crate::tui::source::Feature::Tap)
        .map(str::to_string)
    {
        app.say(format!("access logs not available here: {why}"), false);
        return;
    }
    let first_instance = |app: &App, service: &str, version: Option<&str>| {
        app.mesh
            .workloads
            .iter()
            .filter(|w| w.service == service && version.is_none_or(|v| w.version == v))
            .map(|w| w.instance.clone())
            .min()
    };
    let proxy = match app.view {
        View::Tap => model::lists::tap(app)
            .get(app.sel(View::Tap))
            .map(|e| e.logged_by().to_string()),
        View::Services => model::lists::services(app)
            .get(app.sel(View::Services))
            .and_then(|s| first_instance(app, &s.service, Some(&s.version))),
        View::Graph => model::graph::rows(app)
            .get(app.sel(View::Graph))
            .and_then(|r| match r.service.as_str() {
                "ingress" => Some("istio-ingressgateway-0".to_string()),
                s => first_instance(app, s, None),
            }),
        _ => None,
    };
    match proxy.filter(|p| !p.is_empty()) {
        Some(p) => app.logs = Some(p),
        None => app.say("select a row with a proxy behind it first", false),
    }
}

/// Spans in the open trace.
fn open_spans(app: &App) -> usize {
    app.open_trace
        .as_ref()
        .and_then(|id| app.mesh.traces.iter().find(|t| &t.trace_id == id))
        .map_or(0, |t| t.spans.len())
}

/// Enter on a span of the waterfall: everything it recorded.
fn open_span(app: &mut App) {
    let Some(t) = app
        .open_trace
        .as_ref()
        .and_then(|id| app.mesh.traces.iter().find(|t| &t.trace_id == id))
    else {
        return;
    };
    let order = model::lists::span_order(t);
    let Some((_, s)) = order.get(app.span_sel) else {
        return;
    };
    let mut text = vec![
        format!("{} · {} · {} ({})", s.name, s.kind, s.service, s.cluster),
        format!(
            "{:.1} ms, {}",
            s.duration_ms,
            if s.error { "failed" } else { "ok" }
        ),
        format!(
            "span {} · parent {}",
            s.span_id,
            if s.parent_span_id.is_empty() {
                "-"
            } else {
                &s.parent_span_id
            }
        ),
    ];
    for (k, v) in &s.attributes {
        text.push(format!("  {k} = {v}"));
    }
    let title = format!("span {} · Esc closes", s.span_id);
    app.look = Some(super::Look {
        title,
        text: text.join("\n"),
    });
}

/// `d`: the drill-down pane of the service behind the selected row.
fn detail(app: &mut App) {
    let service = match app.view {
        View::Graph => model::graph::rows(app)
            .get(app.sel(View::Graph))
            .map(|r| r.service.clone())
            .filter(|s| s != "ingress" && !s.starts_with("eastwest-")),
        View::Services => model::lists::services(app)
            .get(app.sel(View::Services))
            .map(|s| s.service.clone()),
        View::Tap => model::lists::tap(app)
            .get(app.sel(View::Tap))
            .and_then(|e| {
                app.mesh
                    .workloads
                    .iter()
                    .find(|w| w.instance == e.destination_instance)
                    .map(|w| w.service.clone())
            }),
        View::Identities => model::lists::identities(app)
            .get(app.sel(View::Identities))
            .map(|w| w.service.clone()),
        _ => None,
    };
    match service {
        Some(s) => {
            let (title, text) = model::detail::service(app, &s);
            app.look = Some(super::Look { title, text });
        }
        None => app.say("select a service's row first", false),
    }
}

/// `y`: the applied resources that concern the selected service (its
/// host in their hosts or destinations), or the selected resource, as YAML.
fn show_yaml(app: &mut App) {
    let service = match app.view {
        View::Graph => model::graph::rows(app)
            .get(app.sel(View::Graph))
            .map(|r| r.service.clone()),
        View::Services => model::lists::services(app)
            .get(app.sel(View::Services))
            .map(|s| s.service.clone()),
        _ => None,
    };
    let (title, yaml) = match (app.view, service) {
        (View::Routing, _) => match app.mesh.resources.get(app.sel(View::Routing)) {
            Some(r) => (
                format!("{} {}/{}", r.kind, r.namespace, r.name),
                r.yaml.clone(),
            ),
            None => return app.say("no resource selected", false),
        },
        (_, Some(svc)) => {
            let yaml: Vec<String> = app
                .mesh
                .resources
                .iter()
                .filter(|r| model::detail::concerns(&r.yaml, &svc))
                .map(|r| r.yaml.clone())
                .collect();
            if yaml.is_empty() {
                return app.say(
                    format!("no applied resource concerns {svc}: it takes its default route"),
                    false,
                );
            }
            (format!("config for {svc}"), yaml.join("---\n"))
        }
        _ => return,
    };
    app.look = Some(super::Look { title, text: yaml });
}

/// Esc: close the innermost thing open, else clear the view's filter.
fn back(app: &mut App) {
    if app.palette.take().is_some() || app.filter_input.take().is_some() {
        return;
    }
    if app.help {
        app.help = false;
    } else if app.logs.take().is_some() {
    } else if app.look.is_some() {
        app.look = None;
    } else if app.open_trace.is_some() {
        app.open_trace = None;
    } else if app.routing.diff.is_some() && app.view == View::Routing {
        app.routing.diff = None;
    } else if app.view == View::Routing && app.routing.pane != RoutingPane::List {
        app.routing.pane = RoutingPane::List;
    } else if app.view == View::Why && app.why.editing {
        app.why.editing = false;
    } else {
        app.filters.remove(&app.view);
        app.status = None;
    }
}

/// A click on a tab switches views; on a row, selects it.
fn click(app: &mut App, x: u16, y: u16) {
    match model::hit::hit(app, x, y) {
        Some(Hit::Tab(v)) => {
            app.view = v;
            app.open_trace = None;
        }
        Some(Hit::Row(i)) => {
            if app.view == View::Routing && app.routing.pane == RoutingPane::History {
                app.routing.history_selected = i.min(app.mesh.history.len().saturating_sub(1));
            } else {
                let n = model::row_count(app);
                app.set_sel(app.view, i.min(n.saturating_sub(1)));
            }
        }
        None => {}
    }
}

fn move_sel(app: &mut App, delta: i64) {
    let v = app.view;
    if v == View::Routing && app.routing.pane == RoutingPane::History {
        let n = app.mesh.history.len();
        let cur = app.routing.history_selected as i64;
        app.routing.history_selected = (cur + delta).clamp(0, n.saturating_sub(1) as i64) as usize;
        return;
    }
    let n = model::row_count(app);
    let cur = app.sel(v) as i64;
    let to = (cur + delta).clamp(0, n.saturating_sub(1) as i64) as usize;
    app.set_sel(v, to);
    if v == View::Events {
        // On the newest event the list follows new ones; moving up stops it.
        app.events_follow = to + 1 >= n;
    }
}
