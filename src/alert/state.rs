//! The alert state machine of one objective (or one burn-rate alert of it).
//!
//! ```text
//!   ok ──breach──> pending ──breach for `for`──> firing ──recovered──> ok
//!    ▲  <─────met───┘                              │ └─ every `repeat`: firing again
//!    └── no_data <── too few requests (never fires, never resolves a firing alert)
//! ```
//!
//! It is a pure function of the previous state, a verdict and the time, so it is tested with
//! explicit clocks. A transition yields at most one [`Event`]; the caller turns events into
//! notifications, so a transition can never notify twice. While the alert is suppressed (its
//! dependency fires, or a maintenance window or silence is on) firing notifications wait;
//! resolves are never held back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the latest evaluation says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The objective is breached.
    Breach,
    /// Met, but within the hysteresis band next to the threshold: not enough to resolve.
    Marginal,
    /// Met with margin.
    Recovered,
    /// Too few requests in the window to judge.
    Insufficient,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum AlertState {
    Ok,
    NoData,
    Pending {
        since: DateTime<Utc>,
    },
    Firing {
        since: DateTime<Utc>,
        /// When a firing notification last went out; `None` while every one was suppressed.
        last_sent: Option<DateTime<Utc>>,
        /// Firing notifications sent for this episode, to key each one uniquely.
        sent: u32,
    },
}

impl AlertState {
    pub fn name(&self) -> &'static str {
        match self {
            AlertState::Ok => "ok",
            AlertState::NoData => "no_data",
            AlertState::Pending { .. } => "pending",
            AlertState::Firing { .. } => "firing",
        }
    }

    pub fn is_firing(&self) -> bool {
        matches!(self, AlertState::Firing { .. })
    }
}

pub const STATE_NAMES: [&str; 4] = ["ok", "no_data", "pending", "firing"];

/// A notification to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// `sequence` is 0 for the first notification of an episode, then 1, 2... for repeats.
    Firing { since: DateTime<Utc>, sequence: u32 },
    Resolved {
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    },
}

/// How the machine behaves for one objective.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub for_: Duration,
    pub repeat: Duration,
}

/// One step: the next state and what to send.
pub fn step(
    state: &AlertState,
    verdict: Verdict,
    now: DateTime<Utc>,
    timing: Timing,
    suppressed: bool,
) -> (AlertState, Option<Event>) {
    use AlertState as S;
    use Verdict as V;
    match (state, verdict) {
        (S::Ok | S::NoData, V::Breach) => start_pending(now, now, timing, suppressed),
        (S::Ok | S::NoData, V::Insufficient) | (S::Pending { .. }, V::Insufficient) => {
            (S::NoData, None)
        }
        (S::Ok | S::NoData | S::Pending { .. }, V::Marginal | V::Recovered) => (S::Ok, None),
        (S::Pending { since }, V::Breach) => start_pending(*since, now, timing, suppressed),
        (
            S::Firing {
                since,
                last_sent,
                sent,
            },
            V::Breach | V::Marginal,
        ) => keep_firing(*since, *last_sent, *sent, now, timing, suppressed),
        // No data is no evidence of recovery: a firing alert stays firing, quietly.
        (S::Firing { .. }, V::Insufficient) => (state.clone(), None),
        (
            S::Firing {
                since, last_sent, ..
            },
            V::Recovered,
        ) => {
            let event = last_sent.map(|_| Event::Resolved {
                since: *since,
                at: now,
            });
            (S::Ok, event)
        }
    }
}

fn start_pending(
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    timing: Timing,
    suppressed: bool,
) -> (AlertState, Option<Event>) {
    let elapsed = (now - since).to_std().unwrap_or_default();
    if elapsed < timing.for_ {
        return (AlertState::Pending { since }, None);
    }
    keep_firing(since, None, 0, now, timing, suppressed)
}

fn keep_firing(
    since: DateTime<Utc>,
    last_sent: Option<DateTime<Utc>>,
    sent: u32,
    now: DateTime<Utc>,
    timing: Timing,
    suppressed: bool,
) -> (AlertState, Option<Event>) {
    let due = match last_sent {
        None => true,
        Some(at) => (now - at).to_std().unwrap_or_default() >= timing.repeat,
    };
    if suppressed || !due {
        return (
            AlertState::Firing {
                since,
                last_sent,
                sent,
            },
            None,
        );
    }
    let event = Event::Firing {
        since,
        sequence: sent,
    };
    (
        AlertState::Firing {
            since,
            last_sent: Some(now),
            sent: sent + 1,
        },
        Some(event),
    )
}
