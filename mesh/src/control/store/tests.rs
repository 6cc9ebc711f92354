//! The store against old, damaged and large databases.

use super::*;

/// A database file of its own, removed on drop.
struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "meshcon-store-{name}-{}-{}",
            std::process::id(),
            crate::control::events::unix_ms()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self) -> std::path::PathBuf {
        self.0.join("config.db")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn user_version(path: &Path) -> u32 {
    Connection::open(path)
        .expect("open")
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version")
}

#[test]
fn opens_a_database_written_before_the_schema_had_a_version() {
    let tmp = TempDb::new("old");
    {
        // Exactly what meshcon wrote before user_version was used.
        let db = Connection::open(tmp.path()).expect("create");
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS versions (
                version INTEGER PRIMARY KEY,
                unix_ms INTEGER NOT NULL,
                summary TEXT NOT NULL,
                resources TEXT NOT NULL
            );
            INSERT INTO versions VALUES (1, 1000, 'first', '[]');
            INSERT INTO versions VALUES (2, 2000, 'second', '[]');",
        )
        .expect("old schema");
    }
    assert_eq!(user_version(&tmp.path()), 0);
    let store = ConfigStore::open(Some(&tmp.path())).expect("open old database");
    assert_eq!(store.current().version, 2);
    let history = store.history().expect("history");
    assert_eq!(
        history
            .iter()
            .map(|h| h.summary.as_str())
            .collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(store.commit(Vec::new(), "third").expect("commit"), 3);
    drop(store);
    assert_eq!(user_version(&tmp.path()), SCHEMA_VERSION);
}

#[test]
fn reopens_a_database_it_created() {
    let tmp = TempDb::new("new");
    let store = ConfigStore::open(Some(&tmp.path())).expect("create");
    assert_eq!(store.current().version, 0);
    store.commit(Vec::new(), "first").expect("commit");
    drop(store);
    assert_eq!(user_version(&tmp.path()), SCHEMA_VERSION);
    let store = ConfigStore::open(Some(&tmp.path())).expect("reopen");
    assert_eq!(store.current().version, 1);
    assert_eq!(store.history().expect("history").len(), 1);
}

#[test]
fn refuses_a_database_from_a_newer_meshcon() {
    let tmp = TempDb::new("newer");
    {
        let db = Connection::open(tmp.path()).expect("create");
        db.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("user_version");
    }
    let err = ConfigStore::open(Some(&tmp.path())).expect_err("newer schema");
    assert!(err.to_string().contains("upgrade meshcon"), "{err}");
}

/// `n` VirtualServices, each with a few routes, the `changed`th with a
/// different weight.
fn big_config(n: usize, changed: usize) -> Vec<Resource> {
    let mut yaml = String::new();
    for i in 0..n {
        let w = if i == changed { 70 } else { 90 };
        yaml.push_str(&format!(
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: svc-{i}, namespace: default}}\nspec:\n  hosts: [svc-{i}]\n  http:\n  - match:\n    - headers:\n        end-user: {{exact: tester-{i}}}\n    route:\n    - destination: {{host: svc-{i}, subset: v2}}\n  - route:\n    - destination: {{host: svc-{i}, subset: v1}}\n      weight: {w}\n    - destination: {{host: svc-{i}, subset: v2}}\n      weight: {}\n    retries: {{attempts: 3, perTryTimeout: 2s}}\n    timeout: 10s\n",
            100 - w
        ));
    }
    let out = crate::config::parse::parse("big.yaml", &yaml);
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    out.resources.into_iter().map(|p| p.resource).collect()
}

fn files_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("config.db"))
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".bak"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[test]
fn twenty_versions_of_a_big_config_cost_little_more_than_one() {
    let tmp = TempDb::new("dedup");
    let store = ConfigStore::open(Some(&tmp.path())).expect("create");
    let one_copy = serde_json::to_string(&big_config(500, usize::MAX))
        .expect("json")
        .len() as u64;
    for v in 0..20 {
        store
            .commit(big_config(500, v), &format!("change {v}"))
            .expect("commit");
    }
    drop(store);
    let size = files_size(&tmp.0);
    // Whole copies would take 20 × one_copy; each version adds one
    // resource and a list of names.
    assert!(
        size < 3 * one_copy,
        "20 versions take {size} bytes; one copy of the config is {one_copy}"
    );
    let store = ConfigStore::open(Some(&tmp.path())).expect("reopen");
    assert_eq!(store.current().version, 20);
    assert_eq!(store.at(20).expect("v20"), {
        let mut r = big_config(500, 19);
        r.sort_by_key(|r| r.key());
        r
    });
    assert_eq!(store.history().expect("history")[4].resources, 500);
}

