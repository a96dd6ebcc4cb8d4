//! Objectives: what "good" means for a monitor or one of its endpoints, over a window.

use std::collections::HashSet;
use std::sync::Arc;

use serde::de::IntoDeserializer;

use toml::de::DeTable;

use super::error::FieldPath;
use super::model::{Monitor, Objective, ObjectiveKind};
use super::parse::Doc;
use super::raw;
use super::validate::check_window;

/// Reads `[[objectives]]`. `monitors` are the valid monitors; `named` every monitor name in the
/// file, valid or not, so an objective is not blamed for its monitor's own problem.
pub fn read_objectives<'i>(
    doc: &mut Doc<'i>,
    monitors: &[Arc<Monitor>],
    named: &HashSet<String>,
) -> Vec<Objective> {
    let root = doc.root.clone();
    let mut out: Vec<Objective> = Vec::new();
    let items = doc.items(&root, "objectives", &FieldPath::root());
    // Names straight from the file, so a duplicate is found even when one copy is broken.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut duplicates = Vec::new();
    for (path, node) in &items {
        if let Some(name) = node
            .get_ref()
            .get("name")
            .and_then(|n| n.get_ref().as_str())
        {
            if !seen.insert(name) {
                duplicates.push((path.key("name"), format!("duplicate objective name \"{name}\" (expected each objective to have its own name)")));
            }
        }
    }
    for (path, message) in duplicates {
        doc.at(&path, message);
    }
    for (path, node) in items {
        let Some(table) = node.get_ref().as_table() else {
            doc.at(&path, "expected a table".to_string());
            continue;
        };
        let (mut common, mut rest) = (DeTable::new(), DeTable::new());
        for (k, v) in table.iter() {
            let part = if raw::OBJECTIVE_COMMON_KEYS.contains(&k.get_ref().as_ref()) {
                &mut common
            } else {
                &mut rest
            };
            part.insert(k.clone(), v.clone());
        }
        let span = node.span();
        let common: Option<raw::ObjectiveCommon> = doc.read(&toml::Spanned::new(
            span.clone(),
            toml::de::DeValue::Table(common),
        ));
        let rest = toml::Spanned::new(span, toml::de::DeValue::Table(rest));
        let kind = doc.read_tagged(&rest, &path, raw::ObjectiveKind::TAGS, |tag, rest| {
            raw::ObjectiveKind::from_tag(tag, rest.into_deserializer())
        });
        let (Some(common), Some(kind)) = (common, kind) else {
            continue;
        };
        let Some(kind) = objective_kind(doc, kind, &path) else {
            continue;
        };
        check_window(doc, &path.key("window"), common.window.0);
        if !references_ok(doc, &common, monitors, named, &path) {
            continue;
        }
        out.push(Objective {
            name: common.name.into(),
            monitor: common.monitor.into(),
            endpoint: common.endpoint.map(Into::into),
            window: common.window.0,
            kind,
        });
    }
    out
}

fn references_ok<'i>(
    doc: &mut Doc<'i>,
    o: &raw::ObjectiveCommon,
    monitors: &[Arc<Monitor>],
    named: &HashSet<String>,
    path: &FieldPath,
) -> bool {
    if o.name.is_empty() {
        doc.at(
            &path.key("name"),
            "empty name (expected a non-empty objective name)".to_string(),
        );
        return false;
    }
    if !named.contains(&o.monitor) {
        let mut names: Vec<&str> = named.iter().map(String::as_str).collect();
        names.sort();
        doc.at(
            &path.key("monitor"),
            format!(
                "unknown monitor \"{}\" (expected one of: {})",
                o.monitor,
                names.join(", ")
            ),
        );
        return false;
    }
    if let Some(endpoint) = &o.endpoint {
        // Endpoints as written in the file: a step with a problem of its own still declares its
        // endpoint, so the objective is not blamed for the step's mistake.
        let declared = declared_endpoints(doc, &o.monitor);
        if !declared.contains(endpoint) {
            doc.at(
                &path.key("endpoint"),
                format!(
                    "monitor \"{}\" has no endpoint \"{endpoint}\" (expected one of: {})",
                    o.monitor,
                    declared.join(", ")
                ),
            );
            return false;
        }
    }
    monitors.iter().any(|m| *m.name == *o.monitor)
}

/// The endpoint names a monitor's steps declare in the document: `name`, or else `path`.
fn declared_endpoints(doc: &Doc<'_>, monitor: &str) -> Vec<String> {
    let root = doc.root.get_ref();
    let Some(m) = root
        .get("monitors")
        .and_then(|ms| ms.get_ref().as_array())
        .and_then(|ms| {
            ms.iter().find(|m| {
                m.get_ref().get("name").and_then(|n| n.get_ref().as_str()) == Some(monitor)
            })
        })
    else {
        return Vec::new();
    };
    let m = m.get_ref();
    let setup = m
        .get("setup")
        .and_then(|s| s.get_ref().as_array())
        .into_iter()
        .flat_map(|a| a.iter());
    let task_steps = m
        .get("tasks")
        .and_then(|t| t.get_ref().as_array())
        .into_iter()
        .flat_map(|tasks| tasks.iter())
        .filter_map(|t| {
            t.get_ref()
                .get("steps")
                .and_then(|s| s.get_ref().as_array())
        })
        .flat_map(|steps| steps.iter());
    let mut out: Vec<String> = Vec::new();
    for step in setup.chain(task_steps) {
        let step = step.get_ref();
        let name = step
            .get("name")
            .or_else(|| step.get("path"))
            .and_then(|n| n.get_ref().as_str());
        if let Some(name) = name.filter(|n| !out.iter().any(|o| o == n)) {
            out.push(name.to_string());
        }
    }
    out
}

fn objective_kind<'i>(
    doc: &mut Doc<'i>,
    kind: raw::ObjectiveKind,
    path: &FieldPath,
) -> Option<ObjectiveKind> {
    Some(match kind {
        raw::ObjectiveKind::Latency(l) => {
            if l.percentile > 0.0 && l.percentile < 1.0 {
                doc.at(&path.key("percentile"), format!("percentile {} is below 1 (expected a percentile on a 0-100 scale: write 95 for the 95th, not 0.95)", l.percentile));
                return None;
            }
            if !(l.percentile > 0.0 && l.percentile < 100.0) {
                doc.at(&path.key("percentile"), format!("percentile {} is out of range (expected more than 0 and less than 100, e.g. 95 or 99.9)", l.percentile));
                return None;
            }
            ObjectiveKind::Latency {
                percentile: l.percentile,
                below: l.below.0,
            }
        }
        raw::ObjectiveKind::LatencyShare(s) => ObjectiveKind::LatencyShare {
            under: s.under.0,
            at_least: s.at_least.0,
        },
        raw::ObjectiveKind::ErrorRate(e) => ObjectiveKind::ErrorRate { below: e.below.0 },
        raw::ObjectiveKind::Availability(a) => ObjectiveKind::Availability {
            at_least: a.at_least.0,
        },
        raw::ObjectiveKind::Throughput(t) => ObjectiveKind::Throughput {
            at_least: t.at_least.0,
        },
    })
}
