//! The report of a `slamon once` run: a table for people, JSON for machines.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::config::Config;
use crate::load::RunTotals;
use crate::sample::Outcome;
use crate::sla::{Evaluation, describe, evaluate_all};
use crate::window::{ALL_ENDPOINTS, Snapshot, WindowStats};

pub struct Report {
    pub rows: Vec<Row>,
    pub objectives: Vec<ObjectiveRow>,
    pub totals: Vec<(Arc<str>, RunTotals)>,
    pub failures: Vec<(Arc<str>, Arc<str>, &'static str, String)>,
    pub elapsed: Duration,
}

pub struct Row {
    pub monitor: Arc<str>,
    pub endpoint: Arc<str>,
    pub stats: WindowStats,
}

pub struct ObjectiveRow {
    pub name: Arc<str>,
    pub monitor: Arc<str>,
    pub endpoint: Option<Arc<str>>,
    pub description: String,
    pub latency: bool,
    pub requests: u64,
    pub min_requests: u64,
    pub eval: Evaluation,
}

impl Report {
    pub fn new(
        config: &Config,
        snapshot: &Snapshot,
        totals: &[(Arc<str>, RunTotals)],
        failures: &[(Arc<str>, Arc<str>, &'static str, String)],
        elapsed: Duration,
    ) -> Self {
        let rows = snapshot
            .series
            .iter()
            .filter_map(|s| {
                Some(Row {
                    monitor: s.monitor.clone(),
                    endpoint: s.endpoint.clone(),
                    stats: s.windows.first()?.clone(),
                })
            })
            .collect();
        let run_objectives = super::once::run_objectives(&config.objectives);
        let objectives = evaluate_all(&run_objectives, snapshot)
            .into_iter()
            .map(|(o, mut eval)| {
                let endpoint = o.endpoint.as_deref().unwrap_or(ALL_ENDPOINTS);
                let requests = snapshot
                    .window(&o.monitor, endpoint, o.window)
                    .map_or(0, |w| w.counts.total);
                // Too few requests to judge: no verdict, as the alert engine would say no_data.
                if requests < o.alert.min_requests {
                    eval.met = None;
                }
                ObjectiveRow {
                    name: o.name.clone(),
                    monitor: o.monitor.clone(),
                    endpoint: o.endpoint.clone(),
                    description: describe(&o.kind),
                    latency: matches!(o.kind, crate::config::model::ObjectiveKind::Latency { .. }),
                    requests,
                    min_requests: o.alert.min_requests,
                    eval,
                }
            })
            .collect();
        Report {
            rows,
            objectives,
            totals: totals.to_vec(),
            failures: failures.to_vec(),
            elapsed,
        }
    }

    /// Every objective met; one without data fails.
    pub fn gate_passed(&self) -> bool {
        self.objectives.iter().all(|o| o.eval.met == Some(true))
    }

    pub fn to_json(&self) -> String {
        let endpoints: Vec<_> = self
            .rows
            .iter()
            .map(|r| {
                let w = &r.stats;
                let failures: serde_json::Map<String, serde_json::Value> = Outcome::ALL
                    .iter()
                    .filter(|o| !o.is_ok() && w.counts.by_outcome[o.index()] > 0)
                    .map(|o| (o.as_str().to_string(), json!(w.counts.by_outcome[o.index()])))
                    .collect();
                json!({
                    "monitor": &*r.monitor,
                    "endpoint": &*r.endpoint,
                    "requests": w.counts.total,
                    "failures": w.counts.failed,
                    "failures_by_kind": failures,
                    "rate_per_second": w.throughput(),
                    "latency_seconds": {
                        "p50": w.quantile(0.5), "p90": w.quantile(0.9), "p95": w.quantile(0.95), "p99": w.quantile(0.99), "max": w.max_seconds,
                    },
                })
            })
            .collect();
        let objectives: Vec<_> = self
            .objectives
            .iter()
            .map(|o| json!({
                "name": &*o.name, "monitor": &*o.monitor, "endpoint": o.endpoint.as_deref(),
                "objective": o.description, "value": o.eval.value, "threshold": o.eval.threshold, "met": o.eval.met,
                "requests": o.requests, "min_requests": o.min_requests,
            }))
            .collect();
        let runs: Vec<_> = self.totals.iter().map(|(m, t)| json!({"monitor": &**m, "iterations": t.iterations, "dropped_iterations": t.dropped})).collect();
        let doc = json!({
            "passed": self.gate_passed(),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "runs": runs,
            "endpoints": endpoints,
            "objectives": objectives,
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |s| format!("{:.1}", s * 1000.0))
}

pub fn print_report(r: &Report) {
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "ENDPOINT", "REQS", "FAILS", "RATE/s", "P50 ms", "P90 ms", "P95 ms", "P99 ms", "MAX ms"
    );
    for row in &r.rows {
        let w = &row.stats;
        let name = if &*row.endpoint == ALL_ENDPOINTS {
            format!("{} (all)", row.monitor)
        } else {
            format!("  {}", row.endpoint)
        };
        println!(
            "{:<44} {:>8} {:>8} {:>8.2} {:>9} {:>9} {:>9} {:>9} {:>9}",
            name,
            w.counts.total,
            w.counts.failed,
            w.throughput(),
            ms(w.quantile(0.5)),
            ms(w.quantile(0.9)),
            ms(w.quantile(0.95)),
            ms(w.quantile(0.99)),
            ms(w.max_seconds)
        );
    }
    for (monitor, totals) in &r.totals {
        if totals.dropped > 0 {
            println!(
                "{monitor}: {} iterations dropped (every slot was busy when they were due)",
                totals.dropped
            );
        }
    }
    print_failures(r);
    if r.objectives.is_empty() {
        return;
    }
    println!("\nOBJECTIVES");
    for o in &r.objectives {
        let verdict = match o.eval.met {
            Some(true) => "MET",
            Some(false) => "BREACHED",
            None => "NO DATA",
        };
        let verdict = if o.eval.met.is_none() && o.requests > 0 {
            "TOO FEW"
        } else {
            verdict
        };
        let observed = match o.eval.value {
            None => "no requests".to_string(),
            Some(v) if o.latency => format!("{:.1} ms", v * 1000.0),
            Some(v) if o.description.starts_with("throughput") => format!("{v:.2}/s"),
            Some(v) => format!("{:.3}%", v * 100.0),
        };
        let target = o
            .endpoint
            .as_deref()
            .map_or(o.monitor.to_string(), |e| format!("{} {e}", o.monitor));
        let judged = if o.requests < o.min_requests {
            format!(
                "{} requests, {} needed to judge",
                o.requests, o.min_requests
            )
        } else {
            format!("observed {observed}")
        };
        println!(
            "  {verdict:<9} {}: {} on {target} ({judged})",
            o.name, o.description
        );
    }
    println!(
        "\n{}",
        if r.gate_passed() {
            "SLA gate passed."
        } else {
            "SLA gate FAILED."
        }
    );
}

fn print_failures(r: &Report) {
    let mut printed = false;
    for row in r.rows.iter().filter(|row| &*row.endpoint != ALL_ENDPOINTS) {
        let kinds: Vec<String> = Outcome::ALL
            .iter()
            .filter(|o| !o.is_ok() && row.stats.counts.by_outcome[o.index()] > 0)
            .map(|o| {
                let n = row.stats.counts.by_outcome[o.index()];
                let example = r.failures.iter().find(|(m, e, k, _)| {
                    *m == row.monitor && *e == row.endpoint && *k == o.as_str()
                });
                match example {
                    Some((_, _, _, msg)) => format!("{n} {} (e.g. {msg})", o.as_str()),
                    None => format!("{n} {}", o.as_str()),
                }
            })
            .collect();
        if kinds.is_empty() {
            continue;
        }
        if !printed {
            println!("\nFAILURES");
            printed = true;
        }
        println!("  {} {}: {}", row.monitor, row.endpoint, kinds.join("; "));
    }
}
