//! The closed model: a fixed number of users, each looping over tasks with a wait in between.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::user::{RunContext, VirtualUser};
use super::{RunTotals, TaskPicker};

pub struct Params {
    pub users: u32,
    /// Users started per second.
    pub spawn_rate: f64,
    pub wait_min: Duration,
    pub wait_max: Duration,
}

pub async fn run(
    ctx: Arc<RunContext>,
    p: Params,
    deadline: Instant,
    stop: CancellationToken,
) -> RunTotals {
    let start = Instant::now();
    let picker = TaskPicker::new(&ctx.monitor);
    let mut users = JoinSet::new();
    for i in 0..p.users {
        let at = start + Duration::from_secs_f64(i as f64 / p.spawn_rate);
        if at >= deadline {
            break;
        }
        let (ctx, picker, stop) = (ctx.clone(), picker.clone(), stop.clone());
        let wait = (p.wait_min, p.wait_max);
        users.spawn(async move {
            if !pause_until(at, deadline, &stop).await {
                return 0;
            }
            user_loop(&ctx, &picker, wait, deadline, &stop).await
        });
    }
    let mut iterations = 0;
    while let Some(done) = users.join_next().await {
        iterations += done.unwrap_or(0);
    }
    RunTotals {
        iterations,
        dropped: 0,
    }
}

async fn user_loop(
    ctx: &RunContext,
    picker: &TaskPicker,
    wait: (Duration, Duration),
    deadline: Instant,
    stop: &CancellationToken,
) -> u64 {
    let mut user = VirtualUser::new(ctx);
    let mut iterations = 0;
    while Instant::now() < deadline && !stop.is_cancelled() {
        if user.is_set_up() || user.setup(ctx).await {
            if let Some(task) = picker.pick() {
                iterations += 1;
                user.task(ctx, task, None).await;
            }
        }
        let pause = if wait.0 == wait.1 {
            wait.0
        } else {
            rand::rng().random_range(wait.0..=wait.1)
        };
        if !pause_until(Instant::now() + pause, deadline, stop).await {
            break;
        }
    }
    iterations
}

/// Sleeps until `at`; false when the run ends first.
pub async fn pause_until(at: Instant, deadline: Instant, stop: &CancellationToken) -> bool {
    if at >= deadline {
        return false;
    }
    tokio::select! {
        _ = sleep_until(at) => !stop.is_cancelled(),
        _ = stop.cancelled() => false,
    }
}
