//! The JSON API under `/api/v1/`: ad-hoc silences for deployment windows.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

use crate::daemon::ReloadRequest;
use serde::Deserialize;

use crate::alert::{Silence, Silences};

/// What `POST /api/v1/silences` takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSilence {
    monitor: Option<String>,
    objective: Option<String>,
    /// How long from now, e.g. "30m".
    duration: String,
    #[serde(default)]
    comment: String,
}

/// The longest silence the API grants: a forgotten one must not mute paging for good.
const MAX_SILENCE: std::time::Duration = std::time::Duration::from_secs(7 * 86400);

pub fn routes(silences: Silences, reload: mpsc::Sender<ReloadRequest>) -> Router {
    let reload = Router::new()
        .route("/-/reload", post(reload_config))
        .with_state(reload);
    Router::new()
        .route("/api/v1/silences", get(list).post(create))
        .with_state(silences)
        .merge(reload)
}

/// `POST /-/reload`: reads the config file again, as SIGHUP does; 200 when it was applied,
/// 400 with the config's problems when it was rejected and the old config keeps running.
async fn reload_config(State(reload): State<mpsc::Sender<ReloadRequest>>) -> impl IntoResponse {
    let (tx, rx) = oneshot::channel();
    if reload.send(tx).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "shutting down" })),
        )
            .into_response();
    }
    match rx.await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "reloaded" })),
        )
            .into_response(),
        Ok(Err(problems)) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "status": "rejected", "problems": problems })),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "shutting down" })),
        )
            .into_response(),
    }
}

async fn list(State(silences): State<Silences>) -> impl IntoResponse {
    Json(silences.list(chrono::Utc::now()))
}

async fn create(
    State(silences): State<Silences>,
    body: Result<Json<NewSilence>, axum::extract::rejection::JsonRejection>,
) -> impl IntoResponse {
    let bad = |message: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": message })),
        )
            .into_response()
    };
    let Json(new) = match body {
        Ok(b) => b,
        Err(e) => {
            return bad(format!(
                "invalid silence: {e} (expected {{\"duration\": \"30m\", \"monitor\"?, \"objective\"?, \"comment\"?}})"
            ));
        }
    };
    let duration = match humantime::parse_duration(&new.duration) {
        Ok(d) if !d.is_zero() && d <= MAX_SILENCE => d,
        _ => {
            return bad(format!(
                "invalid duration {:?} (expected from 1s to 7d, e.g. \"30m\")",
                new.duration
            ));
        }
    };
    let now = chrono::Utc::now();
    let ends_at = now + chrono::Duration::from_std(duration).unwrap_or_default();
    let silence = silences.add(Silence {
        id: 0,
        monitor: new.monitor,
        objective: new.objective,
        starts_at: now,
        ends_at,
        comment: new.comment,
    });
    tracing::info!(id = silence.id, monitor = ?silence.monitor, objective = ?silence.objective, until = %silence.ends_at, "Silence added.");
    (StatusCode::CREATED, Json(silence)).into_response()
}
