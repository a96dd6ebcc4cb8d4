//! `slamon once`: run monitors now, report, and gate on the objectives (the CI/CD gate).
//!
//! The objectives are evaluated over the whole run, whatever their window: a gate judges what
//! it saw. An objective without data (no request reached it) fails the gate, as a gate that
//! measured nothing has proven nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::report::{Report, print_report};
use super::{load_or_report, on_signal};
use crate::config::Config;
use crate::load::{self, RunTotals};
use crate::sample::Sample;
use crate::window::{self, Snapshot, Windows};

pub use crate::sla::run::run_objectives;

pub async fn main(
    path: &Path,
    monitor: Option<String>,
    duration: Option<Duration>,
    json: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let Some(mut config) = load_or_report(path) else {
        return Ok(2);
    };
    if let Some(name) = &monitor {
        if !config.monitors.iter().any(|m| &*m.name == name) {
            let names: Vec<&str> = config.monitors.iter().map(|m| &*m.name).collect();
            eprintln!(
                "error: no monitor named \"{name}\" (expected one of: {})",
                names.join(", ")
            );
            return Ok(2);
        }
        config.monitors.retain(|m| &*m.name == name);
        config.objectives.retain(|o| &*o.monitor == name);
    }
    if duration.is_some_and(|d| d.is_zero()) {
        eprintln!("error: --duration must be more than zero");
        return Ok(2);
    }
    let stop = CancellationToken::new();
    tokio::spawn(on_signal(stop.clone()));
    let outcome = run(&config, duration, stop).await;
    let report = Report::new(
        &config,
        &outcome.snapshot,
        &outcome.totals,
        &outcome.failures,
        outcome.elapsed,
    );
    print_report(&report);
    if let Some(file) = json {
        if let Err(e) = std::fs::write(&file, report.to_json()) {
            eprintln!("error: cannot write {}: {e}", file.display());
            return Ok(2);
        }
    }
    Ok(if report.gate_passed() { 0 } else { 1 })
}

pub struct RunOutcome {
    pub snapshot: Snapshot,
    pub totals: Vec<(Arc<str>, RunTotals)>,
    /// First failure message per (monitor, endpoint, outcome), for the report.
    pub failures: Vec<(Arc<str>, Arc<str>, &'static str, String)>,
    pub elapsed: Duration,
}

/// Runs every monitor of `config` once, concurrently, and folds the samples into one window.
pub async fn run(
    config: &Config,
    duration: Option<Duration>,
    stop: CancellationToken,
) -> RunOutcome {
    let config = crate::sla::run::run_config(config);
    let epoch = Instant::now();
    let mut windows = Windows::new(window::plan(&config), epoch);
    let (tx, mut rx) = mpsc::channel::<Sample>(8192);
    let mut runs = tokio::task::JoinSet::new();
    for m in &config.monitors {
        let client = match load::build_client(m) {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "error: monitor {}: cannot build the HTTP client: {e}",
                    m.name
                );
                continue;
            }
        };
        let (m, t, tx, stop) = (
            m.clone(),
            config.templates.clone(),
            tx.clone(),
            stop.clone(),
        );
        runs.spawn(async move {
            let d = duration.unwrap_or(m.duration);
            let totals = load::run(m.clone(), t, client, tx, d, stop).await;
            (m.name.clone(), totals)
        });
    }
    drop(tx);
    let mut failures = Vec::new();
    while let Some(s) = rx.recv().await {
        windows.record(&s);
        if let Some(msg) = s.message {
            let key = (s.monitor.clone(), s.endpoint.clone(), s.outcome.as_str());
            if !failures
                .iter()
                .any(|(m, e, o, _)| (m, e, o) == (&key.0, &key.1, &key.2))
            {
                failures.push((key.0, key.1, key.2, msg));
            }
        }
    }
    let mut totals = Vec::new();
    while let Some(Ok(t)) = runs.join_next().await {
        totals.push(t);
    }
    let now = Instant::now();
    RunOutcome {
        snapshot: windows.snapshot(now),
        totals,
        failures,
        elapsed: now - epoch,
    }
}
