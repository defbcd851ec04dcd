//! The value columns every aggregate table shares (`agg_counts` and its roll-ups): the counts
//! under each counting rule, the amount, and beside each count the sum of its units' cell keys
//! (migration `0500_cell_keys.sql`). One list, so every upsert, read and grouped sum carries
//! all of them in the same order.

use sqlx::Row;
use vawg_domain::aggregate::FactValue;

/// The value columns, in the order they are listed and bound ([`values`]).
const VALUES: [&str; 9] = [
    "n_all",
    "n_principal",
    "n_principal_coc",
    "amount",
    "k_all",
    "k_principal",
    "k_principal_coc",
    "n_relationship",
    "k_relationship",
];

/// How many values a row binds.
pub(crate) const VALUE_COUNT: usize = VALUES.len();

/// The value columns, comma-separated, in bind order.
pub(crate) const VALUE_COLUMNS: &str = "n_all, n_principal, n_principal_coc, amount, k_all, k_principal, k_principal_coc, \
     n_relationship, k_relationship";

/// Rows whose values all came back to zero (every contribution withdrawn) are kept by the
/// upserts but mean "nothing here": reads skip them, so a cell with no data never shows as 0
/// and the table compares equal to a full recomputation. (A cell with no count has no key:
/// its key sums are zero too; they are checked all the same, as `FactValue::is_zero` does.)
pub(crate) const LIVE: &str = "NOT (n_all = 0 AND n_principal = 0 AND n_principal_coc = 0 \
    AND amount = 0 AND k_all = 0 AND k_principal = 0 AND k_principal_coc = 0 \
    AND n_relationship = 0 AND k_relationship = 0)";

/// `v`'s values in bind order.
pub(crate) fn values(v: &FactValue) -> [i64; VALUE_COUNT] {
    [
        v.n_all,
        v.n_principal,
        v.n_principal_coc,
        v.amount,
        v.k_all,
        v.k_principal,
        v.k_principal_coc,
        v.n_relationship,
        v.k_relationship,
    ]
}

/// The `SET` list of an upsert into `table` that adds the new row's values to the stored ones
/// (counts and key sums alike: both are plain sums).
pub(crate) fn accumulate(table: &str) -> String {
    VALUES
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .join(", ")
}

/// The select list of a grouped read: every value summed over the group, under its own name.
/// CAST: PostgreSQL sums BIGINT to NUMERIC.
pub(crate) fn sums() -> String {
    VALUES
        .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
        .join(", ")
}

/// The values of a row that selected [`VALUE_COLUMNS`] (or [`sums`]).
pub(crate) fn value_from_row<R: Row>(row: &R) -> Result<FactValue, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(FactValue {
        n_all: row.try_get("n_all")?,
        n_principal: row.try_get("n_principal")?,
        n_principal_coc: row.try_get("n_principal_coc")?,
        amount: row.try_get("amount")?,
        k_all: row.try_get("k_all")?,
        k_principal: row.try_get("k_principal")?,
        k_principal_coc: row.try_get("k_principal_coc")?,
        n_relationship: row.try_get("n_relationship")?,
        k_relationship: row.try_get("k_relationship")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_names_every_value_column_in_bind_order() {
        assert_eq!(VALUE_COLUMNS, VALUES.join(", "));
        for c in VALUES {
            assert!(LIVE.contains(&format!("{c} = 0")), "{c}");
        }
        let v = FactValue {
            n_all: 1,
            n_principal: 2,
            n_principal_coc: 3,
            amount: 4,
            k_all: 5,
            k_principal: 6,
            k_principal_coc: 7,
            n_relationship: 8,
            k_relationship: 9,
        };
        assert_eq!(values(&v), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(accumulate("t").starts_with("n_all = t.n_all + excluded.n_all, "));
        assert!(sums().ends_with("CAST(SUM(k_relationship) AS BIGINT) AS k_relationship"));
    }
}
