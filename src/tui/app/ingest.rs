//! What the data tasks report, applied to the state: each [`DataEvent`]
//! replaces or extends a part of [`MeshData`](crate::tui::mesh_data::MeshData),
//! or answers something the user asked for (an apply, a diff, an explanation).

use std::collections::HashMap;

use mesh::api::EdgeSignal;

use super::{App, LastApply};
use crate::tui::action::Confirm;
use crate::tui::data::DataEvent;
use crate::tui::mesh_data::Resource;

/// Events kept for the events view.
const KEEP_EVENTS: usize = 1000;
/// Requests kept for the tap view.
const KEEP_TAP: usize = 500;
/// Points kept per sparkline.
const KEEP_POINTS: usize = 60;

fn key_for(e: &EdgeSignal) -> String {
    format!("{}>{}", e.source, e.service)
}

/// Applies one report of the data tasks.
pub(super) fn ingest(app: &mut App, ev: DataEvent) {
    // Losing the mesh, or a call that failed, is news, not data: the age
    // of the figures on screen stays.
    let failed = matches!(
        &ev,
        DataEvent::Disconnected(_)
            | DataEvent::ProgressNotSaved(_)
            | DataEvent::Applied(Err(_))
            | DataEvent::Diff(Err(_))
            | DataEvent::Chaos(Err(_))
            | DataEvent::Explained(Err(_))
    );
    if !failed {
        app.conn.last_data = Some(app.now);
    }
    let mut follow_events = false;
    let d = &mut app.mesh;
    match ev {
        DataEvent::Attached(info) => {
            app.conn.source = info;
        }
        DataEvent::Look { title, text } => {
            app.look = Some(super::Look { title, text });
        }
        DataEvent::Note(text) => {
            if !text.is_empty() {
                app.say(text, false);
            }
        }
        DataEvent::DryRun {
            yaml,
            file,
            output,
            ok,
        } => {
            if ok {
                app.confirm = Some(Confirm::ApplyToCluster { yaml, file, output });
            } else {
                ingest(
                    app,
                    DataEvent::Applied(Err(format!("the cluster's dry run refused it: {output}"))),
                );
            }
        }
        DataEvent::Connected { mesh } => {
            app.conn.connected = true;
            app.conn.error = None;
            app.conn.mesh = mesh;
        }
        DataEvent::Disconnected(e) => {
            app.conn.connected = false;
            app.conn.error = Some(e);
        }
        DataEvent::Workloads(w) => {
            app.conn.connected = true;
            app.conn.error = None;
            d.workloads = w.workloads;
            d.trust_domains = w.trust_domains;
            if !app.why.source_chosen {
                app.why.source = super::why::default_source(app);
            }
        }
        DataEvent::Proxies(p) => {
            d.version = p.version;
            d.proxies = p.proxies;
        }
        DataEvent::Signals {
            services,
            edges,
            recent_edges,
            ..
        } => {
            for s in &services {
                let key = format!("{}/{}", s.service, s.version);
                let q = d.series.entry(key).or_default();
                q.push_back((s.rps, s.p99_ms));
                while q.len() > KEEP_POINTS {
                    q.pop_front();
                }
            }
            // One point per caller and service: versions summed, the worst P99.
            let mut points: HashMap<String, (f64, f64)> = HashMap::new();
            for e in &edges {
                let p = points.entry(key_for(e)).or_default();
                p.0 += e.rps;
                p.1 = p.1.max(e.p99_ms);
            }
            for (key, p) in points {
                let q = d.series.entry(key).or_default();
                q.push_back(p);
                while q.len() > KEEP_POINTS {
                    q.pop_front();
                }
            }
            d.services = services;
            d.edges = edges;
            d.recent_edges = recent_edges;
        }
        DataEvent::Latency(l) => d.latency = l,
        DataEvent::Events(evs) => {
            d.events.extend(evs);
            while d.events.len() > KEEP_EVENTS {
                d.events.pop_front();
            }
            follow_events = app.events_follow;
        }
        DataEvent::Tap(entries) => {
            if !app.paused {
                d.tap.extend(entries);
                while d.tap.len() > KEEP_TAP {
                    d.tap.pop_front();
                }
            }
        }
        DataEvent::Traces(t) => d.traces = t,
        DataEvent::Resources { yaml, version } => {
            d.resources = Resource::split(&yaml);
            d.resources_yaml = yaml;
            if version > 0 {
                d.version = version;
            }
        }
        DataEvent::History(h) => {
            // A selection on the newest version stays on the newest.
            if app.routing.history_selected + 1 >= d.history.len() {
                app.routing.history_selected = h.len().saturating_sub(1);
            }
            d.history = h;
        }
        DataEvent::Federation(f) => d.federation = f,
        DataEvent::ConfigFindings(f) => d.config_findings = f,
        DataEvent::Topology(t) => d.topology = Some(*t),
        DataEvent::Applied(r) => match r {
            // A drill's change must be found in the views, not read here.
            Ok(reply) if reply.applied && app.practice.drill_under_way() => app.say(
                "the drill's change is in place: find it in the views",
                false,
            ),
            Ok(reply) => {
                let ok = reply.applied && reply.nacks.is_empty();
                if !reply.applied {
                    app.routing.findings = reply.findings.clone();
                    app.routing.findings_scroll = 0;
                    app.routing.before_after = None;
                }
                app.routing.last_apply = Some(LastApply {
                    summary: reply.summary.clone(),
                    nacks: reply.nacks.clone(),
                    ok,
                });
                app.say(reply.summary, !ok);
            }
            Err(e) => {
                app.routing.before_after = None;
                // The Last-apply panel must not keep showing an older success.
                app.routing.last_apply = Some(LastApply {
                    summary: format!("apply failed: {e}"),
                    nacks: Vec::new(),
                    ok: false,
                });
                app.say(format!("apply failed: {e}"), true);
            }
        },
        DataEvent::Validated { seq, findings } => {
            if seq >= app.routing.validated_seq && seq == app.routing.editor.seq {
                app.routing.validated_seq = seq;
                app.routing.findings = findings;
                app.routing.findings_scroll = 0;
            }
        }
        DataEvent::Diff(d) => match d {
            Ok(text) => {
                app.routing.diff = Some(if text.is_empty() {
                    "no difference".into()
                } else {
                    text
                })
            }
            Err(e) => app.say(format!("diff failed: {e}"), true),
        },
        DataEvent::Chaos(r) => match r {
            // A drill's answer must be found in the views, not read here.
            Ok(_) if app.practice.drill_under_way() => {
                app.say("the drill's fault is in place: find it in the views", false)
            }
            Ok(t) => app.say(t, false),
            Err(e) => app.say(e, true),
        },
        DataEvent::Explained(r) => {
            app.why.result = Some(r);
            app.why.scroll = 0;
        }
        DataEvent::ProgressNotSaved(e) => {
            app.practice.note = Some(format!("progress not saved: {e}"))
        }
    }
    if follow_events {
        let last = crate::tui::model::lists::events(app)
            .len()
            .saturating_sub(1);
        app.set_sel(crate::tui::action::View::Events, last);
    }
}
