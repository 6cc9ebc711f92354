//! Practice progress: flashcard schedules (SM-2, both directions), every
//! exercise result, streaks, the terms missed anywhere, and a live drill
//! not yet undone.
//!
//! Two halves, so that the console's `update` never touches the disk:
//! - [`Ledger`] is progress in memory. The practice screens read it and
//!   change it; each change returns the [`Write`] that makes it last.
//! - [`Progress`] is the SQLite store in the state directory. It loads a
//!   ledger when the console opens and applies writes, each in one
//!   transaction, on the console's background side.
//!
//! The schema is versioned with `PRAGMA user_version` and an ordered list of
//! migrations applied at open; a database from before the versioning (no
//! user_version) has version 1's tables already, which migration 1 keeps.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// The schema, one migration per version, oldest first: migration `i` takes
/// a database from version `i` to `i + 1`. Append only; never edit one.
const MIGRATIONS: &[&str] = &[
    // 1: cards, every result, and the streak counters.
    "CREATE TABLE IF NOT EXISTS cards (term TEXT, dir INTEGER, box INTEGER, due REAL, right INTEGER, wrong INTEGER, PRIMARY KEY (term, dir));
     CREATE TABLE IF NOT EXISTS results (kind TEXT, item TEXT, correct INTEGER, at REAL);
     CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER);",
    // 2: SM-2 schedules (a Leitner box becomes reps, its wait an interval),
    // and the drill to undo if the console stops before it does.
    "ALTER TABLE cards ADD COLUMN ease REAL NOT NULL DEFAULT 2.5;
     ALTER TABLE cards ADD COLUMN interval REAL NOT NULL DEFAULT 0;
     ALTER TABLE cards ADD COLUMN reps INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE cards ADD COLUMN last REAL NOT NULL DEFAULT 0;
     UPDATE cards SET reps = MAX(box - 1, 0), interval = CASE WHEN box >= 5 THEN 1.0 ELSE 0.0 END, last = CASE WHEN right + wrong > 0 THEN MAX(due - 1.0, 1.0) ELSE 0 END;
     CREATE TABLE IF NOT EXISTS drill (id INTEGER PRIMARY KEY CHECK (id = 1), addr TEXT NOT NULL, undo TEXT NOT NULL);",
];

pub use super::schedule::Card;
use super::schedule::{available_at, Grade};
use crate::practice::drill::Step;

/// A live drill injected and not yet undone, kept until it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Leftover {
    /// The console API of the mesh it was injected into.
    pub addr: String,
    /// The steps that undo it.
    pub undo: Vec<Step>,
}

/// The flashcard to serve, or when the next one is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// A card due now: (term, direction).
    Card(&'static str, u8),
    /// Nothing due; the next card is due at this time (None: every card
    /// waits for its other direction to be learnt first, which cannot be).
    Wait(Option<f64>),
}

/// Totals of one kind of exercise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindSummary {
    /// `flashcard`, `blank`, `diagram`, `explain` or `drill`.
    pub kind: String,
    /// Answers given.
    pub attempts: u32,
    /// Answers judged right.
    pub correct: u32,
}

/// The progress screen's content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Totals per kind of exercise, by kind.
    pub kinds: Vec<KindSummary>,
    /// Correct answers in a row now.
    pub streak: u32,
    /// The longest streak so far.
    pub best: u32,
    /// Terms missed more than known in any exercise, worst first (at most five).
    pub weak: Vec<(String, u32)>,
    /// Cards by interval: learning, under a week, under a month, longer.
    pub boxes: [u32; 4],
}

/// One change to the store, computed by the [`Ledger`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A card's new schedule (flashcard answers also write a result).
    Card {
        /// The glossary term.
        term: String,
        /// 0: term → meaning, 1: meaning → term.
        dir: u8,
        /// Its schedule after the answer.
        card: Card,
    },
    /// A term missed outside flashcards (a diagram slot, a drill's topic).
    Miss {
        /// The glossary term.
        term: String,
        /// When, seconds since the epoch.
        at: f64,
    },
    /// The drill to undo if the console stops first; None once undone.
    Leftover(Option<Leftover>),
    /// An exercise result and the streak it leaves.
    Result {
        /// The kind of exercise.
        kind: String,
        /// Which term, sentence or drill.
        item: String,
        /// Judged right.
        correct: bool,
        /// When, seconds since the epoch.
        at: f64,
        /// Correct answers in a row after this one.
        streak: u32,
        /// The longest streak after this one.
        best: u32,
    },
}

