//! The mesh diagram to label, drawn anew each time: two to four services,
//! one or two clusters (with an east-west gateway between them), and the
//! five slots A–E shuffled over the data plane, the control plane, one
//! sidecar proxy, one mTLS connection and the Ingress Gateway. No box says
//! what it is, so a slot is never given away by a labelled twin, and the
//! data-plane bracket spans every proxy that carries requests, the Ingress
//! Gateway included.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use super::exercises::{SlotResult, LABELS};
use crate::map::{Link, Node, Spec};

/// Services a diagram draws from (the demo's names).
const SERVICES: [&str; 5] = ["frontend", "billing", "user", "catalog", "auth"];

/// A diagram and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    /// The drawing, line by line.
    pub lines: Vec<String>,
    /// The right label (index into [`LABELS`]) for slots A–E.
    pub answer: [usize; 5],
    /// Services drawn, in order.
    pub services: Vec<&'static str>,
    /// Clusters drawn (1 or 2).
    pub clusters: usize,
}

/// Why each part is what it is, by label (for feedback after scoring).
const WHY: [&str; 5] = [
    "the bracket spans every proxy that carries requests, the gateways included: the data plane",
    "the box above configures every proxy and signs certificates, and no request goes through it: the control plane",
    "the cell beside the app in its pod intercepts its traffic: a sidecar proxy",
    "the double line joins two proxies that both present certificates: an mTLS connection",
    "the box that takes HTTPS from outside and routes it in: the Ingress Gateway",
];

/// Element `e` (index into [`LABELS`]) is shown as `[X]`.
fn tag(slot_of: &[usize; 5], e: usize) -> String {
    format!("[{}]", (b'A' + slot_of[e] as u8) as char)
}

/// Draws a random diagram.
pub fn generate(rng: &mut impl Rng) -> Diagram {
    let n = rng.random_range(2..=4usize);
    let mut services: Vec<&'static str> = SERVICES[1..].to_vec();
    services.shuffle(rng);
    services.truncate(n - 1);
    services.insert(0, "frontend");
    // Four services and two clusters would not fit 100 columns.
    let clusters = if n < 4 && rng.random_bool(0.5) { 2 } else { 1 };
    // Where the cluster boundary falls: after this many pods.
    let split = if clusters == 2 {
        rng.random_range(1..n)
    } else {
        n
    };
    // slot_of[label] = slot index; answer[slot] = label.
    let mut slots = [0usize, 1, 2, 3, 4];
    slots.shuffle(rng);
    let slot_of = slots;
    let mut answer = [0usize; 5];
    for (label, slot) in slot_of.iter().enumerate() {
        answer[*slot] = label;
    }
    let sidecar_pod = rng.random_range(0..n);
    // The mTLS slot sits on a connection between proxies: 0 is ingress →
    // first pod, i is pod i-1 → pod i.
    let mtls_link = *(0..n).collect::<Vec<_>>().choose(rng).unwrap_or(&0);

    // Drawn by the same code as the console's map: the pods in a row, the
    // control plane over every proxy, the data-plane bracket under them.
    let mut nodes = vec![Node {
        cell: tag(&slot_of, 4),
        name: None,
        detail: None,
        band: 0,
    }];
    let mut links = Vec::new();
    let link = |i: usize| {
        if i == mtls_link {
            format!("═{}▶", tag(&slot_of, 3))
        } else {
            "════▶".to_string()
        }
    };
    for (i, s) in services.iter().enumerate() {
        let from = nodes.len() - 1;
        if clusters == 2 && i == split {
            nodes.push(Node {
                cell: "e-w".into(),
                name: None,
                detail: None,
                band: 0,
            });
            links.push(Link {
                from,
                to: from + 1,
                art: link(i),
            });
            links.push(Link {
                from: from + 1,
                to: from + 2,
                art: "══▶".into(),
            });
        } else {
            links.push(Link {
                from,
                to: from + 1,
                art: link(i),
            });
        }
        nodes.push(Node {
            cell: if i == sidecar_pod {
                tag(&slot_of, 2)
            } else {
                " · ".to_string()
            },
            name: Some(s.to_string()),
            detail: None,
            band: 0,
        });
    }
    let mut notes = Vec::new();
    if clusters == 2 {
        let names: Vec<String> = services
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s}: {}", if i < split { "eu" } else { "us" }))
            .collect();
        notes.push(format!(
            "two clusters joined by an east-west gateway (e-w) · {}",
            names.join(", ")
        ));
    }
    let lines = crate::map::draw(&Spec {
        entry: "client ─HTTPS▶ ".into(),
        nodes,
        links,
        over: Some(tag(&slot_of, 1)),
        under: Some(tag(&slot_of, 0)),
        bands: Vec::new(),
        notes,
    });
    Diagram {
        lines,
        answer,
        services,
        clusters,
    }
}

