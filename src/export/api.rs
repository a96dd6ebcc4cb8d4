//! The JSON API under `/api/v1/`: ad-hoc silences for deployment windows.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

use std::sync::Arc;

use axum::extract::Query;

use crate::daemon::ReloadRequest;
use crate::state::Store;
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

pub fn routes(
    silences: Silences,
    reload: mpsc::Sender<ReloadRequest>,
    store: Arc<Store>,
) -> Router {
    let reload = Router::new()
        .route("/-/reload", post(reload_config))
        .with_state(reload);
    let runs = Router::new()
        .route("/api/v1/runs", get(list_runs))
        .with_state(store.clone());
    Router::new()
        .route("/api/v1/silences", get(list).post(create))
        .route("/api/v1/silences/{id}", axum::routing::delete(remove))
        .with_state(SilenceApi { silences, store })
        .merge(reload)
        .merge(runs)
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    monitor: Option<String>,
    last: Option<usize>,
}

/// `GET /api/v1/runs?monitor=NAME&last=N`: the run history, newest first.
async fn list_runs(
    State(store): State<Arc<Store>>,
    Query(q): Query<RunsQuery>,
) -> impl IntoResponse {
    let last = q.last.unwrap_or(100).min(10_000);
    match tokio::task::spawn_blocking(move || store.runs(q.monitor.as_deref(), last)).await {
        Ok(Ok(runs)) => Json(runs).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
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

/// The silences and where they are kept, so a restart does not end a deployment window early.
#[derive(Clone)]
struct SilenceApi {
    silences: Silences,
    store: Arc<Store>,
}

impl SilenceApi {
    async fn persist(&self) {
        let (list, store) = (self.silences.list(chrono::Utc::now()), self.store.clone());
        let saved = tokio::task::spawn_blocking(move || {
            store.save_silences(&serde_json::to_string(&list).unwrap_or_default())
        })
        .await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::error!("Cannot save the silences; they hold until the next restart.");
        }
    }
}

async fn list(State(api): State<SilenceApi>) -> impl IntoResponse {
    Json(api.silences.list(chrono::Utc::now()))
}

/// `DELETE /api/v1/silences/{id}`: ends a silence early.
async fn remove(
    State(api): State<SilenceApi>,
    axum::extract::Path(id): axum::extract::Path<u64>,
) -> impl IntoResponse {
    if !api.silences.remove(id) {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("no silence {id}") })),
        )
            .into_response();
    }
    api.persist().await;
    tracing::info!(id, "Silence removed.");
    StatusCode::NO_CONTENT.into_response()
}

async fn create(
    State(api): State<SilenceApi>,
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
    let silence = api.silences.add(Silence {
        id: 0,
        monitor: new.monitor,
        objective: new.objective,
        starts_at: now,
        ends_at,
        comment: new.comment,
    });
    api.persist().await;
    tracing::info!(id = silence.id, monitor = ?silence.monitor, objective = ?silence.objective, until = %silence.ends_at, "Silence added.");
    (StatusCode::CREATED, Json(silence)).into_response()
}
