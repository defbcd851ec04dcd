//! The common VAWG definition: versioned data files that name the categories of violence against
//! women and girls, rank them by harm, and map each agency scheme's local codes to them.
//!
//! The definition is data an operator reviews (`deploy/definitions/*.toml`), not code, so that
//! changing what is counted is a visible, versioned decision (NAO, *Tackling violence against
//! women and girls*, 2025, para 3.17: nobody could say what "halving VAWG" measures). This module
//! parses and validates such a file, with `file:line:column` errors naming the offending field,
//! and classifies local codes. It does no I/O: callers pass the file text in; the embedded
//! versions are compiled in.
//!
//! # Classifying a code
//!
//! From vawg-v2 a code maps either to a category (in scope whatever the relationship) or to a
//! context class (`[[contexts]]`), whose category depends on the crime's domestic context
//! (docs/counting.md §2.9). So there are three ways in:
//!
//! - [`Definition::lookup`]: what the code maps to, a [`Target`] (category or context class),
//!   with the matched mapping (canonical code, description) and scheme. Codes are normalised by
//!   the scheme's [`Notation`] first (`4.1` and `004/01` find `4/1`).
//! - [`Definition::resolve`] (a context class id and a [`CrimeContext`]) and
//!   [`Definition::classify_in_context`] (a code and a [`CrimeContext`]): the category in that
//!   context, or none (out of scope), with the [`DomesticContext`] and any data-quality
//!   [`Finding`].
//! - [`Definition::classify`]: the context-blind view kept from vawg-v1, always a category; for
//!   a context code it is the class's *domestic* category and [`Classification::context`] names
//!   the class, so a caller can tell that the category is conditional.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::datafile::DataFileError;

mod context;
mod notation;
mod parse;
mod record;
mod set;

pub use context::{
    Context, CrimeContext, DomesticContext, Finding, Resolution, UnknownName,
    is_domestic_relationship, is_non_domestic_relationship,
};
pub use notation::Notation;
pub use record::RecordClassification;
pub use set::{DefinitionSet, DefinitionSetError};

/// Version `vawg-v1` (effective 2025-04-01), kept as it was: records classified under it keep
/// their meaning, and it stays loadable and listed.
pub const VAWG_V1_TOML: &str = include_str!("../../../deploy/definitions/vawg-v1.toml");

/// The file name reported in errors about [`VAWG_V1_TOML`].
pub const VAWG_V1_FILE: &str = "deploy/definitions/vawg-v1.toml";

/// Version `vawg-v2` (effective 2026-04-01): context classes, scheme notations, the LEGISLATION
/// scheme and non-fatal strangulation (issue 17).
pub const VAWG_V2_TOML: &str = include_str!("../../../deploy/definitions/vawg-v2.toml");

/// The file name reported in errors about [`VAWG_V2_TOML`].
pub const VAWG_V2_FILE: &str = "deploy/definitions/vawg-v2.toml";

/// The default definition: the newest embedded version, current in [`DefinitionSet::embedded`]
/// (now `vawg-v2`; it was `vawg-v1`, which is [`VAWG_V1_TOML`]).
pub const DEFAULT_DEFINITION_TOML: &str = VAWG_V2_TOML;

/// The file name reported in errors about [`DEFAULT_DEFINITION_TOML`].
pub const DEFAULT_DEFINITION_FILE: &str = VAWG_V2_FILE;

/// Every embedded version as (file text, file name), oldest first; the hub runs with nothing
/// to install.
pub const EMBEDDED_DEFINITIONS: [(&str, &str); 2] =
    [(VAWG_V1_TOML, VAWG_V1_FILE), (VAWG_V2_TOML, VAWG_V2_FILE)];

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
    /// The context classes, in file order (none in vawg-v1).
    pub contexts: Vec<Context>,
    /// The agency classification schemes, in file order.
    pub schemes: Vec<Scheme>,
    category_index: HashMap<String, usize>,
    context_index: HashMap<String, usize>,
    scheme_index: HashMap<String, usize>,
    /// Per scheme (same order as `schemes`): index key of a code ([`Notation`]) → index into
    /// `codes`.
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
    /// How the scheme's codes are written and matched (`notation` key; absent = exact).
    pub notation: Notation,
    /// The codes of the scheme that fall within VAWG, in file order.
    pub codes: Vec<CodeMapping>,
}

/// One local code and what it maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeMapping {
    /// The code as the source publishes it, e.g. `19C` or `T74.1`: the canonical form of the
    /// scheme's [`Notation`] (the parser refuses any other form).
    pub code: String,
    /// The source's description of the code.
    pub description: String,
    /// The category or context class the code maps to (the file's `category` or `context`).
    pub target: MappingTarget,
}

