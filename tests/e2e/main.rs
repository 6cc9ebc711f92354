//! End-to-end tests of the real `meshcon` binary, driven in tmux like a user
//! at a terminal: keys in, the screen out.

#[path = "../support/mod.rs"]
mod support;

mod attach;
mod console;
mod operator;
mod practice;
