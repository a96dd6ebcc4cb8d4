//! Business endpoints: catalogue, orders, incidents, reports, account.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Harness, KEY, STATIC, read};

fn order_body(product_id: i64, quantity: i64) -> Value {
    json!({
        "customer_id": "cust-42",
        "items": [{ "product_id": product_id, "quantity": quantity, "unit_price": 19.99 }],
        "shipping_method": "express",
        "payment_method": "credit_card",
        "currency": "USD",
    })
}

#[tokio::test]
async fn product_listing() {
    let h = Harness::start().await;
    let path = "/api/v1/products?category=networking&limit=10";
    let (status, body) = h.get(path, Some(STATIC)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"][0]["id"], 1012);
    assert_eq!(body["count"], body["items"].as_array().map_or(0, Vec::len));
    for bad in ["?category=toys", "?limit=500", "?limit=abc"] {
        let path = format!("/api/v1/products{bad}");
        assert_eq!(h.get(&path, Some(STATIC)).await.0, StatusCode::BAD_REQUEST);
    }
    assert_eq!(h.get(path, None).await.0, StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test]
async fn order_create_and_get() {
    let h = Harness::start().await;
    let post = |body: Value| {
        let request = h.client.post(h.url("/api/v1/orders"));
        request.bearer_auth(STATIC).json(&body).send()
    };
    let (status, created) = read(post(order_body(1044, 3)).await.expect("send")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["status"], "created");
    assert_eq!(created["total"], 59.97);
    let order_id = created["order_id"].as_str().expect("order id").to_owned();
    assert!(order_id.starts_with("ord-"));

    let (status, fetched) = h
        .get(&format!("/api/v1/orders/{order_id}"), Some(STATIC))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["order_id"], created["order_id"]);
    let missing = h.get("/api/v1/orders/ord-missing", Some(STATIC)).await;
    assert_eq!(missing.0, StatusCode::NOT_FOUND);
    assert_eq!(h.server.hits("/api/v1/orders/[id]"), 2);

    let incomplete = json!({ "customer_id": "c" });
    for bad in [order_body(9999, 1), order_body(1012, 0), incomplete] {
        let (status, body) = read(post(bad).await.expect("send")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"], "validation_error");
    }
    let malformed = h
        .client
        .post(h.url("/api/v1/orders"))
        .bearer_auth(STATIC)
        .body("{");
    assert_eq!(
        read(malformed.send().await.expect("send")).await.0,
        StatusCode::BAD_REQUEST
    );
    let anonymous = h
        .client
        .post(h.url("/api/v1/orders"))
        .json(&order_body(1012, 1));
    assert_eq!(
        read(anonymous.send().await.expect("send")).await.0,
        StatusCode::UNAUTHORIZED
    );
    h.stop().await;
}

async fn search(h: &Harness, query: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = h
        .client
        .get(h.url(&format!("/api/v2/incidents/search{query}")));
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    read(request.send().await.expect("send")).await
}

#[tokio::test]
async fn incident_search() {
    let h = Harness::start().await;
    let (status, body) = search(
        &h,
        "?severity=critical&region=eu-west-1&status=open&limit=2",
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let results = body["results"].as_array().cloned().unwrap_or_default();
    assert!(!results.is_empty() && results.len() <= 2);
    assert!(
        results
            .iter()
            .all(|i| i["severity"] == "critical" && i["region"] == "eu-west-1")
    );
    assert!(body["total"].as_u64().unwrap_or(0) >= results.len() as u64);
    assert_eq!(search(&h, "", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        search(&h, "", Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    for query in [
        "?severity=urgent",
        "?region=mars-1",
        "?status=closed",
        "?limit=0",
    ] {
        assert_eq!(
            search(&h, query, Some(KEY)).await.0,
            StatusCode::BAD_REQUEST,
            "{query}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn report_generation() {
    let h = Harness::start().await;
    let report = |body: Value| {
        let request = h
            .client
            .post(h.url("/api/v2/reports/generate"))
            .header("X-API-Key", KEY);
        request.json(&body).send()
    };
    let range = json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-01-31T23:59:59Z" });
    let grouped = json!({ "report_type": "sla_compliance", "time_range": range, "filters": {}, "group_by": ["region"] });
    let (status, body) = read(report(grouped).await.expect("send")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("queued"))
    );
    let inline = json!({ "report_type": "sla_compliance", "time_range": range, "group_by": [] });
    let (status, body) = read(report(inline).await.expect("send")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
    let backwards = json!({ "from": "2026-02-01", "to": "2026-01-01" });
    let invalid = [
        json!({ "time_range": range }),
        json!({ "report_type": "sla", "time_range": backwards }),
        json!({ "report_type": "sla", "group_by": "region" }),
    ];
    for body in invalid {
        let status = read(report(body).await.expect("send")).await.0;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let anonymous = h.client.post(h.url("/api/v2/reports/generate"));
    let status = read(anonymous.json(&json!({})).send().await.expect("send"))
        .await
        .0;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test]
async fn account_endpoints() {
    let h = Harness::start().await;
    let (status, body) = h.get("/api/v1/account/profile", Some(STATIC)).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (StatusCode::OK, Some("service"))
    );
    let (status, body) = h
        .get("/api/v1/account/usage?window=30d", Some(STATIC))
        .await;
    assert_eq!(
        (status, body["window"].as_str()),
        (StatusCode::OK, Some("30d"))
    );
    assert_eq!(
        h.get("/api/v1/account/usage?window=1y", Some(STATIC))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    let patch = |body: &'static str| {
        let url = h.url("/api/v1/account/preferences/notifications");
        h.client
            .patch(url)
            .bearer_auth(STATIC)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let ok = r#"{"email_alerts":false,"sms_alerts":true,"weekly_summary":false}"#;
    let (status, body) = read(patch(ok).await.expect("send")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["notifications"]["sms_alerts"], true);
    for bad in [r#"{"email_alerts":"yes"}"#, r#"{"pager":true}"#, "{", "{}"] {
        assert_eq!(
            read(patch(bad).await.expect("send")).await.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    h.stop().await;
}
