//! Runtime fault injection and per-route hit counting. Both hang off a small
//! middleware attached to each named route, so they see the request before
//! any extractor runs (a malformed body still counts and still gets delayed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::routes::AppState;
use super::support::{ApiError, ApiResult, Params, params, parse_json};

/// Route key that applies a fault to every named route.
pub const ALL_ROUTES: &str = "*";

/// Upper bound for latency set over HTTP, so a typo cannot park every
/// connection of a demo for hours.
const MAX_HTTP_LATENCY_MS: u64 = 120_000;

/// A fault applied to matching requests: first a delay, then, with probability
/// `error_rate`, an error response instead of the real handler.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Fault {
    /// Delay in milliseconds; when non-zero it replaces the default 1–15 ms jitter.
    #[serde(default)]
    pub latency_ms: u64,
    /// Share of requests answered with an error, `0.0..=1.0`.
    #[serde(default)]
    pub error_rate: f64,
    /// Status to answer instead of 500 for the injected errors; only 400–599
    /// is honoured, anything else falls back to 500.
    #[serde(default)]
    pub status: Option<u16>,
}

/// Shared, cheaply cloneable handle to the fault table of one server.
#[derive(Clone, Default)]
pub struct Faults {
    table: Arc<RwLock<HashMap<String, Fault>>>,
}

impl Faults {
    /// Injects latency and/or an error ratio into the route named `route`
    /// (a template such as `/api/v1/orders/[id]`, or `*` for all routes).
    /// A route-specific fault takes precedence over `*`.
    pub fn set(&self, route: &str, fault: Fault) {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        table.insert(route_name(route), fault);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.table
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn remove(&self, route: &str) -> bool {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        table.remove(&route_name(route)).is_some()
    }

    fn len(&self) -> usize {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn snapshot(&self) -> Vec<(String, Fault)> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        let mut entries: Vec<_> = table.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    fn lookup(&self, route: &str) -> Option<Fault> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.get(route).or_else(|| table.get(ALL_ROUTES)).cloned()
    }
}

/// Turns an axum path template into the name Locust's `name=` would use:
/// `/api/v1/orders/{order_id}` becomes `/api/v1/orders/[id]`. Names that are
/// already in that form pass through unchanged.
pub(super) fn route_name(path: &str) -> String {
    let path = path.trim();
    let mut name = String::with_capacity(path.len());
    let mut in_param = false;
    for ch in path.chars() {
        match (ch, in_param) {
            ('{', false) => in_param = true,
            ('}', true) => {
                in_param = false;
                name.push_str("[id]");
            }
            (_, true) => {}
            (c, false) => name.push(c),
        }
    }
    name
}

/// Hit counters of all named routes. The set of routes is fixed when the
/// router is built, so counting needs no lock.
#[derive(Clone, Default)]
pub(super) struct Hits {
    counters: Arc<HashMap<String, Arc<AtomicU64>>>,
}

impl Hits {
    pub(super) fn new(counters: HashMap<String, Arc<AtomicU64>>) -> Self {
        Self {
            counters: Arc::new(counters),
        }
    }

    pub(super) fn get(&self, route: &str) -> u64 {
        self.counters
            .get(&route_name(route))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn knows(&self, route: &str) -> bool {
        self.counters.contains_key(route)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.counters.keys().cloned().collect();
        names.sort();
        names
    }
}

/// Per-route middleware state: the route's name, its hit counter and the
/// shared fault table.
#[derive(Clone)]
pub(super) struct Guard {
    pub(super) name: Arc<str>,
    pub(super) counter: Arc<AtomicU64>,
    pub(super) faults: Faults,
    pub(super) shutdown: CancellationToken,
}

pub(super) async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    guard.counter.fetch_add(1, Ordering::Relaxed);
    let fault = guard.faults.lookup(&guard.name);
    // Decided before the await: the thread-local RNG is not Send.
    let (delay, failure) = decide(fault.as_ref());
    // Graceful shutdown waits for in-flight requests; an injected delay of
    // minutes must not hold it up.
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = guard.shutdown.cancelled() => {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "server is shutting down").into_response();
        }
    }
    match failure {
        Some(status) => injected_error(status, &guard.name),
        None => next.run(request).await,
    }
}

