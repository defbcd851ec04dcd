//! Records on PostgreSQL: the statements of the ingest and retraction steps. Ingest first takes
//! advisory locks on its source records, so replicas ingesting the same record serialise;
//! records go in as one `INSERT … SELECT FROM UNNEST` of one array per column.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Postgres, postgres::PgArguments, query::QueryAs};

use super::{INSERT_COLUMNS, InsertedIds, NewRecord, plan::Held};
use crate::{StoreError, sql::revision};

/// Takes the advisory locks on the chunk's source records, by hash bucket, in a fixed order
/// (sorted buckets) so that concurrent replicas cannot deadlock. Buckets, not one lock per
/// record: PostgreSQL's shared lock table holds only max_locks_per_transaction ×
/// max_connections entries, and concurrent chunks of a thousand records exhausted it ("out of
/// shared memory"). Collisions only serialise more than needed.
pub(super) async fn lock_source_records(
    tx: &mut PgConnection,
    agency_id: &str,
    ids: &[String],
) -> Result<(), StoreError> {
    let lock_keys: Vec<String> = ids
        .iter()
        .map(|id| format!("{agency_id}\u{1f}{id}"))
        .collect();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(1, b) FROM \
         (SELECT DISTINCT hashtext(x) & $2 AS b FROM UNNEST($1::text[]) AS x ORDER BY 1) AS keys",
    )
    .bind(&lock_keys)
    .bind(crate::LOCK_BUCKETS - 1)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What the agency holds of these source records.
pub(super) async fn read_held(
    tx: &mut PgConnection,
    agency_id: &str,
    ids: &[String],
) -> Result<HashMap<String, Held>, StoreError> {
    let rows: Vec<(String, i32, bool)> = sqlx::query_as(
        "SELECT source_record_id, revision, retracted AND is_current FROM records \
         WHERE agency_id = $1 AND source_record_id = ANY($2)",
    )
    .bind(agency_id)
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut held = HashMap::new();
    for (id, rev, retracted) in rows {
        Held::add(&mut held, id, revision(rev)?, retracted);
    }
    Ok(held)
}

/// Marks the current rows of these source records no longer current; returns their record ids.
pub(super) async fn supersede_current(
    tx: &mut PgConnection,
    agency_id: &str,
    ids: &[String],
) -> Result<Vec<i64>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let changed = sqlx::query_scalar(
        "UPDATE records SET is_current = false \
         WHERE agency_id = $1 AND is_current AND source_record_id = ANY($2) \
         RETURNING record_id",
    )
    .bind(agency_id)
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(changed)
}

/// Inserts the rows in one statement (skipping any a concurrent writer stored first) and
/// returns the hub record id of each row inserted.
pub(super) async fn insert(
    tx: &mut PgConnection,
    agency_id: &str,
    rows: &[(&NewRecord, bool)],
    now: DateTime<Utc>,
) -> Result<InsertedIds, StoreError> {
    let mut inserted = InsertedIds::new();
    if rows.is_empty() {
        return Ok(inserted);
    }
    let sql = format!(
        "INSERT INTO records ({INSERT_COLUMNS}) \
         SELECT $1, u.source_record_id, u.revision, u.is_current, u.event_kind, \
            u.definition_version, u.local_scheme, u.local_code, u.category, u.harm_rank, \
            u.course_of_conduct, u.event_time, (u.event_time AT TIME ZONE 'UTC')::date, \
            u.recorded_time, u.period_start, u.period_end, u.counting_unit, u.area_code, \
            u.area_level, u.pseudonym_key_id, u.victim_pseudonym, u.suspect_pseudonym, \
            u.police_ref_pseudonym, u.cps_urn_pseudonym, u.court_case_pseudonym, \
            u.victim_sex, u.victim_age, u.victim_ethnic_group, u.victim_disability, \
            u.victim_sexual_orientation, u.victim_gender_identity, \
            u.victim_immigration_status, u.decision, u.stage, u.order_type, u.reason, \
            u.referring_agency, u.service_type, u.setting, u.to_agency_id, \
            u.domestic_abuse_flag, u.event_detail::jsonb, $2 \
         FROM UNNEST($3::text[], $4::int4[], $5::bool[], $6::text[], $7::text[], \
            $8::text[], $9::text[], $10::text[], $11::int4[], $12::bool[], \
            $13::timestamptz[], $14::timestamptz[], $15::date[], $16::date[], $17::text[], \
            $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], \
            $24::text[], $25::text[], $26::text[], $27::int4[], $28::text[], $29::text[], \
            $30::text[], $31::text[], $32::text[], $33::text[], $34::text[], $35::text[], \
            $36::text[], $37::text[], $38::text[], $39::text[], $40::text[], $41::bool[], \
            $42::text[]) \
         AS u(source_record_id, revision, is_current, event_kind, definition_version, \
            local_scheme, local_code, category, harm_rank, course_of_conduct, event_time, \
            recorded_time, period_start, period_end, counting_unit, area_code, area_level, \
            pseudonym_key_id, victim_pseudonym, suspect_pseudonym, police_ref_pseudonym, \
            cps_urn_pseudonym, court_case_pseudonym, victim_sex, victim_age, \
            victim_ethnic_group, victim_disability, victim_sexual_orientation, \
            victim_gender_identity, victim_immigration_status, decision, stage, \
            order_type, reason, referring_agency, service_type, setting, to_agency_id, \
            domestic_abuse_flag, event_detail) \
         ON CONFLICT DO NOTHING \
         RETURNING record_id, source_record_id, revision"
    );
    let query = sqlx::query_as(&sql).bind(agency_id).bind(now);
    let returned: Vec<(i64, String, i32)> = PgColumns::from_rows(rows)
        .bind_to(query)
        .fetch_all(&mut *tx)
        .await?;
    for (record_id, source_record_id, rev) in returned {
        inserted.insert((source_record_id, revision(rev)?), record_id);
    }
    Ok(inserted)
}

