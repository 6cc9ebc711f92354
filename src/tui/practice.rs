//! The practice view's state machine: a menu, the glossary with search and
//! "show me", flashcards both ways with spaced repetition, fill-in-the-blank
//! sentences, the diagram to label, the ~100-word explanation, live drills
//! on the running mesh, and the progress summary.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::action::View;
use super::data::Command;
use super::editor::Editor;
use super::mesh_data::MeshData;
use crate::practice::exercises::{self, DrillKind, Verdict, BLANKS, LABELS};
use crate::practice::glossary::{self, ShowMe, TERMS};
use crate::practice::progress::{Ledger, Summary};

/// Menu entries, in order.
pub const MENU: &[(&str, &str)] = &[
    (
        "Glossary",
        "every term: meaning, how to say it, examples, where to see it",
    ),
    (
        "Flashcards",
        "term → meaning and meaning → term, spaced repetition",
    ),
    (
        "Fill in the blank",
        "sentences engineers write in reviews and runbooks",
    ),
    (
        "Label the diagram",
        "place data plane, control plane, sidecar, mTLS, Ingress Gateway",
    ),
    (
        "Explain it in 100 words",
        "write, and get a check of length, terms and misuse",
    ),
    (
        "Live drill",
        "find what changed in the running mesh, and name the fix",
    ),
    ("Progress", "results, streaks, weak terms"),
];

/// A live drill under way.
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    /// What was injected.
    pub kind: DrillKind,
    /// The instance, service or service+version affected.
    pub target: String,
    /// The config version before (to roll back config drills).
    pub version_before: u64,
    /// Answer to "what happened".
    pub what: String,
    /// Answer to "which resource fixes it".
    pub fix: String,
    /// Which field is being typed (0 what, 1 fix).
    pub field: usize,
    /// Typing answers; otherwise the user is looking around the console
    /// and every view key works.
    pub answering: bool,
    /// The verdict, once answered (and the drill undone).
    pub result: Option<(bool, String)>,
}

/// The practice view's screens, each with the state it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// The menu.
    Menu,
    /// The glossary.
    Glossary {
        /// What the user typed to narrow the terms.
        query: String,
        /// Typing into the search.
        typing: bool,
        /// Selected term (in the filtered list).
        selected: usize,
        /// The term opened in detail.
        open: bool,
    },
    /// A flashcard.
    Card {
        /// Index into the glossary's terms.
        term: usize,
        /// 0: term → meaning, 1: meaning → term.
        dir: u8,
        /// The answer side is showing.
        flipped: bool,
    },
    /// A sentence with a blank.
    Blank {
        /// Index into the fill-in-the-blank sentences.
        index: usize,
        /// The answer typed.
        answer: String,
        /// The verdict once checked.
        result: Option<bool>,
    },
    /// The mesh diagram to label.
    Diagram {
        /// Label index per slot A–E.
        assigned: [Option<usize>; 5],
        /// The slot (A–E) a digit key labels.
        slot: usize,
        /// Score and feedback once checked.
        result: Option<(usize, Vec<String>)>,
    },
    /// The explanation editor.
    Explain {
        /// The verdict once checked.
        verdict: Option<Verdict>,
    },
    /// A live drill.
    Drill(Option<Drill>),
    /// The progress summary.
    Progress(Summary),
}

/// What a practice key asks the rest of the console to do.
#[derive(Debug, Default)]
pub struct Effect {
    /// Commands for the background side: drills' chaos and rules, progress writes.
    pub commands: Vec<Command>,
    /// Actions for `update` to apply next ("show me" switches views).
    pub actions: Vec<Action>,
}

/// The practice view.
#[derive(Debug)]
pub struct Practice {
    /// The screen shown, with its state.
    pub screen: Screen,
    /// The menu entry Enter opens.
    pub menu: usize,
    /// The explanation being written.
    pub editor: Editor,
    /// Progress in memory; its writes leave as commands.
    progress: Ledger,
    drills_run: usize,
    /// The last thing to tell the user.
    pub note: Option<String>,
}

