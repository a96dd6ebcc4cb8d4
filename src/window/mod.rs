//! Stage 5, windows: samples in, sliding-window statistics out.
//!
//! - In: [`Sample`]s on a bounded channel from every run of every monitor.
//! - Out: an immutable [`Snapshot`] of every series' windows, published on a `watch` channel
//!   once per tick and when the input ends.
//! - A series is one endpoint of one monitor, plus one per monitor (endpoint
//!   [`ALL_ENDPOINTS`]) for the monitor as a whole. Each series keeps the display windows of
//!   `[server] windows` and the window of every objective on it. A window is a ring of 60 time
//!   buckets (see [`ring`]); windows that serve latency percentiles also keep an HdrHistogram
//!   (1 µs to 1 h, 3 significant digits), the others only counters, so a 30-day availability
//!   window costs kilobytes, not megabytes.
//! - Owned by one task ([`run`]): no lock on the hot path; readers get `Arc<Snapshot>`s.
//! - Shutdown: the task ends when every sender is gone (all runs finished), after publishing a
//!   last snapshot, so no sample is lost.

pub mod ring;
mod snapshot;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use ring::Counts;
pub use ring::SavedRing;
pub use snapshot::{QUANTILES, SeriesStats, Snapshot, WindowStats};

use crate::config::Config;
use crate::config::model::ObjectiveKind;
use crate::sample::Sample;
use ring::Ring;

/// The endpoint label of a monitor's whole-monitor series.
pub const ALL_ENDPOINTS: &str = "*";

/// Which windows, thresholds and quantiles one series keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesPlan {
    pub monitor: Arc<str>,
    pub endpoint: Arc<str>,
    /// (length, keeps a histogram)
    pub windows: Vec<(Duration, bool)>,
    pub thresholds: Vec<Duration>,
    pub extra_quantiles: Vec<f64>,
}

/// Every series of a config.
pub fn plan(config: &Config) -> Vec<SeriesPlan> {
    let mut plans = Vec::new();
    for m in &config.monitors {
        let endpoints = m
            .endpoints()
            .into_iter()
            .chain(std::iter::once(Arc::from(ALL_ENDPOINTS)));
        for endpoint in endpoints {
            let mut p = SeriesPlan {
                monitor: m.name.clone(),
                endpoint: endpoint.clone(),
                windows: config.server.windows.iter().map(|w| (*w, true)).collect(),
                thresholds: Vec::new(),
                extra_quantiles: Vec::new(),
            };
            let target = (&*endpoint != ALL_ENDPOINTS).then_some(endpoint.clone());
            for o in config
                .objectives
                .iter()
                .filter(|o| o.monitor == m.name && o.endpoint == target)
            {
                add_objective(&mut p, o.window, &o.kind);
                add_budget(&mut p, o);
            }
            plans.push(p);
        }
    }
    plans
}

/// An error budget needs its period and every burn-rate window, counters only, and the
/// "good" counter of a latency bound.
fn add_budget(p: &mut SeriesPlan, o: &crate::config::model::Objective) {
    let Some(b) = &o.alert.budget else { return };
    let windows =
        std::iter::once(b.period).chain(b.burn_rates.iter().flat_map(|r| [r.long, r.short]));
    for w in windows {
        if !p.windows.iter().any(|(x, _)| *x == w) {
            p.windows.push((w, false));
        }
    }
    if let Some(t) = o.good_threshold() {
        if !p.thresholds.contains(&t) {
            p.thresholds.push(t);
        }
    }
}

fn add_objective(p: &mut SeriesPlan, window: Duration, kind: &ObjectiveKind) {
    let needs_hist = matches!(kind, ObjectiveKind::Latency { .. });
    match p.windows.iter_mut().find(|(w, _)| *w == window) {
        Some(entry) => entry.1 |= needs_hist,
        None => p.windows.push((window, needs_hist)),
    }
    match kind {
        ObjectiveKind::Latency { percentile, .. } => {
            let q = percentile / 100.0;
            if !QUANTILES.contains(&q) && !p.extra_quantiles.contains(&q) {
                p.extra_quantiles.push(q);
            }
        }
        ObjectiveKind::LatencyShare { under, .. } if !p.thresholds.contains(under) => {
            p.thresholds.push(*under)
        }
        _ => {}
    }
}

struct Series {
    plan: SeriesPlan,
    rings: Vec<Ring>,
}

/// All series' windows. Owned by the aggregator task, or by `slamon once` directly.
pub struct Windows {
    series: HashMap<(Arc<str>, Arc<str>), Series>,
    order: Vec<(Arc<str>, Arc<str>)>,
    epoch: Instant,
    /// The wall clock at `epoch`, to save buckets by their real time.
    epoch_wall_ms: i64,
    /// How far before `epoch` restored data reaches: it counts as observed time.
    restored: Duration,
}

/// Every window of every series, as the state store keeps them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SavedWindows {
    /// When they were saved, Unix milliseconds.
    #[serde(default)]
    pub saved_at_ms: i64,
    pub series: Vec<SavedSeries>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedSeries {
    pub monitor: String,
    pub endpoint: String,
    pub windows: Vec<ring::SavedRing>,
}

impl Windows {
    pub fn new(plans: Vec<SeriesPlan>, epoch: Instant) -> Self {
        let mut series = HashMap::new();
        let mut order = Vec::new();
        for p in plans {
            let rings = p
                .windows
                .iter()
                .map(|(len, hist)| Ring::new(*len, *hist, p.thresholds.clone()))
                .collect();
            let key = (p.monitor.clone(), p.endpoint.clone());
            order.push(key.clone());
            series.insert(key, Series { plan: p, rings });
        }
        Windows {
            series,
            order,
            epoch,
            epoch_wall_ms: chrono::Utc::now().timestamp_millis(),
            restored: Duration::ZERO,
        }
    }

