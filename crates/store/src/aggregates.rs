//! Aggregate tables, their maintenance, and the queries the metrics service runs on them.
//!
//! [`refresh`] recomputes the contributions of a set of entities (see
//! [`vawg_domain::aggregate::entities_of`]) from their current records (loaded by `facts`) and
//! applies the difference from what each entity contributed before (kept by `contributions`)
//! to `agg_counts` and its roll-ups. It runs in the aggregator's drain transaction
//! ([`crate::aggregator`]), never concurrently with itself (the drain is serialised within a
//! process and, on PostgreSQL, across replicas), so it needs no per-entity locks.
//!
//! Every value carries beside its counts the sum of its units' cell keys (`k_*`, keyed with the
//! hub's cell-key secret, read once by `secret`), so the metrics service can perturb each cell
//! consistently; keys are maintained, rolled up and read exactly as the counts are.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;
use vawg_domain::aggregate::{
    CellKeySecret, Contributions, EntityKey, FactKey, FactRecord, FactValue, contributions,
};

pub use self::facts::{entities_of_records, load_entities};
use self::values::{LIVE, VALUE_COLUMNS, VALUE_COUNT, value_from_row};
pub use crate::detail::event_from_detail;
pub use crate::rollup::{AggregateTable, Dimension};
use crate::{Conn, StoreError, sql::placeholders};

mod contributions;
mod facts;
mod secret;
#[cfg(test)]
mod tests;
pub(crate) mod values;

/// The key columns of `agg_counts` (and, fewer, of its roll-ups), in key order.
const KEY_COLUMNS: &str = "series, month, area, category, sex, age_band, ethnic_group, disability, immigration_status, subtype, bucket";

/// A row of `agg_counts` (its key and [`VALUE_COLUMNS`]) as key and value.
fn fact_from_row<R: Row>(row: &R) -> Result<(FactKey, FactValue), sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok((
        FactKey {
            series: row.try_get("series")?,
            month: row.try_get("month")?,
            area: row.try_get("area")?,
            category: row.try_get("category")?,
            sex: row.try_get("sex")?,
            age_band: row.try_get("age_band")?,
            ethnic_group: row.try_get("ethnic_group")?,
            disability: row.try_get("disability")?,
            immigration_status: row.try_get("immigration_status")?,
            subtype: row.try_get("subtype")?,
            bucket: row.try_get("bucket")?,
        },
        value_from_row(row)?,
    ))
}

/// Binds the eleven key columns of `$k`, in [`KEY_COLUMNS`] order.
macro_rules! bind_key {
    ($q:expr, $k:expr) => {
        $q.bind(&$k.series)
            .bind(&$k.month)
            .bind(&$k.area)
            .bind(&$k.category)
            .bind(&$k.sex)
            .bind(&$k.age_band)
            .bind(&$k.ethnic_group)
            .bind(&$k.disability)
            .bind(&$k.immigration_status)
            .bind(&$k.subtype)
            .bind($k.bucket)
    };
}

/// Bound values per statement, under SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 500;

/// Recomputes the contributions of `entities` from their current records and applies the
/// differences to the aggregate table. Call inside the aggregator's drain transaction.
/// Works in batches: a handful of statements per chunk, not per entity. `known` holds records
/// whose state this transaction has already read (`None`: not live), so they are not read
/// again. `secret` is the hub's cell-key secret (`Store::cell_key_secret`).
pub async fn refresh(
    conn: &mut Conn<'_>,
    entities: BTreeSet<EntityKey>,
    known: &BTreeMap<i64, Option<FactRecord>>,
    secret: &CellKeySecret,
) -> Result<(), StoreError> {
    if entities.is_empty() {
        return Ok(());
    }
    let texts: Vec<String> = entities.iter().map(EntityKey::as_text).collect();
    let t0 = std::time::Instant::now();
    let records = load_entities(conn, &entities, known).await?;
    let t1 = std::time::Instant::now();
    let old = contributions::stored_contributions(conn, &texts).await?;
    let t2 = std::time::Instant::now();
    let mut delta: BTreeMap<FactKey, FactValue> = BTreeMap::new();
    let mut changed: Vec<(String, Contributions)> = Vec::new();
    let empty = Vec::new();
    for (entity, text) in entities.iter().zip(&texts) {
        let new = contributions(entity, records.get(entity).unwrap_or(&empty), secret);
        let before = old.get(text).cloned().unwrap_or_default();
        if before == new {
            continue;
        }
        for (k, v) in &before {
            delta.entry(k.clone()).or_default().add(v, -1);
        }
        for (k, v) in &new {
            delta.entry(k.clone()).or_default().add(v, 1);
        }
        changed.push((text.clone(), new));
    }
    delta.retain(|_, v| !v.is_zero());
    let t3 = std::time::Instant::now();
    contributions::replace_contributions(conn, &changed).await?;
    let t4 = std::time::Instant::now();
    apply_delta(conn, &delta).await?;
    tracing::debug!(
        load_ms = (t1 - t0).as_millis() as u64,
        old_ms = (t2 - t1).as_millis() as u64,
        compute_ms = (t3 - t2).as_millis() as u64,
        replace_ms = (t4 - t3).as_millis() as u64,
        delta_ms = t4.elapsed().as_millis() as u64,
        loaded = records.values().map(Vec::len).sum::<usize>(),
        old_rows = old.values().map(|c| c.len()).sum::<usize>(),
        changed = changed.len(),
        delta_rows = delta.len(),
        "aggregate refresh"
    );
    Ok(())
}

