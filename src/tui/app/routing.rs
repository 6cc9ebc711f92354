//! The routing view's changes: the editor (opened on a resource, a template
//! or a quick action's YAML), staged quick actions, applies with their
//! before/after picture, rollbacks and scenarios.
//!
//! A quick action never applies by itself: it writes YAML into the editor,
//! validated, and `a` applies it, so the user sees the rule before it
//! changes the traffic.

use std::collections::BTreeSet;

use mesh::api::ChaosRequest;

use super::{App, BeforeAfter, Look, RoutingPane};
use crate::tui::action::{Confirm, View};
use crate::tui::data::{Command, RECENT};
use crate::tui::editor::Editor;
use crate::tui::mesh_data::Resource;
use crate::tui::quick;
use crate::tui::scenario;

/// A quick action of the routing view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quick {
    /// Move billing's canary weight by this many points.
    Canary(i32),
    /// Retries on billing on or off.
    Retries,
    /// A delay fault on auth on or off.
    Fault,
    /// Outlier detection on billing on or off.
    Breaker,
}

pub(super) use crate::tui::quick::template;

/// Opens the editor on `text` (replacing what was staged) and asks for
/// its findings.
pub(super) fn open_editor(app: &mut App, text: &str) -> Vec<Command> {
    let seq_base = app.routing.editor.seq;
    app.view = View::Routing;
    app.routing.pane = RoutingPane::Editor;
    app.routing.editor = Editor::new(text);
    app.routing.staged = None;
    app.routing.editor.seq = seq_base + 1;
    app.routing.findings.clear();
    app.routing.pending = None;
    vec![Command::Validate {
        seq: app.routing.editor.seq,
        yaml: app.routing.editor.text(),
    }]
}

/// `e`: the staged YAML where it stands, else the selected resource, else
/// a new VirtualService.
pub(super) fn edit_selected(app: &mut App) -> Vec<Command> {
    if let Some(what) = app.routing.staged.clone() {
        // Staged edits are returned to only for a resource they hold:
        // opening them for another one would edit the wrong resource.
        let staged = Resource::split(&app.routing.editor.text());
        let selected = app.mesh.resources.get(app.sel(View::Routing));
        let holds = |r: &Resource| {
            staged
                .iter()
                .any(|s| s.kind == r.kind && s.name == r.name && s.namespace == r.namespace)
        };
        if selected.is_none_or(holds) {
            app.routing.pane = RoutingPane::Editor;
        } else if let Some(r) = selected {
            app.say(
                format!(
                    "'{what}' is staged and does not hold {} {}: a applies it, D discards it, then e edits this one",
                    r.kind, r.name
                ),
                true,
            );
        }
        return Vec::new();
    }
    let text = match app.mesh.resources.get(app.sel(View::Routing)) {
        Some(r) => r.yaml.clone(),
        None => template("vs", "billing"),
    };
    open_editor(app, &text)
}

/// Throws staged edits away: the editor goes back to what the mesh runs.
pub(super) fn discard_staged(app: &mut App) {
    if let Some(what) = app.routing.staged.take() {
        app.routing.findings.clear();
        app.routing.pane = RoutingPane::List;
        app.say(format!("discarded '{what}'"), false);
    }
}

/// `n`: a new VirtualService, unless that would throw staged YAML away.
pub(super) fn new_resource(app: &mut App) -> Vec<Command> {
    if let Some(what) = &app.routing.staged {
        app.say(
            format!(
                "'{what}' is staged: a applies it, or e edits it; a new resource would replace it"
            ),
            true,
        );
        return Vec::new();
    }
    open_editor(app, &template("vs", "billing"))
}

/// A key typed into the editor.
pub(super) fn editor_key(app: &mut App, k: ratatui::crossterm::event::KeyEvent) {
    if app.routing.editor.handle(k) {
        app.routing.pending = Some((app.routing.editor.seq, app.now));
        // Edited by hand: no longer just the quick action it was,
        // and edits of an applied resource are staged too, so Esc,
        // `e` and quick actions keep them until applied.
        match &mut app.routing.staged {
            Some(what) if !what.ends_with(", edited") && what != "your edits" => {
                what.push_str(", edited")
            }
            Some(_) => {}
            None => app.routing.staged = Some("your edits".into()),
        }
    }
    let height = app.size.1.saturating_sub(12) as usize;
    app.routing.editor.follow(height);
}