/// Progress in memory: what the practice screens read and change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    cards: HashMap<(String, u8), Card>,
    /// (attempts, correct) per kind of exercise.
    kinds: BTreeMap<String, (u32, u32)>,
    streak: u32,
    best: u32,
    /// (right, wrong) per item of every result but flashcards'.
    items: BTreeMap<String, (u32, u32)>,
    /// A drill a previous run did not undo.
    pub leftover: Option<Leftover>,
}

impl Ledger {
    /// The schedule of a card (a new card is due now).
    pub fn card(&self, term: &str, dir: u8) -> Card {
        self.cards
            .get(&(term.to_string(), dir))
            .copied()
            .unwrap_or_default()
    }

    /// A flashcard answer, graded. Returns the card's new schedule and the
    /// writes that keep it.
    pub fn answer_card(
        &mut self,
        term: &str,
        dir: u8,
        grade: Grade,
        now: f64,
    ) -> (Card, Vec<Write>) {
        let c = self.card(term, dir).answer(grade, now);
        self.cards.insert((term.to_string(), dir), c);
        let card = Write::Card {
            term: term.to_string(),
            dir,
            card: c,
        };
        (
            c,
            vec![
                card,
                self.record("flashcard", term, grade != Grade::Again, now),
            ],
        )
    }

    /// The card to serve at `now` among `terms`: due reviews first, the most
    /// overdue first, then new cards in the terms' order; or when the next
    /// one is due. Also says how many are due now.
    pub fn next_card(&self, terms: &[&'static str], now: f64) -> (Next, usize) {
        let mut due: Vec<(bool, f64, usize, &'static str, u8)> = Vec::new();
        let mut wait: Option<f64> = None;
        for (i, t) in terms.iter().enumerate() {
            for dir in 0..2u8 {
                let c = self.card(t, dir);
                let Some(at) = available_at(&c, &self.card(t, 1 - dir), dir) else {
                    continue;
                };
                if at <= now {
                    due.push((c.is_new(), at, i * 2 + usize::from(dir), t, dir));
                } else {
                    wait = Some(wait.map_or(at, |w: f64| w.min(at)));
                }
            }
        }
        due.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        let n = due.len();
        match due.first() {
            Some(&(_, _, _, t, d)) => (Next::Card(t, d), n),
            None => (Next::Wait(wait), 0),
        }
    }

    /// (right, wrong) answers about `item` outside flashcards.
    pub fn item(&self, item: &str) -> (u32, u32) {
        self.items.get(item).copied().unwrap_or_default()
    }

    /// A term missed outside flashcards, for "weak terms".
    pub fn miss(&mut self, term: &str, now: f64) -> Write {
        self.items.entry(term.to_string()).or_default().1 += 1;
        Write::Miss {
            term: term.to_string(),
            at: now,
        }
    }

    /// One exercise result, and the streak it makes or breaks.
    pub fn record(&mut self, kind: &str, item: &str, correct: bool, now: f64) -> Write {
        self.streak = if correct { self.streak + 1 } else { 0 };
        self.best = self.best.max(self.streak);
        let k = self.kinds.entry(kind.to_string()).or_default();
        k.0 += 1;
        k.1 += u32::from(correct);
        if kind != "flashcard" {
            let i = self.items.entry(item.to_string()).or_default();
            if correct {
                i.0 += 1;
            } else {
                i.1 += 1;
            }
        }
        Write::Result {
            kind: kind.to_string(),
            item: item.to_string(),
            correct,
            at: now,
            streak: self.streak,
            best: self.best,
        }
    }

    /// Totals, streaks, weak terms and boxes.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            streak: self.streak,
            best: self.best,
            kinds: self
                .kinds
                .iter()
                .map(|(kind, (attempts, correct))| KindSummary {
                    kind: kind.clone(),
                    attempts: *attempts,
                    correct: *correct,
                })
                .collect(),
            ..Default::default()
        };
        let mut misses: BTreeMap<&str, i64> = BTreeMap::new();
        for ((term, _), c) in &self.cards {
            *misses.entry(term).or_default() += i64::from(c.wrong) - i64::from(c.right);
            let b = match c.interval {
                i if i < 1.0 => 0,
                i if i < 7.0 => 1,
                i if i < 30.0 => 2,
                _ => 3,
            };
            s.boxes[b] += 1;
        }
        // Blanks, drills and diagram slots count too, by their glossary term.
        for (item, (right, wrong)) in &self.items {
            if let Some(t) = crate::practice::glossary::find(item) {
                *misses.entry(t.term).or_default() += i64::from(*wrong) - i64::from(*right);
            }
        }
        let mut weak: Vec<(String, u32)> = misses
            .into_iter()
            .filter(|(_, w)| *w > 0)
            .map(|(t, w)| (t.to_string(), u32::try_from(w).unwrap_or(u32::MAX)))
            .collect();
        // Worst first; terms in order among equals, so the list is stable.
        weak.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        weak.truncate(5);
        s.weak = weak;
        s
    }
}

