//! Every view drawn from the recorded mesh: snapshots, colours that carry
//! meaning, narrow terminals, and the rows the views list.

use ratatui::style::Color;

use super::{render, show, text};
use crate::tui::action::{Action, Confirm, View};
use crate::tui::app::update;
use crate::tui::data::DataEvent;
use crate::tui::fixtures::{big_app, recorded_app};

#[test]
fn every_view_renders_the_recorded_mesh() {
    for v in View::ALL {
        let mut app = recorded_app();
        show(&mut app, v);
        let t = render(&app, 100, 30);
        snapshot!(format!("view_{}", v.title().to_lowercase()), text(&t));
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
        snapshot!(format!("small_{}", v.title().to_lowercase()), s);
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
fn graph_renders_200_services_quickly_enough_to_matter() {
    // Correctness at scale only; the 5 ms budget is measured in benches/tui.rs.
    let app = big_app(200);
    let rows = crate::tui::model::graph::rows(&app);
    assert!(rows.len() >= 200, "{}", rows.len());
    let t = render(&app, 120, 40);
    assert!(text(&t).contains("svc-0"));
}

#[test]
fn graph_details_sum_versions_and_show_the_ingress_and_gateways() {
    let mut app = recorded_app();
    let edges = app.mesh.edges.clone();
    let services = app.mesh.services.clone();
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
    let billing = &app.mesh.series["user-v1>billing"];
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
    let rows = crate::tui::model::graph::rows(&app);
    let ingress = rows
        .iter()
        .find(|r| r.service == "ingress")
        .expect("ingress row");
    assert!(
        ingress
            .series
            .iter()
            .any(|k| app.mesh.series.contains_key(k)),
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
    snapshot!("traces_waterfall", s);
}

#[test]
fn a_retry_attempt_is_named_in_the_waterfall_whatever_its_span_name() {
    let mut app = recorded_app();
    for s in &mut app.mesh.traces[0].spans {
        if s.attributes.contains_key("attempt") {
            let n = s.attributes["attempt"].clone();
            s.name = format!("outbound|8080|v1|billing.default.svc.cluster.local attempt {n}");
        }
    }
    show(&mut app, View::Traces);
    update(&mut app, Action::Enter);
    for w in [100, 230] {
        let s = text(&render(&app, w, 30));
        assert!(
            s.contains("attempt 1 503") && s.contains("attempt 2 200"),
            "{w}:\n{s}"
        );
    }
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
    let quiet = app.mesh.services.first_mut().expect("a service row");
    quiet.rps = 0.01;
    quiet.success_rate = 1.0;
    quiet.p50_ms = 4.0;
    let (svc, ver) = (quiet.service.clone(), quiet.version.clone());
    app.mesh.latency.clear();
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
    let rows = crate::tui::model::graph::rows(&app);
    let idle_gateways = rows
        .iter()
        .filter(|r| r.label.contains("east-west") && r.rps == 0.0)
        .count();
    assert!(
        idle_gateways > 0,
        "the recording has an idle east-west gateway"
    );
    update(&mut app, Action::ToggleIdle);
    let rows = crate::tui::model::graph::rows(&app);
    assert!(rows.iter().all(|r| r.rps > 0.0 || r.service == "ingress"));
    assert!(rows.iter().any(|r| r.service == "ingress"));
}

#[test]
fn a_long_status_message_is_never_cut_and_the_hint_stays() {
    for w in [100u16, 120] {
        let mut app = recorded_app();
        app.size = (w, 30);
        let msg = "v6 applied: 11/11 proxies ACKed in 4.7 ms (2 pushed, the rest unaffected); 3 not connected to a control plane";
        app.status = Some(crate::tui::app::Status {
            text: msg.to_string(),
            error: false,
        });
        let s = text(&render(&app, w, 30));
        let lines: Vec<&str> = s.lines().collect();
        // The message's rows, joined, are the message.
        let at = lines
            .iter()
            .rposition(|l| l.contains("q qui"))
            .expect("the connection row");
        let shown: String = lines[at + 1..]
            .iter()
            .map(|l| l.trim_end())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            shown.split_whitespace().collect::<Vec<_>>(),
            msg.split_whitespace().collect::<Vec<_>>(),
            "{s}"
        );
    }
}

#[test]
fn tap_shows_the_failed_attempt_of_a_retried_request() {
    let mut app = recorded_app();
    let retried = app
        .mesh
        .tap
        .iter()
        .find(|e| e.attempt > 1)
        .cloned()
        .expect("a retried request in the recording");
    let mut failed = retried.clone();
    failed.reporter = "destination".into();
    failed.destination = "billing-v1".into();
    failed.destination_instance = "billing-v1-1".into();
    failed.status = 503;
    failed.attempt = 1;
    failed.unix_ms -= 5;
    app.mesh.tap.push_back(failed);
    // An ordinary request's destination report stays out (it would double it).
    let mut plain = retried;
    plain.reporter = "destination".into();
    plain.trace_id = "ffffffffffffffffffffffffffffffff".into();
    plain.destination = "catalog-v1".into();
    plain.destination_instance = "catalog-v1-9".into();
    plain.status = 503;
    app.mesh.tap.push_back(plain);
    show(&mut app, View::Tap);
    let s = text(&render(&app, 120, 36));
    assert!(s.contains("billing-v1-1"), "{s}");
    assert!(!s.contains("catalog-v1-9"), "{s}");
}

#[test]
fn calls_that_reached_no_version_are_errors_not_a_split_share() {
    let mut app = recorded_app();
    let mut lost = app
        .mesh
        .edges
        .iter()
        .find(|e| e.service == "billing")
        .cloned()
        .expect("a billing edge");
    lost.version = "unknown".into();
    lost.error_rate = 1.0;
    app.mesh.edges.push(lost);
    let rows = crate::tui::model::graph::rows(&app);
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
    let mut gw = app.mesh.workloads[0].clone();
    gw.instance = "istio-eastwestgateway-0".into();
    gw.kind = "eastwest-gateway".into();
    for cluster in ["eu", "us"] {
        let mut g = gw.clone();
        g.cluster = cluster.into();
        app.mesh.workloads.push(g);
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

#[test]
fn a_slow_edge_turns_yellow_and_a_very_slow_one_red() {
    let mut app = recorded_app();
    for e in app.mesh.edges.iter_mut().filter(|e| e.service == "auth") {
        e.p99_ms = 270.0;
        e.error_rate = 0.0;
    }
    show(&mut app, View::Graph);
    let t = render(&app, 120, 30);
    let s = text(&t);
    let (y, line) = s
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("auth v1"))
        .expect("auth's row");
    let x = line.find("270").expect("its P99");
    let x = line[..x].chars().count() as u16;
    let cell = &t.backend().buffer()[(x, y as u16)];
    assert_eq!(cell.fg, ratatui::style::Color::Yellow, "{line}");
    for e in app.mesh.edges.iter_mut().filter(|e| e.service == "auth") {
        e.p99_ms = 1500.0;
    }
    let t = render(&app, 120, 30);
    let s = text(&t);
    let (y, line) = s
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("auth v1"))
        .expect("auth's row");
    let x = line.find("auth").expect("label");
    let x = line[..x].chars().count() as u16;
    assert_eq!(
        t.backend().buffer()[(x, y as u16)].fg,
        ratatui::style::Color::Red,
        "{line}"
    );
}

#[test]
fn l_opens_the_access_log_of_the_proxy_behind_the_row_and_esc_closes_it() {
    let mut app = recorded_app();
    show(&mut app, View::Tap);
    let reporter = crate::tui::model::lists::tap(&app)[0]
        .logged_by()
        .to_string();
    update(&mut app, Action::Logs);
    assert_eq!(app.logs.as_deref(), Some(reporter.as_str()));
    let s = text(&render(&app, 120, 30));
    assert!(s.contains(&format!("access log · {reporter}")), "{s}");
    // Envoy's default format: [start] "METHOD path PROTOCOL" code flags ...
    assert!(s.contains("\"GET /cart -\" "), "{s}");
    snapshot!("access_log", s);
    update(&mut app, Action::Back);
    assert!(app.logs.is_none());
    // From Services: the first instance of the selected version.
    show(&mut app, View::Services);
    update(&mut app, Action::Logs);
    let first = crate::tui::model::lists::services(&app)[0].clone();
    let proxy = app.logs.clone().expect("a proxy");
    assert!(
        proxy.starts_with(&format!("{}-{}-", first.service, first.version)),
        "{proxy} for {first:?}"
    );
}

#[test]
fn the_graph_marks_a_stopped_gateway_ejected_instances_and_folds_without_detaching() {
    use crate::tui::fixtures::NOW;
    use crate::tui::model::graph;
    let mut app = recorded_app();
    show(&mut app, View::Graph);
    // A stopped east-west gateway.
    app.mesh.workloads.push(mesh::api::Workload {
        kind: "eastwest-gateway".into(),
        cluster: "us".into(),
        namespace: "istio-system".into(),
        service: "istio-eastwestgateway".into(),
        instance: "istio-eastwestgateway-0".into(),
        ready: false,
        ..Default::default()
    });
    let rows = graph::rows(&app);
    let gw = rows
        .iter()
        .find(|r| r.service == "eastwest-us")
        .expect("us gateway row");
    assert!(gw.down && gw.label.contains("DOWN"), "{gw:?}");
    assert!(
        render(&app, 120, 30)
            .backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.symbol() == "D" && c.fg == Color::Red),
        "the row is red"
    );
    // An ejection, then its return (the recording has ejections of its own).
    let already = graph::ejected(&app);
    let billing = app
        .mesh
        .workloads
        .iter()
        .filter(|w| w.service == "billing" && !already.contains_key(&w.instance))
        .map(|w| w.instance.clone())
        .next()
        .expect("a billing instance not ejected");
    let count = |app: &crate::tui::app::App| -> usize {
        let label = graph::rows(app)
            .into_iter()
            .find(|r| r.service == "billing")
            .map(|r| r.label)
            .expect("billing row");
        label
            .split('(')
            .filter_map(|p| p.split_once(" ejected)"))
            .filter_map(|(n, _)| n.parse::<usize>().ok())
            .sum()
    };
    let before = count(&app);
    app.mesh.events.push_back(mesh::api::Event {
        seq: 900,
        unix_ms: (NOW * 1000.0) as i64 - 1000,
        kind: "ejection".into(),
        cluster: "eu".into(),
        source: "user-v1-0".into(),
        message: format!("{billing} (127.0.0.1:4242) ejected from outbound|8080|v1|billing.default.svc.cluster.local for 30s (ejection #1)"),
    });
    assert!(graph::ejected(&app).contains_key(&billing));
    assert_eq!(count(&app), before + 1);
    app.mesh.events.push_back(mesh::api::Event {
        seq: 901,
        unix_ms: (NOW * 1000.0) as i64 - 500,
        kind: "uneject".into(),
        cluster: "eu".into(),
        source: "user-v1-0".into(),
        message: "127.0.0.1:4242 back in outbound|8080|v1|billing.default.svc.cluster.local".into(),
    });
    assert!(!graph::ejected(&app).contains_key(&billing));
    assert_eq!(count(&app), before);
    // Folding a caller hides its callees instead of listing them apart.
    let callers_of_billing: Vec<String> = app
        .mesh
        .topology
        .as_ref()
        .expect("topology")
        .services
        .iter()
        .filter(|s| s.calls.iter().any(|c| c == "billing"))
        .map(|s| s.name.clone())
        .collect();
    for c in &callers_of_billing {
        app.collapsed.insert(c.clone());
    }
    let rows = graph::rows(&app);
    assert!(
        !rows.iter().any(|r| r.service == "billing"),
        "billing is folded into its callers, not detached: {:?}",
        rows.iter().map(|r| &r.label).collect::<Vec<_>>()
    );
}

#[test]
fn a_long_status_message_gets_a_row_of_its_own_and_is_read_whole() {
    let mut app = recorded_app();
    show(&mut app, View::Graph);
    let msg = "rejected: 3 error(s); nothing changed, v3 stays current — see the findings pane in Routing for each one, with its fix";
    app.status = Some(crate::tui::app::Status {
        text: msg.into(),
        error: true,
    });
    let s = text(&render(&app, 140, 30));
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.last().map(|l| l.trim_end()), Some(msg), "{s}");
    assert!(
        lines[lines.len() - 2].contains("mesh shop"),
        "the connection stays: {s}"
    );
    // A short one shares the row.
    app.status = Some(crate::tui::app::Status {
        text: "applied".into(),
        error: false,
    });
    let s = text(&render(&app, 140, 30));
    let last = s.lines().last().unwrap_or_default();
    assert!(last.contains("shop v3") && last.contains("applied"), "{s}");
}

