//! Practice: the vocabulary of service meshes, exercised. Works without a
//! mesh; links to the live one (show me, live drills) when it runs.
//!
//! - [`glossary`]: the terms, in our own words.
//! - [`drill`]: live drills: faults, questions, injection, undo and the judge.
//! - [`diagram`]: the diagram to label, drawn anew each time.
//! - [`exercises`]: fill-in-the-blank sentences and diagram slot feedback.
//! - [`check`]: the explanation checker: a rubric, misconceptions, its reasons.
//! - [`schedule`]: SM-2 spaced repetition for flashcards.
//! - [`progress`]: schedules, results, streaks and a drill to undo, in SQLite.

pub mod check;
pub mod diagram;
pub mod drill;
pub mod exercises;
pub mod glossary;
pub mod progress;
pub mod schedule;
