//! Channel tests against real receivers on 127.0.0.1: HTTP ones (axum) and a minimal SMTP
//! server. Every test is bounded in time.

mod alertmanager;
mod email;
mod templates;
mod webhook;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::{TimeZone, Utc};
use tokio::sync::mpsc;

use crate::alert::{Notification, PAYLOAD_VERSION, Status};

/// A notification with values that need escaping in HTML, JSON and Slack mrkdwn.
pub(super) fn notification(status: Status) -> Notification {
    let mut labels = BTreeMap::new();
    labels.insert("severity".to_string(), "page".to_string());
    labels.insert("team".to_string(), "payments & <ops> \"core\"".to_string());
    Notification {
        version: PAYLOAD_VERSION,
        status,
        fingerprint: "3f2a9c0d1e4b5a6c".into(),
        alertname: "checkout".into(),
        monitor: "shop".into(),
        endpoint: Some("/api/v1/orders".into()),
        objective: "checkout".into(),
        objective_type: "latency".into(),
        summary: "p95 < 500ms".into(),
        observed: Some(0.8123),
        threshold: 0.5,
        unit: "seconds".into(),
        window: "5m".into(),
        labels,
        started_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        ended_at: (status == Status::Resolved)
            .then(|| Utc.with_ymd_and_hms(2024, 5, 1, 12, 30, 0).unwrap()),
        link: "http://127.0.0.1:9100/status?objective=checkout&monitor=shop".into(),
    }
}

/// Fails the test instead of hanging it.
pub(super) async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test took too long")
}

/// A port nothing listens on.
pub(super) async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// One request an HTTP receiver got.
#[derive(Debug)]
pub(super) struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

struct Receiver {
    tx: mpsc::UnboundedSender<Received>,
}

/// An HTTP receiver on 127.0.0.1 recording every request. It answers 200, or the status in a
/// `/s/<code>/` path segment, after sleeping when the path holds `/slow`; a refusal echoes the
/// request's `Authorization` header, like a debugging proxy would.
pub(super) async fn http_receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .fallback(record)
        .with_state(Arc::new(Receiver { tx }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rx)
}

async fn record(
    State(r): State<Arc<Receiver>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = uri.path().to_string();
    let status = path
        .split('/')
        .skip_while(|s| *s != "s")
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let echo = headers
        .get("authorization")
        .map(|v| format!("refused; you sent {}", v.to_str().unwrap_or("")))
        .unwrap_or_default();
    if path.contains("/slow") {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let _ = r.tx.send(Received {
        path,
        headers,
        body,
    });
    (
        status,
        if status.is_success() {
            String::new()
        } else {
            echo
        },
    )
}
