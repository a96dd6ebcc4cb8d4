use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::state::{AlertState, Event, Timing, Verdict, step};
use super::*;
use crate::window::{Counts, SeriesStats, Snapshot, WindowStats};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).single().unwrap()
}

const TIMING: Timing = Timing {
    for_: Duration::from_secs(60),
    repeat: Duration::from_secs(3600),
};

/// Runs verdicts one per 10 s from t=0 and returns the events with their times.
fn run(
    verdicts: &[Verdict],
    timing: Timing,
    suppressed: impl Fn(usize) -> bool,
) -> (AlertState, Vec<(i64, Event)>) {
    let mut state = AlertState::Ok;
    let mut events = Vec::new();
    for (i, v) in verdicts.iter().enumerate() {
        let now = t(i as i64 * 10);
        let (next, e) = step(&state, *v, now, timing, suppressed(i));
        if let Some(e) = e {
            events.push((i as i64 * 10, e));
        }
        state = next;
    }
    (state, events)
}

#[test]
fn pending_then_firing_after_for_then_resolved_once() {
    use Verdict::*;
    let mut v = vec![Breach; 8];
    v.extend([Recovered, Recovered]);
    let (state, events) = run(&v, TIMING, |_| false);
    assert_eq!(state, AlertState::Ok);
    // Breaching since t=0; `for` is 60 s, so it fires at t=60 and resolves at t=80.
    assert_eq!(
        events,
        vec![
            (
                60,
                Event::Firing {
                    since: t(0),
                    sequence: 0
                }
            ),
            (
                80,
                Event::Resolved {
                    since: t(0),
                    at: t(80)
                }
            )
        ]
    );
}

#[test]
fn a_short_breach_never_fires() {
    use Verdict::*;
    let (state, events) = run(
        &[Breach, Breach, Recovered, Breach, Breach, Marginal],
        TIMING,
        |_| false,
    );
    assert_eq!(state, AlertState::Ok);
    assert!(events.is_empty());
}

#[test]
fn hovering_at_the_threshold_does_not_flap() {
    use Verdict::*;
    let timing = Timing {
        for_: Duration::ZERO,
        repeat: Duration::from_secs(3600),
    };
    let (state, events) = run(
        &[Breach, Marginal, Breach, Marginal, Marginal, Breach],
        timing,
        |_| false,
    );
    assert!(state.is_firing());
    assert_eq!(
        events,
        vec![(
            0,
            Event::Firing {
                since: t(0),
                sequence: 0
            }
        )]
    );
}

#[test]
fn repeats_while_firing_at_the_repeat_interval() {
    let timing = Timing {
        for_: Duration::ZERO,
        repeat: Duration::from_secs(30),
    };
    let (_, events) = run(&[Verdict::Breach; 8], timing, |_| false);
    let times: Vec<i64> = events.iter().map(|(at, _)| *at).collect();
    assert_eq!(times, vec![0, 30, 60]);
    assert_eq!(
        events[2].1,
        Event::Firing {
            since: t(0),
            sequence: 2
        }
    );
}

#[test]
fn insufficient_data_neither_fires_nor_resolves() {
    use Verdict::*;
    let (state, events) = run(&[Insufficient, Insufficient], TIMING, |_| false);
    assert_eq!(state, AlertState::NoData);
    assert!(events.is_empty());
    let timing = Timing {
        for_: Duration::ZERO,
        repeat: Duration::from_secs(3600),
    };
    let (state, events) = run(&[Breach, Insufficient, Insufficient], timing, |_| false);
    assert!(state.is_firing(), "no data is no evidence of recovery");
    assert_eq!(events.len(), 1);
}

#[test]
fn suppression_holds_firing_back_until_it_ends_but_never_a_resolve() {
    use Verdict::*;
    let timing = Timing {
        for_: Duration::ZERO,
        repeat: Duration::from_secs(3600),
    };
    // Suppressed for the first three evaluations: the firing goes out at the fourth.
    let (_, events) = run(&[Breach, Breach, Breach, Breach, Recovered], timing, |i| {
        i < 3
    });
    assert_eq!(
        events,
        vec![
            (
                30,
                Event::Firing {
                    since: t(0),
                    sequence: 0
                }
            ),
            (
                40,
                Event::Resolved {
                    since: t(0),
                    at: t(40)
                }
            )
        ]
    );
    // Never notified while suppressed: nothing to resolve either.
    let (_, events) = run(&[Breach, Breach, Recovered], timing, |_| true);
    assert!(events.is_empty());
    // Fired, then suppressed: the resolve still goes out.
    let (_, events) = run(&[Breach, Breach, Recovered], timing, |i| i > 0);
    assert_eq!(events.len(), 2);
}

