//! Alertmanager: `POST {base}/api/v2/alerts` with one postable alert, to every peer.
//!
//! Alertmanager identifies an alert by its label set, so the labels hold only what never
//! changes while the alert lasts (`alertname`, `monitor`, `objective`, `endpoint`, the
//! objective's labels); the values that change (observed value, fingerprint, description) are
//! annotations.
//!
//! Alertmanager peers in an HA cluster do not forward alerts to each other: every client must
//! send to every peer. The peers are tried at the same time; the send succeeds when at least one
//! accepted the alert, since the cluster then notifies and gossips the notification log.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Client;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};
use url::Url;

use super::SendError;
use super::email::{describe_value, description, headline};
use super::webhook::{check_response, request_error, target};
use crate::alert::{Notification, Status};
use crate::config::model::AlertmanagerChannel;

/// How long a firing alert stays firing in Alertmanager without being sent again.
///
/// Without `endsAt`, Alertmanager resolves an alert after its `resolve_timeout` (5 minutes by
/// default), which would resolve a long incident between two re-sends. With `endsAt` in the
/// future it keeps the alert firing until then; the alert engine re-sends firing alerts well
/// within this time, each send pushing `endsAt` further, and if slamon stops the alert resolves
/// on its own instead of firing forever.
pub const FIRING_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// A test alert shows up, notifies, and clears itself.
pub const TEST_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

pub struct Alertmanager {
    client: Client,
    peers: Vec<Peer>,
}

#[derive(Clone)]
struct Peer {
    /// `{base}/api/v2/alerts`.
    url: Url,
    /// `host:port`, for messages (a base URL may carry basic-auth credentials).
    name: String,
}

impl Alertmanager {
    pub fn new(config: &AlertmanagerChannel, timeout: Duration) -> Result<Self, SendError> {
        let permanent = |message: String| SendError {
            retryable: false,
            message,
        };
        if config.urls.is_empty() {
            return Err(permanent("alertmanager: no URL".into()));
        }
        let peers = config
            .urls
            .iter()
            .map(|base| {
                let name = target(base);
                alerts_url(base)
                    .map(|url| Peer {
                        url,
                        name: name.clone(),
                    })
                    .ok_or_else(|| permanent(format!("alertmanager {name}: not a base URL")))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let client = super::receiver_client(timeout).map_err(|e| {
            permanent(format!(
                "alertmanager: cannot build the HTTP client: {}",
                e.without_url()
            ))
        })?;
        Ok(Alertmanager { client, peers })
    }

    /// Sends to every peer at once.
    ///
    /// Ok when at least one peer accepted the alert. When none did, the error is retryable if
    /// any peer's failure was: with one peer misconfigured (a 404) and the other down for a
    /// restart, trying again delivers once the second is back, and dropping the alert would
    /// lose a page. A payload every peer refuses (a 400) fails at once.
    pub async fn send(&self, n: &Notification, idempotency_key: &str) -> Result<(), SendError> {
        let body = serde_json::to_vec(&postable_alerts(n, Utc::now())).map_err(|e| SendError {
            retryable: false,
            message: format!("alertmanager: cannot serialize the alert: {e}"),
        })?;
        // Alertmanager deduplicates by labels on its own; the key helps proxies and logs.
        let key = HeaderValue::from_str(idempotency_key).ok();

        let mut tasks = tokio::task::JoinSet::new();
        for peer in &self.peers {
            let (client, peer, body, key) =
                (self.client.clone(), peer.clone(), body.clone(), key.clone());
            tasks.spawn(async move {
                let mut request = client
                    .post(peer.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
                if let Some(key) = key {
                    request = request.header(HeaderName::from_static("idempotency-key"), key);
                }
                match request.send().await {
                    Ok(response) => check_response("alertmanager", &peer.name, response, &[]).await,
                    Err(e) => Err(request_error("alertmanager", &peer.name, e)),
                }
            });
        }

        let mut errors = Vec::new();
        let mut delivered = false;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => delivered = true,
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(SendError {
                    retryable: true,
                    message: format!("alertmanager: send task failed: {e}"),
                }),
            }
        }
        if delivered {
            for e in &errors {
                tracing::warn!(error = %e.message, "alertmanager peer did not take the alert; another did");
            }
            return Ok(());
        }
        Err(SendError {
            retryable: errors.iter().any(|e| e.retryable),
            message: errors
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

/// `{base}/api/v2/alerts`, keeping a path prefix (`http://proxy/alertmanager/`); a URL that
/// already names the endpoint is kept as is.
fn alerts_url(base: &Url) -> Option<Url> {
    if base.cannot_be_a_base() {
        return None;
    }
    let mut base = base.clone();
    base.set_query(None);
    base.set_fragment(None);
    if base
        .path()
        .trim_end_matches('/')
        .ends_with("/api/v2/alerts")
    {
        return Some(base);
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join("api/v2/alerts").ok()
}

/// Prometheus label names are `[a-zA-Z_][a-zA-Z0-9_]*`; Alertmanager refuses the whole alert
/// over one bad name, so other characters become `_`.
fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The request body: a JSON array holding the one postable alert for `n`, as of `now`.
pub(crate) fn postable_alerts(n: &Notification, now: DateTime<Utc>) -> Value {
    // The objective's labels first, so slamon's own identify the alert even when a label of
    // the same name is configured.
    let mut labels: BTreeMap<String, String> = n
        .labels
        .iter()
        .map(|(k, v)| (label_name(k), v.clone()))
        .collect();
    labels.insert("alertname".into(), n.alertname.clone());
    labels.insert("monitor".into(), n.monitor.clone());
    labels.insert("objective".into(), n.objective.clone());
    if let Some(e) = &n.endpoint {
        labels.insert("endpoint".into(), e.clone());
    }
    let ends_at = match n.status {
        Status::Firing => now + FIRING_TTL,
        Status::Resolved => n.ended_at.unwrap_or(now),
        Status::Test => {
            labels.insert("slamon_test".into(), "true".into());
            now + TEST_TTL
        }
    };

    let annotations = json!({
        "summary": headline(n),
        "description": description(n),
        "observed": describe_value(n.observed, &n.unit),
        "threshold": describe_value(Some(n.threshold), &n.unit),
        "window": n.window,
        "fingerprint": n.fingerprint,
    });
    let mut alert = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(n.started_at),
        "endsAt": rfc3339(ends_at),
    });
    // Alertmanager validates generatorURL as a URI: leave it out rather than send "".
    if !n.link.is_empty() {
        alert["generatorURL"] = Value::String(n.link.clone());
    }
    Value::Array(vec![alert])
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn alerts_url_keeps_prefixes() {
        let u = |s: &str| alerts_url(&Url::parse(s).unwrap()).unwrap().to_string();
        assert_eq!(
            u("http://127.0.0.1:9093"),
            "http://127.0.0.1:9093/api/v2/alerts"
        );
        assert_eq!(u("http://am:9093/"), "http://am:9093/api/v2/alerts");
        assert_eq!(
            u("https://proxy/alertmanager"),
            "https://proxy/alertmanager/api/v2/alerts"
        );
        assert_eq!(u("http://am/api/v2/alerts"), "http://am/api/v2/alerts");
    }

    #[test]
    fn label_names_are_prometheus_names() {
        assert_eq!(label_name("team"), "team");
        assert_eq!(label_name("app.kubernetes/name"), "app_kubernetes_name");
        assert_eq!(label_name("1st"), "_1st");
        assert_eq!(label_name(""), "_");
    }
}
