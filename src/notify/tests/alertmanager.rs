use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use url::Url;

use super::{bounded, closed_port, http_receiver, notification};
use crate::alert::Status;
use crate::config::model::AlertmanagerChannel;
use crate::notify::alertmanager::{Alertmanager, FIRING_TTL, TEST_TTL, postable_alerts};

fn channel(urls: &[String]) -> AlertmanagerChannel {
    AlertmanagerChannel {
        urls: urls.iter().map(|u| Url::parse(u).unwrap()).collect(),
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn every_peer_gets_the_alert() {
    bounded(async {
        let (a, mut rx_a) = http_receiver().await;
        let (b, mut rx_b) = http_receiver().await;
        let am = Alertmanager::new(&channel(&[a, format!("{b}/")]), Duration::from_secs(5)).unwrap();
        let n = notification(Status::Firing);
        let before = Utc::now();
        am.send(&n, "delivery-1").await.unwrap();
        let after = Utc::now();

        for rx in [&mut rx_a, &mut rx_b] {
            let r = rx.recv().await.unwrap();
            assert_eq!(r.path, "/api/v2/alerts");
            assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let alerts = body.as_array().unwrap();
            assert_eq!(alerts.len(), 1);
            let alert = &alerts[0];
            assert_eq!(
                alert["labels"],
                json!({
                    "alertname": "checkout",
                    "monitor": "shop",
                    "objective": "checkout",
                    "endpoint": "/api/v1/orders",
                    "severity": "page",
                    "team": "payments & <ops> \"core\"",
                })
            );
            assert_eq!(
                alert["annotations"],
                json!({
                    "summary": "checkout p95 < 500ms: 812 ms (shop /api/v1/orders)",
                    "description": "checkout (p95 < 500ms) is breached on shop /api/v1/orders: observed 812 ms over the last 5m, threshold 500 ms.",
                    "observed": "812 ms",
                    "threshold": "500 ms",
                    "window": "5m",
                    "fingerprint": "3f2a9c0d1e4b5a6c",
                })
            );
            assert_eq!(alert["startsAt"], "2024-05-01T12:00:00.000Z");
            let ends = time(&alert["endsAt"]);
            // endsAt has millisecond precision.
            let ms = chrono::TimeDelta::milliseconds(1);
            assert!(ends >= before + FIRING_TTL - ms && ends <= after + FIRING_TTL, "{ends}");
            assert_eq!(alert["generatorURL"], n.link);
        }
    })
    .await
}

#[tokio::test]
async fn one_peer_down_still_delivers() {
    bounded(async {
        let (a, mut rx_a) = http_receiver().await;
        let down = format!("http://127.0.0.1:{}", closed_port().await);
        let am = Alertmanager::new(&channel(&[down, a]), Duration::from_secs(2)).unwrap();
        am.send(&notification(Status::Firing), "k").await.unwrap();
        assert_eq!(rx_a.recv().await.unwrap().path, "/api/v2/alerts");
    })
    .await
}

#[tokio::test]
async fn failures_of_every_peer_are_classified() {
    bounded(async {
        let (a, _rx) = http_receiver().await;
        let down = format!("http://127.0.0.1:{}", closed_port().await);
        let n = notification(Status::Firing);

        // All down: retryable.
        let am = Alertmanager::new(
            &channel(std::slice::from_ref(&down)),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = am.send(&n, "k").await.unwrap_err();
        assert!(e.retryable, "{}", e.message);

        // Every peer refuses the alert: not retryable.
        let am = Alertmanager::new(
            &channel(&[format!("{a}/s/400"), format!("{a}/s/422")]),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = am.send(&n, "k").await.unwrap_err();
        assert!(!e.retryable, "{}", e.message);
        assert!(
            e.message.contains("400") && e.message.contains("422"),
            "{}",
            e.message
        );

        // One refuses, one is down: the down one may take it once back.
        let am = Alertmanager::new(
            &channel(&[format!("{a}/s/404"), down]),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = am.send(&n, "k").await.unwrap_err();
        assert!(e.retryable, "{}", e.message);

        // A peer answering 503: retryable.
        let am =
            Alertmanager::new(&channel(&[format!("{a}/s/503")]), Duration::from_secs(2)).unwrap();
        assert!(am.send(&n, "k").await.unwrap_err().retryable);
    })
    .await
}

#[test]
fn resolved_alerts_end_when_the_alert_ended() {
    let n = notification(Status::Resolved);
    let body = postable_alerts(&n, Utc::now());
    let alert = &body[0];
    assert_eq!(alert["endsAt"], "2024-05-01T12:30:00.000Z");
    assert_eq!(alert["startsAt"], "2024-05-01T12:00:00.000Z");
    assert!(alert["labels"].get("slamon_test").is_none());
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("has recovered")
    );
}

#[test]
fn test_alerts_are_labelled_and_expire_soon() {
    let now = Utc::now();
    let body = postable_alerts(&notification(Status::Test), now);
    let alert = &body[0];
    assert_eq!(alert["labels"]["slamon_test"], "true");
    assert_eq!(
        time(&alert["endsAt"]).timestamp_millis(),
        (now + TEST_TTL).timestamp_millis()
    );
}

#[test]
fn the_label_set_is_stable_across_sends() {
    let mut a = notification(Status::Firing);
    let mut b = a.clone();
    a.observed = Some(0.9);
    b.observed = Some(1.7);
    b.started_at = Utc::now();
    let now = Utc::now();
    assert_eq!(
        postable_alerts(&a, now)[0]["labels"],
        postable_alerts(&b, now)[0]["labels"]
    );
}

#[test]
fn monitor_wide_objectives_have_no_endpoint_label_and_no_data_reads_so() {
    let mut n = notification(Status::Firing);
    n.endpoint = None;
    n.observed = None;
    n.link = String::new();
    let body = postable_alerts(&n, Utc::now());
    let alert = &body[0];
    assert!(alert["labels"].get("endpoint").is_none());
    assert_eq!(alert["annotations"]["observed"], "no data");
    assert_eq!(
        alert["annotations"]["summary"],
        "checkout p95 < 500ms: no data (shop)"
    );
    assert!(alert.get("generatorURL").is_none());
}
