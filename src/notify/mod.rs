//! Stage 8, notify: delivers notifications to channels, reliably.
//!
//! - In: [`Notification`]s with an idempotency key, put in the durable outbox by the alert
//!   engine.
//! - Out: HTTP requests and mails to receivers: a webhook ([`webhook`]), Alertmanager's API v2
//!   ([`alertmanager`]), email over SMTP ([`email`]).
//! - A send either succeeds, or fails with a [`SendError`] that says whether trying again can
//!   help; the delivery worker retries with exponential backoff and jitter from the outbox, so a
//!   notification survives both a down receiver and a restart of slamon.
//! - Secrets (HMAC keys, SMTP passwords, header values) are used here and never logged.

pub mod alertmanager;
pub mod delivery;
pub mod email;
pub mod webhook;

use crate::alert::Notification;
use crate::config::model::{Channel, ChannelKind};

/// The HTTP client of a receiver channel. Redirects are not followed: the body would be lost
/// and configured credential headers could go to another host.
pub(crate) fn receiver_client(
    timeout: std::time::Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    // Another part of the process may have installed a provider already; either is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("slamon/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// True when the same notification may succeed later (timeouts, connection errors, 5xx,
    /// 429, SMTP 4xx); false when it never will (4xx, rejected recipients).
    pub retryable: bool,
    pub message: String,
}

/// A channel ready to send.
pub enum Sender {
    Webhook(webhook::Webhook),
    Alertmanager(alertmanager::Alertmanager),
    Email(email::Email),
}

impl Sender {
    pub fn new(channel: &Channel) -> Result<Sender, SendError> {
        Ok(match &channel.kind {
            ChannelKind::Webhook(c) => Sender::Webhook(webhook::Webhook::new(c, channel.timeout)?),
            ChannelKind::Alertmanager(c) => {
                Sender::Alertmanager(alertmanager::Alertmanager::new(c, channel.timeout)?)
            }
            ChannelKind::Email(c) => Sender::Email(email::Email::new(c, channel.timeout)?),
        })
    }

    /// Sends one notification. `idempotency_key` is the same for every attempt of one delivery,
    /// so a receiver can drop a duplicate after a retry whose first attempt did arrive.
    pub async fn send(&self, n: &Notification, idempotency_key: &str) -> Result<(), SendError> {
        match self {
            Sender::Webhook(w) => w.send(n, idempotency_key).await,
            Sender::Alertmanager(a) => a.send(n, idempotency_key).await,
            Sender::Email(e) => e.send(n, idempotency_key).await,
        }
    }
}
#[cfg(test)]
mod tests;
