//! The mesh configuration store: the applied resources at each version, with
//! history in SQLite (one row per version, the whole resource set as JSON),
//! so any version can be listed, diffed and rolled back, across restarts.
//!
//! Every commit is one SQLite transaction in WAL mode with full sync: a
//! version the store reported as applied survives a crash.
//!
//! The schema is versioned with `PRAGMA user_version`: [`MIGRATIONS`] lists
//! every change in order, and opening a database applies the ones it lacks
//! in one transaction. A database from before versioning has user_version 0
//! and today's first table, which the first migration accepts as it is.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::watch;

use crate::config::model::Resource;

/// The configuration at one version.
#[derive(Debug, Clone, Default)]
pub struct ConfigState {
    /// Version number; 0 before anything was applied.
    pub version: u64,
    /// Resources, sorted by kind, namespace and name.
    pub resources: Arc<Vec<Resource>>,
}

/// The schema changes, oldest first; applying `MIGRATIONS[n]` takes a
/// database from user_version `n` to `n + 1`. Only ever append.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the history table. IF NOT EXISTS, because databases written
    // before the schema had a version already hold it.
    "CREATE TABLE IF NOT EXISTS versions (
        version INTEGER PRIMARY KEY,
        unix_ms INTEGER NOT NULL,
        summary TEXT NOT NULL,
        resources TEXT NOT NULL
    );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// One row of history.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// The config version this row holds.
    pub version: u64,
    /// When it was committed, ms since the epoch.
    pub unix_ms: i64,
    /// What changed, e.g. `apply: VirtualService default/billing configured`.
    pub summary: String,
    /// How many resources it holds.
    pub resources: u32,
}

/// Why the config history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an open, query or write.
    #[error("config history database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored version could not be decoded.
    #[error("config history holds an unreadable version {version}: {why}")]
    Corrupt {
        /// The config version that cannot be read.
        version: u64,
        /// What the JSON decoder said.
        why: String,
    },
    /// The version asked for does not exist.
    #[error("version {0} does not exist (see `meshcon history`)")]
    NoSuchVersion(u64),
    /// The database was written by a newer meshcon.
    #[error("config history database has schema version {found}, newer than this meshcon knows ({known}): upgrade meshcon or use another state directory")]
    NewerSchema {
        /// The database's user_version.
        found: u32,
        /// [`SCHEMA_VERSION`].
        known: u32,
    },
}

/// Brings `db` to [`SCHEMA_VERSION`], all missing migrations in one
/// transaction: a crash leaves the old schema or the new one.
fn migrate(db: &mut Connection) -> Result<(), StoreError> {
    let txn = db.transaction()?;
    let found: u32 = txn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    for step in &MIGRATIONS[found as usize..] {
        txn.execute_batch(step)?;
    }
    txn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    txn.commit()?;
    Ok(())
}

/// The config store: the current version for followers, history in SQLite.
pub struct ConfigStore {
    tx: watch::Sender<Arc<ConfigState>>,
    db: Mutex<Connection>,
}

impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigStore")
            .field("version", &self.current().version)
            .finish()
    }
}

impl ConfigStore {
    /// Opens (or creates) the history at `path`; `None` keeps it in memory.
    pub fn open(path: Option<&Path>) -> Result<Self, StoreError> {
        let mut db = match path {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let db = Connection::open(p)?;
                db.pragma_update(None, "journal_mode", "WAL")?;
                db.pragma_update(None, "synchronous", "FULL")?;
                db
            }
            None => Connection::open_in_memory()?,
        };
        migrate(&mut db)?;
        let latest: Option<(u64, String)> = db
            .query_row(
                "SELECT version, resources FROM versions ORDER BY version DESC LIMIT 1",
                [],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get(1)?)),
            )
            .optional()?;
        let state = match latest {
            Some((version, json)) => ConfigState {
                version,
                resources: Arc::new(decode(version, &json)?),
            },
            None => ConfigState::default(),
        };
        let (tx, _) = watch::channel(Arc::new(state));
        Ok(Self {
            tx,
            db: Mutex::new(db),
        })
    }

    /// The configuration now in force.
    pub fn current(&self) -> Arc<ConfigState> {
        self.tx.borrow().clone()
    }

    /// Follows the configuration.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ConfigState>> {
        self.tx.subscribe()
    }

    /// Stores `resources` as the next version and makes it current.
    pub fn commit(&self, mut resources: Vec<Resource>, summary: &str) -> Result<u64, StoreError> {
        resources.sort_by_key(|r| r.key());
        let json = serde_json::to_string(&resources).map_err(|e| StoreError::Corrupt {
            version: 0,
            why: e.to_string(),
        })?;
        let mut db = self.db.lock();
        let version = self.current().version + 1;
        let txn = db.transaction()?;
        txn.execute(
            "INSERT OR REPLACE INTO versions (version, unix_ms, summary, resources) VALUES (?1, ?2, ?3, ?4)",
            params![version as i64, super::events::unix_ms(), summary, json],
        )?;
        txn.commit()?;
        self.tx.send_replace(Arc::new(ConfigState {
            version,
            resources: Arc::new(resources),
        }));
        Ok(version)
    }

    /// Every version, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db.prepare(
            "SELECT version, unix_ms, summary, resources FROM versions ORDER BY version",
        )?;
        let rows = stmt.query_map([], |row| {
            let json: String = row.get(3)?;
            let count =
                serde_json::from_str::<Vec<serde_json::Value>>(&json).map_or(0, |v| v.len() as u32);
            Ok(HistoryEntry {
                version: row.get::<_, i64>(0)? as u64,
                unix_ms: row.get(1)?,
                summary: row.get(2)?,
                resources: count,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every version as the console API lists them.
    pub fn history_list(&self) -> Result<crate::proto::HistoryList, StoreError> {
        Ok(crate::proto::HistoryList {
            entries: self
                .history()?
                .into_iter()
                .map(|e| crate::proto::HistoryEntry {
                    version: e.version,
                    unix_time: e.unix_ms.to_string(),
                    summary: e.summary,
                    resources: e.resources,
                })
                .collect(),
        })
    }

    /// A unified diff of the YAML of two versions (`to` 0: the current one).
    pub fn diff(&self, from: u64, to: u64) -> Result<String, StoreError> {
        let to = if to == 0 { self.current().version } else { to };
        let (a, b) = (self.at(from)?, self.at(to)?);
        Ok(crate::config::diff(
            &crate::config::to_yaml(&a),
            &crate::config::to_yaml(&b),
            &format!("v{from}"),
            &format!("v{to}"),
        ))
    }

    /// The resources at `version` (0 is the empty initial configuration).
    pub fn at(&self, version: u64) -> Result<Vec<Resource>, StoreError> {
        if version == 0 {
            return Ok(Vec::new());
        }
        let db = self.db.lock();
        let json: Option<String> = db
            .query_row(
                "SELECT resources FROM versions WHERE version = ?1",
                params![version as i64],
                |row| row.get(0),
            )
            .optional()?;
        match json {
            Some(j) => decode(version, &j),
            None => Err(StoreError::NoSuchVersion(version)),
        }
    }
}

fn decode(version: u64, json: &str) -> Result<Vec<Resource>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        version,
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
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
}
