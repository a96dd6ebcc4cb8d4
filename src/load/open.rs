//! The open model: iterations start on a fixed timetable, whatever the server does.
//!
//! Iteration `i` is due at `start + i / rate`. It runs on a free user slot (at most
//! `max_in_flight`); if none is free it is dropped and counted. Its first request's latency
//! counts from the due time, not from when it actually went out, so a slow timer or a busy
//! runtime never hides latency (no coordinated omission).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::closed::pause_until;
use super::user::{RunContext, VirtualUser};
use super::{RunTotals, TaskPicker};

pub async fn run(
    ctx: Arc<RunContext>,
    rate: f64,
    max_in_flight: u32,
    deadline: Instant,
    stop: CancellationToken,
) -> RunTotals {
    let start = Instant::now();
    let picker = TaskPicker::new(&ctx.monitor);
    // Idle users wait here; a user is created lazily the first time no idle one exists.
    let (idle_tx, mut idle_rx) = mpsc::channel::<VirtualUser>(max_in_flight as usize);
    let mut created = 0u32;
    let mut totals = RunTotals::default();
    let mut in_flight = JoinSet::new();
    for i in 0u64.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if !pause_until(due, deadline, &stop).await {
            break;
        }
        let user = match idle_rx.try_recv() {
            Ok(u) => u,
            Err(_) if created < max_in_flight => {
                created += 1;
                VirtualUser::new(&ctx)
            }
            Err(_) => {
                totals.dropped += 1;
                continue;
            }
        };
        totals.iterations += 1;
        let (ctx, picker, idle_tx) = (ctx.clone(), picker.clone(), idle_tx.clone());
        in_flight.spawn(async move {
            let mut user = user;
            let needs_setup = !user.is_set_up();
            let ready = !needs_setup || user.setup(&ctx).await;
            if let (true, Some(task)) = (ready, picker.pick()) {
                // A first-time setup delays the iteration by the login's own duration, which
                // is measured on its own: count the first step from its actual start then.
                let intended = (!needs_setup).then_some(due);
                user.task(&ctx, task, intended).await;
            }
            let _ = idle_tx.send(user).await;
        });
        // Reap finished iterations so the set does not grow over a long run.
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    totals
}
