//! The real daemon and the real load engine against real servers on 127.0.0.1.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use slamon::sample::{Outcome, Sample};
use slamon::target::{Fault, TargetServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The sample API with `/health` answering after `latency_ms`.
async fn slow_health(latency_ms: u64) -> (TargetServer, CancellationToken) {
    let (t, stop) = target().await;
    t.faults().set(
        "/health",
        Fault {
            latency_ms,
            error_rate: 0.0,
            status: None,
        },
    );
    (t, stop)
}

async fn target() -> (TargetServer, CancellationToken) {
    let stop = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        TargetServer::start(listener, stop.clone()).await.unwrap(),
        stop,
    )
}

/// A fresh state directory per test, so runs never share an outbox.
fn state_dir() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("slamon-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.display().to_string()
}

fn config(
    base: &str,
    extra_monitor: &str,
    steps: &str,
    objectives: &str,
) -> slamon::config::Config {
    let state = state_dir();
    let text = format!(
        r#"
[server]
windows = ["1m"]
state_dir = "{state}"
[[monitors]]
name = "m"
base_url = "{base}"
duration = "2s"
schedule = {{ every = "1h" }}
{extra_monitor}
{steps}
{objectives}
"#
    );
    match slamon::config::from_str(&text, Path::new("test.toml")) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// Runs the monitor once through the load engine and returns every sample.
async fn samples_of(cfg: &slamon::config::Config) -> Vec<Sample> {
    let m = cfg.monitors[0].clone();
    let client = slamon::load::build_client(&m).unwrap();
    let (tx, mut rx) = mpsc::channel(1024);
    let run = tokio::spawn(slamon::load::run(
        m.clone(),
        cfg.templates.clone(),
        client,
        tx,
        m.duration,
        CancellationToken::new(),
    ));
    let mut out = Vec::new();
    while let Some(s) = rx.recv().await {
        out.push(s);
    }
    run.await.unwrap();
    out
}

fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

const OPEN: &str = r#"load = { type = "open", rate = "20/s", max_in_flight = 50 }"#;

#[tokio::test]
async fn the_daemon_exports_what_the_target_served() {
    let (t, stop_t) = slow_health(120).await;
    let steps = r#"[[monitors.tasks]]
steps = [{ name = "/health", path = "/health", checks = [{ type = "status", in = [200] }] }]"#;
    let objectives = r#"[[objectives]]
name = "fast"
monitor = "m"
endpoint = "/health"
window = "1m"
type = "latency"
percentile = 95
below = "100ms"
[[objectives]]
name = "share"
monitor = "m"
window = "1m"
type = "latency_share"
under = "150ms"
at_least = "99%""#;
    let cfg = config(&t.base_url(), OPEN, steps, objectives);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (running, shutdown, daemon) = spawn_daemon_on(cfg, listener).await;
    let url = format!("http://{}/metrics", running.addr);
    // Runs last 2 s at 20/s: 40 iterations, due at 0, 50 ms, ..., 1950 ms. Wait for the run
    // to finish, then for one more snapshot of the windows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while metric(
        &reqwest_get(&url).await,
        r#"slamon_runs_finished_total{monitor="m"}"#,
    ) != Some(1.0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let body = reqwest_get(&url).await;
    let served = t.hits("/health") as f64;
    assert_eq!(served, 40.0);
    assert_eq!(
        metric(
            &body,
            r#"slamon_requests_total{endpoint="/health",monitor="m",outcome="ok"}"#
        ),
        Some(served),
        "{body}"
    );
    assert_eq!(
        metric(
            &body,
            r#"slamon_request_duration_seconds_count{endpoint="/health",monitor="m"}"#
        ),
        Some(served)
    );
    // Every request took at least the injected 120 ms: none is under the 100 ms bucket.
    assert_eq!(
        metric(
            &body,
            r#"slamon_request_duration_seconds_bucket{endpoint="/health",monitor="m",le="0.1"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &body,
            r#"slamon_request_duration_seconds_bucket{endpoint="/health",monitor="m",le="0.15"}"#
        ),
        Some(served)
    );
    let p50 = metric(
        &body,
        r#"slamon_latency_seconds{monitor="m",endpoint="/health",window="1m",quantile="0.5"}"#,
    )
    .unwrap();
    assert!((0.120..0.150).contains(&p50), "p50 {p50}");
    assert_eq!(
        metric(
            &body,
            r#"slamon_latency_seconds_count{monitor="m",endpoint="/health",window="1m"}"#
        ),
        Some(served)
    );
    assert_eq!(
        metric(
            &body,
            r#"slamon_error_ratio{monitor="m",endpoint="/health",window="1m"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &body,
            r#"slamon_objective_met{monitor="m",endpoint="/health",objective="fast",type="latency",window="1m"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &body,
            r#"slamon_objective_met{monitor="m",endpoint="*",objective="share",type="latency_share",window="1m"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&body, r#"slamon_runs_started_total{monitor="m"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(&body, r#"slamon_runs_finished_total{monitor="m"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(&body, r#"slamon_dropped_iterations_total{monitor="m"}"#),
        Some(0.0)
    );
    // The finished run is in the history, judged on its own.
    let runs: serde_json::Value = serde_json::from_str(
        &reqwest_get(&format!("http://{}/api/v1/runs?monitor=m", running.addr)).await,
    )
    .unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["requests"], 40);
    assert_eq!(runs[0]["iterations"], 40);
    assert_eq!(runs[0]["objectives"]["fast"], false);
    assert_eq!(runs[0]["objectives"]["share"], true);
    assert!(
        runs[0]["latency_seconds"]["p50"].as_f64().unwrap() >= 0.12,
        "{runs}"
    );
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    stop_t.cancel();
}

async fn reqwest_get(url: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// A stalled server shows in the open model's latency: iterations due while the first requests
/// hang are counted from when they were due, or dropped when no slot is free.
#[tokio::test]
async fn open_model_counts_from_the_intended_start_and_counts_drops() {
    let (t, stop_t) = slow_health(600).await;
    let load = r#"load = { type = "open", rate = "10/s", max_in_flight = 3 }"#;
    let steps = r#"[[monitors.tasks]]
steps = [{ path = "/health" }]"#;
    let cfg = config(&t.base_url(), load, steps, "");
    let m = cfg.monitors[0].clone();
    let client = slamon::load::build_client(&m).unwrap();
    let (tx, mut rx) = mpsc::channel(1024);
    let run = tokio::spawn(slamon::load::run(
        m,
        cfg.templates.clone(),
        client,
        tx,
        Duration::from_secs(2),
        CancellationToken::new(),
    ));
    let mut latencies = Vec::new();
    while let Some(s) = rx.recv().await {
        latencies.push(s.latency);
    }
    let totals = run.await.unwrap();
    // 20 iterations are due in 2 s; 3 slots each busy 600 ms serve about 10 of them.
    assert_eq!(totals.iterations + totals.dropped, 20);
    assert!(totals.dropped >= 8, "{totals:?}");
    assert_eq!(latencies.len() as u64, totals.iterations);
    assert!(latencies.iter().all(|l| *l >= Duration::from_millis(600)));
    stop_t.cancel();
}

#[tokio::test]
async fn network_failures_are_samples_of_the_right_kind() {
    // Refused: nothing listens on a port we bound and released.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    // Garbage: a server that answers with something that is not HTTP.
    let garbage = spawn_raw(|mut s| async move {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(b"this is not http\r\n\r\n").await;
    })
    .await;
    // Silent: accepts and never answers.
    let silent = spawn_raw(|s| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    })
    .await;
    // Enormous: announces and streams far more than the cap.
    let enormous = spawn_raw(|mut s| async move {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n")
            .await;
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..64 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    let cases = [
        (closed, Outcome::Connect),
        (garbage, Outcome::Protocol),
        (silent, Outcome::Timeout),
        (enormous, Outcome::BodyTooLarge),
    ];
    for (addr, expected) in cases {
        let extra = r#"timeout = "300ms"
max_body_bytes = 100000
load = { type = "closed", users = 1, wait = "100ms" }"#;
        let steps = r#"[[monitors.tasks]]
steps = [{ path = "/" }]"#;
        let mut cfg = config(&format!("http://{addr}"), extra, steps, "");
        Arc::get_mut(&mut cfg.monitors[0]).unwrap().duration = Duration::from_millis(500);
        let samples = samples_of(&cfg).await;
        assert!(!samples.is_empty(), "{expected:?}");
        for s in &samples {
            assert_eq!(s.outcome, expected, "{addr}: {:?}", s.message);
            assert!(s.unavailable || expected == Outcome::BodyTooLarge);
        }
    }
}

async fn spawn_raw<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s));
        }
    });
    addr
}

