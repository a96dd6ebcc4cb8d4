//! The checked config: what every stage after `config` works with.
//!
//! Everything here has been validated: URLs parse, durations are `Duration`s, cron expressions
//! compile, templates compile and only use variables in scope, names are unique and objectives
//! point at monitors and endpoints that exist. No raw string from the file is left to interpret.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderName;
use serde_json_path::JsonPath;
use url::Url;

use crate::template::{JsonTemplate, Templates, Text};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// Relative to the working directory; the systemd unit sets an absolute one.
pub const DEFAULT_STATE_DIR: &str = "slamon-state";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_WINDOWS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(300)];

#[derive(Clone, Debug)]
pub struct Config {
    pub file: PathBuf,
    pub server: Server,
    pub monitors: Vec<Arc<Monitor>>,
    pub objectives: Vec<Objective>,
    pub templates: Templates,
    pub channels: Vec<Arc<Channel>>,
    /// Empty: every notification goes to every channel.
    pub routes: Vec<Route>,
    pub maintenance: Vec<Maintenance>,
}

#[derive(Clone, Debug)]
pub struct Server {
    pub listen: SocketAddr,
    /// Windows every series keeps for display, besides those its objectives need.
    pub windows: Vec<Duration>,
    /// Where the state store lives.
    pub state_dir: PathBuf,
    /// How receivers reach slamon, for links in notifications.
    pub external_url: String,
    /// How often objectives are evaluated for alerting.
    pub evaluate_every: Duration,
    /// How long shutdown waits for runs in progress, the last alert evaluation and a last
    /// delivery pass.
    pub shutdown_grace: Duration,
    /// How often the sliding windows are saved to the state store.
    pub save_every: Duration,
    /// How long the run history keeps a run.
    pub history_retention: Duration,
    /// Caps on the load monitors may generate.
    pub limits: super::limits::Limits,
    /// When set, the API and reload endpoints require `Authorization: Bearer <token>`.
    pub auth_token: Option<Secret>,
}

#[derive(Debug)]
pub struct Monitor {
    pub name: Arc<str>,
    pub base_url: Url,
    pub headers: Vec<(HeaderName, Text)>,
    pub timeout: Duration,
    pub tls_verify: bool,
    pub max_body_bytes: u64,
    pub duration: Duration,
    pub schedule: Schedule,
    pub load: LoadModel,
    pub variables: BTreeMap<String, serde_json::Value>,
    pub setup: Vec<Step>,
    pub tasks: Vec<Task>,
}