#[test]
fn services_sort_both_ways_and_y_shows_the_config_of_a_service() {
    let mut app = recorded_app();
    show(&mut app, View::Services);
    update(&mut app, Action::SortNext); // by RPS, busiest first
    let down: Vec<f64> = crate::tui::model::lists::services(&app)
        .iter()
        .map(|s| s.rps)
        .collect();
    update(&mut app, Action::SortReverse);
    let up: Vec<f64> = crate::tui::model::lists::services(&app)
        .iter()
        .map(|s| s.rps)
        .collect();
    assert!(down.windows(2).all(|w| w[0] >= w[1]), "{down:?}");
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "{up:?}");
    let s = text(&render(&app, 140, 30));
    assert!(s.contains("sort rps ↑ (s, S reverses)"), "{s}");
    // y on billing: the resources whose hosts name it.
    update(&mut app, Action::SortReverse);
    app.sort = crate::tui::app::SortKey::Name;
    let at = crate::tui::model::lists::services(&app)
        .iter()
        .position(|s| s.service == "billing")
        .expect("billing row");
    app.selected.insert(View::Services, at);
    update(&mut app, Action::ShowYaml);
    let look = app.look.clone().expect("a YAML note");
    assert_eq!(look.title, "config for billing");
    assert!(look.text.contains("host: billing"), "{}", look.text);
    assert!(!look.text.contains("host: auth"), "{}", look.text);
}

