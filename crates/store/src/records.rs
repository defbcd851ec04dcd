//! Records: the write path of ingest, idempotent on (agency, source record id, revision).
//!
//! Every chunk of records is written by ONE call to [`Store::ingest`], in ONE transaction, with
//! batched statements (a multi-row `INSERT` on SQLite, `INSERT … SELECT FROM UNNEST` on
//! PostgreSQL) rather than one statement per record. Aggregate maintenance and a notifications
//! outbox belong inside that same transaction (`queue_follow_ups`, after the insert), so that a
//! record is counted and announced exactly when it is committed. The steps are written once
//! (`write_chunk`); `sqlite` and `postgres` hold each backend's statements.
//!
//! Idempotency rules (`plan`), applied in order within the chunk as well as against stored
//! rows:
//! - the same revision again → [`Outcome::Duplicate`] (no second copy);
//! - a record whose current row is retracted → [`Outcome::Retracted`] (refused);
//! - a revision lower than the highest held → [`Outcome::Stale`];
//! - otherwise a new row: [`Outcome::Accepted`], or [`Outcome::Superseded`] when earlier
//!   revisions exist (they are kept, marked not current).
//!
//! Concurrency: on PostgreSQL (`postgres`) the transaction first takes transaction-scoped
//! advisory locks on the hash buckets of its (agency, source record id) pairs, in a fixed
//! order, so two hub replicas ingesting the same record serialise instead of racing; the unique
//! constraints (`(agency, source id, revision)` and one current row per source record) are the
//! last line of defence. SQLite (`sqlite`) has one writer: the transaction starts
//! `IMMEDIATE` so it holds the write lock from its first read.
//!
//! The reads of stored records are in `reads`, the benchmark's bulk-load baseline in `baseline`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::{Conn, Pool, Store, StoreError, aggregator, exchange::Announcement};

mod baseline;
mod plan;
mod postgres;
mod reads;
mod reclassify;
pub use reclassify::{Reclassified, StoredClassification};
mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

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

/// The hub record id of every row a chunk inserted, by (source record id, revision).
type InsertedIds = HashMap<(String, u32), i64>;

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
        let written = match &self.pool {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let w = write_chunk(&mut Conn::Sqlite(&mut tx), agency_id, &records, now).await?;
                tx.commit().await?;
                w
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                let w = write_chunk(&mut Conn::Postgres(&mut tx), agency_id, &records, now).await?;
                tx.commit().await?;
                w
            }
        };
        written.announcement.publish();
        self.aggregates_changed();
        Ok(written.outcomes)
    }

    /// Marks the current revision of a record retracted (kept for audit, excluded from metrics
    /// and exchange). `NotFound` when the agency holds no such record.
    pub async fn retract(
        &self,
        agency_id: &str,
        source_record_id: &str,
    ) -> Result<Retraction, StoreError> {
        let now = Utc::now();
        let row = match &self.pool {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let conn = &mut Conn::Sqlite(&mut tx);
                let row = retract_current(conn, agency_id, source_record_id, now).await?;
                tx.commit().await?;
                row
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                let conn = &mut Conn::Postgres(&mut tx);
                let row = retract_current(conn, agency_id, source_record_id, now).await?;
                tx.commit().await?;
                row
            }
        };
        let (revision, already) = row.ok_or_else(|| StoreError::NotFound("record".into()))?;
        if !already {
            self.aggregates_changed();
        }
        Ok(Retraction {
            retracted_now: !already,
            revision: crate::sql::revision(revision)?,
        })
    }
}

/// What writing a chunk gave: an outcome per record, and the wake-ups to publish once the
/// transaction has committed.
struct Written {
    outcomes: Vec<Outcome>,
    announcement: Announcement,
}

/// Writes one chunk inside `conn`'s transaction, the same steps on either backend: read what
/// the agency holds of the chunk's source records (on PostgreSQL after locking them), apply the
/// idempotency rules, supersede the current rows that new revisions replace, insert the new
/// rows, and queue the follow-ups.
async fn write_chunk(
    conn: &mut Conn<'_>,
    agency_id: &str,
    records: &[NewRecord],
    now: DateTime<Utc>,
) -> Result<Written, StoreError> {
    let ids = plan::unique_ids(records);
    let held = match conn {
        Conn::Sqlite(c) => sqlite::read_held(c, agency_id, &ids).await?,
        Conn::Postgres(c) => {
            postgres::lock_source_records(c, agency_id, &ids).await?;
            postgres::read_held(c, agency_id, &ids).await?
        }
    };
    let (steps, supersede) = plan::plan(held, records);
    let changed = match conn {
        Conn::Sqlite(c) => sqlite::supersede_current(c, agency_id, &supersede).await?,
        Conn::Postgres(c) => postgres::supersede_current(c, agency_id, &supersede).await?,
    };
    let rows = plan::inserts(records, &steps);
    let inserted = match conn {
        Conn::Sqlite(c) => sqlite::insert(c, agency_id, &rows, now).await?,
        Conn::Postgres(c) => postgres::insert(c, agency_id, &rows, now).await?,
    };
    let announcement = queue_follow_ups(conn, agency_id, records, changed, &inserted).await?;
    Ok(Written {
        outcomes: plan::outcomes(records, &steps, &inserted),
        announcement,
    })
}

/// What follows the insert in every ingest transaction: the changed records (`changed`:
/// superseded and inserted) go on the aggregate queue (see [`aggregator`]), and the
/// notifications outbox gets what the inserted records give rise to.
async fn queue_follow_ups(
    conn: &mut Conn<'_>,
    agency_id: &str,
    records: &[NewRecord],
    mut changed: Vec<i64>,
    inserted: &InsertedIds,
) -> Result<Announcement, StoreError> {
    changed.extend(inserted.values());
    aggregator::enqueue(conn, &changed).await?;
    crate::exchange::enqueue_notifications(conn, agency_id, records, inserted).await
}

/// Retracts the current row of a record inside `conn`'s transaction (on PostgreSQL the row is
/// locked as it is read) and queues it for the aggregates; returns its revision and whether it
/// already was retracted, or `None` when the agency holds no such record.
async fn retract_current(
    conn: &mut Conn<'_>,
    agency_id: &str,
    source_record_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<(i64, bool)>, StoreError> {
    let row = match conn {
        Conn::Sqlite(c) => sqlite::current_row(c, agency_id, source_record_id).await?,
        Conn::Postgres(c) => postgres::lock_current_row(c, agency_id, source_record_id).await?,
    };
    if let Some((_, false)) = row {
        let retracted = match conn {
            Conn::Sqlite(c) => sqlite::mark_retracted(c, agency_id, source_record_id, now).await?,
            Conn::Postgres(c) => {
                postgres::mark_retracted(c, agency_id, source_record_id, now).await?
            }
        };
        aggregator::enqueue(conn, &retracted).await?;
    }
    Ok(row)
}
