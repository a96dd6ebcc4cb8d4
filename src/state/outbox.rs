//! The notification outbox: pending until delivered or abandoned, then kept for
//! [`RETENTION`] so its idempotency key keeps deduplicating.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::store::{RETENTION, StateError, Store, from_millis, to_millis};
use crate::alert::Notification;

/// One pending notification for one channel.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: String,
    pub idempotency_key: String,
    pub notification: Notification,
    /// Attempts made so far (0 for a fresh item).
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// Pending items that are due, oldest first, except an item with an older pending item of the
/// same alert (fingerprint) on the same channel: a `resolved` must never overtake the `firing`
/// it ends while that one waits for a retry. Unrelated alerts are not held up.
const DUE: &str = "
SELECT id, channel, idempotency_key, notification, attempts, created_at
FROM outbox AS o
WHERE state = 'pending' AND next_attempt_at <= ?1 AND (?2 IS NULL OR channel = ?2)
  AND NOT EXISTS (
      SELECT 1 FROM outbox AS e
      WHERE e.state = 'pending' AND e.channel = o.channel
        AND e.fingerprint = o.fingerprint AND e.id < o.id)
ORDER BY id
LIMIT ?3";

/// A row as stored, before its JSON and timestamps are checked.
struct Row {
    id: i64,
    channel: String,
    idempotency_key: String,
    notification: String,
    attempts: i64,
    created_at: i64,
}

impl Row {
    fn decode(self) -> Result<OutboxItem, String> {
        let notification =
            serde_json::from_str(&self.notification).map_err(|e| format!("bad payload: {e}"))?;
        let created_at =
            from_millis(self.created_at).ok_or_else(|| "bad created_at".to_string())?;
        Ok(OutboxItem {
            id: self.id,
            channel: self.channel,
            idempotency_key: self.idempotency_key,
            notification,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            created_at,
        })
    }
}

impl Store {
    /// Adds a notification for `channel`, due now. Returns `false`, and changes nothing, when
    /// `(channel, idempotency_key)` is already in the outbox, pending or finished within
    /// [`RETENTION`]. Committed (and fsynced) when it returns.
    ///
    /// Keys are unique per channel, so one key may be used for the same notification on
    /// several channels.
    pub fn enqueue(
        &self,
        channel: &str,
        idempotency_key: &str,
        n: &Notification,
    ) -> Result<bool, StateError> {
        let json = serde_json::to_string(n)?;
        let now = to_millis(Utc::now());
        let inserted = self.conn().execute(
            "INSERT INTO outbox
                 (channel, idempotency_key, fingerprint, notification, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (channel, idempotency_key) DO NOTHING",
            params![channel, idempotency_key, n.fingerprint, json, now],
        )?;
        Ok(inserted == 1)
    }

    /// Up to `limit` items due at `now`, on any channel, oldest first. An item waits while an
    /// older item of the same alert (fingerprint) is pending on its channel, so a `resolved`
    /// never overtakes the `firing` it ends; unrelated alerts are not held up.
    pub fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxItem>, StateError> {
        self.due_where(None, now, limit)
    }

    /// Like [`Store::due`], for one channel.
    pub fn due_for_channel(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StateError> {
        self.due_where(Some(channel), now, limit)
    }

    fn due_where(
        &self,
        channel: Option<&str>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StateError> {
        let conn = self.conn();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = {
            let mut stmt = conn.prepare_cached(DUE)?;
            let rows = stmt.query_map(params![to_millis(now), channel, limit], read_row)?;
            rows.collect::<Result<Vec<Row>, _>>()?
        };
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, channel) = (row.id, row.channel.clone());
            match row.decode() {
                Ok(item) => items.push(item),
                // Retrying cannot fix a row this build cannot read, and leaving it pending
                // would hold back every later notification of its alert.
                Err(reason) => abandon_unreadable(&conn, id, &channel, &reason)?,
            }
        }
        Ok(items)
    }

    /// Records a successful delivery. After this returns the item is never sent again.
    pub fn mark_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StateError> {
        let changed = self.conn().execute(
            "UPDATE outbox
             SET state = 'delivered', attempts = attempts + 1, finished_at = ?2, last_error = NULL
             WHERE id = ?1 AND state = 'pending'",
            params![id, to_millis(at)],
        )?;
        one_row(id, changed)
    }

    /// Records a failed attempt; the item is due again at `next_attempt`.
    pub fn mark_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let changed = self.conn().execute(
            "UPDATE outbox
             SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, error, to_millis(next_attempt)],
        )?;
        one_row(id, changed)
    }

    /// Records a last, failed attempt: the item is never tried again.
    pub fn mark_abandoned(&self, id: i64, error: &str) -> Result<(), StateError> {
        let changed = self.conn().execute(
            "UPDATE outbox
             SET state = 'abandoned', attempts = attempts + 1, last_error = ?2, finished_at = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, error, to_millis(Utc::now())],
        )?;
        one_row(id, changed)
    }

    /// Per channel with pending items: how many, and the age in seconds of the oldest.
    pub fn pending_stats(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64, Option<f64>)>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT channel, count(*), min(created_at) FROM outbox
             WHERE state = 'pending' GROUP BY channel ORDER BY channel",
        )?;
        let now = to_millis(now);
        let rows = stmt.query_map([], |row| {
            let depth: i64 = row.get(1)?;
            let oldest: Option<i64> = row.get(2)?;
            let age = oldest.map(|t| now.saturating_sub(t).max(0) as f64 / 1000.0);
            Ok((row.get(0)?, u64::try_from(depth).unwrap_or(0), age))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes delivered and abandoned rows finished more than [`RETENTION`] before `now`.
    /// Returns how many were deleted.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<usize, StateError> {
        let retention = i64::try_from(RETENTION.as_millis()).unwrap_or(i64::MAX);
        let cutoff = to_millis(now).saturating_sub(retention);
        Ok(self.conn().execute(
            "DELETE FROM outbox WHERE state <> 'pending' AND finished_at < ?1",
            params![cutoff],
        )?)
    }
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: row.get(0)?,
        channel: row.get(1)?,
        idempotency_key: row.get(2)?,
        notification: row.get(3)?,
        attempts: row.get(4)?,
        created_at: row.get(5)?,
    })
}

fn abandon_unreadable(
    conn: &Connection,
    id: i64,
    channel: &str,
    reason: &str,
) -> Result<(), StateError> {
    tracing::error!(
        id,
        channel,
        reason,
        "abandoning an outbox item that cannot be read"
    );
    conn.execute(
        "UPDATE outbox SET state = 'abandoned', last_error = ?2, finished_at = ?3
         WHERE id = ?1 AND state = 'pending'",
        params![id, format!("unreadable: {reason}"), to_millis(Utc::now())],
    )?;
    Ok(())
}

fn one_row(id: i64, changed: usize) -> Result<(), StateError> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StateError::NotPending(id))
    }
}
