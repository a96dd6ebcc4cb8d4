//! The config contract, end to end through `slamon::config::load`:
//!
//! - every example config shipped with slamon loads: each ```toml block of
//!   docs/configuration.md and every *.toml under config/;
//! - every broken config under tests/configs/invalid/ (one per rule) is rejected with exactly the
//!   lines of its sibling `.expected` file, so a message cannot change, move or vanish unnoticed;
//! - no error ever quotes the value of a secret reference.
//!
//! `.expected` files hold the output of `ConfigError::lines()`, one problem per line, with the
//! file path as this test passes it (relative to the crate root). A line ending in `...` pins
//! only its beginning (position, field path and the start of the message): it marks a message
//! known to need rewording, whose final text is not to be enshrined.
//!
//! To write the `.expected` file of a new rule, run
//! `SLAMON_BLESS=1 cargo test --test config`, then read every line it wrote: it must point at
//! the right line, column and field and say clearly what is wrong and what was expected.
//! Blessing leaves files with `...` lines alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;

use slamon::config::{self, ConfigError};

const INVALID_DIR: &str = "tests/configs/invalid";
const SECRET_URL_CANARY: &str = "canary-url-7f3a9c";
const SECRET_TOKEN_CANARY: &str = "canary-token-51d2e8";

/// Sets, once for the whole binary, the environment every config here reads, before any test
/// loads a config: the loader reads the environment, so this must not race with it.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: every test calls `setup` before it reads the environment, and `Once` makes
        // the others wait until this closure has returned, so nothing reads it concurrently.
        unsafe {
            std::env::set_var("SLAMON_TARGET", "http://127.0.0.1:8080");
            std::env::set_var("SLAMON_API_TOKEN", "docs-example-token");
            std::env::set_var("PROBE_PASSWORD", "docs-example-password");
            // config/examples/alerting.toml and docs/alerting.md route to these.
            std::env::set_var("SLAMON_WEBHOOK_URL", "http://127.0.0.1:9000/hook");
            std::env::set_var("SLAMON_ALERTMANAGER_URL", "http://127.0.0.1:9093");
            std::env::set_var("SLAMON_SMTP_URL", "smtp://127.0.0.1:2525");
            std::env::set_var("SLAMON_ALERT_EMAIL_TO", "oncall@example.com");
            std::env::set_var(
                "SLAMON_TEST_SECRET_URL",
                format!("not a url/{SECRET_URL_CANARY}"),
            );
            std::env::set_var(
                "SLAMON_TEST_SECRET_FTP_URL",
                format!("ftp://{SECRET_URL_CANARY}.example.com/"),
            );
            std::env::set_var("SLAMON_TEST_SECRET_TOKEN", SECRET_TOKEN_CANARY);
            // The rule files about unset references rely on these being unset.
            std::env::remove_var("SLAMON_TEST_SURELY_UNSET_VAR");
            std::env::remove_var("SLAMON_TEST_SURELY_UNSET_TOKEN");
        }
    });
}

fn describe(e: &ConfigError) -> String {
    e.lines().join("\n")
}

/// The ```toml blocks of a markdown text, with the line each starts on.
fn toml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_end() == "```toml" => current = Some((i + 2, String::new())),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "a ```toml block is not closed");
    blocks
}

#[test]
fn every_toml_block_of_the_configuration_docs_loads() {
    setup();
    for doc in ["docs/configuration.md", "docs/alerting.md", "README.md"] {
        let markdown = fs::read_to_string(doc).unwrap_or_else(|e| panic!("{doc} is readable: {e}"));
        let blocks = toml_blocks(&markdown);
        assert!(!blocks.is_empty(), "expected {doc} to show examples");
        let mut failures = Vec::new();
        // The README also shows fragments (one `[server]` key for systemd): whole configs only.
        for (line, text) in blocks
            .iter()
            .filter(|(_, t)| doc != "README.md" || t.contains("[[monitors]]"))
        {
            let name = PathBuf::from(format!("{doc}:block at line {line}"));
            if let Err(e) = config::from_str(text, &name) {
                failures.push(describe(&e));
            }
        }
        assert!(
            failures.is_empty(),
            "examples in {doc} that do not load:\n{}",
            failures.join("\n")
        );
    }
}

fn toml_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            toml_files_under(&path, out);
        } else if path.extension().is_some_and(|x| x == "toml") {
            out.push(path);
        }
    }
}

#[test]
fn every_config_under_config_loads() {
    setup();
    let mut files = Vec::new();
    toml_files_under(Path::new("config"), &mut files);
    files.sort();
    for required in [
        "config/demo.toml",
        "config/examples/seed/basic.toml",
        "config/examples/seed/transactional.toml",
        "config/examples/seed/reporting.toml",
        "config/examples/seed/deployment-gate.toml",
    ] {
        assert!(
            files.contains(&PathBuf::from(required)),
            "{required} is missing"
        );
    }
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| config::load(f).err().map(|e| describe(&e)))
        .collect();
    assert!(
        failures.is_empty(),
        "configs that do not load:\n{}",
        failures.join("\n")
    );
}