/// Why the store could not be used.
#[derive(Debug)]
pub enum ProgressError {
    /// SQLite refused (file, lock, corruption).
    Sqlite(rusqlite::Error),
    /// The database was written by a newer meshcon, with tables this one
    /// does not know; it is left untouched.
    Newer {
        /// The database's schema version.
        found: i64,
        /// The newest version this meshcon knows.
        known: usize,
    },
}

impl std::fmt::Display for ProgressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(e) => write!(f, "{e}"),
            Self::Newer { found, known } => write!(
                f,
                "practice.db has schema version {found}, newer than this meshcon's {known}: upgrade meshcon or use another --state-dir"
            ),
        }
    }
}

impl std::error::Error for ProgressError {}

impl From<rusqlite::Error> for ProgressError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// The SQLite store.
pub struct Progress {
    db: Connection,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Progress {
    /// Opens (or creates) `practice.db` at `path`, migrated to the newest schema.
    pub fn open(path: &Path) -> Result<Self, ProgressError> {
        // Progress shares the mesh's state directory: private like the rest
        // of it (SQLite gives its -wal and -shm files the database's mode).
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = mesh::api::state::private_dir(d);
        }
        let _ = mesh::api::state::touch_private(path);
        Self::init(Connection::open(path)?)
    }

    /// A store that forgets everything on exit (when no state directory can be used).
    pub fn in_memory() -> Result<Self, ProgressError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut db: Connection) -> Result<Self, ProgressError> {
        db.execute_batch("PRAGMA journal_mode=WAL;")?;
        migrate(&mut db)?;
        Ok(Self { db })
    }

    /// The schema version of the database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, ProgressError> {
        Ok(self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Everything stored, in memory.
    pub fn load(&self) -> Result<Ledger, ProgressError> {
        let mut l = Ledger {
            streak: self.meta("streak")?,
            best: self.meta("best")?,
            ..Default::default()
        };
        let mut stmt = self.db.prepare(
            "SELECT term, dir, due, right, wrong, ease, interval, reps, last FROM cards",
        )?;
        let cards = stmt.query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, u8>(1)?),
                Card {
                    due: r.get(2)?,
                    right: r.get(3)?,
                    wrong: r.get(4)?,
                    ease: r.get(5)?,
                    interval: r.get(6)?,
                    reps: r.get(7)?,
                    last: r.get(8)?,
                },
            ))
        })?;
        for c in cards {
            let (key, card) = c?;
            l.cards.insert(key, card);
        }
        let mut stmt = self.db.prepare(
            "SELECT item, SUM(correct), COUNT(*) - SUM(correct) FROM results WHERE kind != 'flashcard' GROUP BY item",
        )?;
        let items = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, Option<u32>>(1)?.unwrap_or(0),
                    r.get::<_, Option<u32>>(2)?.unwrap_or(0),
                ),
            ))
        })?;
        for i in items {
            let (item, counts) = i?;
            l.items.insert(item, counts);
        }
        l.leftover = self
            .db
            .query_row("SELECT addr, undo FROM drill WHERE id = 1", [], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?
            .map(|(addr, undo)| Leftover {
                addr,
                undo: undo.lines().filter_map(Step::decode).collect(),
            });
        let mut stmt = self.db.prepare(
            "SELECT kind, COUNT(*), SUM(correct) FROM results WHERE kind != 'miss' GROUP BY kind",
        )?;
        let kinds = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, u32>(1)?,
                    r.get::<_, Option<u32>>(2)?.unwrap_or(0),
                ),
            ))
        })?;
        for k in kinds {
            let (kind, totals) = k?;
            l.kinds.insert(kind, totals);
        }
        Ok(l)
    }

    fn meta(&self, key: &str) -> Result<u32, ProgressError> {
        Ok(self
            .db
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0))
    }

    /// Makes one change last, in one transaction.
    pub fn write(&mut self, w: &Write) -> Result<(), ProgressError> {
        let tx = self.db.transaction()?;
        match w {
            Write::Card { term, dir, card } => {
                tx.execute(
                    "INSERT OR REPLACE INTO cards (term, dir, box, due, right, wrong, ease, interval, reps, last) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![term, dir, card.reps + 1, card.due, card.right, card.wrong, card.ease, card.interval, card.reps, card.last],
                )?;
            }
            Write::Miss { term, at } => {
                tx.execute(
                    "INSERT INTO results (kind, item, correct, at) VALUES ('miss', ?1, 0, ?2)",
                    params![term, at],
                )?;
            }
            Write::Leftover(None) => {
                tx.execute("DELETE FROM drill", [])?;
            }
            Write::Leftover(Some(l)) => {
                let undo: Vec<String> = l.undo.iter().map(Step::encode).collect();
                tx.execute(
                    "INSERT OR REPLACE INTO drill (id, addr, undo) VALUES (1, ?1, ?2)",
                    params![l.addr, undo.join("\n")],
                )?;
            }
            Write::Result {
                kind,
                item,
                correct,
                at,
                streak,
                best,
            } => {
                tx.execute(
                    "INSERT INTO results (kind, item, correct, at) VALUES (?1, ?2, ?3, ?4)",
                    params![kind, item, correct, at],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('streak', ?1)",
                    params![streak],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('best', ?1)",
                    params![best],
                )?;
            }
        }
        Ok(tx.commit()?)
    }
}

