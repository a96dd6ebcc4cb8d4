//! Triggers and per-monitor runners.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::RngExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::config::model::{Monitor, Schedule};
use crate::load::{self, RunTotals};
use crate::sample::Sample;
use crate::template::Templates;
use crate::window::{self, Snapshot, Windows};

/// Where run events go (the metrics, in the daemon).
pub trait RunEvents: Send + Sync + 'static {
    fn started(&self, monitor: &str);
    fn skipped(&self, monitor: &str);
    fn finished(&self, monitor: &str, totals: RunTotals, run: &RunView);
}

/// A finished run seen on its own: when it started, how long it took, and its statistics in
/// one window covering the whole run (see [`crate::sla::run`]).
pub struct RunView {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub elapsed: Duration,
    pub snapshot: Snapshot,
}

/// Fires a monitor's run unless one is already going.
#[derive(Clone)]
struct Trigger {
    monitor: Arc<str>,
    busy: Arc<AtomicBool>,
    tx: mpsc::Sender<()>,
    events: Arc<dyn RunEvents>,
}

impl Trigger {
    fn fire(&self) {
        if self.busy.swap(true, Ordering::AcqRel) {
            tracing::warn!(monitor = %self.monitor, "Skipped a scheduled run: the previous run is still going.");
            self.events.skipped(&self.monitor);
            return;
        }
        if self.tx.try_send(()).is_err() {
            self.busy.store(false, Ordering::Release);
        }
    }
}

/// Every monitor's trigger and runner.
pub struct Scheduler {
    tasks: JoinSet<()>,
    cron: Option<JobScheduler>,
}

impl Scheduler {
    pub async fn start(
        config: &Config,
        samples: mpsc::Sender<Sample>,
        events: Arc<dyn RunEvents>,
        stop: CancellationToken,
    ) -> Result<Scheduler, tokio_cron_scheduler::JobSchedulerError> {
        let mut s = Scheduler {
            tasks: JoinSet::new(),
            cron: None,
        };
        let run_plans = window::plan(&crate::sla::run::run_config(config));
        for monitor in &config.monitors {
            let (tx, rx) = mpsc::channel(1);
            let trigger = Trigger {
                monitor: monitor.name.clone(),
                busy: Arc::new(AtomicBool::new(false)),
                tx,
                events: events.clone(),
            };
            let runner = Runner {
                monitor: monitor.clone(),
                templates: config.templates.clone(),
                samples: samples.clone(),
                events: events.clone(),
                busy: trigger.busy.clone(),
                run_plan: run_plans
                    .iter()
                    .filter(|p| p.monitor == monitor.name)
                    .cloned()
                    .collect(),
            };
            s.tasks.spawn(runner.run(rx, stop.clone()));
            match &monitor.schedule {
                Schedule::Every { interval, .. } => {
                    s.tasks.spawn(every(*interval, trigger, stop.clone()));
                }
                Schedule::Cron { expr, .. } => s.add_cron(expr, trigger).await?,
            }
        }
        if let Some(cron) = &s.cron {
            cron.start().await?;
        }
        Ok(s)
    }

    async fn add_cron(
        &mut self,
        expr: &str,
        trigger: Trigger,
    ) -> Result<(), tokio_cron_scheduler::JobSchedulerError> {
        if self.cron.is_none() {
            self.cron = Some(JobScheduler::new().await?);
        }
        let job = Job::new_async(expr, move |_, _| {
            trigger.fire();
            Box::pin(async {})
        })?;
        if let Some(cron) = &self.cron {
            cron.add(job).await?;
        }
        Ok(())
    }

    /// Waits for every trigger and runner to end (after the stop token fired).
    pub async fn stopped(mut self) {
        if let Some(mut cron) = self.cron.take() {
            let _ = cron.shutdown().await;
        }
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn every(interval: Duration, trigger: Trigger, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticks.tick() => trigger.fire(),
            _ = stop.cancelled() => return,
        }
    }
}

struct Runner {
    monitor: Arc<Monitor>,
    templates: Templates,
    samples: mpsc::Sender<Sample>,
    events: Arc<dyn RunEvents>,
    busy: Arc<AtomicBool>,
    run_plan: Vec<window::SeriesPlan>,
}

impl Runner {
    async fn run(self, mut starts: mpsc::Receiver<()>, stop: CancellationToken) {
        let client = match load::build_client(&self.monitor) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(monitor = %self.monitor.name, "Cannot build the HTTP client, so the monitor will not run: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                start = starts.recv() => if start.is_none() { return },
                _ = stop.cancelled() => return,
            }
            if self.jitter(&stop).await {
                self.one_run(&client, &stop).await;
            }
            self.busy.store(false, Ordering::Release);
        }
    }

    /// Waits a random part of the jitter; false if stopped meanwhile.
    async fn jitter(&self, stop: &CancellationToken) -> bool {
        let jitter = match &self.monitor.schedule {
            Schedule::Every { jitter, .. } | Schedule::Cron { jitter, .. } => *jitter,
        };
        if jitter.is_zero() {
            return true;
        }
        let delay = rand::rng().random_range(Duration::ZERO..=jitter);
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.cancelled() => false,
        }
    }

    async fn one_run(&self, client: &reqwest::Client, stop: &CancellationToken) {
        let name = &self.monitor.name;
        self.events.started(name);
        tracing::info!(monitor = %name, duration = ?self.monitor.duration, "Run started.");
        let started_at = chrono::Utc::now();
        let start = tokio::time::Instant::now();
        // The run's own statistics, for its history record; every sample goes on to the windows.
        let (tx, mut rx) = mpsc::channel::<Sample>(1024);
        let forward = self.samples.clone();
        let mut windows = Windows::new(self.run_plan.clone(), start);
        let collector = tokio::spawn(async move {
            while let Some(s) = rx.recv().await {
                windows.record(&s);
                let _ = forward.send(s).await;
            }
            windows
        });
        let totals = load::run(
            self.monitor.clone(),
            self.templates.clone(),
            client.clone(),
            tx,
            self.monitor.duration,
            stop.child_token(),
        )
        .await;
        let snapshot = match collector.await {
            Ok(mut w) => w.snapshot(tokio::time::Instant::now()),
            Err(_) => Snapshot::default(),
        };
        let run = RunView {
            started_at,
            elapsed: start.elapsed(),
            snapshot,
        };
        tracing::info!(monitor = %name, iterations = totals.iterations, dropped = totals.dropped, "Run finished.");
        self.events.finished(name, totals, &run);
    }
}
