//! Account self-service endpoints, reachable with any bearer token including
//! the static deployment-gate token.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Principal, STATIC_TOKEN_SUBJECT};
use super::routes::AppState;
use super::store::BoundedMap;
use super::support::{ApiError, ApiResult, Params, now_rfc3339, one_of, params};

const WINDOWS: &[&str] = &["24h", "7d", "30d", "90d"];
const MONTHLY_QUOTA: u64 = 5_000_000;

/// Stable pseudo account id, so repeated profile reads agree with each other.
fn account_id(subject: &str) -> String {
    let mut hasher = DefaultHasher::new();
    subject.hash(&mut hasher);
    format!("acct-{:08x}", hasher.finish() as u32)
}

/// `GET /api/v1/account/profile`
pub(super) async fn profile(principal: Principal) -> ApiResult {
    let service = principal.subject == STATIC_TOKEN_SUBJECT;
    let body = json!({
        "account_id": account_id(&principal.subject),
        "email": principal.subject,
        "type": if service { "service" } else { "user" },
        "organization": "Example Corp",
        "plan": "enterprise",
        "roles": if service { vec!["monitoring"] } else { vec!["operator", "viewer"] },
        "mfa_enabled": !service,
    });
    Ok(Json(body).into_response())
}

fn window_days(window: &str) -> u64 {
    match window {
        "24h" => 1,
        "7d" => 7,
        "90d" => 90,
        _ => 30,
    }
}

/// `GET /api/v1/account/usage?window=30d`
pub(super) async fn usage(
    principal: Principal,
    query: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let params = params(query)?;
    let window = one_of(&params, "window", WINDOWS)?.unwrap_or("30d");
    let days = window_days(window);
    let mut rng = rand::rng();
    let api_calls = days * rng.random_range(90_000..140_000);
    let quota = MONTHLY_QUOTA * days.div_ceil(30);
    let body = json!({
        "account_id": account_id(&principal.subject),
        "window": window,
        "api_calls": api_calls,
        "quota": quota,
        "quota_used_pct": (api_calls as f64 * 1000.0 / quota as f64).round() / 10.0,
        "data_transfer_gb": (days as f64 * rng.random_range(1.5..4.0_f64) * 10.0).round() / 10.0,
        "active_monitors": rng.random_range(12..20),
    });
    Ok(Json(body).into_response())
}

#[derive(Clone, Copy, Serialize)]
struct NotificationPrefs {
    email_alerts: bool,
    sms_alerts: bool,
    weekly_summary: bool,
}

impl Default for NotificationPrefs {
    fn default() -> Self {
        Self {
            email_alerts: true,
            sms_alerts: false,
            weekly_summary: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationPatch {
    email_alerts: Option<bool>,
    sms_alerts: Option<bool>,
    weekly_summary: Option<bool>,
}

/// Notification preferences per subject; only a handful of subjects can
/// exist, the bound is a safety net.
#[derive(Clone)]
pub(super) struct Preferences(Arc<Mutex<BoundedMap<String, NotificationPrefs>>>);

impl Default for Preferences {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(BoundedMap::new(1_000))))
    }
}

/// `PATCH /api/v1/account/preferences/notifications`: a partial update; any
/// body that is not an object of known boolean fields is a 422.
pub(super) async fn update_notifications(
    principal: Principal,
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult {
    let patch: NotificationPatch = serde_json::from_slice(&body).map_err(|err| {
        ApiError::unprocessable(format!(
            "expected {{\"email_alerts\", \"sms_alerts\", \"weekly_summary\"}} booleans: {err}"
        ))
    })?;
    if patch.email_alerts.is_none() && patch.sms_alerts.is_none() && patch.weekly_summary.is_none()
    {
        return Err(ApiError::unprocessable(
            "at least one preference must be given",
        ));
    }
    let mut table = state
        .preferences
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let mut prefs = table
        .get(principal.subject.as_str())
        .copied()
        .unwrap_or_default();
    prefs.email_alerts = patch.email_alerts.unwrap_or(prefs.email_alerts);
    prefs.sms_alerts = patch.sms_alerts.unwrap_or(prefs.sms_alerts);
    prefs.weekly_summary = patch.weekly_summary.unwrap_or(prefs.weekly_summary);
    table.insert(principal.subject, prefs);
    let body = json!({ "notifications": prefs, "updated_at": now_rfc3339() });
    Ok(Json(body).into_response())
}
