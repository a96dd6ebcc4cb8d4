use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::HeaderName;
use sha2::Sha256;
use url::Url;

use super::{bounded, closed_port, http_receiver, notification};
use crate::alert::{Notification, Status};
use crate::config::model::{Secret, WebhookChannel};
use crate::notify::webhook::Webhook;

const TOKEN: &str = "Bearer tok-5ecret-123";
const HMAC_KEY: &str = "hm4c-k3y";

fn channel(url: &str) -> WebhookChannel {
    WebhookChannel {
        url: Url::parse(url).unwrap(),
        headers: vec![
            (
                HeaderName::from_static("authorization"),
                Secret::new(TOKEN.into()),
            ),
            (
                HeaderName::from_static("x-team"),
                Secret::new("payments".into()),
            ),
        ],
        hmac_secret: Some(Secret::new(HMAC_KEY.into())),
        template: None,
        content_type: "application/json".into(),
    }
}

fn header<'a>(r: &'a super::Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test]
async fn json_payload_arrives_signed_with_its_headers() {
    bounded(async {
        let (base, mut rx) = http_receiver().await;
        let hook = Webhook::new(&channel(&format!("{base}/hook")), Duration::from_secs(5)).unwrap();
        let n = notification(Status::Firing);
        hook.send(&n, "delivery-42").await.unwrap();

        let r = rx.recv().await.unwrap();
        assert_eq!(r.path, "/hook");
        let received: Notification = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(received, n);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["status"], "firing");
        assert_eq!(v["labels"]["severity"], "page");
        assert_eq!(v["observed"], 0.8123);
        assert_eq!(v["started_at"], "2024-05-01T12:00:00Z");

        assert_eq!(header(&r, "content-type"), "application/json");
        assert_eq!(header(&r, "idempotency-key"), "delivery-42");
        assert_eq!(
            header(&r, "user-agent"),
            concat!("slamon/", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(header(&r, "authorization"), TOKEN);
        assert_eq!(header(&r, "x-team"), "payments");

        let signature = header(&r, "x-slamon-signature");
        let hex_mac = signature.strip_prefix("sha256=").unwrap();
        assert_eq!(hex_mac, hex_mac.to_lowercase());
        let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_KEY.as_bytes()).unwrap();
        mac.update(&r.body);
        mac.verify_slice(&hex::decode(hex_mac).unwrap())
            .expect("signature verifies over the received bytes");
    })
    .await
}

#[tokio::test]
async fn no_signature_without_a_key() {
    bounded(async {
        let (base, mut rx) = http_receiver().await;
        let mut c = channel(&format!("{base}/hook"));
        c.hmac_secret = None;
        let hook = Webhook::new(&c, Duration::from_secs(5)).unwrap();
        hook.send(&notification(Status::Resolved), "k")
            .await
            .unwrap();
        let r = rx.recv().await.unwrap();
        assert!(r.headers.get("x-slamon-signature").is_none());
    })
    .await
}

