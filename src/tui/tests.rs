//! Console tests without a mesh: state changes through `update`, every view
//! rendered headlessly (ratatui's TestBackend) and snapshotted with insta,
//! colours that carry meaning checked on buffer cells, and the real loop
//! driven by scripted events.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;

use super::action::{Action, Confirm, View};
use super::app::{update, App};
use super::data::{Command, DataEvent};
use super::fixtures::{big_app, recorded_app};

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| super::ui::draw(f, app)).expect("draw");
    t
}

fn text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn key(c: KeyCode) -> Action {
    Action::PracticeKey(KeyEvent::new(c, KeyModifiers::NONE))
}

fn show(app: &mut App, v: View) {
    update(app, Action::Show(v));
}

#[test]
fn every_view_renders_the_recorded_mesh() {
    for v in View::ALL {
        let mut app = recorded_app();
        show(&mut app, v);
        let t = render(&app, 100, 30);
        insta::assert_snapshot!(format!("view_{}", v.title().to_lowercase()), text(&t));
    }
}

#[test]
fn the_console_is_usable_at_80x24() {
    for v in [View::Graph, View::Services, View::Identities, View::Routing] {
        let mut app = recorded_app();
        app.size = (80, 24);
        show(&mut app, v);
        let t = render(&app, 80, 24);
        let s = text(&t);
        assert!(
            s.contains("9 Practice") && s.contains("q quit"),
            "every tab and the quit hint fit: {s}"
        );
        insta::assert_snapshot!(format!("small_{}", v.title().to_lowercase()), s);
    }
}

#[test]
fn unhealthy_versions_are_red_and_no_color_has_none() {
    let mut app = recorded_app();
    show(&mut app, View::Services);
    let t = render(&app, 100, 30);
    let buf = t.backend().buffer();
    // billing v1 (92% success) is the second row of the table (sorted by name: auth, billing v1, ...).
    let row = (0..30)
        .find(|y| {
            (0..100)
                .map(|x| buf[(x, *y)].symbol())
                .collect::<String>()
                .contains("92.0%")
        })
        .expect("billing v1 row");
    let x = (0..100)
        .find(|x| buf[(*x, row)].symbol() == "9" && buf[(*x + 1, row)].symbol() == "2")
        .expect("92.0% cell");
    assert_eq!(buf[(x, row)].fg, Color::Red);
    app.no_color = true;
    let t = render(&app, 100, 30);
    let buf = t.backend().buffer();
    let colored = (0..30)
        .flat_map(|y| (0..100).map(move |x| (x, y)))
        .filter(|(x, y)| buf[(*x, *y)].fg != Color::Reset)
        .count();
    assert_eq!(colored, 0, "NO_COLOR: no foreground colours");
}