fn due_card(progress: &Ledger, now: f64) -> (usize, u8) {
    let mut best = (0usize, 0u8, f64::MAX);
    for (i, t) in TERMS.iter().enumerate() {
        for dir in 0..2u8 {
            let c = progress.card(t.term, dir);
            // Never-seen cards get a small stable order so the first session is varied.
            let key = if c.right + c.wrong == 0 {
                now - 1.0 + ((i * 7 + dir as usize * 3) % TERMS.len()) as f64 * 1e-3
            } else {
                c.due
            };
            if key < best.2 {
                best = (i, dir, key);
            }
        }
    }
    (best.0, best.1)
}

impl Practice {
    /// Whether a live drill's fault is in place and not yet answered: the
    /// console must not tell what was injected meanwhile.
    pub fn drill_under_way(&self) -> bool {
        matches!(&self.screen, Screen::Drill(Some(d)) if d.result.is_none())
    }

    /// Practice over the progress loaded from the store.
    pub fn new(progress: Ledger) -> Self {
        Self {
            screen: Screen::Menu,
            menu: 0,
            editor: Editor::new(""),
            progress,
            drills_run: 0,
            note: None,
        }
    }

    /// Whether keys are being typed into practice (global keys stand down).
    pub fn captures_keys(&self) -> bool {
        match &self.screen {
            Screen::Glossary { typing, .. } => *typing,
            Screen::Blank { result, .. } => result.is_none(),
            Screen::Explain { .. } => true,
            Screen::Drill(Some(d)) => d.answering && d.result.is_none(),
            _ => false,
        }
    }

    /// Whether a text editor has focus.
    pub fn editing(&self) -> bool {
        matches!(self.screen, Screen::Explain { .. })
    }

    /// Progress so far.
    pub fn summary(&self) -> Summary {
        self.progress.summary()
    }

    fn open(&mut self, i: usize, now: f64) {
        self.note = None;
        self.screen = match i {
            0 => Screen::Glossary {
                query: String::new(),
                typing: false,
                selected: 0,
                open: false,
            },
            1 => {
                let (term, dir) = due_card(&self.progress, now);
                Screen::Card {
                    term,
                    dir,
                    flipped: false,
                }
            }
            2 => Screen::Blank {
                index: self
                    .progress
                    .summary()
                    .kinds
                    .iter()
                    .find(|k| k.kind == "blank")
                    .map_or(0, |k| k.attempts as usize)
                    % BLANKS.len(),
                answer: String::new(),
                result: None,
            },
            3 => Screen::Diagram {
                assigned: [None; 5],
                slot: 0,
                result: None,
            },
            4 => Screen::Explain { verdict: None },
            5 => Screen::Drill(None),
            _ => Screen::Progress(self.progress.summary()),
        };
    }

    /// Records a result; the store is written on the background side.
    fn save(&mut self, fx: &mut Effect, kind: &str, item: &str, correct: bool, now: f64) {
        let w = self.progress.record(kind, item, correct, now);
        fx.commands.push(Command::SaveProgress(w));
    }

