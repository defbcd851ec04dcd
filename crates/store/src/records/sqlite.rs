//! Records on SQLite: the statements of the ingest and retraction steps (their transactions
//! start `IMMEDIATE`, so they hold the one writer lock from their first read). Records go in
//! as multi-row `INSERT`s.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::{INSERT_COLUMNS, InsertedIds, NewRecord, plan::Held};
use crate::{
    StoreError,
    sql::{push_sqlite_list, ts},
};

/// Rows per multi-row `INSERT` on SQLite: 43 bound values a row stays under SQLite's limit of
/// 32,766 variables per statement.
pub(super) const ROWS_PER_INSERT: usize = 500;

/// Source record ids per `IN` list when reading or superseding.
const IDS_PER_STATEMENT: usize = ROWS_PER_INSERT * 10;

/// What the agency holds of these source records.
pub(super) async fn read_held(
    tx: &mut SqliteConnection,
    agency_id: &str,
    ids: &[String],
) -> Result<HashMap<String, Held>, StoreError> {
    let mut held: HashMap<String, Held> = HashMap::new();
    for part in ids.chunks(IDS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT source_record_id, revision, retracted AND is_current FROM records \
             WHERE agency_id = ",
        );
        qb.push_bind(agency_id).push(" AND source_record_id IN ");
        push_sqlite_list(&mut qb, part.iter().map(String::as_str));
        for row in qb.build().fetch_all(&mut *tx).await? {
            Held::add(&mut held, row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        }
    }
    Ok(held)
}

/// Marks the current rows of these source records no longer current; returns their record ids.
pub(super) async fn supersede_current(
    tx: &mut SqliteConnection,
    agency_id: &str,
    ids: &[String],
) -> Result<Vec<i64>, StoreError> {
    let mut changed: Vec<i64> = Vec::new();
    for part in ids.chunks(IDS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE records SET is_current = 0 WHERE is_current = 1 AND agency_id = ",
        );
        qb.push_bind(agency_id).push(" AND source_record_id IN ");
        push_sqlite_list(&mut qb, part.iter().map(String::as_str));
        qb.push(" RETURNING record_id");
        for row in qb.build().fetch_all(&mut *tx).await? {
            changed.push(row.try_get(0)?);
        }
    }
    Ok(changed)
}

/// Inserts the rows (skipping any a concurrent writer stored first) and returns the hub record
/// id of each row inserted.
pub(super) async fn insert(
    tx: &mut SqliteConnection,
    agency_id: &str,
    rows: &[(&NewRecord, bool)],
    now: DateTime<Utc>,
) -> Result<InsertedIds, StoreError> {
    let mut inserted = InsertedIds::new();
    for part in rows.chunks(ROWS_PER_INSERT) {
        let mut qb = insert_statement("records", agency_id, part, now);
        qb.push(" ON CONFLICT DO NOTHING RETURNING record_id, source_record_id, revision");
        for row in qb.build().fetch_all(&mut *tx).await? {
            inserted.insert((row.try_get(1)?, row.try_get(2)?), row.try_get(0)?);
        }
    }
    Ok(inserted)
}

/// A multi-row `INSERT` of `rows` (each with whether it is current) into `table`, which has the
/// columns of `records`.
pub(super) fn insert_statement<'a>(
    table: &str,
    agency_id: &'a str,
    rows: &'a [(&'a NewRecord, bool)],
    now: DateTime<Utc>,
) -> QueryBuilder<'a, Sqlite> {
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("INSERT INTO {table} ({INSERT_COLUMNS}) "));
    let now = ts(&now);
    qb.push_values(rows, |mut b, (r, current)| {
        b.push_bind(agency_id)
            .push_bind(r.source_record_id.as_str())
            .push_bind(r.revision)
            .push_bind(*current)
            .push_bind(r.event_kind.as_str())
            .push_bind(r.definition_version.as_str())
            .push_bind(r.local_scheme.as_str())
            .push_bind(r.local_code.as_str())
            .push_bind(r.category.as_str())
            .push_bind(r.harm_rank)
            .push_bind(r.course_of_conduct)
            .push_bind(ts(&r.event_time))
            .push_bind(r.event_time.date_naive().to_string())
            .push_bind(ts(&r.recorded_time))
            .push_bind(r.period_start.to_string())
            .push_bind(r.period_end.to_string())
            .push_bind(r.counting_unit.as_str())
            .push_bind(r.area_code.as_str())
            .push_bind(r.area_level.as_str())
            .push_bind(r.pseudonym_key_id.as_str())
            .push_bind(r.victim_pseudonym.as_deref())
            .push_bind(r.suspect_pseudonym.as_deref())
            .push_bind(r.police_ref_pseudonym.as_deref())
            .push_bind(r.cps_urn_pseudonym.as_deref())
            .push_bind(r.court_case_pseudonym.as_deref())
            .push_bind(r.victim.sex.as_deref())
            .push_bind(r.victim.age_at_event)
            .push_bind(r.victim.ethnic_group.as_deref())
            .push_bind(r.victim.disability.as_deref())
            .push_bind(r.victim.sexual_orientation.as_deref())
            .push_bind(r.victim.gender_identity.as_deref())
            .push_bind(r.victim.immigration_status.as_deref())
            .push_bind(r.fields.decision.as_deref())
            .push_bind(r.fields.stage.as_deref())
            .push_bind(r.fields.order_type.as_deref())
            .push_bind(r.fields.reason.as_deref())
            .push_bind(r.fields.referring_agency.as_deref())
            .push_bind(r.fields.service_type.as_deref())
            .push_bind(r.fields.setting.as_deref())
            .push_bind(r.fields.to_agency_id.as_deref())
            .push_bind(r.fields.domestic_abuse_flag)
            .push_bind(r.detail.to_string())
            .push_bind(now.clone());
    });
    qb
}

/// The revision of the agency's current row of a record and whether it is retracted.
pub(super) async fn current_row(
    tx: &mut SqliteConnection,
    agency_id: &str,
    source_record_id: &str,
) -> Result<Option<(i64, bool)>, StoreError> {
    let row = sqlx::query_as(
        "SELECT revision, retracted FROM records \
         WHERE agency_id = ? AND source_record_id = ? AND is_current = 1",
    )
    .bind(agency_id)
    .bind(source_record_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row)
}

/// Marks the agency's current row of a record retracted; returns its record id.
pub(super) async fn mark_retracted(
    tx: &mut SqliteConnection,
    agency_id: &str,
    source_record_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let retracted = sqlx::query_scalar(
        "UPDATE records SET retracted = 1, retracted_at = ? \
         WHERE agency_id = ? AND source_record_id = ? AND is_current = 1 \
         RETURNING record_id",
    )
    .bind(ts(&now))
    .bind(agency_id)
    .bind(source_record_id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(retracted)
}
