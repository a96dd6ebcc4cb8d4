//! Objectives: what "good" means for a monitor or one of its endpoints, over a window.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::de::IntoDeserializer;

use super::error::FieldPath;
use super::model::{AlertPolicy, BudgetPolicy, BurnRateAlert, Monitor, Objective, ObjectiveKind};
use super::parse::Doc;
use super::raw;
use super::validate::check_window;

/// How often a firing alert is sent again, unless the objective says otherwise.
pub const DEFAULT_REPEAT: Duration = Duration::from_secs(4 * 3600);

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
        let Some((common, rest)) = doc.split(&node, &path, raw::OBJECTIVE_COMMON_KEYS) else {
            continue;
        };
        let common: Option<raw::ObjectiveCommon> = doc.read(&common);
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
        let alert = alert_policy(doc, &common, &kind, &path);
        if !references_ok(doc, &common, monitors, named, &path) {
            continue;
        }
        let Some(alert) = alert else { continue };
        out.push(Objective {
            name: common.name.into(),
            monitor: common.monitor.into(),
            endpoint: common.endpoint.map(Into::into),
            window: common.window.0,
            kind,
            alert,
        });
    }
    check_dependencies(doc, &out, &root);
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

/// Default `min_requests`: a percentile needs enough samples for one to lie above it
/// (20 for a p95, 100 for a p99); a ratio needs a handful, so that a full outage still alerts
/// on a low-rate monitor; throughput needs none, as no request at all is its breach.
pub fn default_min_requests(kind: &ObjectiveKind) -> u64 {
    match kind {
        ObjectiveKind::Latency { percentile, .. } => {
            // Less a hair, so 1 / (1 - 0.9) = 10.000000000000002 rounds to 10, not 11.
            ((1.0 / (1.0 - percentile / 100.0) - 1e-9).ceil() as u64).max(10)
        }
        ObjectiveKind::Throughput { .. } => 0,
        _ => 10,
    }
}

fn alert_policy<'i>(
    doc: &mut Doc<'i>,
    c: &raw::ObjectiveCommon,
    kind: &ObjectiveKind,
    path: &FieldPath,
) -> Option<AlertPolicy> {
    let mut ok = true;
    for name in c.labels.keys() {
        let valid = name
            .chars()
            .next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !valid {
            doc.at(&path.key("labels").key(name), format!("invalid label name \"{name}\" (expected letters, digits and _, not starting with a digit)"));
            ok = false;
        }
    }
    let budget = match (c.budget_period, &c.burn_rates) {
        (None, None) => None,
        (None, Some(_)) => {
            doc.at(
                &path.key("burn_rates"),
                "burn rates without a budget (expected `budget_period` too, e.g. \"30d\")"
                    .to_string(),
            );
            return None;
        }
        (Some(period), rates) => Some(budget_policy(doc, period.0, rates.as_deref(), kind, path)?),
    };
    if c.repeat.is_some_and(|r| r.0.is_zero()) {
        doc.at(
            &path.key("repeat"),
            "zero repeat would send at every evaluation (expected e.g. \"4h\")".to_string(),
        );
        ok = false;
    }
    ok.then(|| AlertPolicy {
        for_: c.for_.map_or(Duration::ZERO, |d| d.0),
        repeat: c.repeat.map_or(DEFAULT_REPEAT, |d| d.0),
        min_requests: c.min_requests.unwrap_or_else(|| default_min_requests(kind)),
        depends_on: c.depends_on.iter().map(|d| Arc::from(d.as_str())).collect(),
        labels: c.labels.clone(),
        budget,
    })
}

fn budget_policy<'i>(
    doc: &mut Doc<'i>,
    period: Duration,
    rates: Option<&[raw::BurnRate]>,
    kind: &ObjectiveKind,
    path: &FieldPath,
) -> Option<BudgetPolicy> {
    if matches!(kind, ObjectiveKind::Throughput { .. }) {
        doc.at(&path.key("budget_period"), "a throughput objective has no error budget (expected budget_period only on latency, latency_share, error_rate or availability objectives)".to_string());
        return None;
    }
    check_window(doc, &path.key("budget_period"), period);
    let burn_rates = match rates {
        None => BurnRateAlert::workbook_defaults(),
        Some(rates) => rates
            .iter()
            .map(|r| BurnRateAlert {
                long: r.long.0,
                short: r.short.0,
                factor: r.factor,
                severity: r.severity.clone(),
            })
            .collect(),
    };
    let mut ok = true;
    for (i, r) in burn_rates.iter().enumerate() {
        let p = path.key("burn_rates").index(i);
        if !(r.factor.is_finite() && r.factor > 0.0) || r.short >= r.long {
            doc.at(&p, format!("burn rate {} over {}/{} (expected a positive factor and a short window shorter than the long one)", r.factor, crate::export::window_label(r.long), crate::export::window_label(r.short)));
            ok = false;
        }
        check_window(doc, &p, r.short);
        check_window(doc, &p, r.long);
    }
    ok.then_some(BudgetPolicy { period, burn_rates })
}

/// `depends_on` names objectives that exist, other than the objective itself.
fn check_dependencies<'i>(
    doc: &mut Doc<'i>,
    objectives: &[Objective],
    root: &toml::Spanned<toml::de::DeValue<'i>>,
) {
    let declared: Vec<&str> = root
        .get_ref()
        .get("objectives")
        .and_then(|o| o.get_ref().as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get_ref().get("name").and_then(|n| n.get_ref().as_str()))
                .collect()
        })
        .unwrap_or_default();
    for (i, o) in objectives.iter().enumerate() {
        for (j, dep) in o.alert.depends_on.iter().enumerate() {
            let p = FieldPath::root()
                .key("objectives")
                .index(declared.iter().position(|d| *d == &*o.name).unwrap_or(i))
                .key("depends_on")
                .index(j);
            if *dep == o.name {
                doc.at(
                    &p,
                    format!("objective \"{dep}\" depends on itself (expected other objectives)"),
                );
            } else if !declared.contains(&&**dep) {
                doc.at(
                    &p,
                    format!(
                        "unknown objective \"{dep}\" (expected one of: {})",
                        declared.join(", ")
                    ),
                );
            }
        }
    }
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
        raw::ObjectiveKind::ErrorRate(e) => {
            if e.below.0 <= 0.0 {
                doc.at(
                    &path.key("below"),
                    "0% can never be met (expected a share above 0%, e.g. \"1%\")".to_string(),
                );
                return None;
            }
            ObjectiveKind::ErrorRate { below: e.below.0 }
        }
        raw::ObjectiveKind::Availability(a) => ObjectiveKind::Availability {
            at_least: a.at_least.0,
        },
        raw::ObjectiveKind::Throughput(t) => ObjectiveKind::Throughput {
            at_least: t.at_least.0,
        },
    })
}