/// Brings the schema up to date: each migration not yet applied, in order,
/// each with the version it reaches in one transaction.
fn migrate(db: &mut Connection) -> Result<(), ProgressError> {
    let found: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > MIGRATIONS.len() as i64 {
        return Err(ProgressError::Newer {
            found,
            known: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = db.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_private_like_the_rest_of_the_state_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("state").join("practice.db");
        let p = Progress::open(&path).expect("open");
        drop(p);
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
    }

    #[test]
    fn schedules_streaks_misses_and_a_leftover_drill_persist() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("practice.db");
        {
            let mut p = Progress::open(&path).expect("open");
            let mut l = p.load().expect("load");
            let mut answer = |p: &mut Progress, term: &str, dir: u8, g: Grade, now: f64| {
                let (c, writes) = l.answer_card(term, dir, g, now);
                for w in &writes {
                    p.write(w).expect("answer");
                }
                c
            };
            let c = answer(&mut p, "mTLS", 0, Grade::Good, 1000.0);
            assert_eq!((c.interval, c.due), (1.0, 1000.0 + 86_400.0));
            answer(&mut p, "mTLS", 0, Grade::Good, 90_000.0);
            answer(&mut p, "xDS", 1, Grade::Again, 90_000.0);
            let w = l.record("diagram", "diagram", true, 90_100.0);
            p.write(&w).expect("record");
            // Misses outside flashcards count: a blank and a drill's topic.
            let w = l.record("blank", "canary", false, 90_200.0);
            p.write(&w).expect("record");
            let w = l.miss("canary", 90_300.0);
            p.write(&w).expect("miss");
            p.write(&Write::Leftover(Some(Leftover {
                addr: "127.0.0.1:1".into(),
                undo: vec![Step::Rollback(4), Step::decode("heal auth").expect("step")],
            })))
            .expect("leftover");
        }
        let p = Progress::open(&path).expect("reopen").load().expect("load");
        assert_eq!(p.card("mTLS", 0).interval, 6.0);
        let s = p.summary();
        assert_eq!(s.streak, 0);
        assert_eq!(s.best, 2);
        assert_eq!(
            s.weak,
            vec![("canary".to_string(), 2), ("xDS".to_string(), 1)]
        );
        assert!(s
            .kinds
            .iter()
            .any(|k| k.kind == "flashcard" && k.attempts == 3 && k.correct == 2));
        assert!(s.kinds.iter().all(|k| k.kind != "miss"));
        let left = p.leftover.clone().expect("leftover kept");
        assert_eq!(left.undo.len(), 2);
        assert_eq!(left.undo[1].encode(), "heal auth");
        let mut db = Progress::open(&path).expect("reopen");
        db.write(&Write::Leftover(None)).expect("clear");
        assert_eq!(db.load().expect("load").leftover, None);
    }

    #[test]
    fn a_card_answered_good_is_not_served_again_before_it_is_due() {
        let terms = ["mTLS", "xDS"];
        let mut l = Ledger::default();
        let (first, due) = l.next_card(&terms, 1000.0);
        assert_eq!(
            (first, due),
            (Next::Card("mTLS", 0), 2),
            "new forward cards only"
        );
        let (c, _) = l.answer_card("mTLS", 0, Grade::Good, 1000.0);
        // Until it is due, every other card is served, then nothing.
        let mut now = 1000.0;
        let mut served = Vec::new();
        for _ in 0..50 {
            now += 30.0;
            match l.next_card(&terms, now).0 {
                Next::Card(t, d) => {
                    assert!(
                        !(t == "mTLS" && d == 0) || now >= c.due,
                        "served early at {now}"
                    );
                    served.push((t, d));
                    l.answer_card(t, d, Grade::Good, now);
                }
                Next::Wait(at) => {
                    let at = at.expect("a next card");
                    assert!(at > now);
                    now = at - 30.0;
                }
            }
            if now > c.due + 10.0 {
                break;
            }
        }
        assert!(served.contains(&("mTLS", 0)), "served once due: {served:?}");
        // The reverse came after the forward card, never within the hour.
        let rev = l.card("mTLS", 1);
        assert!(
            rev.last >= 1000.0 + crate::practice::schedule::SIBLING_GAP,
            "{rev:?}"
        );
    }

    #[test]
    fn a_database_from_before_versioning_migrates_and_keeps_its_progress() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("practice.db");
        {
            // What meshcon wrote before the schema had a version.
            let db = Connection::open(&path).expect("create");
            db.execute_batch(
                "CREATE TABLE cards (term TEXT, dir INTEGER, box INTEGER, due REAL, right INTEGER, wrong INTEGER, PRIMARY KEY (term, dir));
                 CREATE TABLE results (kind TEXT, item TEXT, correct INTEGER, at REAL);
                 CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER);
                 INSERT INTO cards VALUES ('mTLS', 0, 3, 0.0, 2, 0);
                 INSERT INTO results VALUES ('flashcard', 'mTLS', 1, 0.0);
                 INSERT INTO meta VALUES ('streak', 4), ('best', 6);",
            )
            .expect("old schema");
        }
        let p = Progress::open(&path).expect("open migrates");
        assert_eq!(
            p.schema_version().expect("version"),
            MIGRATIONS.len() as i64
        );
        let l = p.load().expect("load");
        // Box 3 had two good answers behind it.
        assert_eq!(l.card("mTLS", 0).reps, 2);
        assert_eq!((l.summary().streak, l.summary().best), (4, 6));
        drop(p);
        // Opening again applies nothing twice.
        let p = Progress::open(&path).expect("reopen");
        assert_eq!(p.schema_version().expect("version"), 2);
        let fresh = Progress::in_memory().expect("fresh");
        assert_eq!(fresh.schema_version().expect("version"), 2);
    }

    #[test]
    fn a_database_from_a_newer_meshcon_is_refused_untouched() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("practice.db");
        Connection::open(&path)
            .expect("create")
            .pragma_update(None, "user_version", 99)
            .expect("version");
        let e = Progress::open(&path).expect_err("refused");
        assert!(e.to_string().contains("schema version 99"), "{e}");
    }
}
