//! Keys, clicks, the palette, filters, help and the real loop: input
//! becoming actions and actions changing the state.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::{render, show, text};
use crate::tui::action::{Action, Confirm, View};
use crate::tui::app::{update, App};
use crate::tui::data::{Command, DataEvent};
use crate::tui::fixtures::recorded_app;

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
    assert!(crate::tui::app::palette::completions(&app, "sc")
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
    assert_eq!(crate::tui::model::lists::services(&app).len(), 2);
    update(&mut app, Action::Back);
    assert_eq!(crate::tui::model::lists::services(&app).len(), 6);
}

#[tokio::test]
async fn the_real_loop_runs_on_a_test_backend_with_scripted_events() {
    use crate::tui::event::Event;
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
    crate::tui::run_loop(&mut terminal, &mut app, rx, ctx)
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
fn the_help_overlay_lists_every_key_binding() {
    let mut app = recorded_app();
    update(&mut app, Action::ToggleHelp);
    let s = text(&render(&app, 120, 40));
    for (keys, _) in crate::tui::keys::HELP {
        let first = keys.split_whitespace().next().unwrap_or(keys);
        assert!(s.contains(first), "help lacks {keys}:\n{s}");
    }
    snapshot!("help_overlay", s);
    update(&mut app, Action::ToggleHelp);
    assert!(!app.help);
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
    app.mesh.version += 1;
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
        let a = crate::tui::keys::key(&app, KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
        update(&mut app, a.expect("action"));
    }
    assert!(app.help, "scrolling does not close the help");
    let s = text(&render(&app, 80, 24));
    assert!(s.contains(":quit"), "{s}");
}

#[test]
fn ctrl_u_clears_the_palette_and_other_control_keys_type_nothing() {
    let mut app = recorded_app();
    update(&mut app, Action::OpenPalette);
    let press = |app: &mut App, code: KeyCode, m: KeyModifiers| {
        if let Some(a) = crate::tui::keys::key(app, KeyEvent::new(code, m)) {
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
    let first = app.mesh.traces[0].clone();
    let mut older = first.clone();
    older.trace_id = "0000000000000000000000000000000a".into();
    older.start_unix_ms -= 1000.0;
    app.mesh.traces = vec![first.clone(), older.clone()];
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
    app.mesh.traces.insert(0, young);
    app.now += 5.0;
    update(&mut app, Action::Tick);
    update(&mut app, Action::Enter);
    assert_eq!(app.open_trace.as_deref(), Some(older.trace_id.as_str()));
}

#[test]
fn a_palette_mistake_is_said_in_clap_words_in_the_status_line() {
    let mut app = recorded_app();
    for (input, says) in [
        ("frobnicate", "unrecognized subcommand 'frobnicate'"),
        ("vs", "the following required arguments were not provided"),
        ("chaos explode auth", "invalid value 'explode'"),
        (
            "chaos fail auth --delay-ms 5",
            "--delay-ms is for `chaos slow`",
        ),
        ("rollback vx", "is not a config version"),
    ] {
        update(&mut app, Action::OpenPalette);
        for c in input.chars() {
            update(&mut app, Action::Input(c));
        }
        update(&mut app, Action::Submit);
        let status = app.status.clone().expect("a status line");
        assert!(
            status.error && status.text.contains(says),
            "{input}: {status:?}"
        );
        assert!(!status.text.contains('\n'), "one line: {status:?}");
        assert!(app.confirm.is_none() && !app.quit, "{input}");
    }
}

#[tokio::test]
async fn a_full_command_channel_is_said_not_dropped_silently() {
    use crate::tui::event::Event;
    let mut app = recorded_app();
    app.embedded = false;
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    // Nobody reads the one-slot command channel: the second validation has no room.
    let (ctx, _crx) = tokio::sync::mpsc::channel(1);
    for k in ['6', '+', '+', 'q'] {
        tx.send(Event::Key(KeyEvent::new(
            KeyCode::Char(k),
            KeyModifiers::NONE,
        )))
        .await
        .expect("send");
    }
    crate::tui::run_loop(&mut terminal, &mut app, rx, ctx)
        .await
        .expect("loop");
    let status = app.status.clone().expect("a status line");
    assert!(
        status.error && status.text.contains("busy") && status.text.contains("validate"),
        "{status:?}"
    );
}

fn ctrl_c() -> KeyEvent {
    KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
}

#[test]
fn ctrl_c_asks_before_stopping_an_embedded_mesh_and_twice_leaves() {
    let mut app = recorded_app();
    app.embedded = true;
    let a = crate::tui::keys::key(&app, ctrl_c()).expect("an action");
    update(&mut app, a);
    assert!(!app.quit, "one Ctrl-C only asks");
    assert!(matches!(app.confirm, Some(Confirm::Quit)));
    let a = crate::tui::keys::key(&app, ctrl_c()).expect("an action");
    update(&mut app, a);
    assert!(app.quit, "Ctrl-C on the question leaves");
}

fn event(seq: u64) -> mesh::api::Event {
    mesh::api::Event {
        seq,
        unix_ms: 1_000 * seq as i64,
        kind: "push".into(),
        cluster: "eu".into(),
        source: "cp".into(),
        message: format!("event {seq}"),
    }
}

#[test]
fn events_follow_new_ones_until_the_user_moves_up_and_g_jumps() {
    let mut app = recorded_app();
    show(&mut app, View::Events);
    let newest = |app: &App| crate::tui::model::lists::events(app).len() - 1;
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Events(vec![event(900)]))),
    );
    assert_eq!(app.sel(View::Events), newest(&app), "opens on the newest");
    update(&mut app, Action::Up);
    let held = app.sel(View::Events);
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Events(vec![event(901)]))),
    );
    assert_eq!(
        app.sel(View::Events),
        held,
        "moved up: the list stops following"
    );
    update(&mut app, Action::Top);
    assert_eq!(app.sel(View::Events), 0);
    let g = crate::tui::keys::key(&app, KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
    update(&mut app, g.expect("G is a key"));
    assert_eq!(app.sel(View::Events), newest(&app));
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Events(vec![event(902)]))),
    );
    assert_eq!(
        app.sel(View::Events),
        newest(&app),
        "back on the newest: follows again"
    );
}

