//! The benchmark's baseline: the same rows loaded the way each database loads data fastest,
//! into a scratch copy of the records table, to compare ingest against.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

use super::{INSERT_COLUMNS, NewRecord, sqlite};
use crate::{Pool, Store, StoreError, sql::ts};

impl Store {
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
        let took = match &self.pool {
            Pool::Postgres(p) => copy_postgres(p, &table, agency_id, records, now).await?,
            Pool::Sqlite(p) => insert_sqlite(p, &table, agency_id, records, now).await?,
        };
        let drop = format!("DROP TABLE {table}");
        crate::dispatch_pool!(&self.pool, |p| {
            sqlx::query(&drop).execute(p).await?;
        });
        Ok(took)
    }
}

/// Creates `table` like `records` (with its indexes) and loads the rows with `COPY`.
async fn copy_postgres(
    p: &PgPool,
    table: &str,
    agency_id: &str,
    records: &[NewRecord],
    now: DateTime<Utc>,
) -> Result<Duration, StoreError> {
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
    Ok(started.elapsed())
}

/// Creates `table` with the columns and indexes of `records` and loads the rows in one
/// transaction of multi-row inserts.
async fn insert_sqlite(
    p: &SqlitePool,
    table: &str,
    agency_id: &str,
    records: &[NewRecord],
    now: DateTime<Utc>,
) -> Result<Duration, StoreError> {
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
    // The same secondary indexes as `records` (PostgreSQL's `LIKE … INCLUDING ALL` copies them
    // too): every row the hub stores pays for them.
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
    for part in rows.chunks(sqlite::ROWS_PER_INSERT) {
        let mut qb = sqlite::insert_statement(table, agency_id, part, now);
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(started.elapsed())
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
