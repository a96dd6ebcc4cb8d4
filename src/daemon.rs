//! The daemon: every stage wired together, run until the shutdown token fires.
//!
//! ```text
//! Scheduler --(runs)--> load --(samples, bounded)--> window aggregator --(snapshots)--> /metrics
//!                                                           |
//!                                                           +--> alert engine --> outbox --> channels
//! ```
//!
//! What lives as long as the process: the metrics registry, the state store, the window
//! aggregator and the HTTP server. What a config reload replaces: the scheduler, the alert
//! engine and the delivery worker ([`Stages`]). A reload (SIGHUP or `POST /-/reload`) reads the
//! file again; a valid config replaces the stages, keeping the windows and alert states of what
//! did not change; an invalid one is logged and the old config keeps running.
//!
//! Shutdown order: the scheduler stops starting runs and waits for the runs in progress (their
//! in-flight requests finish, each bounded by its timeout); the alert engine saves its states
//! and the delivery worker makes a last pass (what it cannot deliver stays in the outbox for the
//! next start); then the sample channel closes and the aggregator publishes its last snapshot;
//! the HTTP server stops last, so the final numbers can still be scraped while the daemon drains.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::alert::state::AlertState;
use crate::alert::{AlertMetrics, Engine, Silences};
use crate::config::Config;
use crate::config::model::Objective;
use crate::export::{Metrics, WindowCollector};
use crate::load::RunTotals;
use crate::notify::Sender;
use crate::notify::delivery::{self, DeliveryMetrics, Wakeup};
use crate::sample::Sample;
use crate::schedule::{RunEvents, RunView, Scheduler};
use crate::state::Store;
use crate::window::{self, Snapshot, Windows};

/// Samples buffered between the load runs and the aggregator.
const SAMPLE_BUFFER: usize = 8192;
/// How often window snapshots are published.
const SNAPSHOT_TICK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot start the scheduler: {0}")]
    Scheduler(#[from] tokio_cron_scheduler::JobSchedulerError),
    #[error("the HTTP server failed: {0}")]
    Server(#[from] std::io::Error),
    #[error("cannot open the state store: {0}")]
    State(#[from] crate::state::StateError),
    #[error("channel {0}: {1}")]
    Channel(String, crate::notify::SendError),
}

/// Asks the daemon to reload its config; the answer is `Err` with the config's problems.
pub type ReloadRequest = oneshot::Sender<Result<(), Vec<String>>>;

/// A running daemon's handles, for callers that want to look inside (tests, the demo).
pub struct Running {
    pub addr: SocketAddr,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub reload: mpsc::Sender<ReloadRequest>,
}

/// What the stages of every config share.
struct Shared {
    metrics: Arc<Metrics>,
    alert_metrics: Arc<AlertMetrics>,
    delivery_metrics: DeliveryMetrics,
    store: Arc<Store>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    samples: mpsc::Sender<Sample>,
    silences: Silences,
    shutdown: CancellationToken,
}

/// Runs the daemon on `listener` until `shutdown` fires. `started` receives the handles once
/// the server is up.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    started: Option<oneshot::Sender<Running>>,
) -> Result<(), DaemonError> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new(&config)?);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (objectives_tx, objectives_rx) = watch::channel(Arc::new(config.objectives.clone()));
    metrics.registry.register(Box::new(WindowCollector::new(
        snap_rx.clone(),
        objectives_rx,
    )?))?;

    let dir = config.server.state_dir.clone();
    let store = Arc::new(
        tokio::task::spawn_blocking(move || Store::open(&dir))
            .await
            .map_err(|e| DaemonError::Server(std::io::Error::other(e)))??,
    );

    let (sample_tx, sample_rx) = mpsc::channel(SAMPLE_BUFFER);
    let (replan_tx, replan_rx) = mpsc::channel(4);
    let mut windows = Windows::new(window::plan(&config), Instant::now());
    restore_windows(&store, &mut windows);
    let observer = metrics.clone();
    let saver = store.clone();
    let aggregator = tokio::spawn(window::run(
        windows,
        sample_rx,
        snap_tx,
        move |s| observer.observe(s),
        SNAPSHOT_TICK,
        replan_rx,
        config.server.save_every,
        move |saved| {
            let store = saver.clone();
            tokio::task::spawn_blocking(move || save_windows(&store, &saved));
        },
    ));

    let shared = Shared {
        alert_metrics: Arc::new(AlertMetrics::new(&metrics.registry)?),
        delivery_metrics: DeliveryMetrics::new(&metrics.registry)?,
        metrics: metrics.clone(),
        store: store.clone(),
        snapshots: snap_rx.clone(),
        samples: sample_tx,
        silences: restore_silences(&store),
        shutdown: shutdown.clone(),
    };
    let saved = crate::alert::load_states(&store);
    let mut stages = Stages::start(config.clone(), &shared, saved).await?;

    let addr = listener.local_addr()?;
    let ready = Arc::new(AtomicBool::new(false));
    let server_stop = CancellationToken::new();
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let api = crate::export::api::routes(shared.silences.clone(), reload_tx.clone(), store.clone());
    let server = tokio::spawn(crate::export::serve(
        listener,
        metrics.registry.clone(),
        ready.clone(),
        api,
        config.server.auth_token.clone(),
        server_stop.clone(),
    ));
    ready.store(true, Ordering::Release);
    crate::systemd::ready();
    let watchdog = tokio::spawn(crate::systemd::watchdog(server_stop.clone()));
    tracing::info!(%addr, monitors = config.monitors.len(), objectives = config.objectives.len(), channels = config.channels.len(), "slamon is running.");
    if let Some(started) = started {
        let _ = started.send(Running {
            addr,
            snapshots: snap_rx,
            reload: reload_tx,
        });
    }

    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(reply) = reload_rx.recv() => {
                let (next, result) = reload(stages, &shared, &replan_tx, &objectives_tx).await?;
                stages = next;
                let _ = reply.send(result);
            }
        }
    }
    tracing::info!("Shutting down: waiting for runs in progress to finish.");
    crate::systemd::stopping();
    ready.store(false, Ordering::Release);
    let grace = stages.config.server.shutdown_grace;
    if tokio::time::timeout(grace, stages.stop()).await.is_err() {
        tracing::warn!(grace = ?grace, "Runs, alerts and deliveries did not finish within the shutdown grace period; stopping anyway. Undelivered notifications stay in the outbox.");
    }
    drop(shared);
    drop(replan_tx);
    if let Ok(windows) = aggregator.await {
        let saved = windows.save();
        let _ = tokio::task::spawn_blocking(move || save_windows(&store, &saved)).await;
    }
    server_stop.cancel();
    let _ = watchdog.await;
    match server.await {
        Ok(result) => result?,
        Err(e) => tracing::error!("The HTTP server task failed: {e}"),
    }
    tracing::info!("Stopped.");
    Ok(())
}

