//! The alert task: evaluates on a timer, writes the outbox before the states.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::engine::{Engine, Outgoing};
use super::metrics::AlertMetrics;
use super::state::AlertState;
use crate::notify::delivery::Wakeup;
use crate::state::Store;
use crate::window::Snapshot;

/// The saved states of a previous run; a state that no longer parses starts as ok.
pub fn load_states(store: &Store) -> BTreeMap<String, AlertState> {
    match store.load_alert_states() {
        Ok(rows) => rows
            .into_iter()
            .filter_map(|(k, json)| Some((k, serde_json::from_str(&json).ok()?)))
            .collect(),
        Err(e) => {
            tracing::error!("Cannot read the saved alert states, so every alert starts as ok: {e}");
            BTreeMap::new()
        }
    }
}

/// Evaluates every `every` until `stop` fires, then saves the states a last time and hands the
/// engine back, so a reload can carry its states over.
///
/// Notifications are committed to the outbox before the states that produced them: a crash in
/// between re-evaluates from the older state after the restart and produces the same
/// idempotency keys, which the outbox ignores, so nothing is lost and nothing is sent twice.
pub async fn run(
    mut engine: Engine,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    store: Arc<Store>,
    wakeup: Wakeup,
    metrics: Arc<AlertMetrics>,
    every: Duration,
    stop: CancellationToken,
) -> Engine {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut saved = engine.states.clone();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.cancelled() => break,
        }
        let snapshot = snapshots.borrow().clone();
        let out = engine.evaluate(&snapshot, chrono::Utc::now(), Some(&metrics));
        if !out.is_empty() {
            enqueue(&store, out).await;
            wakeup.poke();
        }
        if engine.states != saved {
            save(&store, &engine.states).await;
            saved = engine.states.clone();
        }
    }
    save(&store, &engine.states).await;
    engine
}

/// Commits notifications to the outbox.
pub async fn enqueue(store: &Arc<Store>, out: Vec<Outgoing>) {
    let store = store.clone();
    let done = tokio::task::spawn_blocking(move || {
        for o in &out {
            tracing::info!(monitor = %o.notification.monitor, alert = %o.notification.alertname, status = ?o.notification.status, channels = o.deliveries.len(), "Alert notification queued.");
            for (channel, key) in &o.deliveries {
                if let Err(e) = store.enqueue(channel, key, &o.notification) {
                    tracing::error!(channel = %channel, alert = %o.notification.alertname, "Cannot queue the notification: {e}");
                }
            }
        }
    })
    .await;
    if let Err(e) = done {
        tracing::error!("The outbox writer failed: {e}");
    }
}

async fn save(store: &Arc<Store>, states: &BTreeMap<String, AlertState>) {
    let rows: Vec<(String, String)> = states
        .iter()
        .filter_map(|(k, s)| Some((k.clone(), serde_json::to_string(s).ok()?)))
        .collect();
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.save_alert_states(&rows)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("Cannot save the alert states: {e}"),
        Err(e) => tracing::error!("The alert state writer failed: {e}"),
    }
}
