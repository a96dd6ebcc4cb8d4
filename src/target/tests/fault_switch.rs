//! Fault injection from Rust and over the `/_faults` HTTP switch.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Harness, STATIC, read};
use crate::target::Fault;

#[tokio::test]
async fn injected_latency_and_errors() {
    let h = Harness::start().await;
    let route = "/api/v1/dashboard/summary";
    let faults = h.server.faults();
    faults.set(
        route,
        Fault {
            latency_ms: 150,
            ..Fault::default()
        },
    );
    let started = Instant::now();
    assert_eq!(h.get(route, Some(STATIC)).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    faults.set(
        route,
        Fault {
            error_rate: 1.0,
            ..Fault::default()
        },
    );
    for _ in 0..10 {
        let (status, body) = h.get(route, Some(STATIC)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("injected_fault"))
        );
    }
    assert_eq!(h.get("/health", None).await.0, StatusCode::OK);
    faults.set(
        "*",
        Fault {
            error_rate: 1.0,
            status: Some(503),
            ..Fault::default()
        },
    );
    assert_eq!(
        h.get("/health", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    faults.clear();
    assert_eq!(h.get(route, Some(STATIC)).await.0, StatusCode::OK);
    assert_eq!(h.get("/health", None).await.0, StatusCode::OK);
    assert_eq!(h.server.hits(route), 12);
    h.stop().await;
}

#[tokio::test]
async fn fault_switch_over_http() {
    let h = Harness::start().await;
    let set = |body: Value| h.client.post(h.url("/_faults")).json(&body).send();
    let fault = json!({ "route": "/api/v1/orders/{order_id}", "error_rate": 1.0, "status": 502 });
    let (status, body) = read(set(fault).await.expect("send")).await;
    assert_eq!(
        (status, body["route"].as_str()),
        (StatusCode::OK, Some("/api/v1/orders/[id]"))
    );
    assert_eq!(
        h.get("/api/v1/orders/ord-x", Some(STATIC)).await.0,
        StatusCode::BAD_GATEWAY
    );
    let (_, listed) = h.get("/_faults", None).await;
    assert_eq!(listed["faults"][0]["route"], "/api/v1/orders/[id]");

    for bad in [
        json!({ "route": "/api/v1/unknown", "latency_ms": 5 }),
        json!({ "route": "*", "error_rate": 1.5 }),
        json!({ "route": "*", "error_rate": 0.5, "status": 200 }),
    ] {
        assert_eq!(
            read(set(bad).await.expect("send")).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // A "*" fault must not block the switch itself.
    read(
        set(json!({ "route": "*", "error_rate": 1.0 }))
            .await
            .expect("send"),
    )
    .await;
    let (status, body) = read(
        h.client
            .delete(h.url("/_faults"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["cleared"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    assert_eq!(
        h.get("/api/v1/orders/ord-x", Some(STATIC)).await.0,
        StatusCode::NOT_FOUND
    );
    h.stop().await;
}

#[tokio::test]
async fn shutdown_cuts_injected_latency_short() {
    let h = Harness::start().await;
    let long = Fault {
        latency_ms: 60_000,
        ..Fault::default()
    };
    h.server.faults().set("/health", long);
    let pending = tokio::spawn(h.client.get(h.url("/health")).send());
    let arrived = async {
        while h.server.hits("/health") == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), arrived)
        .await
        .expect("request reaches the server");
    let started = Instant::now();
    h.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let response = pending.await.expect("join").expect("send");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}
