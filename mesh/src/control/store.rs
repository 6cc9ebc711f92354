//! The mesh configuration store: the applied resources at each version, with
//! history in SQLite (one row per version, the whole resource set as JSON),
//! so any version can be listed, diffed and rolled back, across restarts.
//!
//! Every commit is one SQLite transaction in WAL mode with full sync: a
//! version the store reported as applied survives a crash.

use std::path::Path;
use std::sync::{Arc, Mutex};

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

/// One row of history.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// Version.
    pub version: u64,
    /// When it was committed, ms since the epoch.
    pub unix_ms: i64,
    /// What changed.
    pub summary: String,
    /// How many resources it holds.
    pub resources: u32,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("config history database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored version could not be decoded.
    #[error("config history holds an unreadable version {version}: {why}")]
    Corrupt {
        /// Which version.
        version: u64,
        /// Why.
        why: String,
    },
    /// The version asked for does not exist.
    #[error("version {0} does not exist (see `meshcon history`)")]
    NoSuchVersion(u64),
}

/// The config store.
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
        let db = match path {
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
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS versions (
                version INTEGER PRIMARY KEY,
                unix_ms INTEGER NOT NULL,
                summary TEXT NOT NULL,
                resources TEXT NOT NULL
            );",
        )?;
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
        let mut db = match self.db.lock() {
            Ok(db) => db,
            Err(p) => p.into_inner(),
        };
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
        let db = match self.db.lock() {
            Ok(db) => db,
            Err(p) => p.into_inner(),
        };
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
        let db = match self.db.lock() {
            Ok(db) => db,
            Err(p) => p.into_inner(),
        };
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
