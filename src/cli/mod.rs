//! The command line: `run`, `check`, `once`, `demo`.
//!
//! Each command loads the config once, then hands over to the library. Exit codes:
//! 0 success (for `once`: every objective met), 1 objectives breached or a runtime failure,
//! 2 a config or usage error.

mod alert;
mod check;
mod demo;
mod history;
mod once;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigError};

#[derive(Debug, Parser)]
#[command(
    name = "slamon",
    version,
    about = "Continuous SLA monitoring: scheduled load profiles, sliding-window percentiles, Prometheus export."
)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: monitors on their schedules, metrics on /metrics.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Listen address for /metrics, overriding `[server] listen`.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Validate a config: every problem at once (exit 2), or a summary (exit 0).
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run monitors once now, print their numbers and gate on the objectives.
    Once {
        #[arg(long, short)]
        config: PathBuf,
        /// Only this monitor (default: all of them).
        #[arg(long)]
        monitor: Option<String>,
        /// Run length, overriding each monitor's `duration` (e.g. "2m").
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The runs the daemon recorded, newest first.
    History {
        #[arg(long, short)]
        config: PathBuf,
        /// Only this monitor.
        #[arg(long)]
        monitor: Option<String>,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
    /// Print Prometheus recording and alerting rules (multiwindow, multi-burn-rate) for the
    /// config's objectives, for Prometheus to evaluate across several slamon instances.
    Rules {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Alert channels.
    Alert {
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Serve only the embedded sample API, to try configs and to benchmark against.
    Target {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Start the embedded sample API and the daemon monitoring it with the bundled config.
    Demo {
        /// Listen address for /metrics.
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: std::net::SocketAddr,
        /// Listen address for the sample API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        target_listen: std::net::SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send a test notification through one channel and report the result.
    Test {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        channel: String,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. \"30s\", \"2m\")"))
}

/// Runs the command; the binary maps the result to its exit code.
pub fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Demo {
            listen,
            target_listen,
        } => demo::bind_target(target_listen)
            .and_then(|target| runtime()?.block_on(demo::run(target, listen))),
        command => runtime().and_then(|rt| rt.block_on(dispatch(command))),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

async fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Run { config, listen } => run(&config, listen).await,
        Command::Check { config } => Ok(check::main(&config)),
        Command::Once {
            config,
            monitor,
            duration,
            json,
        } => once::main(&config, monitor, duration, json).await,
        Command::Target { listen } => demo::serve_target(listen).await,
        Command::History {
            config,
            monitor,
            last,
        } => history::main(&config, monitor.as_deref(), last),
        Command::Rules { config } => Ok(match load_or_report(&config) {
            Some(c) => {
                print!("{}", crate::rules::render(&c));
                0
            }
            None => 2,
        }),
        Command::Alert {
            command: AlertCommand::Test { config, channel },
        } => alert::test(&config, &channel).await,
        Command::Demo { .. } => unreachable!("the demo binds its port before the runtime starts"),
    }
}

/// Loads the config, printing each problem on its own line.
pub fn load_or_report(path: &std::path::Path) -> Option<Config> {
    match config::load(path) {
        Ok(c) => Some(c),
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("error: {e}");
            None
        }
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            None
        }
    }
}

async fn run(path: &std::path::Path, listen: Option<std::net::SocketAddr>) -> anyhow::Result<u8> {
    let Some(config) = load_or_report(path) else {
        return Ok(2);
    };
    let addr = listen.unwrap_or(config.server.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    serve_until_signal(config, listener).await
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn serve_until_signal(
    config: Config,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<u8> {
    let shutdown = CancellationToken::new();
    tokio::spawn(on_signal(shutdown.clone()));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<crate::daemon::Running>();
    tokio::spawn(async move {
        if let Ok(running) = started_rx.await {
            reload_on_hangup(running.reload).await;
        }
    });
    crate::daemon::run(config, listener, shutdown, Some(started_tx)).await?;
    Ok(0)
}

/// SIGHUP reloads the config, as `systemctl reload` sends it.
async fn reload_on_hangup(reload: tokio::sync::mpsc::Sender<crate::daemon::ReloadRequest>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("Cannot listen for SIGHUP; reload with POST /-/reload instead.");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config.");
            let (tx, rx) = tokio::sync::oneshot::channel();
            if reload.send(tx).await.is_err() {
                return;
            }
            let _ = rx.await;
        }
    }
    #[cfg(not(unix))]
    drop(reload);
}

/// Cancels `token` on Ctrl-C or SIGTERM.
pub async fn on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    token.cancel();
}

/// Starts logging to standard error.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLAMON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
