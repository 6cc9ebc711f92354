//! Practice through the console: flashcards, the diagram, blanks, the
//! explanation, the glossary's "show me", and live drills.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{key, render, show, text};
use crate::practice::progress::Write;
use crate::tui::action::{Action, View};
use crate::tui::app::{update, App};
use crate::tui::data::{Command, DataEvent};
use crate::tui::fixtures::recorded_app;

#[test]
fn practice_flashcards_diagram_and_explanation() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    // Flashcards: second menu entry.
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Char(' ')));
    snapshot!("practice_flashcard", text(&render(&app, 100, 30)));
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
    app.practice.seed = 4;
    update(&mut app, key(KeyCode::Enter));
    let answer = match &app.practice.screen {
        crate::tui::practice::Screen::Diagram { diagram, .. } => diagram.answer,
        s => panic!("{s:?}"),
    };
    for (slot, label) in ['a', 'b', 'c', 'd', 'e'].into_iter().zip(answer) {
        update(&mut app, key(KeyCode::Char(slot)));
        update(&mut app, key(KeyCode::Char((b'1' + label as u8) as char)));
    }
    update(&mut app, key(KeyCode::Enter));
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("score 5/5"), "{s}");
    snapshot!("practice_diagram", s);
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
    snapshot!("practice_blank", s);
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
    assert!(s.contains("not yet") && s.contains("too short"), "{s}");
    // What is wrong is said, with why, before the rubric.
    let report = crate::practice::check::check("The control plane handles every request.");
    let m = report
        .misconceptions
        .first()
        .expect("the misconception is named");
    assert!(
        s.contains(&m.explanation[..40.min(m.explanation.len())]),
        "{s}"
    );
    snapshot!("practice_explain", s);
    // The rest of the report scrolls into view, the model answer last.
    for _ in 0..20 {
        update(&mut app, key(KeyCode::PageDown));
    }
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("model answer"), "{s}");
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
    snapshot!("practice_glossary", text(&render(&app, 100, 30)));
    update(&mut app, key(KeyCode::Char('s')));
    assert_eq!(app.view, View::Graph);
    assert_eq!(app.filter(View::Graph), "ingress");
    assert!(crate::tui::model::graph::rows(&app)
        .iter()
        .any(|r| r.label.contains("ingress")));
}

#[test]
fn a_drill_is_judged_on_what_was_injected_not_on_lagging_metrics() {
    use crate::practice::drill::{DrillKind, Step};
    use crate::tui::practice::drill;
    let app = recorded_app();
    let mut started = 0;
    for kind in DrillKind::ALL {
        let Some((mut d, cmds)) = drill::start(&app.mesh, 3, "127.0.0.1:1", Some(kind)) else {
            continue;
        };
        started += 1;
        assert!(
            matches!(cmds.first(), Some(Command::SaveProgress(Write::Leftover(Some(l)))) if l.undo == d.fault.undo),
            "the drill is remembered before it is injected: {cmds:?}"
        );
        // The recorded mesh never shows the fault: the answer is judged
        // on what was injected, so a right answer at once is right.
        d.what = match kind.target_kind() {
            crate::practice::drill::TargetKind::Mode => "permissive".into(),
            _ => format!(
                "{} slow fails errors timeout retries subset ejected gateway",
                d.fault.target
            ),
        };
        d.fix = match kind {
            DrillKind::MtlsDowngrade => "PeerAuthentication".into(),
            DrillKind::GatewayDown => "start the gateway".into(),
            _ => "VirtualService".into(),
        };
        let (ok, text) = drill::judge(&d);
        assert!(ok, "{kind:?}: {text}");
        let undo = drill::undo(&d);
        assert!(
            matches!(
                undo.last(),
                Some(Command::SaveProgress(Write::Leftover(None)))
            ),
            "{undo:?}"
        );
        assert!(d.fault.undo.iter().all(|s| !matches!(s, Step::Apply(_))));
    }
    assert!(
        started >= 8,
        "most kinds run on the recorded mesh: {started}"
    );
}

