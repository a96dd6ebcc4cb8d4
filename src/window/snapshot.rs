//! Immutable views of the windows, published by the aggregator for readers.

use std::sync::Arc;
use std::time::Duration;

use super::ring::{Counts, Ring};

/// The quantiles every histogram window exports.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

/// The state of every series at one instant.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub series: Vec<SeriesStats>,
}

impl Snapshot {
    pub fn window(&self, monitor: &str, endpoint: &str, length: Duration) -> Option<&WindowStats> {
        self.series
            .iter()
            .find(|s| &*s.monitor == monitor && &*s.endpoint == endpoint)?
            .windows
            .iter()
            .find(|w| w.length == length)
    }
}

#[derive(Debug)]
pub struct SeriesStats {
    pub monitor: Arc<str>,
    /// An endpoint name, or [`super::ALL_ENDPOINTS`] for the monitor as a whole.
    pub endpoint: Arc<str>,
    pub windows: Vec<WindowStats>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WindowStats {
    pub length: Duration,
    /// How much of the window has been observed: shorter than `length` just after start.
    pub observed: Duration,
    pub counts: Counts,
    pub thresholds: Vec<Duration>,
    /// (quantile, seconds) for [`QUANTILES`] and the series' latency objectives; empty when the
    /// window keeps no histogram or holds no sample.
    pub quantiles: Vec<(f64, f64)>,
    pub max_seconds: Option<f64>,
}

impl WindowStats {
    pub fn from_ring(ring: &Ring, observed: Duration, extra_quantiles: &[f64]) -> Self {
        let counts = ring.counts();
        let (quantiles, max_seconds) = match ring.histogram() {
            Some(h) if !h.is_empty() => {
                let qs = QUANTILES
                    .iter()
                    .chain(extra_quantiles)
                    .map(|&q| (q, h.value_at_quantile(q) as f64 / 1e6))
                    .collect();
                (qs, Some(h.max() as f64 / 1e6))
            }
            _ => (Vec::new(), None),
        };
        WindowStats {
            length: ring.length,
            observed: observed.min(ring.length),
            counts,
            thresholds: ring.thresholds().to_vec(),
            quantiles,
            max_seconds,
        }
    }

    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles
            .iter()
            .find(|(x, _)| (*x - q).abs() < 1e-12)
            .map(|(_, v)| *v)
    }

    pub fn error_ratio(&self) -> Option<f64> {
        (self.counts.total > 0).then(|| self.counts.failed as f64 / self.counts.total as f64)
    }

    pub fn availability(&self) -> Option<f64> {
        (self.counts.total > 0)
            .then(|| 1.0 - self.counts.unavailable as f64 / self.counts.total as f64)
    }

    /// Requests per second over the observed part of the window.
    pub fn throughput(&self) -> f64 {
        let secs = self.observed.as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            self.counts.total as f64 / secs
        }
    }

    /// Share of requests that succeeded within `under`.
    pub fn good_ratio(&self, under: Duration) -> Option<f64> {
        let i = self.thresholds.iter().position(|t| *t == under)?;
        (self.counts.total > 0).then(|| self.counts.good[i] as f64 / self.counts.total as f64)
    }

    pub fn latency_sum_seconds(&self) -> f64 {
        self.counts.latency_sum_us as f64 / 1e6
    }
}
