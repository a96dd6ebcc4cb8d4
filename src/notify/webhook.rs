//! Webhook: one HTTP POST per notification.
//!
//! The body is the [`Notification`] as JSON (`application/json`), or the channel's minijinja
//! template rendered with the notification as context (every field at top level:
//! `{{ status }}`, `{{ labels.severity }}`) and sent with the configured content type.
//! Templates also get a `format_value` filter: `{{ observed | format_value(unit) }}` renders
//! `812 ms`, `99.95%` or `12.5/s` like the email and Alertmanager channels do.
//!
//! Headers: the configured ones, `Idempotency-Key` (the same for every attempt of one
//! delivery), `User-Agent: slamon/<version>`, and with an HMAC key
//! `X-Slamon-Signature: sha256=<hex>` over the exact body bytes.
//!
//! Redirects are not followed: a POST turned into a GET loses the body, and configured
//! headers (often credentials) would go to whatever host the redirect names.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use minijinja::{Environment, UndefinedBehavior};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, StatusCode};
use sha2::Sha256;
use url::Url;

use super::SendError;
use super::email::describe_value;
use crate::alert::Notification;
use crate::config::model::WebhookChannel;

type HmacSha256 = Hmac<Sha256>;

const TEMPLATE_NAME: &str = "body";
/// How much of a refusing receiver's answer goes into the error message.
const ANSWER_SNIPPET: usize = 200;

pub struct Webhook {
    client: Client,
    url: Url,
    /// The configured headers, marked sensitive so they stay out of debug output.
    headers: HeaderMap,
    /// Keyed once; cloned per send.
    mac: Option<HmacSha256>,
    body: Body,
    /// Secret values that must not appear in an error message, even when a receiver echoes
    /// the request back in its answer.
    secrets: Vec<String>,
    /// `host:port`: the URL's path and query may hold a token (Slack's do), so messages name
    /// only this.
    target: String,
}

enum Body {
    Json,
    Template {
        /// Boxed: an environment is large, and a sender is moved around in the worker.
        env: Box<Environment<'static>>,
        content_type: HeaderValue,
    },
}

impl Webhook {
    pub fn new(config: &WebhookChannel, timeout: Duration) -> Result<Self, SendError> {
        let target = target(&config.url);
        let permanent = |message: String| SendError {
            retryable: false,
            message,
        };

        let mut headers = HeaderMap::new();
        // The URL's password, path and query can be credentials too (Slack's path is one).
        let mut secrets: Vec<String> = config
            .url
            .password()
            .map(str::to_string)
            .into_iter()
            .collect();
        let path_and_query = &config.url[url::Position::BeforePath..];
        if path_and_query.len() > 1 {
            secrets.push(path_and_query.to_string());
        }
        for (name, value) in &config.headers {
            let mut v = HeaderValue::from_str(value.expose()).map_err(|_| {
                permanent(format!(
                    "webhook {target}: the value of header {name} is not a valid header value"
                ))
            })?;
            v.set_sensitive(true);
            headers.append(name.clone(), v);
            secrets.push(value.expose().to_string());
        }

        let mac = match &config.hmac_secret {
            Some(key) => {
                secrets.push(key.expose().to_string());
                Some(
                    HmacSha256::new_from_slice(key.expose().as_bytes())
                        .map_err(|e| permanent(format!("webhook {target}: hmac key: {e}")))?,
                )
            }
            None => None,
        };

        let body = match &config.template {
            None => Body::Json,
            Some(source) => {
                let content_type = HeaderValue::from_str(&config.content_type).map_err(|_| {
                    permanent(format!(
                        "webhook {target}: content type {:?} is not a valid header value",
                        config.content_type
                    ))
                })?;
                Body::Template {
                    env: Box::new(environment(source.clone())?),
                    content_type,
                }
            }
        };

        let client = super::receiver_client(timeout).map_err(|e| {
            permanent(format!(
                "webhook {target}: cannot build the HTTP client: {}",
                chain(&e.without_url())
            ))
        })?;

        Ok(Webhook {
            client,
            url: config.url.clone(),
            headers,
            mac,
            body,
            secrets,
            target,
        })
    }

