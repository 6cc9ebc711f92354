//! Keys and mouse to actions, in the k9s habit: `:` commands, `/` filter,
//! `?` help, Tab and digits switch views, hjkl and arrows move, Enter drills
//! down, Esc backs out, `q` quits.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::action::{Action, View};
use super::app::{App, RoutingPane};

/// The action a key means in the current state.
pub fn key(app: &App, k: KeyEvent) -> Option<Action> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    // Ctrl-C asks like q (it would stop an embedded mesh); pressed again
    // while the question is open, it leaves without asking.
    if ctrl && k.code == KeyCode::Char('c') {
        return Some(match app.confirm {
            Some(super::action::Confirm::Quit) => Action::ForceQuit,
            _ => Action::Quit,
        });
    }
    if app.confirm.is_some() {
        return match k.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => Some(Action::Confirm(true)),
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => Some(Action::Confirm(false)),
            _ => None,
        };
    }
    if app.palette.is_some() || app.filter_input.is_some() {
        return line_key(k);
    }
    if app.help {
        return match k.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Char('j') | KeyCode::Down => Some(Action::Down),
            KeyCode::Char('k') | KeyCode::Up => Some(Action::Up),
            KeyCode::PageDown => Some(Action::PageDown),
            KeyCode::PageUp => Some(Action::PageUp),
            _ => Some(Action::ToggleHelp),
        };
    }
    if app.view == View::Routing && app.routing.pane == RoutingPane::Editor {
        return match (k.code, ctrl) {
            (KeyCode::Esc, _) => Some(Action::Back),
            (KeyCode::Char('s'), true) | (KeyCode::F(2), _) => Some(Action::ApplyEditor),
            (KeyCode::Up, _) if k.modifiers.contains(KeyModifiers::ALT) => {
                Some(Action::ScrollFindings(-1))
            }
            (KeyCode::Down, _) if k.modifiers.contains(KeyModifiers::ALT) => {
                Some(Action::ScrollFindings(1))
            }
            _ => Some(Action::EditorKey(k)),
        };
    }
    if app.view == View::Why && app.why.editing {
        return line_key(k);
    }
    if app.view == View::Practice {
        let diagram = app.practice.wants_digits();
        let global = match k.code {
            KeyCode::Char('q')
            | KeyCode::Char('?')
            | KeyCode::Char(':')
            | KeyCode::Tab
            | KeyCode::BackTab => true,
            KeyCode::Char('1'..='5') => !diagram,
            KeyCode::Char('6'..='9') => true,
            _ => false,
        };
        if app.practice.captures_keys() || !global {
            return Some(Action::PracticeKey(k));
        }
    }
    if k.code == KeyCode::Char('l') && matches!(app.view, View::Graph | View::Services | View::Tap)
    {
        return Some(Action::Logs);
    }
    let a = match k.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char(':') => Action::OpenPalette,
        KeyCode::Char('/') => Action::OpenFilter,
        KeyCode::Tab => Action::NextView,
        KeyCode::BackTab => Action::PrevView,
        KeyCode::Char(c @ '1'..='9') => Action::Show(View::ALL[(c as usize) - ('1' as usize)]),
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('h') | KeyCode::Left => Action::Left,
        KeyCode::Char('l') | KeyCode::Right => Action::Right,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::Enter => Action::Enter,
        KeyCode::Esc => Action::Back,
        code => return view_key(app, code),
    };
    Some(a)
}

/// Keys of a one-line input (palette, filter, a form field), readline-ish.
fn line_key(k: KeyEvent) -> Option<Action> {
    // AltGr arrives as Ctrl+Alt on some layouts and must still type its character.
    let ctrl =
        k.modifiers.contains(KeyModifiers::CONTROL) && !k.modifiers.contains(KeyModifiers::ALT);
    match (k.code, ctrl) {
        (KeyCode::Esc, _) => Some(Action::Back),
        (KeyCode::Enter, _) => Some(Action::Submit),
        (KeyCode::Tab, _) => Some(Action::Complete),
        (KeyCode::Backspace, _) | (KeyCode::Char('h'), true) => Some(Action::Backspace),
        (KeyCode::Char('u'), true) => Some(Action::ClearInput),
        (KeyCode::Char(_), true) => None,
        (KeyCode::Char(c), false) => Some(Action::Input(c)),
        _ => None,
    }
}

