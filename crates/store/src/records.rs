//! Records: the write path of ingest, idempotent on (agency, source record id, revision).
//!
//! Every chunk of records is written by ONE call to [`Store::ingest`], in ONE transaction, with
//! batched statements (a multi-row `INSERT` on SQLite, `INSERT … SELECT FROM UNNEST` on
//! PostgreSQL) rather than one statement per record. Aggregate maintenance and a notifications
//! outbox belong inside that same transaction: add them to `ingest_sqlite` / `ingest_postgres`
//! after the insert, so that a record is counted and announced exactly when it is committed.
//!
//! Idempotency rules, applied in order within the chunk as well as against stored rows:
//! - the same revision again → [`Outcome::Duplicate`] (no second copy);
//! - a record whose current row is retracted → [`Outcome::Retracted`] (refused);
//! - a revision lower than the highest held → [`Outcome::Stale`];
//! - otherwise a new row: [`Outcome::Accepted`], or [`Outcome::Superseded`] when earlier
//!   revisions exist (they are kept, marked not current).
//!
//! Concurrency: on PostgreSQL the transaction first takes transaction-scoped advisory locks on
//! the hash buckets of its (agency, source record id) pairs, in a fixed order, so two hub replicas ingesting the same record
//! serialise instead of racing; the unique constraints (`(agency, source id, revision)` and one
//! current row per source record) are the last line of defence. SQLite has one writer: the
//! transaction starts `IMMEDIATE` so it holds the write lock from its first read.

use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{Conn, Pool, Store, StoreError, aggregator};

/// Rows per multi-row `INSERT` on SQLite: 43 bound values a row stays under SQLite's limit of
/// 32,766 variables per statement.
const SQLITE_ROWS_PER_INSERT: usize = 500;

/// Demographics of the victim at the time of the event, as canonical names (`FEMALE`, `WHITE`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Demographics {
    /// Sex.
    pub sex: Option<String>,
    /// Age in whole years at the event.
    pub age_at_event: Option<u32>,
    /// Ethnic group (ONS 2021 high-level groups).
    pub ethnic_group: Option<String>,
    /// Disability.
    pub disability: Option<String>,
    /// Sexual orientation.
    pub sexual_orientation: Option<String>,
    /// Gender identity.
    pub gender_identity: Option<String>,
    /// Immigration status. PROTECTED: aggregate statistics only, never returned at record level.
    pub immigration_status: Option<String>,
}

/// The event's own fields that metrics group by, as canonical names. Which are set depends on
/// the event kind; the full event (identifiers removed) is in [`NewRecord::detail`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventFields {
    /// Charging decision, order decision, court verdict, prosecution result, police outcome
    /// group or satisfaction level.
    pub decision: Option<String>,
    /// Withdrawal or satisfaction stage.
    pub stage: Option<String>,
    /// Protective order type.
    pub order_type: Option<String>,
    /// Why a service could not support, or the homicide type.
    pub reason: Option<String>,
    /// Referring agency (MARAC referrals) or referral destination (health referrals).
    pub referring_agency: Option<String>,
    /// Support service type.
    pub service_type: Option<String>,
    /// Health setting, or court type.
    pub setting: Option<String>,
    /// Receiving agency (support referrals), funded agency (funding returns) or school
    /// (`school-<URN>`, Operation Encompass).
    pub to_agency_id: Option<String>,
    /// The police domestic abuse flag (crimes).
    pub domestic_abuse_flag: Option<bool>,
}

/// A validated, classified, pseudonymised record ready to store. Holds no raw identifier.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRecord {
    /// The agency's id for the record.
    pub source_record_id: String,
    /// Revision, from 1.
    pub revision: u32,
    /// Event kind, canonical name (`CRIME_RECORDED`, …).
    pub event_kind: String,
    /// Definition version classified under.
    pub definition_version: String,
    /// The agency's scheme, kept for ever.
    pub local_scheme: String,
    /// The agency's code, kept for ever.
    pub local_code: String,
    /// Common category id.
    pub category: String,
    /// Harm rank of the category (1 = most harmful).
    pub harm_rank: u32,
    /// Whether the category is a course-of-conduct offence.
    pub course_of_conduct: bool,
    /// When the event happened.
    pub event_time: DateTime<Utc>,
    /// When the agency recorded it.
    pub recorded_time: DateTime<Utc>,
    /// First day of the reference period.
    pub period_start: NaiveDate,
    /// Last day of the reference period (inclusive).
    pub period_end: NaiveDate,
    /// Counting unit, canonical name.
    pub counting_unit: String,
    /// GSS code.
    pub area_code: String,
    /// Area level, canonical name.
    pub area_level: String,
    /// Id of the pseudonymisation key every pseudonym of this record was made with.
    pub pseudonym_key_id: String,
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
    /// Victim demographics.
    pub victim: Demographics,
    /// Typed event fields.
    pub fields: EventFields,
    /// The event itself as JSON, identifiers removed.
    pub detail: serde_json::Value,
}

