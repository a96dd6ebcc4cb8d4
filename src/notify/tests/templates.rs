//! The example templates in config/examples/templates render valid JSON for every status.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::notification;
use crate::alert::{Notification, Status};
use crate::config::model::WebhookChannel;
use crate::notify::webhook::Webhook;

const SLACK: &str = include_str!("../../../config/examples/templates/slack.json.j2");
const PAGERDUTY: &str = include_str!("../../../config/examples/templates/pagerduty.json.j2");

fn render(template: &str, n: &Notification) -> Value {
    let c = WebhookChannel {
        url: Url::parse("http://127.0.0.1:1/").unwrap(),
        headers: Vec::new(),
        hmac_secret: None,
        template: Some(template.to_string()),
        content_type: "application/json".into(),
    };
    let (body, _) = Webhook::new(&c, Duration::from_secs(1))
        .unwrap()
        .render(n)
        .unwrap();
    let text = String::from_utf8(body).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The fixture, plus a notification with no endpoint, no data, no labels and no link.
fn cases(status: Status) -> [Notification; 2] {
    let n = notification(status);
    let mut bare = n.clone();
    bare.endpoint = None;
    bare.observed = None;
    bare.labels.clear();
    bare.link = String::new();
    [n, bare]
}

#[test]
fn slack_renders_for_every_status() {
    for (status, tag) in [
        (Status::Firing, "[FIRING]"),
        (Status::Resolved, "[RESOLVED]"),
        (Status::Test, "[TEST]"),
    ] {
        for n in cases(status) {
            let v = render(SLACK, &n);
            assert!(v["text"].as_str().unwrap().starts_with(tag), "{v}");
            let blocks = v["blocks"].as_array().unwrap();
            assert_eq!(blocks[0]["type"], "header");
            assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
            let fields = blocks[1]["fields"].as_array().unwrap();
            assert_eq!(fields.len(), if status == Status::Resolved { 6 } else { 5 });
            assert_eq!(
                blocks.iter().any(|b| b["type"] == "actions"),
                !n.link.is_empty()
            );
            assert_eq!(
                blocks.iter().any(|b| b["type"] == "context"),
                !n.labels.is_empty()
            );
        }
    }
    let v = render(SLACK, &notification(Status::Firing));
    assert_eq!(
        v["text"],
        "[FIRING] checkout p95 < 500ms: 812 ms (shop /api/v1/orders)"
    );
    // mrkdwn needs &, < and > escaped; JSON needs the quotes escaped, which parsing proved.
    assert_eq!(
        v["blocks"][2]["elements"][0]["text"],
        "severity=page, team=payments &amp; &lt;ops&gt; \"core\""
    );
    assert_eq!(
        v["blocks"][1]["fields"][2]["text"],
        "*Objective*\ncheckout (p95 &lt; 500ms)"
    );
    assert_eq!(
        v["blocks"][3]["elements"][0]["url"],
        "http://127.0.0.1:9100/status?objective=checkout&monitor=shop"
    );
}

#[test]
fn pagerduty_triggers_and_resolves_by_fingerprint() {
    let v = render(PAGERDUTY, &notification(Status::Firing));
    assert_eq!(v["routing_key"], "REPLACE_WITH_YOUR_INTEGRATION_KEY");
    assert_eq!(v["event_action"], "trigger");
    assert_eq!(v["dedup_key"], "3f2a9c0d1e4b5a6c");
    assert_eq!(
        v["payload"]["summary"],
        "checkout p95 < 500ms: 812 ms (shop /api/v1/orders)"
    );
    assert_eq!(v["payload"]["severity"], "critical");
    assert_eq!(v["payload"]["source"], "shop /api/v1/orders");
    assert_eq!(v["payload"]["timestamp"], "2024-05-01T12:00:00Z");
    assert_eq!(v["payload"]["custom_details"]["observed"], "812 ms");
    assert_eq!(v["payload"]["custom_details"]["threshold"], "500 ms");
    assert_eq!(
        v["payload"]["custom_details"]["labels"]["team"],
        "payments & <ops> \"core\""
    );
    assert_eq!(
        v["links"][0]["href"],
        "http://127.0.0.1:9100/status?objective=checkout&monitor=shop"
    );

    let v = render(PAGERDUTY, &notification(Status::Resolved));
    assert_eq!(v["event_action"], "resolve");
    assert_eq!(v["dedup_key"], "3f2a9c0d1e4b5a6c");
    assert!(v.get("payload").is_none());

    let v = render(PAGERDUTY, &notification(Status::Test));
    assert_eq!(v["event_action"], "trigger");
    assert_eq!(v["dedup_key"], "3f2a9c0d1e4b5a6c-test");
    assert_eq!(v["payload"]["severity"], "info");

    for status in [Status::Firing, Status::Resolved, Status::Test] {
        for n in cases(status) {
            let v = render(PAGERDUTY, &n);
            assert_eq!(v["client"], "slamon");
            if status != Status::Resolved {
                // No severity label: error.
                let expected = match (status, n.labels.is_empty()) {
                    (Status::Test, _) => "info",
                    (_, true) => "error",
                    _ => "critical",
                };
                assert_eq!(v["payload"]["severity"], expected);
            }
            assert_eq!(v.get("links").is_some(), !n.link.is_empty());
        }
    }
}
