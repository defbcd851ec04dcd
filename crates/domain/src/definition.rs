//! The common VAWG definition: versioned data files that name the categories of violence against
//! women and girls, rank them by harm, and map each agency scheme's local codes to them.
//!
//! The definition is data an operator reviews (`deploy/definitions/*.toml`), not code, so that
//! changing what is counted is a visible, versioned decision (NAO, *Tackling violence against
//! women and girls*, 2025, para 3.17: nobody could say what "halving VAWG" measures). This module
//! parses and validates such a file, with `file:line:column` errors naming the offending field,
//! and classifies local codes. It does no I/O: callers pass the file text in; the default version
//! is embedded at compile time.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

/// The default definition (version `vawg-v1`), embedded so the hub runs with nothing to install.
pub const DEFAULT_DEFINITION_TOML: &str = include_str!("../../../deploy/definitions/vawg-v1.toml");

/// The file name reported in errors about [`DEFAULT_DEFINITION_TOML`].
pub const DEFAULT_DEFINITION_FILE: &str = "deploy/definitions/vawg-v1.toml";

/// The agency kinds a scheme may name in `agency_kinds`: the `AgencyKind` names of the contracts
/// without their `AGENCY_KIND_` prefix. A closed list, so a typo in a definition file is an error
/// rather than a scheme nobody can use. `CENTRAL_ANALYST` and `IMMIGRATION_ENFORCEMENT` are
/// deliberately absent: neither submits records, so no scheme may be granted to them.
pub const AGENCY_KINDS: [&str; 10] = [
    "POLICE",
    "CPS",
    "COURT",
    "HEALTH",
    "LOCAL_AUTHORITY",
    "SCHOOL",
    "SUPPORT_SERVICE",
    "PROBATION",
    "MARAC",
    "COMMISSIONER",
];

/// One validated version of the common definition.
///
/// Built only by [`Definition::from_toml_str`], which checks every invariant the rest of the hub
/// relies on (unique ids and harm ranks, every code mapped to a known category). Treat the public
/// fields as read-only: the lookup indexes are built from them once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// Version identifier, e.g. `vawg-v1`; stored with every classified record.
    pub version: String,
    /// Human-readable title.
    pub title: String,
    /// First day records may be classified under this version.
    pub effective_from: NaiveDate,
    /// What this version covers and why.
    pub description: String,
    /// The categories, in file order.
    pub categories: Vec<Category>,
    /// The agency classification schemes, in file order.
    pub schemes: Vec<Scheme>,
    category_index: HashMap<String, usize>,
    scheme_index: HashMap<String, usize>,
    /// Per scheme (same order as `schemes`): normalised code → index into `codes`.
    code_index: Vec<HashMap<String, usize>>,
}

/// A common category of VAWG, e.g. rape or stalking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    /// Stable snake_case identifier, e.g. `controlling_or_coercive_behaviour`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// 1 = most harmful; unique within a version. The principal crime rule keeps the offence with
    /// the lowest rank in each victim/suspect relationship.
    pub harm_rank: u32,
    /// True for offences defined by a pattern of behaviour (stalking, harassment, controlling or
    /// coercive behaviour), which the 2017–2023 counting rule counted in addition to the
    /// principal crime.
    pub course_of_conduct: bool,
    /// What the category covers.
    pub description: String,
}

/// An agency classification scheme, e.g. Home Office offence codes or ICD-10.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheme {
    /// Stable UPPER_SNAKE identifier, e.g. `HO_OFFENCE`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The agency kinds (names from [`AGENCY_KINDS`]) that may classify records with this scheme.
    pub agency_kinds: Vec<String>,
    /// The public source of the scheme's codes, so every mapping can be checked.
    pub source: String,
    /// The codes of the scheme that fall within VAWG, in file order.
    pub codes: Vec<CodeMapping>,
}