#[test]
fn views_switch_by_digits_tab_palette_and_clicks() {
    let mut app = recorded_app();
    update(&mut app, Action::Show(View::Tap));
    assert_eq!(app.view, View::Tap);
    update(&mut app, Action::NextView);
    assert_eq!(app.view, View::Identities);
    update(&mut app, Action::OpenPalette);
    for c in "sv".chars() {
        update(&mut app, Action::Input(c));
    }
    assert!(super::app::completions(&app, "sc")
        .iter()
        .any(|c| c == "scenario"));
    update(&mut app, Action::Complete);
    assert_eq!(app.palette.as_deref(), Some("svc "));
    update(&mut app, Action::Submit);
    assert_eq!(app.view, View::Services);
    // Tab "5 Traces" is clicked.
    let x = "meshcon shop │1 Graph│2 Services│3 Tap│4 Identities│5"
        .chars()
        .count() as u16;
    update(&mut app, Action::Click(x, 0));
    assert_eq!(app.view, View::Traces);
    update(&mut app, Action::Enter);
    assert_eq!(
        app.open_trace.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let t = render(&app, 100, 30);
    assert!(
        text(&t).contains("attempt 2"),
        "the waterfall shows each attempt"
    );
    update(&mut app, Action::Back);
    assert!(app.open_trace.is_none());
}

#[test]
fn filters_narrow_lists_and_esc_clears_them() {
    let mut app = recorded_app();
    show(&mut app, View::Services);
    update(&mut app, Action::OpenFilter);
    for c in "bill".chars() {
        update(&mut app, Action::Input(c));
    }
    update(&mut app, Action::Submit);
    assert_eq!(super::ui::services::rows(&app).len(), 2);
    update(&mut app, Action::Back);
    assert_eq!(super::ui::services::rows(&app).len(), 6);
}

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
        super::quick::Draft::new(None, &app.routing.editor.text()).canary(),
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
    assert_eq!(super::quick::Draft::new(None, yaml).canary(), 25);
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
        .is_some_and(|(s, err)| s.contains("11/11") && !err));
    // The after-picture is a whole short window taken after the change.
    app.now += 10.5;
    update(&mut app, Action::Tick);
    assert!(app
        .routing
        .before_after
        .as_ref()
        .is_some_and(|b| b.after.is_none()));
    for e in app
        .d
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
    update(&mut app, Action::Down);
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
fn practice_flashcards_diagram_and_explanation() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    // Flashcards: second menu entry.
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Char(' ')));
    insta::assert_snapshot!("practice_flashcard", text(&render(&app, 100, 30)));
    update(&mut app, key(KeyCode::Char('y')));
    assert_eq!(
        app.practice.summary().kinds.first().map(|k| k.correct),
        Some(1)
    );
    update(&mut app, key(KeyCode::Esc));
    // The diagram, labelled right.
    for _ in 0..2 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    for (slot, label) in [('a', '2'), ('b', '5'), ('c', '4'), ('d', '1'), ('e', '3')] {
        update(&mut app, key(KeyCode::Char(slot)));
        update(&mut app, key(KeyCode::Char(label)));
    }
    update(&mut app, key(KeyCode::Enter));
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("score 5/5"), "{s}");
    insta::assert_snapshot!("practice_diagram", s);
    update(&mut app, key(KeyCode::Esc));
    // Fill in the blank, wrong then feedback.
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Enter));
    for c in "data plane".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::Enter));
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("not quite"), "{s}");
    insta::assert_snapshot!("practice_blank", s);
    update(&mut app, key(KeyCode::Esc));
    // The explanation checker.
    for _ in 0..2 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    for c in "The control plane handles every request.".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::F(2)));
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("never handles") && s.contains("missing"), "{s}");
    insta::assert_snapshot!("practice_explain", s);
    // Unicode input never crashes.
    for c in "ü→日本語🚀".chars() {
        update(&mut app, key(KeyCode::Char(c)));
        update(&mut app, key(KeyCode::Backspace));
    }
}

#[test]
fn practice_glossary_search_and_show_me() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Char('/')));
    for c in "ingress".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::Enter));
    insta::assert_snapshot!("practice_glossary", text(&render(&app, 100, 30)));
    update(&mut app, key(KeyCode::Char('s')));
    assert_eq!(app.view, View::Graph);
    assert_eq!(app.filter(View::Graph), "ingress");
    assert!(super::ui::graph::rows(&app)
        .iter()
        .any(|r| r.label.contains("ingress")));
}

#[test]
fn a_drill_is_judged_against_the_mesh_state() {
    let mut app = recorded_app();
    let (drill, cmds) = super::practice::start_drill(0, &app.d);
    assert!(matches!(cmds.first(), Some(Command::Chaos(c)) if c.action == "slow"));
    let mut d = drill.clone();
    d.what = format!("{} got slow", d.target);
    d.fix = "VirtualService".into();
    // The mesh does not show it yet: not accepted on words alone.
    assert!(!super::practice::judge(&d, &app.d).0);
    for s in app.d.services.iter_mut().filter(|s| s.service == d.target) {
        s.p99_ms = 420.0;
    }
    let (ok, text) = super::practice::judge(&d, &app.d);
    assert!(ok, "{text}");
    assert!(
        matches!(super::practice::undo(&d).first(), Some(Command::Chaos(c)) if c.action == "heal")
    );
}