#[tokio::test]
async fn checks_extraction_and_session_headers_follow_the_flow() {
    let (t, stop_t) = target().await;
    let extra = r#"load = { type = "closed", users = 1, wait = "50ms" }"#;
    let steps = r#"[[monitors.setup]]
name = "login"
method = "POST"
path = "/api/v1/auth/login"
json = { email = "loadtest.user@example.com", password = "SuperSecurePassword123!" }
extract = [{ type = "json_path", var = "token", path = "$.access_token" }]
set_headers = { Authorization = "Bearer {{ token }}" }
[[monitors.tasks]]
[[monitors.tasks.steps]]
name = "order"
method = "POST"
path = "/api/v1/orders"
json = { customer_id = "c", items = [{ product_id = "{{ random_choice([1012, 1044]) }}", quantity = "{{ random_int(1, 3) }}", unit_price = 1.5 }], shipping_method = "express", payment_method = "invoice", currency = "USD" }
checks = [{ type = "status", in = [201] }, { type = "json_path", path = "$.order_id" }]
extract = [{ type = "json_path", var = "order_id", path = "$.order_id" }]
[[monitors.tasks.steps]]
name = "/api/v1/orders/[id]"
path = "/api/v1/orders/{{ order_id }}"
checks = [{ type = "json_path", path = "$.status", equals = "nope" }]"#;
    let mut cfg = config(&t.base_url(), extra, steps, "");
    Arc::get_mut(&mut cfg.monitors[0]).unwrap().duration = Duration::from_millis(600);
    let samples = samples_of(&cfg).await;
    let of = |e: &str| {
        samples
            .iter()
            .filter(|s| &*s.endpoint == e)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("login").len(), 1);
    assert!(of("login")[0].outcome.is_ok());
    assert!(!of("order").is_empty());
    assert!(
        of("order")
            .iter()
            .all(|s| s.outcome.is_ok() && s.status == Some(201)),
        "{:?}",
        of("order")
    );
    let lookups = of("/api/v1/orders/[id]");
    assert_eq!(lookups.len(), of("order").len());
    for s in lookups {
        assert_eq!(s.outcome, Outcome::CheckFailed);
        assert_eq!(s.status, Some(200));
        assert!(!s.unavailable);
        assert!(
            s.message.as_deref().unwrap_or("").contains("$.status"),
            "{:?}",
            s.message
        );
    }
    stop_t.cancel();
}

