//! Stage 6, SLA evaluation: objectives over window statistics.
//!
//! - In: the config's [`Objective`]s and a [`Snapshot`] of the windows (the daemon), or the
//!   statistics of one whole run (`slamon once`).
//! - Out: an [`Evaluation`] per objective: the observed value, in the objective's own unit
//!   (seconds, ratio, requests per second), and whether it is met. A window without requests
//!   has no latency, error rate or availability: those are `None` ("no data"), never a made-up
//!   0 or 1. Throughput with no request is 0, which is a fact.
//! - Pure functions, owned by their caller. Alert states build on these results.

pub mod run;

use std::time::Duration;

use crate::config::model::{Objective, ObjectiveKind};
use crate::window::{ALL_ENDPOINTS, Snapshot, WindowStats};

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Seconds for latency; a ratio (0..=1) for shares and rates; per second for throughput.
    pub value: Option<f64>,
    /// The objective's threshold, in the same unit.
    pub threshold: f64,
    pub met: Option<bool>,
}

/// Evaluates `o` on the window statistics `w`.
pub fn evaluate(o: &Objective, w: &WindowStats) -> Evaluation {
    let (value, threshold, higher_is_better) = match o.kind {
        ObjectiveKind::Latency { percentile, below } => {
            (w.quantile(percentile / 100.0), below.as_secs_f64(), false)
        }
        ObjectiveKind::LatencyShare { under, at_least } => (w.good_ratio(under), at_least, true),
        ObjectiveKind::ErrorRate { below } => (w.error_ratio(), below, false),
        ObjectiveKind::Availability { at_least } => (w.availability(), at_least, true),
        ObjectiveKind::Throughput { at_least } => (Some(w.throughput()), at_least, true),
    };
    let met = value.map(|v| {
        if higher_is_better {
            v >= threshold
        } else {
            v < threshold
        }
    });
    Evaluation {
        value,
        threshold,
        met,
    }
}

/// The objective's threshold, in the unit of its value.
pub fn threshold(kind: &ObjectiveKind) -> f64 {
    match *kind {
        ObjectiveKind::Latency { below, .. } => below.as_secs_f64(),
        ObjectiveKind::LatencyShare { at_least, .. } | ObjectiveKind::Availability { at_least } => {
            at_least
        }
        ObjectiveKind::ErrorRate { below } => below,
        ObjectiveKind::Throughput { at_least } => at_least,
    }
}

/// Evaluates every objective on the snapshot, in config order.
pub fn evaluate_all<'a>(
    objectives: &'a [Objective],
    snapshot: &Snapshot,
) -> Vec<(&'a Objective, Evaluation)> {
    objectives
        .iter()
        .filter_map(|o| {
            let endpoint = o.endpoint.as_deref().unwrap_or(ALL_ENDPOINTS);
            let w = snapshot.window(&o.monitor, endpoint, o.window)?;
            Some((o, evaluate(o, w)))
        })
        .collect()
}

/// The objective as a person reads it: `p95 < 500ms`, `error_rate < 1%`.
pub fn describe(kind: &ObjectiveKind) -> String {
    let pct = |r: f64| format!("{}%", (r * 1e6).round() / 1e4);
    let ms = |d: Duration| humantime::format_duration(d).to_string();
    match *kind {
        ObjectiveKind::Latency { percentile, below } => format!("p{percentile} < {}", ms(below)),
        ObjectiveKind::LatencyShare { under, at_least } => {
            format!("share under {} >= {}", ms(under), pct(at_least))
        }
        ObjectiveKind::ErrorRate { below } => format!("error_rate < {}", pct(below)),
        ObjectiveKind::Availability { at_least } => format!("availability >= {}", pct(at_least)),
        ObjectiveKind::Throughput { at_least } => format!("throughput >= {at_least}/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Counts;

    fn stats(total: u64, failed: u64, unavailable: u64, good: u64, p95: f64) -> WindowStats {
        WindowStats {
            length: Duration::from_secs(300),
            observed: Duration::from_secs(100),
            counts: Counts {
                total,
                failed,
                unavailable,
                good: vec![good],
                ..Counts::default()
            },
            thresholds: vec![Duration::from_millis(400)],
            quantiles: vec![(0.95, p95)],
            max_seconds: Some(p95),
        }
    }

    fn objective(kind: ObjectiveKind) -> Objective {
        Objective {
            name: "o".into(),
            monitor: "m".into(),
            endpoint: None,
            window: Duration::from_secs(300),
            kind,
            alert: crate::config::model::AlertPolicy {
                for_: Duration::ZERO,
                repeat: Duration::from_secs(3600),
                min_requests: 0,
                depends_on: Vec::new(),
                labels: Default::default(),
                budget: None,
            },
        }
    }

    #[test]
    fn each_kind_against_known_answers() {
        let w = stats(1000, 15, 5, 960, 0.420);
        let cases = [
            (
                ObjectiveKind::Latency {
                    percentile: 95.0,
                    below: Duration::from_millis(500),
                },
                Some(0.420),
                Some(true),
            ),
            (
                ObjectiveKind::Latency {
                    percentile: 95.0,
                    below: Duration::from_millis(400),
                },
                Some(0.420),
                Some(false),
            ),
            (
                ObjectiveKind::LatencyShare {
                    under: Duration::from_millis(400),
                    at_least: 0.95,
                },
                Some(0.96),
                Some(true),
            ),
            (
                ObjectiveKind::ErrorRate { below: 0.01 },
                Some(0.015),
                Some(false),
            ),
            (
                ObjectiveKind::ErrorRate { below: 0.02 },
                Some(0.015),
                Some(true),
            ),
            (
                ObjectiveKind::Availability { at_least: 0.999 },
                Some(0.995),
                Some(false),
            ),
            (
                ObjectiveKind::Throughput { at_least: 10.0 },
                Some(10.0),
                Some(true),
            ),
            (
                ObjectiveKind::Throughput { at_least: 20.0 },
                Some(10.0),
                Some(false),
            ),
        ];
        for (kind, value, met) in cases {
            let e = evaluate(&objective(kind), &w);
            assert_eq!(e.met, met, "{kind:?}");
            assert!(
                (e.value.unwrap() - value.unwrap()).abs() < 1e-12,
                "{kind:?}: {:?}",
                e.value
            );
        }
    }

    #[test]
    fn an_empty_window_has_no_verdict_but_zero_throughput() {
        let mut w = stats(0, 0, 0, 0, 0.0);
        w.quantiles.clear();
        let e = evaluate(&objective(ObjectiveKind::ErrorRate { below: 0.01 }), &w);
        assert_eq!((e.value, e.met), (None, None));
        let e = evaluate(
            &objective(ObjectiveKind::Latency {
                percentile: 95.0,
                below: Duration::from_millis(1),
            }),
            &w,
        );
        assert_eq!((e.value, e.met), (None, None));
        let e = evaluate(&objective(ObjectiveKind::Throughput { at_least: 1.0 }), &w);
        assert_eq!((e.value, e.met), (Some(0.0), Some(false)));
    }
}
