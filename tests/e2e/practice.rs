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
which terminates the client's TLS and forwards them to the sidecar of the first service, which hands \
them to the service. Since the control plane sits off \
the request path, traffic keeps flowing while it restarts.";

/// The keys that label a diagram on `screen` right: for each slot letter,
/// the letter and the digit of its label (1 data plane, 2 control plane,
/// 3 sidecar proxy, 4 mTLS connection, 5 Ingress Gateway).
fn diagram_answer(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let slot = |l: &str, after: &str| -> Option<char> {
        let at = l.find(after)? + after.len();
        l[at..].chars().next().filter(char::is_ascii_uppercase)
    };
    let row = lines
        .iter()
        .position(|l| l.contains("client ─HTTPS▶"))
        .expect("the pods' row");
    let mut keys = Vec::new();
    let mut put = |letter: Option<char>, label: &str| {
        let letter = letter.unwrap_or_else(|| panic!("no slot for {label}:\n{screen}"));
        keys.push(letter.to_ascii_lowercase().to_string());
        keys.push(label.to_string());
    };
    // The control plane: the box four lines above the pods.
    put(slot(lines[row - 4], "── ["), "2");
    // The Ingress Gateway: the first box after the client.
    put(slot(lines[row], "─HTTPS▶ │["), "5");
    // The mTLS connection: the labelled double line.
    put(slot(lines[row], "═["), "4");
    // The sidecar: the labelled cell left of an app's name.
    let sidecar = lines[row]
        .match_indices("│[")
        .skip(1)
        .find_map(|(i, _)| lines[row][i..].chars().nth(2));
    put(sidecar, "3");
    // The data plane: the bracket under the pods.
    put(slot(lines[row + 2], "── ["), "1");
    keys
}

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

    // A flashcard: flip, grade it "good", see when it comes back.
    open(&t, 1).await;
    t.wait_text(SHORT, "Space: flip").await;
    t.keys(&["Space"]).await;
    t.wait_text(SHORT, "How well did you know it?").await;
    t.keys(&["3"]).await;
    t.wait_text(SHORT, "next in 1 day").await;
    back_to_menu(&t).await;

    // The diagram, drawn anew: read where each slot sits, label them all.
    open(&t, 3).await;
    let s = t.wait_text(SHORT, "client ─HTTPS▶").await;
    let keys = diagram_answer(&s);
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    t.keys(&keys).await;
    t.keys(&["Enter"]).await;
    let s = t.wait_text(SHORT, "score").await;
    assert!(
        s.contains("score 5/5") && s.contains("Ingress Gateway ✓") && s.contains("sidecar proxy ✓"),
        "{s}"
    );
    back_to_menu(&t).await;

    // A hundred words, checked.
    open(&t, 4).await;
    t.wait_text(SHORT, "The exercise").await;
    t.type_text(EXPLANATION).await;
    t.keys(&["F2"]).await;
    let s = t.wait_text(SHORT, "Verdict:").await;
    let words = EXPLANATION.split_whitespace().count();
    assert!(s.contains(&format!("Verdict: PASS ({words} words")), "{s}");
    assert!(!s.contains("✗"), "nothing missing or wrong: {s}");
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
        s.contains("[0, 1, 0, 0]"),
        "the card keeps its one-day interval: {s}"
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
    // The slow-service kind (first after "any").
    t.keys(&["c"]).await;
    t.wait_text(SHORT, "kind: slow service").await;
    t.keys(&["Enter"]).await;
    let s = t.wait_text(SHORT, "The drill is on").await;
    assert!(s.contains("pages got slow"), "{s}");

    // Look for it as a user would: Services shows P99s rising, and Tap
    // tells the culprit from its callers: calls to it are slow, its own
    // calls are not.
    t.keys(&["2"]).await;
    t.wait_for(
        Duration::from_secs(90),
        "a service with a P99 over 250 ms",
        |s| service_rows(s).iter().any(|r| r.4 >= 250.0),
    )
    .await;
    t.keys(&["3"]).await;
    let s = t
        .wait_for(LONG, "a slow service whose own calls are fast", |s| {
            slow_service(s).is_some()
        })
        .await;
    let slow = slow_service(&s).expect("culprit");

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

/// A headless mesh whose console API listens on a free port; its address.
async fn headless(state: &std::path::Path) -> (tokio::process::Child, String) {
    let api = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").to_string()
    };
    let child = tokio::process::Command::new(meshcon_bin())
        .args([
            "up",
            "--headless",
            "--ephemeral",
            "--rps",
            "20",
            "--api",
            &api,
            "--state-dir",
        ])
        .arg(state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("meshcon up --headless");
    let deadline = tokio::time::Instant::now() + LONG;
    while tokio::net::TcpStream::connect(&api).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "no mesh on {api}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, api)
}

