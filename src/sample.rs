//! One request, one sample.
//!
//! Every request the load engine sends ends as exactly one [`Sample`], whether it succeeded,
//! failed a check, or never reached the server. A failure is data, never an `Err` that ends a
//! run: the [`Outcome`] says which of a small closed set of kinds it was, so it can be a
//! Prometheus label without unbounded cardinality.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// How a request ended. The set is closed on purpose: it is the `outcome` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    /// The server answered with a status the step does not accept.
    HttpStatus,
    /// The server answered as expected, but a check on the body, a JSON field, the latency or an
    /// extraction failed.
    CheckFailed,
    /// No complete answer within the monitor's timeout.
    Timeout,
    /// The TCP connection could not be made (refused, unreachable).
    Connect,
    /// The host name could not be resolved.
    Dns,
    /// The TLS handshake failed (bad certificate, protocol mismatch).
    Tls,
    /// The body was larger than the monitor's `max_body_bytes`.
    BodyTooLarge,
    /// The connection broke mid-exchange or the answer was not valid HTTP.
    Protocol,
    /// The request could not be built (a template rendered an invalid URL or header).
    Request,
}

impl Outcome {
    pub const ALL: [Outcome; 10] = [
        Outcome::Ok,
        Outcome::HttpStatus,
        Outcome::CheckFailed,
        Outcome::Timeout,
        Outcome::Connect,
        Outcome::Dns,
        Outcome::Tls,
        Outcome::BodyTooLarge,
        Outcome::Protocol,
        Outcome::Request,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HttpStatus => "http_status",
            Outcome::CheckFailed => "check_failed",
            Outcome::Timeout => "timeout",
            Outcome::Connect => "connect",
            Outcome::Dns => "dns",
            Outcome::Tls => "tls",
            Outcome::BodyTooLarge => "body_too_large",
            Outcome::Protocol => "protocol",
            Outcome::Request => "request",
        }
    }

    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The result of one request.
#[derive(Clone, Debug)]
pub struct Sample {
    pub monitor: Arc<str>,
    pub endpoint: Arc<str>,
    pub outcome: Outcome,
    /// The HTTP status, when the server answered at all.
    pub status: Option<u16>,
    /// A server-side failure: no answer, or a 5xx. Availability counts only these as bad;
    /// a 4xx or a failed content check is an error but the service was up.
    pub unavailable: bool,
    /// From the intended start (open model) or the actual start (closed model) to the last byte
    /// of the body, or to the failure.
    pub latency: Duration,
    /// From the actual start to the response headers, when a response arrived.
    pub ttfb: Option<Duration>,
    /// When the request completed; windows bucket samples by this instant.
    pub at: Instant,
    /// Why it failed, for logs and the CLI. Never a label: it can hold anything.
    pub message: Option<String>,
}
