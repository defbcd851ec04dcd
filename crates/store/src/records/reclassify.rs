//! Reclassifying stored records under a new definition version (issue #17's one-off
//! migration to vawg-v2): every current record's classification is recomputed from its
//! original scheme and code (and, for a crime, its stored flag and relationship), and the
//! record is queued for the aggregator. Nothing a client sent is changed: only the hub's
//! derived classification columns, the definition version, and the context class kept in the
//! detail for counting.

use sqlx::{Row, types::Json};

use crate::{Backend, Store, StoreError, dispatch_pool};

/// A stored record's original classification and event, to classify again.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredClassification {
    /// The hub's record id.
    pub record_id: i64,
    /// The local scheme, as stored.
    pub scheme: String,
    /// The local code, as stored.
    pub code: String,
    /// The event kind's canonical name (`CRIME_RECORDED`, …).
    pub event_kind: String,
    /// The event detail (identifiers removed), from which the event is rebuilt.
    pub detail: serde_json::Value,
}

/// A record's classification under the new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reclassified {
    /// The hub's record id.
    pub record_id: i64,
    /// The code in the scheme's canonical notation.
    pub code: String,
    /// The category id; empty: out of scope, or resolved through its case's crime.
    pub category: String,
    /// The category's harm rank (0 without a category).
    pub harm_rank: u32,
    /// Whether the category is a course of conduct.
    pub course_of_conduct: bool,
    /// The context class of a context code, kept in the detail.
    pub context: Option<String>,
}

impl Store {
    /// Up to `limit` current records not classified under `version`, with a record id above
    /// `after`, in record-id order (a caller pages with the last id it saw, so a record it
    /// cannot classify is not read again).
    pub async fn records_to_reclassify(
        &self,
        version: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredClassification>, StoreError> {
        let sql = numbered(
            self.backend(),
            "SELECT record_id, local_scheme, local_code, event_kind, event_detail FROM records \
             WHERE is_current AND definition_version <> ? AND record_id > ? \
             ORDER BY record_id LIMIT ?",
        );
        let rows = dispatch_pool!(self.pool(), |p| {
            sqlx::query(&sql)
                .bind(version)
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?
                .iter()
                .map(|row| -> Result<StoredClassification, sqlx::Error> {
                    let detail: Json<serde_json::Value> = row.try_get("event_detail")?;
                    Ok(StoredClassification {
                        record_id: row.try_get("record_id")?,
                        scheme: row.try_get("local_scheme")?,
                        code: row.try_get("local_code")?,
                        event_kind: row.try_get("event_kind")?,
                        detail: detail.0,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// Stores the new classifications under `version` and queues the records for the
    /// aggregator, in one transaction.
    pub async fn reclassify(
        &self,
        version: &str,
        records: &[(Reclassified, serde_json::Value)],
    ) -> Result<(), StoreError> {
        let update = numbered(
            self.backend(),
            "UPDATE records SET local_code = ?, category = ?, harm_rank = ?, \
             course_of_conduct = ?, definition_version = ?, event_detail = ? WHERE record_id = ?",
        );
        let queue = numbered(
            self.backend(),
            "INSERT INTO agg_queue (record_id) VALUES (?)",
        );
        dispatch_pool!(self.pool(), |p| {
            let mut tx = p.begin().await?;
            for (r, detail) in records {
                let mut detail = detail.clone();
                if let Some(obj) = detail.as_object_mut() {
                    match &r.context {
                        Some(c) => obj.insert("context".into(), c.clone().into()),
                        None => obj.remove("context"),
                    };
                }
                sqlx::query(&update)
                    .bind(&r.code)
                    .bind(&r.category)
                    .bind(r.harm_rank as i32)
                    .bind(r.course_of_conduct)
                    .bind(version)
                    .bind(Json(detail))
                    .bind(r.record_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&queue)
                    .bind(r.record_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// `sql` with its `?` placeholders numbered `$1, $2, …` on PostgreSQL.
fn numbered(backend: Backend, sql: &str) -> String {
    match backend {
        Backend::Sqlite => sql.to_string(),
        Backend::Postgres => {
            let mut n = 0;
            sql.chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }
    }
}
