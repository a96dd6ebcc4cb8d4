use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::sample::{Outcome, Sample};

fn sample(at: Instant, ms: u64, outcome: Outcome) -> Sample {
    Sample {
        monitor: "m".into(),
        endpoint: "/e".into(),
        outcome,
        status: Some(200),
        unavailable: outcome == Outcome::Connect,
        latency: Duration::from_millis(ms),
        ttfb: None,
        at,
        message: None,
    }
}

fn plan(windows: Vec<(Duration, bool)>, thresholds: Vec<Duration>) -> Vec<SeriesPlan> {
    vec![SeriesPlan {
        monitor: "m".into(),
        endpoint: "/e".into(),
        windows,
        thresholds,
        extra_quantiles: vec![0.999],
    }]
}

#[tokio::test(start_paused = true)]
async fn percentiles_match_known_answers() {
    let epoch = Instant::now();
    let mut w = Windows::new(
        plan(
            vec![(Duration::from_secs(300), true)],
            vec![Duration::from_millis(400)],
        ),
        epoch,
    );
    // 1..=1000 ms, one each: the q-quantile is q * 1000 ms.
    for ms in 1..=1000 {
        w.record(&sample(epoch, ms, Outcome::Ok));
    }
    let snap = w.snapshot(epoch + Duration::from_secs(1));
    let ws = snap.window("m", "/e", Duration::from_secs(300)).unwrap();
    for (q, expected) in [
        (0.5, 0.5),
        (0.9, 0.9),
        (0.95, 0.95),
        (0.99, 0.99),
        (0.999, 0.999),
    ] {
        let got = ws.quantile(q).unwrap();
        assert!(
            (got - expected).abs() <= expected * 0.001,
            "q{q}: {got} vs {expected}"
        );
    }
    assert!((ws.max_seconds.unwrap() - 1.0).abs() <= 0.001);
    assert_eq!(ws.counts.total, 1000);
    assert_eq!(ws.good_ratio(Duration::from_millis(400)), Some(0.4));
    assert!((ws.latency_sum_seconds() - 500.5).abs() < 1e-6);
    // One second observed: 1000 requests per second.
    assert!((ws.throughput() - 1000.0).abs() < 1e-9);
}

#[tokio::test(start_paused = true)]
async fn old_buckets_slide_out_and_take_their_maximum_with_them() {
    let epoch = Instant::now();
    let len = Duration::from_secs(60);
    let mut w = Windows::new(plan(vec![(len, true)], vec![]), epoch);
    w.record(&sample(epoch, 900, Outcome::Connect));
    w.record(&sample(epoch + Duration::from_secs(30), 100, Outcome::Ok));
    let snap = w.snapshot(epoch + Duration::from_secs(59));
    let ws = snap.window("m", "/e", len).unwrap();
    assert_eq!(
        (ws.counts.total, ws.counts.failed, ws.counts.unavailable),
        (2, 1, 1)
    );
    assert_eq!(ws.error_ratio(), Some(0.5));
    assert_eq!(ws.availability(), Some(0.5));
    // At 60 s the first bucket [0 s, 1 s) is out of view.
    let snap = w.snapshot(epoch + Duration::from_secs(60));
    let ws = snap.window("m", "/e", len).unwrap();
    assert_eq!(ws.counts.total, 1);
    assert!((ws.max_seconds.unwrap() - 0.1).abs() < 0.001);
    assert_eq!(ws.error_ratio(), Some(0.0));
    let snap = w.snapshot(epoch + Duration::from_secs(95));
    let ws = snap.window("m", "/e", len).unwrap();
    assert_eq!(ws.counts.total, 0);
    assert_eq!(ws.max_seconds, None);
    assert_eq!(ws.error_ratio(), None);
}

