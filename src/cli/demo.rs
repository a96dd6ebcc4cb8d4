//! `slamon demo` and `slamon target`: the embedded sample API, with or without the daemon
//! monitoring it.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::target::TargetServer;

/// The config the demo runs, bundled into the binary.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// Binds the sample API's port and publishes its URL as `SLAMON_TARGET`, which the bundled
/// config reads. Called before the runtime starts: setting a variable is only sound while this
/// is the only thread.
pub fn bind_target(target_listen: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(target_listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .with_context(|| format!("cannot listen on {target_listen} for the sample API (try --target-listen 127.0.0.1:0)"))?;
    let addr = listener.local_addr()?;
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("SLAMON_TARGET", format!("http://{addr}")) };
    Ok(listener)
}

pub async fn run(target: std::net::TcpListener, listen: SocketAddr) -> anyhow::Result<u8> {
    let config = crate::config::from_str(DEMO_CONFIG, Path::new("config/demo.toml"))
        .context("the bundled demo config is invalid")?;
    let stop_target = CancellationToken::new();
    let target = TargetServer::start(
        tokio::net::TcpListener::from_std(target)?,
        stop_target.clone(),
    )
    .await
    .context("cannot start the sample API")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (try --listen 127.0.0.1:0)"))?;
    let metrics_addr = listener.local_addr()?;
    let base = target.base_url();
    println!("slamon demo");
    println!("  sample API:  {base}");
    println!("  metrics:     http://{metrics_addr}/metrics");
    println!(
        "  monitors:    {}",
        config
            .monitors
            .iter()
            .map(|m| &*m.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("Make the dashboard slow and watch `slamon_objective_met` drop to 0:");
    println!(
        "  curl -X POST {base}/_faults -H 'content-type: application/json' -d '{{\"route\":\"/api/v1/dashboard/summary\",\"latency_ms\":800}}'"
    );
    println!("  curl -X DELETE {base}/_faults");
    println!("Press Ctrl-C to stop.");
    let code = super::serve_until_signal(config, listener).await;
    stop_target.cancel();
    target.stopped().await;
    code
}

/// `slamon target`: the sample API alone, until Ctrl-C.
pub async fn serve_target(listen: SocketAddr) -> anyhow::Result<u8> {
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} for the sample API"))?;
    let target = TargetServer::start(listener, stop.clone())
        .await
        .context("cannot start the sample API")?;
    println!("sample API on {}; Ctrl-C stops it", target.base_url());
    super::on_signal(stop).await;
    target.stopped().await;
    Ok(0)
}
