//! `slamon alert test`: send a test notification through one channel, now, and say how it went.

use std::path::Path;

use super::load_or_report;
use crate::alert::{Notification, PAYLOAD_VERSION, Status};
use crate::notify::Sender;

pub async fn test(path: &Path, channel: &str) -> anyhow::Result<u8> {
    let Some(config) = load_or_report(path) else {
        return Ok(2);
    };
    let Some(c) = config.channels.iter().find(|c| &*c.name == channel) else {
        let names: Vec<&str> = config.channels.iter().map(|c| &*c.name).collect();
        eprintln!(
            "error: no channel named \"{channel}\" (expected one of: {})",
            names.join(", ")
        );
        return Ok(2);
    };
    let sender = match Sender::new(c) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: channel {channel}: {e}");
            return Ok(1);
        }
    };
    let n = test_notification(&config.server.external_url);
    let key = format!("test-{}", uuid::Uuid::new_v4());
    match tokio::time::timeout(c.timeout, sender.send(&n, &key)).await {
        Ok(Ok(())) => {
            println!("channel {channel}: test notification delivered");
            Ok(0)
        }
        Ok(Err(e)) => {
            let kind = if e.retryable {
                "failed, would be retried"
            } else {
                "refused"
            };
            eprintln!("channel {channel}: {kind}: {e}");
            Ok(1)
        }
        Err(_) => {
            eprintln!(
                "channel {channel}: no answer within {}",
                humantime::format_duration(c.timeout)
            );
            Ok(1)
        }
    }
}

fn test_notification(external_url: &str) -> Notification {
    let now = chrono::Utc::now();
    Notification {
        version: PAYLOAD_VERSION,
        status: Status::Test,
        fingerprint: "0000000000000000".into(),
        alertname: "slamon test notification".into(),
        monitor: "slamon".into(),
        endpoint: None,
        objective: "test".into(),
        objective_type: "test".into(),
        summary: "a test from `slamon alert test`: no action needed".into(),
        observed: None,
        threshold: 0.0,
        unit: "ratio".into(),
        window: "-".into(),
        labels: Default::default(),
        started_at: now,
        ended_at: None,
        link: format!("{external_url}/metrics"),
    }
}
