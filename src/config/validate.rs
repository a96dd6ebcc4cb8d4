//! Turns the document into the checked [`model`](super::model), item by item.
//!
//! Every problem is recorded in the [`Doc`] with its field path and parsing goes on, so one run
//! of `slamon check` lists them all. A broken item is left out of the result; the caller only
//! uses the result when no problem was found.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderName;
use url::Url;

use serde::de::IntoDeserializer;

use super::error::FieldPath;
use super::model::{self, LoadModel, Monitor, Schedule, Task};
use super::parse::{Doc, Node};
use super::raw;
use super::secret;
use super::steps::{Scope, read_step};
use crate::template::{TemplateBuilder, Text};

/// What the top level of the file may hold.
const ROOT_KEYS: &[&str] = &[
    "server",
    "monitors",
    "objectives",
    "channels",
    "routes",
    "maintenance",
];

/// Reads the whole document; the parts that were valid, and the problems in `doc`.
pub fn build<'i>(
    doc: &mut Doc<'i>,
    templates: &mut TemplateBuilder,
) -> (model::Server, Vec<Arc<Monitor>>) {
    let root = doc.root.clone();
    if let Some(table) = root.get_ref().as_table() {
        for (key, _) in table.iter() {
            if !ROOT_KEYS.contains(&key.get_ref().as_ref()) {
                let expected = ROOT_KEYS
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                doc.at_span(
                    key.span(),
                    &FieldPath::root().key(key.get_ref()),
                    format!(
                        "unknown field `{}` (expected one of {expected})",
                        key.get_ref()
                    ),
                );
            }
        }
    }
    let server = read_server(doc, &root);
    let mut monitors: Vec<Arc<Monitor>> = Vec::new();
    let mut names = HashSet::new();
    for (path, node) in doc.items(&root, "monitors", &FieldPath::root()) {
        if let Some(m) = read_monitor(doc, &node, &path, templates) {
            if !names.insert(m.name.clone()) {
                doc.at(&path.key("name"), format!("duplicate monitor name \"{}\" (expected each monitor to have its own name)", m.name));
            }
            monitors.push(Arc::new(m));
        }
    }
    if root.get_ref().get("monitors").is_none() {
        doc.at(
            &FieldPath::root(),
            "no monitors (expected at least one [[monitors]] table)".to_string(),
        );
    }
    (server, monitors)
}

fn read_server<'i>(doc: &mut Doc<'i>, root: &Node<'i>) -> model::Server {
    let path = FieldPath::root().key("server");
    let raw: raw::Server = match root.get_ref().get("server") {
        Some(node) => doc.read(node).unwrap_or_default(),
        None => raw::Server::default(),
    };
    let listen = raw.listen.as_deref().unwrap_or(model::DEFAULT_LISTEN);
    let listen = match listen.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            doc.at(
                &path.key("listen"),
                format!("invalid address \"{listen}\" (expected IP:PORT, e.g. \"127.0.0.1:9464\")"),
            );
            model::DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9464)))
        }
    };
    let windows = match raw.windows {
        Some(ws) => ws.into_iter().map(|d| d.0).collect(),
        None => model::DEFAULT_WINDOWS.to_vec(),
    };
    for (i, w) in windows.iter().enumerate() {
        check_window(doc, &path.key("windows").index(i), *w);
    }
    let evaluate_every = raw.evaluate_every.map_or(Duration::from_secs(10), |d| d.0);
    if evaluate_every < Duration::from_secs(1) {
        doc.at(
            &path.key("evaluate_every"),
            "below 1s (expected e.g. \"10s\")".to_string(),
        );
    }
    model::Server {
        external_url: raw
            .external_url
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_string(),
        state_dir: raw.state_dir.map_or_else(
            || std::path::PathBuf::from(model::DEFAULT_STATE_DIR),
            std::path::PathBuf::from,
        ),
        evaluate_every,
        listen,
        windows,
        shutdown_grace: raw.shutdown_grace.map_or(Duration::from_secs(30), |d| d.0),
        save_every: raw
            .save_every
            .map_or(Duration::from_secs(10), |d| d.0)
            .max(Duration::from_secs(1)),
        history_retention: raw
            .history_retention
            .map_or(Duration::from_secs(30 * 86400), |d| d.0),
        limits: raw.limits.unwrap_or_default().resolve(),
        auth_token: match &raw.auth_token {
            Some(t) => match super::secret::resolve_plain(t) {
                Ok(v) if !v.is_empty() => Some(model::Secret::new(v)),
                Ok(_) => {
                    doc.at(&path.key("auth_token"), "empty token (expected a secret reference, e.g. \"${env:SLAMON_AUTH_TOKEN}\")".to_string());
                    None
                }
                Err(e) => {
                    doc.at(&path.key("auth_token"), e);
                    None
                }
            },
            None => None,
        },
    }
}

