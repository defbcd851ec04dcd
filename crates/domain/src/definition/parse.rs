//! Parsing a definition file into a validated [`Definition`]: the raw, spanned structs and the
//! checks of every invariant (unique ids and harm ranks, every code mapped to a known category or
//! context class, codes in the canonical form of their scheme's notation, known agency kinds),
//! each error located at its field. Context classes are checked in [`context`], schemes and
//! their codes in [`scheme`].

use std::collections::HashMap;
use std::ops::Range;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::{Category, Definition, DefinitionError};
use crate::datafile::{Ctx, Leaf};

mod context;
mod scheme;

/// Parses and validates a definition file (see [`Definition::from_toml_str`]).
pub(super) fn definition(text: &str, file: &str) -> Result<Definition, DefinitionError> {
    let ctx = Ctx { text, file };
    let raw: RawDefinition = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;
    ctx.build_definition(raw)
}

/// An optional array of tables, each with its span.
type RawList<T> = Option<Spanned<Vec<Spanned<T>>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    version: Leaf,
    title: Leaf,
    effective_from: Leaf,
    description: Leaf,
    categories: RawList<RawCategory>,
    contexts: RawList<RawContext>,
    schemes: RawList<RawScheme>,
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
struct RawContext {
    id: Leaf,
    name: Leaf,
    domestic_category: Leaf,
    non_domestic_category: Leaf,
    source: Leaf,
    description: Leaf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheme {
    id: Leaf,
    name: Leaf,
    agency_kinds: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    source: Leaf,
    notation: Leaf,
    codes: RawList<RawCode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCode {
    code: Leaf,
    description: Leaf,
    category: Leaf,
    context: Leaf,
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
        let (contexts, context_index) = self.contexts(raw.contexts, &category_index)?;
        let schemes = self.schemes(raw.schemes, &category_index, &context_index)?;

        Ok(Definition {
            version,
            title,
            effective_from,
            description,
            categories,
            contexts,
            schemes: schemes.schemes,
            category_index,
            context_index,
            scheme_index: schemes.scheme_index,
            code_index: schemes.code_index,
        })
    }

    #[allow(clippy::type_complexity)]
    fn categories(
        &self,
        raw: RawList<RawCategory>,
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
            let (id, _) = self.unique_id(&c.id, &table, &path("id"), "category", &mut id_lines)?;
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
}
