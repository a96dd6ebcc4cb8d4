//! `slamon history`: the runs the daemon recorded, newest first.

use std::path::Path;

use anyhow::Context;

use super::load_or_report;
use crate::sla::run::RunRecord;
use crate::state::Store;

pub fn main(path: &Path, monitor: Option<&str>, last: usize) -> anyhow::Result<u8> {
    let Some(config) = load_or_report(path) else {
        return Ok(2);
    };
    let store = Store::open(&config.server.state_dir).with_context(|| {
        format!(
            "cannot open the state in {}",
            config.server.state_dir.display()
        )
    })?;
    let runs = store.runs(monitor, last)?;
    if runs.is_empty() {
        println!(
            "no runs recorded{}",
            monitor
                .map(|m| format!(" for monitor {m}"))
                .unwrap_or_default()
        );
        return Ok(0);
    }
    println!(
        "{:<25} {:<20} {:>9} {:>7} {:>6} {:>8} {:>8} {:>8} {:>8}  OBJECTIVES",
        "STARTED", "MONITOR", "DURATION", "REQS", "FAILS", "P50 ms", "P95 ms", "P99 ms", "MAX ms"
    );
    for r in &runs {
        println!("{}", line(r));
    }
    Ok(0)
}

fn line(r: &RunRecord) -> String {
    let ms = |k: &str| {
        r.latency_seconds
            .get(k)
            .map_or("-".to_string(), |v| format!("{:.1}", v * 1000.0))
    };
    let fails: u64 = r.failures.values().sum();
    let met = r.objectives.values().filter(|v| **v == Some(true)).count();
    let breached: Vec<&str> = r
        .objectives
        .iter()
        .filter(|(_, v)| **v == Some(false))
        .map(|(k, _)| k.as_str())
        .collect();
    let unjudged = r.objectives.values().filter(|v| v.is_none()).count();
    let mut verdict = format!("{met} met");
    if !breached.is_empty() {
        verdict.push_str(&format!(", breached: {}", breached.join(", ")));
    }
    if unjudged > 0 {
        verdict.push_str(&format!(", {unjudged} with too few requests"));
    }
    format!(
        "{:<25} {:<20} {:>8.1}s {:>7} {:>6} {:>8} {:>8} {:>8} {:>8}  {verdict}",
        r.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
        r.monitor,
        r.duration_seconds,
        r.requests,
        fails,
        ms("p50"),
        ms("p95"),
        ms("p99"),
        ms("max")
    )
}
