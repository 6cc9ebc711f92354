//! The console as an operator uses it, in tmux at 120×40 on the demo mesh:
//! the map, a stopped east-west gateway on the graph, drill-down into a
//! service, and a proxy's access log following new requests.

use std::time::Duration;

use crate::support::tmux::{terminal_restored, Tmux, AFTER_EXIT};
use crate::support::{self, meshcon_bin};

const LONG: Duration = Duration::from_secs(60);

/// The demo mesh and its console in a 120×40 terminal, ready.
async fn up(dir: &std::path::Path, extra: &str) -> Tmux {
    let t = Tmux::start(
        &format!(
            "{} up --ephemeral {extra} --state-dir {}{AFTER_EXIT}",
            meshcon_bin().display(),
            dir.display()
        ),
        120,
        40,
    );
    t.wait_text(LONG, "proxies ACKed").await;
    t
}

/// Runs `meshcon chaos ARGS` against the mesh whose state is in `state`.
fn chaos(state: &str, args: &[&str]) {
    let bin = meshcon_bin();
    let all = [&["--state-dir", state, "chaos"][..], args].concat();
    let out = support::tool(bin.to_str().expect("UTF-8 path"), &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Quits, confirming that the mesh stops, and checks the terminal is back.
async fn quit(t: &Tmux) {
    t.keys(&["q"]).await;
    t.wait_text(Duration::from_secs(10), "Quit? The mesh running")
        .await;
    t.keys(&["y"]).await;
    let s = t.wait_text(LONG, "EXITED:").await;
    assert!(s.contains("EXITED:0") && terminal_restored(&s), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_drill_down_logs_and_a_stopped_gateway_on_the_graph() {
    let dir = tempfile::TempDir::new().expect("dir");
    let t = up(dir.path(), "").await;
    // The map at 120×40: both clusters as bands, the services in boxes.
    t.keys(&["m"]).await;
    let s = t
        .wait_for(LONG, "the map with traffic", |s| {
            s.contains("Graph · map") && s.contains("┄┄ cluster us") && s.contains("/s")
        })
        .await;
    for part in ["igw", "frontend", "billing", "catalog"] {
        assert!(s.contains(part), "{part} on the map:\n{s}");
    }
    t.keys(&["m"]).await;
    // A stopped east-west gateway is marked on the graph.
    let state = dir.path().to_str().expect("path").to_string();
    chaos(&state, &["stop-gateway", "us"]);
    t.wait_text(LONG, "east-west gateway (inbound) DOWN").await;
    chaos(&state, &["start-gateway", "us"]);
    // Drill down into a service from Services.
    t.keys(&["2", "/"]).await;
    t.type_text("auth").await;
    t.keys(&["Enter", "d"]).await;
    let s = t
        .wait_text(Duration::from_secs(10), "auth · d · Esc closes")
        .await;
    assert!(s.contains("auth-v1-0") && s.contains("Certificates"), "{s}");
    // The access log of the proxy behind a Tap row follows new requests.
    t.keys(&["Escape", "Escape", "3", "l"]).await;
    let s = t.wait_text(Duration::from_secs(10), "access log · ").await;
    // The newest start time shown; following, a later one appears.
    let newest = |s: &str| -> String {
        s.lines()
            .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(str::to_string))
            .filter(|t| t.starts_with("20"))
            .max()
            .unwrap_or_default()
    };
    let first = newest(&s);
    let s = t
        .wait_for(LONG, "a newer line in the log", |s| newest(s) > first)
        .await;
    assert!(s.contains("HTTP/"), "Envoy's format: {s}");
    t.keys(&["Escape"]).await;
    quit(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_asks_events_follow_and_layouts_hold_when_the_terminal_shrinks() {
    let dir = tempfile::TempDir::new().expect("dir");
    let state = dir.path().to_str().expect("path").to_string();
    let t = up(dir.path(), "").await;
    // Ctrl-C asks before stopping the mesh this console runs.
    t.keys(&["C-c"]).await;
    t.wait_text(Duration::from_secs(10), "Quit? The mesh running")
        .await;
    t.keys(&["n"]).await;
    t.wait_text(Duration::from_secs(10), "cancelled").await;
    // Events, at the newest, follow a new event.
    t.keys(&["8", "G"]).await;
    chaos(&state, &["slow", "auth", "--delay-ms", "30"]);
    t.wait_text(LONG, "30 ms slower").await;
    chaos(&state, &["heal", "auth"]);
    t.wait_text(LONG, "healed").await;
    // 80×24: every tab and the quit hint still fit.
    t.keys(&["1"]).await;
    t.resize(80, 24);
    let s = t
        .wait_for(Duration::from_secs(10), "the 80×24 layout", |s| {
            s.lines().count() <= 24 && s.contains("9 Practice") && s.contains("q quit")
        })
        .await;
    assert!(s.contains("frontend"), "{s}");
    // 50 columns: a notice instead of cut views.
    t.resize(50, 20);
    t.wait_text(Duration::from_secs(10), "at least 60×16").await;
    t.resize(120, 40);
    t.wait_text(Duration::from_secs(10), "ACKed").await;
    quit(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_opens_on_the_newest_drill_down_works_from_every_view_and_ejections_show() {
    let dir = tempfile::TempDir::new().expect("dir");
    let state = dir.path().to_str().expect("path").to_string();
    let t = up(dir.path(), "").await;
    // Two versions from the console; History opens on the newer.
    t.keys(&["6", "+", "a"]).await;
    t.wait_text(Duration::from_secs(10), "Apply the editor's YAML")
        .await;
    t.keys(&["y"]).await;
    t.wait_text(LONG, "v1 applied").await;
    t.keys(&["+", "a"]).await;
    t.wait_text(Duration::from_secs(10), "Apply the editor's YAML")
        .await;
    t.keys(&["y"]).await;
    t.wait_text(LONG, "v2 applied").await;
    t.keys(&["H", "R"]).await;
    t.wait_text(Duration::from_secs(10), "Make version v2 current again")
        .await;
    t.keys(&["n", "Escape", "Escape"]).await;
    // Drill-down from Graph, Services, Tap and Identities.
    for (view, moves) in [
        ("1", &["j", "j"][..]),
        ("2", &[]),
        ("3", &[]),
        ("4", &["j"]),
    ] {
        t.keys(&[view]).await;
        t.keys(moves).await;
        t.keys(&["d"]).await;
        let s = t
            .wait_text(Duration::from_secs(10), " · d · Esc closes")
            .await;
        assert!(
            s.contains("Instances") || s.contains("Certificates"),
            "{view}: {s}"
        );
        t.keys(&["Escape"]).await;
    }
    // An instance ejected by outlier detection is marked on the graph.
    let rule = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: billing, namespace: default}\nspec:\n  host: billing\n  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n";
    let out = crate::support::tool_stdin(
        meshcon_bin().to_str().expect("path"),
        &["--state-dir", &state, "apply", "-f", "-"],
        rule.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    chaos(&state, &["fail", "billing-v1-0", "--rate", "1"]);
    t.keys(&["1"]).await;
    t.wait_text(LONG, "(1 ejected)").await;
    quit(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_findings_pane_scrolls_to_every_finding() {
    let dir = tempfile::TempDir::new().expect("dir");
    let t = up(dir.path(), "").await;
    // A new VirtualService, with twelve fields Istio does not have: more
    // findings than the pane has rows.
    t.keys(&["6", "n"]).await;
    t.wait_text(Duration::from_secs(10), "kind: VirtualService")
        .await;
    let names: Vec<String> = (0..12).map(|i| format!("bogus{i:02}")).collect();
    for k in &names {
        t.type_text(&format!("{k}: 1")).await;
        t.keys(&["Enter"]).await;
    }
    let s = t
        .wait_for(Duration::from_secs(20), "twelve findings", |s| {
            s.contains("Findings · 12")
        })
        .await;
    // A finding names its field in backquotes; the editor's own line does not.
    let findings = |s: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| s.contains(&format!("`{n}`")))
            .cloned()
            .collect()
    };
    let first = findings(&s);
    assert!(first.contains(&names[0]), "the first finding shows: {s}");
    assert!(!first.contains(&names[11]), "not all fit at once: {s}");
    // Scrolled down, the last one shows.
    for _ in 0..30 {
        t.keys(&["M-Down"]).await;
    }
    let s = t
        .wait_for(Duration::from_secs(10), "the last finding", |s| {
            findings(s).contains(&names[11])
        })
        .await;
    assert!(s.contains("[ ] scroll") || s.contains("lines"), "{s}");
    t.keys(&["Escape", "D"]).await;
    t.wait_text(Duration::from_secs(10), "Discard the staged edits")
        .await;
    t.keys(&["y"]).await;
    quit(&t).await;
}

/// The v2 shares before and after in the before/after line of user → billing.
fn v2_before_after(screen: &str) -> Option<(f64, f64)> {
    let line = screen
        .lines()
        .find(|l| l.contains("→ billing:") && l.contains('⇒'))?;
    let (before, after) = line.split_once('⇒')?;
    let share = |s: &str| -> Option<f64> {
        let at = s.find("v2 ")? + 3;
        s[at..].split('%').next()?.trim().parse().ok()
    };
    Some((share(before)?, share(after)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_and_after_show_the_new_versions_numbers_and_a_rollbacks() {
    let dir = tempfile::TempDir::new().expect("dir");
    let t = up(dir.path(), "--rps 20").await;
    // Let the window fill: billing's three instances share its traffic.
    tokio::time::sleep(Duration::from_secs(12)).await;
    t.keys(&["6"]).await;
    // 80% to the new version: far enough from the 33% it gets now (one of
    // billing's three instances) that ten seconds of traffic (≈200
    // requests) cannot blur the two pictures into each other.
    t.keys(&["+"; 16]).await;
    t.keys(&["a"]).await;
    t.wait_text(Duration::from_secs(10), "Apply the editor's YAML")
        .await;
    t.keys(&["y"]).await;
    let s = t
        .wait_for(LONG, "the canary's after picture", |s| {
            v2_before_after(s).is_some_and(|(b, a)| a > b + 8.0)
        })
        .await;
    let (before, after) = v2_before_after(&s).expect("shares");
    assert!(
        (65.0..=95.0).contains(&after),
        "v2 after the 80% canary: {after} (before {before})\n{s}"
    );
    // Back to 0%: the new version's numbers, v2 falling.
    t.keys(&["-"; 16]).await;
    t.keys(&["a"]).await;
    t.wait_text(Duration::from_secs(10), "Apply the editor's YAML")
        .await;
    t.keys(&["y"]).await;
    t.wait_for(LONG, "the second version's after picture", |s| {
        v2_before_after(s).is_some_and(|(b, a)| b > a + 8.0)
    })
    .await;
    // Rolled back to the 80% version: the rollback's own picture, v2 rising.
    t.keys(&["H"]).await;
    t.wait_text(Duration::from_secs(10), "History").await;
    t.keys(&["k", "R"]).await;
    t.wait_text(Duration::from_secs(10), "Make version v1 current again")
        .await;
    t.keys(&["y"]).await;
    t.wait_for(LONG, "the rollback's after picture", |s| {
        v2_before_after(s).is_some_and(|(b, a)| a > b + 8.0)
    })
    .await;
    t.keys(&["Escape", "Escape"]).await;
    quit(&t).await;
}