#[test]
fn m_draws_the_mesh_as_a_map_with_clusters_as_bands() {
    let mut app = recorded_app();
    show(&mut app, View::Graph);
    update(&mut app, Action::ToggleMap);
    let s = text(&render(&app, 120, 40));
    assert!(s.contains("Graph · map"), "{s}");
    for part in ["igw", "frontend", "billing", "┄┄ cluster us", "🔒"] {
        assert!(s.contains(part), "{part} in\n{s}");
    }
    // us's services sit below the band line, eu's above.
    let line = |p: &str| s.lines().position(|l| l.contains(p)).unwrap_or(0);
    assert!(line("┄┄ cluster us") < line("billing"), "{s}");
    assert!(line("┄┄ cluster us") > line("auth"), "{s}");
    snapshot!("graph_map", s);
    // Too small for the map: the tree, saying so.
    let s = text(&render(&app, 100, 30));
    assert!(s.contains("map: needs"), "{s}");
    update(&mut app, Action::ToggleMap);
    let s = text(&render(&app, 160, 45));
    assert!(!s.contains("Graph · map"), "{s}");
}

#[test]
fn a_mesh_with_more_boxes_than_the_screen_holds_is_shown_as_the_tree_without_a_layout() {
    let mut app = big_app(1000);
    show(&mut app, View::Graph);
    update(&mut app, Action::ToggleMap);
    let s = text(&render(&app, 160, 45));
    assert!(!s.contains("Graph · map"), "{s}");
    assert!(s.contains("boxes need more than"), "{s}");
    assert!(s.contains("svc-0"), "{s}");
}

