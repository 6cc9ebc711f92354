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
use crate::practice::check::{self, Report};
use crate::practice::drill::Step;
use crate::practice::exercises::{self, BLANKS, LABELS};
use crate::practice::glossary::{self, ShowMe, TERMS};
use crate::practice::progress::{Ledger, Next, Summary};
use crate::practice::schedule::{in_words, Grade};

pub mod drill;
pub use drill::Drill;

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
        "explain the diagram; a rubric shows what is found, missing or wrong",
    ),
    (
        "Live drill",
        "find what changed in the running mesh, and name the fix",
    ),
    ("Progress", "results, streaks, weak terms"),
];

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
        /// Cards due now, this one included.
        due: usize,
    },
    /// No flashcard is due.
    NoCard {
        /// When the next one is due, seconds since the epoch.
        next: Option<f64>,
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
        /// The drawing and its answer.
        diagram: Box<crate::practice::diagram::Diagram>,
        /// Label index per slot A–E.
        assigned: [Option<usize>; 5],
        /// The slot (A–E) a digit key labels.
        slot: usize,
        /// Score and feedback once checked.
        result: Option<(usize, Vec<String>)>,
    },
    /// The explanation editor.
    Explain {
        /// The checker's report once checked.
        verdict: Option<Box<Report>>,
        /// Lines the report is scrolled down by (PgDn/PgUp).
        scroll: u16,
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
    /// Drills are picked at random from this seed (tests fix it).
    pub seed: u64,
    /// The console API drills are injected into, remembered with them.
    pub addr: String,
    /// A drill's undo that waits for the mesh to answer again.
    pending_undo: Option<Vec<Step>>,
    /// Sentences missed, and after how many answers they come back.
    blank_misses: Vec<(usize, u32)>,
    /// After a config drill is rolled back: the version it ended at and
    /// until when to wait for a newer one, so the next drill's rollback
    /// target is not the last drill's fault.
    settle: Option<(u64, f64)>,
    /// The kind of drill chosen (None: any, at random).
    pub drill_choice: Option<crate::practice::drill::DrillKind>,
    /// Diagrams drawn this session.
    diagrams_drawn: u64,
    /// Sentences answered this session.
    blanks_done: u32,
    /// The next sentence in order.
    blank_cursor: usize,
    /// The scenario "show me" offers to run when its view is empty.
    pub offer: Option<&'static str>,
    /// The last thing to tell the user.
    pub note: Option<String>,
}

