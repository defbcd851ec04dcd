//! Which unit's key each contribution carries, and the secret the keys are drawn with (cell-key
//! perturbation, see [`crate::cellkey`] and `docs/disclosure.md` §2).
//!
//! Every contribution of an entity carries the key of the unit behind that entity, once per
//! unit counted: `k_* = unit_key × n_*`. A cell's key sums (modulo 256) the keys of what it
//! counts, so the keys are additive under the aggregator's add and subtract and under
//! roll-ups, exactly like the counts.
//!
//! The unit must be the same whatever revision or classification the entity's records have,
//! or a revision would move a cell's key and give it fresh noise: a record is keyed by its
//! agency and the agency's own record id ([`FactRecord::unit`]), never by the hub's record id
//! (new for every revision); the other entities by their pseudonym-based text.

use std::fmt;

use super::{Contributions, EntityKey, FactRecord};
use crate::cellkey;

/// The hub's cell-key secret: the HMAC key unit keys are drawn with ([`cellkey::unit_key`]).
/// Whoever holds it and the unit identifiers can compute every cell's noise and remove it, so
/// it never prints (`Debug` is redacted) and its bytes never leave this type.
///
/// It must never change while figures are published: a new secret redraws the noise of every
/// cell, and anyone who kept earlier answers then holds two independent draws to average.
pub struct CellKeySecret(Vec<u8>);

/// The shortest secret accepted, in bytes.
pub const CELL_KEY_SECRET_MIN_LEN: usize = 32;

/// A secret too short to be a cell-key secret. Carries only the length, never the bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the cell-key secret has {len} bytes; at least {CELL_KEY_SECRET_MIN_LEN} are needed")]
pub struct CellKeySecretError {
    /// The length of the secret offered.
    pub len: usize,
}

impl CellKeySecret {
    /// A secret from its bytes: at least [`CELL_KEY_SECRET_MIN_LEN`] random bytes.
    pub fn new(bytes: Vec<u8>) -> Result<CellKeySecret, CellKeySecretError> {
        if bytes.len() < CELL_KEY_SECRET_MIN_LEN {
            return Err(CellKeySecretError { len: bytes.len() });
        }
        Ok(CellKeySecret(bytes))
    }

    /// The key of the unit with stable identifier `unit` ([`cellkey::unit_key`]).
    pub fn unit_key(&self, unit: &str) -> u8 {
        cellkey::unit_key(&self.0, unit)
    }
}

impl fmt::Debug for CellKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CellKeySecret([redacted])")
    }
}

/// The stable identifier of the unit whose key `entity`'s contributions carry, given the
/// entity's current records; `None` when the entity has no record to key (it then contributes
/// nothing).
///
/// - a record: [`FactRecord::unit`] (agency and the agency's record id);
/// - any other entity: its text ([`EntityKey::as_text`]), built from pseudonyms only. (A
///   victim's offences and people are keyed per offence and per person by the victim entity's
///   own computation, not here.)
pub fn unit_of(entity: &EntityKey, records: &[FactRecord]) -> Option<String> {
    let record = |id: i64| {
        records
            .iter()
            .find(|r| r.record_id == id)
            .map(|r| r.unit.clone())
    };
    match entity {
        EntityKey::Record(id) => record(*id),
        _ => Some(entity.as_text()),
    }
}

/// Sets the key sums of `entity`'s contributions: `k_* = unit_key × n_*` for the entity's unit.
pub(super) fn key(
    entity: &EntityKey,
    records: &[FactRecord],
    secret: &CellKeySecret,
    out: &mut Contributions,
) {
    if out.is_empty() {
        return;
    }
    let key = unit_of(entity, records).map_or(0, |unit| i64::from(secret.unit_key(&unit)));
    for v in out.values_mut() {
        *v = v.keyed(key);
    }
}
