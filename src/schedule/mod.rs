//! Stage 2, schedule: decides when each monitor runs, and runs it.
//!
//! - In: the checked monitors, each with `every` (an interval) or `cron` (six fields with
//!   seconds, run by tokio-cron-scheduler) and an optional jitter.
//! - Out: load runs (see [`crate::load`]) whose samples go to the window channel, and run
//!   events (started, skipped, finished) to a [`RunEvents`] sink.
//! - A run never overlaps the previous run of the same monitor: a start that comes while the
//!   monitor is still running (or waiting out its jitter) is skipped and counted, not queued,
//!   so a slow target cannot build up a backlog of runs.
//! - Owned by one runner task per monitor plus the trigger (an interval task, or the cron
//!   scheduler). `every` schedules run on tokio time, so tests drive them with paused time.
//! - Shutdown: the stop token ends the triggers; a run in progress stops starting requests,
//!   lets the ones in flight finish, and then its runner ends.

mod runner;

pub use runner::{RunEvents, RunView, Scheduler};

/// Checks a cron expression with the exact parser settings the scheduler uses.
pub fn parse_cron(expr: &str) -> Result<(), String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