const CONFIG: &str = r#"
[[monitors]]
name = "shop"
base_url = "http://127.0.0.1:9"
duration = "1m"
schedule = { every = "5m" }
load = { type = "closed", users = 1 }
[[monitors.tasks]]
steps = [{ name = "login", path = "/login" }, { name = "orders", path = "/orders" }]

[[channels]]
name = "pager"
type = "webhook"
url = "http://127.0.0.1:9/hook"
[[channels]]
name = "tickets"
type = "webhook"
url = "http://127.0.0.1:9/tickets"
[[routes]]
match = { severity = "page" }
channels = ["pager"]
[[routes]]
channels = ["tickets"]

[[maintenance]]
name = "nightly"
cron = "0 0 2 * * *"
duration = "30m"

[[objectives]]
name = "login works"
monitor = "shop"
endpoint = "login"
window = "5m"
type = "error_rate"
below = "1%"
min_requests = 5
labels = { severity = "page" }

[[objectives]]
name = "orders work"
monitor = "shop"
endpoint = "orders"
window = "5m"
type = "error_rate"
below = "1%"
min_requests = 5
depends_on = ["login works"]
"#;

fn stats(total: u64, failed: u64) -> WindowStats {
    WindowStats {
        length: Duration::from_secs(300),
        observed: Duration::from_secs(300),
        counts: Counts {
            total,
            failed,
            ..Counts::default()
        },
        thresholds: vec![],
        quantiles: vec![],
        max_seconds: None,
    }
}

fn snapshot(login: (u64, u64), orders: (u64, u64)) -> Snapshot {
    let series = |endpoint: &str, (total, failed): (u64, u64)| SeriesStats {
        monitor: "shop".into(),
        endpoint: endpoint.into(),
        windows: vec![stats(total, failed)],
    };
    Snapshot {
        series: vec![series("login", login), series("orders", orders)],
    }
}

fn engine() -> Engine {
    let config = crate::config::from_str(CONFIG, Path::new("t.toml")).unwrap();
    Engine::new(Arc::new(config), BTreeMap::new(), Silences::default())
}

/// 10:00 UTC, far from the 02:00 maintenance window.
fn day(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 5, 10, 0, 0).single().unwrap() + chrono::Duration::seconds(secs)
}

#[test]
fn children_wait_while_their_dependency_fires_and_routes_follow_labels() {
    let mut e = engine();
    // Login and orders both fail: only login notifies, to the pager and the catch-all route.
    let out = e.evaluate(&snapshot((10, 10), (10, 10)), day(0), None);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].notification.objective, "login works");
    assert_eq!(out[0].notification.status, Status::Firing);
    let channels: Vec<&str> = out[0].deliveries.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(channels, vec!["pager", "tickets"]);
    assert!(
        e.states["orders work"].is_firing(),
        "a suppressed alert still shows as firing"
    );
    // Login recovers, orders still fail: login resolves, and orders' held-back firing goes out.
    let out = e.evaluate(&snapshot((10, 0), (10, 10)), day(10), None);
    let got: Vec<(&str, Status)> = out
        .iter()
        .map(|o| (o.notification.objective.as_str(), o.notification.status))
        .collect();
    assert_eq!(
        got,
        vec![
            ("login works", Status::Resolved),
            ("orders work", Status::Firing)
        ]
    );
    // Orders has no severity label: the catch-all route only.
    assert_eq!(out[1].deliveries.len(), 1);
    assert_eq!(out[1].deliveries[0].0, "tickets");
}