#[test]
fn history_opens_on_the_newest_version_and_stays_on_it() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    assert!(app.mesh.history.len() >= 2, "the fixture has a history");
    update(&mut app, Action::ShowHistory);
    assert_eq!(app.routing.history_selected, app.mesh.history.len() - 1);
    let mut longer = app.mesh.history.clone();
    let mut next = longer.last().cloned().expect("a version");
    next.version += 1;
    longer.push(next);
    update(&mut app, Action::Data(Box::new(DataEvent::History(longer))));
    assert_eq!(app.routing.history_selected, app.mesh.history.len() - 1);
    app.routing.diff = Some("old pair".into());
    update(&mut app, Action::Rollback);
    update(&mut app, Action::Confirm(true));
    assert_eq!(app.routing.diff, None, "a rollback drops the stale diff");
}

#[test]
fn a_filter_on_a_status_matches_it_and_every_title_shows_the_filter() {
    let mut app = recorded_app();
    let mut recovered = app.mesh.traces[0].clone();
    recovered.trace_id = "0000000000000000000000000000000r".into();
    recovered.error = false;
    recovered.failed_spans = 1;
    app.mesh.traces.push(recovered);
    app.filters.insert(View::Traces, "recovered".into());
    let mut ok = app.mesh.traces[0].clone();
    ok.trace_id = "0000000000000000000000000000000k".into();
    ok.error = false;
    ok.failed_spans = 0;
    app.mesh.traces.push(ok);
    let listed = crate::tui::model::lists::traces(&app);
    assert!(listed.iter().all(|t| t.status() == "recovered"));
    assert!(listed
        .iter()
        .any(|t| t.trace_id == "0000000000000000000000000000000r"));
    for v in [
        View::Graph,
        View::Services,
        View::Tap,
        View::Identities,
        View::Traces,
        View::Events,
    ] {
        app.filters.insert(v, "zz".into());
        show(&mut app, v);
        let screen = text(&render(&app, 160, 40));
        assert!(screen.contains("'zz'"), "{v:?} hides its filter:\n{screen}");
    }
}

#[test]
fn a_console_that_lost_its_mesh_greys_its_figures_and_says_how_old_they_are() {
    let coloured = |app: &App| {
        let t = render(app, 120, 30);
        let buf = t.backend().buffer();
        // Rows below the body's top edge (the note sits on it), above the footer.
        (2..28)
            .flat_map(|y| (0..120).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                !matches!(
                    buf[(x, y)].fg,
                    ratatui::style::Color::Reset | ratatui::style::Color::DarkGray
                )
            })
            .count()
    };
    let mut app = recorded_app();
    show(&mut app, View::Graph);
    assert!(coloured(&app) > 0, "a live graph carries colours");
    app.conn.last_data = Some(app.now - 12.0);
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Disconnected(
            "connection refused".into(),
        ))),
    );
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Applied(Err("transport error".into())))),
    );
    let last = app
        .routing
        .last_apply
        .as_ref()
        .expect("the failure is recorded");
    assert!(!last.ok && last.summary.contains("apply failed"));
    assert_eq!(coloured(&app), 0, "nothing looks live");
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("last data 12 s ago, not live"), "{screen}");
}

#[test]
fn a_terminal_too_small_gets_a_notice_instead_of_cut_views() {
    let app = recorded_app();
    let screen = text(&render(&app, 50, 20));
    assert!(screen.contains("at least 60×16"), "{screen}");
    assert!(screen.contains("50×20"), "{screen}");
    let screen = text(&render(&app, 80, 24));
    assert!(!screen.contains("at least"), "80×24 is laid out:\n{screen}");
}

#[test]
fn the_findings_pane_scrolls_to_its_last_finding() {
    let mut app = recorded_app();
    show(&mut app, View::Routing);
    app.routing.findings = (1..=12)
        .map(|i| mesh::api::Finding {
            code: "IST0101".into(),
            level: if i % 2 == 0 { "Error" } else { "Warning" }.into(),
            resource: "VirtualService default/billing".into(),
            message: format!("finding number {i}"),
            fix: "fix it".into(),
            file: "-".into(),
            line: i,
            column: 1,
        })
        .collect();
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("Findings · 12 (6 error(s))"), "{screen}");
    assert!(!screen.contains("finding number 12"), "{screen}");
    for _ in 0..30 {
        let a = crate::tui::keys::key(&app, KeyEvent::new(KeyCode::Char(']'), KeyModifiers::NONE));
        update(&mut app, a.expect("] scrolls"));
    }
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("finding number 12"), "{screen}");
}

#[test]
fn space_in_events_holds_and_follows_again() {
    let mut app = crate::tui::fixtures::recorded_app();
    show(&mut app, View::Events);
    assert!(app.events_follow);
    update(&mut app, Action::TogglePause);
    assert!(!app.events_follow);
    let s = text(&render(&app, 120, 30));
    assert!(s.contains("held (Space or G follows)"), "{s}");
    update(&mut app, Action::Top);
    update(&mut app, Action::TogglePause);
    assert!(app.events_follow);
    assert_eq!(
        app.sel(View::Events) + 1,
        crate::tui::model::row_count(&app),
        "following starts at the newest"
    );
}
