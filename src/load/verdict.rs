//! Judges an exchange: the step's checks, then its extractions, into one outcome.
//!
//! An unexpected status is `http_status`: it tells a server error from a wrong answer at a
//! glance. Every other failed check, and an extraction that finds nothing, is `check_failed`,
//! with a message for logs and the CLI (never a label).

use std::time::Duration;

use minijinja::Value;

use super::client::Exchange;
use crate::config::model::{Check, Extract, Step};
use crate::sample::Outcome;

/// The outcome of a step and the variables it extracted.
pub struct Verdict {
    pub outcome: Outcome,
    pub message: Option<String>,
    pub extracted: Vec<(String, Value)>,
}

pub fn judge(step: &Step, ex: &Exchange, latency: Duration) -> Verdict {
    let fail = |outcome, message: String| Verdict {
        outcome,
        message: Some(message),
        extracted: Vec::new(),
    };
    if ex.outcome != Outcome::Ok {
        return Verdict {
            outcome: ex.outcome,
            message: ex.message.clone(),
            extracted: Vec::new(),
        };
    }
    let Some(status) = ex.status.map(|s| s.as_u16()) else {
        return fail(Outcome::Protocol, "no status".to_string());
    };
    let accepted = step.checks.iter().find_map(|c| match c {
        Check::Status(codes) => Some(codes.contains(&status)),
        _ => None,
    });
    if !accepted.unwrap_or(status < 400) {
        return fail(Outcome::HttpStatus, format!("unexpected status {status}"));
    }
    let mut json: Option<Option<serde_json::Value>> = None;
    let mut json = || {
        json.get_or_insert_with(|| serde_json::from_slice(&ex.body).ok())
            .clone()
    };
    for check in &step.checks {
        if let Some(message) = failed_check(check, ex, latency, &mut json) {
            return fail(Outcome::CheckFailed, message);
        }
    }
    let mut extracted = Vec::with_capacity(step.extract.len());
    for e in &step.extract {
        match extract(e, ex, &mut json) {
            Some(v) => extracted.push((e.var().to_string(), v)),
            None => {
                return fail(
                    Outcome::CheckFailed,
                    format!("could not extract `{}`: {}", e.var(), describe_extract(e)),
                );
            }
        }
    }
    Verdict {
        outcome: Outcome::Ok,
        message: None,
        extracted,
    }
}

fn failed_check(
    check: &Check,
    ex: &Exchange,
    latency: Duration,
    json: &mut impl FnMut() -> Option<serde_json::Value>,
) -> Option<String> {
    match check {
        Check::Status(_) => None,
        Check::JsonPathExists { path, source } => match json() {
            None => Some(format!("body is not JSON, so {source} cannot exist")),
            Some(v) => path
                .query(&v)
                .is_empty()
                .then(|| format!("{source} is missing from the body")),
        },
        Check::JsonPathEquals {
            path,
            source,
            value,
        } => match json() {
            None => Some(format!(
                "body is not JSON, so {source} cannot equal {value}"
            )),
            Some(v) => match path.query(&v).first() {
                Some(found) if *found == *value => None,
                Some(found) => Some(format!("{source} is {found}, expected {value}")),
                None => Some(format!(
                    "{source} is missing from the body, expected {value}"
                )),
            },
        },
        Check::BodyContains(text) => {
            let found = std::str::from_utf8(&ex.body).is_ok_and(|b| b.contains(text.as_str()));
            (!found).then(|| format!("body does not contain {text:?}"))
        }
        Check::LatencyBelow(bound) => (latency >= *bound).then(|| {
            format!(
                "took {} ms, bound is {} ms",
                latency.as_millis(),
                bound.as_millis()
            )
        }),
    }
}

fn extract(
    e: &Extract,
    ex: &Exchange,
    json: &mut impl FnMut() -> Option<serde_json::Value>,
) -> Option<Value> {
    match e {
        Extract::JsonPath { path, .. } => {
            let v = json()?;
            path.query(&v)
                .first()
                .map(|found| Value::from(minijinja::value::Serde(found)))
        }
        Extract::Header { name, .. } => ex.headers.get(name)?.to_str().ok().map(Value::from),
        Extract::Regex { regex, group, .. } => {
            let body = std::str::from_utf8(&ex.body).ok()?;
            regex
                .captures(body)?
                .get(*group)
                .map(|m| Value::from(m.as_str()))
        }
    }
}

fn describe_extract(e: &Extract) -> String {
    match e {
        Extract::JsonPath { source, .. } => format!("{source} matched nothing"),
        Extract::Header { name, .. } => format!("no header {name}"),
        Extract::Regex { regex, .. } => format!("pattern {} did not match", regex.as_str()),
    }
}
