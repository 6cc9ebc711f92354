//! The routing view's changes: quick actions staged and applied, the
//! editor, confirmations before anything destructive.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{render, show, text};
use crate::tui::action::{Action, Confirm, View};
use crate::tui::app::update;
use crate::tui::data::{Command, DataEvent};
use crate::tui::fixtures::recorded_app;

#[test]
fn canary_quick_action_stages_the_next_weight_and_applies_on_confirm() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    // Each press builds on the staged YAML, not on the (unchanged) applied rules.
    for _ in 0..3 {
        let cmds = update(&mut app, Action::ShiftCanary(5));
        assert!(
            matches!(cmds.as_slice(), [Command::Validate { .. }]),
            "staging validates and applies nothing: {cmds:?}"
        );
    }
    assert_eq!(
        crate::tui::quick::Draft::new(None, &app.routing.editor.text()).canary(),
        25
    );
    assert_eq!(
        app.routing.staged.as_deref(),
        Some("canary 25% to billing v2")
    );
    update(&mut app, Action::ApplyEditor);
    let cmds = update(&mut app, Action::Confirm(true));
    let Some(Command::Apply { yaml, file }) = cmds.first() else {
        panic!("an apply: {cmds:?}")
    };
    assert_eq!(crate::tui::quick::Draft::new(None, yaml).canary(), 25);
    assert_eq!(file, "canary 25% to billing v2");
    assert!(app.routing.staged.is_none());
    assert!(app
        .routing
        .before_after
        .as_ref()
        .is_some_and(|b| b.services.contains(&"billing".to_string())));
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Applied(Ok(mesh::api::ApplyReply {
            applied: true,
            version: 4,
            summary: "v4 applied: 11/11 proxies ACKed in 6.1 ms (3 pushed, the rest unaffected)"
                .into(),
            ..Default::default()
        })))),
    );
    assert!(app
        .status
        .as_ref()
        .is_some_and(|st| st.text.contains("11/11") && !st.error));
    // The after-picture is a whole short window taken after the change.
    app.now += 10.5;
    update(&mut app, Action::Tick);
    assert!(app
        .routing
        .before_after
        .as_ref()
        .is_some_and(|b| b.after.is_none()));
    for e in app
        .mesh
        .recent_edges
        .iter_mut()
        .filter(|e| e.service == "billing")
    {
        e.rps = 99.0;
    }
    app.now += 0.5;
    update(&mut app, Action::Tick);
    let after = app
        .routing
        .before_after
        .as_ref()
        .and_then(|b| b.after.clone());
    assert!(
        after.is_some_and(|a| !a.is_empty() && a.iter().all(|e| e.rps == 99.0)),
        "after comes from the recent window only"
    );
}

#[test]
fn destructive_actions_ask_first() {
    let mut app = recorded_app();
    update(&mut app, Action::Quit);
    assert!(!app.quit, "the embedded mesh stops on quit: confirm first");
    update(&mut app, Action::Confirm(false));
    assert!(!app.quit);
    show(&mut app, View::Routing);
    update(&mut app, Action::ShowHistory);
    // History opens on the newest version (v3); one up is v2.
    update(&mut app, Action::Up);
    update(&mut app, Action::Rollback);
    assert!(app.confirm.is_some());
    let cmds = update(&mut app, Action::Confirm(true));
    assert!(
        matches!(cmds.as_slice(), [Command::Rollback(2)]),
        "{cmds:?}"
    );
    update(&mut app, Action::Quit);
    update(&mut app, Action::Confirm(true));
    assert!(app.quit);
}