#[test]
fn maintenance_and_silences_hold_notifications_back() {
    let mut e = engine();
    let in_window = Utc.with_ymd_and_hms(2027, 1, 5, 2, 10, 0).single().unwrap();
    assert!(
        e.evaluate(&snapshot((10, 10), (10, 0)), in_window, None)
            .is_empty()
    );
    assert!(e.states["login works"].is_firing());
    // The window ends at 02:30: the firing notification goes out then.
    let after = Utc.with_ymd_and_hms(2027, 1, 5, 2, 31, 0).single().unwrap();
    assert_eq!(
        e.evaluate(&snapshot((10, 10), (10, 0)), after, None).len(),
        1
    );

    let silences = Silences::default();
    silences.add(Silence {
        id: 0,
        monitor: Some("shop".into()),
        objective: None,
        starts_at: day(0),
        ends_at: day(600),
        comment: "deploy".into(),
    });
    let config = crate::config::from_str(CONFIG, Path::new("t.toml")).unwrap();
    let mut e = Engine::new(Arc::new(config), BTreeMap::new(), silences);
    assert!(
        e.evaluate(&snapshot((10, 10), (10, 0)), day(60), None)
            .is_empty()
    );
    assert_eq!(
        e.evaluate(&snapshot((10, 10), (10, 0)), day(601), None)
            .len(),
        1
    );
}

#[test]
fn too_few_requests_is_no_data_and_keys_are_stable() {
    let mut e = engine();
    assert!(
        e.evaluate(&snapshot((4, 4), (0, 0)), day(0), None)
            .is_empty()
    );
    assert_eq!(e.states["login works"], AlertState::NoData);
    let first = e.evaluate(&snapshot((10, 10), (0, 0)), day(10), None);
    // A restart that lost the state would produce the same keys, so the outbox drops the copy.
    let mut again = engine();
    again.evaluate(&snapshot((4, 4), (0, 0)), day(0), None);
    let second = again.evaluate(&snapshot((10, 10), (0, 0)), day(10), None);
    assert_eq!(first[0].deliveries, second[0].deliveries);
    assert_eq!(
        first[0].notification.fingerprint,
        fingerprint("shop", "login works")
    );
}

#[test]
fn a_fast_burn_pages_with_its_own_alert() {
    let text = r#"
[[monitors]]
name = "shop"
base_url = "http://127.0.0.1:9"
duration = "1m"
schedule = { every = "5m" }
load = { type = "closed", users = 1 }
[[monitors.tasks]]
steps = [{ path = "/" }]
[[objectives]]
name = "avail"
monitor = "shop"
window = "5m"
type = "availability"
at_least = "99.9%"
budget_period = "30d"
"#;
    let config = crate::config::from_str(text, Path::new("t.toml")).unwrap();
    let mut e = Engine::new(Arc::new(config), BTreeMap::new(), Silences::default());
    let window = |len: u64, total: u64, unavailable: u64| WindowStats {
        length: Duration::from_secs(len),
        observed: Duration::from_secs(len),
        counts: Counts {
            total,
            failed: unavailable,
            unavailable,
            ..Counts::default()
        },
        thresholds: vec![],
        quantiles: vec![],
        max_seconds: None,
    };
    // 2% unavailable over both the hour and the last 5 minutes: a burn rate of 20, above 14.4.
    let snap = Snapshot {
        series: vec![SeriesStats {
            monitor: "shop".into(),
            endpoint: "*".into(),
            windows: vec![window(300, 500, 10), window(3600, 5000, 100)],
        }],
    };
    let out = e.evaluate(&snap, day(0), None);
    let names: Vec<&str> = out
        .iter()
        .map(|o| o.notification.alertname.as_str())
        .collect();
    assert_eq!(names, vec!["avail", "avail: burn rate 1h/5m"]);
    let burn = &out[1].notification;
    assert_eq!(burn.objective_type, "burn_rate");
    assert_eq!(burn.labels["severity"], "page");
    assert!((burn.observed.unwrap() - 20.0).abs() < 1e-9);
    assert_eq!(burn.threshold, 14.4);
    assert_ne!(out[0].notification.fingerprint, burn.fingerprint);
    // The last 5 minutes are clean again: the burn alert resolves though the hour still burns.
    let snap = Snapshot {
        series: vec![SeriesStats {
            monitor: "shop".into(),
            endpoint: "*".into(),
            windows: vec![window(300, 500, 0), window(3600, 5000, 100)],
        }],
    };
    let out = e.evaluate(&snap, day(10), None);
    let got: Vec<(&str, Status)> = out
        .iter()
        .map(|o| (o.notification.alertname.as_str(), o.notification.status))
        .collect();
    assert_eq!(
        got,
        vec![
            ("avail", Status::Resolved),
            ("avail: burn rate 1h/5m", Status::Resolved)
        ]
    );
}

