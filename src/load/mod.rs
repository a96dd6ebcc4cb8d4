//! Stage 3, load: runs one monitor's scenario for one run, one sample per request.
//!
//! - In: a checked [`Monitor`](crate::config::model::Monitor), the run's duration, a stop token.
//! - Out: [`Sample`](crate::sample::Sample)s on a bounded channel, in completion order, and a
//!   [`RunTotals`] when the run ends (iterations started, iterations dropped).
//! - Two load models, as users know them: closed (Locust: N users loop tasks with a wait
//!   between them, ramped up at a spawn rate) and open (k6's constant arrival rate: iterations
//!   start on a fixed timetable whatever the server does, up to a cap in flight; an iteration
//!   that finds no free slot is dropped and counted, never silently delayed). In the open model
//!   latency counts from the intended start, so a stalled server shows in the percentiles.
//! - Owned by the task that called [`run`]; it spawns the users and waits for all of them.
//! - Shutdown: when the stop token fires or the duration ends, no new request starts;
//!   requests in flight finish (each is bounded by the monitor's timeout) and then `run` returns.

mod client;
mod closed;
mod open;
mod user;
mod verdict;

use std::sync::Arc;
use std::time::Duration;

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use client::build_client;
pub use user::RunContext;

use crate::config::model::{LoadModel, Monitor};
use crate::sample::Sample;
use crate::template::Templates;

/// What a run did besides its samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunTotals {
    pub iterations: u64,
    /// Open model: iterations due while every slot was busy.
    pub dropped: u64,
}

/// Runs `monitor` for `duration`, sending one sample per request to `samples`.
pub async fn run(
    monitor: Arc<Monitor>,
    templates: Templates,
    client: reqwest::Client,
    samples: mpsc::Sender<Sample>,
    duration: Duration,
    stop: CancellationToken,
) -> RunTotals {
    let ctx = Arc::new(RunContext::new(monitor.clone(), templates, client, samples));
    let deadline = tokio::time::Instant::now() + duration;
    match monitor.load {
        LoadModel::Closed {
            users,
            spawn_rate,
            wait_min,
            wait_max,
        } => {
            closed::run(
                ctx,
                closed::Params {
                    users,
                    spawn_rate,
                    wait_min,
                    wait_max,
                },
                deadline,
                stop,
            )
            .await
        }
        LoadModel::Open {
            rate,
            max_in_flight,
        } => open::run(ctx, rate, max_in_flight, deadline, stop).await,
    }
}

/// Picks tasks by weight.
#[derive(Clone)]
struct TaskPicker(Option<WeightedIndex<u32>>);

impl TaskPicker {
    fn new(monitor: &Monitor) -> Self {
        TaskPicker(WeightedIndex::new(monitor.tasks.iter().map(|t| t.weight)).ok())
    }

    fn pick(&self) -> Option<usize> {
        self.0.as_ref().map(|w| w.sample(&mut rand::rng()))
    }
}