/// Whether `got` is what `expected` describes: the same number of lines, each equal, or, for an
/// expected line ending in `...`, starting with what precedes it.
fn matches(expected: &[&str], got: &[String]) -> bool {
    expected.len() == got.len()
        && expected
            .iter()
            .zip(got)
            .all(|(e, g)| match e.strip_suffix("...") {
                Some(prefix) => g.starts_with(prefix),
                None => g == e,
            })
}

#[test]
fn each_broken_config_reports_exactly_its_problems() {
    setup();
    let mut files = Vec::new();
    toml_files_under(Path::new(INVALID_DIR), &mut files);
    files.sort();
    assert!(
        files.len() >= 22,
        "expected one broken config per rule, found {}",
        files.len()
    );
    let bless = std::env::var_os("SLAMON_BLESS").is_some();
    let mut failures = Vec::new();
    for file in &files {
        let got = match config::load(file) {
            Ok(_) => {
                failures.push(format!(
                    "{}: loaded, but it is broken on purpose",
                    file.display()
                ));
                continue;
            }
            Err(e) => e.lines(),
        };
        let expected_file = file.with_extension("expected");
        let expected = fs::read_to_string(&expected_file).unwrap_or_default();
        let expected: Vec<&str> = expected.lines().collect();
        if matches(&expected, &got) {
            continue;
        }
        let pinned_by_hand = expected.iter().any(|l| l.ends_with("..."));
        if bless && !pinned_by_hand {
            let text: String = got.iter().map(|l| format!("{l}\n")).collect();
            fs::write(&expected_file, text).expect("the .expected file is writable");
            continue;
        }
        failures.push(format!(
            "{}:\n  expected:\n    {}\n  got:\n    {}",
            file.display(),
            expected.join("\n    "),
            got.join("\n    ")
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} broken configs are not reported as expected \
         (SLAMON_BLESS=1 rewrites the .expected files; then read them):\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_rule_file_has_its_expected_output() {
    let mut files = Vec::new();
    toml_files_under(Path::new(INVALID_DIR), &mut files);
    let orphans: Vec<String> = fs::read_dir(INVALID_DIR)
        .expect("the invalid configs directory exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "expected"))
        .filter(|p| !p.with_extension("toml").exists())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        orphans.is_empty(),
        ".expected files without a config: {orphans:?}"
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !f.with_extension("expected").exists())
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "configs without an .expected file: {missing:?}"
    );
}

#[test]
fn an_unreadable_file_is_one_line_naming_it() {
    setup();
    let file = Path::new("tests/configs/no-such-file.toml");
    let e = config::load(file).expect_err("the file does not exist");
    let lines = e.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("tests/configs/no-such-file.toml: cannot read the config file: "),
        "{lines:?}"
    );
}

/// Every place a secret could leak through: a base URL that does not parse, one that parses
/// but is not http(s), header values (alone, with a template error next to it), a JSON body, a
/// form and a monitor variable, plus unrelated problems so that the file is rejected in any
/// case.
const LEAKY: &str = r#"
[[monitors]]
name = "leaky"
base_url = "${env:SLAMON_TEST_SECRET_URL}"
duration = "1 fortnight"
schedule = { every = "5m" }
load = { type = "closed", users = 1 }
headers = { Authorization = "Bearer ${env:SLAMON_TEST_SECRET_TOKEN}", X-Broken = "${env:SLAMON_TEST_SECRET_TOKEN} {{ unknown_var }}" }
variables = { token = "${env:SLAMON_TEST_SECRET_TOKEN}" }

[[monitors.tasks]]
[[monitors.tasks.steps]]
method = "POST"
path = "/login/{{ token }}"
headers = { X-Token = "${env:SLAMON_TEST_SECRET_TOKEN} {{ broken" }
json = { password = "${env:SLAMON_TEST_SECRET_TOKEN}", other = "{{ missing }}" }
[[monitors.tasks.steps]]
method = "POST"
path = "/login"
form = { password = "${env:SLAMON_TEST_SECRET_TOKEN}{{ nope }}" }

[[monitors]]
name = "leaky-ftp"
base_url = "${env:SLAMON_TEST_SECRET_FTP_URL}"
duration = "1m"
schedule = { every = "5m" }
load = { type = "closed", users = 1 }
[[monitors.tasks]]
[[monitors.tasks.steps]]
path = "/{{ ${env:SLAMON_TEST_SECRET_TOKEN} }}"

[[objectives]]
name = "p95"
monitor = "nowhere"
window = "5m"
type = "latency"
percentile = 95
below = "500ms"
"#;

#[test]
fn no_error_quotes_a_secret() {
    setup();
    let e = config::from_str(LEAKY, Path::new("leaky.toml"))
        .expect_err("the leaky config is broken on purpose");
    let lines = e.lines();
    // The file is rejected for its base URLs among other things, so the canaries were seen.
    assert!(
        lines.iter().any(|l| l.contains("monitors[0].base_url")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("monitors[1].base_url")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("monitors[0].duration")),
        "{lines:#?}"
    );
    for line in lines.iter().chain(std::iter::once(&e.to_string())) {
        assert!(
            !line.contains(SECRET_URL_CANARY) && !line.contains(SECRET_TOKEN_CANARY),
            "a secret leaked into an error: {line}"
        );
    }
}