#[test]
fn practice_drill_lets_the_user_look_around_then_answer() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    app.practice.seed = 11;
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    let cmds = update(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(
            cmds.get(1),
            Some(Command::Chaos(_) | Command::Apply { .. } | Command::Sequence(_))
        ),
        "the drill injects its fault: {cmds:?}"
    );
    snapshot!("practice_drill_looking", text(&render(&app, 100, 30)));
    // View keys still work while the drill is on, and the drill waits.
    let press = |app: &mut App, c: char| {
        let a = crate::tui::keys::key(app, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
            .expect("mapped");
        update(app, a);
    };
    press(&mut app, '2');
    assert_eq!(app.view, View::Services);
    press(&mut app, '9');
    assert_eq!(app.view, View::Practice);
    update(&mut app, key(KeyCode::Enter));
    for c in "auth billing catalog frontend user got slow".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::Tab));
    for c in "VirtualService".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    snapshot!("practice_drill_answering", text(&render(&app, 100, 30)));
    // A list of every service is not an answer, and answering undoes the drill.
    let cmds = update(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(cmds.last(), Some(Command::SaveProgress(_))),
        "{cmds:?}"
    );
    assert!(
        cmds.iter().any(
            |c| matches!(c, Command::Chaos(c) if c.action == "heal" || c.action == "start-gateway")
                || matches!(c, Command::Rollback(_) | Command::Sequence(_))
        ),
        "{cmds:?}"
    );
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("Not quite") && s.contains("It was:"), "{s}");
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Enter));
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("drill"), "{s}");
    snapshot!("practice_progress", s);
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
fn practice_progress_leaves_update_as_commands() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Char(' ')));
    let cmds = update(&mut app, key(KeyCode::Char('y')));
    assert!(
        matches!(
            cmds.as_slice(),
            [
                Command::SaveProgress(Write::Card { .. }),
                Command::SaveProgress(Write::Result { .. })
            ]
        ),
        "the card and the result are written by the background side: {cmds:?}"
    );
    // The screens read the ledger, which already has it.
    assert_eq!(app.practice.summary().streak, 1);
    // A write that failed there is said on the practice screen.
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::ProgressNotSaved("disk full".into()))),
    );
    assert_eq!(
        app.practice.note.as_deref(),
        Some("progress not saved: disk full")
    );
}

#[test]
fn a_drill_under_way_never_tells_its_fault_in_the_footer_or_events() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Enter));
    assert!(app.practice.drill_under_way());
    let told = "auth-v1-0 now answers 400 ms slower";
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Chaos(Ok(told.into())))),
    );
    let chaos = mesh::api::Event {
        seq: 9_999,
        unix_ms: (app.now * 1000.0) as i64,
        kind: "chaos".into(),
        cluster: "eu".into(),
        source: "console".into(),
        message: told.into(),
    };
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Events(vec![chaos]))),
    );
    for v in [View::Practice, View::Events, View::Services] {
        show(&mut app, v);
        let screen = text(&render(&app, 160, 40));
        assert!(
            !screen.contains("400 ms slower"),
            "{v:?} tells the answer:\n{screen}"
        );
    }
}

#[test]
fn a_drill_under_way_never_tells_its_change_in_the_footer() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Enter));
    let reply = mesh::api::ApplyReply {
        applied: true,
        summary: "applied VirtualService default/auth (timeout 1ms) as v9".into(),
        ..Default::default()
    };
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Applied(Ok(reply)))),
    );
    let screen = text(&render(&app, 160, 40));
    assert!(!screen.contains("default/auth"), "{screen}");
    assert!(screen.contains("find it in the views"), "{screen}");
}

#[test]
fn a_drill_interrupted_by_a_lost_mesh_is_undone_when_it_answers_again() {
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Enter));
    let undo = app.practice.pending_undo().expect("a drill under way");
    update(
        &mut app,
        Action::Data(Box::new(DataEvent::Disconnected("gone".into()))),
    );
    assert!(!app.practice.drill_under_way());
    let s = text(&render(&app, 120, 36));
    assert!(s.contains("stopped answering"), "{s}");
    // Quitting now would undo it too.
    assert_eq!(app.practice.pending_undo(), Some(undo));
    let cmds = update(
        &mut app,
        Action::Data(Box::new(DataEvent::Connected {
            mesh: "demo".into(),
        })),
    );
    assert!(
        matches!(
            cmds.last(),
            Some(Command::SaveProgress(Write::Leftover(None)))
        ) && cmds.len() >= 2,
        "{cmds:?}"
    );
    assert_eq!(app.practice.pending_undo(), None);
}

#[test]
fn practice_without_a_mesh_never_starts_a_drill() {
    let mut app = recorded_app();
    app.conn.connected = false;
    app.conn.addr = String::new();
    app.practice.addr = String::new();
    show(&mut app, View::Practice);
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    let cmds = update(&mut app, key(KeyCode::Enter));
    assert!(cmds.is_empty(), "{cmds:?}");
    let s = text(&render(&app, 120, 36));
    assert!(s.contains("started without a mesh"), "{s}");
}

#[test]
fn show_me_on_an_empty_view_offers_the_scenario_that_fills_it() {
    let mut app = recorded_app();
    app.mesh.resources.clear();
    show(&mut app, View::Practice);
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Char('/')));
    for c in "circuit breaking".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::Enter));
    update(&mut app, key(KeyCode::Char('s')));
    assert_eq!(app.view, View::Practice, "no empty Routing view");
    let s = text(&render(&app, 120, 36));
    assert!(
        s.contains("'circuit-breaker'") && s.contains("press r"),
        "{s}"
    );
    update(&mut app, key(KeyCode::Char('r')));
    assert!(app.confirm.is_some(), "the scenario asks to run");
}