/// The chunk as one array per column, for `UNNEST`.
#[derive(Default)]
struct PgColumns {
    source_record_id: Vec<String>,
    revision: Vec<i32>,
    is_current: Vec<bool>,
    event_kind: Vec<String>,
    definition_version: Vec<String>,
    local_scheme: Vec<String>,
    local_code: Vec<String>,
    category: Vec<String>,
    harm_rank: Vec<i32>,
    course_of_conduct: Vec<bool>,
    event_time: Vec<DateTime<Utc>>,
    recorded_time: Vec<DateTime<Utc>>,
    period_start: Vec<NaiveDate>,
    period_end: Vec<NaiveDate>,
    counting_unit: Vec<String>,
    area_code: Vec<String>,
    area_level: Vec<String>,
    pseudonym_key_id: Vec<String>,
    victim_pseudonym: Vec<Option<String>>,
    suspect_pseudonym: Vec<Option<String>>,
    police_ref_pseudonym: Vec<Option<String>>,
    cps_urn_pseudonym: Vec<Option<String>>,
    court_case_pseudonym: Vec<Option<String>>,
    victim_sex: Vec<Option<String>>,
    victim_age: Vec<Option<i32>>,
    victim_ethnic_group: Vec<Option<String>>,
    victim_disability: Vec<Option<String>>,
    victim_sexual_orientation: Vec<Option<String>>,
    victim_gender_identity: Vec<Option<String>>,
    victim_immigration_status: Vec<Option<String>>,
    decision: Vec<Option<String>>,
    stage: Vec<Option<String>>,
    order_type: Vec<Option<String>>,
    reason: Vec<Option<String>>,
    referring_agency: Vec<Option<String>>,
    service_type: Vec<Option<String>>,
    setting: Vec<Option<String>>,
    to_agency_id: Vec<Option<String>>,
    domestic_abuse_flag: Vec<Option<bool>>,
    event_detail: Vec<String>,
}