#[tokio::test]
async fn the_real_loop_runs_on_a_test_backend_with_scripted_events() {
    use super::event::Event;
    let mut app = recorded_app();
    app.embedded = false;
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let (ctx, mut crx) = tokio::sync::mpsc::channel(64);
    for k in ['2', 's', '6', '+', 'a', 'y'] {
        tx.send(Event::Key(KeyEvent::new(
            KeyCode::Char(k),
            KeyModifiers::NONE,
        )))
        .await
        .expect("send");
    }
    tx.send(Event::Key(KeyEvent::new(
        KeyCode::Char('q'),
        KeyModifiers::NONE,
    )))
    .await
    .expect("send");
    super::run_loop(&mut terminal, &mut app, rx, ctx)
        .await
        .expect("loop");
    assert!(app.quit);
    assert_eq!(app.view, View::Routing);
    let mut sent = Vec::new();
    while let Ok(c) = crx.try_recv() {
        sent.push(c);
    }
    assert!(
        sent.iter().any(
            |c| matches!(c, Command::Apply { file, .. } if file == "canary 15% to billing v2")
        ),
        "+ staged a canary step and a, y applied it: {sent:?}"
    );
}

#[test]
fn graph_renders_200_services_quickly_enough_to_matter() {
    // Correctness at scale only; the 5 ms budget is measured in benches/tui.rs.
    let app = big_app(200);
    let rows = super::ui::graph::rows(&app);
    assert!(rows.len() >= 200, "{}", rows.len());
    let t = render(&app, 120, 40);
    assert!(text(&t).contains("svc-0"));
}

#[test]
fn practice_drill_lets_the_user_look_around_then_answer() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    let cmds = update(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(cmds.first(), Some(Command::Chaos(c)) if c.action == "slow"),
        "the drill injects its fault: {cmds:?}"
    );
    insta::assert_snapshot!("practice_drill_looking", text(&render(&app, 100, 30)));
    // View keys still work while the drill is on, and the drill waits.
    let press = |app: &mut App, c: char| {
        let a = super::keys::key(app, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
            .expect("mapped");
        update(app, a);
    };
    press(&mut app, '2');
    assert_eq!(app.view, View::Services);
    press(&mut app, '9');
    assert_eq!(app.view, View::Practice);
    update(&mut app, key(KeyCode::Enter));
    for c in "auth got slow".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::Tab));
    for c in "VirtualService".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    insta::assert_snapshot!("practice_drill_answering", text(&render(&app, 100, 30)));
    // The recorded mesh never slowed down: the words alone are not enough,
    // and answering undoes the drill.
    let cmds = update(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(cmds.first(), Some(Command::Chaos(c)) if c.action == "heal"),
        "{cmds:?}"
    );
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("Not quite") && s.contains("P99"), "{s}");
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Enter));
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("drill"), "{s}");
    insta::assert_snapshot!("practice_progress", s);
}

#[test]
fn graph_details_sum_versions_and_show_the_ingress_and_gateways() {
    let mut app = recorded_app();
    let edges = app.d.edges.clone();
    let services = app.d.services.clone();
    for _ in 0..3 {
        update(
            &mut app,
            Action::Data(Box::new(DataEvent::Signals {
                services: services.clone(),
                edges: edges.clone(),
                recent_edges: edges.clone(),
                at: 0.0,
            })),
        );
    }
    // One point per refresh, however many versions the edge reaches.
    let billing = &app.d.series["user-v1>billing"];
    assert_eq!(billing.len(), 3);
    let total: f64 = edges
        .iter()
        .filter(|e| e.source == "user-v1" && e.service == "billing")
        .map(|e| e.rps)
        .sum();
    assert!(
        billing.iter().all(|p| (p.0 - total).abs() < 1e-9),
        "{billing:?}"
    );
    let rows = super::ui::graph::rows(&app);
    let ingress = rows
        .iter()
        .find(|r| r.service == "ingress")
        .expect("ingress row");
    assert!(
        ingress.series.iter().any(|k| app.d.series.contains_key(k)),
        "{:?}",
        ingress.series
    );
    let us_gateway = rows
        .iter()
        .find(|r| r.service == "eastwest-us")
        .expect("gateway row");
    let crossing: f64 = edges
        .iter()
        .filter(|e| e.destination_cluster == "us" && e.source_cluster != "us")
        .map(|e| e.rps)
        .sum();
    assert!(crossing > 0.0 && (us_gateway.rps - crossing).abs() < 1e-9);
}

#[test]
fn a_trace_opens_as_a_waterfall_coloured_by_cluster() {
    let mut app = recorded_app();
    show(&mut app, View::Traces);
    update(&mut app, Action::Enter);
    let t = render(&app, 100, 30);
    let s = text(&t);
    assert!(s.contains("(us)") && s.contains("(eu)"), "{s}");
    insta::assert_snapshot!("traces_waterfall", s);
}