#[test]
fn a_missed_blank_shows_the_term_and_comes_back_later() {
    use crate::tui::practice::Screen;
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Enter));
    let index = |app: &App| match app.practice.screen {
        Screen::Blank { index, .. } => index,
        _ => usize::MAX,
    };
    let missed = index(&app);
    for c in "gRPC".chars() {
        update(&mut app, key(KeyCode::Char(c)));
    }
    update(&mut app, key(KeyCode::Enter));
    let s = text(&render(&app, 120, 36));
    let b = &crate::practice::exercises::BLANKS[missed];
    assert!(s.contains(&format!("the term is {}", b.term)), "{s}");
    let mut seen = Vec::new();
    for _ in 0..4 {
        update(&mut app, key(KeyCode::Enter));
        seen.push(index(&app));
        // Answer right, so only the miss comes back.
        for c in crate::practice::exercises::BLANKS[index(&app)].answers[0].chars() {
            update(&mut app, key(KeyCode::Char(c)));
        }
        update(&mut app, key(KeyCode::Enter));
    }
    assert_eq!(seen[3], missed, "back after three others: {seen:?}");
    assert!(!seen[..3].contains(&missed), "{seen:?}");
}

#[test]
fn services_filtered_on_one_service_show_each_instance_and_its_saturation() {
    let mut app = recorded_app();
    let billing: Vec<String> = app
        .mesh
        .workloads
        .iter()
        .filter(|w| w.is_sidecar() && w.service == "billing")
        .map(|w| w.instance.clone())
        .collect();
    assert!(billing.len() >= 2, "{billing:?}");
    let template = app.mesh.tap.front().cloned().expect("tap");
    app.mesh.tap.clear();
    for i in 0..40u32 {
        let bad = i % 2 == 0;
        let mut e = template.clone();
        e.unix_ms = template.unix_ms + i64::from(i) * 250;
        e.reporter = "source".into();
        e.destination_instance = if bad {
            billing[1].clone()
        } else {
            billing[0].clone()
        };
        e.status = if bad { 503 } else { 200 };
        e.latency_ms = 20.0;
        app.mesh.tap.push_back(e);
    }
    app.mesh.resources_yaml = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: billing\n  namespace: default\nspec:\n  host: billing\n  trafficPolicy:\n    connectionPool:\n      http:\n        http2MaxRequests: 10\n".into();
    update(
        &mut app,
        Action::ShowFiltered {
            view: View::Services,
            filter: "billing".into(),
            why: "test".into(),
        },
    );
    let s = text(&render(&app, 120, 36));
    let row = |name: &str| {
        s.lines()
            .find(|l| l.contains(name) && l.contains('%'))
            .unwrap_or_else(|| panic!("no row for {name}:\n{s}"))
            .to_string()
    };
    assert!(row(&billing[1]).contains("100%"), "{s}");
    assert!(row(&billing[0]).contains(" 0%"), "{s}");
    assert!(
        s.contains("saturation") && s.contains("of 10 (http2MaxRequests)"),
        "{s}"
    );
    // Without a filter the table stands alone, as before.
    update(
        &mut app,
        Action::ShowFiltered {
            view: View::Services,
            filter: String::new(),
            why: "test".into(),
        },
    );
    let s = text(&render(&app, 120, 36));
    assert!(!s.contains("IN FLIGHT"), "{s}");
}

#[test]
fn the_next_drill_waits_for_the_last_ones_rollback() {
    use crate::practice::drill::{DrillKind, Step};
    let mut app = recorded_app();
    show(&mut app, View::Practice);
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Down));
    }
    update(&mut app, key(KeyCode::Enter));
    app.practice.drill_choice = Some(DrillKind::MtlsDowngrade);
    update(&mut app, key(KeyCode::Enter));
    let before = app.mesh.version;
    assert_eq!(
        app.practice.pending_undo(),
        Some(vec![Step::Rollback(before)])
    );
    // The drill's apply made a version; giving up rolls it back.
    app.mesh.version = before + 1;
    update(
        &mut app,
        Action::PracticeKey(KeyEvent::new(KeyCode::Char('g'), KeyModifiers::CONTROL)),
    );
    update(&mut app, key(KeyCode::Enter));
    // The rollback has not reached the console yet: a new drill would roll
    // back to the last drill's fault.
    let cmds = update(&mut app, key(KeyCode::Enter));
    assert!(cmds.is_empty(), "{cmds:?}");
    assert!(!app.practice.drill_under_way());
    app.mesh.version = before + 2;
    let cmds = update(&mut app, key(KeyCode::Enter));
    assert!(app.practice.drill_under_way(), "{cmds:?}");
    assert_eq!(
        app.practice.pending_undo(),
        Some(vec![Step::Rollback(before + 2)])
    );
}