#[test]
fn d_drills_into_a_service_with_its_instances_config_traffic_events_and_certificates() {
    let mut app = recorded_app();
    show(&mut app, View::Services);
    let at = crate::tui::model::lists::services(&app)
        .iter()
        .position(|s| s.service == "billing")
        .expect("billing row");
    app.selected.insert(View::Services, at);
    update(&mut app, Action::Detail);
    let look = app.look.clone().expect("the detail pane");
    let text = look.text;
    assert!(look.title.starts_with("billing"), "{}", look.title);
    for w in app.mesh.workloads.iter().filter(|w| w.service == "billing") {
        assert!(text.contains(&w.instance), "{} in\n{text}", w.instance);
        if !w.spiffe_id.is_empty() {
            assert!(text.contains(&w.spiffe_id), "{text}");
        }
    }
    // The recording has one billing instance down and one ejected.
    assert!(text.contains("DOWN") && text.contains("ejected"), "{text}");
    assert!(
        text.contains("Config that applies") && text.contains("DestinationRule"),
        "{text}"
    );
    assert!(text.contains("Traffic, last minute"), "{text}");
    snapshot!("detail_billing", text);
    // From Tap: the service that answered the selected request.
    update(&mut app, Action::Back);
    show(&mut app, View::Tap);
    update(&mut app, Action::Detail);
    assert!(app.look.is_some());
}

