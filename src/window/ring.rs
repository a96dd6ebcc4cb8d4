//! One sliding window of one series: a ring of time buckets.
//!
//! Each bucket holds counters and, when the window keeps latencies, the latencies recorded in
//! it as sparse (value, count) pairs. The window's merged HdrHistogram is kept up to date on
//! every sample and rebuilt from the buckets that remain when the oldest bucket slides out, so
//! a query never walks the buckets and the maximum is always the maximum of what is in view.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::sample::{Outcome, Sample};

/// Buckets per window: the window slides in steps of 1/60 of its length.
pub const BUCKETS: u32 = 60;
/// Latencies are recorded in microseconds, from 1 µs to one hour, to 3 significant digits.
pub const LOWEST_US: u64 = 1;
pub const HIGHEST_US: u64 = 3_600_000_000;
pub const SIGFIG: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG)
        .expect("constant histogram bounds are valid")
}

pub fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(LOWEST_US, HIGHEST_US)
}

/// Counters of one bucket (or of a whole window, when merged).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub total: u64,
    pub failed: u64,
    pub unavailable: u64,
    pub by_outcome: [u64; Outcome::ALL.len()],
    /// Per latency threshold of the series: successful requests at or under it.
    pub good: Vec<u64>,
    pub latency_sum_us: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.total += other.total;
        self.failed += other.failed;
        self.unavailable += other.unavailable;
        for (a, b) in self.by_outcome.iter_mut().zip(other.by_outcome.iter()) {
            *a += b;
        }
        if self.good.len() < other.good.len() {
            self.good.resize(other.good.len(), 0);
        }
        for (a, b) in self.good.iter_mut().zip(other.good.iter()) {
            *a += b;
        }
        self.latency_sum_us += other.latency_sum_us;
    }
}

/// Far from both ends of `u64`: about 4 billion buckets of room before the epoch.
const INDEX_BASE: u64 = 1 << 32;

/// A window as the state store keeps it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedRing {
    pub length_ms: u64,
    pub histogram: bool,
    pub thresholds_ms: Vec<u64>,
    pub buckets: Vec<SavedBucket>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedBucket {
    /// Wall-clock start of the bucket, Unix milliseconds.
    pub start_ms: i64,
    pub counts: Counts,
    pub latencies: Vec<(u64, u64)>,
}

struct Bucket {
    index: u64,
    counts: Counts,
    /// Latency bin (highest equivalent value) -> count.
    latencies: BTreeMap<u64, u64>,
}

pub struct Ring {
    pub length: Duration,
    width: Duration,
    buckets: VecDeque<Bucket>,
    merged: Option<Histogram<u64>>,
    thresholds: Vec<Duration>,
}

impl Ring {
    /// A window of `length`; `latencies` says whether it keeps a histogram, which a window that
    /// only serves ratio objectives does not need.
    pub fn new(length: Duration, latencies: bool, thresholds: Vec<Duration>) -> Self {
        let width = (length / BUCKETS).max(Duration::from_secs(1));
        Ring {
            length,
            width,
            buckets: VecDeque::new(),
            merged: latencies.then(new_histogram),
            thresholds,
        }
    }

    fn slots(&self) -> u64 {
        self.length.as_nanos().div_ceil(self.width.as_nanos()) as u64
    }

    /// Adds a sample that completed `since_epoch` after the aggregator's epoch.
    pub fn record(&mut self, s: &Sample, since_epoch: Duration) {
        let index = self.index_of(since_epoch);
        self.advance(index);
        if self.buckets.back().is_none_or(|b| b.index < index) {
            let counts = Counts {
                good: vec![0; self.thresholds.len()],
                ..Counts::default()
            };
            self.buckets.push_back(Bucket {
                index,
                counts,
                latencies: BTreeMap::new(),
            });
        }
        let thresholds = &self.thresholds;
        // A late sample (older than the newest bucket) goes to the bucket it belongs to if
        // that is still in view.
        let Some(bucket) = self.buckets.iter_mut().rev().find(|b| b.index <= index) else {
            return;
        };
        let c = &mut bucket.counts;
        c.total += 1;
        c.by_outcome[s.outcome.index()] += 1;
        c.failed += u64::from(!s.outcome.is_ok());
        c.unavailable += u64::from(s.unavailable);
        c.latency_sum_us += micros(s.latency);
        for (good, t) in c.good.iter_mut().zip(thresholds) {
            *good += u64::from(s.outcome.is_ok() && s.latency <= *t);
        }
        if let Some(h) = &mut self.merged {
            let us = micros(s.latency);
            h.saturating_record(us);
            *bucket
                .latencies
                .entry(h.highest_equivalent(us))
                .or_default() += 1;
        }
    }

