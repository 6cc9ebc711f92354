//! A small multi-line text editor for YAML: enough to edit a resource
//! comfortably (arrows, Home/End, PageUp/PageDown, Enter keeps indentation,
//! Tab inserts two spaces), Unicode-safe (columns count characters).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The editor's text and cursor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Editor {
    /// Lines without their newlines.
    pub lines: Vec<String>,
    /// The cursor's line, an index into `lines`.
    pub row: usize,
    /// Cursor column, in characters.
    pub col: usize,
    /// The first line shown; views move it to keep the cursor in sight.
    pub scroll: usize,
    /// Bumped on every change, so stale validations can be ignored.
    pub seq: u64,
}

fn byte_index(s: &str, col: usize) -> usize {
    s.char_indices().nth(col).map_or(s.len(), |(i, _)| i)
}

impl Editor {
    /// An editor holding `text`.
    pub fn new(text: &str) -> Self {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }
        Self {
            lines,
            ..Default::default()
        }
    }

    /// The whole text.
    pub fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }

    fn line_len(&self, row: usize) -> usize {
        self.lines.get(row).map_or(0, |l| l.chars().count())
    }

    fn clamp(&mut self) {
        self.row = self.row.min(self.lines.len().saturating_sub(1));
        self.col = self.col.min(self.line_len(self.row));
    }

    /// The first line a view of `height` lines shows: from `scroll`, moved
    /// just enough that the cursor is in view.
    pub fn first_shown(&self, height: usize) -> usize {
        let h = height.max(1);
        if self.row < self.scroll {
            self.row
        } else if self.row >= self.scroll + h {
            self.row + 1 - h
        } else {
            self.scroll
        }
    }

    /// Keeps the cursor inside a view of `height` lines.
    pub fn follow(&mut self, height: usize) {
        self.scroll = self.first_shown(height);
    }

    fn insert(&mut self, s: &str) {
        let line = &mut self.lines[self.row];
        let at = byte_index(line, self.col);
        line.insert_str(at, s);
        self.col += s.chars().count();
    }

    /// Handles a key; returns whether the text changed.
    pub fn handle(&mut self, key: KeyEvent) -> bool {
        self.clamp();
        let changed = match key.code {
            KeyCode::Char(c)
                if !key.modifiers.contains(KeyModifiers::CONTROL)
                    && !key.modifiers.contains(KeyModifiers::ALT) =>
            {
                self.insert(&c.to_string());
                true
            }
            KeyCode::Tab => {
                self.insert("  ");
                true
            }
            KeyCode::Enter => {
                let line = &self.lines[self.row];
                let at = byte_index(line, self.col);
                let rest = line[at..].to_string();
                let indent: String = line.chars().take_while(|c| *c == ' ').collect();
                self.lines[self.row].truncate(at);
                self.row += 1;
                self.lines.insert(self.row, format!("{indent}{rest}"));
                self.col = indent.chars().count();
                true
            }
            KeyCode::Backspace => {
                if self.col > 0 {
                    let line = &mut self.lines[self.row];
                    let start = byte_index(line, self.col - 1);
                    let end = byte_index(line, self.col);
                    line.replace_range(start..end, "");
                    self.col -= 1;
                    true
                } else if self.row > 0 {
                    let line = self.lines.remove(self.row);
                    self.row -= 1;
                    self.col = self.line_len(self.row);
                    self.lines[self.row].push_str(&line);
                    true
                } else {
                    false
                }
            }
            KeyCode::Delete => {
                if self.col < self.line_len(self.row) {
                    let line = &mut self.lines[self.row];
                    let start = byte_index(line, self.col);
                    let end = byte_index(line, self.col + 1);
                    line.replace_range(start..end, "");
                    true
                } else if self.row + 1 < self.lines.len() {
                    let next = self.lines.remove(self.row + 1);
                    self.lines[self.row].push_str(&next);
                    true
                } else {
                    false
                }
            }
            KeyCode::Left => {
                if self.col > 0 {
                    self.col -= 1;
                } else if self.row > 0 {
                    self.row -= 1;
                    self.col = self.line_len(self.row);
                }
                false
            }
            KeyCode::Right => {
                if self.col < self.line_len(self.row) {
                    self.col += 1;
                } else if self.row + 1 < self.lines.len() {
                    self.row += 1;
                    self.col = 0;
                }
                false
            }
            KeyCode::Up => {
                self.row = self.row.saturating_sub(1);
                false
            }
            KeyCode::Down => {
                self.row = (self.row + 1).min(self.lines.len() - 1);
                false
            }
            KeyCode::Home => {
                self.col = 0;
                false
            }
            KeyCode::End => {
                self.col = self.line_len(self.row);
                false
            }
            KeyCode::PageUp => {
                self.row = self.row.saturating_sub(10);
                false
            }
            KeyCode::PageDown => {
                self.row = (self.row + 10).min(self.lines.len() - 1);
                false
            }
            _ => false,
        };
        self.clamp();
        if changed {
            self.seq += 1;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn typing_enter_and_backspace() {
        let mut e = Editor::new("spec:\n  hosts: [a]");
        e.row = 1;
        e.col = 15;
        e.handle(key(KeyCode::End));
        assert!(e.handle(key(KeyCode::Enter)));
        assert_eq!(e.lines[2], "  ", "indentation kept");
        for c in "http: []".chars() {
            e.handle(key(KeyCode::Char(c)));
        }
        assert_eq!(e.text(), "spec:\n  hosts: [a]\n  http: []\n");
        e.handle(key(KeyCode::Home));
        e.handle(key(KeyCode::Backspace));
        assert_eq!(e.lines.len(), 2);
    }

    #[test]
    fn unicode_is_counted_in_characters() {
        let mut e = Editor::new("héllo");
        e.col = 2;
        e.handle(key(KeyCode::Char('→')));
        assert_eq!(e.lines[0], "hé→llo");
        e.handle(key(KeyCode::Backspace));
        e.handle(key(KeyCode::Backspace));
        assert_eq!(e.lines[0], "hllo");
    }
}