#[test]
fn the_editor_validates_as_you_type() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    let cmds = update(&mut app, Action::EditSelected);
    assert!(matches!(cmds.first(), Some(Command::Validate { .. })));
    let seq = app.routing.editor.seq;
    update(
        &mut app,
        Action::EditorKey(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
    );
    assert!(app.routing.pending.is_some());
    app.now += 0.5;
    let cmds = update(&mut app, Action::Tick);
    let Some(Command::Validate { seq: s, .. }) = cmds.first() else {
        panic!("validation after a pause: {cmds:?}")
    };
    assert!(*s > seq);
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Validated {
            seq: *s,
            findings: vec![mesh::api::Finding {
                code: "IST0106".into(),
                level: "Error".into(),
                line: 1,
                column: 2,
                message: "unknown field `xapiVersion`".into(),
                ..Default::default()
            }],
        })),
    );
    let t = render(&app, 100, 30);
    assert!(
        text(&t).contains("IST0106"),
        "findings appear under the editor"
    );
}

#[test]
fn quick_actions_add_up_in_the_staged_yaml() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    let applied = crate::tui::quick::Draft::new(None, &app.mesh.resources_yaml).canary();
    // A fault staged first stays staged, and the canary starts from the live weight.
    update(&mut app, Action::ToggleFault);
    let staged = crate::tui::quick::Draft::new(Some(&app.routing.editor.text()), "");
    assert!(staged.fault());
    update(&mut app, Action::ShiftCanary(5));
    let staged = crate::tui::quick::Draft::new(Some(&app.routing.editor.text()), "");
    assert_eq!(staged.canary(), applied + 5);
    assert!(staged.fault(), "the canary dropped the staged fault");
    // e edits the staged YAML in place rather than opening another resource.
    update(&mut app, Action::EditSelected);
    assert_eq!(app.routing.pane, crate::tui::app::RoutingPane::Editor);
    assert_eq!(
        crate::tui::quick::Draft::new(None, &app.routing.editor.text()).canary(),
        applied + 5
    );
    update(
        &mut app,
        Action::EditorKey(KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE)),
    );
    update(
        &mut app,
        Action::EditorKey(KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE)),
    );
    assert_eq!(
        app.routing.staged.as_deref(),
        Some(format!("canary {}% to billing v2, edited", applied + 5).as_str())
    );
}

#[test]
fn the_editor_keeps_the_cursor_in_view_at_any_size() {
    for (w, h) in [(120, 36), (80, 24)] {
        let mut app = recorded_app();
        app.size = (w, h);
        show(&mut app, View::Routing);
        update(&mut app, Action::ToggleBreaker);
        update(&mut app, Action::EditSelected);
        let last = app.routing.editor.lines.len();
        assert!(last > 15, "a YAML long enough to scroll");
        for _ in 0..last + 10 {
            update(
                &mut app,
                Action::EditorKey(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)),
            );
        }
        update(
            &mut app,
            Action::EditorKey(KeyEvent::new(KeyCode::Char('X'), KeyModifiers::NONE)),
        );
        let mut t = render(&app, w, h);
        let s = text(&t);
        let shown = s
            .lines()
            .find(|l| l.contains(&format!("{last:>3} ")))
            .unwrap_or_else(|| panic!("line {last} is not in view at {w}x{h}:\n{s}"));
        assert!(shown.contains('X'), "{shown}");
        let cursor = t.get_cursor_position().expect("cursor");
        let row: String = (0..w)
            .map(|x| t.backend().buffer()[(x, cursor.y)].symbol().to_string())
            .collect();
        assert!(
            row.contains(&format!("{last:>3} ")),
            "the terminal cursor is on another line: {row}"
        );
    }
}

#[test]
fn hand_edits_stay_staged_after_esc() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    update(&mut app, Action::EditSelected);
    for c in "# mine\n".chars() {
        let code = if c == '\n' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        };
        update(
            &mut app,
            Action::EditorKey(KeyEvent::new(code, KeyModifiers::NONE)),
        );
    }
    update(&mut app, Action::Back);
    assert_eq!(app.routing.staged.as_deref(), Some("your edits"));
    let s = text(&render(&app, 120, 36));
    assert!(s.contains("Staged: your edits"), "{s}");
    // e goes back to the edits rather than reloading the resource.
    update(&mut app, Action::EditSelected);
    assert!(app.routing.editor.text().contains("# mine"));
}

