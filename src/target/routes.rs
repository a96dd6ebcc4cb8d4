//! The router: every public endpoint is registered under its Locust-style
//! route name, which is what faults and hit counters are keyed by.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Json;
use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, patch, post};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::faults::{self, Faults, Guard, Hits, route_name};
use super::support::ApiError;
use super::{account, auth, reporting, shop};

/// Everything the handlers share; all fields are cheap handles.
#[derive(Clone)]
pub(super) struct AppState {
    pub(super) faults: Faults,
    pub(super) hits: Hits,
    pub(super) sessions: auth::Sessions,
    pub(super) orders: shop::Orders,
    pub(super) preferences: account::Preferences,
}

/// Collects named routes, giving each its own fault/hit middleware.
struct RouteTable {
    router: Router<AppState>,
    faults: Faults,
    shutdown: CancellationToken,
    counters: HashMap<String, Arc<AtomicU64>>,
}

impl RouteTable {
    fn new(faults: Faults, shutdown: CancellationToken) -> Self {
        Self {
            router: Router::new(),
            faults,
            shutdown,
            counters: HashMap::new(),
        }
    }

    fn add(mut self, path: &str, handlers: MethodRouter<AppState>) -> Self {
        let name = route_name(path);
        let counter = Arc::clone(self.counters.entry(name.clone()).or_default());
        let guard = Guard {
            name: name.into(),
            counter,
            faults: self.faults.clone(),
            shutdown: self.shutdown.clone(),
        };
        self.router = self.router.route(
            path,
            handlers.layer(from_fn_with_state(guard, faults::guard)),
        );
        self
    }
}

/// Builds the complete application and returns the hit counters with it.
pub(super) fn build(faults: Faults, shutdown: CancellationToken) -> (Router, Hits) {
    let table = RouteTable::new(faults.clone(), shutdown)
        .add("/health", get(health))
        .add("/api/v1/auth/login", post(auth::login))
        .add("/api/v1/auth/token", post(auth::token))
        .add(
            "/api/v1/dashboard/summary",
            get(reporting::dashboard_summary),
        )
        .add("/api/v1/products", get(shop::list_products))
        .add("/api/v1/orders", post(shop::create_order))
        .add("/api/v1/orders/{order_id}", get(shop::get_order))
        .add("/api/v2/incidents/search", get(reporting::search_incidents))
        .add("/api/v2/reports/generate", post(reporting::generate_report))
        .add("/api/v1/account/profile", get(account::profile))
        .add("/api/v1/account/usage", get(account::usage))
        .add(
            "/api/v1/account/preferences/notifications",
            patch(account::update_notifications),
        );
    let hits = Hits::new(table.counters);
    let state = AppState {
        faults,
        hits: hits.clone(),
        sessions: auth::Sessions::default(),
        orders: shop::Orders::default(),
        preferences: account::Preferences::default(),
    };
    // The fault switch itself is deliberately outside the guard: a "*" fault
    // must never lock the operator out of clearing it.
    let router = table
        .router
        .route(
            "/_faults",
            get(faults::list).post(faults::set).delete(faults::clear),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    (router, hits)
}

async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed for this route",
    )
}
