//! The set of definition versions a hub holds, one of them current.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Definition, EMBEDDED_DEFINITIONS};

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
    /// Every embedded version ([`EMBEDDED_DEFINITIONS`]: vawg-v1 and vawg-v2); the one with the
    /// newest `effective_from` is current (vawg-v2, effective from 2026-04-01), the same rule
    /// the server applies to a definitions folder. vawg-v1 stays loaded and listed, so records
    /// classified under it keep their meaning.
    ///
    /// Panics only if an embedded file is invalid, which a unit test rules out.
    pub fn embedded() -> DefinitionSet {
        let defs: Vec<Definition> = EMBEDDED_DEFINITIONS
            .iter()
            .map(|(text, file)| {
                Definition::from_toml_str(text, file)
                    .unwrap_or_else(|e| panic!("embedded definition is invalid: {e}"))
            })
            .collect();
        let current = defs
            .iter()
            .max_by_key(|d| (d.effective_from, d.version.clone()))
            .map(|d| d.version.clone())
            .expect("at least one definition is embedded");
        DefinitionSet::from_definitions(defs, &current)
            .unwrap_or_else(|e| panic!("embedded definitions do not form a set: {e}"))
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