impl PgColumns {
    /// One array per column of `rows` (each with whether it is current).
    fn from_rows(rows: &[(&NewRecord, bool)]) -> PgColumns {
        let mut c = PgColumns::default();
        for (r, current) in rows {
            let r = *r;
            c.source_record_id.push(r.source_record_id.clone());
            c.revision.push(r.revision as i32);
            c.is_current.push(*current);
            c.event_kind.push(r.event_kind.clone());
            c.definition_version.push(r.definition_version.clone());
            c.local_scheme.push(r.local_scheme.clone());
            c.local_code.push(r.local_code.clone());
            c.category.push(r.category.clone());
            c.harm_rank.push(r.harm_rank as i32);
            c.course_of_conduct.push(r.course_of_conduct);
            c.event_time.push(r.event_time);
            c.recorded_time.push(r.recorded_time);
            c.period_start.push(r.period_start);
            c.period_end.push(r.period_end);
            c.counting_unit.push(r.counting_unit.clone());
            c.area_code.push(r.area_code.clone());
            c.area_level.push(r.area_level.clone());
            c.pseudonym_key_id.push(r.pseudonym_key_id.clone());
            c.victim_pseudonym.push(r.victim_pseudonym.clone());
            c.suspect_pseudonym.push(r.suspect_pseudonym.clone());
            c.police_ref_pseudonym.push(r.police_ref_pseudonym.clone());
            c.cps_urn_pseudonym.push(r.cps_urn_pseudonym.clone());
            c.court_case_pseudonym.push(r.court_case_pseudonym.clone());
            c.victim_sex.push(r.victim.sex.clone());
            c.victim_age.push(r.victim.age_at_event.map(|a| a as i32));
            c.victim_ethnic_group.push(r.victim.ethnic_group.clone());
            c.victim_disability.push(r.victim.disability.clone());
            c.victim_sexual_orientation
                .push(r.victim.sexual_orientation.clone());
            c.victim_gender_identity
                .push(r.victim.gender_identity.clone());
            c.victim_immigration_status
                .push(r.victim.immigration_status.clone());
            c.decision.push(r.fields.decision.clone());
            c.stage.push(r.fields.stage.clone());
            c.order_type.push(r.fields.order_type.clone());
            c.reason.push(r.fields.reason.clone());
            c.referring_agency.push(r.fields.referring_agency.clone());
            c.service_type.push(r.fields.service_type.clone());
            c.setting.push(r.fields.setting.clone());
            c.to_agency_id.push(r.fields.to_agency_id.clone());
            c.domestic_abuse_flag.push(r.fields.domestic_abuse_flag);
            c.event_detail.push(r.detail.to_string());
        }
        c
    }

    /// Binds the arrays, in column order, as `$3` onwards of [`insert`]'s statement.
    fn bind_to<'q, O>(
        self,
        query: QueryAs<'q, Postgres, O, PgArguments>,
    ) -> QueryAs<'q, Postgres, O, PgArguments> {
        query
            .bind(self.source_record_id)
            .bind(self.revision)
            .bind(self.is_current)
            .bind(self.event_kind)
            .bind(self.definition_version)
            .bind(self.local_scheme)
            .bind(self.local_code)
            .bind(self.category)
            .bind(self.harm_rank)
            .bind(self.course_of_conduct)
            .bind(self.event_time)
            .bind(self.recorded_time)
            .bind(self.period_start)
            .bind(self.period_end)
            .bind(self.counting_unit)
            .bind(self.area_code)
            .bind(self.area_level)
            .bind(self.pseudonym_key_id)
            .bind(self.victim_pseudonym)
            .bind(self.suspect_pseudonym)
            .bind(self.police_ref_pseudonym)
            .bind(self.cps_urn_pseudonym)
            .bind(self.court_case_pseudonym)
            .bind(self.victim_sex)
            .bind(self.victim_age)
            .bind(self.victim_ethnic_group)
            .bind(self.victim_disability)
            .bind(self.victim_sexual_orientation)
            .bind(self.victim_gender_identity)
            .bind(self.victim_immigration_status)
            .bind(self.decision)
            .bind(self.stage)
            .bind(self.order_type)
            .bind(self.reason)
            .bind(self.referring_agency)
            .bind(self.service_type)
            .bind(self.setting)
            .bind(self.to_agency_id)
            .bind(self.domestic_abuse_flag)
            .bind(self.event_detail)
    }
}

/// The revision of the agency's current row of a record and whether it is retracted, locking
/// the row until the transaction ends.
pub(super) async fn lock_current_row(
    tx: &mut PgConnection,
    agency_id: &str,
    source_record_id: &str,
) -> Result<Option<(i64, bool)>, StoreError> {
    let row: Option<(i32, bool)> = sqlx::query_as(
        "SELECT revision, retracted FROM records \
         WHERE agency_id = $1 AND source_record_id = $2 AND is_current FOR UPDATE",
    )
    .bind(agency_id)
    .bind(source_record_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(r, x)| (i64::from(r), x)))
}

/// Marks the agency's current row of a record retracted; returns its record id.
pub(super) async fn mark_retracted(
    tx: &mut PgConnection,
    agency_id: &str,
    source_record_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let retracted = sqlx::query_scalar(
        "UPDATE records SET retracted = true, retracted_at = $1 \
         WHERE agency_id = $2 AND source_record_id = $3 AND is_current \
         RETURNING record_id",
    )
    .bind(now)
    .bind(agency_id)
    .bind(source_record_id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(retracted)
}
