//! The idempotency rules, backend-free: what to do with each record of a chunk given what is
//! held, and the outcome each record gets once the inserts have run.

use std::collections::{BTreeSet, HashMap};

use super::{InsertedIds, NewRecord, Outcome};

/// Stored state of one source record, as the idempotency rules need it.
#[derive(Debug, Default)]
pub(super) struct Held {
    revisions: BTreeSet<u32>,
    retracted: bool,
}

impl Held {
    /// Adds one stored row of `source_record_id` to `held`: its revision, and whether it is
    /// the current row and retracted.
    pub(super) fn add(
        held: &mut HashMap<String, Held>,
        source_record_id: String,
        revision: u32,
        retracted_current: bool,
    ) {
        let h = held.entry(source_record_id).or_default();
        h.revisions.insert(revision);
        h.retracted |= retracted_current;
    }
}

/// What to do with each record of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Insert a new row; `previous` is the highest revision held before it, `current` whether
    /// it stays the current row (a later revision in the same chunk supersedes it).
    Insert {
        previous: Option<u32>,
        current: bool,
    },
    /// The same revision is held.
    Duplicate,
    /// A higher revision is held.
    Stale(u32),
    /// The record is retracted.
    Retracted,
}

/// Applies the idempotency rules to a chunk against what is held, in order. Returns a step per
/// record and the source record ids whose stored current row the chunk supersedes.
pub(super) fn plan(
    mut held: HashMap<String, Held>,
    records: &[NewRecord],
) -> (Vec<Step>, Vec<String>) {
    let mut steps = Vec::with_capacity(records.len());
    let mut last_insert: HashMap<&str, usize> = HashMap::new();
    let mut supersede_stored = BTreeSet::new();
    let stored: BTreeSet<String> = held
        .iter()
        .filter(|(_, h)| !h.revisions.is_empty())
        .map(|(k, _)| k.clone())
        .collect();
    for (i, r) in records.iter().enumerate() {
        let h = held.entry(r.source_record_id.clone()).or_default();
        let step = if h.revisions.contains(&r.revision) {
            Step::Duplicate
        } else if h.retracted {
            Step::Retracted
        } else if let Some(&max) = h.revisions.last().filter(|m| **m > r.revision) {
            Step::Stale(max)
        } else {
            let previous = h.revisions.last().copied();
            h.revisions.insert(r.revision);
            if let Some(prev) = last_insert.insert(&r.source_record_id, i)
                && let Step::Insert { current, .. } = &mut steps[prev]
            {
                *current = false;
            }
            if previous.is_some() && stored.contains(&r.source_record_id) {
                supersede_stored.insert(r.source_record_id.clone());
            }
            Step::Insert {
                previous,
                current: true,
            }
        };
        steps.push(step);
    }
    (steps, supersede_stored.into_iter().collect())
}

/// The distinct source record ids of a chunk, sorted.
pub(super) fn unique_ids(records: &[NewRecord]) -> Vec<String> {
    let set: BTreeSet<&str> = records
        .iter()
        .map(|r| r.source_record_id.as_str())
        .collect();
    set.into_iter().map(str::to_owned).collect()
}

/// The records to insert, in chunk order, each with whether it is to be the current row.
pub(super) fn inserts<'a>(records: &'a [NewRecord], steps: &[Step]) -> Vec<(&'a NewRecord, bool)> {
    records
        .iter()
        .zip(steps)
        .filter_map(|(r, s)| match s {
            Step::Insert { current, .. } => Some((r, *current)),
            _ => None,
        })
        .collect()
}

/// The outcome of each record, from its step and the rows the inserts returned.
pub(super) fn outcomes(
    records: &[NewRecord],
    steps: &[Step],
    inserted: &InsertedIds,
) -> Vec<Outcome> {
    records
        .iter()
        .zip(steps)
        .map(|(r, step)| match *step {
            Step::Insert { previous, .. } => {
                match inserted.get(&(r.source_record_id.clone(), r.revision)) {
                    // Not returned: a concurrent writer stored the same revision first.
                    None => Outcome::Duplicate,
                    Some(&record_id) => match previous {
                        None => Outcome::Accepted { record_id },
                        Some(previous_revision) => Outcome::Superseded {
                            record_id,
                            previous_revision,
                        },
                    },
                }
            }
            Step::Duplicate => Outcome::Duplicate,
            Step::Stale(held_revision) => Outcome::Stale { held_revision },
            Step::Retracted => Outcome::Retracted,
        })
        .collect()
}
