//! A virtual user: its variables, its session headers, and the steps it runs.
//!
//! A user runs the monitor's setup steps once (log in, keep the token), then tasks. Each step
//! becomes exactly one sample on the channel. When a step fails, the rest of its task is
//! skipped, as a real user would stop after a failed order; when setup fails, the user tries
//! setup again before its next task.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::{Session, exchange};
use super::verdict::judge;
use crate::config::model::{Monitor, Step};
use crate::sample::{Outcome, Sample};
use crate::template::{Templates, context};

/// What every user of one run shares.
pub struct RunContext {
    pub monitor: Arc<Monitor>,
    pub templates: Templates,
    pub client: reqwest::Client,
    pub samples: mpsc::Sender<Sample>,
    pub base_vars: BTreeMap<String, Value>,
}

impl RunContext {
    pub fn new(
        monitor: Arc<Monitor>,
        templates: Templates,
        client: reqwest::Client,
        samples: mpsc::Sender<Sample>,
    ) -> Self {
        let base_vars = monitor
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(minijinja::value::Serde(v))))
            .collect();
        RunContext {
            monitor,
            templates,
            client,
            samples,
            base_vars,
        }
    }
}

pub struct VirtualUser {
    vars: BTreeMap<String, Value>,
    headers: HeaderMap,
    set_up: bool,
}

impl VirtualUser {
    pub fn new(ctx: &RunContext) -> Self {
        VirtualUser {
            vars: ctx.base_vars.clone(),
            headers: HeaderMap::new(),
            set_up: ctx.monitor.setup.is_empty(),
        }
    }

    pub fn is_set_up(&self) -> bool {
        self.set_up
    }

    /// Runs the setup steps; true when they all succeeded.
    pub async fn setup(&mut self, ctx: &RunContext) -> bool {
        for step in &ctx.monitor.setup {
            if !self.step(ctx, step, None).await {
                return false;
            }
        }
        self.set_up = true;
        true
    }

    /// Runs the steps of task `index`. The first step's latency counts from `intended` when
    /// given (open model), so time spent waiting for a free slot shows in the percentiles.
    pub async fn task(
        &mut self,
        ctx: &RunContext,
        index: usize,
        intended: Option<Instant>,
    ) -> bool {
        let Some(task) = ctx.monitor.tasks.get(index) else {
            return false;
        };
        let mut intended = intended;
        for step in &task.steps {
            if !self.step(ctx, step, intended.take()).await {
                return false;
            }
        }
        true
    }

    async fn step(&mut self, ctx: &RunContext, step: &Step, intended: Option<Instant>) -> bool {
        let start = Instant::now();
        let cvars = context(&self.vars);
        let session = Session {
            ctx: &cvars,
            headers: &self.headers,
        };
        let ex = exchange(&ctx.client, &ctx.monitor, &ctx.templates, step, &session).await;
        let at = Instant::now();
        let latency = at - intended.map_or(start, |i| i.min(start));
        let verdict = judge(step, &ex, latency);
        let ok = verdict.outcome.is_ok();
        if ok {
            for (k, v) in verdict.extracted {
                self.vars.insert(k, v);
            }
            self.apply_set_headers(ctx, step);
        }
        let status = ex.status.map(|s| s.as_u16());
        let unavailable = matches!(
            verdict.outcome,
            Outcome::Timeout | Outcome::Connect | Outcome::Dns | Outcome::Tls | Outcome::Protocol
        ) || status.is_some_and(|s| s >= 500);
        if let Some(m) = &verdict.message {
            tracing::debug!(monitor = %ctx.monitor.name, endpoint = %step.endpoint, outcome = verdict.outcome.as_str(), "Request failed: {m}");
        }
        let sample = Sample {
            monitor: ctx.monitor.name.clone(),
            endpoint: step.endpoint.clone(),
            outcome: verdict.outcome,
            status,
            unavailable,
            latency,
            ttfb: ex.ttfb,
            at,
            message: verdict.message,
        };
        // The receiver only goes away at shutdown, when the sample has nowhere to go anyway.
        let _ = ctx.samples.send(sample).await;
        ok
    }

    fn apply_set_headers(&mut self, ctx: &RunContext, step: &Step) {
        if step.set_headers.is_empty() {
            return;
        }
        let cvars = context(&self.vars);
        for (name, text) in &step.set_headers {
            let rendered = ctx.templates.render(text, &cvars).and_then(|v| {
                HeaderValue::from_str(&v).map_err(|_| "not a valid header value".to_string())
            });
            match rendered {
                Ok(v) => {
                    self.headers.insert(name.clone(), v);
                }
                Err(e) => {
                    tracing::warn!(monitor = %ctx.monitor.name, header = %name, "A set_headers value was not set: {e}")
                }
            }
        }
    }
}