/// Scores labels (indices into [`LABELS`]) put on slots A–E.
pub fn score(d: &Diagram, assigned: &[Option<usize>; 5]) -> (usize, Vec<SlotResult>) {
    let mut score = 0;
    let mut out = Vec::new();
    for (i, a) in assigned.iter().enumerate() {
        let slot = (b'A' + i as u8) as char;
        let right = d.answer[i];
        let correct = *a == Some(right);
        score += usize::from(correct);
        let feedback = match a {
            Some(x) if correct => format!("{slot}: {} ✓", LABELS[*x]),
            Some(x) => format!("{slot}: not {} — {}", LABELS[*x], WHY[right]),
            None => format!("{slot}: empty — {}", WHY[right]),
        };
        out.push(SlotResult {
            slot,
            correct,
            feedback,
        });
    }
    (score, out)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn layouts_vary_and_every_slot_appears_once() {
        let mut shapes = std::collections::BTreeSet::new();
        let mut answers = std::collections::BTreeSet::new();
        for seed in 0..60 {
            let d = generate(&mut StdRng::seed_from_u64(seed));
            shapes.insert((d.services.len(), d.clusters));
            answers.insert(d.answer);
            let text = d.lines.join("\n");
            for s in ['A', 'B', 'C', 'D', 'E'] {
                assert_eq!(text.matches(&format!("[{s}]")).count(), 1, "{s} in\n{text}");
            }
            // No box names what a slot is.
            for label in LABELS {
                let l = label.to_lowercase();
                assert!(!text.to_lowercase().contains(&l), "{label} in\n{text}");
            }
            for bad in ["proxy", "config", "certificate", "ingress", "mtls"] {
                assert!(!text.to_lowercase().contains(bad), "{bad} in\n{text}");
            }
            // The data-plane bracket starts under the Ingress Gateway and
            // ends under the last pod.
            let gw = d.lines[4].find('│').expect("gateway box");
            let bracket = d.lines[6].find('└').expect("bracket");
            assert_eq!(
                d.lines[4][..gw].chars().count(),
                d.lines[6][..bracket].chars().count(),
                "\n{text}"
            );
            assert_eq!(
                d.lines[3].chars().count(),
                d.lines[6].chars().count(),
                "\n{text}"
            );
            let (full, _) = score(&d, &d.answer.map(Some));
            assert_eq!(full, 5);
        }
        for shape in [(2, 1), (3, 1), (4, 1), (2, 2), (3, 2)] {
            assert!(shapes.contains(&shape), "{shape:?}: {shapes:?}");
        }
        let widest = (0..200)
            .map(|s| {
                generate(&mut StdRng::seed_from_u64(s)).lines[4]
                    .chars()
                    .count()
            })
            .max();
        assert!(widest <= Some(98), "fits the practice view: {widest:?}");
        assert!(answers.len() > 20, "slots are shuffled: {}", answers.len());
    }
}
