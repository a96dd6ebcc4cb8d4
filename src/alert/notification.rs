//! The notification: what every channel sends, in its own form.
//!
//! Serialized as is, it is the webhook's JSON payload (version 1); `docs/alerting.md`
//! documents every field. Changing a field's meaning or removing one means a new version.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const PAYLOAD_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
    /// Sent by `slamon alert test`; receivers should not page on it.
    Test,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub version: u32,
    pub status: Status,
    /// Stable across notifications of one alert (same monitor, objective and alert kind):
    /// receivers group and deduplicate by it.
    pub fingerprint: String,
    /// The alert's name: the objective's, or `<objective>: burn rate <long>/<short>` for a
    /// burn-rate alert.
    pub alertname: String,
    pub monitor: String,
    /// `None` for an objective on the monitor as a whole.
    pub endpoint: Option<String>,
    pub objective: String,
    /// `latency`, `latency_share`, `error_rate`, `availability`, `throughput`, or `burn_rate`.
    pub objective_type: String,
    /// The objective as a person reads it, e.g. `p95 < 500ms`.
    pub summary: String,
    /// The value that breached (or recovered): seconds, a ratio, or per second, as `unit` says.
    pub observed: Option<f64>,
    pub threshold: f64,
    pub unit: String,
    /// The window the value was measured over, e.g. `5m`.
    pub window: String,
    /// The objective's labels, plus `severity` when set.
    pub labels: BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    /// Set when resolved.
    pub ended_at: Option<DateTime<Utc>>,
    /// Where to look: slamon's metrics or status page.
    pub link: String,
}