    /// Everything, with wall-clock bucket times, for the state store.
    pub fn save(&self) -> SavedWindows {
        let series = self
            .order
            .iter()
            .filter_map(|k| {
                let s = self.series.get(k)?;
                Some(SavedSeries {
                    monitor: k.0.to_string(),
                    endpoint: k.1.to_string(),
                    windows: s.rings.iter().map(|r| r.save(self.epoch_wall_ms)).collect(),
                })
            })
            .collect();
        SavedWindows {
            saved_at_ms: chrono::Utc::now().timestamp_millis(),
            series,
        }
    }

    /// Takes back what a previous process saved, into every window that is still planned the
    /// same way; the rest is dropped. Returns how many windows were restored.
    pub fn restore(&mut self, saved: &SavedWindows) -> usize {
        let mut restored = 0;
        let mut oldest = saved.saved_at_ms;
        for s in &saved.series {
            let key: (Arc<str>, Arc<str>) = (s.monitor.as_str().into(), s.endpoint.as_str().into());
            let Some(series) = self.series.get_mut(&key) else {
                continue;
            };
            for saved_ring in &s.windows {
                if let Some(ring) = series.rings.iter_mut().find(|r| r.matches(saved_ring)) {
                    ring.restore(saved_ring, self.epoch_wall_ms);
                    restored += 1;
                    if let Some(first) = saved_ring.buckets.first() {
                        oldest = oldest.min(first.start_ms);
                    }
                }
            }
        }
        // Only the span the previous process observed counts as observed, not the time slamon
        // was down: its own downtime is no evidence of a low throughput.
        self.restored =
            Duration::from_millis(saved.saved_at_ms.saturating_sub(oldest).max(0) as u64);
        restored
    }

    pub fn record(&mut self, s: &Sample) {
        let since = s.at.saturating_duration_since(self.epoch);
        for endpoint in [s.endpoint.clone(), Arc::from(ALL_ENDPOINTS)] {
            if let Some(series) = self.series.get_mut(&(s.monitor.clone(), endpoint)) {
                for ring in &mut series.rings {
                    ring.record(s, since);
                }
            }
        }
    }

    /// Slides every window to `now` and returns their statistics.
    pub fn snapshot(&mut self, now: Instant) -> Snapshot {
        let since = now.saturating_duration_since(self.epoch);
        let mut out = Vec::with_capacity(self.order.len());
        for key in &self.order {
            let Some(series) = self.series.get_mut(key) else {
                continue;
            };
            let windows = series
                .rings
                .iter_mut()
                .map(|r| {
                    r.advance_to(since);
                    WindowStats::from_ring(r, since + self.restored, &series.plan.extra_quantiles)
                })
                .collect();
            out.push(SeriesStats {
                monitor: key.0.clone(),
                endpoint: key.1.clone(),
                windows,
            });
        }
        Snapshot { series: out }
    }

    /// Switches to new plans, keeping every window whose series, length, histogram choice and
    /// thresholds are unchanged, with its data: a reload that does not touch a monitor does
    /// not reset its percentiles.
    pub fn replan(&mut self, plans: Vec<SeriesPlan>) {
        let mut old = std::mem::take(&mut self.series);
        self.order.clear();
        for p in plans {
            let key = (p.monitor.clone(), p.endpoint.clone());
            let mut kept = old
                .remove(&key)
                .filter(|s| s.plan.thresholds == p.thresholds)
                .map(|s| s.rings)
                .unwrap_or_default();
            let rings = p
                .windows
                .iter()
                .map(|(len, hist)| {
                    match kept
                        .iter()
                        .position(|r| r.length == *len && r.histogram().is_some() == *hist)
                    {
                        Some(i) => kept.swap_remove(i),
                        None => Ring::new(*len, *hist, p.thresholds.clone()),
                    }
                })
                .collect();
            self.order.push(key.clone());
            self.series.insert(key, Series { plan: p, rings });
        }
    }

    /// Approximate bytes held by all windows.
    pub fn approx_bytes(&self) -> usize {
        self.series
            .values()
            .flat_map(|s| s.rings.iter())
            .map(Ring::approx_bytes)
            .sum()
    }
}

/// The aggregator task: folds samples into windows, calls `observe` on each (for cumulative
/// metrics), publishes a snapshot every `tick`, hands a copy to `persist` every `save_every`,
/// and returns the windows once every sender is gone, for a last save.
///
/// A new plan on `replans` (after a config reload) replaces the series; see [`Windows::replan`].
#[allow(clippy::too_many_arguments)]
pub async fn run(
    mut windows: Windows,
    mut samples: mpsc::Receiver<Sample>,
    publish: watch::Sender<Arc<Snapshot>>,
    observe: impl Fn(&Sample) + Send,
    tick: Duration,
    mut replans: mpsc::Receiver<Vec<SeriesPlan>>,
    save_every: Duration,
    persist: impl Fn(SavedWindows) + Send,
) -> Windows {
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut saver = tokio::time::interval_at(Instant::now() + save_every, save_every);
    saver.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(plans) = replans.recv() => {
                windows.replan(plans);
                publish.send_replace(Arc::new(windows.snapshot(Instant::now())));
            }
            sample = samples.recv() => match sample {
                Some(s) => {
                    windows.record(&s);
                    observe(&s);
                }
                None => break,
            },
            _ = ticker.tick() => {
                publish.send_replace(Arc::new(windows.snapshot(Instant::now())));
            }
            _ = saver.tick() => persist(windows.save()),
        }
    }
    publish.send_replace(Arc::new(windows.snapshot(Instant::now())));
    windows
}

#[cfg(test)]
mod tests;
