//! Prints the memory held by one window for a few lengths and rates; the figures in
//! docs/architecture.md come from here: `cargo run --release --example window_memory`.

use slamon::sample::{Outcome, Sample};
use slamon::window::{SeriesPlan, Windows};
use std::time::Duration;
use tokio::time::Instant;
fn s(at: Instant, ms: u64) -> Sample {
    Sample {
        monitor: "m".into(),
        endpoint: "/e".into(),
        outcome: Outcome::Ok,
        status: Some(200),
        unavailable: false,
        latency: Duration::from_micros(ms),
        ttfb: None,
        at,
        message: None,
    }
}
fn main() {
    for (len, hist, rate_per_s) in [
        (300u64, true, 10u64),
        (300, true, 100),
        (30 * 86400, false, 1),
        (30 * 86400, true, 1),
    ] {
        let epoch = Instant::now();
        let plan = vec![SeriesPlan {
            monitor: "m".into(),
            endpoint: "/e".into(),
            windows: vec![(Duration::from_secs(len), hist)],
            thresholds: vec![Duration::from_millis(400)],
            extra_quantiles: vec![],
        }];
        let mut w = Windows::new(plan, epoch);
        let n = len * rate_per_s;
        let step = 1_000_000 / rate_per_s;
        let mut x: u64 = 12345;
        for i in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let us = 20_000 + (x >> 33) % 400_000;
            w.record(&s(epoch + Duration::from_micros(i * step), us));
        }
        println!(
            "window {len}s hist={hist} rate={rate_per_s}/s: {} KiB",
            w.approx_bytes() / 1024
        );
    }
}
