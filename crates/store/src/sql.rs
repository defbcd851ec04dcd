//! What the modules' SQL shares on both backends: how timestamps, dates and revisions are held
//! in columns, how a list of keys is bound, and placeholders.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::{Encode, QueryBuilder, Sqlite, Type};

use crate::{Conn, StoreError};

/// RFC 3339 UTC text with microseconds: how SQLite holds a timestamp (it sorts as time).
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A timestamp as SQLite holds it (see [`ts`]), back.
pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt("a stored timestamp is not RFC 3339".into()))
}

/// A date as SQLite holds it (`YYYY-MM-DD`), back.
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt("a stored date is not ISO 8601".into()))
}

/// A stored revision (a signed integer column on both backends) as the domain's `u32`.
pub(crate) fn revision<T: TryInto<u32>>(stored: T) -> Result<u32, StoreError> {
    stored
        .try_into()
        .map_err(|_| StoreError::Corrupt("negative revision".into()))
}

/// `values` as one JSON array (SQLite's `json_each` reads it: one stable statement).
pub(crate) fn json_array<T: serde::Serialize>(values: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(values).map_err(|e| StoreError::Corrupt(format!("encoding keys: {e}")))
}

/// Appends `(?, ?, …)` binding each of `values`: the list of a SQLite `IN` (PostgreSQL binds
/// one array instead, `= ANY($n)`).
pub(crate) fn push_sqlite_list<'a, T>(
    qb: &mut QueryBuilder<'a, Sqlite>,
    values: impl IntoIterator<Item = T>,
) where
    T: 'a + Encode<'a, Sqlite> + Type<Sqlite>,
{
    qb.push("(");
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v);
    }
    qb.push(")");
}

/// `n` bind placeholders numbered from `from`, bound in order: `$from, …` on PostgreSQL, plain
/// `?` on SQLite. Not `$N` on SQLite: sqlx asks SQLite for every parameter's name, a linear
/// scan of the statement's named parameters, so a statement with thousands of `$N` parameters
/// binds in quadratic time — it was half of ingest's CPU time in the profile (BENCHMARKS.md).
pub(crate) fn placeholders(conn: &Conn<'_>, from: usize, n: usize) -> String {
    match conn {
        Conn::Sqlite(_) => vec!["?"; n].join(", "),
        Conn::Postgres(_) => (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
