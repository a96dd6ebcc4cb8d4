//! `slamon check`: validate a config and summarise it.

use std::path::Path;

use super::load_or_report;
use crate::config::model::{LoadModel, Schedule};
use crate::export::window_label;
use crate::sla::describe;

pub fn main(path: &Path) -> u8 {
    let Some(config) = load_or_report(path) else {
        return 2;
    };
    let endpoints: usize = config.monitors.iter().map(|m| m.endpoints().len()).sum();
    println!(
        "{}: OK: {} monitor{}, {} endpoint{}, {} objective{}; metrics on {}",
        path.display(),
        config.monitors.len(),
        plural(config.monitors.len()),
        endpoints,
        plural(endpoints),
        config.objectives.len(),
        plural(config.objectives.len()),
        config.server.listen
    );
    for m in &config.monitors {
        let schedule = match &m.schedule {
            Schedule::Every { interval, .. } => {
                format!("every {}", humantime::format_duration(*interval))
            }
            Schedule::Cron { expr, .. } => format!("cron \"{expr}\""),
        };
        let load = match m.load {
            LoadModel::Closed { users, .. } => {
                format!("closed, {users} user{}", plural(users as usize))
            }
            LoadModel::Open {
                rate,
                max_in_flight,
            } => format!("open, {rate}/s, at most {max_in_flight} in flight"),
        };
        println!(
            "  monitor {}: {schedule}, runs {}, {load}, {} endpoint{}",
            m.name,
            humantime::format_duration(m.duration),
            m.endpoints().len(),
            plural(m.endpoints().len())
        );
    }
    for o in &config.objectives {
        let target = o
            .endpoint
            .as_deref()
            .map_or(o.monitor.to_string(), |e| format!("{} {e}", o.monitor));
        println!(
            "  objective {}: {} over {} on {target}",
            o.name,
            describe(&o.kind),
            window_label(o.window)
        );
    }
    0
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
