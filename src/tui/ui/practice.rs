//! The practice screens.
//!
//! ```text
//! ┌ Practice ─────────────────────────┐┌ Glossary · / search · s show me ───┐
//! │ ▶ Glossary                         ││ mTLS  (em-tee-el-ess)               │
//! │   Flashcards                       ││ Mutual TLS: both sides present ...  │
//! └────────────────────────────────────┘└─────────────────────────────────────┘
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{block, bold, fg, selected};
use crate::practice::exercises::{self, BLANKS};
use crate::practice::glossary::{self, TERMS};
use crate::tui::app::App;
use crate::tui::practice::{Screen, MENU};

/// A practice panel: its lines, then the last note (feedback from the previous action) in cyan.
fn noted_panel(
    f: &mut Frame,
    area: Rect,
    app: &App,
    mut lines: Vec<Line<'static>>,
    trim: bool,
    title: &str,
) {
    if let Some(n) = &app.practice.note {
        lines.push(Line::styled(n.clone(), fg(app, Color::Cyan)));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim })
            .block(block(title)),
        area,
    );
}

fn menu(f: &mut Frame, area: Rect, app: &App) {
    let p = &app.practice;
    let mut lines: Vec<Line> = MENU
        .iter()
        .enumerate()
        .map(|(i, (name, what))| {
            let style = if i == p.menu && p.screen == Screen::Menu {
                selected(app)
            } else {
                Default::default()
            };
            let due = if i == 1 {
                match p.cards_due(app.now) {
                    (0, Some(at)) => format!(
                        " · nothing due, next {}",
                        crate::practice::schedule::in_words(at - app.now)
                    ),
                    (0, None) => String::new(),
                    (n, _) => format!(" · {n} due"),
                }
            } else {
                String::new()
            };
            Line::from(vec![
                Span::styled(
                    format!(
                        "{} {}",
                        if i == p.menu { "▶" } else { " " },
                        super::pad(name, 24.max(super::width(name)))
                    ),
                    style,
                ),
                Span::styled(format!("{what}{due}"), fg(app, Color::DarkGray)),
            ])
        })
        .collect();
    let s = p.summary();
    lines.push(Line::raw(""));
    lines.push(Line::raw(format!(
        "streak {} (best {}) · {} terms",
        s.streak,
        s.best,
        TERMS.len()
    )));
    // Not trimmed: the unselected rows' leading space keeps the names aligned.
    noted_panel(
        f,
        area,
        app,
        lines,
        false,
        "Practice · j/k Enter · Esc back",
    );
}

fn glossary_screen(
    f: &mut Frame,
    area: Rect,
    app: &App,
    query: &str,
    typing: bool,
    sel: usize,
    open: bool,
) {
    let hits = glossary::search(query);
    let [l, r] = Layout::horizontal([Constraint::Length(26), Constraint::Min(20)]).areas(area);
    let height = l.height.saturating_sub(2) as usize;
    let off = super::offset(sel, height);
    let list: Vec<Line> = hits
        .iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, t)| {
            Line::styled(
                t.term.to_string(),
                if i == sel {
                    selected(app)
                } else {
                    Default::default()
                },
            )
        })
        .collect();
    let title = if typing || !query.is_empty() {
        format!("/{query}{}", if typing { "▏" } else { "" })
    } else {
        "Terms · / search".into()
    };
    f.render_widget(Paragraph::new(list).block(block(title)), l);
    let Some(t) = hits.get(sel) else {
        f.render_widget(
            Paragraph::new("no term matches").block(block("Glossary")),
            r,
        );
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(t.term.to_string(), bold()),
            Span::raw(t.say.map(|s| format!("  ({s})")).unwrap_or_default()),
        ]),
        Line::raw(""),
        Line::raw(t.meaning.to_string()),
        Line::raw(""),
    ];
    if open || r.height > 12 {
        for e in t.examples {
            lines.push(Line::styled(format!("“{e}”"), fg(app, Color::Cyan)));
        }
        lines.push(Line::raw(""));
        lines.push(Line::raw(format!("related: {}", t.related.join(", "))));
        if let Some((view, _)) = t.show {
            lines.push(Line::styled(
                format!("s: show me in the console ({view:?} view)"),
                fg(app, Color::Green),
            ));
        }
    } else {
        lines.push(Line::styled(
            "Enter: examples, related terms, show me",
            fg(app, Color::DarkGray),
        ));
    }
    noted_panel(
        f,
        r,
        app,
        lines,
        true,
        "Glossary · j/k · Enter · s show me · Esc menu",
    );
}

