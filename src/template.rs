//! Templated values in the config: `"{{ token }}"`, `"{{ random_choice(['a', 'b']) }}"`.
//!
//! Every string a step sends (path, query, headers, bodies) may be a minijinja template. They are
//! compiled once at config load into one shared [`Templates`] registry; the load engine renders
//! them per request with the virtual user's variables. A string that is exactly one
//! `{{ expression }}` inside a JSON body keeps the expression's type, so
//! `quantity = "{{ random_int(1, 3) }}"` sends a number, not a string.
//!
//! Secret references (`${env:NAME}`, `${file:PATH}`) are resolved at load and stored as hidden
//! globals; templates refer to them by placeholder, so no template source, error or log line ever
//! holds a secret's value.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use minijinja::{Environment, Error, ErrorKind, Value};
use rand::RngExt;

/// Functions every template can call.
pub const FUNCTIONS: &[&str] = &[
    "random_choice",
    "random_int",
    "uuid",
    "now",
    "timestamp",
    "timestamp_ms",
];

/// A string that is either fixed or rendered per request.
#[derive(Clone, Debug)]
pub enum Text {
    Static(String),
    Template(Arc<str>),
}

/// A JSON value whose strings may be templates.
#[derive(Clone, Debug)]
pub enum JsonTemplate {
    Static(serde_json::Value),
    Text(Text),
    /// `{{ expr }}` alone: rendered through `tojson` and parsed back, keeping its type.
    Native(Arc<str>),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

/// The compiled templates of one config, shared by every virtual user.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

/// Collects templates while a config is being checked.
pub struct TemplateBuilder {
    env: Environment<'static>,
    next_id: usize,
    secrets: usize,
}

impl Default for TemplateBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TemplateBuilder {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_function("random_choice", random_choice);
        env.add_function("random_int", random_int);
        env.add_function("uuid", || uuid::Uuid::new_v4().to_string());
        env.add_function("now", || {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        });
        env.add_function("timestamp", || chrono::Utc::now().timestamp());
        env.add_function("timestamp_ms", || chrono::Utc::now().timestamp_millis());
        TemplateBuilder {
            env,
            next_id: 0,
            secrets: 0,
        }
    }

    /// Registers a secret's value and returns the template expression that stands for it.
    pub fn secret(&mut self, value: String) -> String {
        let name = format!("__secret_{}", self.secrets);
        self.secrets += 1;
        self.env.add_global(name.clone(), Value::from(value));
        format!("{{{{ {name} }}}}")
    }

    /// Compiles `source` if it holds template syntax. `known` are the variables in scope; an
    /// unknown one is an error naming it.
    pub fn text(
        &mut self,
        source: String,
        known: Option<&HashSet<String>>,
    ) -> Result<Text, String> {
        if !is_template(&source) {
            return Ok(Text::Static(source));
        }
        self.compile(source, known).map(Text::Template)
    }

    /// Compiles a JSON value whose strings may be templates.
    pub fn json(
        &mut self,
        value: serde_json::Value,
        known: Option<&HashSet<String>>,
    ) -> Result<JsonTemplate, String> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) if is_template(&s) => match sole_expression(&s) {
                Some(expr) => JsonTemplate::Native(
                    self.compile(format!("{{{{ ({expr}) | tojson }}}}"), known)?,
                ),
                None => JsonTemplate::Text(self.text(s, known)?),
            },
            J::Array(items) => {
                let items = items
                    .into_iter()
                    .map(|v| self.json(v, known))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|t| matches!(t, JsonTemplate::Static(_))) {
                    JsonTemplate::Static(J::Array(items.into_iter().map(into_static).collect()))
                } else {
                    JsonTemplate::Array(items)
                }
            }
            J::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                for (k, v) in map {
                    fields.push((k, self.json(v, known)?));
                }
                if fields
                    .iter()
                    .all(|(_, t)| matches!(t, JsonTemplate::Static(_)))
                {
                    JsonTemplate::Static(J::Object(
                        fields
                            .into_iter()
                            .map(|(k, v)| (k, into_static(v)))
                            .collect(),
                    ))
                } else {
                    JsonTemplate::Object(fields)
                }
            }
            other => JsonTemplate::Static(other),
        })
    }

    pub fn finish(self) -> Templates {
        Templates {
            env: Arc::new(self.env),
        }
    }

    fn compile(
        &mut self,
        source: String,
        known: Option<&HashSet<String>>,
    ) -> Result<Arc<str>, String> {
        let name: Arc<str> = format!("t{}", self.next_id).into();
        self.next_id += 1;
        self.env
            .add_template_owned(name.to_string(), source)
            .map_err(|e| format!("invalid template: {}", e.detail().unwrap_or("syntax error")))?;
        // Without a scope (the enclosing item was already broken) only the syntax is checked.
        let Some(known) = known else {
            return Ok(name);
        };
        let tmpl = self.env.get_template(&name).map_err(|e| e.to_string())?;
        let mut unknown: Vec<String> = tmpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| {
                !known.contains(v)
                    && !FUNCTIONS.contains(&v.as_str())
                    && !v.starts_with("__secret_")
            })
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            let mut scope: Vec<&str> = known.iter().map(String::as_str).collect();
            scope.sort();
            return Err(format!(
                "unknown template variable{} {} (expected one of the variables in scope: {}; or a function: {})",
                if unknown.len() > 1 { "s" } else { "" },
                unknown
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if scope.is_empty() {
                    "none".to_string()
                } else {
                    scope.join(", ")
                },
                FUNCTIONS.join(", ")
            ));
        }
        Ok(name)
    }
}

