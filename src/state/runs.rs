//! The run history: one row per finished run, kept for the configured retention.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::store::{StateError, Store};
use crate::sla::run::RunRecord;

impl Store {
    /// Adds a finished run and drops runs older than `retain_since`.
    pub fn insert_run(
        &self,
        run: &RunRecord,
        retain_since: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let json = serde_json::to_string(run).map_err(|e| StateError::Unusable(e.to_string()))?;
        let conn = self.conn();
        {
            let tx = conn.unchecked_transaction()?;
            tx.execute(
                "INSERT INTO runs (monitor, started_at, record) VALUES (?1, ?2, ?3)",
                params![run.monitor, run.started_at.timestamp_millis(), json],
            )?;
            tx.execute(
                "DELETE FROM runs WHERE started_at < ?1",
                params![retain_since.timestamp_millis()],
            )?;
            tx.commit()?;
            Ok(())
        }
    }

    /// The last `last` runs, newest first, of one monitor or of all.
    pub fn runs(&self, monitor: Option<&str>, last: usize) -> Result<Vec<RunRecord>, StateError> {
        let conn = self.conn();
        {
            let mut stmt = conn.prepare("SELECT record FROM runs WHERE ?1 IS NULL OR monitor = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2")?;
            let rows =
                stmt.query_map(params![monitor, last as i64], |row| row.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                if let Ok(r) = serde_json::from_str(&row?) {
                    out.push(r);
                }
            }
            Ok(out)
        }
    }
}

impl Store {
    /// Replaces the saved windows.
    pub fn save_windows(&self, json: &str) -> Result<(), StateError> {
        self.save_document("all", json)
    }

    /// The windows saved last, if any.
    pub fn load_windows(&self) -> Result<Option<String>, StateError> {
        self.load_document("all")
    }

    /// Replaces the saved ad-hoc silences.
    pub fn save_silences(&self, json: &str) -> Result<(), StateError> {
        self.save_document("silences", json)
    }

    pub fn load_silences(&self) -> Result<Option<String>, StateError> {
        self.load_document("silences")
    }

    /// The `windows` table holds whole documents by key: the windows (`all`) and the silences.
    fn save_document(&self, key: &str, json: &str) -> Result<(), StateError> {
        let conn = self.conn();
        conn.execute("INSERT INTO windows (key, json) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET json = excluded.json", params![key, json])?;
        Ok(())
    }

    fn load_document(&self, key: &str) -> Result<Option<String>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT json FROM windows WHERE key = ?1")?;
        let mut rows = stmt.query(params![key])?;
        Ok(match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        })
    }
}