fn slamon(args: &[&str], target: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slamon"))
        .args(args)
        .env("SLAMON_TARGET", target)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `slamon once` is the seed's CI gate: 0 when met, 1 when breached, 2 for a bad config.
#[tokio::test(flavor = "multi_thread")]
async fn once_gates_the_deployment_on_its_objectives() {
    let (t, stop_t) = target().await;
    let base = t.base_url();
    // Every seed flow, at once. Each request succeeds and no objective is breached; a short
    // run at the flows' Locust-like pace cannot always judge a p95 or p99 (20 and 100 requests
    // needed), which fails the gate as "too few", so only the gate seed must pass outright.
    let seeds = [
        ("basic", "10s"),
        ("transactional", "10s"),
        ("reporting", "10s"),
        ("deployment-gate", "10s"),
    ]
    .map(|(seed, duration)| {
        let base = base.clone();
        let file = format!("config/examples/seed/{seed}.toml");
        (
            seed,
            tokio::task::spawn_blocking(move || {
                slamon(&["once", "--config", &file, "--duration", duration], &base)
            }),
        )
    });
    for (seed, run) in seeds {
        let (code, out, err) = run.await.unwrap();
        assert!(
            code == 0 || seed != "deployment-gate",
            "{seed}: {out}\n{err}"
        );
        assert!(
            code <= 1 && !out.contains("BREACHED"),
            "{seed}: {out}\n{err}"
        );
        assert!(
            !out.contains("FAILURES"),
            "{seed}: every request of the flow succeeds: {out}"
        );
    }
    let gate = "config/examples/seed/deployment-gate.toml";
    let run = |base: String| {
        tokio::task::spawn_blocking(move || {
            slamon(&["once", "--config", gate, "--duration", "3s"], &base)
        })
    };
    let (code, out, err) = run(base.clone()).await.unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("SLA gate passed."), "{out}");
    t.faults().set(
        "*",
        Fault {
            latency_ms: 0,
            error_rate: 1.0,
            status: Some(503),
        },
    );
    let (code, out, _) = run(base.clone()).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BREACHED") && out.contains("http_status"),
        "{out}"
    );
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        slamon(
            &[
                "once",
                "--config",
                "tests/configs/invalid/many_problems.toml",
            ],
            &base,
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 2);
    assert!(err.lines().count() >= 9, "{err}");
    stop_t.cancel();
}

