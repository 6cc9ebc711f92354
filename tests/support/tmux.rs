//! Drives the real `meshcon` binary in a detached tmux session, as a user at
//! a terminal would: keys in with `send-keys`, the screen out with
//! `capture-pane`. Each session has its own tmux server socket, so tests run
//! side by side without seeing each other.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A tmux session running one shell command.
pub struct Tmux {
    socket: String,
}

/// What a pane shows after its command exits: the exit status and whether
/// the terminal is back in cooked mode (`stty -a` prints `icanon` and `echo`
/// without a minus when raw mode was undone).
pub const AFTER_EXIT: &str = "; echo EXITED:$?; stty -a; sleep 600";

impl Tmux {
    /// Starts `command` (run by `sh -c`) in a `width`×`height` terminal.
    pub fn start(command: &str, width: u16, height: u16) -> Tmux {
        let socket = format!(
            "meshcon-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let t = Tmux { socket };
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "sh",
            "-c",
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux ({e}); install it (see .ci/run)"))
    }

    /// Presses keys one at a time (tmux key names: `Enter`, `Escape`, `F2`,
    /// `Tab`, or single characters), pausing between them so that the
    /// application reads each as its own key (an Escape followed at once by
    /// a letter would read as Alt+letter).
    pub async fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "0", k]);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Resizes the terminal, as a user dragging the window would.
    pub fn resize(&self, width: u16, height: u16) {
        self.tmux(&[
            "resize-window",
            "-t",
            "0",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
    }

    /// Types text literally (any Unicode).
    pub async fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned()
    }

    /// Waits until the screen satisfies `ok`, returning it; panics with the
    /// last screen after `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the screen contains `text`.
    pub async fn wait_text(&self, timeout: Duration, text: &str) -> String {
        self.wait_for(timeout, &format!("{text:?}"), |s| s.contains(text))
            .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// Rows of the Services view: (service, version, cluster, RPS, P99 ms).
pub fn service_rows(screen: &str) -> Vec<(String, String, String, f64, f64)> {
    screen
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim_matches(|c: char| c == '│' || c.is_whitespace())
                .split_whitespace()
                .collect();
            // SERVICE VER CLUSTER RPS SUCCESS P50 P90 P99 mTLS SENT/RECV
            if cells.len() < 8 || !cells[4].ends_with('%') {
                return None;
            }
            let num = |s: &str| s.parse::<f64>().ok();
            Some((
                cells[0].to_string(),
                cells[1].to_string(),
                cells[2].to_string(),
                num(cells[3])?,
                num(cells[7]).unwrap_or(f64::NAN),
            ))
        })
        .collect()
}

/// Whether `stty -a` output on the screen shows a cooked terminal.
pub fn terminal_restored(screen: &str) -> bool {
    let words: Vec<&str> = screen.split_whitespace().collect();
    words.contains(&"icanon")
        && words.contains(&"echo")
        && !words.contains(&"-icanon")
        && !words.contains(&"-echo")
}