fn view_key(app: &App, code: KeyCode) -> Option<Action> {
    Some(match (app.view, code) {
        (View::Services, KeyCode::Char('e')) => Action::ToggleExact,
        (View::Services, KeyCode::Char('s')) => Action::SortNext,
        (View::Services, KeyCode::Char('S')) => Action::SortReverse,
        (View::Graph | View::Services | View::Routing, KeyCode::Char('y')) => Action::ShowYaml,
        (View::Graph | View::Services | View::Tap | View::Identities, KeyCode::Char('d')) => {
            Action::Detail
        }
        (View::Tap | View::Events, KeyCode::Char(' ')) => Action::TogglePause,
        (View::Graph, KeyCode::Char('i')) => Action::ToggleIdle,
        (View::Graph, KeyCode::Char('m')) => Action::ToggleMap,
        (View::Graph | View::Services, KeyCode::Char('w')) => Action::NextWindow,
        (View::Services, KeyCode::Char('r')) => Action::ToggleRoutes,
        (View::Routing, KeyCode::Char('e')) => Action::EditSelected,
        (View::Routing, KeyCode::Char('n')) => Action::NewResource,
        (View::Routing, KeyCode::Char('+') | KeyCode::Char('=')) => Action::ShiftCanary(5),
        (View::Routing, KeyCode::Char('-')) => Action::ShiftCanary(-5),
        (View::Routing, KeyCode::Char('r')) => Action::ToggleRetries,
        (View::Routing, KeyCode::Char('f')) => Action::ToggleFault,
        (View::Routing, KeyCode::Char('c')) => Action::ToggleBreaker,
        (View::Routing, KeyCode::Char('H')) => Action::ShowHistory,
        (View::Routing, KeyCode::Char('R')) => Action::Rollback,
        (View::Routing, KeyCode::Char('a')) => Action::ApplyEditor,
        (View::Routing, KeyCode::Char('D')) => Action::DiscardStaged,
        (View::Routing, KeyCode::Char('[')) => Action::ScrollFindings(-1),
        (View::Routing, KeyCode::Char(']')) => Action::ScrollFindings(1),
        (View::Why, KeyCode::Char('i')) => Action::EditField,
        _ => return None,
    })
}

/// The action of a mouse event.
pub fn mouse(m: MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => Some(Action::Click(m.column, m.row)),
        MouseEventKind::ScrollDown => Some(Action::Scroll(3)),
        MouseEventKind::ScrollUp => Some(Action::Scroll(-3)),
        _ => None,
    }
}

/// Every key, for the help overlay: (keys, what).
pub const HELP: &[(&str, &str)] = &[
    ("1-9  Tab  Shift-Tab", "switch view (Graph Services Tap Identities Traces Routing Why Events Practice)"),
    ("j k  ↓ ↑  PgDn PgUp", "move the selection"),
    ("h l  ← →", "Routing: list / history; Why: choose the source workload"),
    ("Enter", "drill down (Graph: fold a service; Services: its traces; Traces: waterfall; Routing: edit)"),
    ("Esc", "back out, clear the filter"),
    (":", "command palette (Tab completes): svc, graph, vs billing, scenario canary, chaos slow auth..."),
    ("/", "filter the current view"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit (asks first when the mesh runs in this console; twice: at once)"),
    ("D", "Routing: discard staged edits (asks first)"),
    ("[ ]  Alt-↑/↓", "Routing: scroll the findings (Alt in the editor)"),
    ("g Home  G End", "first / last row (in Events, the last row follows new events)"),
    ("mouse", "click a tab or a row, scroll lists"),
    ("Graph Services: w", "the window figures cover: 30 s, 1 m, 5 m, 15 m (shown in the title)"),
    ("Graph: i  m", "hide idle edges; the map (boxes and links, clusters as bands) or the tree"),
    ("Services: r", "per VirtualService route and path instead of per version"),
    ("Services: e  s  S", "exact / bucketed percentiles; next sort column; reverse the sort"),
    ("Graph Services Routing: y", "the YAML of the config that applies to the selected service or resource"),
    ("Graph Svc Tap Id: d", "drill down: the service's instances and their state, config, traffic, events, certificates"),
    ("Tap Events: Space", "pause / follow again"),
    ("Graph Services Tap: l", "the selected proxy's access log, following (Esc closes)"),
    ("Routing: e n", "edit the selected resource; new VirtualService"),
    ("Routing: + -", "stage billing's canary weight ±5% in the editor (a applies)"),
    ("Routing: r f c", "stage retries on billing, a delay on auth, a circuit breaker on billing (on/off)"),
    ("Routing: H  R", "history; roll back to the selected version (Enter shows the diff)"),
    ("Routing: a", "apply the editor's YAML (asks first)"),
    ("Editor: Ctrl-S or F2", "apply (asks first); findings appear as you type"),
    ("Why: ↑ ↓  i  Enter", "choose a field, edit it (Enter ends), ask; PgDn PgUp scroll the answer"),
    ("Practice: Enter Space", "start, flip a card / check an answer"),
    ("Practice drill: Ctrl-G", "give up: see the answer, and the drill undoes itself"),
];
