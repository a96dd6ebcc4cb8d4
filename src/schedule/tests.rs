use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::load::RunTotals;

#[derive(Default)]
struct Counts {
    started: AtomicU64,
    skipped: AtomicU64,
    finished: AtomicU64,
}

impl RunEvents for Counts {
    fn started(&self, _: &str) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn skipped(&self, _: &str) {
        self.skipped.fetch_add(1, Ordering::SeqCst);
    }
    fn finished(&self, _: &str, _: RunTotals, _: &RunView) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

const CONFIG: &str = r#"
[[monitors]]
name = "m"
base_url = "http://127.0.0.1:9"
duration = "25s"
schedule = { every = "10s" }
load = { type = "closed", users = 1, wait = "1s" }
[[monitors.tasks]]
steps = [{ path = "/" }]
"#;

/// Every 10 s with runs of 25 s: a run starts at 0 s, 30 s and 60 s; the four starts in
/// between find the previous run still going and are skipped, never queued.
#[tokio::test(start_paused = true)]
async fn runs_never_overlap_and_skipped_starts_are_counted() {
    let config = crate::config::from_str(CONFIG, Path::new("test.toml")).unwrap();
    let (tx, mut rx) = mpsc::channel(1024);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let events = Arc::new(Counts::default());
    let stop = CancellationToken::new();
    let sched = Scheduler::start(&config, tx, events.clone(), stop.clone())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(61_500)).await;
    assert_eq!(events.started.load(Ordering::SeqCst), 3);
    assert_eq!(events.finished.load(Ordering::SeqCst), 2);
    assert_eq!(events.skipped.load(Ordering::SeqCst), 4);
    stop.cancel();
    sched.stopped().await;
    assert_eq!(events.finished.load(Ordering::SeqCst), 3);
    drain.await.unwrap();
}

#[test]
fn cron_needs_seconds() {
    assert!(parse_cron("0 */5 * * * *").is_ok());
    assert!(parse_cron("*/5 * * * *").is_err());
    assert!(parse_cron("every tuesday").is_err());
}
