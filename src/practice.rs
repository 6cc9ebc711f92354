//! Practice: the vocabulary of service meshes, exercised. Works without a
//! mesh; links to the live one (show me, live drills) when it runs.
//!
//! - [`glossary`]: the terms, in our own words.
//! - [`drill`]: live drills: faults, questions, injection, undo and the judge.
//! - [`diagram`]: the diagram to label, drawn anew each time.
//! - [`exercises`]: sentences, slot feedback, the explanation checker.
//! - [`schedule`]: SM-2 spaced repetition for flashcards.
//! - [`progress`]: schedules, results, streaks and a drill to undo, in SQLite.

pub mod check;
pub mod diagram;
pub mod drill;
pub mod exercises;
pub mod glossary;
pub mod progress;
pub mod schedule;