/// Windows saved by the previous process (every `save_every`, and at shutdown) come back, so a
/// restart, even `kill -9`, loses at most one interval of samples.
fn restore_windows(store: &Store, windows: &mut Windows) {
    match store.load_windows() {
        Ok(Some(json)) => match serde_json::from_str(&json) {
            Ok(saved) => {
                let n = windows.restore(&saved);
                tracing::info!(
                    windows = n,
                    "Restored the sliding windows saved before the restart."
                );
            }
            Err(e) => tracing::warn!("The saved windows are unreadable, so they start empty: {e}"),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!("Cannot read the saved windows, so they start empty: {e}"),
    }
}

/// Ad-hoc silences outlive a restart: a deployment window does not end because slamon did.
fn restore_silences(store: &Store) -> Silences {
    let silences = Silences::default();
    match store.load_silences() {
        Ok(Some(json)) => match serde_json::from_str(&json) {
            Ok(saved) => silences.restore(saved),
            Err(e) => tracing::warn!("The saved silences are unreadable, so none are active: {e}"),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!("Cannot read the saved silences, so none are active: {e}"),
    }
    silences
}

fn save_windows(store: &Store, saved: &window::SavedWindows) {
    match serde_json::to_string(saved) {
        Ok(json) => {
            if let Err(e) = store.save_windows(&json) {
                tracing::error!("Cannot save the sliding windows: {e}");
            }
        }
        Err(e) => tracing::error!("Cannot encode the sliding windows: {e}"),
    }
}

/// Reads the config file again. Valid: the stages restart on it. Invalid: the old ones go on.
async fn reload(
    stages: Stages,
    shared: &Shared,
    replan: &mpsc::Sender<Vec<window::SeriesPlan>>,
    objectives: &watch::Sender<Arc<Vec<Objective>>>,
) -> Result<(Stages, Result<(), Vec<String>>), DaemonError> {
    crate::systemd::reloading();
    let file = stages.config.file.clone();
    let next = match tokio::task::spawn_blocking(move || crate::config::load(&file)).await {
        Ok(Ok(c)) => Arc::new(c),
        Ok(Err(e)) => {
            let lines = e.lines();
            for line in &lines {
                tracing::error!("Config reload rejected, the running config stays: {line}");
            }
            shared.metrics.reload_ok.set(0.0);
            crate::systemd::reloaded();
            return Ok((stages, Err(lines)));
        }
        Err(e) => {
            shared.metrics.reload_ok.set(0.0);
            crate::systemd::reloaded();
            return Ok((stages, Err(vec![format!("the config reader failed: {e}")])));
        }
    };
    warn_about_restart_only_settings(&stages.config, &next);
    let engine = stages.stop().await;
    let carried = engine.carried_states(&next);
    let retired = engine.retire(&next, chrono::Utc::now());
    if !retired.is_empty() {
        crate::alert::enqueue(&shared.store, retired).await;
    }
    let _ = replan.send(window::plan(&next)).await;
    objectives.send_replace(Arc::new(next.objectives.clone()));
    shared.metrics.initialize(&next);
    let started = Stages::start(next.clone(), shared, carried).await?;
    shared.metrics.reload_ok.set(1.0);
    shared.metrics.reload_time.set(crate::export::unix_now());
    crate::systemd::reloaded();
    tracing::info!(
        monitors = next.monitors.len(),
        objectives = next.objectives.len(),
        "Config reloaded."
    );
    Ok((started, Ok(())))
}

/// The listen address, the state directory and the histogram buckets are set up once.
fn warn_about_restart_only_settings(old: &Config, new: &Config) {
    if old.server.listen != new.server.listen || old.server.state_dir != new.server.state_dir {
        tracing::warn!(
            "The new config changes [server] listen or state_dir; those take effect at the next restart."
        );
    }
    if crate::export::buckets(old) != crate::export::buckets(new) {
        tracing::warn!(
            "The new config has other latency thresholds; slamon_request_duration_seconds keeps its buckets until the next restart."
        );
    }
}

/// What one config runs: the scheduler, the alert engine, the delivery worker.
struct Stages {
    config: Arc<Config>,
    runs_stop: CancellationToken,
    scheduler: Scheduler,
    engine: (CancellationToken, tokio::task::JoinHandle<Engine>),
    delivery: (CancellationToken, tokio::task::JoinHandle<()>),
}

impl Stages {
    async fn start(
        config: Arc<Config>,
        shared: &Shared,
        states: BTreeMap<String, AlertState>,
    ) -> Result<Stages, DaemonError> {
        let mut senders = HashMap::new();
        for c in &config.channels {
            let sender = Sender::new(c).map_err(|e| DaemonError::Channel(c.name.to_string(), e))?;
            senders.insert(c.name.to_string(), (c.clone(), sender));
        }
        let engine = Engine::new(config.clone(), states, shared.silences.clone());
        let wakeup = Wakeup::new();
        let engine_stop = CancellationToken::new();
        let delivery_stop = CancellationToken::new();
        let engine_task = tokio::spawn(crate::alert::run(
            engine,
            shared.snapshots.clone(),
            shared.store.clone(),
            wakeup.clone(),
            shared.alert_metrics.clone(),
            config.server.evaluate_every,
            engine_stop.clone(),
        ));
        let delivery_task = tokio::spawn(delivery::run_with_wakeup(
            shared.store.clone(),
            senders,
            shared.delivery_metrics.clone(),
            wakeup,
            delivery_stop.clone(),
        ));
        let runs_stop = shared.shutdown.child_token();
        let recorder = Arc::new(RunRecorder {
            metrics: shared.metrics.clone(),
            store: shared.store.clone(),
            objectives: crate::sla::run::run_objectives(&config.objectives),
            retention: config.server.history_retention,
        });
        let scheduler =
            Scheduler::start(&config, shared.samples.clone(), recorder, runs_stop.clone()).await?;
        Ok(Stages {
            config,
            runs_stop,
            scheduler,
            engine: (engine_stop, engine_task),
            delivery: (delivery_stop, delivery_task),
        })
    }

    /// Runs end (in-flight requests finish), the engine saves its states, the worker makes a
    /// last pass. Returns the engine, for a reload to carry its states over.
    async fn stop(self) -> Engine {
        self.runs_stop.cancel();
        self.scheduler.stopped().await;
        self.engine.0.cancel();
        let engine = match self.engine.1.await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("The alert engine task failed: {e}");
                Engine::new(self.config.clone(), BTreeMap::new(), Silences::default())
            }
        };
        self.delivery.0.cancel();
        let _ = self.delivery.1.await;
        engine
    }
}