/// What [`Store::ingest`] did with one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as a new record.
    Accepted {
        /// Hub record id.
        record_id: i64,
    },
    /// Stored, superseding an earlier revision (kept, no longer current).
    Superseded {
        /// Hub record id of the new row.
        record_id: i64,
        /// The revision that was current before.
        previous_revision: u32,
    },
    /// The same revision is already held; nothing stored.
    Duplicate,
    /// A higher revision is held; nothing stored.
    Stale {
        /// The highest revision held.
        held_revision: u32,
    },
    /// The record was retracted; a retracted record is not revised.
    Retracted,
}

/// The result of [`Store::retract`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retraction {
    /// Whether this call retracted it (false when it already was).
    pub retracted_now: bool,
    /// The revision that was current.
    pub revision: u32,
}

/// One stored revision of a record, for inspection (tests, operators).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRevision {
    /// Hub record id.
    pub record_id: i64,
    /// Revision.
    pub revision: u32,
    /// Whether this is the current revision.
    pub is_current: bool,
    /// Whether the record is retracted.
    pub retracted: bool,
    /// Event kind.
    pub event_kind: String,
    /// Common category.
    pub category: String,
    /// Definition version.
    pub definition_version: String,
    /// The original local code.
    pub local_code: String,
}

/// A row of [`Store::revisions`]: id, revision (backend integer type), current, retracted,
/// event kind, category, definition version, local code.
type RevisionRow<R> = (i64, R, bool, bool, String, String, String, String);

/// Stored state of one source record, as the idempotency rules need it.
#[derive(Debug, Default)]
struct Held {
    revisions: BTreeSet<u32>,
    retracted: bool,
}

/// What to do with each record of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Insert {
        previous: Option<u32>,
        current: bool,
    },
    Duplicate,
    Stale(u32),
    Retracted,
}

/// Applies the idempotency rules to a chunk against what is held, in order.
fn plan(mut held: HashMap<String, Held>, records: &[NewRecord]) -> (Vec<Step>, Vec<String>) {
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

/// RFC 3339 UTC text with microseconds: sorts as time on SQLite.
fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt("a stored timestamp is not RFC 3339".into()))
}

fn unique_ids(records: &[NewRecord]) -> Vec<String> {
    let set: BTreeSet<&str> = records
        .iter()
        .map(|r| r.source_record_id.as_str())
        .collect();
    set.into_iter().map(str::to_owned).collect()
}

/// Columns written for each record, in order (after `agency_id`).
const INSERT_COLUMNS: &str = "agency_id, source_record_id, revision, is_current, event_kind, \
    definition_version, local_scheme, local_code, category, harm_rank, course_of_conduct, \
    event_time, event_date, recorded_time, period_start, period_end, counting_unit, area_code, \
    area_level, pseudonym_key_id, victim_pseudonym, suspect_pseudonym, police_ref_pseudonym, \
    cps_urn_pseudonym, court_case_pseudonym, victim_sex, victim_age, victim_ethnic_group, \
    victim_disability, victim_sexual_orientation, victim_gender_identity, \
    victim_immigration_status, decision, stage, order_type, reason, referring_agency, \
    service_type, setting, to_agency_id, domestic_abuse_flag, event_detail, ingested_at";

