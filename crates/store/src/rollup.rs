//! Coarser roll-ups of the aggregate table, and the grouped reads the metrics service runs.
//!
//! `agg_counts` keeps every dimension a query might break down by, so it holds about one row
//! for every two records. Most queries need only a few of those dimensions: each roll-up here
//! is `agg_counts` summed over the dimensions it leaves out. Roll-ups receive exactly the
//! deltas `agg_counts` receives, in the same transaction ([`apply_delta`], called by
//! [`crate::aggregates`]'s own `apply_delta`), so supersession and retraction reach them at once
//! and a roll-up always equals the full table grouped (the consistency tests check it with
//! [`roll_up`]).
//!
//! A read ([`crate::Store::aggregate_rows`]) names the dimensions it groups by and filters on;
//! [`table_for`] picks the narrowest table that has all of them, and the `GROUP BY` runs in the
//! database, so only the cells of the answer cross the wire.

use std::collections::BTreeMap;

use sqlx::Row;
use vawg_domain::aggregate::{FactKey, FactValue};

use crate::{
    Conn, StoreError,
    aggregates::{
        AggregateFilter,
        values::{self, LIVE, VALUE_COLUMNS, VALUE_COUNT, value_from_row},
    },
    sql::placeholders,
};

/// A column of the aggregate key other than the series (which every table and read keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// Month, `YYYY-MM`.
    Month,
    /// Area GSS code.
    Area,
    /// Category id.
    Category,
    /// Victim sex.
    Sex,
    /// Victim age band.
    AgeBand,
    /// Victim ethnic group.
    EthnicGroup,
    /// Victim disability.
    Disability,
    /// Victim immigration status.
    ImmigrationStatus,
    /// The metric's sub-type.
    Subtype,
    /// The value bucket of distributions (days).
    Bucket,
}

impl Dimension {
    /// Every dimension, in the key order of `agg_counts`.
    pub const ALL: [Dimension; 10] = [
        Dimension::Month,
        Dimension::Area,
        Dimension::Category,
        Dimension::Sex,
        Dimension::AgeBand,
        Dimension::EthnicGroup,
        Dimension::Disability,
        Dimension::ImmigrationStatus,
        Dimension::Subtype,
        Dimension::Bucket,
    ];

    /// The column holding it.
    pub fn column(self) -> &'static str {
        match self {
            Dimension::Month => "month",
            Dimension::Area => "area",
            Dimension::Category => "category",
            Dimension::Sex => "sex",
            Dimension::AgeBand => "age_band",
            Dimension::EthnicGroup => "ethnic_group",
            Dimension::Disability => "disability",
            Dimension::ImmigrationStatus => "immigration_status",
            Dimension::Subtype => "subtype",
            Dimension::Bucket => "bucket",
        }
    }

    /// Clears it in `k` (empty text, bucket 0): the form of a dimension summed over.
    fn clear(self, k: &mut FactKey) {
        match self {
            Dimension::Month => k.month.clear(),
            Dimension::Area => k.area.clear(),
            Dimension::Category => k.category.clear(),
            Dimension::Sex => k.sex.clear(),
            Dimension::AgeBand => k.age_band.clear(),
            Dimension::EthnicGroup => k.ethnic_group.clear(),
            Dimension::Disability => k.disability.clear(),
            Dimension::ImmigrationStatus => k.immigration_status.clear(),
            Dimension::Subtype => k.subtype.clear(),
            Dimension::Bucket => k.bucket = 0,
        }
    }

    /// Its text in `k` (the bucket is the one integer dimension and has none).
    fn text(self, k: &FactKey) -> &str {
        match self {
            Dimension::Month => &k.month,
            Dimension::Area => &k.area,
            Dimension::Category => &k.category,
            Dimension::Sex => &k.sex,
            Dimension::AgeBand => &k.age_band,
            Dimension::EthnicGroup => &k.ethnic_group,
            Dimension::Disability => &k.disability,
            Dimension::ImmigrationStatus => &k.immigration_status,
            Dimension::Subtype => &k.subtype,
            Dimension::Bucket => "",
        }
    }

    /// Sets it in `k` from a text value read back.
    fn set(self, k: &mut FactKey, value: String) {
        match self {
            Dimension::Month => k.month = value,
            Dimension::Area => k.area = value,
            Dimension::Category => k.category = value,
            Dimension::Sex => k.sex = value,
            Dimension::AgeBand => k.age_band = value,
            Dimension::EthnicGroup => k.ethnic_group = value,
            Dimension::Disability => k.disability = value,
            Dimension::ImmigrationStatus => k.immigration_status = value,
            Dimension::Subtype => k.subtype = value,
            Dimension::Bucket => {}
        }
    }
}