/// A window must hold at least a second per bucket and no more than a year.
pub fn check_window<'i>(doc: &mut Doc<'i>, path: &FieldPath, w: Duration) {
    if w < Duration::from_secs(10) || w > Duration::from_secs(366 * 86400) {
        doc.at(
            path,
            format!(
                "window \"{}\" is out of range (expected from 10s to 366d)",
                crate::export::window_label(w)
            ),
        );
    }
}

fn read_monitor<'i>(
    doc: &mut Doc<'i>,
    node: &Node<'i>,
    path: &FieldPath,
    templates: &mut TemplateBuilder,
) -> Option<Monitor> {
    let raw: Option<raw::Monitor> = doc.read(node);
    let load = node.get_ref().get("load").and_then(|n| {
        doc.read_tagged(n, &path.key("load"), raw::Load::TAGS, |tag, rest| {
            raw::Load::from_tag(tag, rest.into_deserializer())
        })
    });
    let variables = raw
        .as_ref()
        .map(|r| variables(doc, &r.variables, &path.key("variables")))
        .unwrap_or_default();
    // With the monitor's own fields broken, its variables are unknown: check the steps' syntax only.
    let strict = raw.is_some();
    let mut scope = Scope::new(variables.keys().cloned(), strict);
    let setup: Vec<model::Step> = doc
        .items(node, "setup", path)
        .into_iter()
        .filter_map(|(p, n)| read_step(doc, &n, &p, &mut scope, templates))
        .collect();
    let tasks = read_tasks(doc, node, path, &scope, templates);
    let raw = raw?;
    check_values(doc, &raw, path);
    let name = required(doc, node, raw.name, path, "name", "a monitor name");
    let url = required(
        doc,
        node,
        raw.base_url,
        path,
        "base_url",
        "the URL requests are relative to",
    );
    let duration = required(
        doc,
        node,
        raw.duration,
        path,
        "duration",
        "how long each run lasts, e.g. \"1m\"",
    );
    let sched = required(
        doc,
        node,
        raw.schedule,
        path,
        "schedule",
        "{ every = \"5m\" } or { cron = \"...\" }",
    );
    if node.get_ref().get("load").is_none() {
        doc.at(
            path,
            "missing field `load` (expected e.g. { type = \"closed\", users = 2 })".to_string(),
        );
    }
    if node.get_ref().get("tasks").is_none() {
        doc.at(
            path,
            "missing field `tasks` (expected at least one [[monitors.tasks]])".to_string(),
        );
    }
    let base_url = url.and_then(|u| base_url(doc, &u, &path.key("base_url")));
    let schedule = sched.and_then(|s| schedule(doc, &s, &path.key("schedule")));
    let load = load.and_then(|l| load_model(doc, l, &path.key("load")));
    let headers = headers(
        doc,
        &raw.headers,
        &path.key("headers"),
        &Scope::new(variables.keys().cloned(), true),
        templates,
    );
    let m = Monitor {
        base_url: base_url?,
        headers,
        timeout: raw.timeout.map_or(model::DEFAULT_TIMEOUT, |d| d.0),
        tls_verify: raw.tls_verify.unwrap_or(true),
        max_body_bytes: raw.max_body_bytes.unwrap_or(model::DEFAULT_MAX_BODY_BYTES),
        duration: duration?.0,
        schedule: schedule?,
        load: load?,
        name: name?.as_str().into(),
        variables,
        setup,
        tasks: tasks?,
    };
    Some(m)
}