#[test]
fn a_waterfall_span_is_selected_and_opened() {
    let mut app = recorded_app();
    show(&mut app, View::Traces);
    update(&mut app, Action::Enter);
    assert!(app.open_trace.is_some());
    update(&mut app, Action::Down);
    update(&mut app, Action::Down);
    assert_eq!(app.span_sel, 2);
    let t = app
        .mesh
        .traces
        .iter()
        .find(|t| Some(&t.trace_id) == app.open_trace.as_ref())
        .cloned()
        .expect("trace");
    let order = crate::tui::model::lists::span_order(&t);
    let chosen = order[2].1.clone();
    update(&mut app, Action::Enter);
    let look = app.look.clone().expect("the span's details");
    assert!(look.title.contains(&chosen.span_id), "{}", look.title);
    assert!(look.text.contains(&chosen.name), "{}", look.text);
    for k in chosen.attributes.keys() {
        assert!(look.text.contains(k), "{k}: {}", look.text);
    }
    // Down stops at the last span.
    update(&mut app, Action::Back);
    for _ in 0..50 {
        update(&mut app, Action::Down);
    }
    assert_eq!(app.span_sel, order.len() - 1);
}

#[test]
fn w_steps_the_window_through_30_s_1_m_5_m_15_m_and_titles_say_it() {
    let mut app = recorded_app();
    show(&mut app, View::Services);
    let mut asked = Vec::new();
    for _ in 0..4 {
        for c in update(&mut app, Action::NextWindow) {
            if let crate::tui::data::Command::SetWindow(w) = c {
                asked.push(w);
            }
        }
        let s = text(&render(&app, 140, 30));
        assert!(
            s.contains(&format!(
                "last {} (w)",
                crate::tui::app::window_words(app.window)
            )),
            "{s}"
        );
    }
    assert_eq!(asked, vec![60.0, 300.0, 900.0, 30.0]);
}

#[test]
fn r_shows_services_by_route_and_path() {
    let mut app = recorded_app();
    // The recording's requests matched no named route; one matches a
    // canary route, as a VirtualService would name it.
    if let Some(e) = app.mesh.tap.iter_mut().find(|e| e.reporter == "source") {
        e.route_name = "canary".into();
        e.upstream_cluster = "outbound|8080|v2|billing.default.svc.cluster.local".into();
    }
    show(&mut app, View::Services);
    update(&mut app, Action::ToggleRoutes);
    let (rows, _) = crate::tui::model::routes::rows(&app);
    assert!(
        rows.iter()
            .any(|r| r.route == "canary" && r.service == "billing"),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.route == "default"), "{rows:?}");
    let s = text(&render(&app, 120, 30));
    assert!(
        s.contains("Routes · per VirtualService route and path"),
        "{s}"
    );
    assert!(s.contains("canary") && s.contains("/cart"), "{s}");
    update(&mut app, Action::ToggleRoutes);
    let s = text(&render(&app, 120, 30));
    assert!(s.contains("Services · last"), "{s}");
}

