//! The console on the embedded demo mesh, and `attach` from a second process.

use std::time::Duration;

use crate::support::meshcon_bin;
use crate::support::tmux::{service_rows, terminal_restored, Tmux, AFTER_EXIT};

/// Every demo service and version, as the Services view lists them.
const DEMO: [(&str, &str, &str); 6] = [
    ("auth", "v1", "eu"),
    ("billing", "v1", "us"),
    ("billing", "v2", "us"),
    ("catalog", "v1", "us"),
    ("frontend", "v1", "eu"),
    ("user", "v1", "eu"),
];

const LONG: Duration = Duration::from_secs(60);

fn up(state: &std::path::Path, rps: u32) -> Tmux {
    Tmux::start(
        &format!(
            "{} up --ephemeral --rps {rps} --state-dir {}{AFTER_EXIT}",
            meshcon_bin().display(),
            state.display()
        ),
        120,
        40,
    )
}

fn all_demo_services_live(screen: &str) -> bool {
    let rows = service_rows(screen);
    DEMO.iter().all(|(s, v, c)| {
        rows.iter()
            .any(|r| r.0 == *s && r.1 == *v && r.2 == *c && r.3 > 0.0)
    })
}

fn billing_v2_share(screen: &str) -> Option<f64> {
    let rows = service_rows(screen);
    let rps = |v: &str| {
        rows.iter()
            .find(|r| r.0 == "billing" && r.1 == v)
            .map(|r| r.3)
    };
    let (v1, v2) = (rps("v1")?, rps("v2")?);
    (v1 + v2 > 0.0).then(|| v2 / (v1 + v2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shifting_the_canary_to_half_in_the_console_moves_half_the_traffic() {
    let dir = tempfile::TempDir::new().expect("dir");
    let t = up(dir.path(), 20);
    t.wait_text(LONG, "proxies ACKed").await;
    t.keys(&["2"]).await;
    let s = t
        .wait_for(
            LONG,
            "every demo service with live numbers",
            all_demo_services_live,
        )
        .await;
    // Before any rule, billing's three instances share its traffic evenly: v2 gets about a third.
    let before = billing_v2_share(&s).expect("billing rows");
    assert!(before < 0.45, "v2 share before the rule: {before}\n{s}");
    t.keys(&["6"]).await;
    t.keys(&["+"; 10]).await;
    t.wait_text(Duration::from_secs(10), "Staged: canary 50% to billing v2")
        .await;
    t.keys(&["a"]).await;
    t.wait_text(Duration::from_secs(10), "Apply the editor's YAML")
        .await;
    t.keys(&["y"]).await;
    let s = t
        .wait_for(LONG, "the apply converging", |s| {
            s.contains("applied:") && s.contains("ACKed in")
        })
        .await;
    let listed = |s: &str| {
        s.lines()
            .any(|l| l.contains("VirtualService") && l.contains("billing"))
    };
    if !listed(&s) {
        t.wait_for(LONG, "the applied resources listed", listed)
            .await;
    }
    t.keys(&["2"]).await;
    // The Services window is 30 s: the share climbs from a third towards a half.
    let s = t
        .wait_for(
            Duration::from_secs(120),
            "billing v2 near half of billing's traffic",
            |s| billing_v2_share(s).is_some_and(|x| (0.44..=0.56).contains(&x)),
        )
        .await;
    assert!(all_demo_services_live(&s), "{s}");
    t.keys(&["q"]).await;
    t.wait_text(Duration::from_secs(10), "Quit? The mesh running")
        .await;
    t.keys(&["y"]).await;
    let s = t.wait_text(LONG, "EXITED:").await;
    assert!(s.contains("EXITED:0"), "{s}");
    assert!(!s.contains("1 Graph"), "the console's screen is gone: {s}");
    assert!(terminal_restored(&s), "raw mode undone: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_from_a_second_process_shows_the_same_services() {
    let dir = tempfile::TempDir::new().expect("dir");
    let embedded = up(dir.path(), 10);
    embedded.wait_text(LONG, "proxies ACKed").await;
    let api =
        std::fs::read_to_string(dir.path().join("api.addr")).expect("up writes the API address");
    let attached = Tmux::start(
        &format!(
            "{} attach {} --credentials {}{AFTER_EXIT}",
            meshcon_bin().display(),
            api.trim(),
            dir.path().join("console.token").display()
        ),
        120,
        40,
    );
    embedded.keys(&["2"]).await;
    attached.keys(&["2"]).await;
    let a = embedded
        .wait_for(
            LONG,
            "services in the embedded console",
            all_demo_services_live,
        )
        .await;
    let b = attached
        .wait_for(
            LONG,
            "services in the attached console",
            all_demo_services_live,
        )
        .await;
    let names = |s: &str| {
        let mut v: Vec<(String, String, String)> = service_rows(s)
            .into_iter()
            .map(|r| (r.0, r.1, r.2))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&a), names(&b), "embedded:\n{a}\nattached:\n{b}");
    assert!(
        b.contains(api.trim()),
        "the status line names the mesh: {b}"
    );
    // The mesh goes away: the attached console says so and keeps running.
    embedded.keys(&["q"]).await;
    embedded
        .wait_text(Duration::from_secs(10), "Quit? The mesh running")
        .await;
    embedded.keys(&["y"]).await;
    embedded.wait_text(LONG, "EXITED:0").await;
    attached.wait_text(LONG, "not connected").await;
    attached.keys(&["q"]).await;
    let s = attached.wait_text(LONG, "EXITED:").await;
    assert!(s.contains("EXITED:0") && terminal_restored(&s), "{s}");
}

/// Waits until a console API listens on `api` (a cold start on a loaded
/// machine takes a while; `attach` refuses to start without a mesh).
async fn wait_for_api(api: &str) {
    let deadline = tokio::time::Instant::now() + LONG;
    while tokio::net::TcpStream::connect(api).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mesh came up on {api}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A headless mesh whose console API listens on `api`.
fn headless(state: &std::path::Path, api: &str) -> tokio::process::Child {
    tokio::process::Command::new(meshcon_bin())
        .args([
            "up",
            "--headless",
            "--ephemeral",
            "--rps",
            "5",
            "--api",
            api,
            "--state-dir",
        ])
        .arg(state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("meshcon up --headless")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_console_shows_a_lost_mesh_and_reconnects_by_itself() {
    let dir = tempfile::TempDir::new().expect("dir");
    let api = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").to_string()
    };
    let mut mesh = headless(dir.path(), &api);
    wait_for_api(&api).await;
    let t = Tmux::start(
        &format!(
            "{} attach {api} --credentials {}{AFTER_EXIT}",
            meshcon_bin().display(),
            dir.path().join("console.token").display()
        ),
        120,
        40,
    );
    t.wait_text(LONG, "proxies ACKed").await;
    // SIGTERM: the mesh shuts down cleanly and the console notices.
    let pid = mesh.id().expect("pid").to_string();
    assert!(std::process::Command::new("kill")
        .arg(&pid)
        .status()
        .expect("kill")
        .success());
    let _ = tokio::time::timeout(LONG, mesh.wait()).await;
    let s = t.wait_text(LONG, "not connected").await;
    assert!(s.contains(&api), "{s}");
    // The same mesh comes back: the console reconnects without a key pressed.
    let _mesh = headless(dir.path(), &api);
    wait_for_api(&api).await;
    t.wait_for(LONG, "the console connected again", |s| {
        s.contains("proxies ACKed") && !s.contains("not connected")
    })
    .await;
    t.keys(&["2"]).await;
    t.wait_for(LONG, "live services again", all_demo_services_live)
        .await;
}
