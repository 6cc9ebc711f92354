//! Every input of the console in one enum: keys, mouse, resizes, ticks, and
//! what the data tasks learn. The loop in `tui.rs` reads one channel.

use std::time::Duration;

use ratatui::crossterm::event::{self, KeyEvent, MouseEvent};
use tokio::sync::mpsc;

use super::data::DataEvent;

/// One input.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key press (releases are dropped where the terminal reports them).
    Key(KeyEvent),
    /// A click or a wheel turn.
    Mouse(MouseEvent),
    /// The terminal changed size.
    Resize(u16, u16),
    /// Time passed (countdowns, freshness).
    Tick,
    /// Something the data tasks learned.
    Data(Box<DataEvent>),
}

impl From<DataEvent> for Event {
    fn from(d: DataEvent) -> Self {
        Event::Data(Box::new(d))
    }
}

/// Reads the terminal in a thread of its own (crossterm's reads block) and
/// ticks every 250 ms.
pub fn spawn_terminal_input(tx: mpsc::Sender<Event>) {
    let keys = tx.clone();
    std::thread::spawn(move || loop {
        match event::poll(Duration::from_millis(200)) {
            Ok(true) => {
                let ev = match event::read() {
                    Ok(event::Event::Key(k)) if k.kind != event::KeyEventKind::Release => {
                        Event::Key(k)
                    }
                    Ok(event::Event::Mouse(m)) => Event::Mouse(m),
                    Ok(event::Event::Resize(w, h)) => Event::Resize(w, h),
                    Ok(_) => continue,
                    Err(_) => return,
                };
                if keys.blocking_send(ev).is_err() {
                    return;
                }
            }
            Ok(false) => {
                if keys.is_closed() {
                    return;
                }
            }
            Err(_) => return,
        }
    });
    tokio::spawn(async move {
        let mut t = tokio::time::interval(Duration::from_millis(250));
        loop {
            t.tick().await;
            if tx.send(Event::Tick).await.is_err() {
                return;
            }
        }
    });
}