#[tokio::test]
async fn statuses_are_classified() {
    bounded(async {
        let (base, mut rx) = http_receiver().await;
        let n = notification(Status::Firing);
        for (code, retryable) in [
            (500, true),
            (502, true),
            (503, true),
            (408, true),
            (429, true),
            (400, false),
            (401, false),
            (404, false),
            (422, false),
            (302, false),
        ] {
            // The path carries a token, like Slack's webhook URLs do.
            let hook = Webhook::new(
                &channel(&format!("{base}/s/{code}/T0/B0/path-token-xyz")),
                Duration::from_secs(5),
            )
            .unwrap();
            let e = hook.send(&n, "k").await.unwrap_err();
            assert_eq!(e.retryable, retryable, "{code}: {}", e.message);
            assert!(e.message.contains(&code.to_string()), "{}", e.message);
            // The receiver echoed the Authorization header; neither it, the HMAC key, nor
            // the URL's path reach the message.
            assert!(!e.message.contains("tok-5ecret"), "{}", e.message);
            assert!(!e.message.contains(HMAC_KEY), "{}", e.message);
            assert!(!e.message.contains("path-token-xyz"), "{}", e.message);
            rx.recv().await.unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn refusal_message_shows_the_answer_redacted() {
    bounded(async {
        let (base, _rx) = http_receiver().await;
        let hook =
            Webhook::new(&channel(&format!("{base}/s/400")), Duration::from_secs(5)).unwrap();
        let e = hook
            .send(&notification(Status::Firing), "k")
            .await
            .unwrap_err();
        assert!(!e.retryable);
        assert!(
            e.message.contains("refused; you sent <redacted>"),
            "{}",
            e.message
        );
    })
    .await
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retryable() {
    bounded(async {
        let (base, _rx) = http_receiver().await;
        let hook = Webhook::new(
            &channel(&format!("{base}/slow")),
            Duration::from_millis(300),
        )
        .unwrap();
        let e = hook
            .send(&notification(Status::Firing), "k")
            .await
            .unwrap_err();
        assert!(e.retryable, "{}", e.message);
        assert!(e.message.contains("timed out"), "{}", e.message);

        let port = closed_port().await;
        let hook = Webhook::new(
            &channel(&format!("http://127.0.0.1:{port}/hook")),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = hook
            .send(&notification(Status::Firing), "k")
            .await
            .unwrap_err();
        assert!(e.retryable, "{}", e.message);
        assert!(e.message.contains("cannot connect"), "{}", e.message);
        assert!(!e.message.contains("/hook"), "{}", e.message);
    })
    .await
}

#[tokio::test]
async fn slack_template_arrives_as_json_with_its_content_type() {
    bounded(async {
        let (base, mut rx) = http_receiver().await;
        let mut c = channel(&format!("{base}/services/T0/B0/x"));
        c.template =
            Some(include_str!("../../../config/examples/templates/slack.json.j2").to_string());
        c.content_type = "application/json; charset=utf-8".into();
        let hook = Webhook::new(&c, Duration::from_secs(5)).unwrap();
        hook.send(&notification(Status::Firing), "k").await.unwrap();

        let r = rx.recv().await.unwrap();
        assert_eq!(
            header(&r, "content-type"),
            "application/json; charset=utf-8"
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v["text"],
            "[FIRING] checkout p95 < 500ms: 812 ms (shop /api/v1/orders)"
        );
        assert!(v["blocks"].as_array().is_some_and(|b| !b.is_empty()));
        // The signature covers the rendered body, not the JSON payload.
        let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_KEY.as_bytes()).unwrap();
        mac.update(&r.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(header(&r, "x-slamon-signature"), expected);
    })
    .await
}

#[test]
fn a_bad_template_fails_at_construction() {
    let mut c = channel("http://127.0.0.1:1/hook");
    c.template = Some("{\"status\": {{ status | tojson }".into());
    let e = Webhook::new(&c, Duration::from_secs(1))
        .err()
        .expect("template must not compile");
    assert!(!e.retryable);
    assert!(e.message.contains("template"), "{}", e.message);
}

#[test]
fn a_misspelt_field_fails_to_render_and_is_not_retryable() {
    let mut c = channel("http://127.0.0.1:1/hook");
    c.template = Some("{{ stauts }}".into());
    let hook = Webhook::new(&c, Duration::from_secs(1)).unwrap();
    let e = hook.render(&notification(Status::Firing)).unwrap_err();
    assert!(!e.retryable);
    assert!(e.message.contains("undefined"), "{}", e.message);
}

#[test]
fn templates_see_every_field_at_top_level() {
    let mut c = channel("http://127.0.0.1:1/hook");
    c.template = Some(
        "{{ status }}|{{ labels.severity }}|{{ observed }}|{{ observed | format_value(unit) }}|{{ endpoint }}|{{ labels.missing | default('-') }}"
            .into(),
    );
    c.content_type = "text/plain".into();
    let hook = Webhook::new(&c, Duration::from_secs(1)).unwrap();
    let (body, content_type) = hook.render(&notification(Status::Firing)).unwrap();
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "firing|page|0.8123|812 ms|/api/v1/orders|-"
    );
    assert_eq!(content_type, "text/plain");
}
