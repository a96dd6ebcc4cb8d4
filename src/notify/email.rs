//! Email over SMTP: one `multipart/alternative` mail (plain text and HTML) per notification.
//!
//! The subject is written to be triaged from a phone's lock screen:
//! `[FIRING] checkout p95 < 500ms: 812 ms (shop /api/v1/orders)`. The Message-ID is derived
//! from the idempotency key, so a mail sent twice (a retry after a lost `250` reply) carries the
//! same Message-ID and mail systems and clients recognise the duplicate.
//!
//! The value formatting shared with the Alertmanager channel and webhook templates
//! ([`describe_value`], [`headline`], [`description`]) lives here, in one place.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::alert::{Notification, Status};
use crate::config::model::{EmailChannel, SmtpTls};

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
    /// `host:port`, for error messages.
    server: String,
}

impl Email {
    pub fn new(config: &EmailChannel, timeout: Duration) -> Result<Self, SendError> {
        let permanent = |message: String| SendError {
            retryable: false,
            message,
        };
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| permanent(format!("invalid from address {:?}: {e}", config.from)))?;
        let to = config
            .to
            .iter()
            .map(|a| {
                a.parse::<Mailbox>()
                    .map_err(|e| permanent(format!("invalid to address {a:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(permanent("no recipient (to is empty)".into()));
        }

        // lettre uses rustls' process-wide provider when one is installed, and the reqwest
        // channels need one: installing it here keeps every channel on the same provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = match config.tls {
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| permanent(format!("smtp {}: {e}", config.host)))?,
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| permanent(format!("smtp {}: {e}", config.host)))?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        };
        let mut builder = builder.port(config.port).timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            timeout,
            server: format!("{}:{}", config.host, config.port),
        })
    }

    pub async fn send(&self, n: &Notification, idempotency_key: &str) -> Result<(), SendError> {
        let message = self.message(n, idempotency_key)?;
        // lettre's timeout bounds each SMTP command; this bounds the whole attempt (connect,
        // greeting, TLS, auth, envelope, data), which is what the channel's timeout promises.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e, &self.server)),
            Err(_) => Err(SendError {
                retryable: true,
                message: format!("smtp {}: timed out after {:?}", self.server, self.timeout),
            }),
        }
    }

    /// The mail for `n`; public to the crate so tests and previews can look at it.
    pub(crate) fn message(
        &self,
        n: &Notification,
        idempotency_key: &str,
    ) -> Result<Message, SendError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(n))
            .date_now()
            .message_id(Some(message_id(idempotency_key, self.from.email.domain())))
            .user_agent(concat!("slamon/", env!("CARGO_PKG_VERSION")).to_string())
            .raw_header(header("X-Slamon-Fingerprint", &n.fingerprint))
            .raw_header(header("X-Slamon-Status", status_word(n.status)))
            // RFC 3834: keeps vacation responders from answering an alert.
            .raw_header(header("Auto-Submitted", "auto-generated"));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(plain_text(n), html(n)))
            .map_err(|e| SendError {
                retryable: false,
                message: format!("cannot build the mail: {e}"),
            })
    }
}

