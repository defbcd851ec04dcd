//! At start-up, every current record not classified under the current definition version is
//! classified again from its original scheme and code (and, for a crime, its stored flag and
//! relationship), then re-aggregated (issue #17: the one-off move to vawg-v2; docs/upgrading.md).
//! Idempotent: a record already under the current version is never read again, so after the
//! first start this finds nothing. Keeping every version queryable side by side is a later
//! step (issue #18).

use vawg_domain::definition::Definition;
use vawg_store::{
    Store,
    records::{Reclassified, StoredClassification},
};

/// Records read and written per transaction.
const BATCH: i64 = 2_000;

/// Reclassifies every current record not under `definition`; returns how many were
/// reclassified and how many could not be (their code is not in the definition: they keep their
/// old classification, and a warning names how many).
pub async fn reclassify_stored(
    store: &Store,
    definition: &Definition,
) -> anyhow::Result<(u64, u64)> {
    let (mut done, mut failed, mut after) = (0u64, 0u64, 0i64);
    loop {
        let batch = store
            .records_to_reclassify(&definition.version, after, BATCH)
            .await?;
        let Some(last) = batch.last() else { break };
        after = last.record_id;
        let mut updates = Vec::with_capacity(batch.len());
        for r in batch {
            match classify(definition, &r) {
                Some(c) => updates.push((c, r.detail)),
                None => failed += 1,
            }
        }
        store.reclassify(&definition.version, &updates).await?;
        done += updates.len() as u64;
    }
    if done > 0 || failed > 0 {
        tracing::info!(
            version = %definition.version,
            reclassified = done,
            kept = failed,
            "stored records reclassified under the current definition"
        );
    }
    if failed > 0 {
        tracing::warn!(
            version = %definition.version,
            records = failed,
            "records whose code the current definition does not map keep their old classification"
        );
    }
    Ok((done, failed))
}

/// One stored record's classification under `definition`.
fn classify(definition: &Definition, r: &StoredClassification) -> Option<Reclassified> {
    let event = vawg_store::detail::event_from_detail(&r.event_kind, &r.detail)?;
    let c = definition
        .classify_record(&r.scheme, &r.code, None, &event)
        .ok()?;
    Some(Reclassified {
        record_id: r.record_id,
        category: c.category_id(),
        harm_rank: c.harm_rank(),
        course_of_conduct: c.course_of_conduct(),
        code: c.code,
        context: c.context,
    })
}