/// A field the raw struct leaves optional so that a bad value in it does not hide the other
/// fields' problems. Absent is reported here; present but bad was reported when it was read.
fn required<'i, T>(
    doc: &mut Doc<'i>,
    node: &Node<'i>,
    v: Option<T>,
    path: &FieldPath,
    key: &str,
    expected: &str,
) -> Option<T> {
    if v.is_none() && node.get_ref().get(key).is_none() {
        doc.at(path, format!("missing field `{key}` (expected {expected})"));
    }
    v
}

/// Values that parse but make no sense; checked on the raw fields, so they are reported even
/// when another field of the monitor is broken.
fn check_values<'i>(doc: &mut Doc<'i>, m: &raw::Monitor, path: &FieldPath) {
    let zero = |d: &Option<super::values::Dur>| d.is_some_and(|d| d.0.is_zero());
    if m.name.as_deref() == Some("") {
        doc.at(
            &path.key("name"),
            "empty name (expected a non-empty monitor name)".to_string(),
        );
    }
    if zero(&m.duration) {
        doc.at(
            &path.key("duration"),
            "zero duration (expected how long each run lasts, e.g. \"1m\")".to_string(),
        );
    }
    if zero(&m.timeout) {
        doc.at(
            &path.key("timeout"),
            "zero timeout (expected e.g. \"10s\")".to_string(),
        );
    }
    if m.max_body_bytes == Some(0) {
        doc.at(
            &path.key("max_body_bytes"),
            "zero body cap (expected a size in bytes, e.g. 10485760)".to_string(),
        );
    }
    if m.schedule.as_ref().is_some_and(|s| zero(&s.every)) {
        doc.at(
            &path.key("schedule").key("every"),
            "zero interval (expected e.g. \"5m\")".to_string(),
        );
    }
}

fn read_tasks<'i>(
    doc: &mut Doc<'i>,
    node: &Node<'i>,
    path: &FieldPath,
    scope: &Scope,
    templates: &mut TemplateBuilder,
) -> Option<Vec<Task>> {
    let items = doc.items(node, "tasks", path);
    if items.is_empty() && node.get_ref().get("tasks").is_some() {
        doc.at(
            &path.key("tasks"),
            "no tasks (expected at least one [[monitors.tasks]])".to_string(),
        );
    }
    let mut tasks = Vec::new();
    for (i, (tpath, tnode)) in items.into_iter().enumerate() {
        let raw: Option<raw::Task> = doc.read(&tnode);
        let mut task_scope = scope.clone();
        let steps: Vec<model::Step> = doc
            .items(&tnode, "steps", &tpath)
            .into_iter()
            .filter_map(|(p, n)| read_step(doc, &n, &p, &mut task_scope, templates))
            .collect();
        let Some(raw) = raw else { continue };
        if tnode
            .get_ref()
            .get("steps")
            .and_then(|s| s.get_ref().as_array())
            .is_some_and(|a| a.is_empty())
        {
            doc.at(
                &tpath.key("steps"),
                "no steps (expected at least one step)".to_string(),
            );
        }
        let weight = raw.weight.unwrap_or(1);
        if weight == 0 {
            doc.at(
                &tpath.key("weight"),
                "zero weight (expected 1 or more)".to_string(),
            );
        }
        tasks.push(Task {
            name: raw.name.unwrap_or_else(|| format!("task {i}")),
            weight,
            steps,
        });
    }
    Some(tasks)
}

fn base_url<'i>(doc: &mut Doc<'i>, raw: &str, path: &FieldPath) -> Option<Url> {
    let secret = secret::has_reference(raw);
    let resolved = match secret::resolve_plain(raw) {
        Ok(s) => s,
        Err(e) => {
            doc.at(path, e);
            return None;
        }
    };
    let shown = if secret {
        "(from a reference)".to_string()
    } else {
        format!("\"{raw}\"")
    };
    match Url::parse(&resolved) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(_) => {
            doc.at(path, format!("URL {shown} is not an http(s) URL with a host (expected e.g. \"https://api.example.com\")"));
            None
        }
        Err(e) => {
            doc.at(
                path,
                format!("invalid URL {shown}: {e} (expected e.g. \"https://api.example.com\")"),
            );
            None
        }
    }
}