/// A table of aggregate rows keyed by the series and some dimensions.
#[derive(Debug, PartialEq, Eq)]
pub struct AggregateTable {
    /// Table name.
    pub name: &'static str,
    /// The dimensions of its key after the series, in key order.
    pub dimensions: &'static [Dimension],
}

impl AggregateTable {
    /// Whether it has every one of `dimensions`.
    pub fn covers(&self, dimensions: &[Dimension]) -> bool {
        dimensions.iter().all(|d| self.dimensions.contains(d))
    }

    /// Its key columns, comma-separated.
    fn key_columns(&self) -> String {
        std::iter::once("series")
            .chain(self.dimensions.iter().map(|d| d.column()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The full aggregate table.
pub const FULL: AggregateTable = AggregateTable {
    name: "agg_counts",
    dimensions: &Dimension::ALL,
};

/// The roll-ups, narrowest first (migration `0201_rollups.sql`). `agg_rollup_scope` keeps
/// the area and the victim-scope columns (sex, age band): every time series without a category
/// or an equality breakdown reads it. `agg_rollup` adds the category. The days bucket is kept
/// in both: it is 0 outside the days series, so it costs those nothing.
pub const ROLLUPS: &[AggregateTable] = &[
    AggregateTable {
        name: "agg_rollup_scope",
        dimensions: &[
            Dimension::Month,
            Dimension::Area,
            Dimension::Sex,
            Dimension::AgeBand,
            Dimension::Bucket,
        ],
    },
    AggregateTable {
        name: "agg_rollup",
        dimensions: &[
            Dimension::Month,
            Dimension::Area,
            Dimension::Category,
            Dimension::Sex,
            Dimension::AgeBand,
            Dimension::Bucket,
        ],
    },
];

/// The narrowest table with every one of `dimensions` (the full table when no roll-up has).
pub fn table_for(dimensions: &[Dimension]) -> &'static AggregateTable {
    ROLLUPS
        .iter()
        .find(|t| t.covers(dimensions))
        .unwrap_or(&FULL)
}

/// `k` with every dimension `table` leaves out cleared.
pub fn project(k: &FactKey, table: &AggregateTable) -> FactKey {
    let mut out = k.clone();
    for d in Dimension::ALL {
        if !table.dimensions.contains(&d) {
            d.clear(&mut out);
        }
    }
    out
}

/// Full-detail rows summed into `table`'s key (what the roll-up must hold, for consistency
/// checks), without cells whose counters and key sums all sum to zero.
pub fn roll_up(
    rows: &BTreeMap<FactKey, FactValue>,
    table: &AggregateTable,
) -> BTreeMap<FactKey, FactValue> {
    let mut out: BTreeMap<FactKey, FactValue> = BTreeMap::new();
    for (k, v) in rows {
        out.entry(project(k, table)).or_default().add(v, 1);
    }
    out.retain(|_, v| !v.is_zero());
    out
}

/// Rows per upsert statement (18 or fewer values each), under both backends' bind limits.
const ROWS_PER_STATEMENT: usize = 250;

/// Applies to every roll-up the delta just applied to `agg_counts` (inside the same
/// transaction). Keys are upserted in sorted order in every table, as `agg_counts`'s are.
pub async fn apply_delta(
    conn: &mut Conn<'_>,
    delta: &BTreeMap<FactKey, FactValue>,
) -> Result<(), StoreError> {
    for table in ROLLUPS {
        let rows = roll_up(delta, table);
        upsert(conn, table, &rows).await?;
    }
    Ok(())
}

async fn upsert(
    conn: &mut Conn<'_>,
    table: &AggregateTable,
    rows: &BTreeMap<FactKey, FactValue>,
) -> Result<(), StoreError> {
    let keys = table.key_columns();
    let width = 1 + table.dimensions.len() + VALUE_COUNT;
    let name = table.name;
    let accumulate = values::accumulate(name);
    let rows: Vec<(&FactKey, &FactValue)> = rows.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", placeholders(conn, i * width + 1, width)))
            .collect();
        let sql = format!(
            "INSERT INTO {name} ({keys}, {VALUE_COLUMNS}) VALUES {} \
             ON CONFLICT ({keys}) DO UPDATE SET {accumulate}",
            values.join(", ")
        );
        crate::with_conn!(conn, |c| {
            let mut q = sqlx::query(&sql);
            for (k, v) in chunk {
                q = q.bind(&k.series);
                for d in table.dimensions {
                    q = match d {
                        Dimension::Bucket => q.bind(k.bucket),
                        d => q.bind(d.text(k)),
                    };
                }
                for value in values::values(v) {
                    q = q.bind(value);
                }
            }
            q.execute(&mut **c).await?;
        });
    }
    Ok(())
}

/// The dimensions a read of `filter` grouped by `group_by` needs: those it groups by and
/// those it filters on (the month range is in every table).
pub fn read_dimensions(filter: &AggregateFilter, group_by: &[Dimension]) -> Vec<Dimension> {
    let mut out = vec![Dimension::Month];
    if !filter.areas.is_empty() || !filter.area_prefixes.is_empty() {
        out.push(Dimension::Area);
    }
    for (d, values) in [
        (Dimension::Category, &filter.categories),
        (Dimension::Sex, &filter.sexes),
        (Dimension::AgeBand, &filter.age_bands),
    ] {
        if !values.is_empty() {
            out.push(d);
        }
    }
    out.extend_from_slice(group_by);
    out
}

/// The narrowest table that can answer a read of `filter` grouped by `group_by`.
pub fn table_for_read(filter: &AggregateFilter, group_by: &[Dimension]) -> &'static AggregateTable {
    table_for(&read_dimensions(filter, group_by))
}

/// The `GROUP BY` read of `table`: the rows matching `filter`, summed by the series and
/// `group_by` (which `table` must have), every other dimension cleared.
pub(crate) async fn read_grouped(
    store: &crate::Store,
    table: &AggregateTable,
    filter: &AggregateFilter,
    group_by: &[Dimension],
) -> Result<Vec<(FactKey, FactValue)>, StoreError> {
    let needed = read_dimensions(filter, group_by);
    if !table.covers(&needed) {
        return Err(StoreError::NotFound(format!(
            "every one of the dimensions {needed:?} in {}",
            table.name
        )));
    }
    // Key order, whatever order the caller named them in.
    let grouped: Vec<Dimension> = Dimension::ALL
        .into_iter()
        .filter(|d| group_by.contains(d))
        .collect();
    let sqlite = store.backend() == crate::Backend::Sqlite;
    let mut binds: Vec<String> = vec![filter.from_month.clone(), filter.to_month.clone()];
    let next = |binds: &mut Vec<String>, value: &str| -> String {
        binds.push(value.to_string());
        if sqlite {
            "?".to_string()
        } else {
            format!("${}", binds.len())
        }
    };
    let (from, to) = if sqlite {
        ("?".to_string(), "?".to_string())
    } else {
        ("$1".to_string(), "$2".to_string())
    };
    let mut conditions = vec![
        format!("month >= {from}"),
        format!("month <= {to}"),
        LIVE.to_string(),
    ];
    for (expr, values) in [
        ("series", &filter.series),
        ("area", &filter.areas),
        // Area level: the GSS code's three-character entity prefix (`substr` counts characters
        // on both backends; GSS codes are ASCII).
        ("substr(area, 1, 3)", &filter.area_prefixes),
        ("category", &filter.categories),
        ("sex", &filter.sexes),
        ("age_band", &filter.age_bands),
    ] {
        if values.is_empty() {
            continue;
        }
        let list: Vec<String> = values.iter().map(|v| next(&mut binds, v)).collect();
        conditions.push(format!("{expr} IN ({})", list.join(", ")));
    }
    let columns: String = std::iter::once("series")
        .chain(grouped.iter().map(|d| d.column()))
        .collect::<Vec<_>>()
        .join(", ");
    // Counts and key sums alike: a group's key sum is the sum of its rows' key sums.
    let sql = format!(
        "SELECT {columns}, {} FROM {} WHERE {} GROUP BY {columns}",
        values::sums(),
        table.name,
        conditions.join(" AND ")
    );
    let mut out = Vec::new();
    crate::dispatch_pool!(store.pool(), |p| {
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        for row in q.fetch_all(p).await? {
            out.push(grouped_row(&row, &grouped)?);
        }
    });
    Ok(out)
}

/// Every live row of `table`, its left-out dimensions cleared (for consistency checks).
pub(crate) async fn read_all(
    store: &crate::Store,
    table: &AggregateTable,
) -> Result<BTreeMap<FactKey, FactValue>, StoreError> {
    let sql = format!(
        "SELECT {}, {VALUE_COLUMNS} FROM {} WHERE {LIVE}",
        table.key_columns(),
        table.name
    );
    let mut out = BTreeMap::new();
    crate::dispatch_pool!(store.pool(), |p| {
        for row in sqlx::query(&sql).fetch_all(p).await? {
            let (k, v) = grouped_row(&row, table.dimensions)?;
            out.insert(k, v);
        }
    });
    Ok(out)
}

fn grouped_row<R: Row>(
    row: &R,
    dimensions: &[Dimension],
) -> Result<(FactKey, FactValue), sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let mut key = FactKey {
        series: row.try_get("series")?,
        month: String::new(),
        area: String::new(),
        category: String::new(),
        sex: String::new(),
        age_band: String::new(),
        ethnic_group: String::new(),
        disability: String::new(),
        immigration_status: String::new(),
        subtype: String::new(),
        bucket: 0,
    };
    for d in dimensions {
        match d {
            Dimension::Bucket => key.bucket = row.try_get("bucket")?,
            d => d.set(&mut key, row.try_get(d.column())?),
        }
    }
    Ok((key, value_from_row(row)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(month: &str, category: &str, sex: &str, ethnic_group: &str, bucket: i64) -> FactKey {
        FactKey {
            series: "recorded_crimes".into(),
            month: month.into(),
            area: "E23000001".into(),
            category: category.into(),
            sex: sex.into(),
            age_band: "25-34".into(),
            ethnic_group: ethnic_group.into(),
            disability: "DISABILITY_NO".into(),
            immigration_status: "IMMIGRATION_STATUS_NOT_KNOWN".into(),
            subtype: String::new(),
            bucket,
        }
    }

    fn count(n: i64) -> FactValue {
        FactValue {
            n_all: n,
            n_principal: n,
            k_all: 7 * n,
            k_principal: 7 * n,
            ..FactValue::default()
        }
    }

    #[test]
    fn reads_go_to_the_narrowest_table_that_has_their_dimensions() {
        use Dimension as D;
        assert_eq!(table_for(&[D::Month]).name, "agg_rollup_scope");
        assert_eq!(
            table_for(&[D::Month, D::Sex, D::AgeBand, D::Area]).name,
            "agg_rollup_scope"
        );
        assert_eq!(table_for(&[D::Month, D::Category]).name, "agg_rollup");
        assert_eq!(table_for(&[D::Bucket, D::Category]).name, "agg_rollup");
        assert_eq!(table_for(&[D::Month, D::EthnicGroup]).name, "agg_counts");
        assert_eq!(table_for(&[D::Subtype]).name, "agg_counts");
        let by_category = AggregateFilter {
            categories: vec!["rape".into()],
            ..Default::default()
        };
        assert_eq!(table_for_read(&by_category, &[D::Month]).name, "agg_rollup");
        assert_eq!(
            table_for_read(&AggregateFilter::default(), &[]).name,
            "agg_rollup_scope"
        );
        // Each roll-up is narrower than the next, and the full table has everything.
        for pair in ROLLUPS.windows(2) {
            assert!(pair[1].covers(pair[0].dimensions));
        }
        assert!(FULL.covers(&Dimension::ALL));
    }

    #[test]
    fn a_roll_up_sums_the_dimensions_it_leaves_out_and_drops_what_cancels() {
        let mut delta = BTreeMap::new();
        // A revision that only changed the ethnic group: nothing moves in the roll-ups.
        delta.insert(
            key("2024-01", "rape", "SEX_FEMALE", "ETHNIC_GROUP_WHITE", 0),
            count(-1),
        );
        delta.insert(
            key("2024-01", "rape", "SEX_FEMALE", "ETHNIC_GROUP_ASIAN", 0),
            count(1),
        );
        // Two categories fold into one cell of the narrowest roll-up.
        delta.insert(
            key("2024-02", "rape", "SEX_MALE", "ETHNIC_GROUP_WHITE", 0),
            count(2),
        );
        delta.insert(
            key("2024-02", "stalking", "SEX_MALE", "ETHNIC_GROUP_MIXED", 0),
            count(3),
        );
        let scope = roll_up(&delta, &ROLLUPS[0]);
        assert_eq!(scope.len(), 1);
        let (k, v) = scope.iter().next().unwrap();
        assert_eq!((k.month.as_str(), k.sex.as_str()), ("2024-02", "SEX_MALE"));
        assert_eq!((k.category.as_str(), k.ethnic_group.as_str()), ("", ""));
        assert_eq!(*v, count(5));
        let by_category = roll_up(&delta, &ROLLUPS[1]);
        assert_eq!(by_category.len(), 2);
        assert_eq!(roll_up(&delta, &FULL), delta);
    }
}
