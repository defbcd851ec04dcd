//! Reads of stored records: the earliest CPS referral of a case (for validation), and every
//! revision of a record and row counts (for tests and operators).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::StoredRevision;
use crate::{
    Pool, Store, StoreError,
    sql::{parse_ts, push_sqlite_list, revision},
};

/// A row of [`Store::revisions`]: id, revision (backend integer type), current, retracted,
/// event kind, category, definition version, local code.
type RevisionRow<R> = (i64, R, bool, bool, String, String, String, String);

impl Store {
    /// The earliest event time of a current, unretracted CPS referral for each of the given
    /// police crime reference pseudonyms (any agency), for the rule that a charging decision
    /// cannot precede the referral of the same case.
    pub async fn earliest_referrals(
        &self,
        police_ref_pseudonyms: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let mut out = HashMap::new();
        if police_ref_pseudonyms.is_empty() {
            return Ok(out);
        }
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "SELECT police_ref_pseudonym, MIN(event_time) FROM records \
                     WHERE event_kind = 'CPS_REFERRAL' AND is_current = 1 AND retracted = 0 \
                     AND police_ref_pseudonym IN ",
                );
                push_sqlite_list(&mut qb, police_ref_pseudonyms.iter().map(String::as_str));
                qb.push(" GROUP BY police_ref_pseudonym");
                for row in qb.build().fetch_all(p).await? {
                    let t: String = row.try_get(1)?;
                    out.insert(row.try_get(0)?, parse_ts(&t)?);
                }
            }
            Pool::Postgres(p) => {
                let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT police_ref_pseudonym, MIN(event_time) FROM records \
                     WHERE event_kind = 'CPS_REFERRAL' AND is_current AND NOT retracted \
                     AND police_ref_pseudonym = ANY($1) GROUP BY police_ref_pseudonym",
                )
                .bind(police_ref_pseudonyms)
                .fetch_all(p)
                .await?;
                out.extend(rows);
            }
        }
        Ok(out)
    }

    /// Every stored revision of one record, oldest first.
    pub async fn revisions(
        &self,
        agency_id: &str,
        source_record_id: &str,
    ) -> Result<Vec<StoredRevision>, StoreError> {
        const SQL: &str = "SELECT record_id, revision, is_current, retracted, event_kind, \
            category, definition_version, local_code FROM records \
            WHERE agency_id = $1 AND source_record_id = $2 ORDER BY revision";
        let rows: Vec<RevisionRow<i64>> = match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query_as(SQL)
                    .bind(agency_id)
                    .bind(source_record_id)
                    .fetch_all(p)
                    .await?
            }
            Pool::Postgres(p) => {
                let rows: Vec<RevisionRow<i32>> = sqlx::query_as(SQL)
                    .bind(agency_id)
                    .bind(source_record_id)
                    .fetch_all(p)
                    .await?;
                rows.into_iter()
                    .map(|(a, b, c, d, e, f, g, h)| (a, i64::from(b), c, d, e, f, g, h))
                    .collect()
            }
        };
        rows.into_iter()
            .map(
                |(record_id, rev, is_current, retracted, event_kind, category, dv, lc)| {
                    Ok(StoredRevision {
                        record_id,
                        revision: revision(rev)?,
                        is_current,
                        retracted,
                        event_kind,
                        category,
                        definition_version: dv,
                        local_code: lc,
                    })
                },
            )
            .collect()
    }

    /// Number of stored rows (every revision) for an agency, or for all agencies when `None`.
    pub async fn count_records(&self, agency_id: Option<&str>) -> Result<i64, StoreError> {
        let n: i64 = match agency_id {
            Some(a) => crate::dispatch_pool!(&self.pool, |p| {
                sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE agency_id = $1")
                    .bind(a)
                    .fetch_one(p)
                    .await?
            }),
            None => crate::dispatch_pool!(&self.pool, |p| {
                sqlx::query_scalar("SELECT COUNT(*) FROM records")
                    .fetch_one(p)
                    .await?
            }),
        };
        Ok(n)
    }
}
