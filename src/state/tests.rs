use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::alert::{Notification, PAYLOAD_VERSION, Status};

/// A directory under the system temp dir, unique per test, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "slamon-state-{name}-{}-{n}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn notification(fingerprint: &str, status: Status) -> Notification {
    Notification {
        version: PAYLOAD_VERSION,
        status,
        fingerprint: fingerprint.into(),
        alertname: "checkout p95".into(),
        monitor: "shop".into(),
        endpoint: Some("checkout".into()),
        objective: "checkout p95".into(),
        objective_type: "latency".into(),
        summary: "p95 < 500ms".into(),
        observed: Some(0.731),
        threshold: 0.5,
        unit: "seconds".into(),
        window: "5m".into(),
        labels: BTreeMap::from([("severity".to_string(), "page".to_string())]),
        started_at: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
        ended_at: None,
        link: "http://127.0.0.1:9464/".into(),
    }
}

fn soon() -> chrono::DateTime<Utc> {
    Utc::now() + Duration::seconds(1)
}

#[test]
fn enqueue_due_deliver_cycle() {
    let dir = TempDir::new("cycle");
    let store = Store::open(dir.path()).unwrap();
    let n = notification("fp1", Status::Firing);
    assert!(store.enqueue("ops", "key-1", &n).unwrap());

    let due = store.due(soon(), 10).unwrap();
    assert_eq!(due.len(), 1);
    let item = &due[0];
    assert_eq!(item.channel, "ops");
    assert_eq!(item.idempotency_key, "key-1");
    assert_eq!(item.notification, n);
    assert_eq!(item.attempts, 0);
    assert_eq!(store.pending_stats(soon()).unwrap()[0].1, 1);

    store.mark_delivered(item.id, Utc::now()).unwrap();
    assert!(store.due(soon(), 10).unwrap().is_empty());
    assert!(store.pending_stats(soon()).unwrap().is_empty());
    assert!(matches!(
        store.mark_delivered(item.id, Utc::now()),
        Err(StateError::NotPending(_))
    ));
}

#[test]
fn duplicate_key_is_ignored_per_channel() {
    let dir = TempDir::new("dup");
    let store = Store::open(dir.path()).unwrap();
    let n = notification("fp1", Status::Firing);
    assert!(store.enqueue("ops", "key-1", &n).unwrap());
    assert!(!store.enqueue("ops", "key-1", &n).unwrap());
    // The same notification may go to several channels under one key.
    assert!(store.enqueue("team", "key-1", &n).unwrap());
    assert_eq!(store.due(soon(), 10).unwrap().len(), 2);
}

#[test]
fn failed_item_is_not_due_before_its_next_attempt() {
    let dir = TempDir::new("failed");
    let store = Store::open(dir.path()).unwrap();
    store
        .enqueue("ops", "k", &notification("fp", Status::Firing))
        .unwrap();
    let id = store.due(soon(), 10).unwrap()[0].id;
    let next = Utc::now() + Duration::seconds(60);
    store.mark_failed(id, "HTTP 503", next).unwrap();

    assert!(
        store
            .due(next - Duration::milliseconds(1), 10)
            .unwrap()
            .is_empty()
    );
    let due = store.due(next, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts, 1);
    // Still pending while it waits.
    assert_eq!(store.pending_stats(next).unwrap()[0].1, 1);
}

#[test]
fn later_notification_of_an_alert_waits_for_the_earlier_one() {
    let dir = TempDir::new("order");
    let store = Store::open(dir.path()).unwrap();
    store
        .enqueue("ops", "a-firing", &notification("a", Status::Firing))
        .unwrap();
    store
        .enqueue("ops", "a-resolved", &notification("a", Status::Resolved))
        .unwrap();
    store
        .enqueue("ops", "b-firing", &notification("b", Status::Firing))
        .unwrap();
    let first = store.due(soon(), 10).unwrap();
    let keys: Vec<_> = first.iter().map(|i| i.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["a-firing", "b-firing"]);

    store
        .mark_failed(first[0].id, "down", Utc::now() + Duration::seconds(60))
        .unwrap();
    let keys: Vec<_> = store.due(soon(), 10).unwrap();
    assert_eq!(keys.len(), 1, "the resolved must not overtake its firing");
    assert_eq!(keys[0].idempotency_key, "b-firing");

    store.mark_abandoned(first[0].id, "gave up").unwrap();
    let due = store.due_for_channel("ops", soon(), 10).unwrap();
    assert_eq!(due[0].idempotency_key, "a-resolved");
}