fn serve_card(progress: &Ledger, now: f64) -> Screen {
    let terms: Vec<&'static str> = TERMS.iter().map(|t| t.term).collect();
    match progress.next_card(&terms, now) {
        (Next::Card(t, dir), due) => Screen::Card {
            term: TERMS.iter().position(|x| x.term == t).unwrap_or(0),
            dir,
            flipped: false,
            due,
        },
        (Next::Wait(next), _) => Screen::NoCard { next },
    }
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
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            addr: String::new(),
            pending_undo: None,
            blank_misses: Vec::new(),
            blanks_done: 0,
            diagrams_drawn: 0,
            drill_choice: None,
            settle: None,
            blank_cursor: 0,
            offer: None,
            note: None,
        }
    }

    /// Opens the view where a term can be seen, or, when that view has
    /// nothing to show yet, offers the scenario that fills it.
    fn show_me(&mut self, t: &glossary::Term, d: &MeshData, connected: bool, fx: &mut Effect) {
        self.offer = None;
        let Some((show, filter)) = t.show else {
            self.note = Some(format!("{} has no counterpart in meshcon's mesh", t.term));
            return;
        };
        let has = |s: &str| filter.is_empty() || s.to_lowercase().contains(&filter.to_lowercase());
        let empty = match show {
            ShowMe::Routing => d.resources.is_empty(),
            ShowMe::Events => !d.events.iter().any(|e| has(&e.message) || has(&e.kind)),
            ShowMe::Tap => d.tap.is_empty(),
            ShowMe::Services => d.services.is_empty(),
            ShowMe::Traces => d.traces.is_empty(),
            ShowMe::Graph | ShowMe::Identities => d.workloads.is_empty(),
        };
        let scenario = glossary::scenario_for(t.term);
        if empty && connected {
            if let Some(name) = scenario {
                self.offer = Some(name);
                self.note = Some(format!(
                    "nothing shows {} in the mesh yet: press r to run the '{name}' scenario, which does, then s again",
                    t.term
                ));
                return;
            }
        }
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
            format!("{} in the running mesh (filtered on '{filter}')", t.term)
        };
        fx.actions.push(Action::ShowFiltered {
            view,
            filter: filter.to_string(),
            why,
        });
    }

    /// The next sentence: a miss whose turn has come, else the next in order.
    fn next_blank(&mut self) -> usize {
        if let Some(pos) = self
            .blank_misses
            .iter()
            .position(|m| m.1 <= self.blanks_done)
        {
            return self.blank_misses.remove(pos).0;
        }
        if self.blanks_done == 0 && self.blank_cursor == 0 {
            // Start where the last session stopped.
            self.blank_cursor = self
                .progress
                .summary()
                .kinds
                .iter()
                .find(|k| k.kind == "blank")
                .map_or(0, |k| k.attempts as usize);
        }
        let i = self.blank_cursor % BLANKS.len();
        self.blank_cursor = i + 1;
        i
    }

    fn new_diagram(&mut self) -> crate::practice::diagram::Diagram {
        use rand::SeedableRng;
        self.diagrams_drawn += 1;
        crate::practice::diagram::generate(&mut rand::rngs::StdRng::seed_from_u64(
            self.seed.wrapping_add(1000 + self.diagrams_drawn),
        ))
    }

    /// Whether digit keys belong to practice (labelling the diagram, grading
    /// a card) rather than switching views.
    pub fn wants_digits(&self) -> bool {
        matches!(
            self.screen,
            Screen::Diagram { .. } | Screen::Card { flipped: true, .. }
        )
    }

    /// What must be undone before the console exits: the drill under way,
    /// or one whose undo waits for the mesh.
    pub fn pending_undo(&self) -> Option<Vec<Step>> {
        match &self.screen {
            Screen::Drill(Some(d)) if d.result.is_none() => Some(d.fault.undo.clone()),
            _ => self.pending_undo.clone(),
        }
    }

    /// The mesh stopped answering: a drill under way ends unjudged, and its
    /// undo waits until the mesh answers again (or the next start).
    pub fn disconnected(&mut self) {
        if let Screen::Drill(Some(d)) = &mut self.screen {
            if d.result.is_none() {
                self.pending_undo = Some(d.fault.undo.clone());
                d.result = Some((
                    false,
                    format!(
                        "The mesh stopped answering, so the drill ended unjudged. It was: {}. It is undone as soon as the mesh answers again, or at the next start.",
                        drill::answer(d)
                    ),
                ));
            }
        }
    }

    /// The mesh answers (again): a waiting undo is sent.
    pub fn connected(&mut self) -> Vec<Command> {
        match self.pending_undo.take() {
            Some(steps) => {
                self.note = Some("the interrupted drill has been undone".into());
                let mut cmds = drill::commands(&steps);
                cmds.push(Command::SaveProgress(
                    crate::practice::progress::Write::Leftover(None),
                ));
                cmds
            }
            None => Vec::new(),
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

    /// Flashcards due at `now`, and when the next is due if none is.
    pub fn cards_due(&self, now: f64) -> (usize, Option<f64>) {
        let terms: Vec<&'static str> = TERMS.iter().map(|t| t.term).collect();
        match self.progress.next_card(&terms, now) {
            (Next::Card(..), n) => (n, None),
            (Next::Wait(at), _) => (0, at),
        }
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
            1 => serve_card(&self.progress, now),
            2 => {
                // Sentences missed in earlier sessions come back first.
                if self.blanks_done == 0 {
                    for (i, b) in BLANKS.iter().enumerate() {
                        let (right, wrong) = self.progress.item(b.term);
                        if wrong > right && !self.blank_misses.iter().any(|m| m.0 == i) {
                            self.blank_misses.push((i, 0));
                        }
                    }
                }
                Screen::Blank {
                    index: self.next_blank(),
                    answer: String::new(),
                    result: None,
                }
            }
            3 => Screen::Diagram {
                diagram: Box::new(self.new_diagram()),
                assigned: [None; 5],
                slot: 0,
                result: None,
            },
            4 => Screen::Explain {
                verdict: None,
                scroll: 0,
            },
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
                    fx.commands = drill::undo(drill);
                    self.settle = drill::settle(drill, d.version, now);
                    self.note = Some(format!(
                        "drill abandoned and undone; it was {}",
                        drill::answer(drill)
                    ));
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
                            self.show_me(t, d, connected, &mut fx);
                        }
                    }
                    KeyCode::Char('r') => {
                        if let Some(name) = self.offer.take() {
                            fx.actions.push(Action::RunScenario(name.to_string()));
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
            Screen::Card {
                term,
                dir,
                flipped,
                due,
            } => {
                let grade = match k.code {
                    KeyCode::Char('y') => Some(Grade::Good),
                    KeyCode::Char('n') => Some(Grade::Again),
                    KeyCode::Char(c) => Grade::from_key(c),
                    _ => None,
                };
                match (k.code, flipped, grade) {
                    (KeyCode::Char(' ') | KeyCode::Enter, false, _) => Screen::Card {
                        term,
                        dir,
                        flipped: true,
                        due,
                    },
                    (_, true, Some(g)) => {
                        let t = TERMS[term].term;
                        let (c, writes) = self.progress.answer_card(t, dir, g, now);
                        self.note = Some(format!("{t}: next {}", in_words(c.due - now)));
                        fx.commands
                            .extend(writes.into_iter().map(Command::SaveProgress));
                        serve_card(&self.progress, now)
                    }
                    _ => Screen::Card {
                        term,
                        dir,
                        flipped,
                        due,
                    },
                }
            }
            Screen::NoCard { next } => {
                if matches!(
                    k.code,
                    KeyCode::Enter | KeyCode::Char(' ') | KeyCode::Char('r')
                ) {
                    serve_card(&self.progress, now)
                } else {
                    Screen::NoCard { next }
                }
            }
            Screen::Blank {
                index,
                mut answer,
                result,
            } => match (k.code, result) {
                (KeyCode::Enter, None) => {
                    let ok = exercises::check_blank(&BLANKS[index], &answer);
                    self.save(&mut fx, "blank", BLANKS[index].term, ok, now);
                    self.blanks_done += 1;
                    self.blank_misses.retain(|m| m.0 != index);
                    if !ok {
                        // Back after three other sentences.
                        self.blank_misses.push((index, self.blanks_done + 3));
                    }
                    Screen::Blank {
                        index,
                        answer,
                        result: Some(ok),
                    }
                }
                (KeyCode::Enter, Some(_)) => Screen::Blank {
                    index: self.next_blank(),
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
                diagram,
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
                        let (score, detail) = crate::practice::diagram::score(&diagram, &assigned);
                        self.save(&mut fx, "diagram", "diagram", score == 5, now);
                        // Each wrong slot counts against its term.
                        for (i, r) in detail.iter().enumerate() {
                            if !r.correct {
                                let w = self.progress.miss(LABELS[diagram.answer[i]], now);
                                fx.commands.push(Command::SaveProgress(w));
                            }
                        }
                        self.screen = Screen::Diagram {
                            diagram,
                            assigned,
                            slot,
                            result: Some((score, detail.into_iter().map(|r| r.feedback).collect())),
                        };
                        return fx;
                    }
                    KeyCode::Enter => {
                        self.screen = Screen::Diagram {
                            diagram: Box::new(self.new_diagram()),
                            assigned: [None; 5],
                            slot: 0,
                            result: None,
                        };
                        return fx;
                    }
                    _ => {}
                }
                Screen::Diagram {
                    diagram,
                    assigned,
                    slot,
                    result: if matches!(k.code, KeyCode::Char('1'..='5')) {
                        None
                    } else {
                        result
                    },
                }
            }
            Screen::Explain { verdict, scroll } => {
                if (ctrl && k.code == KeyCode::Char('s')) || k.code == KeyCode::F(2) {
                    let r = check::check(&self.editor.text());
                    self.save(&mut fx, "explain", "explain", r.passed(), now);
                    // A part of the diagram left out or misused is a weak term.
                    for term in check::terms_missed(&r) {
                        let w = self.progress.miss(term, now);
                        fx.commands.push(Command::SaveProgress(w));
                    }
                    Screen::Explain {
                        verdict: Some(Box::new(r)),
                        scroll: 0,
                    }
                } else if verdict.is_some() && k.code == KeyCode::PageDown {
                    Screen::Explain {
                        verdict,
                        scroll: scroll.saturating_add(5),
                    }
                } else if verdict.is_some() && k.code == KeyCode::PageUp {
                    Screen::Explain {
                        verdict,
                        scroll: scroll.saturating_sub(5),
                    }
                } else {
                    self.editor.handle(k);
                    self.editor.follow(10);
                    Screen::Explain { verdict, scroll }
                }
            }
            Screen::Drill(None) => self.drill_idle(k, d, connected, now, &mut fx),
            Screen::Drill(Some(drill)) => self.drill_key(drill, k, ctrl, (now, d.version), &mut fx),
            Screen::Progress(s) => Screen::Progress(if k.code == KeyCode::Char('r') {
                self.progress.summary()
            } else {
                s
            }),
        };
        fx
    }
}

/// The labels, for the diagram screen.
pub fn labels() -> &'static [&'static str; 5] {
    &LABELS
}