/// One local code and the category it maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeMapping {
    /// The code as the source publishes it, e.g. `19C` or `T74.1`.
    pub code: String,
    /// The source's description of the code.
    pub description: String,
    /// The id of the category the code maps to.
    pub category: String,
}

/// The result of classifying a local code: the category, with the mapping and scheme that
/// produced it so callers can record exactly why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification<'a> {
    /// The common category.
    pub category: &'a Category,
    /// The code mapping that matched.
    pub mapping: &'a CodeMapping,
    /// The scheme the code belongs to.
    pub scheme: &'a Scheme,
}

/// Why a local code could not be classified. Unknown codes are rejected, never guessed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    /// The scheme is not part of this definition version.
    #[error("unknown classification scheme `{scheme}` in definition {version}")]
    UnknownScheme {
        /// The scheme as given.
        scheme: String,
        /// The definition version consulted.
        version: String,
    },
    /// The scheme exists but has no such code (or the code is outside VAWG).
    #[error(
        "code `{code}` is not mapped in scheme {scheme} of definition {version}; \
         unmapped codes are rejected, never guessed"
    )]
    UnknownCode {
        /// The scheme id.
        scheme: String,
        /// The code as given.
        code: String,
        /// The definition version consulted.
        version: String,
    },
    /// The scheme exists but this kind of agency does not classify with it.
    #[error("scheme {scheme} is not used by agency kind {agency_kind}")]
    SchemeNotForAgencyKind {
        /// The scheme id.
        scheme: String,
        /// The agency kind as given.
        agency_kind: String,
    },
}

/// A problem in a definition file, located precisely enough for an operator to fix it.
///
/// Displays as `{file}:{line}:{column}: {field}: {message}` (the format editors and CI annotate).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {field}: {message}")]
pub struct DefinitionError {
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

/// Why a [`DefinitionSet`] could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionSetError {
    /// No definitions were given.
    #[error("no definition versions given")]
    Empty,
    /// Two definitions share a version id, so stored records would be ambiguous.
    #[error("definition version `{0}` is given more than once")]
    DuplicateVersion(String),
    /// The version named as current is not among those given.
    #[error("current definition version `{current}` is not among the versions given: {available}")]
    UnknownCurrent {
        /// The version named as current.
        current: String,
        /// The versions given, comma-separated.
        available: String,
    },
}

/// Normalises a code or id for matching: surrounding whitespace and letter case are not
/// significant, because agency systems export codes inconsistently (`19c`, ` 19C`).
fn normalise(code: &str) -> String {
    code.trim().to_uppercase()
}

/// Normalises an agency kind name, accepting the contract's `AGENCY_KIND_` prefix too.
fn normalise_agency_kind(kind: &str) -> String {
    let upper = normalise(kind);
    match upper.strip_prefix("AGENCY_KIND_") {
        Some(rest) => rest.to_owned(),
        None => upper,
    }
}