fn decide(fault: Option<&Fault>) -> (Duration, Option<StatusCode>) {
    let mut rng = rand::rng();
    let delay_ms = match fault {
        Some(f) if f.latency_ms > 0 => f.latency_ms,
        // Mostly fast with an occasional slower request, so p50 and p99 differ.
        _ if rng.random_bool(0.1) => rng.random_range(7..=15),
        _ => rng.random_range(1..=6),
    };
    let failure = fault.and_then(|f| {
        let rate = if f.error_rate.is_finite() {
            f.error_rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        rng.random_bool(rate).then(|| {
            f.status
                .filter(|s| (400..=599).contains(s))
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        })
    });
    (Duration::from_millis(delay_ms), failure)
}

fn injected_error(status: StatusCode, route: &str) -> Response {
    let body = json!({
        "error": "injected_fault",
        "message": format!("fault injected for {route}"),
    });
    (status, Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    route: String,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    error_rate: f64,
    #[serde(default)]
    status: Option<u16>,
}

fn fault_json(route: &str, fault: &Fault) -> serde_json::Value {
    json!({
        "route": route,
        "latency_ms": fault.latency_ms,
        "error_rate": fault.error_rate,
        "status": fault.status,
    })
}

/// `GET /_faults`: the active faults plus the route names they can target.
pub(super) async fn list(State(state): State<AppState>) -> Response {
    let faults: Vec<_> = state
        .faults
        .snapshot()
        .iter()
        .map(|(route, fault)| fault_json(route, fault))
        .collect();
    Json(json!({ "faults": faults, "routes": state.hits.names() })).into_response()
}

/// `POST /_faults`: sets (or replaces) the fault of one route.
pub(super) async fn set(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let request: FaultRequest = parse_json(&body)?;
    let route = route_name(&request.route);
    let fault = Fault {
        latency_ms: request.latency_ms,
        error_rate: request.error_rate,
        status: request.status,
    };
    if route != ALL_ROUTES && !state.hits.knows(&route) {
        let known = state.hits.names().join(", ");
        return Err(ApiError::unprocessable(format!(
            "unknown route {route:?}; use \"*\" or one of: {known}"
        )));
    }
    if !(0.0..=1.0).contains(&fault.error_rate) {
        return Err(ApiError::unprocessable(
            "error_rate must be between 0.0 and 1.0",
        ));
    }
    if fault.latency_ms > MAX_HTTP_LATENCY_MS {
        return Err(ApiError::unprocessable(format!(
            "latency_ms must be at most {MAX_HTTP_LATENCY_MS}"
        )));
    }
    if fault.status.is_some_and(|s| !(400..=599).contains(&s)) {
        return Err(ApiError::unprocessable(
            "status must be an HTTP error status (400-599)",
        ));
    }
    tracing::info!(%route, latency_ms = fault.latency_ms, error_rate = fault.error_rate, "demo target fault set");
    let body = fault_json(&route, &fault);
    state.faults.set(&route, fault);
    Ok(Json(body).into_response())
}

/// `DELETE /_faults[?route=...]`: clears one fault or all of them.
pub(super) async fn clear(
    State(state): State<AppState>,
    query: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let params = params(query)?;
    let cleared = match params.get("route").filter(|r| !r.trim().is_empty()) {
        Some(route) => usize::from(state.faults.remove(route)),
        None => {
            let count = state.faults.len();
            state.faults.clear();
            count
        }
    };
    tracing::info!(cleared, "demo target faults cleared");
    Ok(Json(json!({ "cleared": cleared })).into_response())
}
