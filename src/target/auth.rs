//! Login, the OAuth2 password grant, and the two credentials the protected
//! endpoints accept: bearer tokens and the static API key.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::routes::AppState;
use super::store::{BoundedMap, DEFAULT_CAPACITY};
use super::support::{ApiError, ApiResult, Params, random_token};

pub(super) const LOGIN_EMAIL: &str = "loadtest.user@example.com";
pub(super) const LOGIN_PASSWORD: &str = "SuperSecurePassword123!";
pub(super) const OAUTH_USERNAME: &str = "ops.loadtest@example.com";
pub(super) const OAUTH_PASSWORD: &str = "LoadTestPassword123!";
pub(super) const OAUTH_CLIENT_ID: &str = "web-portal";
/// Long-lived token of the deployment-gate flow; it never expires.
pub(super) const STATIC_TOKEN: &str = "ci-cd-monitoring-token";
pub(super) const STATIC_TOKEN_SUBJECT: &str = "ci-cd-monitoring@example.com";
pub(super) const API_KEY: &str = "lf_demo_monitoring_key_2026";
const TOKEN_TTL: Duration = Duration::from_secs(3600);

struct Session {
    subject: String,
    expires_at: Instant,
}

/// Issued bearer tokens, capped so that a load test logging in on every
/// iteration cannot exhaust memory.
#[derive(Clone)]
pub(super) struct Sessions(Arc<Mutex<BoundedMap<String, Session>>>);

impl Default for Sessions {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(BoundedMap::new(DEFAULT_CAPACITY))))
    }
}

impl Sessions {
    fn issue(&self, subject: &str) -> String {
        let token = random_token("lt_");
        let session = Session {
            subject: subject.to_owned(),
            expires_at: Instant::now() + TOKEN_TTL,
        };
        let mut sessions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.insert(token.clone(), session);
        token
    }

    fn subject(&self, token: &str) -> Option<String> {
        let sessions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        sessions
            .get(token)
            .filter(|s| s.expires_at > Instant::now())
            .map(|s| s.subject.clone())
    }
}

/// The caller authenticated by `Authorization: Bearer <token>`.
pub(super) struct Principal {
    pub(super) subject: String,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| ApiError::unauthorized("expected a Bearer token"))?;
        if token == STATIC_TOKEN {
            return Ok(Self {
                subject: STATIC_TOKEN_SUBJECT.to_owned(),
            });
        }
        state
            .sessions
            .subject(token)
            .map(|subject| Self { subject })
            .ok_or_else(|| ApiError::unauthorized("invalid or expired token"))
    }
}

/// Proof that the request carried the monitoring `X-API-Key`.
pub(super) struct ApiKey;

impl<S: Sync> FromRequestParts<S> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.headers.get("x-api-key").map(HeaderValue::as_bytes) {
            Some(key) if key == API_KEY.as_bytes() => Ok(Self),
            Some(_) => Err(ApiError::unauthorized("invalid API key")),
            None => Err(ApiError::unauthorized("missing X-API-Key header")),
        }
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

fn token_response(token: &str) -> Response {
    let body =
        json!({ "access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL.as_secs() });
    // RFC 6749 5.1: token responses must not be cached.
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    (no_store, Json(body)).into_response()
}

/// `POST /api/v1/auth/login` with a JSON `{"email", "password"}` body.
pub(super) async fn login(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let request: LoginRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::bad_request(
            "malformed_body",
            "expected JSON {\"email\": ..., \"password\": ...}",
        )
    })?;
    let email = request.email.trim();
    if !email.eq_ignore_ascii_case(LOGIN_EMAIL) || request.password != LOGIN_PASSWORD {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "email or password is incorrect",
        ));
    }
    Ok(token_response(&state.sessions.issue(LOGIN_EMAIL)))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// `POST /api/v1/auth/token`: OAuth2 resource-owner password grant (RFC 6749 4.3),
/// answering errors in the OAuth shape rather than the API's.
pub(super) async fn token(
    State(state): State<AppState>,
    form: Result<Form<Params>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "expected an application/x-www-form-urlencoded body",
        );
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let bad = |error, description| oauth_error(StatusCode::BAD_REQUEST, error, description);
    match field("grant_type") {
        "" => return bad("invalid_request", "grant_type is required"),
        "password" => {}
        _ => {
            return bad(
                "unsupported_grant_type",
                "only the password grant is supported",
            );
        }
    }
    if field("username").is_empty() || field("password").is_empty() {
        return bad("invalid_request", "username and password are required");
    }
    if field("client_id") != OAUTH_CLIENT_ID {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        );
    }
    if !field("username").eq_ignore_ascii_case(OAUTH_USERNAME)
        || field("password") != OAUTH_PASSWORD
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "username or password is incorrect",
        );
    }
    token_response(&state.sessions.issue(OAUTH_USERNAME))
}
