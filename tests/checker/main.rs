//! The explanation checker against a corpus of learners' texts, and the
//! real `meshcon practice check` command.
//!
//! Corpus files are named for what a teacher would say: `pass-*` texts are
//! right; `fail-error-*` have one factual error; `fail-list-*` list terms;
//! `fail-offtopic-*` are about something else; `fail-short-*` and
//! `fail-long-*` have the wrong length; `fail-missing-*` leave out a part;
//! `fail-filler-*` pad a few right sentences with unrelated text. Files
//! with `h` in their number were written after the rules, as held-out texts.

mod cli;
mod corpus;
