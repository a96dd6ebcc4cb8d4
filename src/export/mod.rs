//! Stage 7, export: Prometheus `/metrics`, `/healthz` and `/readyz`.
//!
//! - In: samples (through [`Metrics::observe`], called by the window aggregator), run events
//!   from the scheduler, and the window snapshots on a `watch` channel.
//! - Out: the text exposition format on `GET /metrics`, valid for `promtool check metrics`.
//! - Owned by the HTTP server task; metrics are atomics or read from immutable snapshots, so a
//!   scrape never blocks the pipeline.
//! - Shutdown: the server stops last, after the runs and the aggregator, so the final numbers
//!   can still be scraped while the daemon drains.

pub mod api;
mod metrics;
mod server;
mod windows;

pub use metrics::{Metrics, buckets, unix_now, window_label};
pub use server::serve;
pub use windows::WindowCollector;
