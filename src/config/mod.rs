//! Stage 1, config: a TOML file in, a checked [`Config`] out.
//!
//! - In: the path of one TOML file.
//! - Out: [`model::Config`], where every value is parsed and checked (URLs, durations, cron
//!   expressions, templates and the variables they use, references between objectives, monitors
//!   and endpoints); or [`ConfigError::Invalid`] listing *every* problem found, each with file,
//!   line, column, dotted field path, what is wrong and what was expected.
//! - Secrets (`${env:NAME}`, `${file:PATH}`) are resolved here, once; their values never appear in
//!   an error, a log line or any output.
//! - Owned by nobody: loading is a pure function, called at start and by `slamon check`.
//!
//! Parsing is two-staged: [`raw`] mirrors the file with serde, [`validate`] and friends build the
//! [`model`] from it. Nothing downstream sees a raw string.

mod alerting;
mod error;
pub mod limits;
pub mod model;
mod objectives;
mod parse;
mod raw;
mod secret;
mod steps;
mod validate;
mod values;

use std::collections::HashSet;
use std::path::Path;

pub use error::{ConfigError, Problem};
pub use model::Config;

use crate::template::TemplateBuilder;

/// Reads and checks the config file at `file`.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    from_str(&text, file)
}

/// Checks config text; `file` is only used to name it in errors.
pub fn from_str(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let mut doc = parse::Doc::parse(text);
    // After a syntax error the recovered document is a guess: checking it would report
    // problems the author never made.
    if doc.has_problems() {
        return Err(ConfigError::Invalid {
            file: file.to_path_buf(),
            problems: doc.into_problems(),
        });
    }
    let mut templates = TemplateBuilder::new();
    let (server, monitors) = validate::build(&mut doc, &mut templates);
    limits::check(&mut doc, &server.limits, &monitors);
    let named = monitor_names(&doc);
    let objectives = objectives::read_objectives(&mut doc, &monitors, &named);
    let channels = alerting::read_channels(&mut doc);
    let routes = alerting::read_routes(&mut doc, &channels);
    let maintenance = alerting::read_maintenance(&mut doc, &named);
    if doc.has_problems() {
        return Err(ConfigError::Invalid {
            file: file.to_path_buf(),
            problems: doc.into_problems(),
        });
    }
    Ok(Config {
        file: file.to_path_buf(),
        server,
        monitors,
        objectives,
        templates: templates.finish(),
        channels,
        routes,
        maintenance,
    })
}

/// Every `name` under `[[monitors]]`, read straight from the document.
fn monitor_names(doc: &parse::Doc<'_>) -> HashSet<String> {
    alerting::declared_names(doc, "monitors")
}