#[test]
fn reopening_keeps_pending_items_and_delivered_marks() {
    let dir = TempDir::new("reopen");
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .enqueue("ops", "delivered", &notification("a", Status::Firing))
            .unwrap();
        store
            .enqueue("ops", "pending", &notification("b", Status::Firing))
            .unwrap();
        let due = store.due(soon(), 10).unwrap();
        store.mark_delivered(due[0].id, Utc::now()).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let due = store.due(soon(), 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].idempotency_key, "pending");
    // The delivered key still deduplicates after the restart.
    assert!(
        !store
            .enqueue("ops", "delivered", &notification("a", Status::Firing))
            .unwrap()
    );
    assert!(!dir.entries().iter().any(|e| e.contains("broken")));
}

#[test]
fn finished_rows_are_pruned_after_the_retention() {
    let dir = TempDir::new("prune");
    let store = Store::open(dir.path()).unwrap();
    // Two alerts, so that both are due at once.
    let n = notification("a", Status::Firing);
    store.enqueue("ops", "old", &n).unwrap();
    store
        .enqueue("ops", "recent", &notification("b", Status::Firing))
        .unwrap();
    let due = store.due(soon(), 10).unwrap();
    store
        .mark_delivered(due[0].id, Utc::now() - Duration::days(8))
        .unwrap();
    store.mark_delivered(due[1].id, Utc::now()).unwrap();

    assert_eq!(store.prune(Utc::now()).unwrap(), 1);
    assert!(store.enqueue("ops", "old", &n).unwrap());
    assert!(!store.enqueue("ops", "recent", &n).unwrap());
}

#[test]
fn garbage_file_is_moved_aside_and_a_fresh_store_opens() {
    let dir = TempDir::new("garbage");
    std::fs::create_dir_all(dir.path()).unwrap();
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("slamon.db"), &garbage).unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert!(store.due(soon(), 10).unwrap().is_empty());
    assert!(
        store
            .enqueue("ops", "k", &notification("a", Status::Firing))
            .unwrap()
    );
    let entries = dir.entries();
    let broken: Vec<_> = entries
        .iter()
        .filter(|e| e.starts_with("slamon.db.broken-"))
        .collect();
    assert_eq!(broken.len(), 1, "{entries:?}");
    assert_eq!(
        std::fs::read(dir.path().join(broken[0])).unwrap(),
        garbage,
        "the broken file is kept as it was"
    );
}

#[test]
fn unknown_schema_version_is_moved_aside() {
    let dir = TempDir::new("version");
    drop(Store::open(dir.path()).unwrap());
    {
        let conn = rusqlite::Connection::open(dir.path().join("slamon.db")).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(store.load_alert_states().unwrap().is_empty());
    assert!(
        dir.entries()
            .iter()
            .any(|e| e.starts_with("slamon.db.broken-"))
    );
}

#[test]
fn alert_states_round_trip_and_are_replaced_whole() {
    let dir = TempDir::new("alerts");
    let states = vec![
        ("b".to_string(), r#"{"firing":true}"#.to_string()),
        ("a".to_string(), r#"{"firing":false}"#.to_string()),
    ];
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(store.load_alert_states().unwrap().is_empty());
        store.save_alert_states(&states).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let mut expected = states.clone();
    expected.sort();
    assert_eq!(store.load_alert_states().unwrap(), expected);

    store.save_alert_states(&states[..1]).unwrap();
    assert_eq!(store.load_alert_states().unwrap(), states[..1].to_vec());
    store.save_alert_states(&[]).unwrap();
    assert!(store.load_alert_states().unwrap().is_empty());
}
