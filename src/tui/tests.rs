//! Console tests without a mesh: state changes through `update`, every view
//! rendered headlessly (ratatui's TestBackend) and snapshotted with insta,
//! colours that carry meaning checked on buffer cells, and the real loop
//! driven by scripted events.

//!
//! - [`views`]: each view drawn, snapshots and colours;
//! - [`input`]: keys, clicks, the palette, filters, help, the real loop;
//! - [`routing`]: quick actions, the editor, confirmations;
//! - [`practice`]: the practice screens and live drills.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::action::{Action, View};
use super::app::{update, App};

/// An insta snapshot under the name and in the folder it had when these
/// tests were one file, so the recorded screens stay the reference.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings
            .bind(|| insta::assert_snapshot!(format!("meshcon__tui__tests__{}", $name), $value));
    }};
}

mod input;
mod practice;
mod routing;
mod views;

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| super::ui::draw(f, app)).expect("draw");
    t
}

fn text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn key(c: KeyCode) -> Action {
    Action::PracticeKey(KeyEvent::new(c, KeyModifiers::NONE))
}

fn show(app: &mut App, v: View) {
    update(app, Action::Show(v));
}
