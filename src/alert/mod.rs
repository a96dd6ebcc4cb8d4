//! Stage 6b, alerts: objectives' alert states, error budgets and burn rates, and the
//! notifications they produce.
//!
//! - In: window snapshots (every `[server] evaluate_every`), the config's objectives, routes,
//!   maintenance windows, and ad-hoc [`Silences`].
//! - Out: [`Outgoing`] notifications, each with its channels and idempotency keys, put in the
//!   durable outbox (see [`crate::state`]) for [`crate::notify`] to deliver; alert metrics.
//! - States follow [`state`]'s machine: ok -> pending (for `for`) -> firing -> ok, with
//!   hysteresis, a `no_data` state below `min_requests`, repeats every `repeat` while firing,
//!   and suppression (dependencies, silences, maintenance) that holds firing notifications back
//!   but never a resolve.
//! - Owned by one task; the states are saved to the state store after every evaluation that
//!   changed them, so a restart neither forgets a firing alert nor sends it again.

pub mod budget;
mod engine;
mod metrics;
mod notification;
pub mod silence;
pub mod state;
mod task;
mod verdict;

pub use engine::{Engine, Outgoing, burn_key, fingerprint};
pub use metrics::AlertMetrics;
pub use notification::{Notification, PAYLOAD_VERSION, Status};
pub use silence::{Silence, Silences};
pub use task::{enqueue, load_states, run};
pub use verdict::HYSTERESIS;

/// The verdict of an availability objective at `target` observing `value`.
#[cfg(test)]
pub(crate) fn verdict_for_test(value: f64, target: f64) -> state::Verdict {
    let text = format!(
        "[[monitors]]\nname = \"m\"\nbase_url = \"http://127.0.0.1:9\"\nduration = \"1m\"\nschedule = {{ every = \"5m\" }}\nload = {{ type = \"closed\", users = 1 }}\n[[monitors.tasks]]\nsteps = [{{ path = \"/\" }}]\n[[objectives]]\nname = \"a\"\nmonitor = \"m\"\nwindow = \"5m\"\ntype = \"availability\"\nat_least = \"{}%\"\n",
        target * 100.0
    );
    let config = crate::config::from_str(&text, std::path::Path::new("t.toml")).expect("valid");
    let total = 1_000_000u64;
    let bad = ((1.0 - value) * total as f64).round() as u64;
    let w = crate::window::WindowStats {
        length: std::time::Duration::from_secs(300),
        observed: std::time::Duration::from_secs(300),
        counts: crate::window::Counts {
            total,
            failed: bad,
            unavailable: bad,
            ..Default::default()
        },
        thresholds: vec![],
        quantiles: vec![],
        max_seconds: None,
    };
    verdict::objective_verdict(&config.objectives[0], &w).0
}

#[cfg(test)]
mod tests;
