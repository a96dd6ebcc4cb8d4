//! The HTTP server: `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::model::Secret;

#[derive(Clone)]
struct AppState {
    registry: Registry,
    ready: Arc<AtomicBool>,
}

/// Serves until `shutdown` fires. `ready` turns `/readyz` to 200 once the pipeline runs.
/// `api` holds the routes other stages serve (the JSON API). With `token`, every route but the
/// probes requires `Authorization: Bearer <token>`: probes must work for the kubelet and
/// systemd, everything else shows or changes what slamon does.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    ready: Arc<AtomicBool>,
    api: Router,
    token: Option<Secret>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut protected = Router::new()
        .route("/metrics", get(metrics))
        .with_state(AppState {
            registry,
            ready: ready.clone(),
        })
        .merge(api);
    if let Some(token) = token {
        protected = protected.layer(axum::middleware::from_fn_with_state(
            Arc::new(token),
            require_token,
        ));
    }
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            registry: Registry::new(),
            ready,
        });
    let app = probes.merge(protected);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let families = state.registry.gather();
    let mut body = Vec::new();
    match TextEncoder::new().encode(&families, &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}\n"),
        )
            .into_response(),
    }
}

async fn require_token(
    State(token): State<Arc<Secret>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same(g.as_bytes(), token.expose().as_bytes()) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response(),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}