/// Header names and templated values, in file order.
pub fn headers(
    doc: &mut Doc<'_>,
    raw: &BTreeMap<String, String>,
    path: &FieldPath,
    scope: &Scope,
    templates: &mut TemplateBuilder,
) -> Vec<(HeaderName, Text)> {
    let mut out = Vec::new();
    for (name, value) in raw {
        let p = path.key(name);
        let header = match HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) => h,
            Err(_) => {
                doc.at(
                    &p,
                    format!("invalid header name \"{name}\" (expected letters, digits and -)"),
                );
                continue;
            }
        };
        if let Some(text) = scope.text(doc, value, &p, templates) {
            out.push((header, text));
        }
    }
    out
}

fn schedule<'i>(doc: &mut Doc<'i>, raw: &raw::Schedule, path: &FieldPath) -> Option<Schedule> {
    let jitter = raw.jitter.map_or(Duration::ZERO, |d| d.0);
    match (&raw.every, &raw.cron) {
        (Some(every), None) => Some(Schedule::Every {
            interval: every.0,
            jitter,
        }),
        (None, Some(expr)) => match crate::schedule::parse_cron(expr) {
            Ok(()) => Some(Schedule::Cron {
                expr: expr.clone(),
                jitter,
            }),
            Err(e) => {
                doc.at(&path.key("cron"), format!("invalid cron expression \"{expr}\": {e} (expected six fields with seconds, e.g. \"0 */5 * * * *\")"));
                None
            }
        },
        (Some(_), Some(_)) => {
            doc.at(
                path,
                "both `every` and `cron` are set (expected exactly one of them)".to_string(),
            );
            None
        }
        (None, None) => {
            doc.at(
                path,
                "neither `every` nor `cron` is set (expected exactly one of them)".to_string(),
            );
            None
        }
    }
}

fn load_model<'i>(doc: &mut Doc<'i>, raw: raw::Load, path: &FieldPath) -> Option<LoadModel> {
    match raw {
        raw::Load::Closed(c) => {
            let wait = c.wait.unwrap_or(super::values::WaitRange {
                min: Duration::from_secs(1),
                max: Duration::from_secs(1),
            });
            // Without a spawn rate every user starts within the first second.
            let spawn_rate = c.spawn_rate.unwrap_or(f64::from(c.users.max(1)));
            if c.users == 0 {
                doc.at(
                    &path.key("users"),
                    "zero users (expected 1 or more)".to_string(),
                );
            }
            if !(spawn_rate.is_finite() && spawn_rate > 0.0) {
                doc.at(&path.key("spawn_rate"), format!("spawn rate {spawn_rate} is not positive (expected users started per second, e.g. 1.0)"));
                return None;
            }
            Some(LoadModel::Closed {
                users: c.users,
                spawn_rate,
                wait_min: wait.min,
                wait_max: wait.max,
            })
        }
        raw::Load::Open(o) => {
            let max_in_flight = o.max_in_flight.unwrap_or(100);
            if max_in_flight == 0 {
                doc.at(
                    &path.key("max_in_flight"),
                    "zero (expected 1 or more iterations in flight)".to_string(),
                );
            }
            Some(LoadModel::Open {
                rate: o.rate.0,
                max_in_flight,
            })
        }
    }
}

/// Monitor variables as JSON; a string may be a secret reference, resolved here.
fn variables<'i>(
    doc: &mut Doc<'i>,
    vars: &BTreeMap<String, toml::Value>,
    path: &FieldPath,
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for (k, v) in vars {
        let value = match v {
            toml::Value::String(s) if secret::has_reference(s) => match secret::resolve_plain(s) {
                Ok(s) => serde_json::Value::String(s),
                Err(e) => {
                    doc.at(&path.key(k), e);
                    continue;
                }
            },
            other => toml_to_json(other),
        };
        out.insert(k.clone(), value);
    }
    out
}

/// TOML and JSON share their data model but for datetimes, which become strings.
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