/// Draws the practice view.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let p = &app.practice;
    match &p.screen {
        Screen::Menu => menu(f, area, app),
        Screen::Glossary {
            query,
            typing,
            selected: sel,
            open,
        } => glossary_screen(f, area, app, query, *typing, *sel, *open),
        Screen::NoCard { next } => {
            let lines = vec![
                Line::styled(
                    "Nothing due: every card you have seen is scheduled later.",
                    bold(),
                ),
                Line::raw(""),
                Line::raw(match next {
                    Some(at) => format!(
                        "0 due · next {}",
                        crate::practice::schedule::in_words(at - app.now)
                    ),
                    None => "0 due".to_string(),
                }),
                Line::styled("Enter: look again · Esc menu", fg(app, Color::DarkGray)),
            ];
            noted_panel(
                f,
                area,
                app,
                lines,
                true,
                "Flashcards · spaced repetition (SM-2) · Esc menu",
            );
        }
        Screen::Card {
            term,
            dir,
            flipped,
            due,
        } => {
            let t = &TERMS[*term];
            let (front, back) = if *dir == 0 {
                (t.term.to_string(), t.meaning.to_string())
            } else {
                (t.meaning.to_string(), t.term.to_string())
            };
            let mut lines = vec![
                Line::styled(
                    if *dir == 0 {
                        "What does this mean?"
                    } else {
                        "Which term is this?"
                    },
                    fg(app, Color::DarkGray),
                ),
                Line::raw(""),
                Line::styled(front, bold()),
                Line::raw(""),
            ];
            if *flipped {
                lines.push(Line::styled(back, fg(app, Color::Green)));
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    "How well did you know it?  1 again · 2 hard · 3 good · 4 easy",
                    bold(),
                ));
            } else {
                lines.push(Line::styled("Space: flip", fg(app, Color::DarkGray)));
            }
            let c = p.summary();
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!(
                    "{due} due · cards learning / <1 week / <1 month / longer: {:?} · streak {}",
                    c.boxes, c.streak
                ),
                fg(app, Color::DarkGray),
            ));
            noted_panel(
                f,
                area,
                app,
                lines,
                true,
                "Flashcards · spaced repetition (SM-2) · Esc menu",
            );
        }
        Screen::Blank {
            index,
            answer,
            result,
        } => {
            let b = &BLANKS[*index];
            let mut lines = vec![
                Line::raw(b.sentence.replace("____", "______")),
                Line::raw(""),
                Line::from(vec![
                    Span::styled("answer: ", bold()),
                    Span::raw(format!(
                        "{answer}{}",
                        if result.is_none() { "▏" } else { "" }
                    )),
                ]),
            ];
            let meaning = glossary::find(b.term).map_or("", |t| t.meaning);
            match result {
                Some(true) => lines.push(Line::styled(
                    format!("✓ right: {}", b.term),
                    fg(app, Color::Green),
                )),
                Some(false) => lines.push(Line::styled(
                    format!(
                        "✗ not quite — the term is {} (it comes back in a few sentences)",
                        b.term
                    ),
                    fg(app, Color::Red),
                )),
                None => {}
            }
            if result.is_some() {
                lines.push(Line::raw(format!("{}: {meaning}", b.term)));
            }
            lines.push(Line::styled(
                if result.is_none() {
                    "Enter checks"
                } else {
                    "Enter: next sentence"
                },
                fg(app, Color::DarkGray),
            ));
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: true })
                    .block(block(format!(
                        "Fill in the blank {}/{} · Esc menu",
                        index + 1,
                        BLANKS.len()
                    ))),
                area,
            );
        }
        Screen::Diagram {
            diagram,
            assigned,
            slot,
            result,
        } => {
            let [d, r] = Layout::vertical([
                Constraint::Length(diagram.lines.len() as u16 + 2),
                Constraint::Min(5),
            ])
            .areas(area);
            f.render_widget(
                Paragraph::new(
                    diagram
                        .lines
                        .iter()
                        .map(|l| Line::raw(l.as_str()))
                        .collect::<Vec<_>>(),
                )
                .block(block(
                    "Label the diagram · a-e or j/k pick a slot · 1-5 put a label · Enter scores",
                )),
                d,
            );
            let mut lines: Vec<Line> = (0..5)
                .map(|i| {
                    let slot_name = (b'A' + i as u8) as char;
                    let label = assigned[i].map(|l| exercises::LABELS[l]).unwrap_or("—");
                    Line::styled(
                        format!("[{slot_name}] {label}"),
                        if i == *slot {
                            selected(app)
                        } else {
                            Default::default()
                        },
                    )
                })
                .collect();
            lines.push(Line::raw(""));
            lines.push(Line::raw(
                exercises::LABELS
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("{}:{l}", i + 1))
                    .collect::<Vec<_>>()
                    .join("  "),
            ));
            if let Some((score, feedback)) = result {
                lines.push(Line::styled(
                    format!("score {score}/5"),
                    if *score == 5 {
                        fg(app, Color::Green)
                    } else {
                        fg(app, Color::Yellow)
                    },
                ));
                for fb in feedback {
                    lines.push(Line::styled(
                        fb.clone(),
                        if fb.ends_with('✓') {
                            fg(app, Color::Green)
                        } else {
                            fg(app, Color::Red)
                        },
                    ));
                }
            }
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: true })
                    .block(block("Labels")),
                r,
            );
        }
        Screen::Explain { verdict, scroll } => {
            use crate::practice::check;
            let report_rows = if verdict.is_some() {
                area.height / 2
            } else {
                3
            };
            let [q, e, v] = Layout::vertical([
                Constraint::Length(4),
                Constraint::Min(6),
                Constraint::Length(report_rows),
            ])
            .areas(area);
            f.render_widget(
                Paragraph::new(check::PROMPT)
                    .wrap(Wrap { trim: true })
                    .block(block("The exercise")),
                q,
            );
            let ed = &p.editor;
            let words = ed
                .text()
                .split_whitespace()
                .filter(|w| w.chars().any(char::is_alphanumeric))
                .count();
            let lines: Vec<Line> = ed
                .lines
                .iter()
                .enumerate()
                .skip(ed.scroll)
                .map(|(i, l)| {
                    if i == ed.row {
                        let chars: Vec<char> = l.chars().collect();
                        let before: String = chars.iter().take(ed.col).collect();
                        let after: String = chars.iter().skip(ed.col).collect();
                        Line::raw(format!("{before}▏{after}"))
                    } else {
                        Line::raw(l.clone())
                    }
                })
                .collect();
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(format!(
                    "Your explanation ({words} words; {}–{} accepted) · Ctrl-S or F2 checks · Esc menu",
                    check::MIN_WORDS,
                    check::MAX_WORDS
                ))),
                e,
            );
            let out: Vec<Line> = match verdict {
                Some(r) => report_lines(app, r),
                None => vec![Line::styled(
                    "the checker shows each point of the rubric, found or missing, with the sentence that made it",
                    fg(app, Color::DarkGray),
                )],
            };
            let para = Paragraph::new(out).wrap(Wrap { trim: true });
            let total = para.line_count(v.width.saturating_sub(2)) as u16;
            let room = v.height.saturating_sub(2);
            let scroll = (*scroll).min(total.saturating_sub(room));
            let title = if total > room {
                format!(
                    "Checker · lines {}-{} of {total} · PgDn PgUp scroll",
                    scroll + 1,
                    (scroll + room).min(total)
                )
            } else {
                "Checker".to_string()
            };
            f.render_widget(para.scroll((scroll, 0)).block(block(title)), v);
        }
        Screen::Drill(drill) => {
            let mut lines = Vec::new();
            match drill {
                None => {
                    lines.push(Line::raw("A fault or rule will be hidden in the running mesh. Find it in the console (1-8 switch views),"));
                    lines.push(Line::raw("come back with 9, say what happened and which resource fixes it. The drill undoes itself."));
                    lines.push(Line::raw(""));
                    lines.push(Line::raw(format!(
                        "kind: {} · c changes",
                        p.drill_choice.map_or("any, at random", |k| k.name())
                    )));
                    lines.push(Line::styled(
                        if app.conn.connected {
                            "Enter: start a drill"
                        } else if app.conn.addr.is_empty() {
                            "no mesh: drills run on one you start (`meshcon`) or name (`meshcon practice --mesh ADDR`)"
                        } else {
                            "not connected to the mesh yet"
                        },
                        bold(),
                    ));
                }
                Some(d) => {
                    lines.push(Line::styled(d.kind().question(), bold()));
                    lines.push(Line::from(vec![
                        Span::raw("your answer: "),
                        Span::styled(
                            format!(
                                "{}{}",
                                d.what,
                                if d.answering && d.field == 0 && d.result.is_none() {
                                    "▏"
                                } else {
                                    ""
                                }
                            ),
                            if d.field == 0 {
                                selected(app)
                            } else {
                                Default::default()
                            },
                        ),
                    ]));
                    lines.push(Line::from(vec![
                        Span::raw(format!("{} ", d.kind().fix_question())),
                        Span::styled(
                            format!(
                                "{}{}",
                                d.fix,
                                if d.answering && d.field == 1 && d.result.is_none() {
                                    "▏"
                                } else {
                                    ""
                                }
                            ),
                            if d.field == 1 {
                                selected(app)
                            } else {
                                Default::default()
                            },
                        ),
                    ]));
                    lines.push(Line::raw(""));
                    match &d.result {
                        Some((ok, text)) => {
                            lines.push(Line::styled(text.clone(), if *ok { fg(app, Color::Green) } else { fg(app, Color::Red) }));
                            lines.push(Line::styled("Enter: another drill", fg(app, Color::DarkGray)));
                        }
                        None if d.answering => lines.push(Line::styled("Tab switches field · Enter answers · Esc goes back to looking · Ctrl-G gives up", fg(app, Color::DarkGray))),
                        None => lines.push(Line::styled("The drill is on: look around the console (1-8), come back with 9 and press Enter to answer · Ctrl-G gives up · Esc abandons (and undoes)", fg(app, Color::Yellow))),
                    }
                }
            }
            noted_panel(f, area, app, lines, true, "Live drill");
        }
        Screen::Progress(s) => {
            let mut lines = vec![
                Line::styled(format!("streak {} · best {}", s.streak, s.best), bold()),
                Line::raw(""),
            ];
            for k in &s.kinds {
                lines.push(Line::raw(format!(
                    "{:<10} {:>3}/{:<3} correct",
                    k.kind, k.correct, k.attempts
                )));
            }
            if s.kinds.is_empty() {
                lines.push(Line::raw("nothing practised yet"));
            }
            lines.push(Line::raw(""));
            lines.push(Line::raw(format!(
                "flashcards learning / <1 week / <1 month / longer: {:?}",
                s.boxes
            )));
            if !s.weak.is_empty() {
                lines.push(Line::styled(
                    format!(
                        "weak terms: {}",
                        s.weak
                            .iter()
                            .map(|(t, n)| format!("{t} ({n})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    fg(app, Color::Yellow),
                ));
            }
            f.render_widget(
                Paragraph::new(lines).block(block("Progress · r refreshes · Esc menu")),
                area,
            );
        }
    }
}

/// The checker's report, most telling first: the verdict and its reasons,
/// what is wrong and why, then the rubric with the sentence behind each
/// point, what could not be judged, and the model answer.
fn report_lines(app: &App, r: &crate::practice::check::Report) -> Vec<Line<'static>> {
    let red = fg(app, Color::Red);
    let green = fg(app, Color::Green);
    let grey = fg(app, Color::DarkGray);
    let mut out = vec![Line::styled(
        format!(
            "Verdict: {} ({} words; {}–{} accepted)",
            if r.passed() { "PASS" } else { "not yet" },
            r.words,
            r.accepted_words[0],
            r.accepted_words[1]
        ),
        if r.passed() { green } else { red }.add_modifier(ratatui::style::Modifier::BOLD),
    )];
    for why in &r.reasons {
        out.push(Line::styled(format!("· {why}"), red));
    }
    for m in &r.misconceptions {
        out.push(Line::styled(format!("✗ “{}”", m.sentence), red));
        out.push(Line::raw(format!("  {}", m.explanation)));
    }
    for p in &r.points {
        let (mark, style) = match (p.found, p.required) {
            (true, _) => ("✓", green),
            (false, true) => ("✗", red),
            (false, false) => ("·", grey),
        };
        out.push(Line::styled(format!("{mark} {}", p.says), style));
        if let Some(sentence) = &p.sentence {
            out.push(Line::styled(format!("  “{sentence}”"), grey));
        }
    }
    for u in &r.unjudged {
        out.push(Line::styled(format!("? could not judge: “{u}”"), grey));
    }
    out.push(Line::raw(format!("model answer: {}", r.model_answer)));
    out
}
