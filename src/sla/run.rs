//! One run judged on its own: what `slamon once` prints and what the run history keeps.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::config::model::Objective;
use crate::load::RunTotals;
use crate::sample::Outcome;
use crate::window::{ALL_ENDPOINTS, Snapshot};

/// One window long enough to hold any run.
pub const RUN_WINDOW: Duration = Duration::from_secs(366 * 86400);

/// The config as a run sees it: one window covering the run, objectives judged over it.
pub fn run_config(config: &Config) -> Config {
    let mut c = config.clone();
    c.server.windows = vec![RUN_WINDOW];
    c.objectives = run_objectives(&config.objectives);
    c
}

/// The objectives, judged over the run instead of their own windows.
pub fn run_objectives(objectives: &[Objective]) -> Vec<Objective> {
    objectives
        .iter()
        .map(|o| Objective {
            window: RUN_WINDOW,
            ..o.clone()
        })
        .collect()
}

/// What the run history keeps of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub monitor: String,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub iterations: u64,
    pub dropped_iterations: u64,
    pub requests: u64,
    /// Failed requests by kind.
    pub failures: BTreeMap<String, u64>,
    /// Latency of the whole monitor over the run, in seconds: p50, p90, p95, p99, max.
    pub latency_seconds: BTreeMap<String, f64>,
    /// Each objective of the monitor judged over the run: met, breached, or `None` with too
    /// few requests.
    pub objectives: BTreeMap<String, Option<bool>>,
}

/// Builds the record from the run's snapshot (taken with [`run_config`]'s plan).
pub fn record(
    monitor: &str,
    started_at: DateTime<Utc>,
    elapsed: Duration,
    totals: RunTotals,
    snap: &Snapshot,
    objectives: &[Objective],
) -> RunRecord {
    let w = snap.window(monitor, ALL_ENDPOINTS, RUN_WINDOW);
    let failures = w
        .map(|w| {
            Outcome::ALL
                .iter()
                .filter(|o| !o.is_ok() && w.counts.by_outcome[o.index()] > 0)
                .map(|o| (o.as_str().to_string(), w.counts.by_outcome[o.index()]))
                .collect()
        })
        .unwrap_or_default();
    let mut latency = BTreeMap::new();
    if let Some(w) = w {
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)] {
            if let Some(v) = w.quantile(q) {
                latency.insert(name.to_string(), v);
            }
        }
        if let Some(max) = w.max_seconds {
            latency.insert("max".to_string(), max);
        }
    }
    let mut verdicts = BTreeMap::new();
    for o in objectives.iter().filter(|o| &*o.monitor == monitor) {
        let endpoint = o.endpoint.as_deref().unwrap_or(ALL_ENDPOINTS);
        let met = snap.window(monitor, endpoint, RUN_WINDOW).and_then(|w| {
            if w.counts.total < o.alert.min_requests {
                return None;
            }
            super::evaluate(o, w).met
        });
        verdicts.insert(o.name.to_string(), met);
    }
    RunRecord {
        monitor: monitor.to_string(),
        started_at,
        duration_seconds: elapsed.as_secs_f64(),
        iterations: totals.iterations,
        dropped_iterations: totals.dropped,
        requests: w.map_or(0, |w| w.counts.total),
        failures,
        latency_seconds: latency,
        objectives: verdicts,
    }
}