#[test]
fn a_100_percent_target_resolves_once_met() {
    use crate::alert::verdict_for_test as verdict;
    assert_eq!(verdict(1.0, 1.0), Verdict::Recovered);
    assert_eq!(verdict(0.999, 1.0), Verdict::Breach);
    // 99%: within 5% of the 1% budget from the threshold is not yet recovered.
    assert_eq!(verdict(0.9901, 0.99), Verdict::Marginal);
    assert_eq!(verdict(0.9999, 0.99), Verdict::Recovered);
}

#[test]
fn a_child_waits_while_its_parent_is_pending() {
    // Orders depends on login; login has a `for`, orders has none.
    let text = CONFIG.replace(
        "labels = { severity = \"page\" }",
        "labels = { severity = \"page\" }\nfor = \"1m\"",
    );
    let config = crate::config::from_str(&text, Path::new("t.toml")).unwrap();
    let mut e = Engine::new(Arc::new(config), BTreeMap::new(), Silences::default());
    // Both fail: login is pending (for 1m), so orders must not page yet.
    assert!(
        e.evaluate(&snapshot((10, 10), (10, 10)), day(0), None)
            .is_empty()
    );
    assert!(matches!(
        e.states["login works"],
        AlertState::Pending { .. }
    ));
    // A minute later login fires; orders is still held back.
    let out = e.evaluate(&snapshot((10, 10), (10, 10)), day(60), None);
    let names: Vec<&str> = out
        .iter()
        .map(|o| o.notification.objective.as_str())
        .collect();
    assert_eq!(names, vec!["login works"]);
}

#[test]
fn a_reload_that_drops_a_firing_objective_resolves_it() {
    let mut e = engine();
    assert_eq!(
        e.evaluate(&snapshot((10, 10), (10, 0)), day(0), None).len(),
        1
    );
    // The new config drops "login works" (and with it the dependency of "orders work").
    let i = CONFIG
        .find("[[objectives]]\nname = \"login works\"")
        .unwrap();
    let j = CONFIG
        .find("[[objectives]]\nname = \"orders work\"")
        .unwrap();
    let next =
        format!("{}{}", &CONFIG[..i], &CONFIG[j..]).replace("depends_on = [\"login works\"]\n", "");
    let next = crate::config::from_str(&next, Path::new("t.toml")).unwrap();
    let out = e.retire(&next, day(30));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].notification.objective, "login works");
    assert_eq!(out[0].notification.status, Status::Resolved);
    assert!(out[0].notification.summary.contains("config reload"));
    // Unchanged objectives carry their state over instead.
    assert!(
        e.retire(
            &crate::config::from_str(CONFIG, Path::new("t.toml")).unwrap(),
            day(30)
        )
        .is_empty()
    );
}

/// The webhook payload is a contract with receivers: version 1 is pinned field by field.
#[test]
fn the_webhook_payload_matches_its_version_1_snapshot() {
    let n = Notification {
        version: PAYLOAD_VERSION,
        status: Status::Firing,
        fingerprint: "5f1c2a9d0b7e4c13".into(),
        alertname: "checkout p95".into(),
        monitor: "shop".into(),
        endpoint: Some("/api/v1/orders".into()),
        objective: "checkout p95".into(),
        objective_type: "latency".into(),
        summary: "p95 < 500ms".into(),
        observed: Some(0.812),
        threshold: 0.5,
        unit: "seconds".into(),
        window: "5m".into(),
        labels: [
            ("severity".to_string(), "page".to_string()),
            ("team".to_string(), "shop".to_string()),
        ]
        .into(),
        started_at: Utc
            .with_ymd_and_hms(2026, 12, 3, 10, 0, 0)
            .single()
            .unwrap(),
        ended_at: None,
        link: "http://127.0.0.1:9464/metrics".into(),
    };
    let snapshot: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/snapshots/webhook-payload-v1.json"
    ))
    .unwrap();
    assert_eq!(serde_json::to_value(&n).unwrap(), snapshot);
    let back: Notification = serde_json::from_value(snapshot).unwrap();
    assert_eq!(back, n);
}