    /// Handles a key.
    pub fn key(&mut self, k: KeyEvent, now: f64, d: &MeshData, connected: bool) -> Effect {
        let mut fx = Effect::default();
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if k.code == KeyCode::Esc && !matches!(self.screen, Screen::Menu) {
            // Esc while answering goes back to looking around; Esc while
            // looking abandons the drill and undoes it.
            if let Screen::Drill(Some(drill)) = &mut self.screen {
                if drill.answering && drill.result.is_none() {
                    drill.answering = false;
                    return fx;
                }
                if drill.result.is_none() {
                    fx.commands = undo(drill);
                    self.note = Some("drill abandoned and undone".into());
                }
            }
            if let Screen::Glossary {
                typing: true,
                query,
                selected,
                open,
            } = &self.screen
            {
                self.screen = Screen::Glossary {
                    query: query.clone(),
                    typing: false,
                    selected: *selected,
                    open: *open,
                };
                return fx;
            }
            self.screen = Screen::Menu;
            return fx;
        }
        let screen = std::mem::replace(&mut self.screen, Screen::Menu);
        self.screen = match screen {
            Screen::Menu => match k.code {
                KeyCode::Up | KeyCode::Char('k') => {
                    self.menu = self.menu.saturating_sub(1);
                    Screen::Menu
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    self.menu = (self.menu + 1).min(MENU.len() - 1);
                    Screen::Menu
                }
                KeyCode::Enter | KeyCode::Char(' ') => {
                    self.open(self.menu, now);
                    return fx;
                }
                _ => Screen::Menu,
            },
            Screen::Glossary {
                mut query,
                mut typing,
                mut selected,
                mut open,
            } => {
                let hits = glossary::search(&query);
                match k.code {
                    KeyCode::Char(c) if typing => {
                        query.push(c);
                        selected = 0;
                        open = false;
                    }
                    KeyCode::Backspace if typing => {
                        query.pop();
                    }
                    KeyCode::Enter if typing => typing = false,
                    KeyCode::Char('/') => typing = true,
                    KeyCode::Up | KeyCode::Char('k') => selected = selected.saturating_sub(1),
                    KeyCode::Down | KeyCode::Char('j') => {
                        selected = (selected + 1).min(hits.len().saturating_sub(1))
                    }
                    KeyCode::Enter => open = !open,
                    KeyCode::Char('s') => {
                        if let Some(t) = hits.get(selected) {
                            match t.show {
                                Some((show, filter)) => {
                                    let view = match show {
                                        ShowMe::Graph => View::Graph,
                                        ShowMe::Services => View::Services,
                                        ShowMe::Tap => View::Tap,
                                        ShowMe::Identities => View::Identities,
                                        ShowMe::Traces => View::Traces,
                                        ShowMe::Routing => View::Routing,
                                        ShowMe::Events => View::Events,
                                    };
                                    let why = if filter.is_empty() {
                                        format!("{} in the running mesh", t.term)
                                    } else {
                                        format!(
                                            "{} in the running mesh (filtered on '{filter}')",
                                            t.term
                                        )
                                    };
                                    fx.actions.push(Action::ShowFiltered {
                                        view,
                                        filter: filter.to_string(),
                                        why,
                                    });
                                }
                                None => {
                                    self.note = Some(format!(
                                        "{} has no counterpart in meshcon's mesh",
                                        t.term
                                    ))
                                }
                            }
                        }
                    }
                    _ => {}
                }
                Screen::Glossary {
                    query,
                    typing,
                    selected,
                    open,
                }
            }
            Screen::Card { term, dir, flipped } => match (k.code, flipped) {
                (KeyCode::Char(' ') | KeyCode::Enter, false) => Screen::Card {
                    term,
                    dir,
                    flipped: true,
                },
                (KeyCode::Char('y') | KeyCode::Char('n'), true) => {
                    let knew = k.code == KeyCode::Char('y');
                    let (c, writes) = self.progress.answer_card(TERMS[term].term, dir, knew, now);
                    self.note = Some(format!("{} → box {} of 5", TERMS[term].term, c.box_));
                    fx.commands
                        .extend(writes.into_iter().map(Command::SaveProgress));
                    let (term, dir) = due_card(&self.progress, now);
                    Screen::Card {
                        term,
                        dir,
                        flipped: false,
                    }
                }
                _ => Screen::Card { term, dir, flipped },
            },
            Screen::Blank {
                index,
                mut answer,
                result,
            } => match (k.code, result) {
                (KeyCode::Enter, None) => {
                    let ok = exercises::check_blank(&BLANKS[index], &answer);
                    self.save(&mut fx, "blank", BLANKS[index].term, ok, now);
                    Screen::Blank {
                        index,
                        answer,
                        result: Some(ok),
                    }
                }
                (KeyCode::Enter, Some(_)) => Screen::Blank {
                    index: (index + 1) % BLANKS.len(),
                    answer: String::new(),
                    result: None,
                },
                (KeyCode::Backspace, None) => {
                    answer.pop();
                    Screen::Blank {
                        index,
                        answer,
                        result,
                    }
                }
                (KeyCode::Char(c), None) if !ctrl => {
                    answer.push(c);
                    Screen::Blank {
                        index,
                        answer,
                        result,
                    }
                }
                _ => Screen::Blank {
                    index,
                    answer,
                    result,
                },
            },
            Screen::Diagram {
                mut assigned,
                mut slot,
                result,
            } => {
                match k.code {
                    KeyCode::Up | KeyCode::Char('k') => slot = slot.saturating_sub(1),
                    KeyCode::Down | KeyCode::Char('j') => slot = (slot + 1).min(4),
                    KeyCode::Char(c @ 'a'..='e') => slot = (c as u8 - b'a') as usize,
                    KeyCode::Char(c @ '1'..='5') => {
                        assigned[slot] = Some((c as u8 - b'1') as usize)
                    }
                    KeyCode::Backspace | KeyCode::Delete => assigned[slot] = None,
                    KeyCode::Enter if result.is_none() => {
                        let (score, detail) = exercises::score_diagram(&assigned);
                        self.save(&mut fx, "diagram", "diagram", score == 5, now);
                        return {
                            self.screen = Screen::Diagram {
                                assigned,
                                slot,
                                result: Some((
                                    score,
                                    detail.into_iter().map(|r| r.feedback).collect(),
                                )),
                            };
                            fx
                        };
                    }
                    KeyCode::Enter => {
                        return {
                            self.screen = Screen::Diagram {
                                assigned: [None; 5],
                                slot: 0,
                                result: None,
                            };
                            fx
                        }
                    }
                    _ => {}
                }
                Screen::Diagram {
                    assigned,
                    slot,
                    result: if matches!(k.code, KeyCode::Char('1'..='5')) {
                        None
                    } else {
                        result
                    },
                }
            }
            Screen::Explain { verdict } => {
                if (ctrl && k.code == KeyCode::Char('s')) || k.code == KeyCode::F(2) {
                    let v = exercises::check_explanation(&self.editor.text());
                    self.save(&mut fx, "explain", "explain", v.passed(), now);
                    Screen::Explain { verdict: Some(v) }
                } else {
                    self.editor.handle(k);
                    self.editor.follow(10);
                    Screen::Explain { verdict }
                }
            }
            Screen::Drill(None) => {
                if k.code == KeyCode::Enter {
                    if !connected {
                        self.note = Some("a live drill needs a running mesh: start one with `meshcon` or attach to one".into());
                        Screen::Drill(None)
                    } else {
                        let (drill, cmds) = start_drill(self.drills_run, d);
                        self.drills_run += 1;
                        fx.commands = cmds;
                        Screen::Drill(Some(drill))
                    }
                } else {
                    Screen::Drill(None)
                }
            }
            Screen::Drill(Some(mut drill)) => {
                if drill.result.is_some() {
                    if k.code == KeyCode::Enter {
                        Screen::Drill(None)
                    } else {
                        Screen::Drill(Some(drill))
                    }
                } else if !drill.answering {
                    match k.code {
                        KeyCode::Enter => drill.answering = true,
                        KeyCode::Char('g') if ctrl => give_up(self, &mut drill, &mut fx, now),
                        _ => {}
                    }
                    Screen::Drill(Some(drill))
                } else {
                    match k.code {
                        KeyCode::Tab | KeyCode::Down | KeyCode::Up => drill.field = 1 - drill.field,
                        KeyCode::Backspace => {
                            let f = if drill.field == 0 {
                                &mut drill.what
                            } else {
                                &mut drill.fix
                            };
                            f.pop();
                        }
                        KeyCode::Char('g') if ctrl => give_up(self, &mut drill, &mut fx, now),
                        KeyCode::Char(c) => {
                            let f = if drill.field == 0 {
                                &mut drill.what
                            } else {
                                &mut drill.fix
                            };
                            f.push(c);
                        }
                        KeyCode::Enter if drill.field == 0 => drill.field = 1,
                        KeyCode::Enter => {
                            let (ok, text) = judge(&drill, d);
                            fx.commands = undo(&drill);
                            self.save(&mut fx, "drill", &format!("{:?}", drill.kind), ok, now);
                            drill.result = Some((ok, text));
                        }
                        _ => {}
                    }
                    Screen::Drill(Some(drill))
                }
            }
            Screen::Progress(s) => Screen::Progress(if k.code == KeyCode::Char('r') {
                self.progress.summary()
            } else {
                s
            }),
        };
        fx
    }
}

