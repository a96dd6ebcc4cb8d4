//! From window statistics to a [`Verdict`], with hysteresis and the low-rate rule.

use crate::config::model::{BurnRateAlert, Objective, ObjectiveKind};
use crate::sla::evaluate;
use crate::window::WindowStats;

use super::budget::burn_rate;
use super::state::Verdict;

/// A breached objective resolves only once it is better than its threshold by this share of
/// the distance that matters (the threshold itself, or the error budget for "at least"
/// objectives), so a value hovering at the threshold does not flap.
pub const HYSTERESIS: f64 = 0.05;

/// The verdict on the objective's own window, and the observed value.
pub fn objective_verdict(o: &Objective, w: &WindowStats) -> (Verdict, Option<f64>) {
    if w.counts.total < o.alert.min_requests {
        return (Verdict::Insufficient, None);
    }
    let e = evaluate(o, w);
    let (Some(value), Some(met)) = (e.value, e.met) else {
        return (Verdict::Insufficient, e.value);
    };
    if !met {
        return (Verdict::Breach, Some(value));
    }
    let t = e.threshold;
    let recovered = match o.kind {
        ObjectiveKind::Latency { .. } | ObjectiveKind::ErrorRate { .. } => {
            value < t * (1.0 - HYSTERESIS)
        }
        ObjectiveKind::LatencyShare { .. } | ObjectiveKind::Availability { .. } => {
            // `<=`: at a 100% target there is no band to be inside, and met is recovered.
            1.0 - value <= (1.0 - t) * (1.0 - HYSTERESIS)
        }
        ObjectiveKind::Throughput { .. } => value >= t * (1.0 + HYSTERESIS),
    };
    (
        if recovered {
            Verdict::Recovered
        } else {
            Verdict::Marginal
        },
        Some(value),
    )
}

/// A multiwindow burn-rate alert fires when both windows burn at least `factor` times faster
/// than sustainable; it ends when the short window drops below, which is the workbook's point
/// of the short window: a fast reset once the bleeding stops.
pub fn burn_verdict(
    o: &Objective,
    rate: &BurnRateAlert,
    long: &WindowStats,
    short: &WindowStats,
) -> (Verdict, Option<f64>) {
    if long.counts.total < o.alert.min_requests {
        return (Verdict::Insufficient, None);
    }
    let (Some(l), Some(s)) = (burn_rate(o, long), burn_rate(o, short)) else {
        return (Verdict::Insufficient, None);
    };
    let verdict = if l >= rate.factor && s >= rate.factor {
        Verdict::Breach
    } else {
        Verdict::Recovered
    };
    (verdict, Some(l.min(s)))
}