#[test]
fn junk_in_the_latest_row_falls_back_to_the_previous_version_with_a_warning() {
    let tmp = TempDb::new("junkrow");
    let store = ConfigStore::open(Some(&tmp.path())).expect("create");
    store.commit(big_config(3, 0), "first").expect("v1");
    store.commit(big_config(3, 1), "second").expect("v2");
    drop(store);
    Connection::open(tmp.path())
        .expect("open")
        .execute(
            "UPDATE versions SET resources = 'junk{{' WHERE version = 2",
            [],
        )
        .expect("spoil");
    let store = ConfigStore::open_recovering(&tmp.path()).expect("starts anyway");
    assert_eq!(store.current().version, 1);
    let w = store.warnings().join("\n");
    assert!(w.contains("v2 is") && w.contains("running v1"), "{w}");
    // The next version gets a new number; the damaged row stays listed.
    assert_eq!(store.commit(Vec::new(), "third").expect("commit"), 3);
    assert_eq!(store.history().expect("history").len(), 3);
}

#[test]
fn a_resource_that_does_not_match_its_checksum_is_damage() {
    let tmp = TempDb::new("blob");
    let store = ConfigStore::open(Some(&tmp.path())).expect("create");
    store.commit(big_config(2, 0), "first").expect("v1");
    drop(store);
    Connection::open(tmp.path())
        .expect("open")
        .execute(
            "UPDATE blobs SET body = replace(body, 'svc-1', 'svc-9')",
            [],
        )
        .expect("spoil");
    let store = ConfigStore::open(Some(&tmp.path())).expect("open");
    assert_eq!(store.current().version, 0);
    let w = store.warnings().join("\n");
    assert!(
        w.contains("checksum") && w.contains("no version can be read"),
        "{w}"
    );
}

#[test]
fn an_empty_or_overwritten_file_is_recovered_from_the_backup() {
    for spoil in [
        &b""[..],
        &b"this is not a database, just junk written over it"[..],
    ] {
        let tmp = TempDb::new("damaged");
        let store = ConfigStore::open_recovering(&tmp.path()).expect("create");
        store.commit(big_config(3, 0), "first").expect("v1");
        store.commit(big_config(3, 1), "second").expect("v2");
        drop(store);
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(sibling(&tmp.path(), suffix));
        }
        std::fs::write(tmp.path(), spoil).expect("spoil");
        let err = ConfigStore::open(Some(&tmp.path())).expect_err("refused");
        assert!(err.to_string().contains("is damaged"), "{err}");
        let store = ConfigStore::open_recovering(&tmp.path()).expect("recovered");
        assert_eq!(store.current().version, 2);
        assert_eq!(store.history().expect("history").len(), 2);
        let w = store.warnings().join("\n");
        assert!(
            w.contains("was damaged") && w.contains("recovered v2"),
            "{w}"
        );
        let aside = std::fs::read_dir(&tmp.0)
            .expect("list")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains(".damaged-"));
        assert!(aside, "the damaged file is kept");
    }
}

#[test]
fn a_damaged_file_without_a_backup_is_reported_not_silently_emptied() {
    let tmp = TempDb::new("nobackup");
    std::fs::write(tmp.path(), b"").expect("empty file");
    let store = ConfigStore::open_recovering(&tmp.path()).expect("starts");
    assert_eq!(store.current().version, 0);
    let w = store.warnings().join("\n");
    assert!(
        w.contains("0 bytes") && w.contains("no usable backup"),
        "{w}"
    );
}

#[test]
fn the_database_is_private_and_in_wal_mode() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDb::new("mode");
    let store = ConfigStore::open(Some(&tmp.path())).expect("create");
    store.commit(Vec::new(), "first").expect("v1");
    let mode = std::fs::metadata(tmp.path())
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let journal: String = store
        .db
        .lock()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(journal, "wal");
}

#[test]
fn whole_copies_written_before_are_stored_once_when_up_opens_them() {
    let tmp = TempDb::new("convert");
    let config = |changed| {
        let mut r = big_config(200, changed);
        r.sort_by_key(|r| r.key());
        r
    };
    {
        // What meshcon wrote before resources were stored once.
        let db = Connection::open(tmp.path()).expect("create");
        db.execute_batch(MIGRATIONS[0]).expect("old schema");
        db.pragma_update(None, "user_version", 1)
            .expect("user_version");
        for v in 1..=10u64 {
            let json = serde_json::to_string(&config(v as usize)).expect("json");
            db.execute(
                "INSERT INTO versions VALUES (?1, 0, 'old', ?2)",
                params![v as i64, json],
            )
            .expect("row");
        }
    }
    let before = files_size(&tmp.0);
    let store = ConfigStore::open_recovering(&tmp.path()).expect("open");
    assert_eq!(store.current().version, 10);
    assert_eq!(store.at(3).expect("v3"), config(3));
    assert_eq!(store.history().expect("history")[0].resources, 200);
    drop(store);
    let after = files_size(&tmp.0);
    assert!(after * 3 < before, "{before} bytes became {after}");
    let left: i64 = Connection::open(tmp.path())
        .expect("open")
        .query_row(
            "SELECT COUNT(*) FROM versions WHERE manifest = 0",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(left, 0);
}
