//! The alert engine: evaluates every objective on each window snapshot, steps its state
//! machine, and puts the resulting notifications in the outbox for every routed channel.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::metrics::AlertMetrics;
use super::notification::{Notification, PAYLOAD_VERSION, Status};
use super::silence::{Silences, in_maintenance};
use super::state::{AlertState, Event, Timing, Verdict, step};
use super::verdict::{burn_verdict, objective_verdict};
use crate::config::Config;
use crate::config::model::{BurnRateAlert, Objective};
use crate::export::window_label;
use crate::sla::describe;
use crate::window::{ALL_ENDPOINTS, Snapshot};

/// One alert: an objective's own, or one of its burn-rate alerts.
#[derive(Clone, Debug)]
pub struct AlertKey {
    pub objective: usize,
    /// `None` for the objective's own alert.
    pub burn: Option<usize>,
}

/// A notification and the channels it goes to.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub notification: Notification,
    /// `(channel, idempotency key)`
    pub deliveries: Vec<(String, String)>,
}

pub struct Engine {
    config: Arc<Config>,
    keys: Vec<(String, AlertKey)>,
    pub states: BTreeMap<String, AlertState>,
    silences: Silences,
    /// When each firing alert was last sent to the Alertmanager channels.
    refreshed: BTreeMap<String, DateTime<Utc>>,
}

/// Alertmanager resolves an alert whose `endsAt` passes, so a firing alert is sent to it again
/// this often, well within the `endsAt` the channel sets (see `notify::alertmanager`), whatever
/// the objective's `repeat`; Alertmanager's own `repeat_interval` decides what reaches people.
pub const ALERTMANAGER_REFRESH: std::time::Duration = std::time::Duration::from_secs(60);

impl Engine {
    /// `saved` are the states persisted by a previous run, by key; unknown keys are dropped.
    pub fn new(
        config: Arc<Config>,
        saved: BTreeMap<String, AlertState>,
        silences: Silences,
    ) -> Self {
        let mut keys = Vec::new();
        for i in dependency_order(&config.objectives) {
            let o = &config.objectives[i];
            keys.push((
                o.name.to_string(),
                AlertKey {
                    objective: i,
                    burn: None,
                },
            ));
            for (j, r) in o
                .alert
                .budget
                .iter()
                .flat_map(|b| b.burn_rates.iter())
                .enumerate()
            {
                keys.push((
                    burn_key(o, r),
                    AlertKey {
                        objective: i,
                        burn: Some(j),
                    },
                ));
            }
        }
        let states = keys
            .iter()
            .map(|(k, _)| (k.clone(), saved.get(k).cloned().unwrap_or(AlertState::Ok)))
            .collect();
        Engine {
            config,
            keys,
            states,
            silences,
            refreshed: BTreeMap::new(),
        }
    }

    /// Resolves for the alerts a reload ends: firing (and announced) alerts whose objective is
    /// gone or changed in `next`. Without them a receiver would keep an incident open forever.
    pub fn retire(&self, next: &Config, now: DateTime<Utc>) -> Vec<Outgoing> {
        let carried = self.carried_states(next);
        let mut out = Vec::new();
        for (key, ak) in &self.keys {
            let Some(AlertState::Firing {
                since,
                last_sent: Some(_),
                ..
            }) = self.states.get(key)
            else {
                continue;
            };
            if carried.contains_key(key) {
                continue;
            }
            let o = &self.config.objectives[ak.objective];
            let (threshold, window) = match ak
                .burn
                .and_then(|j| o.alert.budget.as_ref()?.burn_rates.get(j))
            {
                Some(r) => (
                    r.factor,
                    format!("{}/{}", window_label(r.long), window_label(r.short)),
                ),
                None => (crate::sla::threshold(&o.kind), window_label(o.window)),
            };
            let event = Event::Resolved {
                since: *since,
                at: now,
            };
            let mut n = self.notification(o, ak, key, event, None, threshold, window);
            n.summary = format!("{} (no longer monitored after a config reload)", n.summary);
            out.push(self.route(n, key, event));
        }
        out
    }

    /// The states of alerts whose objective is unchanged in `next` (same monitor, endpoint,
    /// window and kind), for a reload to carry over; a changed objective starts afresh.
    pub fn carried_states(&self, next: &Config) -> BTreeMap<String, AlertState> {
        let mut out = BTreeMap::new();
        for (key, ak) in &self.keys {
            let old = &self.config.objectives[ak.objective];
            let same = next.objectives.iter().any(|o| {
                o.name == old.name
                    && o.monitor == old.monitor
                    && o.endpoint == old.endpoint
                    && o.window == old.window
                    && o.kind == old.kind
            });
            if let (true, Some(state)) = (same, self.states.get(key)) {
                out.insert(key.clone(), state.clone());
            }
        }
        out
    }