/// Ends a drill unanswered: undone, counted as a miss, the answer shown.
fn give_up(p: &mut Practice, drill: &mut Drill, fx: &mut Effect, now: f64) {
    fx.commands = undo(drill);
    drill.result = Some((
        false,
        format!(
            "given up. It was: {}. {}",
            drill_answer(drill),
            drill.kind.explain_fix()
        ),
    ));
    p.save(fx, "drill", &format!("{:?}", drill.kind), false, now);
}

fn drill_answer(d: &Drill) -> String {
    match d.kind {
        DrillKind::LatencyRegression => format!("service {} answers 400 ms slower", d.target),
        DrillKind::FailingInstance => format!("instance {} fails every request", d.target),
        DrillKind::BadCanaryWeight => format!("{} got 90% of the traffic", d.target),
        DrillKind::PlaintextPeer => "PeerAuthentication was set to PERMISSIVE mesh-wide".into(),
    }
}

/// Picks and injects a drill: the n-th of a fixed rotation, on the mesh's own services.
pub fn start_drill(n: usize, d: &MeshData) -> (Drill, Vec<Command>) {
    let kind = DrillKind::ALL[n % DrillKind::ALL.len()];
    let sidecars: Vec<&mesh::api::Workload> = d
        .workloads
        .iter()
        .filter(|w| w.is_sidecar() && w.ready)
        .collect();
    let services: Vec<String> = {
        let mut v: Vec<String> = sidecars.iter().map(|w| w.service.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let pick = |v: &[String]| v.get(n % v.len().max(1)).cloned().unwrap_or_default();
    let (target, cmds) = match kind {
        DrillKind::LatencyRegression => {
            let t = pick(&services);
            (
                t.clone(),
                vec![Command::Chaos(mesh::api::ChaosRequest {
                    action: "slow".into(),
                    target: t,
                    delay_ms: 400,
                    error_rate: 0.0,
                })],
            )
        }
        DrillKind::FailingInstance => {
            // An instance with siblings, so the service keeps answering.
            let with_siblings: Vec<String> = sidecars
                .iter()
                .filter(|w| sidecars.iter().filter(|x| x.service == w.service).count() > 1)
                .map(|w| w.instance.clone())
                .collect();
            let t = pick(&with_siblings);
            (
                t.clone(),
                vec![Command::Chaos(mesh::api::ChaosRequest {
                    action: "fail".into(),
                    target: t,
                    delay_ms: 0,
                    error_rate: 1.0,
                })],
            )
        }
        DrillKind::BadCanaryWeight => (
            "billing v2".to_string(),
            vec![Command::Apply {
                yaml: super::quick::canary_yaml(90),
                file: "drill".into(),
            }],
        ),
        DrillKind::PlaintextPeer => (
            "PERMISSIVE".to_string(),
            vec![Command::Apply {
                yaml: super::scenario::rule("permissive-mtls.yaml")
                    .unwrap_or_default()
                    .to_string(),
                file: "drill".into(),
            }],
        ),
    };
    (
        Drill {
            kind,
            target,
            version_before: d.version,
            what: String::new(),
            fix: String::new(),
            field: 0,
            answering: false,
            result: None,
        },
        cmds,
    )
}

/// Undoes a drill.
pub fn undo(d: &Drill) -> Vec<Command> {
    match d.kind {
        DrillKind::LatencyRegression | DrillKind::FailingInstance => {
            vec![Command::Chaos(mesh::api::ChaosRequest {
                action: "heal".into(),
                target: d.target.clone(),
                delay_ms: 0,
                error_rate: 0.0,
            })]
        }
        DrillKind::BadCanaryWeight | DrillKind::PlaintextPeer => {
            vec![Command::Rollback(d.version_before)]
        }
    }
}

/// Checks the answers against what was injected and what the mesh shows now.
pub fn judge(d: &Drill, data: &MeshData) -> (bool, String) {
    let what = exercises::normalize(&d.what);
    let fix = exercises::normalize(&d.fix).replace(' ', "");
    let fix_ok = d.kind.fixes().iter().any(|f| fix.contains(f));
    let (what_ok, evidence) = match d.kind {
        DrillKind::LatencyRegression => {
            let named = what.split_whitespace().any(|w| w == d.target);
            let p99 = data
                .services
                .iter()
                .filter(|s| s.service == d.target)
                .map(|s| s.p99_ms)
                .fold(0.0, f64::max);
            (
                named && p99 >= 200.0,
                format!("{}'s P99 is {:.0} ms in the mesh now", d.target, p99),
            )
        }
        DrillKind::FailingInstance => {
            let named = what.split_whitespace().any(|w| w == d.target);
            let workload = d
                .target
                .rsplit_once('-')
                .map_or(d.target.as_str(), |(w, _)| w)
                .to_string();
            let failing = data
                .tap
                .iter()
                .any(|e| e.status >= 500 && e.destination == workload)
                || data.services.iter().any(|s| {
                    format!("{}-{}", s.service, s.version) == workload && s.success_rate < 0.99
                });
            (
                named && failing,
                format!("the mesh shows 5xx answers from {workload}"),
            )
        }
        DrillKind::BadCanaryWeight => {
            let named = what.contains("billing") && what.contains("v2");
            let rps = |v: &str| {
                data.edges
                    .iter()
                    .filter(|e| e.service == "billing" && e.version == v)
                    .map(|e| e.rps)
                    .sum::<f64>()
            };
            let share = rps("v2") / (rps("v1") + rps("v2")).max(1e-9);
            (
                named && share > 0.5,
                format!(
                    "billing v2 gets {:.0}% of billing's traffic now",
                    share * 100.0
                ),
            )
        }
        DrillKind::PlaintextPeer => {
            let named = what.contains("permissive");
            let permissive = data
                .trust_domains
                .iter()
                .any(|t| t.mtls_mode == "PERMISSIVE");
            (
                named && permissive,
                format!(
                    "the mesh's mTLS mode is {}",
                    data.trust_domains
                        .first()
                        .map_or("?", |t| t.mtls_mode.as_str())
                ),
            )
        }
    };
    let ok = what_ok && fix_ok;
    let text = format!(
        "{} {}. It was: {}; {}. Fix: {} The drill has been undone.",
        if ok { "Right!" } else { "Not quite." },
        if what_ok {
            "You found it"
        } else {
            "That is not what changed"
        },
        drill_answer(d),
        evidence,
        d.kind.explain_fix()
    );
    (ok, text)
}

/// The labels, for the diagram screen.
pub fn labels() -> &'static [&'static str; 5] {
    &LABELS
}