/// Run events become metrics and, at the end of a run, a row of the run history.
struct RunRecorder {
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    objectives: Vec<Objective>,
    retention: Duration,
}

impl RunEvents for RunRecorder {
    fn started(&self, monitor: &str) {
        self.metrics
            .runs_started
            .with_label_values(&[monitor])
            .inc();
    }

    fn skipped(&self, monitor: &str) {
        self.metrics
            .runs_skipped
            .with_label_values(&[monitor])
            .inc();
    }

    fn finished(&self, monitor: &str, totals: RunTotals, run: &RunView) {
        self.metrics
            .runs_finished
            .with_label_values(&[monitor])
            .inc();
        self.metrics
            .dropped
            .with_label_values(&[monitor])
            .inc_by(totals.dropped);
        self.metrics
            .last_run
            .with_label_values(&[monitor])
            .set(crate::export::unix_now());
        let record = crate::sla::run::record(
            monitor,
            run.started_at,
            run.elapsed,
            totals,
            &run.snapshot,
            &self.objectives,
        );
        let store = self.store.clone();
        let since =
            chrono::Utc::now() - chrono::Duration::from_std(self.retention).unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.insert_run(&record, since) {
                tracing::error!(monitor = %record.monitor, "Cannot save the run to the history: {e}");
            }
        });
    }
}
