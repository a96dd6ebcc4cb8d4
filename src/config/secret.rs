//! Secret references: `${env:NAME}` and `${file:PATH}`, resolved once at load.
//!
//! A resolved value never travels as text through the config: in templated strings it becomes a
//! hidden template global (see [`crate::template`]); in plain settings (`base_url`) it is used
//! directly, and error messages about such a value never quote it.

use std::sync::LazyLock;

use regex::Regex;

use crate::template::TemplateBuilder;

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\{(env|file):([^}]*)\}").expect("the reference pattern is valid")
});

/// Whether `s` holds at least one reference.
pub fn has_reference(s: &str) -> bool {
    REFERENCE.is_match(s)
}

/// Resolves every reference in `s` to its value.
pub fn resolve_plain(s: &str) -> Result<String, String> {
    replace(s, Ok)
}

/// Replaces every reference in `s` by a template placeholder that renders its value.
pub fn resolve_templated(s: &str, templates: &mut TemplateBuilder) -> Result<String, String> {
    replace(s, |value| Ok(templates.secret(value)))
}

fn replace(
    s: &str,
    mut with: impl FnMut(String) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in REFERENCE.captures_iter(s) {
        let (Some(all), Some(kind), Some(arg)) = (caps.get(0), caps.get(1), caps.get(2)) else {
            continue;
        };
        out.push_str(&s[last..all.start()]);
        out.push_str(&with(lookup(kind.as_str(), arg.as_str())?)?);
        last = all.end();
    }
    out.push_str(&s[last..]);
    Ok(out)
}

fn lookup(kind: &str, arg: &str) -> Result<String, String> {
    if arg.is_empty() {
        return Err(format!(
            "empty reference ${{{kind}:}} (expected ${{env:NAME}} or ${{file:PATH}})"
        ));
    }
    match kind {
        "env" => std::env::var(arg).map_err(|_| {
            format!("environment variable {arg} is not set (referenced as ${{env:{arg}}})")
        }),
        _ => std::fs::read_to_string(arg)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| {
                format!("cannot read secret file {arg}: {e} (referenced as ${{file:{arg}}})")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file_references_resolve() {
        let dir = std::env::temp_dir().join(format!("slamon-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "file-secret\n").unwrap();
        let s = format!("a ${{file:{}}} b", file.display());
        assert_eq!(resolve_plain(&s).unwrap(), "a file-secret b");
        let missing = resolve_plain("${env:SLAMON_TEST_SURELY_UNSET_VAR}").unwrap_err();
        assert!(
            missing.contains("SLAMON_TEST_SURELY_UNSET_VAR is not set"),
            "{missing}"
        );
        assert!(!has_reference("plain"));
    }
}