impl Definition {
    /// Parses and validates a definition file. `file_name` is used only in error messages.
    ///
    /// Returns the first problem found, in document order.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Definition, DefinitionError> {
        let ctx = Ctx {
            text,
            file: file_name,
        };
        let raw: RawDefinition = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;
        ctx.build(raw)
    }

    /// The category with this id (exact match; ids are stable snake_case).
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.category_index.get(id).map(|&i| &self.categories[i])
    }

    /// The scheme with this id (trimmed, case-insensitive).
    pub fn scheme(&self, id: &str) -> Option<&Scheme> {
        self.scheme_index
            .get(&normalise(id))
            .map(|&i| &self.schemes[i])
    }

    /// Classify an agency's local code.
    ///
    /// Code matching: trim, case-insensitive. Errors: unknown scheme, unknown code in scheme,
    /// scheme not usable by this agency kind (`agency_kind` given as the same upper-case names
    /// as in the file, with or without the `AGENCY_KIND_` prefix; `None` = don't check).
    pub fn classify(
        &self,
        scheme: &str,
        code: &str,
        agency_kind: Option<&str>,
    ) -> Result<Classification<'_>, ClassifyError> {
        let scheme_pos = *self.scheme_index.get(&normalise(scheme)).ok_or_else(|| {
            ClassifyError::UnknownScheme {
                scheme: scheme.to_owned(),
                version: self.version.clone(),
            }
        })?;
        let found = &self.schemes[scheme_pos];
        if let Some(kind) = agency_kind {
            let kind_norm = normalise_agency_kind(kind);
            if !found.agency_kinds.contains(&kind_norm) {
                return Err(ClassifyError::SchemeNotForAgencyKind {
                    scheme: found.id.clone(),
                    agency_kind: kind.to_owned(),
                });
            }
        }
        let code_pos = *self.code_index[scheme_pos]
            .get(&normalise(code))
            .ok_or_else(|| ClassifyError::UnknownCode {
                scheme: found.id.clone(),
                code: code.to_owned(),
                version: self.version.clone(),
            })?;
        let mapping = &found.codes[code_pos];
        let category = self
            .category(&mapping.category)
            .expect("validated: every code maps to a known category");
        Ok(Classification {
            category,
            mapping,
            scheme: found,
        })
    }
}

/// A set of definition versions, one of which is current.
///
/// Old versions stay loaded because every stored record keeps the version it was classified
/// under, and a query may ask for figures under any of them. The current version is named
/// explicitly (normally the newest) so an operator can load a new version before switching.
#[derive(Clone, Debug)]
pub struct DefinitionSet {
    /// Ordered by `effective_from`, then version id.
    versions: Vec<Arc<Definition>>,
    current: usize,
}

impl DefinitionSet {
    /// Just the embedded default definition.
    ///
    /// Panics only if the embedded file is invalid, which a unit test rules out.
    pub fn embedded() -> DefinitionSet {
        let definition =
            Definition::from_toml_str(DEFAULT_DEFINITION_TOML, DEFAULT_DEFINITION_FILE)
                .unwrap_or_else(|e| panic!("embedded definition is invalid: {e}"));
        DefinitionSet {
            versions: vec![Arc::new(definition)],
            current: 0,
        }
    }