    /// Drops the buckets that slid out of view at bucket `index`.
    pub fn advance(&mut self, index: u64) {
        let oldest_kept = index.saturating_sub(self.slots() - 1);
        let before = self.buckets.len();
        while self.buckets.front().is_some_and(|b| b.index < oldest_kept) {
            self.buckets.pop_front();
        }
        if self.buckets.len() != before {
            self.rebuild();
        }
    }

    pub fn advance_to(&mut self, since_epoch: Duration) {
        self.advance(self.index_of(since_epoch));
    }

    fn rebuild(&mut self) {
        let Some(h) = &mut self.merged else { return };
        h.reset();
        for b in &self.buckets {
            for (&v, &n) in &b.latencies {
                h.saturating_record_n(v, n);
            }
        }
    }

    pub fn counts(&self) -> Counts {
        let mut total = Counts {
            good: vec![0; self.thresholds.len()],
            ..Counts::default()
        };
        for b in &self.buckets {
            total.add(&b.counts);
        }
        total
    }

    pub fn histogram(&self) -> Option<&Histogram<u64>> {
        self.merged.as_ref()
    }

    pub fn thresholds(&self) -> &[Duration] {
        &self.thresholds
    }

    /// Bucket indexes start far from zero so that buckets restored from before this process
    /// started (a restart) still have an index.
    fn index_of(&self, since_epoch: Duration) -> u64 {
        INDEX_BASE + (since_epoch.as_nanos() / self.width.as_nanos()) as u64
    }

    /// The buckets with their wall-clock start, for the state store.
    pub fn save(&self, epoch_wall_ms: i64) -> SavedRing {
        let width_ms = self.width.as_millis() as i64;
        let buckets = self
            .buckets
            .iter()
            .map(|b| SavedBucket {
                start_ms: epoch_wall_ms + (b.index as i64 - INDEX_BASE as i64) * width_ms,
                counts: b.counts.clone(),
                latencies: b.latencies.iter().map(|(v, n)| (*v, *n)).collect(),
            })
            .collect();
        SavedRing {
            length_ms: self.length.as_millis() as u64,
            histogram: self.merged.is_some(),
            thresholds_ms: self
                .thresholds
                .iter()
                .map(|t| t.as_millis() as u64)
                .collect(),
            buckets,
        }
    }

    /// Takes back saved buckets, placed by their wall-clock start relative to this process's
    /// epoch; those already out of view are dropped when the ring next advances.
    pub fn restore(&mut self, saved: &SavedRing, epoch_wall_ms: i64) {
        let width_ms = self.width.as_millis() as i64;
        for b in &saved.buckets {
            let offset = (b.start_ms - epoch_wall_ms).div_euclid(width_ms.max(1));
            let Ok(index) = u64::try_from(INDEX_BASE as i64 + offset) else {
                continue;
            };
            if self.buckets.iter().any(|x| x.index == index)
                || b.counts.good.len() != self.thresholds.len()
            {
                continue;
            }
            let pos = self
                .buckets
                .iter()
                .position(|x| x.index > index)
                .unwrap_or(self.buckets.len());
            self.buckets.insert(
                pos,
                Bucket {
                    index,
                    counts: b.counts.clone(),
                    latencies: b.latencies.iter().copied().collect(),
                },
            );
        }
        self.rebuild();
    }

    /// Whether `saved` was this window: same length, histogram choice and thresholds.
    pub fn matches(&self, saved: &SavedRing) -> bool {
        saved.length_ms == self.length.as_millis() as u64
            && saved.histogram == self.merged.is_some()
            && saved.thresholds_ms
                == self
                    .thresholds
                    .iter()
                    .map(|t| t.as_millis() as u64)
                    .collect::<Vec<_>>()
    }

    /// Bytes held, for the memory figures in docs/architecture.md.
    pub fn approx_bytes(&self) -> usize {
        let hist = self.merged.as_ref().map_or(0, |h| h.distinct_values() * 8);
        let per_bucket = std::mem::size_of::<Bucket>() + self.thresholds.len() * 8;
        let entries: usize = self.buckets.iter().map(|b| b.latencies.len()).sum();
        hist + self.buckets.len() * per_bucket + entries * 40
    }
}