    pub async fn send(&self, n: &Notification, idempotency_key: &str) -> Result<(), SendError> {
        let (body, content_type) = self.render(n)?;

        let mut headers = self.headers.clone();
        // Ours replace configured ones of the same name: the receiver relies on them.
        headers.insert(CONTENT_TYPE, content_type);
        let key = HeaderValue::from_str(idempotency_key).map_err(|_| SendError {
            retryable: false,
            message: format!(
                "webhook {}: the idempotency key is not a valid header value",
                self.target
            ),
        })?;
        headers.insert(HeaderName::from_static("idempotency-key"), key);
        if let Some(mac) = &self.mac {
            let mut mac = mac.clone();
            mac.update(&body);
            let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            // Hex digits are always a valid header value.
            if let Ok(v) = HeaderValue::from_str(&signature) {
                headers.insert(HeaderName::from_static("x-slamon-signature"), v);
            }
        }

        let response = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| request_error("webhook", &self.target, e))?;
        check_response("webhook", &self.target, response, &self.secrets).await
    }

    /// The body and its content type for `n`.
    pub(crate) fn render(&self, n: &Notification) -> Result<(Vec<u8>, HeaderValue), SendError> {
        match &self.body {
            Body::Json => {
                let body = serde_json::to_vec(n).map_err(|e| SendError {
                    retryable: false,
                    message: format!(
                        "webhook {}: cannot serialize the notification: {e}",
                        self.target
                    ),
                })?;
                Ok((body, HeaderValue::from_static("application/json")))
            }
            Body::Template { env, content_type } => {
                let rendered = env
                    .get_template(TEMPLATE_NAME)
                    .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(n))))
                    .map_err(|e| SendError {
                        // The same notification renders the same way next time.
                        retryable: false,
                        message: format!(
                            "webhook {}: template: {}",
                            self.target,
                            template_error(&e)
                        ),
                    })?;
                Ok((rendered.into_bytes(), content_type.clone()))
            }
        }
    }
}

/// An environment holding the compiled template.
///
/// Undefined values fail when printed (`SemiStrict`) so a misspelt field is an error at
/// `slamon alert test` time rather than an empty value in every page; `{% if labels.team %}`
/// and `| default(...)` still work for optional labels.
fn environment(source: String) -> Result<Environment<'static>, SendError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_filter("format_value", |value: Option<f64>, unit: String| {
        describe_value(value, &unit)
    });
    env.add_template_owned(TEMPLATE_NAME, source)
        .map_err(|e| SendError {
            retryable: false,
            message: format!("webhook template: {}", template_error(&e)),
        })?;
    Ok(env)
}

/// The error with its line, without the alternate form's source excerpt: a template may hold
/// a secret (a routing key).
fn template_error(e: &minijinja::Error) -> String {
    e.to_string()
}

/// `host:port` of a URL.
pub(super) fn target(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => url.scheme().to_string(),
    }
}

/// A request that got no response: the receiver may be back later, except when the request
/// itself could not be built.
pub(super) fn request_error(channel: &str, target: &str, e: reqwest::Error) -> SendError {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_builder() {
        "cannot build the request"
    } else {
        "request failed"
    };
    SendError {
        retryable: !e.is_builder(),
        message: format!("{channel} {target}: {what}: {}", chain(&e)),
    }
}

/// The error and its causes, `: `-separated, skipping a cause that repeats its parent.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// 2xx is delivered; 408, 429 and 5xx may pass later; any other status will not.
pub(super) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Ok for 2xx; otherwise an error naming the status and the start of the answer, with the
/// given secrets removed from it.
pub(super) async fn check_response(
    channel: &str,
    target: &str,
    mut response: reqwest::Response,
    secrets: &[String],
) -> Result<(), SendError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // Read only the start of the answer: it is for a person reading the log.
    let mut answer = Vec::new();
    while answer.len() < 4 * ANSWER_SNIPPET {
        match response.chunk().await {
            Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let mut answer = String::from_utf8_lossy(&answer).into_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        answer = answer.replace(secret.as_str(), "<redacted>");
    }
    let answer: String = answer
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ANSWER_SNIPPET)
        .collect();
    let answer = answer.split_whitespace().collect::<Vec<_>>().join(" ");

    let mut message = format!("{channel} {target} answered {status}");
    if status.is_redirection() {
        message.push_str(" (redirects are not followed: configure the final URL)");
    }
    if !answer.is_empty() {
        message.push_str(": ");
        message.push_str(&answer);
    }
    Err(SendError {
        retryable: retryable_status(status),
        message,
    })
}