/// `a`: asks before applying, unless the mesh would refuse the YAML anyway.
pub(super) fn ask_apply(app: &mut App) {
    let errors = app
        .routing
        .findings
        .iter()
        .filter(|f| f.level == "Error")
        .count();
    if errors > 0 {
        app.say(
            format!(
                "the YAML has {errors} error(s), listed under the editor; the mesh would refuse it"
            ),
            true,
        );
    } else {
        app.confirm = Some(Confirm::Apply);
    }
}

/// What quick actions build on: the staged YAML, then what the mesh runs.
/// None (with the reason said) while the staged YAML has errors, which a
/// quick action would otherwise silently drop.
fn draft(app: &mut App) -> Option<quick::Draft> {
    let staged = app
        .routing
        .staged
        .is_some()
        .then(|| app.routing.editor.text());
    if staged.is_some() && app.routing.findings.iter().any(|f| f.level == "Error") {
        app.say(
            "the staged YAML has errors: fix them (e) before a quick action builds on it",
            true,
        );
        return None;
    }
    Some(quick::Draft::new(
        staged.as_deref(),
        &app.mesh.resources_yaml,
    ))
}

/// Builds a quick action on the draft and stages it.
pub(super) fn quick(app: &mut App, q: Quick) -> Vec<Command> {
    let Some(mut d) = draft(app) else {
        return Vec::new();
    };
    let what = match q {
        Quick::Canary(delta) => {
            let next = (d.canary() as i32 + delta).clamp(0, 100) as u32;
            d.set_canary(next);
            format!("canary {next}% to billing v2")
        }
        Quick::Retries => {
            let on = !d.retries();
            d.set_retries(on);
            if on {
                "retries on billing"
            } else {
                "no retries on billing"
            }
            .to_string()
        }
        Quick::Fault => {
            let on = !d.fault();
            d.set_fault(on);
            if on {
                "500 ms delay on auth"
            } else {
                "no fault on auth"
            }
            .to_string()
        }
        Quick::Breaker => {
            let on = !d.breaker();
            d.set_breaker(on);
            if on {
                "circuit breaker on billing"
            } else {
                "no circuit breaker on billing"
            }
            .to_string()
        }
    };
    stage(app, d.yaml(), what)
}

/// Writes a quick action's YAML into the editor, validated, for `a` to apply.
fn stage(app: &mut App, yaml: String, what: String) -> Vec<Command> {
    let cmds = open_editor(app, &yaml);
    app.routing.pane = RoutingPane::List;
    app.say(format!("staged {what}: a applies, e edits it first"), false);
    app.routing.staged = Some(what);
    cmds
}

