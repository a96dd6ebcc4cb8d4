//! `slamon demo`: the embedded sample API plus the daemon monitoring it, on loopback.

use std::path::Path;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::target::TargetServer;

/// The config the demo runs, bundled into the binary.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

pub fn main(listen: std::net::SocketAddr, target_listen: std::net::SocketAddr) -> ExitCode {
    // Bound before the runtime starts: the config reads the target's URL from the environment,
    // and setting a variable is only sound while this is the only thread.
    let target = match std::net::TcpListener::bind(target_listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot listen on {target_listen} for the sample API: {e} (try --target-listen 127.0.0.1:0)"
            );
            return ExitCode::from(1);
        }
    };
    let target_addr = match target.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("SLAMON_TARGET", format!("http://{target_addr}")) };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    ExitCode::from(runtime.block_on(run(target, listen)))
}

async fn run(target: std::net::TcpListener, listen: std::net::SocketAddr) -> u8 {
    let config = match crate::config::from_str(DEMO_CONFIG, Path::new("config/demo.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: the bundled demo config is invalid:\n{e}");
            return 2;
        }
    };
    let stop_target = CancellationToken::new();
    let target = match tokio::net::TcpListener::from_std(target) {
        Ok(l) => TargetServer::start(l, stop_target.clone()).await,
        Err(e) => Err(e),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the sample API: {e}");
            return 1;
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e} (try --listen 127.0.0.1:0)");
            return 1;
        }
    };
    let metrics_addr = listener.local_addr().map_or(listen, |a| a);
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
pub async fn serve_target(listen: std::net::SocketAddr) -> u8 {
    let stop = CancellationToken::new();
    let target = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => TargetServer::start(l, stop.clone()).await,
        Err(e) => Err(e),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the sample API on {listen}: {e}");
            return 1;
        }
    };
    println!("sample API on {}; Ctrl-C stops it", target.base_url());
    super::on_signal(stop).await;
    target.stopped().await;
    0
}
