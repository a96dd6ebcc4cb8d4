//! The config file as written: serde structs that mirror the TOML, nothing more.
//!
//! Every struct rejects unknown keys. Collections whose items are checked one by one
//! (`monitors`, `setup`, `tasks`, `steps`, `checks`, `extract`, `objectives`) and tables with a
//! `type` tag are declared as [`IgnoredAny`] here and read item by item by [`super::parse`], so
//! that one broken step does not hide the problems of the next one, and every error keeps the
//! exact position of the value it is about. Nothing outside the config module sees these types.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::values::{Dur, Percent, Rate, WaitRange};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub listen: Option<String>,
    pub windows: Option<Vec<Dur>>,
    pub state_dir: Option<String>,
    pub external_url: Option<String>,
    pub evaluate_every: Option<Dur>,
    pub limits: Option<super::limits::RawLimits>,
    pub history_retention: Option<Dur>,
    pub shutdown_grace: Option<Dur>,
    pub save_every: Option<Dur>,
    pub auth_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    pub name: Option<String>,
    pub base_url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<Dur>,
    pub tls_verify: Option<bool>,
    pub max_body_bytes: Option<u64>,
    pub duration: Option<Dur>,
    pub schedule: Option<Schedule>,
    #[serde(rename = "load")]
    pub _load: Option<IgnoredAny>,
    #[serde(default)]
    pub variables: BTreeMap<String, toml::Value>,
    #[serde(rename = "setup")]
    pub _setup: Option<IgnoredAny>,
    #[serde(rename = "tasks")]
    pub _tasks: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub every: Option<Dur>,
    pub cron: Option<String>,
    pub jitter: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedLoad {
    pub users: u32,
    pub spawn_rate: Option<f64>,
    pub wait: Option<WaitRange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenLoad {
    pub rate: Rate,
    pub max_in_flight: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub name: Option<String>,
    pub weight: Option<u32>,
    #[serde(rename = "steps")]
    pub _steps: IgnoredAny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: Option<String>,
    pub method: Option<String>,
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub json: Option<toml::Value>,
    pub form: Option<BTreeMap<String, toml::Value>>,
    pub body: Option<String>,
    #[serde(rename = "checks")]
    pub _checks: Option<IgnoredAny>,
    #[serde(rename = "extract")]
    pub _extract: Option<IgnoredAny>,
    #[serde(default)]
    pub set_headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCheck {
    #[serde(rename = "in")]
    pub codes: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPathCheck {
    pub path: String,
    pub equals: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyContainsCheck {
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyCheck {
    pub below: Dur,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPathExtract {
    pub var: String,
    pub path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderExtract {
    pub var: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexExtract {
    pub var: String,
    pub pattern: String,
    pub group: Option<usize>,
}

/// The keys every objective has, whatever its `type`.
pub const OBJECTIVE_COMMON_KEYS: &[&str] = &[
    "name",
    "monitor",
    "endpoint",
    "window",
    "for",
    "repeat",
    "min_requests",
    "depends_on",
    "labels",
    "budget_period",
    "burn_rates",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveCommon {
    pub name: String,
    pub monitor: String,
    pub endpoint: Option<String>,
    pub window: Dur,
    #[serde(rename = "for")]
    pub for_: Option<Dur>,
    pub repeat: Option<Dur>,
    pub min_requests: Option<u64>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub budget_period: Option<Dur>,
    pub burn_rates: Option<Vec<BurnRate>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRate {
    pub long: Dur,
    pub short: Dur,
    pub factor: f64,
    pub severity: String,
}

/// The keys every channel has, whatever its `type`.
pub const CHANNEL_COMMON_KEYS: &[&str] = &[
    "name",
    "timeout",
    "retry_initial",
    "retry_max",
    "give_up_after",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelCommon {
    pub name: String,
    pub timeout: Option<Dur>,
    pub retry_initial: Option<Dur>,
    pub retry_max: Option<Dur>,
    pub give_up_after: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub hmac_secret: Option<String>,
    pub template: Option<String>,
    pub template_file: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerChannel {
    pub urls: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    pub smtp: String,
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(rename = "match", default)]
    pub matchers: BTreeMap<String, String>,
    pub channels: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    pub name: String,
    pub cron: String,
    pub duration: Dur,
    #[serde(default)]
    pub monitors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyObjective {
    pub percentile: f64,
    pub below: Dur,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyShareObjective {
    pub under: Dur,
    pub at_least: Percent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BelowPercent {
    pub below: Percent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtLeastPercent {
    pub at_least: Percent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtLeastRate {
    pub at_least: Rate,
}

/// A table whose `type` key picks which struct the rest of it is.
macro_rules! tagged {
    ($(#[$m:meta])* $name:ident { $($tag:literal => $variant:ident($ty:ty)),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug)]
        pub enum $name { $($variant($ty)),* }

        impl $name {
            pub const TAGS: &'static [&'static str] = &[$($tag),*];

            /// Reads the rest of the table as the struct of `tag`; `None` for an unknown tag.
            pub fn from_tag<'de, D>(tag: &str, rest: D) -> Option<Result<Self, D::Error>>
            where
                D: serde::Deserializer<'de>,
            {
                match tag {
                    $($tag => Some(<$ty>::deserialize(rest).map($name::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}

tagged!(
    /// `[monitors.load]`
    Load { "closed" => Closed(ClosedLoad), "open" => Open(OpenLoad) }
);
tagged!(
    /// An item of a step's `checks`.
    Check {
        "status" => Status(StatusCheck),
        "json_path" => JsonPath(JsonPathCheck),
        "body_contains" => BodyContains(BodyContainsCheck),
        "latency" => Latency(LatencyCheck),
    }
);
tagged!(
    /// An item of a step's `extract`.
    Extract {
        "json_path" => JsonPath(JsonPathExtract),
        "header" => Header(HeaderExtract),
        "regex" => Regex(RegexExtract),
    }
);
tagged!(
    /// What an objective measures, from the objective's `type` and its own keys.
    ObjectiveKind {
        "latency" => Latency(LatencyObjective),
        "latency_share" => LatencyShare(LatencyShareObjective),
        "error_rate" => ErrorRate(BelowPercent),
        "availability" => Availability(AtLeastPercent),
        "throughput" => Throughput(AtLeastRate),
    }
);
tagged!(
    /// What a channel is, from its `type` and its own keys.
    ChannelKind {
        "webhook" => Webhook(WebhookChannel),
        "alertmanager" => Alertmanager(AlertmanagerChannel),
        "email" => Email(EmailChannel),
    }
);
