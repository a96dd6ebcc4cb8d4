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
    for (path, node) in doc.items(&root, "objectives", &FieldPath::root()) {
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
        if out.iter().any(|o| *o.name == *common.name) {
            doc.at(&path.key("name"), format!("duplicate objective name \"{}\" (expected each objective to have its own name)", common.name));
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
    let Some(monitor) = monitors.iter().find(|m| *m.name == *o.monitor) else {
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
        }
        return false;
    };
    if let Some(endpoint) = &o.endpoint {
        let endpoints = monitor.endpoints();
        if !endpoints.iter().any(|e| **e == **endpoint) {
            let list: Vec<&str> = endpoints.iter().map(|e| &**e).collect();
            doc.at(
                &path.key("endpoint"),
                format!(
                    "monitor \"{}\" has no endpoint \"{endpoint}\" (expected one of: {})",
                    o.monitor,
                    list.join(", ")
                ),
            );
            return false;
        }
    }
    true
}

fn objective_kind<'i>(
    doc: &mut Doc<'i>,
    kind: raw::ObjectiveKind,
    path: &FieldPath,
) -> Option<ObjectiveKind> {
    Some(match kind {
        raw::ObjectiveKind::Latency(l) => {
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