/// What a code maps to in the file: a category id or a context class id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MappingTarget {
    /// `category = "<id>"`: in scope whatever the relationship.
    Category(String),
    /// `context = "<id>"`: the category depends on the crime's domestic context.
    Context(String),
}

impl CodeMapping {
    /// The category id, for a code with a plain category.
    pub fn category_id(&self) -> Option<&str> {
        match &self.target {
            MappingTarget::Category(id) => Some(id),
            MappingTarget::Context(_) => None,
        }
    }

    /// The context class id, for a code that maps to a context class.
    pub fn context_id(&self) -> Option<&str> {
        match &self.target {
            MappingTarget::Context(id) => Some(id),
            MappingTarget::Category(_) => None,
        }
    }
}

/// What a code maps to, resolved to the definition's own entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// A category: in scope whatever the crime's context.
    Category(&'a Category),
    /// A context class: the category depends on the crime's context ([`Definition::resolve`]).
    Context(&'a Context),
}

/// The result of looking a local code up ([`Definition::lookup`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match<'a> {
    /// A category, or a context class that needs the crime's context.
    pub target: Target<'a>,
    /// The mapping that matched; its `code` is canonical (`4/1` for a submitted `004.01`).
    pub mapping: &'a CodeMapping,
    /// The scheme the code belongs to.
    pub scheme: &'a Scheme,
}

/// A code classified in a crime's context ([`Definition::classify_in_context`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrimeClassification<'a> {
    /// What the code maps to.
    pub matched: Match<'a>,
    /// The category in the crime's context (or out of scope), its domestic context and any
    /// finding.
    pub resolution: Resolution<'a>,
}

/// The context-blind result of classifying a local code ([`Definition::classify`]): always a
/// category, with the mapping and scheme that produced it so callers can record exactly why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification<'a> {
    /// The common category. For a context-class code, the class's *domestic* category: the
    /// category only if the crime turns out to be domestic (see `context`).
    pub category: &'a Category,
    /// The code mapping that matched (canonical code).
    pub mapping: &'a CodeMapping,
    /// The scheme the code belongs to.
    pub scheme: &'a Scheme,
    /// `Some` when the code maps to a context class: `category` then depends on the crime's
    /// domestic flag and relationship ([`Definition::resolve`]); `None` for a plain category.
    pub context: Option<&'a Context>,
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
    /// The scheme exists but has no such code (or the code is outside VAWG, or does not follow
    /// the scheme's notation).
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
    /// The context class is not part of this definition version ([`Definition::resolve`]).
    #[error("unknown context class `{context}` in definition {version}")]
    UnknownContext {
        /// The context class id as given.
        context: String,
        /// The definition version consulted.
        version: String,
    },
}

/// A problem in a definition file, located precisely enough for an operator to fix it (the
/// same located error as every reviewed data file).
pub type DefinitionError = DataFileError;

