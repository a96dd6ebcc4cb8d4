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
}

#[derive(Clone, Debug)]
pub struct Server {
    pub listen: SocketAddr,
    /// Windows every series keeps for display, besides those its objectives need.
    pub windows: Vec<Duration>,
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