#[test]
fn quick_actions_add_up_in_the_staged_yaml() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    let applied = super::quick::Draft::new(None, &app.d.resources_yaml).canary();
    // A fault staged first stays staged, and the canary starts from the live weight.
    update(&mut app, Action::ToggleFault);
    let staged = super::quick::Draft::new(Some(&app.routing.editor.text()), "");
    assert!(staged.fault());
    update(&mut app, Action::ShiftCanary(5));
    let staged = super::quick::Draft::new(Some(&app.routing.editor.text()), "");
    assert_eq!(staged.canary(), applied + 5);
    assert!(staged.fault(), "the canary dropped the staged fault");
    // e edits the staged YAML in place rather than opening another resource.
    update(&mut app, Action::EditSelected);
    assert_eq!(app.routing.pane, super::app::RoutingPane::Editor);
    assert_eq!(
        super::quick::Draft::new(None, &app.routing.editor.text()).canary(),
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
fn the_help_overlay_lists_every_key_binding() {
    let mut app = recorded_app();
    update(&mut app, Action::ToggleHelp);
    let s = text(&render(&app, 120, 40));
    for (keys, _) in super::keys::HELP {
        let first = keys.split_whitespace().next().unwrap_or(keys);
        assert!(s.contains(first), "help lacks {keys}:\n{s}");
    }
    insta::assert_snapshot!("help_overlay", s);
    update(&mut app, Action::ToggleHelp);
    assert!(!app.help);
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
fn the_palette_passes_chaos_amounts_and_refuses_bad_ones() {
    let mut app = recorded_app();
    let palette = |app: &mut App, input: &str| {
        update(app, Action::OpenPalette);
        for c in input.chars() {
            update(app, Action::Input(c));
        }
        update(app, Action::Submit);
    };
    palette(&mut app, "chaos slow auth --delay-ms 900");
    match &app.confirm {
        Some(Confirm::Chaos(r)) => assert_eq!((r.action.as_str(), r.delay_ms), ("slow", 900)),
        other => panic!("{other:?}"),
    }
    app.confirm = None;
    palette(&mut app, "chaos fail billing-v1-0 0.3");
    match &app.confirm {
        Some(Confirm::Chaos(r)) => assert_eq!(r.error_rate, 0.3),
        other => panic!("{other:?}"),
    }
    app.confirm = None;
    palette(&mut app, "chaos explode auth");
    assert!(
        app.confirm.is_none(),
        "an unknown action is refused before asking"
    );
    palette(&mut app, "rollback 99");
    assert!(
        app.confirm.is_none(),
        "a version that does not exist is refused before asking"
    );
    palette(&mut app, "chaos fail billing-v1-0 2");
    assert!(app.confirm.is_none());
    let s = text(&render(&app, 120, 36));
    assert!(
        s.contains("not a share of requests above 0 and at most 1"),
        "{s}"
    );
}

#[test]
fn why_asks_on_enter_moves_fields_with_arrows_and_flags_a_stale_answer() {
    let mut app = recorded_app();
    show(&mut app, View::Why);
    let cmds = update(&mut app, Action::Enter);
    assert!(
        cmds.iter().any(|c| matches!(c, Command::Explain(_))),
        "Enter asks from any field"
    );
    update(&mut app, Action::Down);
    update(&mut app, Action::EditField);
    assert!(app.why.editing && app.why.field == 2);
    update(&mut app, Action::Back);
    let answer: String = (0..60).map(|i| format!("line {i}\n")).collect();
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Explained(Ok(answer)))),
    );
    update(&mut app, Action::PageDown);
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("line 10") && !s.contains("line 9 "), "{s}");
    app.d.version += 1;
    update(&mut app, Action::PageUp);
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("config changed since this was asked"), "{s}");
    // Paging down stops at the answer's end.
    for _ in 0..20 {
        update(&mut app, Action::PageDown);
    }
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("line 59"), "{s}");
}