#[tokio::test(start_paused = true)]
async fn the_monitor_series_sums_its_endpoints() {
    let epoch = Instant::now();
    let mut plans = plan(vec![(Duration::from_secs(60), true)], vec![]);
    plans.push(SeriesPlan {
        endpoint: Arc::from(ALL_ENDPOINTS),
        ..plans[0].clone()
    });
    let mut w = Windows::new(plans, epoch);
    w.record(&sample(epoch, 5, Outcome::Ok));
    let mut other = sample(epoch, 7, Outcome::HttpStatus);
    other.endpoint = "/not-planned".into();
    w.record(&other);
    let snap = w.snapshot(epoch);
    assert_eq!(
        snap.window("m", "/e", Duration::from_secs(60))
            .unwrap()
            .counts
            .total,
        1
    );
    assert_eq!(
        snap.window("m", ALL_ENDPOINTS, Duration::from_secs(60))
            .unwrap()
            .counts
            .total,
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_month_of_availability_costs_kilobytes() {
    let epoch = Instant::now();
    let month = Duration::from_secs(30 * 86400);
    let mut w = Windows::new(plan(vec![(month, false)], vec![]), epoch);
    // One request every 10 s for 30 days.
    for i in 0..(30 * 8640) {
        w.record(&sample(
            epoch + Duration::from_secs(i * 10),
            20 + (i % 50),
            Outcome::Ok,
        ));
    }
    assert!(w.approx_bytes() < 64 * 1024, "{} bytes", w.approx_bytes());
    let snap = w.snapshot(epoch + month - Duration::from_secs(1));
    assert_eq!(
        snap.window("m", "/e", month).unwrap().counts.total,
        30 * 8640
    );
}

#[tokio::test(start_paused = true)]
async fn five_minutes_of_latencies_stay_bounded() {
    let epoch = Instant::now();
    let len = Duration::from_secs(300);
    let mut w = Windows::new(plan(vec![(len, true)], vec![]), epoch);
    // 100 requests per second for an hour, latencies spread over 1 ms .. 2 s.
    for i in 0..360_000u64 {
        let ms = 1 + (i * 7919) % 2000;
        w.record(&sample(
            epoch + Duration::from_millis(i * 10),
            ms,
            Outcome::Ok,
        ));
    }
    let bytes = w.approx_bytes();
    assert!(bytes < 4 * 1024 * 1024, "{bytes} bytes");
}

#[tokio::test(start_paused = true)]
async fn a_replan_keeps_unchanged_windows_and_their_data() {
    let epoch = Instant::now();
    let five = Duration::from_secs(300);
    let mut w = Windows::new(
        plan(vec![(five, true), (Duration::from_secs(60), true)], vec![]),
        epoch,
    );
    w.record(&sample(epoch, 10, Outcome::Ok));
    // The 1-minute window goes, a 1-hour one comes, the 5-minute one stays with its sample.
    w.replan(plan(
        vec![(five, true), (Duration::from_secs(3600), false)],
        vec![],
    ));
    let snap = w.snapshot(epoch + Duration::from_secs(1));
    assert_eq!(snap.window("m", "/e", five).unwrap().counts.total, 1);
    assert_eq!(
        snap.window("m", "/e", Duration::from_secs(3600))
            .unwrap()
            .counts
            .total,
        0
    );
    assert!(snap.window("m", "/e", Duration::from_secs(60)).is_none());
    // Other thresholds change what every bucket counts: the series starts afresh.
    w.replan(plan(vec![(five, true)], vec![Duration::from_millis(100)]));
    assert_eq!(
        w.snapshot(epoch + Duration::from_secs(1))
            .window("m", "/e", five)
            .unwrap()
            .counts
            .total,
        0
    );
}

#[tokio::test]
async fn saved_windows_come_back_in_a_new_process() {
    let five = Duration::from_secs(300);
    let mut first = Windows::new(
        plan(vec![(five, true)], vec![Duration::from_millis(400)]),
        Instant::now(),
    );
    let now = Instant::now();
    for ms in [10, 20, 500] {
        first.record(&sample(now, ms, Outcome::Ok));
    }
    first.record(&sample(now, 30, Outcome::Connect));
    let saved = first.save();
    let json = serde_json::to_string(&saved).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut second = Windows::new(
        plan(vec![(five, true)], vec![Duration::from_millis(400)]),
        Instant::now(),
    );
    assert_eq!(second.restore(&serde_json::from_str(&json).unwrap()), 1);
    let snap = second.snapshot(Instant::now());
    let w = snap.window("m", "/e", five).unwrap();
    assert_eq!(
        (w.counts.total, w.counts.failed, w.counts.unavailable),
        (4, 1, 1)
    );
    assert_eq!(w.good_ratio(Duration::from_millis(400)), Some(0.5));
    assert!((w.max_seconds.unwrap() - 0.5).abs() < 0.001);
    // A window planned differently (other thresholds) does not take the saved one.
    let mut other = Windows::new(plan(vec![(five, true)], vec![]), Instant::now());
    assert_eq!(other.restore(&serde_json::from_str(&json).unwrap()), 0);
}

/// slamon's own downtime is not observed time: a throughput right after a restart counts only
/// the span the previous process saw.
#[tokio::test]
async fn downtime_between_save_and_restore_is_not_observed() {
    let hour = Duration::from_secs(3600);
    let mut first = Windows::new(plan(vec![(hour, false)], vec![]), Instant::now());
    first.record(&sample(Instant::now(), 10, Outcome::Ok));
    let mut saved = first.save();
    // Pretend the save happened 40 minutes ago, 10 minutes after the sample's bucket began.
    let shift = 40 * 60 * 1000;
    saved.saved_at_ms -= shift;
    for s in &mut saved.series {
        for r in &mut s.windows {
            for b in &mut r.buckets {
                b.start_ms -= shift + 10 * 60 * 1000;
            }
        }
    }
    let mut second = Windows::new(plan(vec![(hour, false)], vec![]), Instant::now());
    assert_eq!(second.restore(&saved), 1);
    let w = second
        .snapshot(Instant::now())
        .window("m", "/e", hour)
        .unwrap()
        .clone();
    assert_eq!(w.counts.total, 1);
    // About 10 minutes observed (bucket alignment adds at most one 1-minute bucket), not 50.
    assert!(
        w.observed >= Duration::from_secs(600) && w.observed <= Duration::from_secs(661),
        "{:?}",
        w.observed
    );
}
