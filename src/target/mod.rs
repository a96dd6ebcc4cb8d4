//! Embedded sample API ("demo target") for `slamon demo` and integration tests.
//!
//! A small but realistic JSON API served on loopback that implements the
//! endpoints of the Locust SLA-monitoring guide, so that load profiles written
//! for that guide can be run against something without external services:
//!
//! | Route | Auth | Purpose |
//! |---|---|---|
//! | `GET /health` | none | liveness, `{"status":"ok"}` |
//! | `POST /api/v1/auth/login` | none | JSON email/password login, issues a bearer token |
//! | `POST /api/v1/auth/token` | none | OAuth2 password grant (form-urlencoded) |
//! | `GET /api/v1/dashboard/summary?range=` | bearer | `1h`, `24h`, `7d`, `30d` |
//! | `GET /api/v1/products?category=&limit=` | bearer | catalogue listing |
//! | `POST /api/v1/orders` | bearer | place an order (201) |
//! | `GET /api/v1/orders/{order_id}` | bearer | read an order back |
//! | `GET /api/v2/incidents/search` | `X-API-Key` | filter by severity, region, status |
//! | `POST /api/v2/reports/generate` | `X-API-Key` | 200 inline or 202 queued |
//! | `GET /api/v1/account/profile`, `GET /api/v1/account/usage?window=` | bearer | account data |
//! | `PATCH /api/v1/account/preferences/notifications` | bearer | partial update |
//!
//! Bearer tokens are those issued by the two auth endpoints (valid one hour,
//! at most 100 000 kept) plus the static deployment-gate token
//! `ci-cd-monitoring-token`. Errors are JSON `{"error", "message"}` (OAuth
//! errors use `{"error", "error_description"}`); unknown paths are a JSON 404.
//! Every request to one of these routes is delayed by 1–15 ms of jitter so
//! latency percentiles have a realistic spread.
//!
//! # Fault switch
//!
//! Faults are keyed by route name, the path template with parameters written
//! as `[id]` (`/api/v1/orders/[id]`, the names Locust's `name=` uses), or `*`
//! for every route; a route's own fault wins over `*`. A fault delays the
//! request by `latency_ms` (instead of the jitter), then answers
//! `status` (default 500) for an `error_rate` share of requests. Faults can be
//! changed from Rust with [`TargetServer::faults`] or at runtime over HTTP:
//!
//! - `GET /_faults` lists active faults and the route names they may target;
//! - `POST /_faults` with `{"route": "/api/v1/dashboard/summary", "latency_ms": 800, "error_rate": 0.0}`
//!   sets one (optional `"status": 503`);
//! - `DELETE /_faults` clears all, `DELETE /_faults?route=...` clears one.
//!
//! The `/_faults` endpoints are never themselves subject to faults.

mod account;
mod auth;
mod faults;
mod reporting;
mod routes;
mod shop;
mod store;
mod support;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use faults::{ALL_ROUTES, Fault, Faults};

/// A running demo target. Dropping it does not stop the server; cancel the
/// shutdown token passed to [`TargetServer::start`].
pub struct TargetServer {
    addr: SocketAddr,
    faults: Faults,
    hits: faults::Hits,
    task: JoinHandle<()>,
}

impl TargetServer {
    /// Serves on an already bound listener (typically `127.0.0.1:0`): spawns
    /// the server on the current tokio runtime and returns at once. The
    /// server stops gracefully once `shutdown` is cancelled.
    ///
    /// # Errors
    ///
    /// Fails only if the listener's local address cannot be read.
    pub async fn start(
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<TargetServer> {
        let addr = listener.local_addr()?;
        let faults = Faults::default();
        let (router, hits) = routes::build(faults.clone(), shutdown.clone());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(err) = served {
                tracing::error!(%addr, error = %err, "demo target stopped with an error");
            }
        });
        tracing::debug!(%addr, "demo target listening");
        Ok(TargetServer {
            addr,
            faults,
            hits,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL without trailing slash, e.g. `http://127.0.0.1:41234`. A
    /// wildcard bind address is replaced by loopback, which is connectable.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Handle to change the faults of this server from Rust.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// Requests received so far by the route named `route` (e.g.
    /// `/api/v1/orders/[id]`; `{order_id}` style is accepted too), including
    /// those answered with an injected fault; a method the route does not
    /// serve (405) is not counted. Unknown routes count 0.
    pub fn hits(&self, route: &str) -> u64 {
        self.hits.get(route)
    }

    /// Waits until the server task ended (after shutdown is cancelled).
    pub async fn stopped(self) {
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "demo target task failed");
        }
    }
}
