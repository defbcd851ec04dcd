//! Parsing a definition file into a validated [`Definition`]: the raw, spanned structs and the
//! checks of every invariant (unique ids and harm ranks, every code mapped to a known category,
//! known agency kinds), each error located at its field.

use std::collections::HashMap;
use std::ops::Range;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::{AGENCY_KINDS, Category, CodeMapping, Definition, DefinitionError, Scheme, normalise};
use crate::datafile::{Ctx, Leaf, is_snake_case, is_upper_snake_case};

/// Parses and validates a definition file (see [`Definition::from_toml_str`]).
pub(super) fn definition(text: &str, file: &str) -> Result<Definition, DefinitionError> {
    let ctx = Ctx { text, file };
    let raw: RawDefinition = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;
    ctx.build_definition(raw)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    version: Leaf,
    title: Leaf,
    effective_from: Leaf,
    description: Leaf,
    categories: Option<Spanned<Vec<Spanned<RawCategory>>>>,
    schemes: Option<Spanned<Vec<Spanned<RawScheme>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    id: Leaf,
    name: Leaf,
    harm_rank: Leaf,
    course_of_conduct: Leaf,
    description: Leaf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheme {
    id: Leaf,
    name: Leaf,
    agency_kinds: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    source: Leaf,
    codes: Option<Spanned<Vec<Spanned<RawCode>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCode {
    code: Leaf,
    description: Leaf,
    category: Leaf,
}

impl Ctx<'_> {
    /// A positive integer that fits in `u32`.
    fn rank(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<(u32, Range<usize>), DefinitionError> {
        let v = self.required(leaf, table, field)?;
        match v.get_ref() {
            toml::Value::Integer(i) => match u32::try_from(*i) {
                Ok(n) if n >= 1 => Ok((n, v.span())),
                _ => Err(self.err(
                    v.span().start,
                    field,
                    format!(
                        "must be a whole number from 1 (most harmful) to {}, found {i}",
                        u32::MAX
                    ),
                )),
            },
            other => Err(self.err(
                v.span().start,
                field,
                format!("expected a whole number, found {}", other.type_str()),
            )),
        }
    }

    /// A calendar date, written either as a TOML local date (`2025-04-01`) or a string.
    fn date(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<NaiveDate, DefinitionError> {
        let v = self.required(leaf, table, field)?;
        let bad = |found: &str| {
            self.err(
                v.span().start,
                field,
                format!("expected a date written YYYY-MM-DD, found {found}"),
            )
        };
        match v.get_ref() {
            toml::Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| bad(&format!("\"{s}\""))),
            toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                        .ok_or_else(|| bad(&dt.to_string()))
                }
                _ => Err(bad(&format!("date-time {dt}"))),
            },
            other => Err(bad(other.type_str())),
        }
    }

    fn build_definition(&self, raw: RawDefinition) -> Result<Definition, DefinitionError> {
        let doc = 0..0;
        let (version, _) = self.string(&raw.version, &doc, "version")?;
        let (title, _) = self.string(&raw.title, &doc, "title")?;
        let effective_from = self.date(&raw.effective_from, &doc, "effective_from")?;
        let (description, _) = self.string(&raw.description, &doc, "description")?;

        let (categories, category_index) = self.categories(raw.categories)?;
        let (schemes, scheme_index, code_index) = self.schemes(raw.schemes, &category_index)?;

        Ok(Definition {
            version,
            title,
            effective_from,
            description,
            categories,
            schemes,
            category_index,
            scheme_index,
            code_index,
        })
    }

    #[allow(clippy::type_complexity)]
    fn categories(
        &self,
        raw: Option<Spanned<Vec<Spanned<RawCategory>>>>,
    ) -> Result<(Vec<Category>, HashMap<String, usize>), DefinitionError> {
        let raw = raw.ok_or_else(|| {
            self.err(
                0,
                "categories",
                "at least one [[categories]] table is required",
            )
        })?;
        let list_start = raw.span().start;
        let raw = raw.into_inner();
        if raw.is_empty() {
            return Err(self.err(
                list_start,
                "categories",
                "at least one category is required",
            ));
        }
        let mut categories = Vec::with_capacity(raw.len());
        let mut index = HashMap::new();
        // harm_rank → (line of first use, category id)
        let mut ranks: HashMap<u32, (usize, String)> = HashMap::new();
        // id → line of first definition
        let mut id_lines: HashMap<String, usize> = HashMap::new();
        for (i, item) in raw.into_iter().enumerate() {
            let table = item.span();
            let c = item.into_inner();
            let path = |f: &str| format!("categories[{i}].{f}");
            let (id, id_span) = self.string(&c.id, &table, &path("id"))?;
            if !is_snake_case(&id) {
                return Err(self.err(
                    id_span.start,
                    &path("id"),
                    format!("`{id}` must be snake_case (lower-case letters, digits and _, starting with a letter)"),
                ));
            }
            if let Some(first) = id_lines.get(&id) {
                return Err(self.err(
                    id_span.start,
                    &path("id"),
                    format!("duplicate category id `{id}` (first defined at line {first})"),
                ));
            }
            id_lines.insert(id.clone(), self.line_of(id_span.start));
            let (name, _) = self.string(&c.name, &table, &path("name"))?;
            let (harm_rank, rank_span) = self.rank(&c.harm_rank, &table, &path("harm_rank"))?;
            if let Some((first_line, other)) = ranks.get(&harm_rank) {
                return Err(self.err(
                    rank_span.start,
                    &path("harm_rank"),
                    format!(
                        "harm_rank {harm_rank} is already used by category `{other}` (line {first_line}); \
                         ranks must be unique so the principal crime is always well defined"
                    ),
                ));
            }
            ranks.insert(harm_rank, (self.line_of(rank_span.start), id.clone()));
            let course_of_conduct =
                self.boolean(&c.course_of_conduct, &table, &path("course_of_conduct"))?;
            let (description, _) = self.string(&c.description, &table, &path("description"))?;
            index.insert(id.clone(), categories.len());
            categories.push(Category {
                id,
                name,
                harm_rank,
                course_of_conduct,
                description,
            });
        }
        Ok((categories, index))
    }

    #[allow(clippy::type_complexity)]
    fn schemes(
        &self,
        raw: Option<Spanned<Vec<Spanned<RawScheme>>>>,
        categories: &HashMap<String, usize>,
    ) -> Result<
        (
            Vec<Scheme>,
            HashMap<String, usize>,
            Vec<HashMap<String, usize>>,
        ),
        DefinitionError,
    > {
        let raw = raw.map(Spanned::into_inner).unwrap_or_default();
        let mut schemes = Vec::with_capacity(raw.len());
        let mut scheme_index = HashMap::new();
        let mut code_index = Vec::with_capacity(raw.len());
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

            let raw_codes = s.codes.map(Spanned::into_inner).unwrap_or_default();
            let mut codes = Vec::with_capacity(raw_codes.len());
            let mut by_code: HashMap<String, usize> = HashMap::new();
            let mut code_lines: HashMap<String, usize> = HashMap::new();
            for (j, item) in raw_codes.into_iter().enumerate() {
                let code_table = item.span();
                let m = item.into_inner();
                let cpath = |f: &str| format!("schemes[{i}].codes[{j}].{f}");
                let (code, code_span) = self.string(&m.code, &code_table, &cpath("code"))?;
                let key = normalise(&code);
                if let Some(first) = code_lines.get(&key) {
                    return Err(self.err(
                        code_span.start,
                        &cpath("code"),
                        format!(
                            "duplicate code `{code}` in scheme {id} (first defined at line {first}; \
                             codes match ignoring case and surrounding spaces)"
                        ),
                    ));
                }
                code_lines.insert(key.clone(), self.line_of(code_span.start));
                let (description, _) =
                    self.string(&m.description, &code_table, &cpath("description"))?;
                let (category, cat_span) =
                    self.string(&m.category, &code_table, &cpath("category"))?;
                if !categories.contains_key(&category) {
                    return Err(self.err(
                        cat_span.start,
                        &cpath("category"),
                        format!("unknown category `{category}`; it must be the id of one of the [[categories]]"),
                    ));
                }
                by_code.insert(key, codes.len());
                codes.push(CodeMapping {
                    code,
                    description,
                    category,
                });
            }
            scheme_index.insert(id.clone(), schemes.len());
            code_index.push(by_code);
            schemes.push(Scheme {
                id,
                name,
                agency_kinds,
                source,
                codes,
            });
        }
        Ok((schemes, scheme_index, code_index))
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
