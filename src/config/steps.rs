//! Steps: one request each, with its templates, checks and extractions.
//!
//! A [`Scope`] follows the variables a step can use: the monitor's `variables`, what setup steps
//! extracted, and what earlier steps of the same task extracted. A template naming anything else
//! is a config error, caught here rather than at 3 a.m. on the first run.

use std::collections::HashSet;

use reqwest::Method;
use reqwest::header::HeaderName;
use serde_json_path::JsonPath;

use serde::de::IntoDeserializer;

use super::error::FieldPath;
use super::model::{Body, Check, Extract, Step};
use super::parse::{Doc, Node};
use super::raw;
use super::secret;
use super::validate::{headers, toml_to_json};
use crate::template::{TemplateBuilder, Text};

/// The variables in scope at a step.
#[derive(Clone, Debug)]
pub struct Scope {
    vars: HashSet<String>,
    /// False when the enclosing monitor is broken: its variables are unknown, so only syntax is
    /// checked, to avoid reporting phantom "unknown variable" problems.
    strict: bool,
}

impl Scope {
    pub fn new(vars: impl IntoIterator<Item = String>, strict: bool) -> Self {
        Scope {
            vars: vars.into_iter().collect(),
            strict,
        }
    }

    fn known(&self) -> Option<&HashSet<String>> {
        self.strict.then_some(&self.vars)
    }

    /// Resolves secret references in `raw` and compiles it; a problem is recorded at `path`.
    pub fn text<'i>(
        &self,
        doc: &mut Doc<'i>,
        raw: &str,
        path: &FieldPath,
        t: &mut TemplateBuilder,
    ) -> Option<Text> {
        let source = match secret::resolve_templated(raw, t) {
            Ok(s) => s,
            Err(e) => {
                doc.at(path, e);
                return None;
            }
        };
        t.text(source, self.known())
            .map_err(|e| doc.at(path, e))
            .ok()
    }

    fn value_text<'i>(
        &self,
        doc: &mut Doc<'i>,
        v: &toml::Value,
        path: &FieldPath,
        t: &mut TemplateBuilder,
    ) -> Option<Text> {
        match v {
            toml::Value::String(s) => self.text(doc, s, path, t),
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                Some(Text::Static(v.to_string()))
            }
            _ => {
                doc.at(path, "expected a string, number or boolean".to_string());
                None
            }
        }
    }
}

pub fn read_step<'i>(
    doc: &mut Doc<'i>,
    node: &Node<'i>,
    path: &FieldPath,
    scope: &mut Scope,
    t: &mut TemplateBuilder,
) -> Option<Step> {
    let raw: Option<raw::Step> = doc.read(node);
    let checks: Vec<Check> = doc
        .items(node, "checks", path)
        .into_iter()
        .filter_map(|(p, n)| {
            let c = doc.read_tagged(&n, &p, raw::Check::TAGS, |tag, rest| {
                raw::Check::from_tag(tag, rest.into_deserializer())
            })?;
            check(doc, c, &p)
        })
        .collect();
    let extract: Vec<Extract> = doc
        .items(node, "extract", path)
        .into_iter()
        .filter_map(|(p, n)| {
            let e = doc.read_tagged(&n, &p, raw::Extract::TAGS, |tag, rest| {
                raw::Extract::from_tag(tag, rest.into_deserializer())
            })?;
            extraction(doc, e, &p)
        })
        .collect();
    let raw = raw?;
    let method = method(doc, raw.method.as_deref(), &path.key("method"));
    let step_path = scope.text(doc, &raw.path, &path.key("path"), t);
    let query = raw
        .query
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.clone(),
                scope.value_text(doc, v, &path.key("query").key(k), t)?,
            ))
        })
        .collect();
    let req_headers = headers(doc, &raw.headers, &path.key("headers"), scope, t);
    let body = body(doc, &raw, path, scope, t);
    // What this step extracts is in scope for its `set_headers` and for every later step; a
    // broken extraction still declares its variable, so its mistake is reported once, not again
    // at every use.
    for (_, n) in doc.items(node, "extract", path) {
        if let Some(var) = n.get_ref().get("var").and_then(|v| v.get_ref().as_str()) {
            scope.vars.insert(var.to_string());
        }
    }
    let set_headers = headers(doc, &raw.set_headers, &path.key("set_headers"), scope, t);
    Some(Step {
        endpoint: raw.name.unwrap_or_else(|| raw.path.clone()).into(),
        method: method?,
        path: step_path?,
        query,
        headers: req_headers,
        body: body?,
        checks,
        extract,
        set_headers,
    })
}

fn method<'i>(doc: &mut Doc<'i>, raw: Option<&str>, path: &FieldPath) -> Option<Method> {
    const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let m = raw.unwrap_or("GET");
    if METHODS.contains(&m) {
        return Method::from_bytes(m.as_bytes()).ok();
    }
    doc.at(
        path,
        format!(
            "unknown method \"{m}\" (expected one of {})",
            METHODS.join(", ")
        ),
    );
    None
}

