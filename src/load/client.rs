//! One request: build it from a step, send it, read the body up to the cap, classify the result.
//!
//! Whatever happens on the wire ends as an [`Exchange`]: a response with its body, or a failure
//! of a known [`Outcome`] kind. Nothing here returns an error that could end a run.

use std::sync::Once;
use std::time::Duration;

use minijinja::Value;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode};
use tokio::time::Instant;

use crate::config::model::{Body, Monitor, Step};
use crate::sample::Outcome;
use crate::template::Templates;

/// The HTTP client a monitor's virtual users share.
pub fn build_client(monitor: &Monitor) -> Result<Client, reqwest::Error> {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another part of the process may have installed one already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    Client::builder()
        .user_agent(concat!("slamon/", env!("CARGO_PKG_VERSION")))
        .timeout(monitor.timeout)
        .connect_timeout(monitor.timeout)
        .tls_danger_accept_invalid_certs(!monitor.tls_verify)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
}

/// What came back from one request.
pub struct Exchange {
    pub outcome: Outcome,
    pub status: Option<StatusCode>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// From the actual start to the response headers.
    pub ttfb: Option<Duration>,
    pub message: Option<String>,
}

impl Exchange {
    fn failed(outcome: Outcome, message: String) -> Self {
        Exchange {
            outcome,
            status: None,
            headers: HeaderMap::new(),
            body: Vec::new(),
            ttfb: None,
            message: Some(message),
        }
    }
}

/// The per-user part of a request: variables and session headers.
pub struct Session<'a> {
    pub ctx: &'a Value,
    pub headers: &'a HeaderMap,
}

/// Sends `step` and reads its answer.
pub async fn exchange(
    client: &Client,
    monitor: &Monitor,
    templates: &Templates,
    step: &Step,
    session: &Session<'_>,
) -> Exchange {
    let request = match build(client, monitor, templates, step, session) {
        Ok(r) => r,
        Err(e) => return Exchange::failed(Outcome::Request, e),
    };
    let start = Instant::now();
    let response = match client.execute(request).await {
        Ok(r) => r,
        // The URL may carry rendered secrets in its query: keep it out of messages.
        Err(e) => {
            let e = e.without_url();
            return Exchange::failed(classify(&e), describe(&e));
        }
    };
    let ttfb = Some(start.elapsed());
    let status = response.status();
    let headers = response.headers().clone();
    match read_body(response, monitor.max_body_bytes).await {
        Ok(body) => Exchange {
            outcome: Outcome::Ok,
            status: Some(status),
            headers,
            body,
            ttfb,
            message: None,
        },
        Err((outcome, message)) => Exchange {
            outcome,
            status: Some(status),
            headers,
            body: Vec::new(),
            ttfb,
            message: Some(message),
        },
    }
}

fn build(
    client: &Client,
    monitor: &Monitor,
    templates: &Templates,
    step: &Step,
    session: &Session<'_>,
) -> Result<reqwest::Request, String> {
    let path = templates.render(&step.path, session.ctx)?;
    let mut url = join(&monitor.base_url, &path)?;
    if !step.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in &step.query {
            pairs.append_pair(k, &templates.render(v, session.ctx)?);
        }
    }
    let mut req = client.request(step.method.clone(), url);
    let mut headers = HeaderMap::new();
    for (name, value) in monitor.headers.iter().chain(step.headers.iter()) {
        let v = templates.render(value, session.ctx)?;
        headers.insert(
            name.clone(),
            HeaderValue::from_str(&v)
                .map_err(|_| format!("header {name} rendered to an invalid value"))?,
        );
    }
    for (name, value) in session.headers {
        if !step.headers.iter().any(|(n, _)| n == name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    req = match &step.body {
        Body::None => req,
        Body::Json(t) => req.json(&templates.render_json(t, session.ctx)?),
        Body::Form(fields) => {
            let rendered = fields
                .iter()
                .map(|(k, v)| Ok((k.as_str(), templates.render(v, session.ctx)?)))
                .collect::<Result<Vec<_>, String>>()?;
            req.form(&rendered)
        }
        Body::Raw(t) => req.body(templates.render(t, session.ctx)?),
    };
    // Explicit headers win over the ones `json`/`form` set.
    let mut request = req
        .build()
        .map_err(|e| format!("cannot build request: {e}"))?;
    request.headers_mut().extend(headers);
    Ok(request)
}

/// The base URL and the step's path put end to end, as Locust does with `host`: a base URL
/// with a path prefix keeps it. A path that is a full URL is used as it is.
fn join(base: &url::Url, path: &str) -> Result<url::Url, String> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return url::Url::parse(path).map_err(|e| format!("invalid URL in path: {e}"));
    }
    let full = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url::Url::parse(&full).map_err(|e| format!("invalid URL for path {path:?}: {e}"))
}

async fn read_body(
    mut response: reqwest::Response,
    cap: u64,
) -> Result<Vec<u8>, (Outcome, String)> {
    let too_large = |n: u64| {
        (
            Outcome::BodyTooLarge,
            format!("body of {n} bytes or more exceeds the cap of {cap} bytes"),
        )
    };
    if let Some(len) = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        if len > cap {
            return Err(too_large(len));
        }
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > cap {
                    return Err(too_large(body.len() as u64 + chunk.len() as u64));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                let e = e.without_url();
                return Err((classify(&e), describe(&e)));
            }
        }
    }
}

/// Maps a client error to the closed set of failure kinds.
pub fn classify(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        return Outcome::Timeout;
    }
    let chain = describe(e).to_ascii_lowercase();
    if chain.contains("dns error") || chain.contains("failed to lookup address") {
        Outcome::Dns
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        Outcome::Tls
    } else if e.is_connect() {
        Outcome::Connect
    } else if e.is_builder() || e.is_request() && chain.contains("builder") {
        Outcome::Request
    } else {
        Outcome::Protocol
    }
}

/// The error and its causes on one line: the top level alone rarely says what went wrong.
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