/// The services a YAML's VirtualServices and DestinationRules are about.
fn services_named(yaml: &str) -> Vec<String> {
    use mesh::api::config::model::Resource;
    let out = mesh::api::config::parse("-", yaml);
    let mut v: Vec<String> = out
        .resources
        .iter()
        .flat_map(|p| match &p.resource {
            Resource::VirtualService(vs) => vs
                .spec
                .hosts
                .iter()
                .map(|h| mesh::api::config::short_name(h))
                .collect(),
            Resource::DestinationRule(dr) => {
                vec![mesh::api::config::short_name(&dr.spec.host)]
            }
            _ => Vec::new(),
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The editor's YAML, confirmed: applied now under the staged name.
pub(super) fn apply_editor(app: &mut App) -> Vec<Command> {
    let yaml = app.routing.editor.text();
    let what = app
        .routing
        .staged
        .take()
        .unwrap_or_else(|| "editor".to_string());
    apply(app, yaml, &what)
}

/// Applies YAML now, remembering the traffic it is about to change.
fn apply(app: &mut App, yaml: String, file: &str) -> Vec<Command> {
    let services = services_named(&yaml);
    start_before_after(app, services);
    app.say(format!("applying {file}..."), false);
    vec![Command::Apply {
        yaml,
        file: file.to_string(),
    }]
}

/// Takes the "before" picture of a change to `services` now; the "after"
/// follows a whole short window later. Every change starts its own, so the
/// panel never shows an older change's figures under a newer version.
pub(super) fn start_before_after(app: &mut App, services: Vec<String>) {
    let before = app
        .mesh
        .recent_edges
        .iter()
        .filter(|e| services.contains(&e.service))
        .cloned()
        .collect();
    app.routing.before_after = Some(BeforeAfter {
        services,
        at: app.now,
        before,
        after: None,
    });
}

/// Every service with traffic now: what a rollback or a scenario may change.
pub(super) fn services_with_traffic(app: &App) -> Vec<String> {
    let set: BTreeSet<String> = app
        .mesh
        .recent_edges
        .iter()
        .map(|e| e.service.clone())
        .collect();
    set.into_iter().collect()
}

/// The services a whole-config change (a rollback) may move: those the
/// applied rules name, when they name any with traffic, else every
/// service with traffic. The panel has room for a few rows, and the
/// ones a rollback changes must not be cut for untouched ones.
pub(super) fn services_a_rollback_moves(app: &App) -> Vec<String> {
    let all = services_with_traffic(app);
    let ruled: Vec<String> = all
        .iter()
        .filter(|s| {
            app.mesh
                .resources
                .iter()
                .any(|r| crate::tui::model::detail::concerns(&r.yaml, s))
        })
        .cloned()
        .collect();
    if ruled.is_empty() {
        all
    } else {
        ruled
    }
}

/// Time passed: validate after a pause in typing, and take the after
/// picture of the last change once it can be trusted.
pub(super) fn tick(app: &mut App) -> Vec<Command> {
    if let Some((seq, at)) = app.routing.pending {
        // Validate 300 ms after the last keystroke.
        if app.now - at >= 0.3 && seq == app.routing.editor.seq {
            app.routing.pending = None;
            return vec![Command::Validate {
                seq,
                yaml: app.routing.editor.text(),
            }];
        }
    }
    if let Some(ba) = &mut app.routing.before_after {
        // A whole short window after the change (plus a second for
        // the push and a scrape), so no traffic from before it counts.
        if ba.after.is_none() && app.now - ba.at >= RECENT + 1.0 {
            let services = ba.services.clone();
            ba.after = Some(
                app.mesh
                    .recent_edges
                    .iter()
                    .filter(|e| services.contains(&e.service))
                    .cloned()
                    .collect(),
            );
        }
    }
    Vec::new()
}

/// Runs a scenario's steps as one sequence: a reset first if it asks for
/// one (rules rolled back, every service healed), then its rules and chaos.
pub(super) fn run_scenario(app: &mut App, name: &str) -> Vec<Command> {
    let Some(s) = scenario::find(name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for step in &s.steps {
        if step.reset {
            out.push(Command::Rollback(0));
            let services: BTreeSet<String> = app
                .mesh
                .workloads
                .iter()
                .filter(|w| w.is_sidecar())
                .map(|w| w.service.clone())
                .collect();
            for svc in services {
                out.push(Command::Chaos(ChaosRequest {
                    action: "heal".into(),
                    target: svc,
                    ..Default::default()
                }));
            }
        }
        if let Some(file) = &step.apply {
            if let Some(text) = scenario::rule(file) {
                out.push(Command::Apply {
                    yaml: text.to_string(),
                    file: file.clone(),
                });
            }
        }
        if let Some(c) = &step.chaos {
            out.push(Command::Chaos(ChaosRequest {
                action: c.action.clone(),
                target: c.target.clone(),
                delay_ms: c.delay_ms,
                error_rate: c.rate,
            }));
        }
        if let Some(s) = step.wait {
            out.push(Command::Wait(s.min(60)));
        }
    }
    let services = services_with_traffic(app);
    start_before_after(app, services);
    app.look = Some(Look {
        title: s.title.clone(),
        text: s.look.clone(),
    });
    app.say(format!("scenario {}: {}", s.name, s.title), false);
    vec![Command::Sequence(out)]
}
