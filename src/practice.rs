//! Practice: the vocabulary of service meshes, exercised. Works without a
//! mesh; links to the live one (show me, live drills) when it runs.
//!
//! - [`glossary`]: the terms, in our own words.
//! - [`exercises`]: sentences, the diagram, the explanation checker, drills.
//! - [`progress`]: Leitner boxes, results and streaks in SQLite.

pub mod check;
pub mod exercises;
pub mod glossary;
pub mod progress;