/// SMTP 4xx replies and connection trouble may clear up; 5xx replies and client-side errors
/// (no common auth mechanism, an address the server cannot take) will not.
fn classify(e: &lettre::transport::smtp::Error, server: &str) -> SendError {
    let retryable = if e.is_permanent() || e.is_client() {
        false
    } else {
        // Transient replies, timeouts, network, connection, TLS and unparsable responses.
        true
    };
    SendError {
        retryable,
        message: format!("smtp {server}: {e}"),
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// `<key@domain>`; keys with characters a Message-ID cannot hold are hex-encoded, so the
/// mapping stays one-to-one.
fn message_id(key: &str, domain: &str) -> String {
    let safe = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    let left = if safe {
        key.to_string()
    } else {
        hex::encode(key)
    };
    let domain = if domain.is_empty()
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
    {
        "slamon.invalid"
    } else {
        domain
    };
    format!("<slamon.{left}@{domain}>")
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Firing => "firing",
        Status::Resolved => "resolved",
        Status::Test => "test",
    }
}

/// `[FIRING] checkout p95 < 500ms: 812 ms (shop /api/v1/orders)`.
pub fn subject(n: &Notification) -> String {
    let tag = match n.status {
        Status::Firing => "[FIRING]",
        Status::Resolved => "[RESOLVED]",
        Status::Test => "[TEST]",
    };
    format!("{tag} {}", headline(n))
}

/// `checkout p95 < 500ms: 812 ms (shop /api/v1/orders)`: what, how bad, where.
pub fn headline(n: &Notification) -> String {
    format!(
        "{} {}: {} ({})",
        n.alertname,
        n.summary,
        describe_value(n.observed, &n.unit),
        place(n)
    )
}

/// `shop /api/v1/orders`, or `shop` for an objective on the whole monitor.
pub fn place(n: &Notification) -> String {
    match &n.endpoint {
        Some(e) => format!("{} {e}", n.monitor),
        None => n.monitor.clone(),
    }
}

/// One sentence for a person: what happened, the observed value, threshold and window.
pub fn description(n: &Notification) -> String {
    let observed = describe_value(n.observed, &n.unit);
    let threshold = describe_value(Some(n.threshold), &n.unit);
    let what = format!("{} ({})", n.alertname, n.summary);
    let facts = format!(
        "observed {observed} over the last {}, threshold {threshold}",
        n.window
    );
    match n.status {
        Status::Firing => format!("{what} is breached on {}: {facts}.", place(n)),
        Status::Resolved => format!("{what} has recovered on {}: {facts}.", place(n)),
        Status::Test => format!(
            "Test notification from slamon for {what} on {}: {facts}. No action needed.",
            place(n)
        ),
    }
}

/// A value in its unit as a person reads it: `812 ms` for seconds, `99.95%` for a ratio,
/// `12.5/s` per second; `no data` when there was nothing to measure.
pub fn describe_value(value: Option<f64>, unit: &str) -> String {
    let Some(v) = value else {
        return "no data".to_string();
    };
    if !v.is_finite() {
        return format!("{v} {unit}").trim_end().to_string();
    }
    match unit {
        "seconds" => {
            let ms = v * 1000.0;
            let decimals = if ms.abs() >= 100.0 {
                0
            } else if ms.abs() >= 10.0 {
                1
            } else {
                2
            };
            format!("{} ms", trimmed(ms, decimals))
        }
        // Four decimals of a percent tell 99.99% from 99.999%, which matters for availability.
        "ratio" => format!("{}%", trimmed(v * 100.0, 4)),
        "per_second" => format!("{}/s", trimmed(v, 2)),
        "burn_rate" => format!("{}x", trimmed(v, 1)),
        "" => trimmed(v, 3),
        other => format!("{} {other}", trimmed(v, 3)),
    }
}

/// `v` with at most `decimals` decimals and no trailing zeros.
fn trimmed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn labels_text(n: &Notification) -> String {
    if n.labels.is_empty() {
        return "-".to_string();
    }
    n.labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows both parts show, in order.
fn rows(n: &Notification) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Status", status_word(n.status).to_string()),
        ("Monitor", n.monitor.clone()),
        (
            "Endpoint",
            n.endpoint
                .clone()
                .unwrap_or_else(|| "(all endpoints)".to_string()),
        ),
        (
            "Objective",
            format!("{} ({}, {})", n.objective, n.summary, n.objective_type),
        ),
        (
            "Observed",
            format!(
                "{} (threshold {})",
                describe_value(n.observed, &n.unit),
                describe_value(Some(n.threshold), &n.unit)
            ),
        ),
        ("Window", n.window.clone()),
        ("Started", time(n.started_at)),
    ];
    if let Some(ended) = n.ended_at {
        rows.push(("Ended", time(ended)));
    }
    rows.push(("Labels", labels_text(n)));
    rows.push(("Fingerprint", n.fingerprint.clone()));
    rows
}

fn plain_text(n: &Notification) -> String {
    let mut s = format!("{}\n\n{}\n\n", subject(n), description(n));
    for (name, value) in rows(n) {
        s.push_str(&format!("{:<12} {value}\n", format!("{name}:")));
    }
    if !n.link.is_empty() {
        s.push_str(&format!("\n{}\n", n.link));
    }
    s.push_str(concat!("\n-- \nslamon ", env!("CARGO_PKG_VERSION"), "\n"));
    s
}

fn html(n: &Notification) -> String {
    let colour = match n.status {
        Status::Firing => "#c0392b",
        Status::Resolved => "#27ae60",
        Status::Test => "#7f8c8d",
    };
    let mut s = String::from("<!DOCTYPE html>\n<html>\n<body style=\"font-family: sans-serif\">\n");
    s.push_str(&format!(
        "<h2 style=\"color: {colour}\">{}</h2>\n<p>{}</p>\n<table cellpadding=\"4\">\n",
        escape(&subject(n)),
        escape(&description(n))
    ));
    for (name, value) in rows(n) {
        s.push_str(&format!(
            "<tr><th align=\"left\">{name}</th><td>{}</td></tr>\n",
            escape(&value)
        ));
    }
    s.push_str("</table>\n");
    if !n.link.is_empty() {
        let link = escape(&n.link);
        s.push_str(&format!("<p><a href=\"{link}\">{link}</a></p>\n"));
    }
    s.push_str("</body>\n</html>\n");
    s
}

/// Escapes text for HTML element content and double- or single-quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn values_read_like_a_person_writes_them() {
        assert_eq!(describe_value(Some(0.8123), "seconds"), "812 ms");
        assert_eq!(describe_value(Some(0.0123), "seconds"), "12.3 ms");
        assert_eq!(describe_value(Some(0.00125), "seconds"), "1.25 ms");
        assert_eq!(describe_value(Some(2.5), "seconds"), "2500 ms");
        assert_eq!(describe_value(Some(0.9995), "ratio"), "99.95%");
        assert_eq!(describe_value(Some(0.01), "ratio"), "1%");
        assert_eq!(describe_value(Some(1.0), "ratio"), "100%");
        assert_eq!(describe_value(Some(12.5), "per_second"), "12.5/s");
        assert_eq!(describe_value(Some(0.0), "per_second"), "0/s");
        assert_eq!(describe_value(Some(14.4), ""), "14.4");
        assert_eq!(describe_value(None, "seconds"), "no data");
    }

    #[test]
    fn html_escapes_everything() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn message_ids_are_one_to_one_with_keys() {
        assert_eq!(
            message_id("abc-1", "example.com"),
            "<slamon.abc-1@example.com>"
        );
        assert_eq!(
            message_id("a b", "example.com"),
            format!("<slamon.{}@example.com>", hex::encode("a b"))
        );
        assert_eq!(message_id("k", "[127.0.0.1]"), "<slamon.k@slamon.invalid>");
    }
}