    /// One evaluation: new states, metrics, and the notifications to enqueue.
    pub fn evaluate(
        &mut self,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
        metrics: Option<&AlertMetrics>,
    ) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let config = self.config.clone();
        for (key, ak) in self.keys.clone() {
            let o = &config.objectives[ak.objective];
            let Some((verdict, value, threshold, window)) = self.judge(o, &ak, snapshot) else {
                continue;
            };
            let suppressed = self.suppressed(o, now);
            let timing = Timing {
                for_: if ak.burn.is_some() {
                    std::time::Duration::ZERO
                } else {
                    o.alert.for_
                },
                repeat: o.alert.repeat,
            };
            let before = self.states.get(&key).cloned().unwrap_or(AlertState::Ok);
            let (after, event) = step(&before, verdict, now, timing, suppressed);
            if let Some(m) = metrics {
                m.record_state(o, &key, &before, &after);
            }
            if let Some(event) = event {
                let n = self.notification(o, &ak, &key, event, value, threshold, window);
                out.push(self.route(n, &key, event));
                self.refreshed.insert(key.clone(), now);
            } else if let Some(refresh) =
                self.refresh(o, &ak, &key, &after, now, value, threshold, window)
            {
                out.push(refresh);
            }
            self.states.insert(key, after);
        }
        if let Some(m) = metrics {
            m.record_budgets(&self.config.objectives, snapshot);
        }
        out
    }

    /// A firing alert already announced is sent to the Alertmanager channels again every
    /// [`ALERTMANAGER_REFRESH`]; other channels only hear of it every `repeat`.
    #[allow(clippy::too_many_arguments)]
    fn refresh(
        &mut self,
        o: &Objective,
        ak: &AlertKey,
        key: &str,
        state: &AlertState,
        now: DateTime<Utc>,
        value: Option<f64>,
        threshold: f64,
        window: String,
    ) -> Option<Outgoing> {
        let AlertState::Firing {
            since,
            last_sent: Some(_),
            ..
        } = state
        else {
            return None;
        };
        let last = self.refreshed.get(key).copied();
        if last.is_some_and(|at| (now - at).to_std().unwrap_or_default() < ALERTMANAGER_REFRESH) {
            return None;
        }
        self.refreshed.insert(key.to_string(), now);
        let event = Event::Firing {
            since: *since,
            sequence: 0,
        };
        let mut out = self.route(
            self.notification(o, ak, key, event, value, threshold, window),
            key,
            event,
        );
        let is_am = |name: &str| {
            self.config.channels.iter().any(|c| {
                &*c.name == name
                    && matches!(c.kind, crate::config::model::ChannelKind::Alertmanager(_))
            })
        };
        out.deliveries.retain(|(c, _)| is_am(c));
        for (c, idem) in &mut out.deliveries {
            *idem = format!(
                "{}:{}:refresh:{}:{c}",
                out.notification.fingerprint,
                since.timestamp_millis(),
                now.timestamp()
            );
        }
        (!out.deliveries.is_empty()).then_some(out)
    }

    /// The verdict, observed value, threshold and window label of one alert.
    fn judge(
        &self,
        o: &Objective,
        ak: &AlertKey,
        snap: &Snapshot,
    ) -> Option<(Verdict, Option<f64>, f64, String)> {
        let endpoint = o.endpoint.as_deref().unwrap_or(ALL_ENDPOINTS);
        match ak.burn {
            None => {
                let w = snap.window(&o.monitor, endpoint, o.window)?;
                let (v, value) = objective_verdict(o, w);
                Some((
                    v,
                    value,
                    crate::sla::evaluate(o, w).threshold,
                    window_label(o.window),
                ))
            }
            Some(j) => {
                let rate = o.alert.budget.as_ref()?.burn_rates.get(j)?;
                let long = snap.window(&o.monitor, endpoint, rate.long)?;
                let short = snap.window(&o.monitor, endpoint, rate.short)?;
                let (v, value) = burn_verdict(o, rate, long, short);
                Some((
                    v,
                    value,
                    rate.factor,
                    format!("{}/{}", window_label(rate.long), window_label(rate.short)),
                ))
            }
        }
    }

    /// Dependencies firing, a silence, or a maintenance window hold firing notifications back.
    fn suppressed(&self, o: &Objective, now: DateTime<Utc>) -> bool {
        // A parent already breaching (pending) counts too: with a longer `for`, it would
        // otherwise fire after its children and the children would page first.
        let parent_firing = o.alert.depends_on.iter().any(|d| {
            self.states.get(&**d).is_some_and(|s| {
                matches!(s, AlertState::Firing { .. } | AlertState::Pending { .. })
            })
        });
        parent_firing
            || self.silences.covers(&o.monitor, &o.name, now)
            || in_maintenance(&self.config.maintenance, &o.monitor, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn notification(
        &self,
        o: &Objective,
        ak: &AlertKey,
        key: &str,
        event: Event,
        observed: Option<f64>,
        threshold: f64,
        window: String,
    ) -> Notification {
        let (status, started_at, ended_at) = match event {
            Event::Firing { since, .. } => (Status::Firing, since, None),
            Event::Resolved { since, at } => (Status::Resolved, since, Some(at)),
        };
        let burn = ak
            .burn
            .and_then(|j| o.alert.budget.as_ref()?.burn_rates.get(j));
        let mut labels = o.alert.labels.clone();
        let (alertname, objective_type, summary, unit) = match burn {
            None => (
                o.name.to_string(),
                o.kind.type_name().to_string(),
                describe(&o.kind),
                unit_of(o).to_string(),
            ),
            Some(r) => {
                labels.insert("severity".into(), r.severity.clone());
                (
                    key.to_string(),
                    "burn_rate".to_string(),
                    format!(
                        "error budget burning at {}x or more ({})",
                        r.factor,
                        describe(&o.kind)
                    ),
                    "burn_rate".to_string(),
                )
            }
        };
        Notification {
            version: PAYLOAD_VERSION,
            status,
            fingerprint: fingerprint(&o.monitor, key),
            alertname,
            monitor: o.monitor.to_string(),
            endpoint: o.endpoint.as_deref().map(str::to_string),
            objective: o.name.to_string(),
            objective_type,
            summary,
            observed,
            threshold,
            unit,
            window,
            labels,
            started_at,
            ended_at,
            link: format!("{}/metrics", self.config.server.external_url),
        }
    }

    /// The channels the notification's labels route it to, each with its idempotency key.
    fn route(&self, n: Notification, key: &str, event: Event) -> Outgoing {
        let channels: Vec<String> = if self.config.routes.is_empty() {
            self.config
                .channels
                .iter()
                .map(|c| c.name.to_string())
                .collect()
        } else {
            let mut names: Vec<String> = Vec::new();
            for r in self
                .config
                .routes
                .iter()
                .filter(|r| r.matchers.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
            {
                for c in &r.channels {
                    if !names.iter().any(|x| x == &**c) {
                        names.push(c.to_string());
                    }
                }
            }
            names
        };
        if channels.is_empty() {
            tracing::warn!(monitor = %n.monitor, alert = %key, "No route matches the alert's labels, so it is sent nowhere.");
        }
        let episode = match event {
            Event::Firing { since, sequence } => {
                format!("{}:firing:{sequence}", since.timestamp_millis())
            }
            Event::Resolved { since, .. } => format!("{}:resolved", since.timestamp_millis()),
        };
        let deliveries = channels
            .into_iter()
            .map(|c| {
                let idem = format!("{}:{episode}:{c}", n.fingerprint);
                (c, idem)
            })
            .collect();
        Outgoing {
            notification: n,
            deliveries,
        }
    }
}

/// Objectives in an order where each comes after those it depends on, so a child sees its
/// parent's state of this evaluation, not the previous one. A cycle keeps file order.
fn dependency_order(objectives: &[Objective]) -> Vec<usize> {
    let mut placed: Vec<usize> = Vec::with_capacity(objectives.len());
    while placed.len() < objectives.len() {
        let before = placed.len();
        for (i, o) in objectives.iter().enumerate() {
            let ready = o.alert.depends_on.iter().all(|d| {
                objectives
                    .iter()
                    .position(|p| p.name == *d)
                    .is_none_or(|j| placed.contains(&j))
            });
            if !placed.contains(&i) && ready {
                placed.push(i);
            }
        }
        if placed.len() == before {
            placed.extend(
                (0..objectives.len())
                    .filter(|i| !placed.contains(i))
                    .collect::<Vec<_>>(),
            );
        }
    }
    placed
}

pub fn burn_key(o: &Objective, r: &BurnRateAlert) -> String {
    format!(
        "{}: burn rate {}/{}",
        o.name,
        window_label(r.long),
        window_label(r.short)
    )
}

/// Stable per alert: the same monitor and alert key always give the same fingerprint.
pub fn fingerprint(monitor: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{monitor}\u{0}{key}").as_bytes());
    hex::encode(&digest[..8])
}

fn unit_of(o: &Objective) -> &'static str {
    use crate::config::model::ObjectiveKind as K;
    match o.kind {
        K::Latency { .. } => "seconds",
        K::Throughput { .. } => "per_second",
        _ => "ratio",
    }
}