/// Adds the delta to `agg_counts` and, in the same transaction, to every roll-up.
async fn apply_delta(
    conn: &mut Conn<'_>,
    delta: &BTreeMap<FactKey, FactValue>,
) -> Result<(), StoreError> {
    let rows: Vec<(&FactKey, &FactValue)> = delta.iter().collect();
    // Eleven key columns and the values.
    let width = 11 + VALUE_COUNT;
    let accumulate = values::accumulate("agg_counts");
    for chunk in rows.chunks(ROWS_PER_STATEMENT / 2) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", placeholders(conn, i * width + 1, width)))
            .collect();
        let sql = format!(
            "INSERT INTO agg_counts ({KEY_COLUMNS}, {VALUE_COLUMNS}) VALUES {} \
             ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET {accumulate}",
            rows.join(", ")
        );
        crate::with_conn!(conn, |c| {
            let mut q = sqlx::query(&sql);
            for (k, v) in chunk {
                q = bind_key!(q, k);
                for value in values::values(v) {
                    q = q.bind(value);
                }
            }
            q.execute(&mut **c).await?;
        });
    }
    // The roll-ups take the same delta, in the same transaction.
    crate::rollup::apply_delta(conn, delta).await
}

/// A filter on the aggregate tables.
#[derive(Clone, Debug, Default)]
pub struct AggregateFilter {
    /// Series to read.
    pub series: Vec<String>,
    /// First month, `YYYY-MM` (inclusive).
    pub from_month: String,
    /// Last month, `YYYY-MM` (inclusive).
    pub to_month: String,
    /// Only these areas (empty: all).
    pub areas: Vec<String>,
    /// Only areas whose GSS code starts with one of these three-character entity codes, e.g.
    /// `E23` and `W15` for police force areas (empty: all).
    pub area_prefixes: Vec<String>,
    /// Only these categories (empty: all).
    pub categories: Vec<String>,
    /// Only these sexes (empty: all).
    pub sexes: Vec<String>,
    /// Only these age bands (empty: all).
    pub age_bands: Vec<String>,
}

impl crate::Store {
    /// The aggregate rows matching `filter`, summed in the database by the series and the
    /// dimensions in `group_by`; every other dimension of the returned keys is cleared (empty,
    /// bucket 0). Reads the narrowest table that has every dimension grouped by or filtered
    /// on (see [`crate::rollup`]).
    pub async fn aggregate_rows(
        &self,
        filter: &AggregateFilter,
        group_by: &[Dimension],
    ) -> Result<Vec<(FactKey, FactValue)>, StoreError> {
        self.settle_aggregates().await?;
        let table = crate::rollup::table_for_read(filter, group_by);
        crate::rollup::read_grouped(self, table, filter, group_by).await
    }

    /// As [`Self::aggregate_rows`], from the given table (to check that every table gives the
    /// same answer).
    pub async fn aggregate_rows_in(
        &self,
        table: &AggregateTable,
        filter: &AggregateFilter,
        group_by: &[Dimension],
    ) -> Result<Vec<(FactKey, FactValue)>, StoreError> {
        self.settle_aggregates().await?;
        crate::rollup::read_grouped(self, table, filter, group_by).await
    }

    /// Every live row of a roll-up, its left-out dimensions cleared (for consistency checks:
    /// it must equal [`crate::rollup::roll_up`] of [`Self::all_aggregates`]).
    pub async fn rollup_aggregates(
        &self,
        table: &AggregateTable,
    ) -> Result<BTreeMap<FactKey, FactValue>, StoreError> {
        self.settle_aggregates().await?;
        crate::rollup::read_all(self, table).await
    }

    /// Every row of the aggregate table (for consistency checks).
    pub async fn all_aggregates(&self) -> Result<BTreeMap<FactKey, FactValue>, StoreError> {
        self.settle_aggregates().await?;
        let sql = format!("SELECT {KEY_COLUMNS}, {VALUE_COLUMNS} FROM agg_counts WHERE {LIVE}");
        let mut out = BTreeMap::new();
        crate::dispatch_pool!(self.pool(), |p| {
            for row in sqlx::query(&sql).fetch_all(p).await? {
                let (k, v) = fact_from_row(&row)?;
                out.insert(k, v);
            }
        });
        Ok(out)
    }
}

/// Recomputes every aggregate from the raw records, in memory, keys included (the consistency
/// check: it must equal [`crate::Store::all_aggregates`]).
pub async fn recompute_all(
    store: &crate::Store,
) -> Result<BTreeMap<FactKey, FactValue>, StoreError> {
    let secret = store.cell_key_secret().await?;
    let records = facts::all_live_facts(store).await?;
    let mut by_entity: BTreeMap<EntityKey, Vec<FactRecord>> = BTreeMap::new();
    for r in &records {
        for e in vawg_domain::aggregate::entities_of(r) {
            by_entity.entry(e).or_default().push(r.clone());
        }
    }
    let mut out: BTreeMap<FactKey, FactValue> = BTreeMap::new();
    for (entity, records) in by_entity {
        for (k, v) in contributions(&entity, &records, secret) {
            out.entry(k).or_default().add(&v, 1);
        }
    }
    out.retain(|_, v| !v.is_zero());
    Ok(out)
}
