//! slamon: a continuous SLA monitoring daemon.
//!
//! Data flows one way through the pipeline, one module per stage:
//!
//! ```text
//! config -> schedule -> load -> sample -> window -> sla -> export
//! ```
//!
//! [`config`] turns a TOML file into checked types once; [`schedule`] decides when each
//! monitor runs; [`load`] runs a monitor's scenario with virtual users and turns every
//! request into a [`sample::Sample`]; [`window`] folds samples into time-bucketed
//! HdrHistograms and counters; [`sla`] evaluates objectives over those windows; [`export`]
//! serves the result to Prometheus. [`daemon`] wires the stages together, and [`cli`] is the
//! command line on top. [`target`] is the embedded sample API used by `slamon demo`.

pub mod alert;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod export;
pub mod load;
pub mod notify;
pub mod rules;
pub mod sample;
pub mod schedule;
pub mod sla;
pub mod state;
pub mod systemd;
pub mod target;
pub mod template;
pub mod window;
