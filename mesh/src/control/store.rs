//! The mesh configuration store: the applied resources at each version, with
//! history in SQLite, so any version can be listed, diffed and rolled back,
//! across restarts.
//!
//! Every commit is one SQLite transaction in WAL mode with full sync: a
//! version the store reported as applied survives a crash.
//!
//! Resources are stored once: each is a row of `blobs`, named by (the first
//! 128 bits of) the SHA-256 of its JSON, and a version's row lists the names
//! of the resources it holds. Applying one changed rule to a big config adds
//! one resource and one list of names, not another copy of everything. The
//! name doubles as a checksum: a resource whose JSON does not hash to its
//! name is damage, found when it is read. Versions written before this (the
//! whole resource set as JSON in the row, `manifest = 0`) are read as they
//! are.
//!
//! Damage is reported, never silently turned into an empty config:
//! - a version's row that cannot be decoded is skipped, and the store runs
//!   the newest version that can, with a warning; the next commit gets a new
//!   number, so the damaged row stays for inspection;
//! - a file that SQLite cannot read (empty, overwritten, failing
//!   `quick_check`) is refused by [`ConfigStore::open`] with
//!   [`StoreError::Damaged`]; [`ConfigStore::open_recovering`] (what `up`
//!   uses) moves it aside and recovers from `config.db.bak`, the copy made
//!   after every commit with `VACUUM INTO`.
//!
//! The schema is versioned with `PRAGMA user_version`: [`MIGRATIONS`] lists
//! every change in order, and opening a database applies the ones it lacks
//! in one transaction. A database from before versioning has user_version 0
//! and today's first table, which the first migration accepts as it is.

use std::path::{Path, PathBuf};
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
    // 1 → 2: resources stored once. `manifest = 1`: `resources` lists blob
    // ids; 0: it holds the resources themselves (rows written before).
    "ALTER TABLE versions ADD COLUMN manifest INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE IF NOT EXISTS blobs (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL
    ) WITHOUT ROWID;",
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
    /// The database file itself is damaged.
    #[error("the config history file {} is damaged ({why}); `meshcon up` with this state directory moves it aside and recovers the last good version from config.db.bak", path.display())]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A file next to the database could not be moved or copied.
    #[error("config history {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
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

/// Where the copy made after every commit is kept.
pub fn backup_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    db.with_file_name(name)
}

/// `db` with a suffix appended to its file name (`config.db-wal`).
fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    db.with_file_name(name)
}

/// Whether SQLite's error means the file is not a sound database.
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Opens the database file at `p`, refusing one that is damaged.
fn open_file(p: &Path) -> Result<Connection, StoreError> {
    let damaged = |why: String| StoreError::Damaged {
        path: p.to_path_buf(),
        why,
    };
    let io = |source| StoreError::Io {
        path: p.to_path_buf(),
        source,
    };
    match std::fs::metadata(p) {
        Ok(m) if m.len() == 0 => return Err(damaged("the file is empty (0 bytes)".into())),
        Ok(_) => {}
        Err(_) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            // SQLite creates files with the umask's mode; history is private.
            crate::state::touch_private(p).map_err(io)?;
        }
    }
    let sql = |e: rusqlite::Error| {
        if is_damage(&e) {
            damaged(e.to_string())
        } else {
            StoreError::Sqlite(e)
        }
    };
    let db = Connection::open(p).map_err(sql)?;
    db.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
    db.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
    let check: String = db
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(sql)?;
    if check != "ok" {
        return Err(damaged(format!("integrity check: {check}")));
    }
    Ok(db)
}