#[test]
fn the_help_overlay_scrolls_to_its_last_line_at_80x24() {
    let mut app = recorded_app();
    update(&mut app, Action::ToggleHelp);
    let s = text(&render(&app, 80, 24));
    assert!(s.contains("more lines"), "{s}");
    assert!(!s.contains(":quit"), "{s}");
    for _ in 0..5 {
        let a = super::keys::key(&app, KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
        update(&mut app, a.expect("action"));
    }
    assert!(app.help, "scrolling does not close the help");
    let s = text(&render(&app, 80, 24));
    assert!(s.contains(":quit"), "{s}");
}

#[test]
fn a_long_confirm_question_still_shows_its_keys_at_80x24() {
    let mut app = recorded_app();
    app.confirm = Some(Confirm::Scenario("latency-regression".into()));
    let s = text(&render(&app, 80, 24));
    assert!(s.contains("on purpose"), "{s}");
    assert!(s.contains("y / Enter: yes"), "{s}");
}

#[test]
fn a_version_without_traffic_shows_dashes_not_perfect_health() {
    let mut app = recorded_app();
    let quiet = app.d.services.first_mut().expect("a service row");
    quiet.rps = 0.01;
    quiet.success_rate = 1.0;
    quiet.p50_ms = 4.0;
    let (svc, ver) = (quiet.service.clone(), quiet.version.clone());
    app.d.latency.clear();
    show(&mut app, View::Services);
    let s = text(&render(&app, 120, 36));
    let row = s
        .lines()
        .find(|l| l.contains(&format!("{svc} ")) && l.contains(&format!(" {ver} ")))
        .unwrap_or_else(|| panic!("no row for {svc} {ver}:\n{s}"));
    assert!(!row.contains("100.0%") && !row.contains("4.0"), "{row}");
    assert!(row.matches(" - ").count() >= 4, "{row}");
}

#[test]
fn hiding_idle_edges_hides_an_idle_gateway_but_keeps_the_ingress() {
    let mut app = recorded_app();
    show(&mut app, View::Graph);
    let rows = super::ui::graph::rows(&app);
    let idle_gateways = rows
        .iter()
        .filter(|r| r.label.contains("east-west") && r.rps == 0.0)
        .count();
    assert!(
        idle_gateways > 0,
        "the recording has an idle east-west gateway"
    );
    update(&mut app, Action::ToggleIdle);
    let rows = super::ui::graph::rows(&app);
    assert!(rows.iter().all(|r| r.rps > 0.0 || r.service == "ingress"));
    assert!(rows.iter().any(|r| r.service == "ingress"));
}

#[test]
fn ctrl_u_clears_the_palette_and_other_control_keys_type_nothing() {
    let mut app = recorded_app();
    update(&mut app, Action::OpenPalette);
    let press = |app: &mut App, code: KeyCode, m: KeyModifiers| {
        if let Some(a) = super::keys::key(app, KeyEvent::new(code, m)) {
            update(app, a);
        }
    };
    for c in "scen".chars() {
        press(&mut app, KeyCode::Char(c), KeyModifiers::NONE);
    }
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    assert_eq!(app.palette.as_deref(), Some(""));
    press(&mut app, KeyCode::Char('w'), KeyModifiers::CONTROL);
    press(&mut app, KeyCode::Char('s'), KeyModifiers::NONE);
    // AltGr+Q is '@' on a German layout, reported with Ctrl and Alt.
    press(
        &mut app,
        KeyCode::Char('@'),
        KeyModifiers::CONTROL | KeyModifiers::ALT,
    );
    assert_eq!(app.palette.as_deref(), Some("s@"));
}

#[test]
fn the_selected_trace_stays_selected_as_newer_ones_arrive() {
    let mut app = recorded_app();
    show(&mut app, View::Traces);
    let first = app.d.traces[0].clone();
    let mut older = first.clone();
    older.trace_id = "0000000000000000000000000000000a".into();
    older.start_unix_ms -= 1000.0;
    app.d.traces = vec![first.clone(), older.clone()];
    update(&mut app, Action::Down);
    assert_eq!(app.sel(View::Traces), 1);
    let mut newer = first.clone();
    newer.trace_id = "0000000000000000000000000000000b".into();
    let list = vec![newer.clone(), first, older.clone()];
    update(&mut app, Action::Data(Box::new(DataEvent::Traces(list))));
    // A trace too young to show ages into view with time alone.
    let mut young = newer;
    young.trace_id = "0000000000000000000000000000000c".into();
    young.start_unix_ms = app.now * 1000.0;
    app.d.traces.insert(0, young);
    app.now += 5.0;
    update(&mut app, Action::Tick);
    update(&mut app, Action::Enter);
    assert_eq!(app.open_trace.as_deref(), Some(older.trace_id.as_str()));
}

#[test]
fn a_long_status_message_is_cut_visibly_and_the_hint_gives_way() {
    for w in [100u16, 120] {
        let mut app = recorded_app();
        app.size = (w, 30);
        app.status = Some((
            "v6 applied: 11/11 proxies ACKed in 4.7 ms (2 pushed, the rest unaffected); 3 not connected to a control plane"
                .to_string(),
            false,
        ));
        let s = text(&render(&app, w, 30));
        let last = s.lines().last().unwrap_or_default().to_string();
        assert!(
            last.contains("v6 applied: 11/11 proxies ACKed in 4.7 ms"),
            "{last}"
        );
        assert!(last.trim_end().ends_with('…'), "{last}");
        assert!(!last.contains("q qui"), "{last}");
    }
}

#[test]
fn show_me_on_a_term_the_mesh_does_not_have_says_so() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    let key = |app: &mut App, code: KeyCode| {
        update(
            app,
            Action::PracticeKey(KeyEvent::new(code, KeyModifiers::NONE)),
        );
    };
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('/'));
    for c in "ambient".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('s'));
    let s = text(&render(&app, 120, 36));
    assert!(s.contains("ambient mode has no counterpart"), "{s}");
}

