//! The console as an operator uses it, in tmux at 120×40 on the demo mesh:
//! the map, a stopped east-west gateway on the graph, drill-down into a
//! service, and a proxy's access log following new requests.

use std::time::Duration;

use crate::support::meshcon_bin;
use crate::support::tmux::{terminal_restored, Tmux, AFTER_EXIT};

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_drill_down_logs_and_a_stopped_gateway_on_the_graph() {
    let dir = tempfile::TempDir::new().expect("dir");
    let t = Tmux::start(
        &format!(
            "{} up --ephemeral --state-dir {}{AFTER_EXIT}",
            meshcon_bin().display(),
            dir.path().display()
        ),
        120,
        40,
    );
    t.wait_text(LONG, "proxies ACKed").await;
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
    let out = std::process::Command::new(meshcon_bin())
        .args(["--state-dir", &state, "chaos", "stop-gateway", "us"])
        .output()
        .expect("chaos");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.wait_text(LONG, "east-west gateway (inbound) DOWN").await;
    let out = std::process::Command::new(meshcon_bin())
        .args(["--state-dir", &state, "chaos", "start-gateway", "us"])
        .output()
        .expect("chaos");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    t.keys(&["Escape", "q"]).await;
    t.wait_text(Duration::from_secs(10), "Quit? The mesh running")
        .await;
    t.keys(&["y"]).await;
    let s = t.wait_text(LONG, "EXITED:").await;
    assert!(s.contains("EXITED:0") && terminal_restored(&s), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_asks_events_follow_and_layouts_hold_when_the_terminal_shrinks() {
    let dir = tempfile::TempDir::new().expect("dir");
    let state = dir.path().to_str().expect("path").to_string();
    let t = Tmux::start(
        &format!(
            "{} up --ephemeral --state-dir {state}{AFTER_EXIT}",
            meshcon_bin().display()
        ),
        120,
        40,
    );
    t.wait_text(LONG, "proxies ACKed").await;
    // Ctrl-C asks before stopping the mesh this console runs.
    t.keys(&["C-c"]).await;
    t.wait_text(Duration::from_secs(10), "Quit? The mesh running")
        .await;
    t.keys(&["n"]).await;
    t.wait_text(Duration::from_secs(10), "cancelled").await;
    // Events, at the newest, follow a new event.
    t.keys(&["8", "G"]).await;
    let out = std::process::Command::new(meshcon_bin())
        .args([
            "--state-dir",
            &state,
            "chaos",
            "slow",
            "auth",
            "--delay-ms",
            "30",
        ])
        .output()
        .expect("chaos");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.wait_text(LONG, "30 ms slower").await;
    let out = std::process::Command::new(meshcon_bin())
        .args(["--state-dir", &state, "chaos", "heal", "auth"])
        .output()
        .expect("chaos");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    t.keys(&["q"]).await;
    t.wait_text(Duration::from_secs(10), "Quit? The mesh running")
        .await;
    t.keys(&["y"]).await;
    let s = t.wait_text(LONG, "EXITED:").await;
    assert!(s.contains("EXITED:0") && terminal_restored(&s), "{s}");
}
