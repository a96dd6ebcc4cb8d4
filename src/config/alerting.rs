//! Channels, routes and maintenance windows: where notifications go, and when they wait.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderName;
use serde::de::IntoDeserializer;
use url::Url;

use super::error::FieldPath;
use super::model::{
    AlertmanagerChannel, Channel, ChannelKind, EmailChannel, Maintenance, Route, Secret, SmtpTls,
    WebhookChannel,
};
use super::parse::Doc;
use super::raw;
use super::secret;

pub fn read_channels<'i>(doc: &mut Doc<'i>) -> Vec<Arc<Channel>> {
    let root = doc.root.clone();
    let mut out: Vec<Arc<Channel>> = Vec::new();
    for (path, node) in doc.items(&root, "channels", &FieldPath::root()) {
        let Some((common, rest)) = doc.split(&node, &path, raw::CHANNEL_COMMON_KEYS) else {
            continue;
        };
        let common: Option<raw::ChannelCommon> = doc.read(&common);
        let kind = doc.read_tagged(&rest, &path, raw::ChannelKind::TAGS, |tag, rest| {
            raw::ChannelKind::from_tag(tag, rest.into_deserializer())
        });
        let (Some(common), Some(kind)) = (common, kind) else {
            continue;
        };
        let Some(kind) = channel_kind(doc, kind, &path) else {
            continue;
        };
        if out.iter().any(|c| *c.name == *common.name) {
            doc.at(
                &path.key("name"),
                format!(
                    "duplicate channel name \"{}\" (expected each channel to have its own name)",
                    common.name
                ),
            );
            continue;
        }
        out.push(Arc::new(Channel {
            name: common.name.into(),
            kind,
            timeout: common.timeout.map_or(Duration::from_secs(10), |d| d.0),
            retry_initial: common.retry_initial.map_or(Duration::from_secs(1), |d| d.0),
            retry_max: common.retry_max.map_or(Duration::from_secs(300), |d| d.0),
            give_up_after: common
                .give_up_after
                .map_or(Duration::from_secs(86400), |d| d.0),
        }));
    }
    out
}

/// Resolves references; the value is reported as "(from a reference)" in errors, never shown.
fn resolved<'i>(doc: &mut Doc<'i>, raw: &str, path: &FieldPath) -> Option<(String, bool)> {
    match secret::resolve_plain(raw) {
        Ok(v) => Some((v, secret::has_reference(raw))),
        Err(e) => {
            doc.at(path, e);
            None
        }
    }
}

fn http_url<'i>(doc: &mut Doc<'i>, raw: &str, path: &FieldPath) -> Option<Url> {
    let (value, hidden) = resolved(doc, raw, path)?;
    let shown = if hidden {
        "(from a reference)".to_string()
    } else {
        format!("\"{value}\"")
    };
    match Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            doc.at(path, format!("URL {shown} is not an http(s) URL with a host (expected e.g. \"https://hooks.example.com/slamon\")"));
            None
        }
    }
}

fn channel_kind<'i>(
    doc: &mut Doc<'i>,
    kind: raw::ChannelKind,
    path: &FieldPath,
) -> Option<ChannelKind> {
    match kind {
        raw::ChannelKind::Webhook(w) => webhook(doc, w, path).map(ChannelKind::Webhook),
        raw::ChannelKind::Alertmanager(a) => {
            let urls: Vec<Url> = a
                .urls
                .iter()
                .enumerate()
                .filter_map(|(i, u)| http_url(doc, u, &path.key("urls").index(i)))
                .collect();
            if a.urls.is_empty() {
                doc.at(
                    &path.key("urls"),
                    "no Alertmanager (expected at least one URL, e.g. \"http://127.0.0.1:9093\")"
                        .to_string(),
                );
            }
            (urls.len() == a.urls.len() && !urls.is_empty())
                .then_some(ChannelKind::Alertmanager(AlertmanagerChannel { urls }))
        }
        raw::ChannelKind::Email(e) => email(doc, e, path).map(ChannelKind::Email),
    }
}

fn webhook<'i>(
    doc: &mut Doc<'i>,
    w: raw::WebhookChannel,
    path: &FieldPath,
) -> Option<WebhookChannel> {
    let url = http_url(doc, &w.url, &path.key("url"));
    let mut headers = Vec::new();
    for (name, value) in &w.headers {
        let p = path.key("headers").key(name);
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            doc.at(
                &p,
                format!("invalid header name \"{name}\" (expected letters, digits and -)"),
            );
            continue;
        };
        if let Some((v, _)) = resolved(doc, value, &p) {
            headers.push((header, Secret::new(v)));
        }
    }
    let hmac_secret = match &w.hmac_secret {
        Some(s) => Some(Secret::new(resolved(doc, s, &path.key("hmac_secret"))?.0)),
        None => None,
    };
    let template = match (w.template, w.template_file) {
        (Some(t), None) => Some(t),
        (None, Some(file)) => match std::fs::read_to_string(&file) {
            Ok(t) => Some(t),
            Err(e) => {
                doc.at(
                    &path.key("template_file"),
                    format!("cannot read {file}: {e}"),
                );
                return None;
            }
        },
        (None, None) => None,
        (Some(_), Some(_)) => {
            doc.at(
                path,
                "both `template` and `template_file` are set (expected at most one of them)"
                    .to_string(),
            );
            return None;
        }
    };
    if let Some(t) = &template {
        if let Err(e) = minijinja::Environment::new().template_from_str(t) {
            doc.at(
                path,
                format!(
                    "invalid body template: {}",
                    e.detail().unwrap_or("syntax error")
                ),
            );
            return None;
        }
    }
    let content_type = w
        .content_type
        .unwrap_or_else(|| "application/json".to_string());
    Some(WebhookChannel {
        url: url?,
        headers,
        hmac_secret,
        template,
        content_type,
    })
}