#[test]
fn a_long_line_scrolls_sideways_with_the_cursor() {
    let mut app = recorded_app();
    app.size = (80, 24);
    show(&mut app, View::Routing);
    update(&mut app, Action::EditSelected);
    update(
        &mut app,
        Action::EditorKey(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)),
    );
    for c in " # a comment long enough to run past the right border of the pane END".chars() {
        update(
            &mut app,
            Action::EditorKey(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        );
    }
    let mut t = render(&app, 80, 24);
    let s = text(&t);
    assert!(s.contains("border of the pane END"), "{s}");
    let cursor = t
        .get_cursor_position()
        .expect("the terminal cursor is shown");
    assert!(cursor.x < 79, "{cursor:?}");
}

#[test]
fn staged_edits_open_only_for_their_resource_and_can_be_discarded() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    // A quick action stages billing's VirtualService.
    update(&mut app, Action::ToggleRetries);
    let staged = app.routing.staged.clone().expect("staged");
    update(&mut app, Action::Back);
    let other = app
        .mesh
        .resources
        .iter()
        .position(|r| !(r.kind == "VirtualService" && r.name == "billing"))
        .expect("another resource in the recording");
    while app.sel(View::Routing) < other {
        update(&mut app, Action::Down);
    }
    update(&mut app, Action::EditSelected);
    assert_ne!(
        app.routing.pane,
        crate::tui::app::RoutingPane::Editor,
        "another resource does not open the staged edits"
    );
    let said = app
        .status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default();
    assert!(
        said.contains(&staged) && said.contains("D discards"),
        "{said}"
    );
    update(&mut app, Action::DiscardStaged);
    assert!(matches!(app.confirm, Some(Confirm::Discard)));
    update(&mut app, Action::Confirm(true));
    assert_eq!(app.routing.staged, None);
    update(&mut app, Action::EditSelected);
    assert_eq!(app.routing.pane, crate::tui::app::RoutingPane::Editor);
    let r = &app.mesh.resources[other];
    assert!(app.routing.editor.text().contains(&r.name));
}

#[test]
fn before_and_after_always_belong_to_the_latest_change() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    update(&mut app, Action::ToggleRetries);
    update(&mut app, Action::ApplyEditor);
    update(&mut app, Action::Confirm(true));
    let first = app
        .routing
        .before_after
        .clone()
        .expect("the apply's picture");
    app.now += 12.0;
    update(&mut app, Action::Tick);
    assert!(app
        .routing
        .before_after
        .as_ref()
        .is_some_and(|b| b.after.is_some()));
    // A rollback is a change of its own: a new before, no after yet.
    update(&mut app, Action::ShowHistory);
    update(&mut app, Action::Up);
    update(&mut app, Action::Rollback);
    update(&mut app, Action::Confirm(true));
    let ba = app
        .routing
        .before_after
        .clone()
        .expect("the rollback's picture");
    assert!(ba.at > first.at && ba.after.is_none(), "{ba:?}");
    app.now += 12.0;
    update(&mut app, Action::RunScenario("canary".into()));
    update(&mut app, Action::Confirm(true));
    let sc = app
        .routing
        .before_after
        .clone()
        .expect("the scenario's picture");
    assert!(sc.at > ba.at && sc.after.is_none(), "{sc:?}");
}

#[test]
fn the_federation_scenario_breaks_and_heals_the_link() {
    use crate::tui::data::Command;
    let mut app = recorded_app();
    update(&mut app, Action::RunScenario("federation".into()));
    let cmds = update(&mut app, Action::Confirm(true));
    let Some(Command::Sequence(steps)) = cmds.into_iter().next() else {
        panic!("a sequence");
    };
    let chaos: Vec<String> = steps
        .iter()
        .filter_map(|c| match c {
            Command::Chaos(r) if r.action != "heal" => Some(format!("{} {}", r.action, r.target)),
            Command::Wait(s) => Some(format!("wait {s}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        chaos,
        vec!["stop-gateway us", "wait 15", "start-gateway us"],
        "{steps:?}"
    );
}