/// What a webhook receiver on loopback got: (headers, body) per request.
type Received = Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A webhook receiver on `listener`, recording every request and answering 200.
fn receiver(listener: TcpListener) -> Received {
    let got: Received = Arc::default();
    let state = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    state.lock().unwrap().push((headers, body.to_vec()));
                    "ok"
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    got
}

fn payloads(got: &Received) -> Vec<serde_json::Value> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect()
}

async fn wait_for(got: &Received, n: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while got.lock().unwrap().len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SLOW_HEALTH: &str = r#"[[monitors.tasks]]
steps = [{ name = "/health", path = "/health" }]"#;

fn alerting(hook: &str, channel_extra: &str) -> String {
    format!(
        r#"[[objectives]]
name = "health p95"
monitor = "m"
endpoint = "/health"
window = "10s"
type = "latency"
percentile = 95
below = "100ms"
min_requests = 5
labels = {{ severity = "page" }}

[[channels]]
name = "hook"
type = "webhook"
url = "{hook}"
hmac_secret = "canary-hmac-key"
{channel_extra}"#
    )
}

/// A breach fires one signed notification; recovery resolves it; nothing is sent twice.
#[tokio::test]
async fn an_objective_breach_fires_and_resolves_through_a_signed_webhook() {
    use hmac::{KeyInit, Mac};
    let (t, stop_t) = slow_health(250).await;
    let hook_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", hook_listener.local_addr().unwrap());
    let got = receiver(hook_listener);
    let mut cfg = config(&t.base_url(), OPEN, SLOW_HEALTH, &alerting(&hook, ""));
    Arc::get_mut(&mut cfg.monitors[0]).unwrap().duration = Duration::from_secs(40);
    cfg.server.evaluate_every = Duration::from_secs(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (running, shutdown, daemon) = spawn_daemon_on(cfg, listener).await;
    wait_for(&got, 1, Duration::from_secs(15)).await;
    let metrics = reqwest_get(&format!("http://{}/metrics", running.addr)).await;
    assert!(metrics.contains(r#"slamon_alert_state{alert="health p95",monitor="m",objective="health p95",state="firing"} 1"#), "{metrics}");
    t.faults().clear();
    // The 10 s window must lose every slow sample before the alert resolves.
    wait_for(&got, 2, Duration::from_secs(25)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    stop_t.cancel();

    let requests = got.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{:?}", payloads(&got));
    let p = payloads(&got);
    assert_eq!(
        (p[0]["status"].as_str(), p[1]["status"].as_str()),
        (Some("firing"), Some("resolved"))
    );
    assert_eq!(p[0]["fingerprint"], p[1]["fingerprint"]);
    assert_eq!(p[0]["version"], 1);
    assert_eq!(p[0]["objective"], "health p95");
    assert_eq!(p[0]["endpoint"], "/health");
    assert_eq!(p[0]["unit"], "seconds");
    assert_eq!(p[0]["threshold"], 0.1);
    assert!(p[0]["observed"].as_f64().unwrap() >= 0.25, "{}", p[0]);
    assert_eq!(p[0]["labels"]["severity"], "page");
    assert!(p[1]["ended_at"].is_string());
    let keys: Vec<&str> = requests
        .iter()
        .map(|(h, _)| h["idempotency-key"].to_str().unwrap())
        .collect();
    assert_ne!(keys[0], keys[1]);
    for (headers, body) in &requests {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"canary-hmac-key").unwrap();
        mac.update(body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(headers["x-slamon-signature"].to_str().unwrap(), expected);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn outbox_depth(metrics_addr: &str) -> Option<f64> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    metric(&body, r#"slamon_notification_outbox_depth{channel="hook"}"#)
}

/// `kill -9` with a notification still in the outbox: after the restart it is delivered, once.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loses_no_notification_and_sends_none_twice() {
    let (t, stop_t) = slow_health(250).await;
    let hook_port = free_port();
    let hook = format!("http://127.0.0.1:{hook_port}/hook");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let state = state_dir();
    let text = format!(
        r#"[server]
listen = "{metrics_addr}"
state_dir = "{state}"
evaluate_every = "1s"
[[monitors]]
name = "m"
base_url = "{base}"
duration = "1h"
schedule = {{ every = "2h" }}
{OPEN}
{SLOW_HEALTH}
{alerting}"#,
        base = t.base_url(),
        alerting = alerting(&hook, "retry_initial = \"100ms\"\nretry_max = \"500ms\"")
    );
    let file = std::path::Path::new(&state).with_extension("toml");
    std::fs::write(&file, text).unwrap();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_slamon"))
            .args(["run", "--config", file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };

    // The receiver is down: the firing notification waits in the outbox.
    let mut first = start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while outbox_depth(&metrics_addr).await.unwrap_or(0.0) < 1.0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(outbox_depth(&metrics_addr).await, Some(1.0));
    first.kill().unwrap();
    first.wait().unwrap();

    // The receiver is up, slamon restarts on the same state: the notification arrives once.
    let got = receiver(TcpListener::bind(("127.0.0.1", hook_port)).await.unwrap());
    let mut second = start();
    wait_for(&got, 1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    stop_t.cancel();
    let p = payloads(&got);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0]["status"], "firing");
}

/// Whether an external server this test needs is installed. `.ci/run` installs them, so in CI
/// a missing one is a failure, not a skip.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing; .ci/run installs it"
        );
        eprintln!("skipped: {tool} is not installed (.ci/run installs it)");
    }
    found
}

/// Kills a child process when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn alertmanager_alerts(base: &str) -> Option<Vec<serde_json::Value>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::get(format!("{base}/api/v2/alerts"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// A real Alertmanager lists the alert with its labels after a breach, and drops it once
/// slamon resolves it.
#[tokio::test(flavor = "multi_thread")]
async fn a_real_alertmanager_sees_the_alert_fire_and_resolve() {
    if !have("prometheus-alertmanager") {
        return;
    }
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let am_config = format!("{dir}/am.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let am_addr = format!("127.0.0.1:{}", free_port());
    let _am = Child(
        Command::new("prometheus-alertmanager")
            .args([
                &format!("--config.file={am_config}"),
                &format!("--storage.path={dir}/am-data"),
                &format!("--web.listen-address={am_addr}"),
                "--cluster.listen-address=",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let am = format!("http://{am_addr}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while alertmanager_alerts(&am).await.is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (t, stop_t) = slow_health(250).await;
    let objectives = alerting("http://127.0.0.1:9/unused", "").replace(
        "[[channels]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/unused\"\nhmac_secret = \"canary-hmac-key\"\n",
        &format!("[[channels]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"{am}\"]\n"),
    );
    let mut cfg = config(&t.base_url(), OPEN, SLOW_HEALTH, &objectives);
    Arc::get_mut(&mut cfg.monitors[0]).unwrap().duration = Duration::from_secs(60);
    cfg.server.evaluate_every = Duration::from_secs(1);
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(slamon::daemon::run(
        cfg,
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        shutdown.clone(),
        None,
    ));

    let firing = |alerts: &[serde_json::Value]| {
        alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "health p95")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut alerts = Vec::new();
    while !firing(&alerts) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        alerts = alertmanager_alerts(&am).await.unwrap_or_default();
    }
    let alert = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "health p95")
        .expect("Alertmanager lists the alert");
    assert_eq!(alert["labels"]["monitor"], "m");
    assert_eq!(alert["labels"]["objective"], "health p95");
    assert_eq!(alert["labels"]["endpoint"], "/health");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["status"]["state"], "active");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap_or("")
            .contains("p95"),
        "{alert}"
    );

    t.faults().clear();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while firing(&alerts) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        alerts = alertmanager_alerts(&am).await.unwrap_or_default();
    }
    assert!(
        !firing(&alerts),
        "the resolved alert is gone from Alertmanager: {alerts:?}"
    );
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    stop_t.cancel();
}

/// `slamon alert test` through a real SMTP server (Python's aiosmtpd, saving to a maildir).
#[tokio::test(flavor = "multi_thread")]
async fn alert_test_sends_a_two_part_mail_through_a_real_smtp_server() {
    let has_aiosmtpd = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_aiosmtpd {
        assert!(
            std::env::var_os("CI").is_none(),
            "aiosmtpd is missing; .ci/run installs it"
        );
        eprintln!("skipped: aiosmtpd is not installed (.ci/run installs it)");
        return;
    }
    let dir = state_dir();
    let maildir = format!("{dir}/mail");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let _smtp = Child(
        Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
                &maildir,
            ])
            .spawn()
            .unwrap(),
    );
    // Python takes a while to start on a loaded machine: wait until it listens.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let file = format!("{dir}/mail.toml");
    std::fs::write(
        &file,
        format!(
            r#"[[monitors]]
name = "m"
base_url = "http://127.0.0.1:9"
duration = "1m"
schedule = {{ every = "5m" }}
load = {{ type = "closed", users = 1 }}
[[monitors.tasks]]
steps = [{{ path = "/" }}]
[[channels]]
name = "mail"
type = "email"
smtp = "smtp://127.0.0.1:{port}"
tls = "none"
from = "slamon <slamon@example.com>"
to = ["oncall@example.com"]
"#
        ),
    )
    .unwrap();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        slamon(
            &["alert", "test", "--config", &file, "--channel", "mail"],
            "",
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    let new = std::path::Path::new(&maildir).join("new");
    let mails: Vec<_> = std::fs::read_dir(&new)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(mails.len(), 1);
    let mail = std::fs::read_to_string(mails[0].path()).unwrap();
    assert!(
        mail.lines().any(|l| l.starts_with("Subject: [TEST]")),
        "{mail}"
    );
    assert!(mail.contains("To: oncall@example.com"), "{mail}");
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(
        mail.contains("text/plain") && mail.contains("text/html"),
        "{mail}"
    );
}

async fn post(url: &str) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = reqwest::Client::new().post(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A reload applies a valid config and keeps the windows of what did not change; an invalid
/// one is rejected with its problems and the old config keeps running.
#[tokio::test(flavor = "multi_thread")]
async fn reload_keeps_unchanged_windows_and_rejects_a_broken_config() {
    let (t, stop_t) = target().await;
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = format!("{dir}/slamon.toml");
    let monitor = |name: &str| {
        format!(
            "[[monitors]]\nname = \"{name}\"\nbase_url = \"{}\"\nduration = \"30s\"\nschedule = {{ every = \"1h\" }}\n{OPEN}\n[[monitors.tasks]]\nsteps = [{{ name = \"/health\", path = \"/health\" }}]\n",
            t.base_url()
        )
    };
    let server = format!("[server]\nstate_dir = \"{dir}/state\"\nwindows = [\"1m\"]\n");
    std::fs::write(&file, format!("{server}{}", monitor("m"))).unwrap();
    let cfg = slamon::config::load(std::path::Path::new(&file)).unwrap();
    let (running, shutdown, daemon) = spawn_daemon(cfg).await;
    let base = format!("http://{}", running.addr);
    let count = |body: &str, m: &str| {
        metric(
            body,
            &format!(
                r#"slamon_latency_seconds_count{{monitor="{m}",endpoint="/health",window="1m"}}"#
            ),
        )
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;

    std::fs::write(&file, format!("{server}{}\nbogus = 1\n", monitor("m"))).unwrap();
    let (status, body) = post(&format!("{base}/-/reload")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown field `bogus`"), "{body}");
    let metrics = reqwest_get(&format!("{base}/metrics")).await;
    assert_eq!(
        metric(&metrics, "slamon_config_last_reload_successful"),
        Some(0.0)
    );
    let before = count(&metrics, "m").unwrap();
    assert!(before >= 20.0, "{before}");

    std::fs::write(&file, format!("{server}{}{}", monitor("m"), monitor("n"))).unwrap();
    let (status, body) = post(&format!("{base}/-/reload")).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metrics = reqwest_get(&format!("{base}/metrics")).await;
    assert_eq!(
        metric(&metrics, "slamon_config_last_reload_successful"),
        Some(1.0)
    );
    // m's window kept what it had before the reload; n is new and measuring.
    assert!(count(&metrics, "m").unwrap() > before, "{metrics}");
    assert!(count(&metrics, "n").unwrap() > 0.0);
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    stop_t.cancel();
}

/// With `auth_token`, everything but the probes needs the bearer token.
#[tokio::test]
async fn a_token_protects_metrics_and_the_api_but_not_the_probes() {
    let mut cfg = config(
        "http://127.0.0.1:9",
        r#"load = { type = "closed", users = 1 }"#,
        SLOW_HEALTH,
        "",
    );
    cfg.server.auth_token = Some(slamon::config::model::Secret::new("canary-token".into()));
    let (running, shutdown, daemon) = spawn_daemon(cfg).await;
    let base = format!("http://{}", running.addr);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let status = |path: &'static str, token: Option<&'static str>| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/metrics", None).await, 401);
    assert_eq!(status("/metrics", Some("wrong")).await, 401);
    assert_eq!(status("/metrics", Some("canary-token")).await, 200);
    assert_eq!(status("/api/v1/silences", None).await, 401);
    assert_eq!(status("/api/v1/silences", Some("canary-token")).await, 200);
    assert_eq!(status("/healthz", None).await, 200);
    assert_eq!(status("/readyz", None).await, 200);
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

/// A secret used in headers, a body, a channel and the API token never shows in the logs
/// (debug level, JSON), the metrics or the API, even while requests fail.
#[tokio::test(flavor = "multi_thread")]
async fn a_canary_secret_never_appears_in_any_output() {
    const CANARY: &str = "canary-5ecret-7f3a";
    let (t, stop_t) = target().await;
    t.faults().set(
        "*",
        Fault {
            latency_ms: 0,
            error_rate: 1.0,
            status: Some(500),
        },
    );
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let file = format!("{dir}/canary.toml");
    std::fs::write(
        &file,
        format!(
            r#"[server]
listen = "{metrics_addr}"
state_dir = "{dir}/state"
evaluate_every = "1s"
auth_token = "${{env:SLAMON_CANARY}}"
[[monitors]]
name = "m"
base_url = "{base}"
headers = {{ X-Api-Key = "${{env:SLAMON_CANARY}}" }}
duration = "1h"
schedule = {{ every = "2h" }}
load = {{ type = "open", rate = "10/s", max_in_flight = 5 }}
[[monitors.tasks]]
steps = [{{ name = "login", method = "POST", path = "/api/v1/auth/login?key=${{env:SLAMON_CANARY}}", json = {{ password = "${{env:SLAMON_CANARY}}" }} }}]
[[objectives]]
name = "errors"
monitor = "m"
window = "10s"
type = "error_rate"
below = "1%"
min_requests = 5
[[channels]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"
hmac_secret = "${{env:SLAMON_CANARY}}"
headers = {{ Authorization = "Bearer ${{env:SLAMON_CANARY}}" }}
retry_initial = "100ms"
"#,
            base = t.base_url()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_slamon"))
        .args(["--log-format", "json", "run", "--config", &file])
        .env("SLAMON_CANARY", CANARY)
        .env("SLAMON_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut served = String::new();
    for path in ["/metrics", "/api/v1/silences"] {
        let r = client
            .get(format!("http://{metrics_addr}{path}"))
            .bearer_auth(CANARY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        served.push_str(&r.text().await.unwrap());
    }
    assert!(
        served.contains("slamon_requests_total"),
        "the daemon ran: {served}"
    );
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains("Request failed") && logs.contains("Alert notification queued"),
        "debug logs were produced: {logs}"
    );
    assert!(!logs.contains(CANARY), "the canary leaked into the logs");
    assert!(
        !served.contains(CANARY),
        "the canary leaked into the metrics or the API"
    );
    stop_t.cancel();
}

/// SIGTERM with requests in flight: no new request starts, those in flight finish and are
/// counted, and the daemon stops well within its grace period.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_requests_in_flight_finish_and_loses_none() {
    let (t, stop_t) = slow_health(1500).await;
    let mut cfg = config(
        &t.base_url(),
        r#"load = { type = "open", rate = "10/s", max_in_flight = 50 }"#,
        SLOW_HEALTH,
        "",
    );
    Arc::get_mut(&mut cfg.monitors[0]).unwrap().duration = Duration::from_secs(600);
    let (running, shutdown, daemon) = spawn_daemon(cfg).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let started = std::time::Instant::now();
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    let took = started.elapsed();
    // The last requests were sent just before the stop and take 1.5 s.
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let snapshot = running.snapshots.borrow().clone();
    let recorded = snapshot
        .window("m", "/health", Duration::from_secs(60))
        .unwrap()
        .counts
        .total;
    assert!(recorded >= 5, "{recorded}");
    assert_eq!(
        recorded,
        t.hits("/health"),
        "every request the target served is in the windows"
    );
    stop_t.cancel();
}

/// The windows survive a restart: a graceful one (saved at shutdown) and `kill -9` (saved
/// every `save_every`), losing at most one interval of samples.
#[tokio::test(flavor = "multi_thread")]
async fn windows_survive_a_graceful_restart_and_kill_9() {
    let (t, stop_t) = target().await;
    let state = state_dir();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let text = format!(
        "[server]\nlisten = \"{metrics_addr}\"\nstate_dir = \"{state}\"\nwindows = [\"1m\"]\nsave_every = \"1s\"\n[[monitors]]\nname = \"m\"\nbase_url = \"{}\"\nduration = \"2s\"\nschedule = {{ every = \"1h\" }}\n{OPEN}\n{SLOW_HEALTH}\n",
        t.base_url()
    );
    let file = std::path::Path::new(&state).with_extension("toml");
    std::fs::write(&file, &text).unwrap();
    let count = |body: &str| {
        metric(
            body,
            r#"slamon_latency_seconds_count{monitor="m",endpoint="/health",window="1m"}"#,
        )
        .unwrap_or(0.0)
    };
    let scrape = || async { reqwest_get(&format!("http://{metrics_addr}/metrics")).await };

    // Graceful: a 2 s run of 40 requests, a clean stop, a start on the same state.
    let cfg = slamon::config::load(&file).unwrap();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(slamon::daemon::run(
        cfg,
        TcpListener::bind(&metrics_addr).await.unwrap(),
        shutdown.clone(),
        None,
    ));
    let url = format!("http://{metrics_addr}/metrics");
    let settle = |want: f64| {
        let url = url.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            let mut got = 0.0;
            while tokio::time::Instant::now() < deadline {
                got = metric(
                    &reqwest_get(&url).await,
                    r#"slamon_latency_seconds_count{monitor="m",endpoint="/health",window="1m"}"#,
                )
                .unwrap_or(0.0);
                if got >= want {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            got
        }
    };
    assert_eq!(settle(40.0).await, 40.0);
    shutdown.cancel();
    daemon.await.unwrap().unwrap();

    // kill -9 of the binary after the next run (40 more, saved within a second).
    let mut child = run_binary(&file);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let restored = count(&scrape().await);
    assert!(
        restored >= 40.0,
        "the gracefully saved 40 are back: {restored}"
    );
    assert_eq!(settle(80.0).await, 80.0);
    // One save interval, so the last of the 80 are on disk before the kill.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let _again = run_binary(&file);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after_kill = count(&scrape().await);
    assert!(
        after_kill >= 80.0,
        "all 80 were saved before the kill: {after_kill}"
    );
    stop_t.cancel();
}

/// `slamon run --config file` as a child process, killed when dropped.
fn run_binary(file: &std::path::Path) -> Child {
    Child(
        Command::new(env!("CARGO_BIN_EXE_slamon"))
            .args(["run", "--config", file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// An ad-hoc silence outlives a restart of slamon, and DELETE ends it early.
#[tokio::test(flavor = "multi_thread")]
async fn a_silence_survives_a_restart_and_can_be_deleted() {
    let cfg = || {
        config(
            "http://127.0.0.1:9",
            r#"load = { type = "closed", users = 1 }"#,
            SLOW_HEALTH,
            "",
        )
    };
    let first = cfg();
    let state = first.server.state_dir.clone();
    let start = |mut c: slamon::config::Config| {
        c.server.state_dir = state.clone();
        async move {
            let (running, shutdown, daemon) = spawn_daemon(c).await;
            (format!("http://{}", running.addr), shutdown, daemon)
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let (base, shutdown, daemon) = start(first).await;
    let created: serde_json::Value = client
        .post(format!("{base}/api/v1/silences"))
        .json(&serde_json::json!({ "monitor": "m", "duration": "30m", "comment": "deploy" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_u64().unwrap();
    shutdown.cancel();
    daemon.await.unwrap().unwrap();

    let (base, shutdown, daemon) = start(cfg()).await;
    let listed: serde_json::Value = client
        .get(format!("{base}/api/v1/silences"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["id"].as_u64(), Some(id), "{listed}");
    assert_eq!(listed[0]["comment"], "deploy");
    let deleted = client
        .delete(format!("{base}/api/v1/silences/{id}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(deleted, 204);
    let again = client
        .delete(format!("{base}/api/v1/silences/{id}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(again, 404);
    let listed: serde_json::Value = client
        .get(format!("{base}/api/v1/silences"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(0));
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

/// The daemon in-process: its handles, its stop token and its task.
async fn spawn_daemon_on(
    cfg: slamon::config::Config,
    listener: TcpListener,
) -> (
    slamon::daemon::Running,
    CancellationToken,
    tokio::task::JoinHandle<Result<(), slamon::daemon::DaemonError>>,
) {
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let daemon = tokio::spawn(slamon::daemon::run(
        cfg,
        listener,
        shutdown.clone(),
        Some(tx),
    ));
    (rx.await.unwrap(), shutdown, daemon)
}

/// [`spawn_daemon_on`] a free loopback port.
async fn spawn_daemon(
    cfg: slamon::config::Config,
) -> (
    slamon::daemon::Running,
    CancellationToken,
    tokio::task::JoinHandle<Result<(), slamon::daemon::DaemonError>>,
) {
    spawn_daemon_on(cfg, TcpListener::bind("127.0.0.1:0").await.unwrap()).await
}
