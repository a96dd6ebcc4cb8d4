//! When notifications wait: maintenance windows from the config and ad-hoc silences from the
//! API (`POST /api/v1/silences`). Both hold back firing notifications, never measurement, and
//! never a resolve.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::model::Maintenance;

/// An ad-hoc silence, e.g. for a deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: u64,
    /// `None`: every monitor.
    pub monitor: Option<String>,
    /// `None`: every objective of the monitor(s).
    pub objective: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub comment: String,
}

impl Silence {
    fn covers(&self, monitor: &str, objective: &str, now: DateTime<Utc>) -> bool {
        self.starts_at <= now
            && now < self.ends_at
            && self.monitor.as_deref().is_none_or(|m| m == monitor)
            && self.objective.as_deref().is_none_or(|o| o == objective)
    }
}

/// The silences, shared by the API (which adds) and the alert engine (which reads).
#[derive(Clone, Default)]
pub struct Silences(Arc<Mutex<Vec<Silence>>>);

impl Silences {
    pub fn add(&self, mut s: Silence) -> Silence {
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.id = list.iter().map(|x| x.id).max().unwrap_or(0) + 1;
        list.push(s.clone());
        s
    }

    /// Removes a silence; false if there was none with this id.
    pub fn remove(&self, id: u64) -> bool {
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = list.len();
        list.retain(|s| s.id != id);
        list.len() != before
    }

    /// Puts back silences saved by a previous process.
    pub fn restore(&self, saved: Vec<Silence>) {
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *list = saved;
    }

    /// Active and future silences; expired ones are dropped.
    pub fn list(&self, now: DateTime<Utc>) -> Vec<Silence> {
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|s| s.ends_at > now);
        list.clone()
    }

    pub fn covers(&self, monitor: &str, objective: &str, now: DateTime<Utc>) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|s| s.covers(monitor, objective, now))
    }
}

/// Whether a maintenance window of the config covers `monitor` at `now`: an occurrence of its
/// cron expression started less than its duration ago.
pub fn in_maintenance(windows: &[Maintenance], monitor: &str, now: DateTime<Utc>) -> bool {
    windows.iter().any(|w| {
        if !w.monitors.is_empty() && !w.monitors.iter().any(|m| &**m == monitor) {
            return false;
        }
        let Ok(cron) = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(&w.cron)
        else {
            return false;
        };
        let Ok(duration) = chrono::Duration::from_std(w.duration) else {
            return false;
        };
        match cron.find_next_occurrence(&(now - duration), true) {
            Ok(start) => start <= now,
            Err(_) => false,
        }
    })
}
