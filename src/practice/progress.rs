//! Practice progress in SQLite in the state directory: Leitner boxes for
//! flashcards (both directions), every exercise result, and streaks. Kept
//! across runs; each write is one transaction.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// Seconds until a card in `box_` is due again (Leitner).
pub fn interval(box_: u32) -> f64 {
    match box_ {
        0 | 1 => 0.0,
        2 => 60.0,
        3 => 600.0,
        4 => 3600.0,
        _ => 86_400.0,
    }
}

/// A flashcard's schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Card {
    /// Leitner box, 1–5.
    pub box_: u32,
    /// When it is due, seconds since the epoch.
    pub due: f64,
    /// Times known.
    pub right: u32,
    /// Times missed.
    pub wrong: u32,
}

/// Totals of one kind of exercise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindSummary {
    /// Exercise kind.
    pub kind: String,
    /// Attempts.
    pub attempts: u32,
    /// Correct ones.
    pub correct: u32,
}

/// The progress screen's content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Per kind.
    pub kinds: Vec<KindSummary>,
    /// Correct answers in a row now.
    pub streak: u32,
    /// Best streak.
    pub best: u32,
    /// Terms missed most.
    pub weak: Vec<(String, u32)>,
    /// Cards per Leitner box (1–5).
    pub boxes: [u32; 5],
}

/// The store.
pub struct Progress {
    db: Connection,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Progress {
    /// Opens (or creates) `practice.db` at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        if let Some(d) = path.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        Self::init(Connection::open(path)?)
    }

    /// A store that forgets everything on exit (when no state directory can be used).
    pub fn in_memory() -> rusqlite::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(db: Connection) -> rusqlite::Result<Self> {
        db.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS cards (term TEXT, dir INTEGER, box INTEGER, due REAL, right INTEGER, wrong INTEGER, PRIMARY KEY (term, dir));
             CREATE TABLE IF NOT EXISTS results (kind TEXT, item TEXT, correct INTEGER, at REAL);
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER);",
        )?;
        Ok(Self { db })
    }

    /// The schedule of a card (new cards are due now, in box 1).
    pub fn card(&self, term: &str, dir: u8) -> Card {
        self.db
            .query_row(
                "SELECT box, due, right, wrong FROM cards WHERE term = ?1 AND dir = ?2",
                params![term, dir],
                |r| {
                    Ok(Card {
                        box_: r.get(0)?,
                        due: r.get(1)?,
                        right: r.get(2)?,
                        wrong: r.get(3)?,
                    })
                },
            )
            .optional()
            .ok()
            .flatten()
            .unwrap_or(Card {
                box_: 1,
                ..Default::default()
            })
    }

    /// Records a flashcard answer: known moves up a box, missed goes back to box 1.
    pub fn answer_card(
        &mut self,
        term: &str,
        dir: u8,
        knew: bool,
        now: f64,
    ) -> rusqlite::Result<Card> {
        let mut c = self.card(term, dir);
        if knew {
            c.box_ = (c.box_ + 1).min(5);
            c.right += 1;
        } else {
            c.box_ = 1;
            c.wrong += 1;
        }
        c.due = now + interval(c.box_);
        let tx = self.db.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO cards (term, dir, box, due, right, wrong) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![term, dir, c.box_, c.due, c.right, c.wrong],
        )?;
        tx.commit()?;
        self.record("flashcard", term, knew, now)?;
        Ok(c)
    }

    fn meta(&self, key: &str) -> u32 {
        self.db
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Records one exercise result and updates the streak.
    pub fn record(
        &mut self,
        kind: &str,
        item: &str,
        correct: bool,
        now: f64,
    ) -> rusqlite::Result<()> {
        let streak = if correct { self.meta("streak") + 1 } else { 0 };
        let best = self.meta("best").max(streak);
        let tx = self.db.transaction()?;
        tx.execute(
            "INSERT INTO results (kind, item, correct, at) VALUES (?1, ?2, ?3, ?4)",
            params![kind, item, correct, now],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('streak', ?1)",
            params![streak],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('best', ?1)",
            params![best],
        )?;
        tx.commit()
    }

    /// Totals, streaks and weak terms.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            streak: self.meta("streak"),
            best: self.meta("best"),
            ..Default::default()
        };
        if let Ok(mut stmt) = self
            .db
            .prepare("SELECT kind, COUNT(*), SUM(correct) FROM results GROUP BY kind ORDER BY kind")
        {
            if let Ok(rows) = stmt.query_map([], |r| {
                Ok(KindSummary {
                    kind: r.get(0)?,
                    attempts: r.get(1)?,
                    correct: r.get::<_, Option<u32>>(2)?.unwrap_or(0),
                })
            }) {
                s.kinds = rows.filter_map(Result::ok).collect();
            }
        }
        if let Ok(mut stmt) = self.db.prepare("SELECT term, SUM(wrong) - SUM(right) AS w FROM cards GROUP BY term HAVING w > 0 ORDER BY w DESC LIMIT 5") {
            if let Ok(rows) = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))) {
                s.weak = rows.filter_map(Result::ok).collect();
            }
        }
        if let Ok(mut stmt) = self
            .db
            .prepare("SELECT box, COUNT(*) FROM cards GROUP BY box")
        {
            if let Ok(rows) = stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?)))
            {
                for (b, n) in rows.filter_map(Result::ok) {
                    if (1..=5).contains(&b) {
                        s.boxes[b as usize - 1] = n;
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leitner_boxes_and_streaks_persist() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("practice.db");
        {
            let mut p = Progress::open(&path).expect("open");
            let c = p.answer_card("mTLS", 0, true, 1000.0).expect("answer");
            assert_eq!(c.box_, 2);
            assert_eq!(c.due, 1060.0);
            p.answer_card("mTLS", 0, true, 1100.0).expect("answer");
            p.answer_card("xDS", 1, false, 1100.0).expect("answer");
            p.record("diagram", "diagram", true, 1200.0)
                .expect("record");
        }
        let p = Progress::open(&path).expect("reopen");
        assert_eq!(p.card("mTLS", 0).box_, 3);
        let s = p.summary();
        assert_eq!(s.streak, 1);
        assert_eq!(s.best, 2);
        assert_eq!(s.weak, vec![("xDS".to_string(), 1)]);
        assert!(s
            .kinds
            .iter()
            .any(|k| k.kind == "flashcard" && k.attempts == 3 && k.correct == 2));
    }
}
