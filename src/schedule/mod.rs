//! Stage 2, schedule: decides when each monitor runs.

/// Checks a cron expression with the exact parser settings the scheduler uses.
pub fn parse_cron(expr: &str) -> Result<(), String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