/// The mesh's events, as `meshcon get events` prints them.
async fn events(mesh: &std::path::Path, api: &str) -> String {
    let out = tokio::process::Command::new(meshcon_bin())
        .arg("--credentials")
        .arg(mesh.join("console.token"))
        .args(["get", "events", "--mesh", api])
        .output()
        .await
        .expect("get events");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Tap rows as (source, destination, latency ms).
fn tap_latencies(screen: &str) -> Vec<(String, String, f64)> {
    screen
        .lines()
        .filter_map(|l| {
            let (left, rest) = l.split_once('→')?;
            let src = left.split_whitespace().last()?.to_string();
            let cells: Vec<&str> = rest.split_whitespace().collect();
            // DESTINATION METHOD PATH STATUS FLAGS MS
            let ms = cells.get(5)?.parse().ok()?;
            Some((src, cells.first()?.to_string(), ms))
        })
        .collect()
}

/// The service of an instance (`user-v1-0` → `user`).
fn service_of(instance: &str) -> &str {
    instance.rsplitn(3, '-').nth(2).unwrap_or(instance)
}

/// The service called slowly (over 250 ms) whose own calls are all fast.
fn slow_service(screen: &str) -> Option<String> {
    let rows = tap_latencies(screen);
    let mut slow: Vec<&str> = rows
        .iter()
        .filter(|r| r.2 >= 250.0)
        .map(|r| service_of(&r.1))
        .collect();
    slow.sort();
    slow.dedup();
    let culprits: Vec<&str> = slow
        .into_iter()
        .filter(|s| {
            rows.iter()
                .filter(|r| service_of(&r.0) == *s)
                .all(|r| r.2 < 250.0)
        })
        .collect();
    match culprits.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

/// Tap rows as (destination instance, status).
fn tap_rows(screen: &str) -> Vec<(String, u16)> {
    screen
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once('→')?;
            let mut cells = rest.split_whitespace();
            let dst = cells.next()?.to_string();
            // METHOD PATH STATUS
            let status = cells.nth(2)?.parse().ok()?;
            Some((dst, status))
        })
        .collect()
}

/// The instance whose every tapped answer failed, with enough of them.
fn failing_instance(screen: &str) -> Option<String> {
    let mut by: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    for (dst, status) in tap_rows(screen) {
        let e = by.entry(dst).or_default();
        e.0 += 1;
        e.1 += u32::from(status >= 500);
    }
    by.into_iter()
        .find(|(_, (n, failed))| *n >= 3 && n == failed)
        .map(|(i, _)| i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_hidden_from_the_footer_is_solved_from_tap_and_undone_on_quit() {
    let mesh_dir = tempfile::TempDir::new().expect("dir");
    let own = tempfile::TempDir::new().expect("dir");
    let (_mesh, api) = headless(mesh_dir.path()).await;
    let t = Tmux::start(
        &format!(
            "{} practice --mesh {api} --credentials {} --state-dir {}{AFTER_EXIT}",
            meshcon_bin().display(),
            mesh_dir.path().join("console.token").display(),
            own.path().display()
        ),
        120,
        40,
    );
    t.wait_text(LONG, "proxies ACKed").await;
    open(&t, 5).await;
    t.keys(&["c", "c"]).await;
    t.wait_text(SHORT, "kind: failing instance").await;
    t.keys(&["Enter"]).await;
    let s = t.wait_text(SHORT, "The drill is on").await;
    assert!(s.contains("Which instance"), "{s}");
    // The footer says a fault is in place, never which.
    let s = t.wait_text(LONG, "find it in the views").await;
    assert!(!s.contains("now fails") && !s.contains("503"), "{s}");
    t.keys(&["8"]).await;
    let s = t.wait_text(SHORT, "Events").await;
    assert!(!s.contains("now fails"), "Events keep the drill: {s}");

    // Tap names the instance that answered each request.
    t.keys(&["3"]).await;
    let s = t
        .wait_for(LONG, "an instance whose every answer fails", |s| {
            failing_instance(s).is_some()
        })
        .await;
    let culprit = failing_instance(&s).expect("culprit");

    t.keys(&["9", "Enter"]).await;
    t.type_text(&format!("{culprit} fails every request")).await;
    t.keys(&["Tab"]).await;
    t.type_text("DestinationRule").await;
    t.keys(&["Enter"]).await;
    let s = t
        .wait_for(SHORT, "the verdict", |s| {
            s.contains("Right!") || s.contains("Not quite")
        })
        .await;
    assert!(s.contains("Right!") && s.contains(&culprit), "{s}");
    let healed = |e: &str| e.lines().filter(|l| l.contains("healed")).count();
    let mut e = events(mesh_dir.path(), &api).await;
    for _ in 0..100 {
        if healed(&e) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        e = events(mesh_dir.path(), &api).await;
    }
    assert_eq!(healed(&e), 1, "{e}");

    // Another drill, and quit before answering: it is undone on the way out.
    t.keys(&["Enter", "Enter"]).await;
    t.wait_text(SHORT, "The drill is on").await;
    let fails = |e: &str| e.lines().filter(|l| l.contains("now fails")).count();
    let mut e = events(mesh_dir.path(), &api).await;
    for _ in 0..100 {
        if fails(&e) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        e = events(mesh_dir.path(), &api).await;
    }
    assert_eq!(fails(&e), 2, "{e}");
    t.keys(&["q"]).await;
    let s = t.wait_text(LONG, "EXITED:").await;
    assert!(s.contains("EXITED:0") && terminal_restored(&s), "{s}");
    let e = events(mesh_dir.path(), &api).await;
    assert_eq!(healed(&e), 2, "undone on quit: {e}");
}