impl Store {
    /// Stores one chunk of records for `agency_id` in one transaction and returns an outcome per
    /// record, in order. Nothing is committed unless everything is: an error means no record of
    /// the chunk was stored, so the caller may safely resend it.
    pub async fn ingest(
        &self,
        agency_id: &str,
        records: Vec<NewRecord>,
    ) -> Result<Vec<Outcome>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let outcomes = match &self.pool {
            Pool::Sqlite(p) => ingest_sqlite(p, agency_id, &records, now).await,
            Pool::Postgres(p) => ingest_postgres(p, agency_id, &records, now).await,
        }?;
        self.aggregates_changed();
        Ok(outcomes)
    }

    /// Marks the current revision of a record retracted (kept for audit, excluded from metrics
    /// and exchange). `NotFound` when the agency holds no such record.
    pub async fn retract(
        &self,
        agency_id: &str,
        source_record_id: &str,
    ) -> Result<Retraction, StoreError> {
        let now = Utc::now();
        let row: Option<(i64, bool)> = match &self.pool {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let row: Option<(i64, bool)> = sqlx::query_as(
                    "SELECT revision, retracted FROM records \
                     WHERE agency_id = ? AND source_record_id = ? AND is_current = 1",
                )
                .bind(agency_id)
                .bind(source_record_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((_, false)) = row {
                    let retracted: Vec<i64> = sqlx::query_scalar(
                        "UPDATE records SET retracted = 1, retracted_at = ? \
                         WHERE agency_id = ? AND source_record_id = ? AND is_current = 1 \
                         RETURNING record_id",
                    )
                    .bind(ts(&now))
                    .bind(agency_id)
                    .bind(source_record_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    aggregator::enqueue(&mut Conn::Sqlite(&mut tx), &retracted).await?;
                }
                tx.commit().await?;
                row
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                let row: Option<(i32, bool)> = sqlx::query_as(
                    "SELECT revision, retracted FROM records \
                     WHERE agency_id = $1 AND source_record_id = $2 AND is_current FOR UPDATE",
                )
                .bind(agency_id)
                .bind(source_record_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((_, false)) = row {
                    let retracted: Vec<i64> = sqlx::query_scalar(
                        "UPDATE records SET retracted = true, retracted_at = $1 \
                         WHERE agency_id = $2 AND source_record_id = $3 AND is_current \
                         RETURNING record_id",
                    )
                    .bind(now)
                    .bind(agency_id)
                    .bind(source_record_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    aggregator::enqueue(&mut Conn::Postgres(&mut tx), &retracted).await?;
                }
                tx.commit().await?;
                row.map(|(r, x)| (i64::from(r), x))
            }
        };
        let (revision, already) = row.ok_or_else(|| StoreError::NotFound("record".into()))?;
        if !already {
            self.aggregates_changed();
        }
        Ok(Retraction {
            retracted_now: !already,
            revision: u32::try_from(revision)
                .map_err(|_| StoreError::Corrupt("negative revision".into()))?,
        })
    }

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
                     AND police_ref_pseudonym IN (",
                );
                let mut sep = qb.separated(", ");
                for p in police_ref_pseudonyms {
                    sep.push_bind(p.clone());
                }
                qb.push(") GROUP BY police_ref_pseudonym");
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
                |(record_id, revision, is_current, retracted, event_kind, category, dv, lc)| {
                    Ok(StoredRevision {
                        record_id,
                        revision: u32::try_from(revision)
                            .map_err(|_| StoreError::Corrupt("negative revision".into()))?,
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
        let n: i64 = match (&self.pool, agency_id) {
            (Pool::Sqlite(p), Some(a)) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE agency_id = ?")
                    .bind(a)
                    .fetch_one(p)
                    .await?
            }
            (Pool::Sqlite(p), None) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM records")
                    .fetch_one(p)
                    .await?
            }
            (Pool::Postgres(p), Some(a)) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE agency_id = $1")
                    .bind(a)
                    .fetch_one(p)
                    .await?
            }
            (Pool::Postgres(p), None) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM records")
                    .fetch_one(p)
                    .await?
            }
        };
        Ok(n)
    }

    /// The benchmark baseline: writes the same rows the way the database loads data fastest —
    /// PostgreSQL `COPY … FROM STDIN`, or on SQLite one transaction of multi-row inserts — into
    /// a scratch copy of the records table (same indexes), dropped afterwards. Returns the time
    /// the load took (table creation and drop excluded).
    pub async fn bulk_load_baseline(
        &self,
        agency_id: &str,
        records: &[NewRecord],
    ) -> Result<Duration, StoreError> {
        let table = format!("bench_baseline_{}", uuid::Uuid::new_v4().simple());
        let now = Utc::now();
        match &self.pool {
            Pool::Postgres(p) => {
                sqlx::query(&format!(
                    "CREATE TABLE {table} (LIKE records INCLUDING ALL)"
                ))
                .execute(p)
                .await?;
                let mut text = String::with_capacity(records.len() * 700);
                for r in records {
                    copy_line(&mut text, agency_id, r, now);
                }
                let started = Instant::now();
                let mut conn = p.acquire().await?;
                let mut copy = conn
                    .copy_in_raw(&format!("COPY {table} ({INSERT_COLUMNS}) FROM STDIN"))
                    .await?;
                copy.send(text.into_bytes()).await?;
                copy.finish().await?;
                let took = started.elapsed();
                drop(conn);
                sqlx::query(&format!("DROP TABLE {table}"))
                    .execute(p)
                    .await?;
                Ok(took)
            }
            Pool::Sqlite(p) => {
                sqlx::query(&format!(
                    "CREATE TABLE {table} AS SELECT * FROM records WHERE 0"
                ))
                .execute(p)
                .await?;
                sqlx::query(&format!(
                    "CREATE UNIQUE INDEX {table}_key ON {table} \
                     (agency_id, source_record_id, revision)"
                ))
                .execute(p)
                .await?;
                // The same secondary indexes as `records` (PostgreSQL's `LIKE … INCLUDING
                // ALL` copies them too): every row the hub stores pays for them.
                let indexes: Vec<String> = sqlx::query_scalar(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' \
                     AND tbl_name = 'records' AND sql IS NOT NULL",
                )
                .fetch_all(p)
                .await?;
                for ddl in indexes {
                    let ddl = ddl
                        .replace(" ON records ", &format!(" ON {table} "))
                        .replace("INDEX records_", &format!("INDEX {table}_"));
                    sqlx::query(&ddl).execute(p).await?;
                }
                let started = Instant::now();
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let rows: Vec<(&NewRecord, bool)> = records.iter().map(|r| (r, true)).collect();
                for part in rows.chunks(SQLITE_ROWS_PER_INSERT) {
                    let mut qb = sqlite_insert(&table, agency_id, part, now);
                    qb.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                let took = started.elapsed();
                sqlx::query(&format!("DROP TABLE {table}"))
                    .execute(p)
                    .await?;
                Ok(took)
            }
        }
    }
}

async fn ingest_sqlite(
    pool: &sqlx::SqlitePool,
    agency_id: &str,
    records: &[NewRecord],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, StoreError> {
    let ids = unique_ids(records);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut held: HashMap<String, Held> = HashMap::new();
    for part in ids.chunks(SQLITE_ROWS_PER_INSERT * 10) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT source_record_id, revision, retracted AND is_current FROM records \
             WHERE agency_id = ",
        );
        qb.push_bind(agency_id).push(" AND source_record_id IN (");
        let mut sep = qb.separated(", ");
        for id in part {
            sep.push_bind(id.as_str());
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *tx).await? {
            let h = held.entry(row.try_get(0)?).or_default();
            h.revisions.insert(row.try_get::<u32, _>(1)?);
            h.retracted |= row.try_get::<bool, _>(2)?;
        }
    }
    let (steps, supersede) = plan(held, records);
    // Superseded and inserted records go on the aggregate queue (see `aggregator`).
    let mut changed: Vec<i64> = Vec::new();
    for part in supersede.chunks(SQLITE_ROWS_PER_INSERT * 10) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE records SET is_current = 0 WHERE is_current = 1 AND agency_id = ",
        );
        qb.push_bind(agency_id).push(" AND source_record_id IN (");
        let mut sep = qb.separated(", ");
        for id in part {
            sep.push_bind(id.as_str());
        }
        qb.push(") RETURNING record_id");
        for row in qb.build().fetch_all(&mut *tx).await? {
            changed.push(row.try_get(0)?);
        }
    }
    let inserts: Vec<(&NewRecord, bool)> = records
        .iter()
        .zip(&steps)
        .filter_map(|(r, s)| match s {
            Step::Insert { current, .. } => Some((r, *current)),
            _ => None,
        })
        .collect();
    let mut ids_by_key: HashMap<(String, u32), i64> = HashMap::new();
    for part in inserts.chunks(SQLITE_ROWS_PER_INSERT) {
        let mut qb = sqlite_insert("records", agency_id, part, now);
        qb.push(" ON CONFLICT DO NOTHING RETURNING record_id, source_record_id, revision");
        for row in qb.build().fetch_all(&mut *tx).await? {
            ids_by_key.insert((row.try_get(1)?, row.try_get(2)?), row.try_get(0)?);
        }
    }
    changed.extend(ids_by_key.values());
    aggregator::enqueue(&mut Conn::Sqlite(&mut tx), &changed).await?;
    // Exchange: the notifications outbox, in this transaction; wake subscribers after commit.
    let announcement = crate::exchange::enqueue_notifications(
        &mut Conn::Sqlite(&mut tx),
        agency_id,
        records,
        &ids_by_key,
    )
    .await?;
    tx.commit().await?;
    announcement.publish();
    Ok(outcomes(records, &steps, &ids_by_key))
}

