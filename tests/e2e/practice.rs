//! Practice mode in the real binary: exercises, progress kept across runs,
//! and a live drill solved on a running mesh.

use std::time::Duration;

use crate::support::meshcon_bin;
use crate::support::tmux::{service_rows, terminal_restored, Tmux, AFTER_EXIT};

const SHORT: Duration = Duration::from_secs(15);
const LONG: Duration = Duration::from_secs(60);

/// About a hundred words that use every required term correctly.
const EXPLANATION: &str = "A service mesh splits into two planes. The data plane is the set of sidecar \
proxies, one beside each service instance, that carry every request and apply retries, timeouts and \
routing. The control plane watches services and rules, turns them into proxy configuration, pushes it \
to each sidecar and signs their certificates. Between sidecars every connection uses mTLS, so traffic \
is encrypted and both ends prove who they are. Requests from outside arrive at the Ingress Gateway, \
which terminates the client's TLS and forwards them into the mesh. Since the control plane sits off \
the request path, traffic keeps flowing while it restarts.";

fn practice(state: &std::path::Path) -> Tmux {
    // A mesh address nobody listens on: practice works without a mesh.
    Tmux::start(
        &format!(
            "MESHCON_MESH=127.0.0.1:9 {} practice --state-dir {}{AFTER_EXIT}",
            meshcon_bin().display(),
            state.display()
        ),
        100,
        32,
    )
}

/// Moves the menu cursor to entry `n` (0-based) and opens it.
async fn open(t: &Tmux, n: usize) {
    t.keys(&["k"; 7]).await;
    for _ in 0..n {
        t.keys(&["j"]).await;
    }
    t.keys(&["Enter"]).await;
}

async fn back_to_menu(t: &Tmux) {
    t.keys(&["Escape"]).await;
    t.wait_text(SHORT, "Label the diagram").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exercises_are_scored_and_progress_survives_a_restart() {
    let dir = tempfile::TempDir::new().expect("dir");
    let t = practice(dir.path());
    t.wait_text(SHORT, "Flashcards").await;

    // A flashcard: flip, say it was known, see it move up a box.
    open(&t, 1).await;
    t.wait_text(SHORT, "Space: flip").await;
    t.keys(&["Space"]).await;
    t.wait_text(SHORT, "Did you know it?").await;
    t.keys(&["y"]).await;
    t.wait_text(SHORT, "box 2 of 5").await;
    back_to_menu(&t).await;

    // The diagram, every label in its place.
    open(&t, 3).await;
    t.wait_text(SHORT, "config and certificates").await;
    t.keys(&["a", "2", "b", "5", "c", "4", "d", "1", "e", "3", "Enter"])
        .await;
    let s = t.wait_text(SHORT, "score 5/5").await;
    assert!(
        s.contains("B: Ingress Gateway ✓") && s.contains("E: sidecar proxy ✓"),
        "{s}"
    );
    back_to_menu(&t).await;

    // A hundred words, checked.
    open(&t, 4).await;
    t.wait_text(SHORT, "Explain a service mesh").await;
    t.type_text(EXPLANATION).await;
    t.keys(&["F2"]).await;
    let s = t.wait_text(SHORT, "verdict:").await;
    let words = EXPLANATION.split_whitespace().count();
    assert!(s.contains(&format!("{words} words ✓")), "{s}");
    assert!(
        s.contains("verdict: PASS") && !s.contains("missing:"),
        "{s}"
    );
    back_to_menu(&t).await;

    t.keys(&["q"]).await;
    let s = t.wait_text(SHORT, "EXITED:").await;
    assert!(s.contains("EXITED:0") && terminal_restored(&s), "{s}");
    drop(t);

    // A new run on the same state directory remembers all three.
    let t = practice(dir.path());
    t.wait_text(SHORT, "Flashcards").await;
    let menu = t.screen();
    assert!(menu.contains("streak 3"), "the streak survives: {menu}");
    open(&t, 6).await;
    let s = t.wait_text(SHORT, "Progress").await;
    for kind in ["flashcard", "diagram", "explain"] {
        assert!(
            s.lines().any(|l| l.contains(kind) && l.contains("1/1")),
            "{kind} 1/1 kept: {s}"
        );
    }
    assert!(
        s.contains("[0, 1, 0, 0, 0]"),
        "the card stays in box 2: {s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_drill_is_found_in_the_console_and_solved() {
    let dir = tempfile::TempDir::new().expect("dir");
    let t = Tmux::start(
        &format!(
            "{} up --ephemeral --rps 20 --state-dir {}{AFTER_EXIT}",
            meshcon_bin().display(),
            dir.path().display()
        ),
        120,
        40,
    );
    t.wait_text(LONG, "proxies ACKed").await;
    t.keys(&["2"]).await;
    t.wait_for(LONG, "traffic everywhere", |s| service_rows(s).len() >= 6)
        .await;
    t.keys(&["9"]).await;
    open(&t, 5).await;
    t.wait_text(SHORT, "Enter: start a drill").await;
    t.keys(&["Enter"]).await;
    let s = t.wait_text(SHORT, "The drill is on").await;
    assert!(
        s.contains("P99")
            || s.contains("instance")
            || s.contains("traffic")
            || s.contains("plaintext"),
        "{s}"
    );

    // Look for it as a user would: which service's P99 climbed?
    t.keys(&["2"]).await;
    let s = t
        .wait_for(
            Duration::from_secs(90),
            "a service with a P99 over 300 ms",
            |s| service_rows(s).iter().any(|r| r.4 >= 300.0),
        )
        .await;
    // Callers of a slow service are slow too; the one slowed down has the
    // smallest P99 of the slow ones.
    let slow = service_rows(&s)
        .into_iter()
        .filter(|r| r.4 >= 300.0)
        .min_by(|a, b| a.4.total_cmp(&b.4))
        .expect("slow row")
        .0;

    t.keys(&["9", "Enter"]).await;
    t.type_text(&format!("{slow} got slow")).await;
    t.keys(&["Tab"]).await;
    t.type_text("VirtualService").await;
    t.keys(&["Enter"]).await;
    let s = t
        .wait_for(SHORT, "the verdict", |s| {
            s.contains("Right!") || s.contains("Not quite")
        })
        .await;
    assert!(s.contains("Right!") && s.contains("undone"), "{s}");

    // The drill undid itself: the mesh reports the instance healed.
    let out = tokio::process::Command::new(meshcon_bin())
        .arg("--credentials")
        .arg(dir.path().join("console.token"))
        .args(["get", "events", "--mesh"])
        .arg(
            std::fs::read_to_string(dir.path().join("api.addr"))
                .expect("api")
                .trim(),
        )
        .output()
        .await
        .expect("get events");
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(events.contains("healed"), "{events}");
    t.keys(&["q"]).await;
    t.wait_text(SHORT, "Quit?").await;
    t.keys(&["y"]).await;
    t.wait_text(LONG, "EXITED:0").await;
}
