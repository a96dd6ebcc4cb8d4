//! Every metric slamon exports, named in one place.
//!
//! Counters and the cumulative latency histogram are live `prometheus` types updated per
//! sample. The window families (quantiles, maximum, error ratio, throughput, objectives) are
//! produced at scrape time from the latest window snapshot by [`super::windows::WindowCollector`].
//! Labels come from a fixed set: `monitor`, `endpoint`, `outcome`, `window`, `quantile`,
//! `objective`, `type`; every value of each is bounded by the config.

use std::time::Duration;

use prometheus::{Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::config::Config;
use crate::config::model::{Check, ObjectiveKind};
use crate::sample::Sample;

/// Buckets every histogram has, in seconds; the config's latency thresholds are added to them.
const BASE_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub runs_started: IntCounterVec,
    pub runs_skipped: IntCounterVec,
    pub runs_finished: IntCounterVec,
    pub last_run: GaugeVec,
    pub dropped: IntCounterVec,
    /// 1 when the last config reload succeeded (or none was tried), 0 when it was rejected.
    pub reload_ok: Gauge,
    pub reload_time: Gauge,
}

impl Metrics {
    pub fn new(config: &Config) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let requests = counter(
            "slamon_requests_total",
            "Requests sent, by how they ended.",
            &["monitor", "endpoint", "outcome"],
        )?;
        let runs_started = counter(
            "slamon_runs_started_total",
            "Runs of a monitor that started.",
            &["monitor"],
        )?;
        let runs_skipped = counter(
            "slamon_runs_skipped_total",
            "Scheduled runs skipped because the previous run of the monitor was still going.",
            &["monitor"],
        )?;
        let runs_finished = counter(
            "slamon_runs_finished_total",
            "Runs of a monitor that finished.",
            &["monitor"],
        )?;
        let dropped = counter(
            "slamon_dropped_iterations_total",
            "Open-model iterations that were due while every slot was busy, so never started.",
            &["monitor"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("slamon_request_duration_seconds", "Request latency: from the intended start (open model) or the actual start (closed model) to the last byte.")
                .buckets(buckets(config)),
            &["monitor", "endpoint"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        let last_run = GaugeVec::new(
            Opts::new(
                "slamon_last_run_timestamp_seconds",
                "When the last run of the monitor finished, as a Unix time.",
            ),
            &["monitor"],
        )?;
        registry.register(Box::new(last_run.clone()))?;
        let reload_ok = Gauge::new(
            "slamon_config_last_reload_successful",
            "1 when the last config reload succeeded, 0 when the new config was rejected and the old one kept running.",
        )?;
        let reload_time = Gauge::new(
            "slamon_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully, as a Unix time.",
        )?;
        registry.register(Box::new(reload_ok.clone()))?;
        registry.register(Box::new(reload_time.clone()))?;
        reload_ok.set(1.0);
        reload_time.set(unix_now());
        let m = Metrics {
            registry,
            requests,
            duration,
            runs_started,
            runs_skipped,
            runs_finished,
            last_run,
            dropped,
            reload_ok,
            reload_time,
        };
        m.initialize(config);
        Ok(m)
    }

    /// Creates every series at zero, so `rate()` and absent-series alerts work from the start.
    pub fn initialize(&self, config: &Config) {
        for monitor in &config.monitors {
            let name = &*monitor.name;
            for c in [
                &self.runs_started,
                &self.runs_skipped,
                &self.runs_finished,
                &self.dropped,
            ] {
                c.with_label_values(&[name]);
            }
            for endpoint in monitor.endpoints() {
                self.duration.with_label_values(&[name, &*endpoint]);
                self.requests.with_label_values(&[name, &*endpoint, "ok"]);
            }
        }
    }

    pub fn observe(&self, s: &Sample) {
        self.requests
            .with_label_values(&[&*s.monitor, &*s.endpoint, s.outcome.as_str()])
            .inc();
        self.duration
            .with_label_values(&[&*s.monitor, &*s.endpoint])
            .observe(s.latency.as_secs_f64());
    }
}

/// The base buckets plus every latency threshold of the config, so that Prometheus can compute
/// the share of requests under each threshold exactly from the histogram.
pub fn buckets(config: &Config) -> Vec<f64> {
    let mut b: Vec<f64> = BASE_BUCKETS.to_vec();
    let mut add = |d: Duration| b.push(d.as_secs_f64());
    for o in &config.objectives {
        match o.kind {
            ObjectiveKind::Latency { below, .. } => add(below),
            ObjectiveKind::LatencyShare { under, .. } => add(under),
            _ => {}
        }
    }
    for m in &config.monitors {
        for step in m
            .setup
            .iter()
            .chain(m.tasks.iter().flat_map(|t| t.steps.iter()))
        {
            for c in &step.checks {
                if let Check::LatencyBelow(d) = c {
                    add(*d);
                }
            }
        }
    }
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// A window length as a label value: `30s`, `5m`, `1h`, `30d`.
pub fn window_label(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        _ if s % 86400 == 0 => format!("{}d", s / 86400),
        _ if s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
