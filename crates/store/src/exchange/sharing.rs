//! Purpose-limited sharing: the current, non-retracted records about a subject, read for the
//! exchange to minimise and disclose.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{QueryBuilder, Row};

use crate::{
    Pool, Store, StoreError,
    sql::{parse_date, parse_ts, push_sqlite_list, revision},
};

/// A current, non-retracted record as the exchange may share it, before minimisation. Holds
/// pseudonyms, never identifiers, and not the immigration status (it is never read for sharing).
#[derive(Clone, Debug, PartialEq)]
pub struct SharedRecord {
    /// Hub record id.
    pub record_id: i64,
    /// Owning agency.
    pub agency_id: String,
    /// The agency's record id.
    pub source_record_id: String,
    /// Revision.
    pub revision: u32,
    /// Event kind, canonical name.
    pub event_kind: String,
    /// Definition version.
    pub definition_version: String,
    /// Local scheme.
    pub local_scheme: String,
    /// Local code.
    pub local_code: String,
    /// Common category.
    pub category: String,
    /// Event time.
    pub event_time: DateTime<Utc>,
    /// Recorded time.
    pub recorded_time: DateTime<Utc>,
    /// First day of the reference period.
    pub period_start: NaiveDate,
    /// Last day of the reference period.
    pub period_end: NaiveDate,
    /// Counting unit, canonical name.
    pub counting_unit: String,
    /// GSS code.
    pub area_code: String,
    /// Area level, canonical name.
    pub area_level: String,
    /// Victim pseudonym.
    pub victim_pseudonym: Option<String>,
    /// Suspect pseudonym.
    pub suspect_pseudonym: Option<String>,
    /// Police crime reference pseudonym.
    pub police_ref_pseudonym: Option<String>,
    /// CPS URN pseudonym.
    pub cps_urn_pseudonym: Option<String>,
    /// Court case number pseudonym.
    pub court_case_pseudonym: Option<String>,
    /// Victim sex.
    pub victim_sex: Option<String>,
    /// Victim age at the event.
    pub victim_age: Option<u32>,
    /// Victim ethnic group.
    pub victim_ethnic_group: Option<String>,
    /// Victim disability.
    pub victim_disability: Option<String>,
    /// Victim sexual orientation.
    pub victim_sexual_orientation: Option<String>,
    /// Victim gender identity.
    pub victim_gender_identity: Option<String>,
    /// The event as JSON (identifiers removed; sealed payloads as hex ciphertext).
    pub detail: serde_json::Value,
}

/// Columns read by [`Store::records_about`]. Immigration status deliberately absent.
const SHARED_COLUMNS: &str = "record_id, agency_id, source_record_id, revision, event_kind, \
    definition_version, local_scheme, local_code, category, event_time, recorded_time, \
    period_start, period_end, counting_unit, area_code, area_level, victim_pseudonym, \
    suspect_pseudonym, police_ref_pseudonym, cps_urn_pseudonym, court_case_pseudonym, \
    victim_sex, victim_age, victim_ethnic_group, victim_disability, victim_sexual_orientation, \
    victim_gender_identity, event_detail";

impl Store {
    /// Current, non-retracted records (any agency) whose victim has one of `victim_pseudonyms`,
    /// restricted to `event_kinds` (canonical names) unless empty, oldest event first, at most
    /// `limit`.
    pub async fn records_about(
        &self,
        victim_pseudonyms: &[String],
        event_kinds: &[String],
        limit: u32,
    ) -> Result<Vec<SharedRecord>, StoreError> {
        if victim_pseudonyms.is_empty() {
            return Ok(Vec::new());
        }
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(format!(
                    "SELECT {SHARED_COLUMNS} FROM records \
                     WHERE is_current = 1 AND retracted = 0 AND victim_pseudonym IN "
                ));
                push_sqlite_list(&mut qb, victim_pseudonyms.iter().map(String::as_str));
                if !event_kinds.is_empty() {
                    qb.push(" AND event_kind IN ");
                    push_sqlite_list(&mut qb, event_kinds.iter().map(String::as_str));
                }
                qb.push(" ORDER BY event_time, record_id LIMIT ")
                    .push_bind(i64::from(limit));
                let rows = qb.build().fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        shared_record(
                            r,
                            parse_ts(&r.try_get::<String, _>("event_time")?)?,
                            parse_ts(&r.try_get::<String, _>("recorded_time")?)?,
                            parse_date(&r.try_get::<String, _>("period_start")?)?,
                            parse_date(&r.try_get::<String, _>("period_end")?)?,
                            serde_json::from_str(&r.try_get::<String, _>("event_detail")?)
                                .map_err(|_| StoreError::Corrupt("record detail".into()))?,
                        )
                    })
                    .collect()
            }
            Pool::Postgres(p) => {
                let rows = sqlx::query(&format!(
                    "SELECT {SHARED_COLUMNS} FROM records \
                     WHERE is_current AND NOT retracted AND victim_pseudonym = ANY($1) \
                     AND (cardinality($2::text[]) = 0 OR event_kind = ANY($2)) \
                     ORDER BY event_time, record_id LIMIT $3"
                ))
                .bind(victim_pseudonyms)
                .bind(event_kinds)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?;
                rows.iter()
                    .map(|r| {
                        shared_record(
                            r,
                            r.try_get("event_time")?,
                            r.try_get("recorded_time")?,
                            r.try_get("period_start")?,
                            r.try_get("period_end")?,
                            r.try_get::<sqlx::types::Json<serde_json::Value>, _>("event_detail")?
                                .0,
                        )
                    })
                    .collect()
            }
        }
    }
}

/// A row of [`SHARED_COLUMNS`] as a shared record, given the columns whose encoding differs
/// by backend (already decoded).
fn shared_record<R: Row>(
    r: &R,
    event_time: DateTime<Utc>,
    recorded_time: DateTime<Utc>,
    period_start: NaiveDate,
    period_end: NaiveDate,
    detail: serde_json::Value,
) -> Result<SharedRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i32>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SharedRecord {
        record_id: r.try_get("record_id")?,
        agency_id: r.try_get("agency_id")?,
        source_record_id: r.try_get("source_record_id")?,
        revision: revision(r.try_get::<i32, _>("revision")?)?,
        event_kind: r.try_get("event_kind")?,
        definition_version: r.try_get("definition_version")?,
        local_scheme: r.try_get("local_scheme")?,
        local_code: r.try_get("local_code")?,
        category: r.try_get("category")?,
        event_time,
        recorded_time,
        period_start,
        period_end,
        counting_unit: r.try_get("counting_unit")?,
        area_code: r.try_get("area_code")?,
        area_level: r.try_get("area_level")?,
        victim_pseudonym: r.try_get("victim_pseudonym")?,
        suspect_pseudonym: r.try_get("suspect_pseudonym")?,
        police_ref_pseudonym: r.try_get("police_ref_pseudonym")?,
        cps_urn_pseudonym: r.try_get("cps_urn_pseudonym")?,
        court_case_pseudonym: r.try_get("court_case_pseudonym")?,
        victim_sex: r.try_get("victim_sex")?,
        victim_age: r
            .try_get::<Option<i32>, _>("victim_age")?
            .map(|a| a.max(0) as u32),
        victim_ethnic_group: r.try_get("victim_ethnic_group")?,
        victim_disability: r.try_get("victim_disability")?,
        victim_sexual_orientation: r.try_get("victim_sexual_orientation")?,
        victim_gender_identity: r.try_get("victim_gender_identity")?,
        detail,
    })
}
