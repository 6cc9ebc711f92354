//! Spaced repetition for flashcards: SM-2 (Wozniak's SuperMemo 2, the
//! algorithm Anki grew from) with four grades. A card's interval grows by
//! its ease factor after each good answer (1 day, 6 days, then ×2.5: about
//! two weeks, five weeks, three months...), a miss sends it back to the
//! start and lowers its ease. Only due cards are served; the two directions
//! of one term are kept apart (the reverse waits until the forward card
//! was learnt, and never follows its sibling within the hour).

/// Seconds in a day.
pub const DAY: f64 = 86_400.0;
/// A missed card comes back this soon, in the same session.
pub const AGAIN: f64 = 60.0;
/// A new card answered "hard" comes back this soon.
pub const HARD_NEW: f64 = 600.0;
/// The two directions of a term are not served within this of each other.
pub const SIBLING_GAP: f64 = 3600.0;
/// The lowest ease factor (SM-2).
pub const MIN_EASE: f64 = 1.3;

/// How well the learner knew a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    /// Did not know it.
    Again,
    /// Knew it with difficulty.
    Hard,
    /// Knew it.
    Good,
    /// Knew it at once.
    Easy,
}

impl Grade {
    /// The grade a key gives (1–4).
    pub fn from_key(c: char) -> Option<Grade> {
        match c {
            '1' => Some(Grade::Again),
            '2' => Some(Grade::Hard),
            '3' => Some(Grade::Good),
            '4' => Some(Grade::Easy),
            _ => None,
        }
    }
}

/// A flashcard's schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Card {
    /// When it is due, seconds since the epoch.
    pub due: f64,
    /// When it was last answered (0: never).
    pub last: f64,
    /// The current interval, days (0 while learning).
    pub interval: f64,
    /// SM-2 ease factor.
    pub ease: f64,
    /// Good answers in a row.
    pub reps: u32,
    /// Times the user knew it.
    pub right: u32,
    /// Times the user missed it.
    pub wrong: u32,
}

impl Default for Card {
    fn default() -> Self {
        Self {
            due: 0.0,
            last: 0.0,
            interval: 0.0,
            ease: 2.5,
            reps: 0,
            right: 0,
            wrong: 0,
        }
    }
}

impl Card {
    /// Never answered.
    pub fn is_new(&self) -> bool {
        self.last == 0.0
    }

    /// The card after an answer with `grade` at `now`.
    pub fn answer(mut self, grade: Grade, now: f64) -> Card {
        self.last = now;
        if grade == Grade::Again {
            self.wrong += 1;
            self.reps = 0;
            self.interval = 0.0;
            self.ease = (self.ease - 0.2).max(MIN_EASE);
            self.due = now + AGAIN;
            return self;
        }
        self.right += 1;
        let prev = self.interval;
        self.interval = match (self.reps, grade) {
            (0, Grade::Hard) => 0.0,
            (0, Grade::Good) => 1.0,
            (0, _) => 4.0,
            (1, Grade::Hard) => 1.0,
            (1, Grade::Good) => 6.0,
            (1, _) => 8.0,
            (_, Grade::Hard) => (prev * 1.2).max(prev + 1.0),
            (_, Grade::Good) => (prev * self.ease).max(prev + 1.0),
            (_, _) => (prev * self.ease * 1.3).max(prev + 1.0),
        };
        self.ease = match grade {
            Grade::Hard => (self.ease - 0.15).max(MIN_EASE),
            Grade::Easy => self.ease + 0.15,
            _ => self.ease,
        };
        if self.interval > 0.0 {
            self.reps += 1;
        }
        self.due = now
            + if self.interval > 0.0 {
                self.interval * DAY
            } else {
                HARD_NEW
            };
        self
    }
}

/// When a card may be served: its own due time, its sibling's last answer
/// plus the gap, and for the reverse direction, not before the forward one
/// was learnt (None: not yet).
pub fn available_at(card: &Card, sibling: &Card, dir: u8) -> Option<f64> {
    if dir == 1 && sibling.reps == 0 {
        return None;
    }
    let own = if card.is_new() { 0.0 } else { card.due };
    let apart = if sibling.is_new() {
        0.0
    } else {
        sibling.last + SIBLING_GAP
    };
    Some(own.max(apart))
}

/// "in 3 min", "in 2 h", "in 5 days".
pub fn in_words(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 60.0 {
        "in under a minute".into()
    } else if s < 3600.0 {
        format!("in {:.0} min", s / 60.0)
    } else if s < DAY {
        format!("in {:.0} h", s / 3600.0)
    } else if s < 1.5 * DAY {
        "in 1 day".into()
    } else {
        format!("in {:.0} days", s / DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_answers_grow_the_interval_to_months() {
        let mut c = Card::default();
        let mut now = 1_000.0;
        let mut days = Vec::new();
        for _ in 0..6 {
            c = c.answer(Grade::Good, now);
            days.push(c.interval);
            now = c.due;
        }
        assert_eq!(&days[..2], &[1.0, 6.0]);
        assert!(days.windows(2).all(|w| w[1] > w[0]), "{days:?}");
        assert!(days[4] >= 60.0, "two months by the fifth review: {days:?}");
    }

    #[test]
    fn four_grades_order_the_next_interval() {
        let base = Card::default()
            .answer(Grade::Good, 0.0)
            .answer(Grade::Good, DAY);
        let next: Vec<f64> = [Grade::Again, Grade::Hard, Grade::Good, Grade::Easy]
            .iter()
            .map(|g| base.answer(*g, 7.0 * DAY).due)
            .collect();
        assert!(next.windows(2).all(|w| w[1] > w[0]), "{next:?}");
        let missed = base.answer(Grade::Again, 7.0 * DAY);
        assert_eq!((missed.reps, missed.wrong), (0, 1));
        assert!(missed.ease < base.ease);
    }

    #[test]
    fn the_reverse_waits_for_the_forward_card_and_its_gap() {
        let fwd = Card::default();
        let rev = Card::default();
        assert_eq!(available_at(&rev, &fwd, 1), None);
        let fwd = fwd.answer(Grade::Good, 100.0);
        assert_eq!(available_at(&rev, &fwd, 1), Some(100.0 + SIBLING_GAP));
    }
}
