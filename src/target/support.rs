//! Shared request plumbing: the JSON error shape, lenient body/query parsing
//! that never panics, and small random helpers.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Every error leaves the server as `{"error": <code>, "message": <text>}` so
/// load-test checks can assert on a stable machine-readable code.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(super) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            message,
        )
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

pub(super) type ApiResult = Result<Response, ApiError>;

/// Parses a JSON body ourselves instead of using axum's `Json` extractor,
/// whose rejections are plain text: unparseable input is a 400, input that
/// parses but does not fit the schema is a 422.
pub(super) fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "malformed_json",
            "request body is empty",
        ));
    }
    serde_json::from_slice(body).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable(err.to_string()),
        _ => ApiError::bad_request("malformed_json", err.to_string()),
    })
}

pub(super) type Params = HashMap<String, String>;

pub(super) fn params(query: Result<Query<Params>, QueryRejection>) -> Result<Params, ApiError> {
    query
        .map(|Query(params)| params)
        .map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))
}

/// Reads an optional enumerated query parameter; an empty value counts as absent
/// because browsers and some clients send `?severity=` for "any".
pub(super) fn one_of(
    params: &Params,
    key: &str,
    allowed: &[&'static str],
) -> Result<Option<&'static str>, ApiError> {
    let Some(raw) = params.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    allowed
        .iter()
        .copied()
        .find(|candidate| *candidate == raw)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{key} must be one of {}", allowed.join(", ")),
            )
        })
}

pub(super) fn limit(params: &Params, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = params
        .get("limit")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    else {
        return Ok(default);
    };
    match raw.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("limit must be an integer between 1 and {max}"),
        )),
    }
}

pub(super) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes[..]);
    let mut token = String::with_capacity(prefix.len() + bytes.len() * 2);
    token.push_str(prefix);
    for byte in bytes {
        // Writing into a String cannot fail.
        let _ = write!(token, "{byte:02x}");
    }
    token
}

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Rounds generated figures so payloads look like what a real service emits.
pub(super) fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10_f64.powi(decimals);
    (value * scale).round() / scale
}
