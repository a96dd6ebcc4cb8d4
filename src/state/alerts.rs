//! Alert states: one opaque JSON document per key, owned by the alert engine.

use rusqlite::params;

use super::store::{StateError, Store};

impl Store {
    /// Replaces every stored alert state with `states`, in one transaction: after a crash the
    /// engine finds either the previous set or this one, never a mix. A key given twice keeps
    /// its last document.
    pub fn save_alert_states(&self, states: &[(String, String)]) -> Result<(), StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM alert_state", [])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO alert_state (key, json) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET json = excluded.json",
            )?;
            for (key, json) in states {
                insert.execute(params![key, json])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored alert state, by key.
    pub fn load_alert_states(&self) -> Result<Vec<(String, String)>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT key, json FROM alert_state ORDER BY key")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
