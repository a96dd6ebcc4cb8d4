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
pub use task::{load_states, run};
pub use verdict::HYSTERESIS;

#[cfg(test)]
mod tests;