/// The name a resource's JSON is stored under.
fn blob_id(body: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A version's row (the list of blob ids) and the blobs it names.
fn encode(resources: &[Resource]) -> Result<(String, Vec<(String, String)>), StoreError> {
    let unencodable = |e: serde_json::Error| StoreError::Corrupt {
        version: 0,
        why: e.to_string(),
    };
    let mut blobs = Vec::with_capacity(resources.len());
    for r in resources {
        let body = serde_json::to_string(r).map_err(unencodable)?;
        blobs.push((blob_id(&body), body));
    }
    let ids: Vec<&str> = blobs.iter().map(|(id, _)| id.as_str()).collect();
    let manifest = serde_json::to_string(&ids).map_err(unencodable)?;
    Ok((manifest, blobs))
}

/// Stores the `blobs` not stored yet.
fn put_blobs(
    txn: &rusqlite::Transaction<'_>,
    blobs: &[(String, String)],
) -> Result<(), StoreError> {
    let mut put = txn.prepare_cached("INSERT OR IGNORE INTO blobs (id, body) VALUES (?1, ?2)")?;
    for (id, body) in blobs {
        put.execute(params![id, body])?;
    }
    Ok(())
}

/// Rewrites rows of the whole-copy form (written before resources were
/// stored once) into lists of blob ids, then gives the space back: an old
/// history of a big config shrinks from a copy per version to about one.
/// Rows that cannot be decoded stay as they are, for inspection.
fn convert_whole_copies(db: &mut Connection) -> Result<usize, StoreError> {
    let rows: Vec<(i64, String)> = {
        let mut stmt = db.prepare("SELECT version, resources FROM versions WHERE manifest = 0")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let txn = db.transaction()?;
    let mut converted = 0;
    for (version, json) in rows {
        let Ok(resources) = decode(version as u64, &json) else {
            continue;
        };
        let (manifest, blobs) = encode(&resources)?;
        put_blobs(&txn, &blobs)?;
        txn.execute(
            "UPDATE versions SET resources = ?1, manifest = 1 WHERE version = ?2",
            params![manifest, version],
        )?;
        converted += 1;
    }
    txn.commit()?;
    if converted > 0 {
        db.execute_batch("VACUUM")?;
    }
    Ok(converted)
}

/// The resources of `version` as stored in `db`.
fn read_version(db: &Connection, version: u64) -> Result<Vec<Resource>, StoreError> {
    let row: Option<(String, i64)> = db
        .query_row(
            "SELECT resources, manifest FROM versions WHERE version = ?1",
            params![version as i64],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((text, manifest)) = row else {
        return Err(StoreError::NoSuchVersion(version));
    };
    if manifest == 0 {
        return decode(version, &text);
    }
    let corrupt = |why: String| StoreError::Corrupt { version, why };
    let ids: Vec<String> = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    let mut stmt = db.prepare_cached("SELECT body FROM blobs WHERE id = ?1")?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let body: Option<String> = stmt.query_row(params![id], |row| row.get(0)).optional()?;
        let body = body.ok_or_else(|| corrupt(format!("resource {id} is missing")))?;
        if blob_id(&body) != id {
            return Err(corrupt(format!(
                "resource {id} does not match its checksum"
            )));
        }
        out.push(serde_json::from_str(&body).map_err(|e| corrupt(e.to_string()))?);
    }
    Ok(out)
}

/// The newest version that can be read, and a warning for each newer one
/// that cannot.
fn load_latest(db: &Connection) -> Result<(ConfigState, Vec<String>), StoreError> {
    let versions: Vec<u64> = {
        let mut stmt = db.prepare("SELECT version FROM versions ORDER BY version DESC")?;
        let rows = stmt.query_map([], |row| row.get::<_, i64>(0))?;
        rows.map(|r| r.map(|v| v as u64))
            .collect::<Result<_, _>>()?
    };
    let mut skipped = Vec::new();
    for &v in &versions {
        match read_version(db, v) {
            Ok(resources) => {
                let mut warnings = Vec::new();
                if !skipped.is_empty() {
                    warnings.push(format!(
                        "config history: {} unreadable; running v{v}, the last good version (the next apply makes v{})",
                        skipped.join("; "),
                        versions[0] + 1
                    ));
                }
                return Ok((
                    ConfigState {
                        version: v,
                        resources: Arc::new(resources),
                    },
                    warnings,
                ));
            }
            Err(StoreError::Corrupt { why, .. }) => skipped.push(format!("v{v} is {why}")),
            Err(e) => return Err(e),
        }
    }
    let warnings = if skipped.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "config history: no version can be read ({}); starting with no rules",
            skipped.join("; ")
        )]
    };
    Ok((ConfigState::default(), warnings))
}

/// Copies the whole database to [`backup_path`], atomically.
fn backup(db: &Connection, path: &Path) -> Result<(), StoreError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| StoreError::Io { path: p, source }
    };
    let tmp = sibling(path, ".bak.tmp");
    let _ = std::fs::remove_file(&tmp);
    db.execute("VACUUM INTO ?1", params![tmp.to_string_lossy()])?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io(&tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
    }
    let bak = backup_path(path);
    std::fs::rename(&tmp, &bak).map_err(io(&bak))
}