fn into_static(t: JsonTemplate) -> serde_json::Value {
    match t {
        JsonTemplate::Static(v) => v,
        _ => serde_json::Value::Null,
    }
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The expression of a string that is exactly `{{ expr }}`.
fn sole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

impl Templates {
    pub fn render(&self, text: &Text, ctx: &Value) -> Result<String, String> {
        match text {
            Text::Static(s) => Ok(s.clone()),
            Text::Template(name) => self.render_named(name, ctx),
        }
    }

    pub fn render_json(&self, t: &JsonTemplate, ctx: &Value) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        Ok(match t {
            JsonTemplate::Static(v) => v.clone(),
            JsonTemplate::Text(text) => J::String(self.render(text, ctx)?),
            JsonTemplate::Native(name) => {
                let out = self.render_named(name, ctx)?;
                serde_json::from_str(&out)
                    .map_err(|e| format!("expression did not give JSON: {e}"))?
            }
            JsonTemplate::Array(items) => J::Array(
                items
                    .iter()
                    .map(|i| self.render_json(i, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(fields) => {
                let mut map = serde_json::Map::with_capacity(fields.len());
                for (k, v) in fields {
                    map.insert(k.clone(), self.render_json(v, ctx)?);
                }
                J::Object(map)
            }
        })
    }

    fn render_named(&self, name: &str, ctx: &Value) -> Result<String, String> {
        let tmpl = self.env.get_template(name).map_err(|e| e.to_string())?;
        tmpl.render(ctx)
            .map_err(|e| format!("template failed: {}", e.detail().unwrap_or("render error")))
    }
}

/// The variables of one virtual user, as a template context.
pub fn context(vars: &BTreeMap<String, Value>) -> Value {
    Value::from(vars.clone())
}

fn random_choice(items: Value) -> Result<Value, Error> {
    let len = items.len().unwrap_or(0);
    if len == 0 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "random_choice needs a non-empty list",
        ));
    }
    let i = rand::rng().random_range(0..len);
    items.get_item(&Value::from(i))
}

fn random_int(low: i64, high: i64) -> Result<i64, Error> {
    if low > high {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "random_int needs low <= high",
        ));
    }
    Ok(rand::rng().random_range(low..=high))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn native_expressions_keep_their_type_and_strings_render() {
        let mut b = TemplateBuilder::new();
        let body = serde_json::json!({
            "id": "{{ random_choice([1012, 1044]) }}",
            "qty": "{{ random_int(1, 3) }}",
            "who": "user-{{ name }}",
            "fixed": "x"
        });
        let t = b.json(body, Some(&known(&["name"]))).unwrap();
        let ts = b.finish();
        let mut vars = BTreeMap::new();
        vars.insert("name".to_string(), Value::from("ann"));
        let out = ts.render_json(&t, &context(&vars)).unwrap();
        assert!(out["id"] == 1012 || out["id"] == 1044, "{out}");
        let q = out["qty"].as_i64().unwrap();
        assert!((1..=3).contains(&q));
        assert_eq!(out["who"], "user-ann");
        assert_eq!(out["fixed"], "x");
    }

    #[test]
    fn unknown_variables_are_named() {
        let mut b = TemplateBuilder::new();
        let err = b
            .text(
                "/orders/{{ order_idd }}".into(),
                Some(&known(&["order_id"])),
            )
            .unwrap_err();
        assert!(
            err.contains("`order_idd`") && err.contains("order_id"),
            "{err}"
        );
        assert!(b.text("{{ uuid() }}".into(), Some(&known(&[]))).is_ok());
        assert!(
            b.text("{{ broken".into(), Some(&known(&[])))
                .unwrap_err()
                .starts_with("invalid template")
        );
    }

    #[test]
    fn secrets_render_but_are_not_in_the_source() {
        let mut b = TemplateBuilder::new();
        let placeholder = b.secret("s3cr3t".into());
        let t = b
            .text(format!("Bearer {placeholder}"), Some(&known(&[])))
            .unwrap();
        let ts = b.finish();
        assert!(!format!("{t:?}").contains("s3cr3t"));
        assert_eq!(
            ts.render(&t, &context(&BTreeMap::new())).unwrap(),
            "Bearer s3cr3t"
        );
    }
}
