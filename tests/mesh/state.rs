//! State you can trust and a console API only its owner can use: the token
//! every client presents, a private state directory, and config history that
//! survives damage by reporting it and recovering the last good version.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mesh::api::auth::{Credentials, NO_TOKEN, WRONG_TOKEN};
use mesh::api::{Empty, Topology};

use crate::support::{self, apply_rule, TestMesh};

/// Every directory under `dir` (itself included) and every file, with its mode.
fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut out = vec![(
        dir.to_path_buf(),
        true,
        std::fs::metadata(dir).expect("meta").permissions().mode() & 0o777,
    )];
    for e in std::fs::read_dir(dir).expect("list").filter_map(Result::ok) {
        let kind = e.file_type().expect("type");
        if kind.is_dir() {
            out.extend(modes(&e.path()));
        } else if kind.is_file() {
            let mode = e.metadata().expect("meta").permissions().mode() & 0o777;
            out.push((e.path(), false, mode));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_token_is_refused_and_the_state_dir_is_private() {
    // A state directory an older meshcon left readable by everyone.
    let outer = tempfile::TempDir::new().expect("dir");
    let state = outer.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(state.join("practice.db"), b"").expect("file");
    std::fs::set_permissions(
        state.join("practice.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let m = support::start(Topology::demo(), |o| o.state_dir = state.clone()).await;

    for (path, is_dir, mode) in modes(&state) {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
    assert!(state.join("console.token").exists());

    let none = m
        .console_with(Credentials::none())
        .await
        .workloads(Empty {})
        .await
        .expect_err("refused without a token");
    assert_eq!(none.code(), tonic::Code::Unauthenticated);
    assert_eq!(none.message(), NO_TOKEN);
    assert!(none.message().contains("--credentials FILE"), "{none}");
    let wrong = m
        .console_with(Credentials::token(&"0".repeat(64)))
        .await
        .history(Empty {})
        .await
        .expect_err("refused with another token");
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    assert_eq!(wrong.message(), WRONG_TOKEN);
    assert!(!m.workloads().await.is_empty(), "the owner's client works");

    // The CLI of a user without the token file: a sentence, exit 1.
    let api = m.mesh.api_addr().to_string();
    let elsewhere = tempfile::TempDir::new().expect("dir");
    let out = Command::new(support::meshcon_bin())
        .args(["get", "workloads", "--mesh", &api])
        .env("XDG_STATE_HOME", elsewhere.path())
        .env_remove("MESHCON_CREDENTIALS")
        .env_remove("MESHCON_STATE_DIR")
        .output()
        .expect("meshcon runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("needs its access token") && err.contains("this client has no token"),
        "{err}"
    );
    // The same user with a copy of the file, as on another machine.
    let copy = elsewhere.path().join("mesh.token");
    std::fs::copy(state.join("console.token"), &copy).expect("copy");
    let out = Command::new(support::meshcon_bin())
        .args(["get", "workloads", "--mesh", &api, "--credentials"])
        .arg(&copy)
        .env("XDG_STATE_HOME", elsewhere.path())
        .output()
        .expect("meshcon runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("billing-v2-0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    m.stop().await;
}

async fn start_on(state: &Path) -> TestMesh {
    let state = state.to_path_buf();
    support::start(Topology::demo(), move |o| o.state_dir = state).await
}

async fn version_in_force(m: &TestMesh) -> u64 {
    m.console()
        .await
        .proxies(Empty {})
        .await
        .expect("proxies")
        .into_inner()
        .version
}

async fn versions(m: &TestMesh) -> Vec<u64> {
    m.console()
        .await
        .history(Empty {})
        .await
        .expect("history")
        .into_inner()
        .entries
        .iter()
        .map(|e| e.version)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_empty_config_db_is_reported_and_the_last_good_version_recovered() {
    let outer = tempfile::TempDir::new().expect("dir");
    let state = outer.path().join("state");
    let db = state.join("config.db");
    let m = start_on(&state).await;
    let v1 = apply_rule(&m, "canary-90-10.yaml").await.version;
    let v2 = apply_rule(&m, "header-routing.yaml").await.version;
    m.stop().await;

    // Emptied (0 bytes): reported, and v2 recovered from the backup.
    std::fs::write(&db, b"").expect("truncate");
    let m = start_on(&state).await;
    let said = m.mesh.state_warnings().join("\n");
    assert!(
        said.contains("0 bytes") && said.contains(&format!("recovered v{v2}")),
        "{said}"
    );
    assert_eq!(version_in_force(&m).await, v2);
    assert_eq!(versions(&m).await, [v1, v2]);
    m.stop().await;

    // Junk in the latest version's row: v1 runs, and the warning says so.
    rusqlite::Connection::open(&db)
        .expect("open")
        .execute(
            "UPDATE versions SET resources = 'junk' WHERE version = ?1",
            [v2 as i64],
        )
        .expect("spoil the row");
    let m = start_on(&state).await;
    let said = m.mesh.state_warnings().join("\n");
    assert!(
        said.contains(&format!("v{v2} is")) && said.contains(&format!("running v{v1}")),
        "{said}"
    );
    assert_eq!(version_in_force(&m).await, v1);
    m.stop().await;

    // Junk over the whole file: `history` with no mesh says the file is
    // broken rather than "cannot reach a mesh"; `up` recovers it.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(state.join(format!("config.db{suffix}")));
    }
    std::fs::write(&db, vec![b'x'; 8192]).expect("overwrite");
    let out = Command::new(support::meshcon_bin())
        .args(["history", "--mesh", "127.0.0.1:9", "--state-dir"])
        .arg(&state)
        .output()
        .expect("meshcon runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is damaged"), "{err}");
    let m = start_on(&state).await;
    let said = m.mesh.state_warnings().join("\n");
    assert!(
        said.contains("was damaged") && said.contains(&format!("recovered v{v2}")),
        "{said}"
    );
    assert_eq!(version_in_force(&m).await, v2);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_that_cannot_record_its_address_says_so_and_stops() {
    let outer = tempfile::TempDir::new().expect("dir");
    let state = outer.path().join("state");
    // A directory where api.addr belongs: the rename onto it fails, as a
    // write on a full disk would.
    std::fs::create_dir_all(state.join("api.addr/in-the-way")).expect("block");
    let out = tokio::process::Command::new(support::meshcon_bin())
        .args([
            "up",
            "--headless",
            "--ephemeral",
            "--rps",
            "0",
            "--state-dir",
        ])
        .arg(&state)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out)
        .await
        .expect("up gives up by itself")
        .expect("meshcon runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot record the console API address") && err.contains("it was stopped"),
        "{err}"
    );
    let left: Vec<String> = std::fs::read_dir(&state)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
