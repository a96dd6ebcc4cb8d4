//! Opening the database: location, pragmas, schema, and moving a bad file aside.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode};

/// The schema this build reads and writes, kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 3;

/// How long delivered and abandoned outbox rows are kept: long enough that a restart (or a
/// replay by the alert engine) enqueuing the same key again is recognised as a duplicate.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

const FILE_NAME: &str = "slamon.db";

/// Another process briefly holding the write lock (a `sqlite3` shell, a backup) is waited for
/// rather than failing the call.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
BEGIN IMMEDIATE;
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    notification    TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'delivered', 'abandoned')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    finished_at     INTEGER,
    last_error      TEXT,
    UNIQUE (channel, idempotency_key)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_order ON outbox (channel, fingerprint, id) WHERE state = 'pending';
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE state <> 'pending';
CREATE TABLE alert_state (
    key  TEXT PRIMARY KEY,
    json TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
COMMIT;
";

/// Version 2 adds the run history.
const SCHEMA_V2: &str = "
BEGIN IMMEDIATE;
CREATE TABLE runs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor    TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    record     TEXT    NOT NULL
);
CREATE INDEX runs_by_monitor ON runs (monitor, started_at);
PRAGMA user_version = 2;
COMMIT;
";

/// Version 3 adds the saved sliding windows.
const SCHEMA_V3: &str = "
BEGIN IMMEDIATE;
CREATE TABLE windows (
    key  TEXT PRIMARY KEY,
    json TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 3;
COMMIT;
";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "state database has schema version {found}; this slamon knows version {SCHEMA_VERSION}"
    )]
    UnknownSchema { found: i64 },
    #[error("state database is unusable: {0}")]
    Unusable(String),
    #[error("cannot encode the notification: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("outbox item {0} is not pending (already finished, or pruned)")]
    NotPending(i64),
}

/// The embedded state store; see the module documentation.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Store {
    /// Opens or creates `<dir>/slamon.db` (creating `dir`), in WAL mode with
    /// `synchronous = FULL`. A file that is corrupt, of an unknown schema version, or cannot be
    /// opened is moved aside to `slamon.db.broken-<unix time>` with a warning, and a fresh
    /// store is created, so a bad file never turns into a crash loop.
    pub fn open(dir: &Path) -> Result<Store, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let conn = match open_checked(&path) {
            Ok(conn) => conn,
            Err(e) if !is_the_files_fault(&e) => return Err(e),
            Err(e) => {
                replace_broken(&path, &e)?;
                open_checked(&path)?
            }
        };
        let store = Store {
            conn: Mutex::new(conn),
            path,
        };
        if let Err(e) = store.prune(Utc::now()) {
            // Pruning only bounds the file's size; the store is usable without it.
            tracing::warn!(path = %store.path.display(), error = %e, "could not prune the outbox");
        }
        Ok(store)
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done transaction behind: a
        // dropped rusqlite transaction rolls back, so the connection is safe to keep using.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn open_checked(path: &Path) -> Result<Connection, StateError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Reading the header is where a file that is not a database fails.
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    quick_check(&conn)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some file systems (network mounts) refuse WAL; the rollback journal with FULL sync
        // is still durable, only slower.
        tracing::warn!(path = %path.display(), journal_mode = %mode, "the state database could not use WAL mode");
    }
    // Per connection, not stored in the file: set on every open.
    conn.pragma_update(None, "synchronous", "FULL")?;
    migrate(&conn, version)?;
    Ok(conn)
}

fn quick_check(conn: &Connection) -> Result<(), StateError> {
    let mut problems = Vec::new();
    conn.pragma_query(None, "quick_check", |row| {
        let line: String = row.get(0)?;
        if line != "ok" {
            problems.push(line);
        }
        Ok(())
    })?;
    if problems.is_empty() {
        return Ok(());
    }
    problems.truncate(5);
    Err(StateError::Unusable(format!(
        "integrity check failed: {}",
        problems.join("; ")
    )))
}

fn migrate(conn: &Connection, version: i64) -> Result<(), StateError> {
    match version {
        SCHEMA_VERSION => Ok(()),
        0 => {
            let tables: i64 =
                conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
            if tables > 0 {
                return Err(StateError::Unusable(
                    "the file holds tables but no slamon schema version".into(),
                ));
            }
            conn.execute_batch(SCHEMA)?;
            conn.execute_batch(SCHEMA_V2)?;
            conn.execute_batch(SCHEMA_V3)?;
            Ok(())
        }
        1 => {
            conn.execute_batch(SCHEMA_V2)?;
            conn.execute_batch(SCHEMA_V3)?;
            Ok(())
        }
        2 => {
            conn.execute_batch(SCHEMA_V3)?;
            Ok(())
        }
        found => Err(StateError::UnknownSchema { found }),
    }
}

/// Whether moving the file aside can help. A lock held by another process, a full disk or
/// exhausted memory are not the file's fault: moving it would throw away good data.
fn is_the_files_fault(e: &StateError) -> bool {
    match e {
        StateError::Sqlite(e) => !matches!(
            e.sqlite_error_code(),
            Some(
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::DiskFull
                    | ErrorCode::OutOfMemory
            )
        ),
        StateError::UnknownSchema { .. } | StateError::Unusable(_) => true,
        StateError::Io { .. } | StateError::Encode(_) | StateError::NotPending(_) => false,
    }
}

fn replace_broken(path: &Path, why: &StateError) -> Result<(), StateError> {
    match move_aside(path)? {
        Some(aside) => tracing::warn!(
            path = %path.display(),
            moved_to = %aside.display(),
            error = %why,
            "the state database is unusable: moved it aside and starting with an empty one; \
             its pending notifications and alert states are not carried over"
        ),
        None => tracing::warn!(
            path = %path.display(),
            error = %why,
            "could not create the state database; retrying once"
        ),
    }
    Ok(())
}

/// Renames `path` and its `-wal`/`-shm` companions to `<path>.broken-<unix time>[-n]`.
/// Returns `None` when there was no file to move.
fn move_aside(path: &Path) -> Result<Option<PathBuf>, StateError> {
    if !exists(path)? {
        return Ok(None);
    }
    let aside = free_name(path)?;
    rename(path, &aside)?;
    // A stale WAL next to a fresh database would be replayed into it, so it must go with the
    // file it belongs to; keeping the suffix lets `sqlite3 <aside>` read both together.
    for suffix in ["-wal", "-shm"] {
        let from = with_suffix(path, suffix);
        if exists(&from)? {
            rename(&from, &with_suffix(&aside, suffix))?;
        }
    }
    Ok(Some(aside))
}

fn free_name(path: &Path) -> Result<PathBuf, StateError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = with_suffix(path, &format!(".broken-{secs}"));
    let mut candidate = base.clone();
    let mut n = 1;
    while exists(&candidate)? {
        candidate = with_suffix(&base, &format!("-{n}"));
        n += 1;
    }
    Ok(candidate)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn exists(path: &Path) -> Result<bool, StateError> {
    path.try_exists().map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn rename(from: &Path, to: &Path) -> Result<(), StateError> {
    std::fs::rename(from, to).map_err(|source| StateError::Io {
        path: from.to_path_buf(),
        source,
    })
}

/// Instants are stored as Unix milliseconds: exact, sortable, and readable with
/// `datetime(x / 1000, 'unixepoch')` in the `sqlite3` shell.
pub(super) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}
