use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::TargetServer;

mod api;
mod fault_switch;

const STATIC: &str = "ci-cd-monitoring-token";
const KEY: &str = "lf_demo_monitoring_key_2026";

struct Harness {
    server: TargetServer,
    shutdown: CancellationToken,
    client: Client,
}

impl Harness {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let shutdown = CancellationToken::new();
        let server = TargetServer::start(listener, shutdown.clone())
            .await
            .expect("start");
        // reqwest refuses to build a client without a process-wide rustls
        // provider even for plain http; another test may have installed it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Self {
            server,
            shutdown,
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("send")).await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.server.stopped())
            .await
            .expect("server stops after cancellation");
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn login(h: &Harness, email: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({ "email": email, "password": password });
    let request = h.client.post(h.url("/api/v1/auth/login")).json(&body);
    read(request.send().await.expect("send")).await
}

#[tokio::test]
async fn health_unknown_route_and_wrong_method() {
    let h = Harness::start().await;
    assert_eq!(
        h.get("/health", None).await,
        (StatusCode::OK, json!({ "status": "ok" }))
    );
    let (status, body) = h.get("/api/v1/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let response = h
        .client
        .delete(h.url("/health"))
        .send()
        .await
        .expect("send");
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    // Requests no handler of the route accepted are not counted.
    assert_eq!(h.server.hits("/health"), 1);
    h.stop().await;
}

#[tokio::test]
async fn login_token_guards_dashboard() {
    let h = Harness::start().await;
    let (status, body) = login(&h, "loadtest.user@example.com", "SuperSecurePassword123!").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().expect("token").to_owned();

    let (status, body) = h
        .get("/api/v1/dashboard/summary?range=24h", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["range"], "24h");
    assert_eq!(
        h.get("/api/v1/dashboard/summary?range=2h", Some(&token))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get("/api/v1/dashboard/summary", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.get("/api/v1/dashboard/summary", Some("forged")).await.0,
        StatusCode::UNAUTHORIZED
    );

    let (status, body) = login(&h, "loadtest.user@example.com", "wrong").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let malformed = h
        .client
        .post(h.url("/api/v1/auth/login"))
        .body("{\"email\":");
    assert_eq!(
        read(malformed.send().await.expect("send")).await.0,
        StatusCode::BAD_REQUEST
    );
    h.stop().await;
}

#[tokio::test]
async fn oauth_password_grant() {
    let h = Harness::start().await;
    let grant = |grant_type: &'static str, password: &'static str| {
        let form = [
            ("grant_type", grant_type),
            ("username", "ops.loadtest@example.com"),
            ("password", password),
            ("client_id", "web-portal"),
        ];
        h.client
            .post(h.url("/api/v1/auth/token"))
            .form(&form)
            .send()
    };
    let (status, body) = read(
        grant("password", "LoadTestPassword123!")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(
        h.get("/api/v1/account/profile", Some(&token)).await.1["email"],
        "ops.loadtest@example.com"
    );

    let (status, body) = read(
        grant("client_credentials", "LoadTestPassword123!")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body) = read(grant("password", "nope").await.expect("send")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_grant"))
    );
    let as_json = h.client.post(h.url("/api/v1/auth/token")).json(&json!({}));
    assert_eq!(
        read(as_json.send().await.expect("send")).await.0,
        StatusCode::BAD_REQUEST
    );
    h.stop().await;
}
