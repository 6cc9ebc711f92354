//! The live mesh as a map: the same boxes-and-links drawing as the
//! practice diagram ([`crate::map`]), filled from the topology and the
//! golden signals: clusters as bands, each cluster's ingress gateway at its
//! left edge, services with their versions, links with RPS, errors, P99
//! and the mTLS lock, `⇄` where a call crosses to another cluster through
//! its east-west gateway.

use crate::map::{Link, Node, Spec};
use crate::tui::app::App;

use super::graph::{edge_row, versions, Index};

/// What a box says under its name: the traffic into it from `from`.
fn figures(ix: &Index<'_>, from: &str, to: &str) -> String {
    let e = edge_row(ix, from, to, String::new(), &[]);
    if e.rps <= 0.0 {
        return "idle".into();
    }
    let rps = if e.rps >= 10.0 {
        format!("{:.0}", e.rps)
    } else {
        format!("{:.1}", e.rps)
    };
    let errors = if e.error_rate > 0.0 {
        format!(" {:.1}%!", e.error_rate * 100.0)
    } else {
        String::new()
    };
    let p99 = if e.p99 < 10.0 {
        format!("{:.1}", e.p99)
    } else {
        format!("{:.0}", e.p99)
    };
    format!(
        "{rps}/s{errors} {p99}ms{}",
        if e.mtls >= 0.99 { " 🔒" } else { "" },
    )
}

/// A link: an arrow, `⇄` where it crosses to another cluster's east-west gateway.
fn arrow(crosses: bool) -> String {
    if crosses {
        "─⇄─▶"
    } else {
        "───▶"
    }
    .to_string()
}

/// The map of the running topology, or None before the mesh has said what it runs.
pub fn spec(app: &App) -> Option<Spec> {
    let t = app.mesh.topology.as_ref()?;
    let ix = Index::new(app);
    let clusters: Vec<String> = t.clusters.iter().map(|c| c.name.clone()).collect();
    let band = |c: &str| clusters.iter().position(|x| x == c).unwrap_or(0);
    let mut nodes: Vec<Node> = Vec::new();
    // (service name, cluster) of each node; gateways are named "ingress".
    let mut keys: Vec<(String, String)> = Vec::new();
    for c in &t.clusters {
        if c.ingress.is_some() {
            nodes.push(Node {
                cell: "igw".into(),
                name: None,
                detail: None,
                band: band(&c.name),
            });
            keys.push(("ingress".into(), c.name.clone()));
        }
    }
    for s in &t.services {
        if keys.iter().any(|k| k.0 == s.name && k.1 == s.cluster) {
            continue;
        }
        let down = app
            .mesh
            .workloads
            .iter()
            .any(|w| w.service == s.name && w.cluster == s.cluster && !w.ready);
        // The traffic into it, from whichever caller the topology names.
        let caller = t
            .services
            .iter()
            .find(|x| x.calls.contains(&s.name))
            .map(|x| x.name.clone())
            .or_else(|| {
                t.clusters
                    .iter()
                    .any(|c| c.ingress.as_ref().is_some_and(|i| i.service == s.name))
                    .then(|| "ingress".to_string())
            });
        nodes.push(Node {
            cell: if down { " ✗ " } else { " · " }.into(),
            name: Some(format!("{} {}", s.name, versions(&ix, &s.name))),
            detail: Some(caller.map_or_else(|| "no callers".into(), |c| figures(&ix, &c, &s.name))),
            band: band(&s.cluster),
        });
        keys.push((s.name.clone(), s.cluster.clone()));
    }
    let index = |name: &str| -> Vec<usize> {
        keys.iter()
            .enumerate()
            .filter(|(_, k)| k.0 == name)
            .map(|(i, _)| i)
            .collect()
    };
    let mut links = Vec::new();
    for c in &t.clusters {
        let Some(ing) = &c.ingress else { continue };
        let Some(from) = keys.iter().position(|k| k.0 == "ingress" && k.1 == c.name) else {
            continue;
        };
        for to in index(&ing.service) {
            links.push(Link {
                from,
                to,
                art: arrow(keys[to].1 != c.name),
            });
        }
    }
    for s in &t.services {
        let Some(from) = keys.iter().position(|k| k.0 == s.name && k.1 == s.cluster) else {
            continue;
        };
        for callee in &s.calls {
            for to in index(callee) {
                links.push(Link {
                    from,
                    to,
                    art: arrow(keys[to].1 != s.cluster),
                });
            }
        }
    }
    Some(Spec {
        entry: "client ─▶ ".into(),
        nodes,
        links,
        over: None,
        under: None,
        bands: clusters.iter().map(|c| format!("cluster {c}")).collect(),
        notes: Vec::new(),
    })
}