#[test]
fn a_tripping_circuit_breaker_is_marked_on_its_service() {
    let mut app = recorded_app();
    show(&mut app, View::Graph);
    let label = |app: &crate::tui::app::App| {
        crate::tui::model::graph::rows(app)
            .into_iter()
            .find(|r| r.service == "billing")
            .map(|r| r.label)
            .expect("billing row")
    };
    assert!(!label(&app).contains("overflow"), "{}", label(&app));
    let mut e = app
        .mesh
        .tap
        .iter()
        .find(|e| e.reporter == "source")
        .cloned()
        .expect("a tapped request");
    e.flags = "UO".into();
    e.status = 503;
    e.destination = "billing".into();
    e.unix_ms = (app.now * 1000.0) as i64 - 1000;
    app.mesh.tap.push_back(e.clone());
    app.mesh.tap.push_back(e);
    assert!(label(&app).contains("⚡2 overflow"), "{}", label(&app));
}

#[test]
fn thresholds_are_read_and_colour_the_figures() {
    use crate::tui::app::Thresholds;
    let t: Thresholds = "success=90/80,p99=5/10".parse().expect("parses");
    assert_eq!(
        (t.warn, t.crit, t.slow_ms, t.very_slow_ms),
        (0.9, 0.8, 5.0, 10.0)
    );
    for bad in [
        "success=95/99",
        "p99=10/5",
        "latency=1/2",
        "success=99",
        "p99=a/b",
    ] {
        assert!(bad.parse::<Thresholds>().is_err(), "{bad}");
    }
    // billing v1 answers 92% of requests: yellow under 90/80, red under the defaults.
    let mut app = recorded_app();
    let style = |app: &crate::tui::app::App| crate::tui::ui::health(app, 0.92, 1.0).fg;
    assert_eq!(style(&app), Some(Color::Red));
    app.thresholds = t;
    assert_eq!(style(&app), Some(Color::Green));
    app.thresholds = "success=95/90".parse().expect("parses");
    assert_eq!(style(&app), Some(Color::Yellow));
}

#[test]
fn the_instances_of_one_service_say_their_state_and_sort_with_the_table() {
    let mut app = recorded_app();
    show(&mut app, View::Services);
    app.filters.insert(View::Services, "billing".into());
    let s = text(&render(&app, 120, 40));
    assert!(s.contains("billing: instances"), "{s}");
    assert!(s.contains("STATE"), "{s}");
    // The recording has billing-v1-1 down and ejected.
    let row = s
        .lines()
        .find(|l| l.contains("billing-v1-1") && l.contains("down"))
        .unwrap_or_default();
    assert!(row.contains("ejected"), "{s}");
    // Sorted by requests, the busiest first; S reverses.
    update(&mut app, Action::SortNext);
    let order = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("billing-v") && (l.contains("ready") || l.contains("down")))
            .filter_map(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with("billing-v"))
                    .map(str::to_string)
            })
            .collect()
    };
    let busiest_first = order(&text(&render(&app, 120, 40)));
    update(&mut app, Action::SortReverse);
    let mut quietest_first = order(&text(&render(&app, 120, 40)));
    quietest_first.reverse();
    assert_eq!(busiest_first, quietest_first);
}

#[test]
fn enter_on_a_tap_row_opens_its_trace() {
    let mut app = recorded_app();
    show(&mut app, View::Tap);
    let id = crate::tui::model::lists::tap(&app)[0].trace_id.clone();
    update(&mut app, Action::Enter);
    assert_eq!(app.view, View::Traces);
    if app.mesh.traces.iter().any(|t| t.trace_id == id) {
        assert_eq!(app.open_trace.as_deref(), Some(id.as_str()));
    } else {
        assert_eq!(app.filter(View::Traces), id);
    }
}

#[test]
fn a_long_services_list_scrolls_to_the_selected_row() {
    let mut app = big_app(200);
    show(&mut app, View::Services);
    let rows = crate::tui::model::lists::services(&app);
    let last = rows.len() - 1;
    app.selected.insert(View::Services, last);
    let s = text(&render(&app, 120, 24));
    let shows = |r: &mesh::api::ServiceSignal| {
        s.lines().any(|l| {
            l.contains(&format!("{} ", r.service)) && l.contains(&format!(" {} ", r.version))
        })
    };
    assert!(
        shows(&rows[last]),
        "the selected last row is on screen:\n{s}"
    );
    assert!(shows(&rows[last - 1]), "and the one above it:\n{s}");
    assert!(!shows(&rows[0]), "the first row has scrolled away:\n{s}");
}