fn sqlite_insert<'a>(
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

async fn ingest_postgres(
    pool: &sqlx::PgPool,
    agency_id: &str,
    records: &[NewRecord],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, StoreError> {
    let ids = unique_ids(records);
    let mut tx = pool.begin().await?;
    // Advisory locks on the chunk's source records, by hash bucket, taken in a fixed order
    // (sorted buckets) so that concurrent replicas cannot deadlock. Buckets, not one lock per
    // record: PostgreSQL's shared lock table holds only max_locks_per_transaction ×
    // max_connections entries, and concurrent chunks of a thousand records exhausted it ("out
    // of shared memory"). Collisions only serialise more than needed.
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
    let rows: Vec<(String, i32, bool)> = sqlx::query_as(
        "SELECT source_record_id, revision, retracted AND is_current FROM records \
         WHERE agency_id = $1 AND source_record_id = ANY($2)",
    )
    .bind(agency_id)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut held: HashMap<String, Held> = HashMap::new();
    for (id, rev, retracted) in rows {
        let h = held.entry(id).or_default();
        h.revisions.insert(
            u32::try_from(rev).map_err(|_| StoreError::Corrupt("negative revision".into()))?,
        );
        h.retracted |= retracted;
    }
    let (steps, supersede) = plan(held, records);
    // Superseded and inserted records go on the aggregate queue (see `aggregator`).
    let mut changed: Vec<i64> = Vec::new();
    if !supersede.is_empty() {
        changed = sqlx::query_scalar(
            "UPDATE records SET is_current = false \
             WHERE agency_id = $1 AND is_current AND source_record_id = ANY($2) \
             RETURNING record_id",
        )
        .bind(agency_id)
        .bind(&supersede)
        .fetch_all(&mut *tx)
        .await?;
    }
    let inserts: Vec<(&NewRecord, bool)> = records
        .iter()
        .zip(&steps)
        .filter_map(|(r, s)| match s {
            Step::Insert { current, .. } => Some((r, *current)),
            _ => None,
        })
        .collect();
    let mut ids_by_key: HashMap<(String, u32), i64> = HashMap::new();
    if !inserts.is_empty() {
        let cols = PgColumns::from_rows(&inserts);
        let returned: Vec<(i64, String, i32)> = sqlx::query_as(&format!(
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
        ))
        .bind(agency_id)
        .bind(now)
        .bind(cols.source_record_id)
        .bind(cols.revision)
        .bind(cols.is_current)
        .bind(cols.event_kind)
        .bind(cols.definition_version)
        .bind(cols.local_scheme)
        .bind(cols.local_code)
        .bind(cols.category)
        .bind(cols.harm_rank)
        .bind(cols.course_of_conduct)
        .bind(cols.event_time)
        .bind(cols.recorded_time)
        .bind(cols.period_start)
        .bind(cols.period_end)
        .bind(cols.counting_unit)
        .bind(cols.area_code)
        .bind(cols.area_level)
        .bind(cols.pseudonym_key_id)
        .bind(cols.victim_pseudonym)
        .bind(cols.suspect_pseudonym)
        .bind(cols.police_ref_pseudonym)
        .bind(cols.cps_urn_pseudonym)
        .bind(cols.court_case_pseudonym)
        .bind(cols.victim_sex)
        .bind(cols.victim_age)
        .bind(cols.victim_ethnic_group)
        .bind(cols.victim_disability)
        .bind(cols.victim_sexual_orientation)
        .bind(cols.victim_gender_identity)
        .bind(cols.victim_immigration_status)
        .bind(cols.decision)
        .bind(cols.stage)
        .bind(cols.order_type)
        .bind(cols.reason)
        .bind(cols.referring_agency)
        .bind(cols.service_type)
        .bind(cols.setting)
        .bind(cols.to_agency_id)
        .bind(cols.domestic_abuse_flag)
        .bind(cols.event_detail)
        .fetch_all(&mut *tx)
        .await?;
        for (record_id, source_record_id, revision) in returned {
            let revision = u32::try_from(revision)
                .map_err(|_| StoreError::Corrupt("negative revision".into()))?;
            ids_by_key.insert((source_record_id, revision), record_id);
        }
    }
    changed.extend(ids_by_key.values());
    aggregator::enqueue(&mut Conn::Postgres(&mut tx), &changed).await?;
    // Exchange: the notifications outbox, in this transaction; wake subscribers after commit.
    let announcement = crate::exchange::enqueue_notifications(
        &mut Conn::Postgres(&mut tx),
        agency_id,
        records,
        &ids_by_key,
    )
    .await?;
    tx.commit().await?;
    announcement.publish();
    Ok(outcomes(records, &steps, &ids_by_key))
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
}

fn outcomes(
    records: &[NewRecord],
    steps: &[Step],
    ids_by_key: &HashMap<(String, u32), i64>,
) -> Vec<Outcome> {
    records
        .iter()
        .zip(steps)
        .map(|(r, step)| match *step {
            Step::Insert { previous, .. } => {
                match ids_by_key.get(&(r.source_record_id.clone(), r.revision)) {
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

/// One line of PostgreSQL `COPY` text format for a record, in [`INSERT_COLUMNS`] order.
fn copy_line(out: &mut String, agency_id: &str, r: &NewRecord, now: DateTime<Utc>) {
    fn field(out: &mut String, v: Option<&str>) {
        match v {
            None => out.push_str("\\N"),
            Some(s) => {
                for c in s.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
            }
        }
        out.push('\t');
    }
    let b = |v: bool| if v { "t" } else { "f" };
    field(out, Some(agency_id));
    field(out, Some(&r.source_record_id));
    field(out, Some(&r.revision.to_string()));
    field(out, Some("t"));
    field(out, Some(&r.event_kind));
    field(out, Some(&r.definition_version));
    field(out, Some(&r.local_scheme));
    field(out, Some(&r.local_code));
    field(out, Some(&r.category));
    field(out, Some(&r.harm_rank.to_string()));
    field(out, Some(b(r.course_of_conduct)));
    field(out, Some(&ts(&r.event_time)));
    field(out, Some(&r.event_time.date_naive().to_string()));
    field(out, Some(&ts(&r.recorded_time)));
    field(out, Some(&r.period_start.to_string()));
    field(out, Some(&r.period_end.to_string()));
    field(out, Some(&r.counting_unit));
    field(out, Some(&r.area_code));
    field(out, Some(&r.area_level));
    field(out, Some(&r.pseudonym_key_id));
    field(out, r.victim_pseudonym.as_deref());
    field(out, r.suspect_pseudonym.as_deref());
    field(out, r.police_ref_pseudonym.as_deref());
    field(out, r.cps_urn_pseudonym.as_deref());
    field(out, r.court_case_pseudonym.as_deref());
    field(out, r.victim.sex.as_deref());
    field(out, r.victim.age_at_event.map(|a| a.to_string()).as_deref());
    field(out, r.victim.ethnic_group.as_deref());
    field(out, r.victim.disability.as_deref());
    field(out, r.victim.sexual_orientation.as_deref());
    field(out, r.victim.gender_identity.as_deref());
    field(out, r.victim.immigration_status.as_deref());
    field(out, r.fields.decision.as_deref());
    field(out, r.fields.stage.as_deref());
    field(out, r.fields.order_type.as_deref());
    field(out, r.fields.reason.as_deref());
    field(out, r.fields.referring_agency.as_deref());
    field(out, r.fields.service_type.as_deref());
    field(out, r.fields.setting.as_deref());
    field(out, r.fields.to_agency_id.as_deref());
    field(out, r.fields.domestic_abuse_flag.map(b));
    field(out, Some(&r.detail.to_string()));
    field(out, Some(&ts(&now)));
    // Replace the trailing tab with the line end.
    out.pop();
    out.push('\n');
}

#[cfg(test)]
mod tests;
