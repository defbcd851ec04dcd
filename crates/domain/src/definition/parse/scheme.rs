//! `[[schemes]]` and their `[[schemes.codes]]`: agency kinds, the scheme's notation, and each
//! code in the canonical form of that notation, unique after normalisation and mapped to exactly
//! one known category or context class.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

use super::{RawCode, RawList, RawScheme};
use crate::datafile::{Ctx, Leaf, is_upper_snake_case};
use crate::definition::{
    AGENCY_KINDS, CodeMapping, DefinitionError, MappingTarget, Notation, Scheme,
};

/// The schemes of a definition with their lookup indexes.
pub(super) struct Schemes {
    /// In file order.
    pub(super) schemes: Vec<Scheme>,
    /// Scheme id → position.
    pub(super) scheme_index: HashMap<String, usize>,
    /// Per scheme: index key of a code → position in its `codes`.
    pub(super) code_index: Vec<HashMap<String, usize>>,
}

/// What a code may map to: the ids of the categories and of the context classes.
struct Targets<'a> {
    categories: &'a HashMap<String, usize>,
    contexts: &'a HashMap<String, usize>,
}

impl Ctx<'_> {
    pub(super) fn schemes(
        &self,
        raw: RawList<RawScheme>,
        categories: &HashMap<String, usize>,
        contexts: &HashMap<String, usize>,
    ) -> Result<Schemes, DefinitionError> {
        let raw = raw.map(Spanned::into_inner).unwrap_or_default();
        let targets = Targets {
            categories,
            contexts,
        };
        let mut out = Schemes {
            schemes: Vec::with_capacity(raw.len()),
            scheme_index: HashMap::new(),
            code_index: Vec::with_capacity(raw.len()),
        };
        let mut id_lines: HashMap<String, usize> = HashMap::new();
        for (i, item) in raw.into_iter().enumerate() {
            let table = item.span();
            let s = item.into_inner();
            let path = |f: &str| format!("schemes[{i}].{f}");
            let (id, id_span) = self.string(&s.id, &table, &path("id"))?;
            if !is_upper_snake_case(&id) {
                return Err(self.err(
                    id_span.start,
                    &path("id"),
                    format!("`{id}` must be UPPER_SNAKE_CASE (capital letters, digits and _, starting with a letter)"),
                ));
            }
            if let Some(first) = id_lines.get(&id) {
                return Err(self.err(
                    id_span.start,
                    &path("id"),
                    format!("duplicate scheme id `{id}` (first defined at line {first})"),
                ));
            }
            id_lines.insert(id.clone(), self.line_of(id_span.start));
            let (name, _) = self.string(&s.name, &table, &path("name"))?;
            let agency_kinds = self.agency_kinds(s.agency_kinds, &table, &path("agency_kinds"))?;
            let (source, _) = self.string(&s.source, &table, &path("source"))?;
            let notation = self.notation(&s.notation, &path("notation"))?;
            let (codes, by_code) = self.codes(s.codes, i, &id, notation, &targets)?;
            out.scheme_index.insert(id.clone(), out.schemes.len());
            out.code_index.push(by_code);
            out.schemes.push(Scheme {
                id,
                name,
                agency_kinds,
                source,
                notation,
                codes,
            });
        }
        Ok(out)
    }

    /// The optional `notation` key: absent is [`Notation::Exact`].
    fn notation(&self, leaf: &Leaf, field: &str) -> Result<Notation, DefinitionError> {
        let Some(v) = leaf else {
            return Ok(Notation::Exact);
        };
        let expected = || {
            Notation::NAMED
                .iter()
                .filter_map(|n| n.key().map(|k| format!("\"{k}\"")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match v.get_ref() {
            toml::Value::String(s) => Notation::from_key(s).ok_or_else(|| {
                self.err(
                    v.span().start,
                    field,
                    format!(
                        "unknown notation \"{s}\"; expected one of {} (or leave the key out for \
                         exact matching)",
                        expected()
                    ),
                )
            }),
            other => Err(self.err(
                v.span().start,
                field,
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    /// The codes of scheme `i` and their index (index key → position).
    #[allow(clippy::type_complexity)]
    fn codes(
        &self,
        raw: RawList<RawCode>,
        i: usize,
        scheme: &str,
        notation: Notation,
        targets: &Targets<'_>,
    ) -> Result<(Vec<CodeMapping>, HashMap<String, usize>), DefinitionError> {
        let raw = raw.map(Spanned::into_inner).unwrap_or_default();
        let mut codes = Vec::with_capacity(raw.len());
        let mut by_code: HashMap<String, usize> = HashMap::new();
        let mut code_lines: HashMap<String, usize> = HashMap::new();
        for (j, item) in raw.into_iter().enumerate() {
            let code_table = item.span();
            let m = item.into_inner();
            let cpath = |f: &str| format!("schemes[{i}].codes[{j}].{f}");
            let (code, code_span) = self.string(&m.code, &code_table, &cpath("code"))?;
            self.canonical_code(&code, notation, code_span.start, &cpath("code"))?;
            let key = notation.index_key(&code);
            if let Some(first) = code_lines.get(&key) {
                return Err(self.err(
                    code_span.start,
                    &cpath("code"),
                    format!(
                        "duplicate code `{code}` in scheme {scheme} (first defined at line \
                         {first}; codes match after normalisation: {})",
                        match notation {
                            Notation::Exact => "ignoring case and surrounding spaces".to_owned(),
                            other => format!("notation {other}"),
                        }
                    ),
                ));
            }
            code_lines.insert(key.clone(), self.line_of(code_span.start));
            let (description, _) =
                self.string(&m.description, &code_table, &cpath("description"))?;
            let target = self.target(&m, &code_table, &cpath, targets)?;
            by_code.insert(key, codes.len());
            codes.push(CodeMapping {
                code,
                description,
                target,
            });
        }
        Ok((codes, by_code))
    }

    /// A listed code must be written in its notation's canonical form, so that what the hub
    /// stores and returns is the form the file shows.
    fn canonical_code(
        &self,
        code: &str,
        notation: Notation,
        at: usize,
        field: &str,
    ) -> Result<(), DefinitionError> {
        match notation.canonical(code) {
            Some(canonical) if canonical == code => Ok(()),
            Some(canonical) => Err(self.err(
                at,
                field,
                format!(
                    "`{code}` is not in the canonical form of notation {notation}; write \
                     `{canonical}`"
                ),
            )),
            None => Err(self.err(
                at,
                field,
                format!(
                    "`{code}` is not a code of notation {notation}: expected {}",
                    notation.grammar()
                ),
            )),
        }
    }

    /// Exactly one of `category` and `context`, naming a known category or context class.
    fn target(
        &self,
        m: &RawCode,
        table: &Range<usize>,
        cpath: &dyn Fn(&str) -> String,
        targets: &Targets<'_>,
    ) -> Result<MappingTarget, DefinitionError> {
        match (&m.category, &m.context) {
            (Some(category), Some(context)) => {
                let (first, second, field) = if category.span().start < context.span().start {
                    (category, context, "context")
                } else {
                    (context, category, "category")
                };
                Err(self.err(
                    second.span().start,
                    &cpath(field),
                    format!(
                        "a code maps to a `category` or to a `context`, not both (the other is \
                         at line {})",
                        self.line_of(first.span().start)
                    ),
                ))
            }
            (None, None) => Err(self.err(
                table.start,
                &cpath("category"),
                "required field is missing: each code needs a `category` (or a `context`, \
                 naming one of the [[contexts]])",
            )),
            (Some(_), None) => {
                let field = cpath("category");
                let (id, span) = self.string(&m.category, table, &field)?;
                if !targets.categories.contains_key(&id) {
                    return Err(self.err(
                        span.start,
                        &field,
                        format!("unknown category `{id}`; it must be the id of one of the [[categories]]"),
                    ));
                }
                Ok(MappingTarget::Category(id))
            }
            (None, Some(_)) => {
                let field = cpath("context");
                let (id, span) = self.string(&m.context, table, &field)?;
                if !targets.contexts.contains_key(&id) {
                    let hint = if targets.categories.contains_key(&id) {
                        format!("; `{id}` is a category: write `category = \"{id}\"`")
                    } else if targets.contexts.is_empty() {
                        "; this definition has no [[contexts]]".to_owned()
                    } else {
                        String::new()
                    };
                    return Err(self.err(
                        span.start,
                        &field,
                        format!(
                            "unknown context `{id}`; it must be the id of one of the [[contexts]]{hint}"
                        ),
                    ));
                }
                Ok(MappingTarget::Context(id))
            }
        }
    }

    fn agency_kinds(
        &self,
        raw: Option<Spanned<Vec<Spanned<toml::Value>>>>,
        table: &Range<usize>,
        field: &str,
    ) -> Result<Vec<String>, DefinitionError> {
        let raw = raw.ok_or_else(|| self.err(table.start, field, "required field is missing"))?;
        let list_start = raw.span().start;
        let raw = raw.into_inner();
        if raw.is_empty() {
            return Err(self.err(list_start, field, "at least one agency kind is required"));
        }
        let mut kinds: Vec<String> = Vec::with_capacity(raw.len());
        for (k, v) in raw.into_iter().enumerate() {
            let kpath = format!("{field}[{k}]");
            let start = v.span().start;
            let name = match v.into_inner() {
                toml::Value::String(s) => s.trim().to_owned(),
                other => {
                    return Err(self.err(
                        start,
                        &kpath,
                        format!("expected a string, found {}", other.type_str()),
                    ));
                }
            };
            if !AGENCY_KINDS.contains(&name.as_str()) {
                return Err(self.err(
                    start,
                    &kpath,
                    format!(
                        "unknown agency kind `{name}`; expected one of {}",
                        AGENCY_KINDS.join(", ")
                    ),
                ));
            }
            if kinds.contains(&name) {
                return Err(self.err(
                    start,
                    &kpath,
                    format!("agency kind `{name}` is listed twice"),
                ));
            }
            kinds.push(name);
        }
        Ok(kinds)
    }
}
