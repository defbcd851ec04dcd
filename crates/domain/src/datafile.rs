//! Reading the reviewed data files: the common definition (`deploy/definitions/*.toml`) and the
//! metric catalogue (`deploy/metrics/catalogue.toml`).
//!
//! Both are deserialised first into "raw" structs whose leaves are spanned TOML values, so that
//! type checks, required fields and cross-references are checked by the module that owns the
//! file, with the exact position and field path, rather than surfacing as serde messages without
//! a path. This module holds what they share: the located error, the parsing context with its
//! checks of single values, and the position arithmetic. Each file's module adds its own build
//! steps to [`Ctx`] in an `impl Ctx` of its own.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

/// A problem in a data file, located precisely enough for an operator to fix it.
///
/// Displays as `{file}:{line}:{column}: {field}: {message}` (the format editors and CI annotate).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {field}: {message}")]
pub struct DataFileError {
    /// The file name given to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Path of the offending field, e.g. `schemes[1].codes[4].category`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// A leaf of a raw struct: absent, or a TOML value with its span.
pub(crate) type Leaf = Option<Spanned<toml::Value>>;

/// Parsing context: the text (for byte offset → line/column) and the file name.
pub(crate) struct Ctx<'a> {
    /// The whole file.
    pub(crate) text: &'a str,
    /// The file name, for errors.
    pub(crate) file: &'a str,
}

impl Ctx<'_> {
    /// An error at byte `offset`, for `field`.
    pub(crate) fn err(
        &self,
        offset: usize,
        field: &str,
        message: impl Into<String>,
    ) -> DataFileError {
        let (line, column) = line_column(self.text, offset);
        DataFileError {
            file: self.file.to_owned(),
            line,
            column,
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Syntax errors, unknown fields and structural type errors come from the TOML
    /// deserialiser: it gives a span but no field path, so the path is recovered from the text.
    pub(crate) fn toml_error(&self, e: &toml::de::Error) -> DataFileError {
        let offset = e.span().map_or(0, |s| s.start).min(self.text.len());
        let field = field_path_at(self.text, offset);
        let message = e.message().trim().replace('\n', "; ");
        self.err(offset, &field, message)
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    /// A required leaf, or an error at the start of its table.
    pub(crate) fn required<'v>(
        &self,
        leaf: &'v Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<&'v Spanned<toml::Value>, DataFileError> {
        leaf.as_ref()
            .ok_or_else(|| self.err(table.start, field, "required field is missing"))
    }

    /// A required, non-blank string.
    pub(crate) fn string(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<(String, Range<usize>), DataFileError> {
        let v = self.required(leaf, table, field)?;
        match v.get_ref() {
            toml::Value::String(s) if s.trim().is_empty() => {
                Err(self.err(v.span().start, field, "must not be empty"))
            }
            toml::Value::String(s) => Ok((s.trim().to_owned(), v.span())),
            other => Err(self.err(
                v.span().start,
                field,
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    /// A required id, snake_case and defined once: `seen` maps each id already read to the line
    /// of its definition, and this one joins it. `what` names the kind in messages
    /// ("metric", "category", "context").
    pub(crate) fn unique_id(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
        what: &str,
        seen: &mut HashMap<String, usize>,
    ) -> Result<(String, Range<usize>), DataFileError> {
        let (id, span) = self.string(leaf, table, field)?;
        if !is_snake_case(&id) {
            return Err(self.err(
                span.start,
                field,
                format!("`{id}` must be snake_case (lower-case letters, digits and _, starting with a letter)"),
            ));
        }
        if let Some(first) = seen.get(&id) {
            return Err(self.err(
                span.start,
                field,
                format!("duplicate {what} id `{id}` (first defined at line {first})"),
            ));
        }
        seen.insert(id.clone(), self.line_of(span.start));
        Ok((id, span))
    }

    /// A required `true` or `false`.
    pub(crate) fn boolean(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<bool, DataFileError> {
        let v = self.required(leaf, table, field)?;
        match v.get_ref() {
            toml::Value::Boolean(b) => Ok(*b),
            other => Err(self.err(
                v.span().start,
                field,
                format!("expected true or false, found {}", other.type_str()),
            )),
        }
    }
}

/// Lower-case letters, digits and `_`, starting with a letter.
pub(crate) fn is_snake_case(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Capital letters, digits and `_`, starting with a letter.
pub(crate) fn is_upper_snake_case(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Best-effort field path (e.g. `schemes[1].codes[0].category`) for a byte offset, used only for
/// errors the TOML deserialiser reports without a path. It follows `[table]` and `[[array]]`
/// headers and the `key =` on the offending line, which covers the layout definition files use.
fn field_path_at(text: &str, offset: usize) -> String {
    // Array-of-tables header → number of entries seen so far (reset when a parent restarts).
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut table: Option<String> = None;
    let mut key_on_line: Option<String> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let line_end = pos + line.len();
        let is_error_line = offset < line_end || line_end == text.len();
        let trimmed = line.trim();
        if let Some(header) = trimmed
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
        {
            let header = header.trim().to_owned();
            *counts.entry(header.clone()).or_insert(0) += 1;
            let child_prefix = format!("{header}.");
            counts.retain(|k, _| !k.starts_with(&child_prefix));
            table = Some(header);
        } else if let Some(header) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = Some(header.trim().to_owned());
        } else if is_error_line {
            key_on_line = trimmed
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_owned())
                .filter(|k| !k.is_empty() && !k.starts_with('#'));
        }
        if is_error_line {
            break;
        }
        pos = line_end;
    }
    let mut path = String::new();
    if let Some(table) = table {
        let mut prefix = String::new();
        for segment in table.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
                path.push('.');
            }
            prefix.push_str(segment.trim());
            path.push_str(segment.trim());
            if let Some(n) = counts.get(&prefix) {
                path.push_str(&format!("[{}]", n.saturating_sub(1)));
            }
        }
    }
    if let Some(key) = key_on_line {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&key);
    }
    if path.is_empty() {
        "(document)".to_owned()
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé d", 0), (1, 1));
        assert_eq!(line_column("ab\ncé d", 3), (2, 1));
        // 'é' is two bytes: the space after it (byte 6) is column 3, not 4.
        assert_eq!(line_column("ab\ncé d", 6), (2, 3));
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
    }
}
