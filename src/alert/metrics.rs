//! Alert metrics: states, transitions, error budgets and burn rates.

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

use super::budget::{budget_remaining, burn_rate};
use super::state::{AlertState, STATE_NAMES};
use crate::config::model::Objective;
use crate::export::window_label;
use crate::window::{ALL_ENDPOINTS, Snapshot};

pub struct AlertMetrics {
    state: GaugeVec,
    transitions: IntCounterVec,
    budget: GaugeVec,
    burn: GaugeVec,
}

impl AlertMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let state = GaugeVec::new(
            Opts::new(
                "slamon_alert_state",
                "1 for the state the alert is in (ok, no_data, pending, firing), 0 for the others.",
            ),
            &["monitor", "objective", "alert", "state"],
        )?;
        let transitions = IntCounterVec::new(
            Opts::new(
                "slamon_alert_transitions_total",
                "Alert state changes, by the state entered.",
            ),
            &["monitor", "objective", "alert", "to"],
        )?;
        let budget = GaugeVec::new(
            Opts::new(
                "slamon_error_budget_remaining_ratio",
                "Share of the objective's error budget left over its budget period: 1 untouched, 0 spent, negative overspent.",
            ),
            &["monitor", "objective"],
        )?;
        let burn = GaugeVec::new(
            Opts::new(
                "slamon_burn_rate",
                "How many times faster than sustainable the objective's error budget burns over the window.",
            ),
            &["monitor", "objective", "window"],
        )?;
        for c in [&state, &budget, &burn] {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(transitions.clone()))?;
        Ok(AlertMetrics {
            state,
            transitions,
            budget,
            burn,
        })
    }

    pub fn record_state(
        &self,
        o: &Objective,
        alert: &str,
        before: &AlertState,
        after: &AlertState,
    ) {
        for s in STATE_NAMES {
            let v = if s == after.name() { 1.0 } else { 0.0 };
            self.state
                .with_label_values(&[&*o.monitor, &*o.name, alert, s])
                .set(v);
        }
        if before.name() != after.name() {
            self.transitions
                .with_label_values(&[&*o.monitor, &*o.name, alert, after.name()])
                .inc();
        }
    }

    pub fn record_budgets(&self, objectives: &[Objective], snap: &Snapshot) {
        for o in objectives {
            let Some(b) = &o.alert.budget else { continue };
            let endpoint = o.endpoint.as_deref().unwrap_or(ALL_ENDPOINTS);
            if let Some(left) = snap
                .window(&o.monitor, endpoint, b.period)
                .and_then(|w| budget_remaining(o, w))
            {
                self.budget
                    .with_label_values(&[&*o.monitor, &*o.name])
                    .set(left);
            }
            let mut windows: Vec<_> = b
                .burn_rates
                .iter()
                .flat_map(|r| [r.long, r.short])
                .collect();
            windows.sort();
            windows.dedup();
            for w in windows {
                if let Some(rate) = snap
                    .window(&o.monitor, endpoint, w)
                    .and_then(|ws| burn_rate(o, ws))
                {
                    self.burn
                        .with_label_values(&[&*o.monitor, &*o.name, &window_label(w)])
                        .set(rate);
                }
            }
        }
    }
}
