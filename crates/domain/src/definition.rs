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
use std::sync::Arc;

use chrono::NaiveDate;

use crate::datafile::DataFileError;

mod parse;

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

/// A problem in a definition file, located precisely enough for an operator to fix it (the
/// same located error as every reviewed data file).
pub type DefinitionError = DataFileError;

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
        parse::definition(text, file_name)
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

#[cfg(test)]
mod tests;
