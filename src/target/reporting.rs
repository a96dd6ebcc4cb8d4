//! Read-mostly monitoring endpoints: the dashboard summary (bearer), incident
//! search and report generation (API key).

use std::sync::LazyLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::{ApiKey, Principal};
use super::support::{
    ApiError, ApiResult, Params, limit, now_rfc3339, one_of, params, parse_json, round_to,
};

const RANGES: &[&str] = &["1h", "24h", "7d", "30d"];
const SEVERITIES: &[&str] = &["critical", "high", "medium", "low"];
const REGIONS: &[&str] = &["us-east-1", "eu-west-1", "ap-southeast-2"];
const STATUSES: &[&str] = &["open", "acknowledged", "resolved"];
const SERVICES: &[&str] = &["checkout", "auth", "search", "billing", "inventory"];
const SYMPTOMS: &[&str] = &[
    "elevated p95 latency",
    "5xx error spike",
    "queue backlog growing",
    "certificate expiring",
    "replica lag above threshold",
];

fn range_hours(range: &str) -> u64 {
    match range {
        "1h" => 1,
        "7d" => 7 * 24,
        "30d" => 30 * 24,
        _ => 24,
    }
}

/// `GET /api/v1/dashboard/summary?range=24h`
pub(super) async fn dashboard_summary(
    _principal: Principal,
    query: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let params = params(query)?;
    let range = one_of(&params, "range", RANGES)?.unwrap_or("24h");
    let mut rng = rand::rng();
    let total = range_hours(range) * rng.random_range(40_000..60_000);
    let failed = total * rng.random_range(2..40) / 10_000;
    let p50 = rng.random_range(18.0..30.0_f64);
    let body = json!({
        "range": range,
        "generated_at": now_rfc3339(),
        "requests": {
            "total": total,
            "failed": failed,
            "error_rate": round_to(failed as f64 / total.max(1) as f64, 5),
        },
        "latency_ms": {
            "p50": p50.round(),
            "p95": (p50 * rng.random_range(2.5..3.5)).round(),
            "p99": (p50 * rng.random_range(5.0..8.0)).round(),
        },
        "availability_pct": round_to(100.0 - failed as f64 * 100.0 / total.max(1) as f64, 3),
        "active_incidents": INCIDENTS.iter().filter(|i| i.status != "resolved").count(),
        "services": SERVICES,
    });
    Ok(Json(body).into_response())
}

#[derive(Serialize)]
struct Incident {
    id: String,
    title: String,
    service: &'static str,
    severity: &'static str,
    region: &'static str,
    status: &'static str,
    opened_at: String,
}

/// A fixed incident set covering every severity/region/status combination,
/// so any valid filter returns something.
static INCIDENTS: LazyLock<Vec<Incident>> = LazyLock::new(|| {
    let now = chrono::Utc::now();
    (0..48_usize)
        .map(|i| {
            let service = SERVICES[i % SERVICES.len()];
            let opened = now - chrono::Duration::minutes(37 * i as i64);
            Incident {
                id: format!("INC-{}", 2400 + i),
                title: format!("{service}: {}", SYMPTOMS[i % SYMPTOMS.len()]),
                service,
                severity: SEVERITIES[i % 4],
                region: REGIONS[(i / 4) % 3],
                status: STATUSES[(i / 12) % 3],
                opened_at: opened.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }
        })
        .collect()
});

/// `GET /api/v2/incidents/search?severity=&region=&status=&limit=`
pub(super) async fn search_incidents(
    _key: ApiKey,
    query: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let params = params(query)?;
    let severity = one_of(&params, "severity", SEVERITIES)?;
    let region = one_of(&params, "region", REGIONS)?;
    let status = one_of(&params, "status", STATUSES)?;
    let limit = limit(&params, 25, 100)?;
    let matching: Vec<&Incident> = INCIDENTS
        .iter()
        .filter(|i| severity.is_none_or(|s| i.severity == s))
        .filter(|i| region.is_none_or(|r| i.region == r))
        .filter(|i| status.is_none_or(|s| i.status == s))
        .collect();
    let total = matching.len();
    let results: Vec<&Incident> = matching.into_iter().take(limit).collect();
    Ok(Json(json!({ "results": results, "total": total })).into_response())
}

#[derive(Deserialize)]
struct TimeRange {
    from: String,
    to: String,
}

#[derive(Deserialize)]
struct ReportRequest {
    report_type: Option<String>,
    time_range: Option<TimeRange>,
    #[serde(default)]
    filters: Option<Map<String, Value>>,
    #[serde(default)]
    group_by: Vec<String>,
}

fn parse_instant(value: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let value = value.trim();
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|dt| dt.and_utc().fixed_offset())
        })
}

fn validate_time_range(range: &TimeRange) -> Result<(), ApiError> {
    let (Some(from), Some(to)) = (parse_instant(&range.from), parse_instant(&range.to)) else {
        return Err(ApiError::unprocessable(
            "time_range.from and time_range.to must be RFC 3339 timestamps or YYYY-MM-DD dates",
        ));
    };
    if from >= to {
        return Err(ApiError::unprocessable(
            "time_range.from must be before time_range.to",
        ));
    }
    Ok(())
}

/// `POST /api/v2/reports/generate`: ungrouped reports are cheap and answered
/// inline (200); grouped ones are "queued" (202), as a real reporting backend
/// would do with expensive aggregations.
pub(super) async fn generate_report(_key: ApiKey, body: Bytes) -> ApiResult {
    let request: ReportRequest = parse_json(&body)?;
    let report_type = request
        .report_type
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 64)
        .ok_or_else(|| ApiError::unprocessable("report_type is required"))?;
    if let Some(range) = &request.time_range {
        validate_time_range(range)?;
    }
    if request.group_by.iter().any(|g| g.trim().is_empty()) {
        return Err(ApiError::unprocessable(
            "group_by entries must be non-empty",
        ));
    }
    let report_id = format!("rpt-{}", uuid::Uuid::new_v4());
    if !request.group_by.is_empty() {
        let body = json!({
            "report_id": report_id,
            "status": "queued",
            "report_type": report_type,
            "group_by": request.group_by,
            "estimated_seconds": rand::rng().random_range(5..60),
        });
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let mut rng = rand::rng();
    let body = json!({
        "report_id": report_id,
        "status": "completed",
        "report_type": report_type,
        "generated_at": now_rfc3339(),
        "filters": request.filters.unwrap_or_default(),
        "summary": {
            "sla_target_pct": 99.9,
            "availability_pct": round_to(rng.random_range(99.80..99.99_f64), 3),
            "incidents": rng.random_range(0..12),
            "error_budget_remaining_pct": round_to(rng.random_range(10.0..95.0_f64), 1),
        },
    });
    Ok(Json(body).into_response())
}
