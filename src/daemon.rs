//! The daemon: every stage wired together, run until the shutdown token fires.
//!
//! ```text
//! Scheduler --(runs)--> load --(samples, bounded)--> window aggregator --(snapshots)--> /metrics
//! ```
//!
//! Beside it, the alert engine evaluates the snapshots and writes notifications to the durable
//! outbox in the state store, which the delivery worker drains to the channels.
//!
//! Shutdown order: the scheduler stops starting runs and waits for the runs in progress (their
//! in-flight requests finish, each bounded by its timeout); then the sample channel closes and
//! the aggregator publishes its last snapshot; the alert engine saves its states and the
//! delivery worker makes a last pass (what it cannot deliver stays in the outbox for the next
//! start); the HTTP server stops last, so the final numbers can still be scraped while the
//! daemon drains.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use std::collections::HashMap;

use crate::alert::{AlertMetrics, Engine, Silences};
use crate::config::Config;
use crate::export::{Metrics, WindowCollector};
use crate::load::RunTotals;
use crate::notify::Sender;
use crate::notify::delivery::{self, DeliveryMetrics, Wakeup};
use crate::schedule::{RunEvents, Scheduler};
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

/// A running daemon's handles, for callers that want to look inside (tests, the demo).
pub struct Running {
    pub addr: SocketAddr,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
}

/// Runs the daemon on `listener` until `shutdown` fires. `started` receives the handles once
/// the server is up.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    started: Option<tokio::sync::oneshot::Sender<Running>>,
) -> Result<(), DaemonError> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new(&config)?);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    metrics.registry.register(Box::new(WindowCollector::new(
        snap_rx.clone(),
        config.objectives.clone(),
    )?))?;

    let (sample_tx, sample_rx) = mpsc::channel(SAMPLE_BUFFER);
    let windows = Windows::new(window::plan(&config), Instant::now());
    let observer = metrics.clone();
    let aggregator = tokio::spawn(window::run(
        windows,
        sample_rx,
        snap_tx,
        move |s| observer.observe(s),
        SNAPSHOT_TICK,
    ));

    let silences = Silences::default();
    let alerting = start_alerting(
        &config,
        &metrics.registry,
        snap_rx.clone(),
        silences.clone(),
    )
    .await?;

    let addr = listener.local_addr()?;
    let ready = Arc::new(AtomicBool::new(false));
    let server_stop = CancellationToken::new();
    let api = crate::export::api::routes(silences);
    let server = tokio::spawn(crate::export::serve(
        listener,
        metrics.registry.clone(),
        ready.clone(),
        api,
        server_stop.clone(),
    ));

    let runs_stop = shutdown.child_token();
    let scheduler = Scheduler::start(&config, sample_tx, metrics.clone(), runs_stop).await?;
    ready.store(true, Ordering::Release);
    tracing::info!(%addr, monitors = config.monitors.len(), objectives = config.objectives.len(), channels = config.channels.len(), "slamon is running.");
    if let Some(started) = started {
        let _ = started.send(Running {
            addr,
            snapshots: snap_rx,
        });
    }

    shutdown.cancelled().await;
    tracing::info!("Shutting down: waiting for runs in progress to finish.");
    ready.store(false, Ordering::Release);
    scheduler.stopped().await;
    let _ = aggregator.await;
    alerting.stop().await;
    server_stop.cancel();
    match server.await {
        Ok(result) => result?,
        Err(e) => tracing::error!("The HTTP server task failed: {e}"),
    }
    tracing::info!("Stopped.");
    Ok(())
}

/// The alert engine and the delivery worker, stopped in that order.
struct Alerting {
    engine: (CancellationToken, tokio::task::JoinHandle<()>),
    delivery: (CancellationToken, tokio::task::JoinHandle<()>),
}

impl Alerting {
    /// The engine saves its states; then the worker makes a last delivery pass.
    async fn stop(self) {
        self.engine.0.cancel();
        let _ = self.engine.1.await;
        self.delivery.0.cancel();
        let _ = self.delivery.1.await;
    }
}

async fn start_alerting(
    config: &Arc<Config>,
    registry: &prometheus::Registry,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    silences: Silences,
) -> Result<Alerting, DaemonError> {
    let dir = config.server.state_dir.clone();
    let store = Arc::new(
        tokio::task::spawn_blocking(move || Store::open(&dir))
            .await
            .map_err(|e| DaemonError::Server(std::io::Error::other(e)))??,
    );
    let mut senders = HashMap::new();
    for c in &config.channels {
        let sender = Sender::new(c).map_err(|e| DaemonError::Channel(c.name.to_string(), e))?;
        senders.insert(c.name.to_string(), (c.clone(), sender));
    }
    let saved = crate::alert::load_states(&store);
    let engine = Engine::new(config.clone(), saved, silences);
    let alert_metrics = AlertMetrics::new(registry)?;
    let delivery_metrics = DeliveryMetrics::new(registry)?;
    let wakeup = Wakeup::new();
    let engine_stop = CancellationToken::new();
    let delivery_stop = CancellationToken::new();
    let engine_task = tokio::spawn(crate::alert::run(
        engine,
        snapshots,
        store.clone(),
        wakeup.clone(),
        alert_metrics,
        config.server.evaluate_every,
        engine_stop.clone(),
    ));
    let delivery_task = tokio::spawn(delivery::run_with_wakeup(
        store,
        senders,
        delivery_metrics,
        wakeup,
        delivery_stop.clone(),
    ));
    Ok(Alerting {
        engine: (engine_stop, engine_task),
        delivery: (delivery_stop, delivery_task),
    })
}

impl RunEvents for Metrics {
    fn started(&self, monitor: &str) {
        self.runs_started.with_label_values(&[monitor]).inc();
    }

    fn skipped(&self, monitor: &str) {
        self.runs_skipped.with_label_values(&[monitor]).inc();
    }

    fn finished(&self, monitor: &str, totals: RunTotals) {
        self.runs_finished.with_label_values(&[monitor]).inc();
        self.dropped
            .with_label_values(&[monitor])
            .inc_by(totals.dropped);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_run.with_label_values(&[monitor]).set(now);
    }
}