/// The config store: the current version for followers, history in SQLite.
pub struct ConfigStore {
    tx: watch::Sender<Arc<ConfigState>>,
    db: Mutex<Connection>,
    /// The database file (None: in memory), for the backup after commits.
    path: Option<PathBuf>,
    /// What was wrong at open and how it was recovered.
    warnings: Vec<String>,
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
    /// A damaged file is refused ([`StoreError::Damaged`]); unreadable
    /// versions are skipped with a warning ([`Self::warnings`]).
    pub fn open(path: Option<&Path>) -> Result<Self, StoreError> {
        let mut db = match path {
            Some(p) => open_file(p)?,
            None => Connection::open_in_memory()?,
        };
        migrate(&mut db)?;
        let (state, warnings) = load_latest(&db)?;
        let (tx, _) = watch::channel(Arc::new(state));
        Ok(Self {
            tx,
            db: Mutex::new(db),
            path: path.map(Path::to_path_buf),
            warnings,
        })
    }

    /// Opens the history at `path` as `up` does: a damaged file is moved
    /// aside (`config.db.damaged-<ms>`) and the backup taken after the last
    /// commit restored in its place; with no backup, the mesh starts with no
    /// rules. Either way [`Self::warnings`] says what happened.
    pub fn open_recovering(path: &Path) -> Result<Self, StoreError> {
        let why = match Self::open(Some(path)) {
            Ok(store) => {
                match convert_whole_copies(&mut store.db.lock()) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        versions = n,
                        "config history: each resource now stored once"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "config history: old versions stay as they were")
                    }
                }
                let bak = backup_path(path);
                if store.current().version > 0 && !bak.exists() {
                    if let Err(e) = backup(&store.db.lock(), path) {
                        tracing::warn!(error = %e, "cannot back up the config history");
                    }
                }
                return Ok(store);
            }
            Err(StoreError::Damaged { why, .. }) => why,
            Err(e) => return Err(e),
        };
        let aside = sibling(path, &format!(".damaged-{}", super::events::unix_ms()));
        for suffix in ["", "-wal", "-shm"] {
            let from = sibling(path, suffix);
            if from.exists() {
                let to = sibling(&aside, suffix);
                std::fs::rename(&from, &to).map_err(|source| StoreError::Io {
                    path: from.clone(),
                    source,
                })?;
            }
        }
        let bak = backup_path(path);
        let restored = bak.exists()
            && std::fs::copy(&bak, path).is_ok()
            && crate::state::touch_private(path).is_ok();
        let opened = if restored {
            Self::open(Some(path))
        } else {
            Err(StoreError::NoSuchVersion(0))
        };
        let (mut store, said) = match opened {
            Ok(store) => {
                let v = store.current().version;
                let said = format!(
                    "config history {} was damaged ({why}): moved it to {}; recovered v{v}, the last good version, from {}",
                    path.display(),
                    aside.display(),
                    bak.display()
                );
                (store, said)
            }
            Err(_) => {
                // The backup is missing or damaged too: start afresh, loudly.
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(sibling(path, suffix));
                }
                let store = Self::open(Some(path))?;
                let said = format!(
                    "config history {} was damaged ({why}) and no usable backup exists: moved it to {}; the mesh starts with no rules: apply your config again",
                    path.display(),
                    aside.display()
                );
                (store, said)
            }
        };
        store.warnings.insert(0, said);
        Ok(store)
    }

    /// What was wrong with the history when it was opened, and what was
    /// done about it (empty when it was intact).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
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
        let (manifest, blobs) = encode(&resources)?;
        let mut db = self.db.lock();
        let txn = db.transaction()?;
        // After a damaged latest row the current version is older than the
        // newest row: numbers are never reused.
        let newest: i64 = txn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM versions",
            [],
            |row| row.get(0),
        )?;
        let version = (newest as u64).max(self.current().version) + 1;
        put_blobs(&txn, &blobs)?;
        txn.execute(
            "INSERT OR REPLACE INTO versions (version, unix_ms, summary, resources, manifest) VALUES (?1, ?2, ?3, ?4, 1)",
            params![version as i64, super::events::unix_ms(), summary, manifest],
        )?;
        txn.commit()?;
        // Committed: the control planes start pushing while the backup is
        // written (the lock keeps the next commit until it is).
        self.tx.send_replace(Arc::new(ConfigState {
            version,
            resources: Arc::new(resources),
        }));
        if let Some(path) = &self.path {
            // The commit stands without it; the next commit tries again.
            if let Err(e) = backup(&db, path) {
                tracing::warn!(error = %e, "cannot back up the config history");
            }
        }
        drop(db);
        Ok(version)
    }

    /// Every version, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db.prepare(
            "SELECT version, unix_ms, summary, resources FROM versions ORDER BY version",
        )?;
        let rows = stmt.query_map([], |row| {
            // Both forms are a JSON array with one element per resource.
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
        read_version(&self.db.lock(), version)
    }
}

fn decode(version: u64, json: &str) -> Result<Vec<Resource>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        version,
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
