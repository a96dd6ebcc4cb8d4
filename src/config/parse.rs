//! Reads the TOML document into raw structs, item by item, collecting every problem.
//!
//! The document is parsed once into toml's spanned tree ([`DeTable`]). Each item that can fail
//! on its own (a monitor, a step, a check, an objective...) is deserialized from its own subtree,
//! so a broken item is reported and skipped while the others are still read. Serde errors carry
//! the span of the offending value; [`Doc::path_at`] turns that span back into a field path.

use std::ops::Range;

use serde::Deserialize;
use serde::de::IntoDeserializer;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{FieldPath, Problem, Seg};

pub type Node<'i> = Spanned<DeValue<'i>>;

/// The parsed document and the problems found so far.
pub struct Doc<'i> {
    src: &'i str,
    pub root: Node<'i>,
    problems: Vec<(usize, Problem)>,
}

impl<'i> Doc<'i> {
    /// Parses the text; syntax errors are recorded and whatever could be recovered is kept.
    pub fn parse(src: &'i str) -> Self {
        let (table, errors) = DeTable::parse_recoverable(src);
        let span = table.span();
        let root = Spanned::new(span, DeValue::Table(table.into_inner()));
        let mut doc = Doc {
            src,
            root,
            problems: Vec::new(),
        };
        for e in errors {
            doc.serde_problem(&e);
        }
        doc
    }

    pub fn into_problems(mut self) -> Vec<Problem> {
        self.problems.sort_by_key(|(offset, _)| *offset);
        self.problems.dedup_by(|a, b| a.1 == b.1);
        self.problems.into_iter().map(|(_, p)| p).collect()
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Deserializes one item, recording every problem in it.
    ///
    /// Serde stops at the first error, so after each one the offending key is taken out and the
    /// item read again: one pass reports every bad field of the item. The partial value is
    /// returned when the fields left are enough to build it, so later checks can still run on
    /// them; the recorded problems already reject the file.
    pub fn read<T: Deserialize<'i>>(&mut self, node: &Node<'i>) -> Option<T> {
        let mut node = node.clone();
        let mut removed: Vec<String> = Vec::new();
        for _ in 0..64 {
            let e = match T::deserialize(node.clone().into_deserializer()) {
                Ok(v) => return Some(v),
                Err(e) => e,
            };
            if removed
                .iter()
                .any(|k| e.message().contains(&format!("missing field `{k}`")))
            {
                return None;
            }
            self.serde_problem(&e);
            let span = e.span().unwrap_or(0..0);
            let DeValue::Table(table) = node.get_mut() else {
                return None;
            };
            let key = table
                .iter()
                .find(|(k, v)| {
                    contains(&k.span(), &span)
                        || contains(&v.span(), &span)
                        || deep_contains(v, &span)
                })
                .map(|(k, _)| k.get_ref().to_string());
            let key = key?;
            table.remove(key.as_str());
            removed.push(key);
        }
        None
    }