#[test]
fn tap_shows_the_failed_attempt_of_a_retried_request() {
    let mut app = recorded_app();
    let retried = app
        .d
        .tap
        .iter()
        .find(|e| e.attempt > 1)
        .cloned()
        .expect("a retried request in the recording");
    let mut failed = retried.clone();
    failed.reporter = "destination".into();
    failed.destination = "billing-v1-1".into();
    failed.status = 503;
    failed.attempt = 1;
    failed.unix_ms -= 5;
    app.d.tap.push_back(failed);
    // An ordinary request's destination report stays out (it would double it).
    let mut plain = retried;
    plain.reporter = "destination".into();
    plain.trace_id = "ffffffffffffffffffffffffffffffff".into();
    plain.destination = "catalog-v1-0".into();
    plain.status = 503;
    app.d.tap.push_back(plain);
    show(&mut app, View::Tap);
    let s = text(&render(&app, 120, 36));
    assert!(s.contains("billing-v1-1"), "{s}");
    assert!(!s.contains("catalog-v1-0"), "{s}");
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
fn calls_that_reached_no_version_are_errors_not_a_split_share() {
    let mut app = recorded_app();
    let mut lost = app
        .d
        .edges
        .iter()
        .find(|e| e.service == "billing")
        .cloned()
        .expect("a billing edge");
    lost.version = "unknown".into();
    lost.error_rate = 1.0;
    app.d.edges.push(lost);
    let rows = super::ui::graph::rows(&app);
    let billing = rows
        .iter()
        .find(|r| r.service == "billing" && !r.split.is_empty())
        .expect("billing's row with a split");
    assert!(!billing.split.contains("unknown"), "{}", billing.split);
    assert!(billing.error_rate > 0.0);
}

#[test]
fn narrow_identities_tell_the_clusters_gateways_apart_and_n_keeps_staged_edits() {
    let mut app = recorded_app();
    let mut gw = app.d.workloads[0].clone();
    gw.instance = "istio-eastwestgateway-0".into();
    gw.kind = "eastwest-gateway".into();
    for cluster in ["eu", "us"] {
        let mut g = gw.clone();
        g.cluster = cluster.into();
        app.d.workloads.push(g);
    }
    app.size = (80, 24);
    show(&mut app, View::Identities);
    let s = text(&render(&app, 80, 24));
    assert!(
        s.contains("east-west gw eu") && s.contains("east-west gw us"),
        "{s}"
    );

    show(&mut app, View::Routing);
    update(&mut app, Action::ToggleFault);
    let staged = app.routing.editor.text();
    update(&mut app, Action::NewResource);
    assert_eq!(
        app.routing.editor.text(),
        staged,
        "n does not replace staged YAML"
    );
}

#[test]
fn the_selected_events_whole_message_shows_at_80x24() {
    let mut app = recorded_app();
    app.size = (80, 24);
    show(&mut app, View::Events);
    let s = text(&render(&app, 80, 24));
    assert!(s.contains("Selected event"), "{s}");
    assert!(
        s.contains("until 2026-11-26"),
        "the end of the newest message: {s}"
    );
}
