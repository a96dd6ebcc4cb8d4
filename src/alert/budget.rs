//! Error budgets and burn rates (the SRE workbook, "Alerting on SLOs").
//!
//! A ratio objective allows a share of bad requests, its budget fraction (0.1% for 99.9%).
//! The burn rate over a window is the bad share in it divided by that fraction: at 1 the budget
//! lasts exactly the SLO period; at 14.4 a 30-day budget loses 2% in one hour.

use std::time::Duration;

use crate::config::model::{Objective, ObjectiveKind};
use crate::window::WindowStats;

/// The share of bad requests in the window, as the objective counts them; `None` without
/// requests.
pub fn bad_ratio(o: &Objective, w: &WindowStats) -> Option<f64> {
    match o.kind {
        ObjectiveKind::Latency { below: bound, .. }
        | ObjectiveKind::LatencyShare { under: bound, .. } => w.good_ratio(bound).map(|g| 1.0 - g),
        ObjectiveKind::ErrorRate { .. } => w.error_ratio(),
        ObjectiveKind::Availability { .. } => w.availability().map(|a| 1.0 - a),
        ObjectiveKind::Throughput { .. } => None,
    }
}

/// How many times faster than sustainable the budget burns over the window.
pub fn burn_rate(o: &Objective, w: &WindowStats) -> Option<f64> {
    let fraction = o.budget_fraction().filter(|f| *f > 0.0)?;
    bad_ratio(o, w).map(|bad| bad / fraction)
}

/// The share of the period's budget left: 1 untouched, 0 spent, below 0 overspent.
pub fn budget_remaining(o: &Objective, period: &WindowStats) -> Option<f64> {
    burn_rate(o, period).map(|burn| 1.0 - burn)
}

/// The share of a period's budget that burning at `burn` for `window` consumes.
pub fn budget_consumed(burn: f64, window: Duration, period: Duration) -> f64 {
    burn * window.as_secs_f64() / period.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::AlertPolicy;
    use crate::window::Counts;

    fn objective(kind: ObjectiveKind) -> Objective {
        let alert = AlertPolicy {
            for_: Duration::ZERO,
            repeat: Duration::ZERO,
            min_requests: 0,
            depends_on: vec![],
            labels: Default::default(),
            budget: None,
        };
        Objective {
            name: "o".into(),
            monitor: "m".into(),
            endpoint: None,
            window: Duration::from_secs(300),
            kind,
            alert,
        }
    }

    fn window(total: u64, failed: u64, unavailable: u64, good: u64) -> WindowStats {
        WindowStats {
            length: Duration::from_secs(3600),
            observed: Duration::from_secs(3600),
            counts: Counts {
                total,
                failed,
                unavailable,
                good: vec![good],
                ..Counts::default()
            },
            thresholds: vec![Duration::from_millis(300)],
            quantiles: vec![],
            max_seconds: None,
        }
    }

    /// The workbook's worked example: for 99.9% over 30 days, burning at 14.4 for one hour
    /// consumes 2% of the budget, and 6 for six hours 5%, and 1 for three days 10%.
    #[test]
    fn workbook_budget_consumption() {
        let month = Duration::from_secs(30 * 86400);
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert!((budget_consumed(14.4, h(1), month) - 0.02).abs() < 1e-12);
        assert!((budget_consumed(6.0, h(6), month) - 0.05).abs() < 1e-12);
        assert!((budget_consumed(1.0, h(72), month) - 0.10).abs() < 1e-12);
    }

    /// 99.9% availability: 1.44% of requests failing is a burn rate of 14.4.
    #[test]
    fn burn_rate_of_each_ratio_objective() {
        let avail = objective(ObjectiveKind::Availability { at_least: 0.999 });
        let w = window(10_000, 200, 144, 9_000);
        assert!((burn_rate(&avail, &w).unwrap() - 14.4).abs() < 1e-9);
        assert!((budget_remaining(&avail, &w).unwrap() - (1.0 - 14.4)).abs() < 1e-9);
        let errors = objective(ObjectiveKind::ErrorRate { below: 0.01 });
        assert!((burn_rate(&errors, &w).unwrap() - 2.0).abs() < 1e-9);
        // "p95 < 300ms" is "at least 95% within 300 ms": 10% slow burns the 5% budget twice over.
        let p95 = objective(ObjectiveKind::Latency {
            percentile: 95.0,
            below: Duration::from_millis(300),
        });
        assert!((burn_rate(&p95, &w).unwrap() - 2.0).abs() < 1e-9);
        let share = objective(ObjectiveKind::LatencyShare {
            under: Duration::from_millis(300),
            at_least: 0.9,
        });
        assert!((burn_rate(&share, &w).unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(
            burn_rate(&objective(ObjectiveKind::Throughput { at_least: 1.0 }), &w),
            None
        );
        assert_eq!(burn_rate(&avail, &window(0, 0, 0, 0)), None);
    }
}