impl Monitor {
    /// Every endpoint name the monitor's steps use, in order of first appearance.
    pub fn endpoints(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = Vec::new();
        let steps = self
            .setup
            .iter()
            .chain(self.tasks.iter().flat_map(|t| t.steps.iter()));
        for step in steps {
            if !names.contains(&step.endpoint) {
                names.push(step.endpoint.clone());
            }
        }
        names
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Every {
        interval: Duration,
        jitter: Duration,
    },
    Cron {
        expr: String,
        jitter: Duration,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum LoadModel {
    /// Locust's model: `users` loop over tasks, waiting between them.
    Closed {
        users: u32,
        spawn_rate: f64,
        wait_min: Duration,
        wait_max: Duration,
    },
    /// k6's constant arrival rate: iterations start at `rate` per second whatever the server
    /// does, at most `max_in_flight` at once; the rest are dropped and counted.
    Open { rate: f64, max_in_flight: u32 },
}

#[derive(Debug)]
pub struct Task {
    pub name: String,
    pub weight: u32,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Step {
    /// The `endpoint` label: the step's `name`, or its path as written.
    pub endpoint: Arc<str>,
    pub method: Method,
    pub path: Text,
    pub query: Vec<(String, Text)>,
    pub headers: Vec<(HeaderName, Text)>,
    pub body: Body,
    pub checks: Vec<Check>,
    pub extract: Vec<Extract>,
    pub set_headers: Vec<(HeaderName, Text)>,
}

#[derive(Debug)]
pub enum Body {
    None,
    Json(JsonTemplate),
    Form(Vec<(String, Text)>),
    Raw(Text),
}

#[derive(Debug)]
pub enum Check {
    /// Accepted statuses. Without one, any status below 400 is accepted.
    Status(Vec<u16>),
    JsonPathExists {
        path: JsonPath,
        source: String,
    },
    JsonPathEquals {
        path: JsonPath,
        source: String,
        value: serde_json::Value,
    },
    BodyContains(String),
    LatencyBelow(Duration),
}

#[derive(Debug)]
pub enum Extract {
    JsonPath {
        var: String,
        path: JsonPath,
        source: String,
    },
    Header {
        var: String,
        name: HeaderName,
    },
    Regex {
        var: String,
        regex: regex::Regex,
        group: usize,
    },
}

impl Extract {
    pub fn var(&self) -> &str {
        match self {
            Extract::JsonPath { var, .. }
            | Extract::Header { var, .. }
            | Extract::Regex { var, .. } => var,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub name: Arc<str>,
    pub monitor: Arc<str>,
    /// `None`: the monitor as a whole.
    pub endpoint: Option<Arc<str>>,
    pub window: Duration,
    pub kind: ObjectiveKind,
    pub alert: AlertPolicy,
}

impl Objective {
    /// For a ratio objective: the share of requests allowed to be bad, and which requests are
    /// bad. A latency percentile objective is the ratio "at least p% of requests within the
    /// bound" (the SRE workbook's latency SLI), so it has a budget too; throughput has none.
    pub fn budget_fraction(&self) -> Option<f64> {
        match self.kind {
            ObjectiveKind::Latency { percentile, .. } => Some(1.0 - percentile / 100.0),
            ObjectiveKind::LatencyShare { at_least, .. }
            | ObjectiveKind::Availability { at_least } => Some(1.0 - at_least),
            ObjectiveKind::ErrorRate { below } => Some(below),
            ObjectiveKind::Throughput { .. } => None,
        }
    }

    /// The latency bound whose "good" counter the budget needs, if any.
    pub fn good_threshold(&self) -> Option<Duration> {
        match self.kind {
            ObjectiveKind::Latency { below, .. } => Some(below),
            ObjectiveKind::LatencyShare { under, .. } => Some(under),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ObjectiveKind {
    /// The `percentile` (0..100) of latency is below `below`.
    Latency { percentile: f64, below: Duration },
    /// At least `at_least` (a ratio) of requests completed successfully within `under`.
    LatencyShare { under: Duration, at_least: f64 },
    /// Failed requests, of any kind, are below `below` (a ratio).
    ErrorRate { below: f64 },
    /// Requests the service answered without a server error are at least `at_least` (a ratio).
    Availability { at_least: f64 },
    /// Requests per second over the window are at least `at_least`.
    Throughput { at_least: f64 },
}

impl ObjectiveKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            ObjectiveKind::Latency { .. } => "latency",
            ObjectiveKind::LatencyShare { .. } => "latency_share",
            ObjectiveKind::ErrorRate { .. } => "error_rate",
            ObjectiveKind::Availability { .. } => "availability",
            ObjectiveKind::Throughput { .. } => "throughput",
        }
    }
}

/// A value resolved from a secret reference: usable, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

/// Where notifications go.
#[derive(Debug)]
pub struct Channel {
    pub name: Arc<str>,
    pub kind: ChannelKind,
    /// Per delivery attempt.
    pub timeout: Duration,
    /// Retries back off exponentially from `retry_initial` up to `retry_max`, with jitter; a
    /// notification is given up after `give_up_after` in the outbox.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
}

#[derive(Debug)]
pub enum ChannelKind {
    Webhook(WebhookChannel),
    Alertmanager(AlertmanagerChannel),
    Email(EmailChannel),
}

#[derive(Debug)]
pub struct WebhookChannel {
    pub url: Url,
    /// Extra headers; values may come from secrets.
    pub headers: Vec<(HeaderName, Secret)>,
    /// Key of the `X-Slamon-Signature: sha256=<hex>` HMAC over the body.
    pub hmac_secret: Option<Secret>,
    /// A minijinja template producing the body instead of the JSON payload; the notification is
    /// its context.
    pub template: Option<String>,
    /// Content type of a templated body (the JSON payload is always application/json).
    pub content_type: String,
}

#[derive(Debug)]
pub struct AlertmanagerChannel {
    /// Every Alertmanager peer; each alert is sent to all of them.
    pub urls: Vec<Url>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (the `smtp://` scheme); refuses to send if the
    /// server cannot upgrade, unless `tls = "none"`.
    StartTls,
    /// TLS from the first byte (the `smtps://` scheme).
    Implicit,
    /// No encryption, for a relay on the same host.
    None,
}

#[derive(Debug)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

/// Sends the notifications of objectives whose labels match to channels.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Every label here must equal the objective's; empty matches every objective.
    pub matchers: BTreeMap<String, String>,
    pub channels: Vec<Arc<str>>,
}

/// A recurring window in which notifications are held back (never measurement).
#[derive(Clone, Debug, PartialEq)]
pub struct Maintenance {
    pub name: Arc<str>,
    pub cron: String,
    pub duration: Duration,
    /// Monitors it covers; empty covers all.
    pub monitors: Vec<Arc<str>>,
}

/// How an objective alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertPolicy {
    /// How long a breach must last before it fires.
    pub for_: Duration,
    /// How often a firing alert is sent again.
    pub repeat: Duration,
    /// Fewer requests than this in the window is "insufficient data": no verdict, no alert.
    pub min_requests: u64,
    /// Objectives this one depends on: while one of them fires, this one does not notify.
    pub depends_on: Vec<Arc<str>>,
    /// Labels for routing and for receivers (severity, team, service...).
    pub labels: BTreeMap<String, String>,
    /// Error budget and burn-rate alerts, for ratio objectives.
    pub budget: Option<BudgetPolicy>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BudgetPolicy {
    /// The SLO period the error budget covers, e.g. 30 days.
    pub period: Duration,
    pub burn_rates: Vec<BurnRateAlert>,
}

/// Fires when the burn rate over both `long` and `short` is at least `factor`.
#[derive(Clone, Debug, PartialEq)]
pub struct BurnRateAlert {
    pub long: Duration,
    pub short: Duration,
    pub factor: f64,
    pub severity: String,
}

impl BurnRateAlert {
    /// The SRE workbook's multiwindow, multi-burn-rate defaults for a 30-day period.
    pub fn workbook_defaults() -> Vec<BurnRateAlert> {
        let h = |n: u64| Duration::from_secs(n * 3600);
        let m = |n: u64| Duration::from_secs(n * 60);
        vec![
            BurnRateAlert {
                long: h(1),
                short: m(5),
                factor: 14.4,
                severity: "page".into(),
            },
            BurnRateAlert {
                long: h(6),
                short: m(30),
                factor: 6.0,
                severity: "page".into(),
            },
            BurnRateAlert {
                long: h(24),
                short: h(2),
                factor: 3.0,
                severity: "ticket".into(),
            },
            BurnRateAlert {
                long: h(72),
                short: h(6),
                factor: 1.0,
                severity: "ticket".into(),
            },
        ]
    }
}
