//! Load safety: caps on what a monitor may send, so a typo cannot flood a production service.
//!
//! The defaults are conservative; a config that needs more raises them explicitly in
//! `[server.limits]`, which makes the intent visible in review.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::error::FieldPath;
use super::model::{LoadModel, Monitor};
use super::parse::Doc;
use super::values::{Dur, Rate};

#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Open model: iterations per second of one monitor.
    pub max_rate: f64,
    /// Open model: the sum of every monitor's rate.
    pub max_total_rate: f64,
    /// Closed model: users of one monitor.
    pub max_users: u32,
    /// Open model: iterations in flight of one monitor.
    pub max_in_flight: u32,
    /// How long one run may last.
    pub max_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rate: 20.0,
            max_total_rate: 100.0,
            max_users: 50,
            max_in_flight: 100,
            max_duration: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_rate: Option<Rate>,
    pub max_total_rate: Option<Rate>,
    pub max_users: Option<u32>,
    pub max_in_flight: Option<u32>,
    pub max_duration: Option<Dur>,
}

impl RawLimits {
    pub fn resolve(self) -> Limits {
        let d = Limits::default();
        Limits {
            max_rate: self.max_rate.map_or(d.max_rate, |r| r.0),
            max_total_rate: self.max_total_rate.map_or(d.max_total_rate, |r| r.0),
            max_users: self.max_users.unwrap_or(d.max_users),
            max_in_flight: self.max_in_flight.unwrap_or(d.max_in_flight),
            max_duration: self.max_duration.map_or(d.max_duration, |x| x.0),
        }
    }
}

/// Reports every monitor that exceeds a limit, at the field that does.
pub fn check<'i>(doc: &mut Doc<'i>, limits: &Limits, monitors: &[Arc<Monitor>]) {
    let raise = "raise it in [server.limits] to allow more";
    let mut total = 0.0;
    for m in monitors {
        let path = monitor_path(doc, &m.name);
        if m.duration > limits.max_duration {
            let msg = format!(
                "run of {} is above the limit of {} (expected at most max_duration; {raise})",
                humantime::format_duration(m.duration),
                humantime::format_duration(limits.max_duration)
            );
            doc.at(&path.key("duration"), msg);
        }
        match m.load {
            LoadModel::Open {
                rate,
                max_in_flight,
            } => {
                total += rate;
                if rate > limits.max_rate {
                    doc.at(&path.key("load").key("rate"), format!("rate {rate}/s is above the limit of {}/s (expected at most max_rate; {raise})", limits.max_rate));
                }
                if max_in_flight > limits.max_in_flight {
                    doc.at(&path.key("load").key("max_in_flight"), format!("{max_in_flight} in flight is above the limit of {} (expected at most max_in_flight; {raise})", limits.max_in_flight));
                }
            }
            LoadModel::Closed { users, .. } => {
                if users > limits.max_users {
                    doc.at(&path.key("load").key("users"), format!("{users} users is above the limit of {} (expected at most max_users; {raise})", limits.max_users));
                }
            }
        }
    }
    if total > limits.max_total_rate {
        let msg = format!(
            "the monitors' rates add up to {total}/s, above the limit of {}/s (expected at most max_total_rate; {raise})",
            limits.max_total_rate
        );
        doc.at(&FieldPath::root().key("monitors"), msg);
    }
}

fn monitor_path(doc: &Doc<'_>, name: &str) -> FieldPath {
    let index = doc
        .root
        .get_ref()
        .get("monitors")
        .and_then(|a| a.get_ref().as_array())
        .and_then(|a| {
            a.iter().position(|m| {
                m.get_ref().get("name").and_then(|n| n.get_ref().as_str()) == Some(name)
            })
        })
        .unwrap_or(0);
    FieldPath::root().key("monitors").index(index)
}