fn body<'i>(
    doc: &mut Doc<'i>,
    raw: &raw::Step,
    path: &FieldPath,
    scope: &Scope,
    t: &mut TemplateBuilder,
) -> Option<Body> {
    match (&raw.json, &raw.form, &raw.body) {
        (None, None, None) => Some(Body::None),
        (Some(json), None, None) => {
            let value = resolve_json_refs(doc, toml_to_json(json), &path.key("json"), t)?;
            t.json(value, scope.known())
                .map(Body::Json)
                .map_err(|e| doc.at(&path.key("json"), e))
                .ok()
        }
        (None, Some(form), None) => {
            let fields = form
                .iter()
                .map(|(k, v)| {
                    Some((
                        k.clone(),
                        scope.value_text(doc, v, &path.key("form").key(k), t)?,
                    ))
                })
                .collect::<Vec<_>>();
            fields
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(Body::Form)
        }
        (None, None, Some(text)) => scope.text(doc, text, &path.key("body"), t).map(Body::Raw),
        _ => {
            doc.at(
                path,
                "more than one body (expected at most one of `json`, `form`, `body`)".to_string(),
            );
            None
        }
    }
}

/// Secret references inside a JSON body become template placeholders, like everywhere else.
fn resolve_json_refs<'i>(
    doc: &mut Doc<'i>,
    v: serde_json::Value,
    path: &FieldPath,
    t: &mut TemplateBuilder,
) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        J::String(s) if secret::has_reference(&s) => match secret::resolve_templated(&s, t) {
            Ok(s) => J::String(s),
            Err(e) => {
                doc.at(path, e);
                return None;
            }
        },
        J::Array(items) => J::Array(
            items
                .into_iter()
                .map(|i| resolve_json_refs(doc, i, path, t))
                .collect::<Option<_>>()?,
        ),
        J::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let p = path.key(&k);
                out.insert(k, resolve_json_refs(doc, v, &p, t)?);
            }
            J::Object(out)
        }
        other => other,
    })
}

fn json_path<'i>(doc: &mut Doc<'i>, source: &str, path: &FieldPath) -> Option<JsonPath> {
    JsonPath::parse(source)
        .map_err(|e| {
            doc.at(
                path,
                format!("invalid JSONPath \"{source}\": {e} (expected e.g. \"$.order_id\")"),
            )
        })
        .ok()
}

fn check<'i>(doc: &mut Doc<'i>, c: raw::Check, path: &FieldPath) -> Option<Check> {
    Some(match c {
        raw::Check::Status(s) => {
            if let Some(bad) = s.codes.iter().find(|c| !(100..=599).contains(*c)) {
                doc.at(
                    &path.key("in"),
                    format!("{bad} is not an HTTP status (expected statuses from 100 to 599)"),
                );
                return None;
            }
            if s.codes.is_empty() {
                doc.at(
                    &path.key("in"),
                    "empty list (expected at least one HTTP status)".to_string(),
                );
                return None;
            }
            Check::Status(s.codes)
        }
        raw::Check::JsonPath(j) => {
            let jp = json_path(doc, &j.path, &path.key("path"))?;
            match j.equals {
                Some(v) => Check::JsonPathEquals {
                    path: jp,
                    source: j.path,
                    value: toml_to_json(&v),
                },
                None => Check::JsonPathExists {
                    path: jp,
                    source: j.path,
                },
            }
        }
        raw::Check::BodyContains(b) => Check::BodyContains(b.text),
        raw::Check::Latency(l) => Check::LatencyBelow(l.below.0),
    })
}

fn extraction<'i>(doc: &mut Doc<'i>, e: raw::Extract, path: &FieldPath) -> Option<Extract> {
    let var_ok = |v: &str| {
        !v.is_empty()
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !v.starts_with(|c: char| c.is_ascii_digit())
    };
    let var = match &e {
        raw::Extract::JsonPath(j) => &j.var,
        raw::Extract::Header(h) => &h.var,
        raw::Extract::Regex(r) => &r.var,
    };
    if !var_ok(var) {
        doc.at(
            &path.key("var"),
            format!("invalid variable name \"{var}\" (expected letters, digits and _)"),
        );
        return None;
    }
    Some(match e {
        raw::Extract::JsonPath(j) => Extract::JsonPath {
            path: json_path(doc, &j.path, &path.key("path"))?,
            var: j.var,
            source: j.path,
        },
        raw::Extract::Header(h) => match HeaderName::from_bytes(h.name.as_bytes()) {
            Ok(name) => Extract::Header { var: h.var, name },
            Err(_) => {
                doc.at(
                    &path.key("name"),
                    format!("invalid header name \"{}\"", h.name),
                );
                return None;
            }
        },
        raw::Extract::Regex(r) => {
            let regex = regex::Regex::new(&r.pattern)
                .map_err(|e| {
                    doc.at(
                        &path.key("pattern"),
                        format!("invalid regex: {}", one_line(&e.to_string())),
                    )
                })
                .ok()?;
            let group = r
                .group
                .unwrap_or(if regex.captures_len() > 1 { 1 } else { 0 });
            if group >= regex.captures_len() {
                doc.at(
                    &path.key("group"),
                    format!(
                        "group {group} does not exist (expected 0 to {})",
                        regex.captures_len() - 1
                    ),
                );
                return None;
            }
            Extract::Regex {
                var: r.var,
                regex,
                group,
            }
        }
    })
}

/// The regex crate explains an error over several lines with a caret; a config problem is one
/// line, so keep its last line, which says what is wrong.
fn one_line(message: &str) -> String {
    message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(message)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}