fn email<'i>(doc: &mut Doc<'i>, e: raw::EmailChannel, path: &FieldPath) -> Option<EmailChannel> {
    let (smtp, hidden) = resolved(doc, &e.smtp, &path.key("smtp"))?;
    let shown = if hidden {
        "(from a reference)".to_string()
    } else {
        format!("\"{smtp}\"")
    };
    let expected = "(expected smtp://host:port for STARTTLS or smtps://host:port for TLS, e.g. \"smtp://127.0.0.1:2525\")";
    let Some(url) = Url::parse(&smtp)
        .ok()
        .filter(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some())
    else {
        doc.at(
            &path.key("smtp"),
            format!("SMTP server {shown} is not a valid smtp:// or smtps:// URL {expected}"),
        );
        return None;
    };
    let implicit = url.scheme() == "smtps";
    let tls = match e.tls.as_deref() {
        None => {
            if implicit {
                SmtpTls::Implicit
            } else {
                SmtpTls::StartTls
            }
        }
        Some("starttls") => SmtpTls::StartTls,
        Some("implicit") => SmtpTls::Implicit,
        Some("none") => SmtpTls::None,
        Some(other) => {
            doc.at(
                &path.key("tls"),
                format!(
                    "unknown TLS mode \"{other}\" (expected \"starttls\", \"implicit\" or \"none\")"
                ),
            );
            return None;
        }
    };
    let username = match &e.username {
        Some(u) => Some(resolved(doc, u, &path.key("username"))?.0),
        None => None,
    };
    let password = match &e.password {
        Some(p) => Some(Secret::new(resolved(doc, p, &path.key("password"))?.0)),
        None => None,
    };
    if username.is_some() != password.is_some() {
        doc.at(
            path,
            "`username` and `password` go together (expected both or neither)".to_string(),
        );
        return None;
    }
    let to: Vec<String> =
        e.to.iter()
            .enumerate()
            .filter_map(|(i, t)| address(doc, t, &path.key("to").index(i)))
            .collect();
    if e.to.is_empty() {
        doc.at(
            &path.key("to"),
            "no recipient (expected at least one address)".to_string(),
        );
    }
    let from = address(doc, &e.from, &path.key("from"));
    (to.len() == e.to.len() && !to.is_empty()).then_some(())?;
    Some(EmailChannel {
        host: url.host_str().unwrap_or_default().to_string(),
        port: url.port().unwrap_or(if implicit { 465 } else { 587 }),
        tls,
        username,
        password,
        from: from?,
        to,
    })
}

fn address<'i>(doc: &mut Doc<'i>, raw: &str, path: &FieldPath) -> Option<String> {
    let (value, _) = resolved(doc, raw, path)?;
    match value.parse::<lettre::message::Mailbox>() {
        Ok(_) => Some(value),
        Err(_) => {
            doc.at(path, format!("\"{value}\" is not an email address (expected e.g. \"oncall@example.com\" or \"On-call <oncall@example.com>\")"));
            None
        }
    }
}

pub fn read_routes<'i>(doc: &mut Doc<'i>, channels: &[Arc<Channel>]) -> Vec<Route> {
    let root = doc.root.clone();
    let mut out = Vec::new();
    let names: HashSet<&str> = channels.iter().map(|c| &*c.name).collect();
    let declared = declared_names(doc, "channels");
    for (path, node) in doc.items(&root, "routes", &FieldPath::root()) {
        let Some(r) = doc.read::<raw::Route>(&node) else {
            continue;
        };
        let mut ok = true;
        for (i, c) in r.channels.iter().enumerate() {
            if !declared.contains(c) {
                let mut all: Vec<&str> = declared.iter().map(String::as_str).collect();
                all.sort();
                doc.at(
                    &path.key("channels").index(i),
                    format!(
                        "unknown channel \"{c}\" (expected one of: {})",
                        all.join(", ")
                    ),
                );
                ok = false;
            }
            ok &= names.contains(c.as_str());
        }
        if ok {
            out.push(Route {
                matchers: r.matchers,
                channels: r.channels.iter().map(|c| Arc::from(c.as_str())).collect(),
            });
        }
    }
    out
}

pub fn read_maintenance<'i>(doc: &mut Doc<'i>, monitors: &HashSet<String>) -> Vec<Maintenance> {
    let root = doc.root.clone();
    let mut out = Vec::new();
    for (path, node) in doc.items(&root, "maintenance", &FieldPath::root()) {
        let Some(m) = doc.read::<raw::Maintenance>(&node) else {
            continue;
        };
        let mut ok = true;
        if let Err(e) = crate::schedule::parse_cron(&m.cron) {
            doc.at(&path.key("cron"), format!("invalid cron expression \"{}\": {e} (expected six fields with seconds, e.g. \"0 0 2 * * *\")", m.cron));
            ok = false;
        }
        for (i, name) in m.monitors.iter().enumerate() {
            if !monitors.contains(name) {
                doc.at(
                    &path.key("monitors").index(i),
                    format!("unknown monitor \"{name}\""),
                );
                ok = false;
            }
        }
        if ok {
            out.push(Maintenance {
                name: m.name.into(),
                cron: m.cron,
                duration: m.duration.0,
                monitors: m.monitors.iter().map(|n| Arc::from(n.as_str())).collect(),
            });
        }
    }
    out
}

/// The `name` of every item of the top-level array `key`, valid or not.
pub fn declared_names(doc: &Doc<'_>, key: &str) -> HashSet<String> {
    doc.root
        .get_ref()
        .get(key)
        .and_then(|a| a.get_ref().as_array())
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    i.get_ref()
                        .get("name")
                        .and_then(|n| n.get_ref().as_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}
