//! Stage 9, state: the embedded store that lets slamon survive a restart.
//!
//! # What it stores
//!
//! - The notification **outbox**: every notification bound for a channel, with its idempotency
//!   key, from the moment the alert engine decides to send it until a receiver accepts it
//!   (`delivered`) or the delivery worker gives up (`abandoned`). Finished rows are kept for
//!   [`RETENTION`] (7 days) and then pruned, so that a notification enqueued again after a
//!   restart with the same `(channel, idempotency key)` is recognised as already handled.
//! - The **alert states**: one opaque JSON document per alert key. Their format belongs to the
//!   alert engine; this module only stores and returns them, all at once.
//!
//! # Who owns it
//!
//! One [`Store`] per daemon, shared as an `Arc<Store>`. The alert engine writes alert states
//! and enqueues notifications; the delivery worker ([`crate::notify::delivery`]) reads due
//! items and records the outcome of each attempt. Nothing else opens the file.
//!
//! The store holds a single [`rusqlite::Connection`] behind a `std::sync::Mutex` rather than
//! inside a task of its own: every operation is one short statement or transaction, so a
//! mutex is the simplest way to serialise them (SQLite allows one writer at a time anyway), and
//! callers keep plain synchronous methods they can run from `spawn_blocking` or from tests.
//! A poisoned mutex is recovered: an interrupted transaction is rolled back by SQLite, so the
//! connection is consistent whatever panicked while holding it.
//!
//! # Durability
//!
//! The file is `<state dir>/slamon.db`, in WAL mode with `synchronous = FULL`: each commit is
//! fsynced before the call returns. Once [`Store::enqueue`] returns, the notification survives a
//! `kill -9` or a power loss; once [`Store::mark_delivered`] returns, it is never sent again.
//! The one window left is between a receiver accepting a notification and the delivered mark
//! being committed: a crash there re-sends it after the restart, with the same idempotency key,
//! so the receiver can drop the duplicate. Delivery is at least once, deduplicated by key.
//!
//! # A bad file
//!
//! A file that is not a database, fails SQLite's `quick_check`, carries a schema version this
//! build does not know, or cannot be opened is moved aside to `slamon.db.broken-<unix time>`
//! (with its `-wal` and `-shm` companions) and a fresh store is created in its place, with a
//! `warn` log naming both paths. Losing the outbox is bad; a daemon that crash-loops on start
//! and so monitors nothing is worse, and the moved file stays there for inspection. A file
//! that is merely locked by another process is not moved: that is an error for the caller.
//!
//! # Why SQLite
//!
//! SQLite (via `rusqlite`, rather than a pure-Rust store such as `redb`) gives durability in a
//! single file with a write-ahead log and full fsync on commit, ACID transactions (the alert
//! states are replaced in one), a format anyone can inspect or repair with the `sqlite3` CLI
//! while investigating an incident, and decades of crash-safety testing; it is compiled in
//! (`bundled`), so slamon needs no system library.

mod alerts;
mod outbox;
mod runs;
mod store;

#[cfg(test)]
pub(crate) mod tests;

pub use outbox::OutboxItem;
pub use store::{RETENTION, SCHEMA_VERSION, StateError, Store};
