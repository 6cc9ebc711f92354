//! The console: a live TUI over a mesh, through its public interfaces only.
//!
//! - [`action`]: the verbs; [`app`]: state and `update`, the only place it changes;
//! - [`mesh_data`]: what the console knows of the mesh;
//! - [`model`]: rows and hit-testing, read by `update` and the views alike;
//! - [`event`]: every input in one enum; [`keys`]: keys and mouse to actions;
//! - [`data`]: background tasks that talk to the mesh and write progress;
//! - [`ui`]: one pure draw function per view (depends on `app` and `model`,
//!   never the other way round);
//! - [`editor`], [`scenario`], [`practice`]: the YAML editor, demo scenarios, practice.
//!
//! The loop is generic over the ratatui backend and takes its events from a
//! channel, so tests drive the real loop on a `TestBackend`.

pub mod action;
pub mod app;
pub mod data;
pub mod editor;
pub mod event;
pub mod fixtures;
pub mod keys;
pub mod mesh_data;
pub mod model;
pub mod practice;
pub mod quick;
pub mod scenario;
pub mod source;
pub mod ui;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::Path;

use ratatui::backend::Backend;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use action::{Action, View};
use app::{update, App};
use data::Command;
use event::Event;

/// Puts the terminal back: raw mode off, main screen, no mouse capture.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let mut out = std::io::stdout();
    let _ = execute!(
        out,
        LeaveAlternateScreen,
        DisableMouseCapture,
        ratatui::crossterm::cursor::Show
    );
    let _ = out.flush();
}

/// Restores the terminal when dropped, whatever the exit path.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Turns one input into actions.
pub fn actions(app: &App, ev: Event) -> Vec<Action> {
    match ev {
        Event::Key(k) => keys::key(app, k).into_iter().collect(),
        Event::Mouse(m) => keys::mouse(m).into_iter().collect(),
        Event::Resize(w, h) => vec![Action::Resize(w, h)],
        Event::Tick => vec![Action::Tick],
        Event::Data(d) => vec![Action::Data(d)],
    }
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The main loop: read events, update, send commands, draw (once per batch
/// of events, so a burst of data costs one frame).
pub async fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
) -> anyhow::Result<()> {
    let size = terminal
        .size()
        .map_err(|e| anyhow::anyhow!("terminal size: {e:?}"))?;
    app.size = (size.width, size.height);
    app.now = now_s();
    terminal
        .draw(|f| ui::draw(f, app))
        .map_err(|e| anyhow::anyhow!("draw: {e:?}"))?;
    let mut last_draw = std::time::Instant::now();
    let mut pending = false;
    loop {
        // Keys are drawn at once; data and ticks at most once per
        // FRAME_GAP, so a second's burst of data events is one frame, not
        // six (an idle console redrew ten times a second).
        let first = if pending {
            let wait = FRAME_GAP.saturating_sub(last_draw.elapsed());
            match tokio::time::timeout(wait, events.recv()).await {
                Ok(Some(ev)) => Some(ev),
                Ok(None) => return Ok(()),
                Err(_) => None,
            }
        } else {
            match events.recv().await {
                Some(ev) => Some(ev),
                None => return Ok(()),
            }
        };
        let mut batch: Vec<Event> = first.into_iter().collect();
        while !batch.is_empty() && batch.len() <= 256 {
            match events.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let urgent = batch
            .iter()
            .any(|ev| matches!(ev, Event::Key(_) | Event::Mouse(_) | Event::Resize(..)));
        pending |= !batch.is_empty();
        for ev in batch {
            if matches!(ev, Event::Tick) {
                app.now = now_s();
            }
            for a in actions(app, ev) {
                let mut dropped = Vec::new();
                for c in update(app, a) {
                    if let Err(mpsc::error::TrySendError::Full(c)) = commands.try_send(c) {
                        dropped.push(c.name());
                    }
                }
                // Said, not silently lost: the user can try again.
                for what in dropped {
                    update(app, Action::CommandDropped(what));
                }
            }
            if app.quit {
                return Ok(());
            }
        }
        if pending && (urgent || last_draw.elapsed() >= FRAME_GAP) {
            terminal
                .draw(|f| ui::draw(f, app))
                .map_err(|e| anyhow::anyhow!("draw: {e:?}"))?;
            last_draw = std::time::Instant::now();
            pending = false;
        }
    }
}

/// The least time between two frames not asked for by a key, click or resize.
const FRAME_GAP: std::time::Duration = std::time::Duration::from_millis(200);

static THRESHOLDS: std::sync::OnceLock<app::Thresholds> = std::sync::OnceLock::new();

/// When the console's figures turn yellow and red (`--thresholds`), for
/// every console this process opens.
pub fn use_thresholds(t: app::Thresholds) {
    let _ = THRESHOLDS.set(t);
}

/// Opens the console on `source` and runs until the user quits.
pub async fn run(
    source: source::Source,
    embedded: bool,
    start: View,
    state_dir: &Path,
) -> anyhow::Result<()> {
    use crate::practice::progress::Progress;
    crate::client::identify_as("console");
    let db = state_dir.join("practice.db");
    // Drills (and their undo) only ever touch a meshcon mesh; an empty
    // address is a console with no mesh to drill on.
    let (addr, label) = match &source {
        source::Source::Meshcon { addr } => (addr.clone(), addr.clone()),
        source::Source::Real(r) => (String::new(), r.label(r.dialect)),
    };
    let addr = addr.as_str();
    // A drill an earlier run could not undo is healed before anything else.
    let healed = if addr.is_empty() {
        None
    } else {
        practice::drill::heal_leftover(addr, embedded, &db).await
    };
    let progress = Progress::open(&db)
        .or_else(|_| Progress::in_memory())
        .map_err(|e| anyhow::anyhow!("practice progress store: {e}"))?;
    let ledger = progress
        .load()
        .map_err(|e| anyhow::anyhow!("practice progress: {e}"))?;
    let mut app = App::new(&label, embedded, practice::Practice::new(ledger));
    app.practice.addr = addr.to_string();
    app.practice.note = healed;
    app.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    app.thresholds = THRESHOLDS.get().copied().unwrap_or_default();
    app.view = start;

    // Restore the terminal before a panic message is printed.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode()?;
    let guard = TerminalGuard;
    execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let mut terminal = Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;

    let (tx, rx) = mpsc::channel(1024);
    event::spawn_terminal_input(tx.clone());
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let background = source::spawn(source, tx, cmd_rx, cancel.clone(), progress)?;
    let result = run_loop(&mut terminal, &mut app, rx, cmd_tx).await;
    cancel.cancel();
    drop(terminal);
    drop(guard);
    background.finish().await;
    // Quitting during a drill undoes it; if the mesh does not answer, the
    // next start does.
    if let Some(steps) = app.practice.pending_undo() {
        if let Err(e) = practice::drill::undo_now(addr, &steps, &db).await {
            eprintln!("meshcon: the drill could not be undone now ({e}); the next start will");
        }
    }
    result
}