    /// Reads a table whose `type` key selects the struct its other keys form.
    pub fn read_tagged<T>(
        &mut self,
        node: &Node<'i>,
        path: &FieldPath,
        tags: &[&str],
        from_tag: impl FnOnce(&str, Node<'i>) -> Option<Result<T, toml::de::Error>>,
    ) -> Option<T> {
        let expected = tags
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(mut table) = node.get_ref().as_table().cloned() else {
            self.at(
                path,
                format!("expected a table (with `type` = one of {expected})"),
            );
            return None;
        };
        let Some(tag_node) = table.remove("type") else {
            self.at(
                path,
                format!("missing field `type` (expected one of {expected})"),
            );
            return None;
        };
        let Some(tag) = tag_node.get_ref().as_str().map(str::to_string) else {
            self.at(
                &path.key("type"),
                format!("`type` must be a string (expected one of {expected})"),
            );
            return None;
        };
        let rest = Spanned::new(node.span(), DeValue::Table(table));
        match from_tag(&tag, rest) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                self.serde_problem(&e);
                None
            }
            None => {
                self.at(
                    &path.key("type"),
                    format!("unknown type \"{tag}\" (expected one of {expected})"),
                );
                None
            }
        }
    }

    /// Splits a table into the `keys` every variant shares and the rest, which its `type`
    /// selects; both keep the table's span so errors point into it.
    pub fn split(
        &mut self,
        node: &Node<'i>,
        path: &FieldPath,
        keys: &[&str],
    ) -> Option<(Node<'i>, Node<'i>)> {
        let Some(table) = node.get_ref().as_table() else {
            self.at(path, "expected a table".to_string());
            return None;
        };
        let (mut common, mut rest) = (DeTable::new(), DeTable::new());
        for (k, v) in table.iter() {
            let part = if keys.contains(&k.get_ref().as_ref()) {
                &mut common
            } else {
                &mut rest
            };
            part.insert(k.clone(), v.clone());
        }
        let span = node.span();
        Some((
            Spanned::new(span.clone(), DeValue::Table(common)),
            Spanned::new(span, DeValue::Table(rest)),
        ))
    }

    /// The items of an array at `key` of `table`, with their paths; a non-array is a problem.
    pub fn items(
        &mut self,
        table: &Node<'i>,
        key: &str,
        path: &FieldPath,
    ) -> Vec<(FieldPath, Node<'i>)> {
        let Some(node) = table.get_ref().get(key) else {
            return Vec::new();
        };
        let Some(array) = node.get_ref().as_array() else {
            self.at(&path.key(key), "expected an array of tables".to_string());
            return Vec::new();
        };
        let path = path.key(key);
        array
            .iter()
            .enumerate()
            .map(|(i, n)| (path.index(i), n.clone()))
            .collect()
    }

    /// Records a problem about the value at `path` (or its nearest existing parent).
    pub fn at(&mut self, path: &FieldPath, message: String) {
        let span = self.span_of(path);
        self.at_span(span, path, message);
    }

    /// Records a problem at an explicit position, e.g. a key rather than its value.
    pub fn at_span(&mut self, span: Range<usize>, path: &FieldPath, message: String) {
        let (line, col) = self.line_col(span.start);
        let problem = Problem {
            line,
            col,
            path: path.to_string(),
            message,
        };
        self.problems.push((span.start, problem));
    }

    fn serde_problem(&mut self, e: &toml::de::Error) {
        let span = e.span().unwrap_or(0..0);
        let mut path = self.path_at(&span);
        let (line, col) = self.line_col(span.start);
        let mut message = humane(e.message());
        if message == "duplicate key" {
            if let Some(key) = self.src.get(span.clone()).map(str::trim) {
                message = format!("duplicate key `{key}` (expected each key once per table)");
                // The second copy is not in the tree: name it under the table it was written in.
                path = enclosing(&self.root, span.start, FieldPath::root()).key(key);
            }
        }
        self.problems.push((
            span.start,
            Problem {
                line,
                col,
                path: path.to_string(),
                message,
            },
        ));
    }

    /// The deepest field whose key or value contains `span`.
    pub fn path_at(&self, span: &Range<usize>) -> FieldPath {
        find(&self.root, span, FieldPath::root()).unwrap_or_default()
    }

    /// The span of the value at `path`, or of its nearest existing parent.
    pub fn span_of(&self, path: &FieldPath) -> Range<usize> {
        let mut node = &self.root;
        for seg in path.segments() {
            let next = match seg {
                Seg::Key(k) => node.get_ref().get(k.as_str()),
                Seg::Index(i) => node.get_ref().get(*i),
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.span()
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let before = self.src.get(..offset).unwrap_or(self.src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before
            .get(line_start..)
            .map_or(1, |s| s.chars().count() + 1);
        (line, col)
    }
}

/// Array-of-tables spans cover only their header, so the search looks at every child rather
/// than only at the ones whose span contains the target.
fn find(node: &Node<'_>, span: &Range<usize>, path: FieldPath) -> Option<FieldPath> {
    match node.get_ref() {
        DeValue::Table(t) => t.iter().find_map(|(k, v)| {
            if contains(&k.span(), span) {
                return Some(path.key(k.get_ref()));
            }
            find(v, span, path.key(k.get_ref()))
                .or_else(|| contains(&v.span(), span).then(|| path.key(k.get_ref())))
        }),
        DeValue::Array(a) => a.iter().enumerate().find_map(|(i, v)| {
            find(v, span, path.index(i))
                .or_else(|| contains(&v.span(), span).then(|| path.index(i)))
        }),
        _ => None,
    }
}

/// The table a position falls in, for keys that never made it into the tree. Tables of an
/// array of tables span only their header, so the last one opened before the position wins.
fn enclosing(node: &Node<'_>, offset: usize, path: FieldPath) -> FieldPath {
    match node.get_ref() {
        DeValue::Table(t) => {
            let inside = t.iter().find(|(_, v)| {
                v.span().start < offset
                    && offset < v.span().end
                    && (v.get_ref().is_table() || v.get_ref().is_array())
            });
            let opened = || {
                t.iter()
                    .filter(|(_, v)| {
                        v.get_ref().as_array().is_some_and(|a| {
                            a.iter()
                                .any(|e| e.get_ref().is_table() && e.span().start < offset)
                        })
                    })
                    .max_by_key(|(_, v)| {
                        v.get_ref().as_array().and_then(|a| {
                            a.iter()
                                .filter(|e| e.span().start < offset)
                                .map(|e| e.span().start)
                                .max()
                        })
                    })
            };
            match inside.or_else(opened) {
                Some((k, v)) => enclosing(v, offset, path.key(k.get_ref())),
                None => path,
            }
        }
        DeValue::Array(a) => match a
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| e.get_ref().is_table() && e.span().start < offset)
        {
            Some((i, e)) => enclosing(e, offset, path.index(i)),
            None => path,
        },
        _ => path,
    }
}

fn deep_contains(node: &Node<'_>, span: &Range<usize>) -> bool {
    find(node, span, FieldPath::root()).is_some()
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer != &(0..0)
}

/// Rewrites serde's phrasing into `what is wrong (what was expected)`, in words a config
/// author knows rather than Rust type names.
fn humane(message: &str) -> String {
    let mut message = message.trim().trim_end_matches('.').to_string();
    for (rust, words) in [
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number of 0 or more"),
        ("expected usize", "expected a whole number of 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        if message.ends_with(rust) {
            message = format!("{}{words}", &message[..message.len() - rust.len()]);
        }
    }
    let message = message.as_str();
    for sep in [", expected ", "; expected "] {
        if let Some((what, expected)) = message.split_once(sep) {
            return format!("{what} (expected {expected})");
        }
    }
    message.to_string()
}