    /// Builds a set from validated definitions, with `current` naming the current version.
    pub fn from_definitions(
        defs: Vec<Definition>,
        current: &str,
    ) -> Result<DefinitionSet, DefinitionSetError> {
        if defs.is_empty() {
            return Err(DefinitionSetError::Empty);
        }
        let mut versions: Vec<Arc<Definition>> = defs.into_iter().map(Arc::new).collect();
        versions
            .sort_by(|a, b| (a.effective_from, &a.version).cmp(&(b.effective_from, &b.version)));
        let mut seen = HashSet::new();
        for d in &versions {
            if !seen.insert(d.version.as_str()) {
                return Err(DefinitionSetError::DuplicateVersion(d.version.clone()));
            }
        }
        let current_pos = versions
            .iter()
            .position(|d| d.version == current)
            .ok_or_else(|| DefinitionSetError::UnknownCurrent {
                current: current.to_owned(),
                available: versions
                    .iter()
                    .map(|d| d.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(DefinitionSet {
            versions,
            current: current_pos,
        })
    }

    /// The current version: the one new records are classified under.
    pub fn current(&self) -> &Arc<Definition> {
        &self.versions[self.current]
    }

    /// The version with this id, if loaded.
    pub fn get(&self, version: &str) -> Option<&Arc<Definition>> {
        self.versions.iter().find(|d| d.version == version)
    }

    /// All loaded versions, oldest `effective_from` first.
    pub fn versions(&self) -> impl Iterator<Item = &Arc<Definition>> {
        self.versions.iter()
    }
}

// ------------------------------------------------------------------------------------------------
// Parsing. The file is first deserialised into "raw" structs whose leaves are spanned TOML values,
// so that type checks, required fields and cross-references are all checked here with the exact
// position and field path, rather than surfacing as serde messages without a path.
// ------------------------------------------------------------------------------------------------

type Leaf = Option<Spanned<toml::Value>>;

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

/// Parsing context: the text (for byte offset → line/column) and the file name.
struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, offset: usize, field: &str, message: impl Into<String>) -> DefinitionError {
        let (line, column) = line_column(self.text, offset);
        DefinitionError {
            file: self.file.to_owned(),
            line,
            column,
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Syntax errors, unknown fields and structural type errors come from the TOML
    /// deserialiser: it gives a span but no field path, so the path is recovered from the text.
    fn toml_error(&self, e: &toml::de::Error) -> DefinitionError {
        let offset = e.span().map_or(0, |s| s.start).min(self.text.len());
        let field = field_path_at(self.text, offset);
        let message = e.message().trim().replace('\n', "; ");
        self.err(offset, &field, message)
    }

    fn line_of(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    fn required<'v>(
        &self,
        leaf: &'v Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<&'v Spanned<toml::Value>, DefinitionError> {
        leaf.as_ref()
            .ok_or_else(|| self.err(table.start, field, "required field is missing"))
    }

    /// A required, non-blank string.
    fn string(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<(String, Range<usize>), DefinitionError> {
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

    fn boolean(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<bool, DefinitionError> {
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

    fn build(&self, raw: RawDefinition) -> Result<Definition, DefinitionError> {
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

fn is_snake_case(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_upper_snake_case(s: &str) -> bool {
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

    /// A small valid file; tests derive invalid variants by editing one line so each asserts the
    /// exact line of its error.
    const SMALL: &str = r#"version = "test-v1"
title = "Test definition"
effective_from = "2025-04-01"
description = "For tests."

[[categories]]
id = "rape"
name = "Rape"
harm_rank = 1
course_of_conduct = false
description = "Rape."

[[categories]]
id = "stalking"
name = "Stalking"
harm_rank = 2
course_of_conduct = true
description = "Stalking."

[[schemes]]
id = "HO_OFFENCE"
name = "Home Office offence classification"
agency_kinds = ["POLICE", "CPS"]
source = "Home Office Counting Rules"

[[schemes.codes]]
code = "19C"
description = "Rape of a female aged 16 and over"
category = "rape"

[[schemes.codes]]
code = "8Q"
description = "Stalking"
category = "stalking"
"#;

    fn parse(text: &str) -> Result<Definition, DefinitionError> {
        Definition::from_toml_str(text, "test.toml")
    }

    /// Replaces the whole of line `line` (1-based) of `SMALL`.
    fn with_line(line: usize, replacement: &str) -> String {
        SMALL
            .lines()
            .enumerate()
            .map(|(i, l)| if i + 1 == line { replacement } else { l })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn expect_err(text: &str) -> DefinitionError {
        match parse(text) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn small_file_is_valid() {
        let d = parse(SMALL).unwrap();
        assert_eq!(d.version, "test-v1");
        assert_eq!(
            d.effective_from,
            NaiveDate::from_ymd_opt(2025, 4, 1).unwrap()
        );
        assert_eq!(d.categories.len(), 2);
        assert_eq!(d.schemes[0].codes.len(), 2);
        assert_eq!(d.schemes[0].agency_kinds, vec!["POLICE", "CPS"]);
    }

    #[test]
    fn embedded_definition_is_valid() {
        let d = Definition::from_toml_str(DEFAULT_DEFINITION_TOML, DEFAULT_DEFINITION_FILE)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.version, "vawg-v1");
        for required in [
            "domestic_homicide",
            "rape",
            "other_sexual_offences",
            "domestic_abuse",
            "stalking",
            "harassment",
            "controlling_or_coercive_behaviour",
            "honour_based_abuse",
            "fgm",
            "forced_marriage",
            "intimate_image_abuse",
        ] {
            assert!(
                d.category(required).is_some(),
                "missing category {required}"
            );
        }
        for scheme in [
            "HO_OFFENCE",
            "CPS_FLAG",
            "ICD10",
            "ORDER_TYPE",
            "VAWG_CATEGORY",
        ] {
            assert!(d.scheme(scheme).is_some(), "missing scheme {scheme}");
        }
    }

    #[test]
    fn embedded_classifies_19c_as_rape() {
        let set = DefinitionSet::embedded();
        let c = set
            .current()
            .classify("HO_OFFENCE", "19C", Some("POLICE"))
            .unwrap();
        assert_eq!(c.category.id, "rape");
        assert_eq!(c.scheme.id, "HO_OFFENCE");
        assert_eq!(c.mapping.code, "19C");
    }

    #[test]
    fn embedded_course_of_conduct_categories() {
        let set = DefinitionSet::embedded();
        let d = set.current();
        let mut coc: Vec<&str> = d
            .categories
            .iter()
            .filter(|c| c.course_of_conduct)
            .map(|c| c.id.as_str())
            .collect();
        coc.sort_unstable();
        assert_eq!(
            coc,
            [
                "controlling_or_coercive_behaviour",
                "harassment",
                "stalking"
            ]
        );
    }

    #[test]
    fn embedded_vawg_category_scheme_covers_every_category_by_its_own_id() {
        let set = DefinitionSet::embedded();
        let d = set.current();
        let scheme = d.scheme("VAWG_CATEGORY").unwrap();
        assert_eq!(scheme.codes.len(), d.categories.len());
        for c in &d.categories {
            let hit = d
                .classify("VAWG_CATEGORY", &c.id, Some("SUPPORT_SERVICE"))
                .unwrap();
            assert_eq!(hit.category.id, c.id);
        }
    }

    #[test]
    fn embedded_every_order_type_and_icd10_code_classifies() {
        let set = DefinitionSet::embedded();
        let d = set.current();
        assert_eq!(
            d.classify("ORDER_TYPE", "SPO", Some("COURT"))
                .unwrap()
                .category
                .id,
            "stalking"
        );
        assert_eq!(
            d.classify("ORDER_TYPE", "FGMPO", Some("COURT"))
                .unwrap()
                .category
                .id,
            "fgm"
        );
        assert_eq!(
            d.classify("ICD10", "Y07.0", Some("HEALTH"))
                .unwrap()
                .category
                .id,
            "domestic_abuse"
        );
    }

    #[test]
    fn classify_matches_trimmed_and_case_insensitive() {
        let d = parse(SMALL).unwrap();
        assert_eq!(
            d.classify("HO_OFFENCE", "  19c ", None)
                .unwrap()
                .category
                .id,
            "rape"
        );
        assert_eq!(
            d.classify("ho_offence", "8q", None).unwrap().category.id,
            "stalking"
        );
        assert_eq!(
            d.classify("HO_OFFENCE", "8Q", Some("AGENCY_KIND_POLICE"))
                .unwrap()
                .category
                .id,
            "stalking"
        );
    }

    #[test]
    fn classify_unknown_scheme() {
        let d = parse(SMALL).unwrap();
        let e = d.classify("NOPE", "19C", None).unwrap_err();
        assert_eq!(
            e,
            ClassifyError::UnknownScheme {
                scheme: "NOPE".into(),
                version: "test-v1".into()
            }
        );
        assert!(e.to_string().contains("NOPE"));
    }

    #[test]
    fn classify_unknown_code_is_rejected_not_guessed() {
        let d = parse(SMALL).unwrap();
        let e = d.classify("HO_OFFENCE", "19", None).unwrap_err();
        assert_eq!(
            e,
            ClassifyError::UnknownCode {
                scheme: "HO_OFFENCE".into(),
                code: "19".into(),
                version: "test-v1".into()
            }
        );
        assert!(e.to_string().contains("never guessed"));
    }

    #[test]
    fn classify_scheme_not_for_agency_kind() {
        let d = parse(SMALL).unwrap();
        let e = d.classify("HO_OFFENCE", "19C", Some("SCHOOL")).unwrap_err();
        assert_eq!(
            e,
            ClassifyError::SchemeNotForAgencyKind {
                scheme: "HO_OFFENCE".into(),
                agency_kind: "SCHOOL".into()
            }
        );
    }

    #[test]
    fn error_display_format() {
        let e = expect_err(&with_line(9, "harm_rank = -1"));
        assert_eq!(
            e.to_string(),
            format!(
                "test.toml:{}:{}: {}: {}",
                e.line, e.column, e.field, e.message
            )
        );
        assert!(
            e.to_string()
                .starts_with("test.toml:9:13: categories[0].harm_rank: ")
        );
    }

    #[test]
    fn error_toml_syntax() {
        let e = expect_err(&with_line(8, "name = \"Rape"));
        assert_eq!(e.line, 8);
        assert_eq!(e.file, "test.toml");
    }

    #[test]
    fn error_missing_required_field() {
        // Blanking line 8 (`name = "Rape"`) leaves the first category without a name; the error
        // points at the table's header.
        let e = expect_err(&with_line(8, ""));
        assert_eq!((e.line, e.column), (6, 1));
        assert_eq!(e.field, "categories[0].name");
        assert!(e.message.contains("missing"));
    }

    #[test]
    fn error_missing_top_level_field() {
        let e = expect_err(&with_line(2, ""));
        assert_eq!((e.line, e.field.as_str()), (1, "title"));
    }

    #[test]
    fn error_empty_id() {
        let e = expect_err(&with_line(14, "id = \"  \""));
        assert_eq!((e.line, e.field.as_str()), (14, "categories[1].id"));
        assert!(e.message.contains("empty"));
        let e = expect_err(&with_line(21, "id = \"\""));
        assert_eq!((e.line, e.field.as_str()), (21, "schemes[0].id"));
    }

    #[test]
    fn error_bad_id_format() {
        let e = expect_err(&with_line(14, "id = \"Stalking\""));
        assert_eq!((e.line, e.field.as_str()), (14, "categories[1].id"));
        let e = expect_err(&with_line(21, "id = \"ho-offence\""));
        assert_eq!((e.line, e.field.as_str()), (21, "schemes[0].id"));
    }

    #[test]
    fn error_duplicate_category_id() {
        let e = expect_err(&with_line(14, "id = \"rape\""));
        assert_eq!((e.line, e.column), (14, 6));
        assert_eq!(e.field, "categories[1].id");
        assert!(e.message.contains("line 7"), "{}", e.message);
    }

    #[test]
    fn error_duplicate_harm_rank() {
        let e = expect_err(&with_line(16, "harm_rank = 1"));
        assert_eq!((e.line, e.field.as_str()), (16, "categories[1].harm_rank"));
        assert!(e.message.contains("`rape`"), "{}", e.message);
    }

    #[test]
    fn error_bad_harm_rank() {
        let e = expect_err(&with_line(16, "harm_rank = 0"));
        assert_eq!((e.line, e.field.as_str()), (16, "categories[1].harm_rank"));
        let e = expect_err(&with_line(16, "harm_rank = \"two\""));
        assert_eq!(e.line, 16);
        assert!(e.message.contains("whole number"));
    }

    #[test]
    fn error_wrong_type() {
        let e = expect_err(&with_line(17, "course_of_conduct = \"yes\""));
        assert_eq!(
            (e.line, e.field.as_str()),
            (17, "categories[1].course_of_conduct")
        );
    }

    #[test]
    fn error_duplicate_scheme_id() {
        let text = format!(
            "{SMALL}\n[[schemes]]\nid = \"HO_OFFENCE\"\nname = \"Again\"\nagency_kinds = [\"POLICE\"]\nsource = \"x\"\n"
        );
        let e = expect_err(&text);
        assert_eq!((e.line, e.field.as_str()), (37, "schemes[1].id"));
        assert!(e.message.contains("line 21"), "{}", e.message);
    }

    #[test]
    fn error_duplicate_code_after_normalisation() {
        let e = expect_err(&with_line(32, "code = \" 19c\""));
        assert_eq!((e.line, e.field.as_str()), (32, "schemes[0].codes[1].code"));
        assert!(e.message.contains("duplicate"));
    }

    #[test]
    fn error_code_maps_to_unknown_category() {
        let e = expect_err(&with_line(34, "category = \"stalkin\""));
        assert_eq!((e.line, e.column), (34, 12));
        assert_eq!(e.field, "schemes[0].codes[1].category");
        assert!(e.message.contains("unknown category `stalkin`"));
    }

    #[test]
    fn error_unknown_agency_kind() {
        let e = expect_err(&with_line(
            23,
            "agency_kinds = [\"POLICE\", \"IMMIGRATION\"]",
        ));
        assert_eq!(
            (e.line, e.field.as_str()),
            (23, "schemes[0].agency_kinds[1]")
        );
        assert!(e.message.contains("IMMIGRATION"));
    }

    #[test]
    fn error_bad_date() {
        let e = expect_err(&with_line(3, "effective_from = \"2025-02-30\""));
        assert_eq!(
            (e.line, e.column, e.field.as_str()),
            (3, 18, "effective_from")
        );
        let e = expect_err(&with_line(3, "effective_from = 2025-04-01T10:00:00"));
        assert_eq!(e.line, 3);
        // A native TOML date is accepted as well as a string.
        let d = parse(&with_line(3, "effective_from = 2025-04-01")).unwrap();
        assert_eq!(
            d.effective_from,
            NaiveDate::from_ymd_opt(2025, 4, 1).unwrap()
        );
    }

    #[test]
    fn error_unknown_field_names_its_path() {
        let e = expect_err(&with_line(33, "descripton = \"Stalking\""));
        assert_eq!(e.line, 33);
        assert_eq!(e.field, "schemes[0].codes[1].descripton");
        assert!(e.message.contains("unknown field"), "{}", e.message);
    }

    #[test]
    fn error_no_categories() {
        let e = expect_err(
            "version = \"v\"\ntitle = \"t\"\neffective_from = \"2025-01-01\"\ndescription = \"d\"\n",
        );
        assert_eq!(e.field, "categories");
    }

    #[test]
    fn definition_set_orders_versions_and_picks_current() {
        let v1 = parse(SMALL).unwrap();
        let v2 = parse(
            &SMALL
                .replace("test-v1", "test-v2")
                .replace("2025-04-01", "2026-04-01"),
        )
        .unwrap();
        let set = DefinitionSet::from_definitions(vec![v2, v1], "test-v2").unwrap();
        let order: Vec<&str> = set.versions().map(|d| d.version.as_str()).collect();
        assert_eq!(order, ["test-v1", "test-v2"]);
        assert_eq!(set.current().version, "test-v2");
        assert!(set.get("test-v1").is_some());
        assert!(set.get("nope").is_none());
    }

    #[test]
    fn definition_set_errors() {
        assert_eq!(
            DefinitionSet::from_definitions(vec![], "x").unwrap_err(),
            DefinitionSetError::Empty
        );
        let v1 = parse(SMALL).unwrap();
        assert_eq!(
            DefinitionSet::from_definitions(vec![v1.clone(), v1.clone()], "test-v1").unwrap_err(),
            DefinitionSetError::DuplicateVersion("test-v1".into())
        );
        assert!(matches!(
            DefinitionSet::from_definitions(vec![v1], "test-v9").unwrap_err(),
            DefinitionSetError::UnknownCurrent { .. }
        ));
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé d", 0), (1, 1));
        assert_eq!(line_column("ab\ncé d", 3), (2, 1));
        // 'é' is two bytes: the space after it (byte 6) is column 3, not 4.
        assert_eq!(line_column("ab\ncé d", 6), (2, 3));
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
    }
}