/// Normalises an id for matching: surrounding whitespace and letter case are not significant.
fn normalise(id: &str) -> String {
    id.trim().to_uppercase()
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
        parse::definition(text, file_name)
    }

    /// The category with this id (exact match; ids are stable snake_case).
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.category_index.get(id).map(|&i| &self.categories[i])
    }

    /// The context class with this id (exact match).
    pub fn context(&self, id: &str) -> Option<&Context> {
        self.context_index.get(id).map(|&i| &self.contexts[i])
    }

    /// The scheme with this id (trimmed, case-insensitive).
    pub fn scheme(&self, id: &str) -> Option<&Scheme> {
        self.scheme_index
            .get(&normalise(id))
            .map(|&i| &self.schemes[i])
    }

    /// Looks an agency's local code up: the category or context class it maps to.
    ///
    /// The code is normalised by the scheme's [`Notation`] first (`4.1`, `004/01` → `4/1`;
    /// `t741` → `T74.1`; LEGISLATION: case and spacing ignored, an unlisted subsection falls back
    /// to its section); the returned mapping carries the canonical code. Errors: unknown scheme;
    /// unknown code in the scheme (including a code that does not follow the notation); scheme
    /// not usable by this agency kind (`agency_kind` given as the upper-case names of the file,
    /// with or without the `AGENCY_KIND_` prefix; `None` = don't check).
    pub fn lookup(
        &self,
        scheme: &str,
        code: &str,
        agency_kind: Option<&str>,
    ) -> Result<Match<'_>, ClassifyError> {
        let scheme_pos = *self.scheme_index.get(&normalise(scheme)).ok_or_else(|| {
            ClassifyError::UnknownScheme {
                scheme: scheme.to_owned(),
                version: self.version.clone(),
            }
        })?;
        let found = &self.schemes[scheme_pos];
        if let Some(kind) = agency_kind
            && !found.agency_kinds.contains(&normalise_agency_kind(kind))
        {
            return Err(ClassifyError::SchemeNotForAgencyKind {
                scheme: found.id.clone(),
                agency_kind: kind.to_owned(),
            });
        }
        let index = &self.code_index[scheme_pos];
        let code_pos = found
            .notation
            .lookup_keys(code)
            .and_then(|keys| {
                index
                    .get(&keys.key)
                    .or_else(|| keys.fallback.and_then(|f| index.get(&f)))
            })
            .copied()
            .ok_or_else(|| ClassifyError::UnknownCode {
                scheme: found.id.clone(),
                code: code.to_owned(),
                version: self.version.clone(),
            })?;
        let mapping = &found.codes[code_pos];
        let target = match &mapping.target {
            MappingTarget::Category(id) => Target::Category(
                self.category(id)
                    .expect("validated: every code maps to a known category"),
            ),
            MappingTarget::Context(id) => Target::Context(
                self.context(id)
                    .expect("validated: every code maps to a known context class"),
            ),
        };
        Ok(Match {
            target,
            mapping,
            scheme: found,
        })
    }

    /// Classify an agency's local code, context-blind (the vawg-v1 API).
    ///
    /// Same lookup and errors as [`Definition::lookup`]. A plain-category code gives its
    /// category; a context-class code gives the class's domestic category with
    /// [`Classification::context`] set, because the true category needs the crime's context:
    /// callers that have it use [`Definition::classify_in_context`] or [`Definition::resolve`].
    pub fn classify(
        &self,
        scheme: &str,
        code: &str,
        agency_kind: Option<&str>,
    ) -> Result<Classification<'_>, ClassifyError> {
        let found = self.lookup(scheme, code, agency_kind)?;
        let (category, context) = match found.target {
            Target::Category(category) => (category, None),
            Target::Context(context) => (self.domestic_category(context), Some(context)),
        };
        Ok(Classification {
            category,
            mapping: found.mapping,
            scheme: found.scheme,
            context,
        })
    }

    /// Classify a local code in a crime's context: [`Definition::lookup`], then for a
    /// context-class code [`Definition::resolve`]. A plain-category code keeps its category
    /// whatever the context, with the crime's [`DomesticContext`] and no finding.
    pub fn classify_in_context(
        &self,
        scheme: &str,
        code: &str,
        agency_kind: Option<&str>,
        crime: CrimeContext,
    ) -> Result<CrimeClassification<'_>, ClassifyError> {
        let matched = self.lookup(scheme, code, agency_kind)?;
        let resolution = match matched.target {
            Target::Category(category) => Resolution {
                category: Some(category),
                domestic: crime.domestic(),
                finding: None,
            },
            Target::Context(context) => self.resolve_context(context, crime),
        };
        Ok(CrimeClassification {
            matched,
            resolution,
        })
    }

    /// The category of a context class in a crime's context (docs/counting.md §2.9): its
    /// `domestic_category` when the crime is domestic (flagged, or partner, ex-partner or family
    /// member); otherwise its `non_domestic_category`, or none (out of scope) without one.
    /// Flag and relationship disagreeing is a [`Finding`]. Error: unknown context class id.
    pub fn resolve(
        &self,
        context_id: &str,
        crime: CrimeContext,
    ) -> Result<Resolution<'_>, ClassifyError> {
        let context = self
            .context(context_id)
            .ok_or_else(|| ClassifyError::UnknownContext {
                context: context_id.to_owned(),
                version: self.version.clone(),
            })?;
        Ok(self.resolve_context(context, crime))
    }

    /// [`Definition::resolve`] for a context class of this definition.
    fn resolve_context(&self, context: &Context, crime: CrimeContext) -> Resolution<'_> {
        let domestic = crime.domestic();
        let category = if domestic.is_domestic() {
            Some(self.domestic_category(context))
        } else {
            context.non_domestic_category.as_deref().map(|id| {
                self.category(id)
                    .expect("validated: a context's categories exist")
            })
        };
        Resolution {
            category,
            domestic,
            finding: crime.finding(),
        }
    }

    /// The domestic category of a context class of this definition.
    fn domestic_category(&self, context: &Context) -> &Category {
        self.category(&context.domestic_category)
            .expect("validated: a context's categories exist")
    }
}

#[cfg(test)]
mod context_tests;
#[cfg(test)]
mod notation_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_tests;
