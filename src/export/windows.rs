//! The window families, built at scrape time from the latest snapshot.
//!
//! `prometheus` has no summary type of its own, and a `quantile` label on a gauge is rejected
//! by promtool, so this collector writes `slamon_latency_seconds` as a real summary family:
//! quantiles of the window, with `_sum` and `_count` over the same window.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType, Quantile, Summary};
use tokio::sync::watch;

use super::metrics::window_label;
use crate::config::model::Objective;
use crate::sla;
use crate::window::{QUANTILES, Snapshot};

struct Family {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

const WINDOW_LABELS: &[&str] = &["monitor", "endpoint", "window"];
const OBJECTIVE_LABELS: &[&str] = &["monitor", "endpoint", "objective", "type", "window"];

const LATENCY: Family = Family {
    name: "slamon_latency_seconds",
    help: "Latency quantiles over the sliding window, with the window's sum and count.",
    labels: WINDOW_LABELS,
};
const MAX: Family = Family {
    name: "slamon_latency_max_seconds",
    help: "Highest latency in the sliding window.",
    labels: WINDOW_LABELS,
};
const ERRORS: Family = Family {
    name: "slamon_error_ratio",
    help: "Share of failed requests in the sliding window (absent when the window holds no request).",
    labels: WINDOW_LABELS,
};
const THROUGHPUT: Family = Family {
    name: "slamon_throughput_requests_per_second",
    help: "Requests per second over the observed part of the sliding window.",
    labels: WINDOW_LABELS,
};
const AVAILABILITY: Family = Family {
    name: "slamon_availability_ratio",
    help: "Share of requests answered without a server error in the sliding window.",
    labels: WINDOW_LABELS,
};
const OBJ_VALUE: Family = Family {
    name: "slamon_objective_value",
    help: "Observed value of the objective: seconds for latency, a ratio for shares and rates, per second for throughput.",
    labels: OBJECTIVE_LABELS,
};
const OBJ_THRESHOLD: Family = Family {
    name: "slamon_objective_threshold",
    help: "The objective's threshold, in the unit of slamon_objective_value.",
    labels: OBJECTIVE_LABELS,
};
const OBJ_MET: Family = Family {
    name: "slamon_objective_met",
    help: "1 when the objective is met, 0 when breached; absent without data.",
    labels: OBJECTIVE_LABELS,
};

const FAMILIES: [&Family; 8] = [
    &LATENCY,
    &MAX,
    &ERRORS,
    &THROUGHPUT,
    &AVAILABILITY,
    &OBJ_VALUE,
    &OBJ_THRESHOLD,
    &OBJ_MET,
];

pub struct WindowCollector {
    snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Replaced on a config reload.
    objectives: watch::Receiver<Arc<Vec<Objective>>>,
    descs: Vec<Desc>,
}

impl WindowCollector {
    pub fn new(
        snapshot: watch::Receiver<Arc<Snapshot>>,
        objectives: watch::Receiver<Arc<Vec<Objective>>>,
    ) -> Result<Self, prometheus::Error> {
        let descs = FAMILIES
            .iter()
            .map(|f| {
                Desc::new(
                    f.name.into(),
                    f.help.into(),
                    f.labels.iter().map(|l| l.to_string()).collect(),
                    HashMap::new(),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(WindowCollector {
            snapshot,
            objectives,
            descs,
        })
    }
}

impl Collector for WindowCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snap = self.snapshot.borrow().clone();
        let mut out: HashMap<&'static str, Vec<Metric>> = HashMap::new();
        for s in &snap.series {
            for w in &s.windows {
                let labels = [&*s.monitor, &*s.endpoint, &window_label(w.length)];
                if !w.quantiles.is_empty() {
                    let mut summary = Summary::default();
                    summary.set_sample_count(w.counts.total);
                    summary.set_sample_sum(w.latency_sum_seconds());
                    let qs = QUANTILES
                        .iter()
                        .filter_map(|q| w.quantile(*q).map(|v| quantile(*q, v)))
                        .collect();
                    summary.set_quantile(qs);
                    let mut m = metric(&labels);
                    m.set_summary(summary);
                    out.entry(LATENCY.name).or_default().push(m);
                }
                push_gauge(&mut out, &MAX, &labels, w.max_seconds);
                push_gauge(&mut out, &ERRORS, &labels, w.error_ratio());
                push_gauge(&mut out, &AVAILABILITY, &labels, w.availability());
                push_gauge(&mut out, &THROUGHPUT, &labels, Some(w.throughput()));
            }
        }
        let objectives = self.objectives.borrow().clone();
        for (o, e) in sla::evaluate_all(&objectives, &snap) {
            let labels = [
                &*o.monitor,
                o.endpoint
                    .as_deref()
                    .unwrap_or(crate::window::ALL_ENDPOINTS),
                &*o.name,
                o.kind.type_name(),
                &window_label(o.window),
            ];
            push_gauge(&mut out, &OBJ_VALUE, &labels, e.value);
            push_gauge(&mut out, &OBJ_THRESHOLD, &labels, Some(e.threshold));
            push_gauge(
                &mut out,
                &OBJ_MET,
                &labels,
                e.met.map(|m| if m { 1.0 } else { 0.0 }),
            );
        }
        FAMILIES
            .iter()
            .filter_map(|f| {
                let metrics = out.remove(f.name)?;
                let mut mf = MetricFamily::default();
                mf.set_name(f.name.into());
                mf.set_help(f.help.into());
                mf.set_field_type(if f.name == LATENCY.name {
                    MetricType::SUMMARY
                } else {
                    MetricType::GAUGE
                });
                mf.set_metric(metrics);
                Some(mf)
            })
            .collect()
    }
}

fn push_gauge(
    out: &mut HashMap<&'static str, Vec<Metric>>,
    f: &Family,
    labels: &[&str],
    value: Option<f64>,
) {
    let Some(v) = value else { return };
    let mut g = Gauge::default();
    g.set_value(v);
    let mut m = metric(labels);
    m.set_gauge(g);
    out.entry(f.name).or_default().push(m);
}

fn metric(values: &[&str]) -> Metric {
    let names: &[&str] = if values.len() == 3 {
        WINDOW_LABELS
    } else {
        OBJECTIVE_LABELS
    };
    let pairs = names
        .iter()
        .zip(values)
        .map(|(n, v)| {
            let mut p = LabelPair::default();
            p.set_name(n.to_string());
            p.set_value(v.to_string());
            p
        })
        .collect();
    let mut m = Metric::default();
    m.set_label(pairs);
    m
}

fn quantile(q: f64, v: f64) -> Quantile {
    let mut x = Quantile::default();
    x.set_quantile(q);
    x.set_value(v);
    x
}
