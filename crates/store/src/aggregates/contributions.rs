//! What each entity contributed, as last applied to `agg_counts`: one `agg_entities` row per
//! entity, its facts in a compact protobuf encoding, read before a refresh (to withdraw the old
//! contributions) and replaced after it.

use std::collections::BTreeMap;

use prost::Message;
use vawg_domain::aggregate::{Contributions, FactKey, FactValue};

use super::ROWS_PER_STATEMENT;
use crate::{Conn, StoreError, sql::json_array};

/// What one entity contributed, as stored in `agg_entities.facts`: a compact protobuf
/// encoding, one row per entity rather than one row per fact (the per-fact rows and their
/// twelve-column key were a third of the refresh's time in the profile).
#[derive(Clone, PartialEq, prost::Message)]
struct StoredFacts {
    #[prost(message, repeated, tag = "1")]
    facts: Vec<StoredFact>,
}

/// One fact of [`StoredFacts`]: the key and the value.
#[derive(Clone, PartialEq, prost::Message)]
struct StoredFact {
    #[prost(string, tag = "1")]
    series: String,
    #[prost(string, tag = "2")]
    month: String,
    #[prost(string, tag = "3")]
    area: String,
    #[prost(string, tag = "4")]
    category: String,
    #[prost(string, tag = "5")]
    sex: String,
    #[prost(string, tag = "6")]
    age_band: String,
    #[prost(string, tag = "7")]
    ethnic_group: String,
    #[prost(string, tag = "8")]
    disability: String,
    #[prost(string, tag = "9")]
    immigration_status: String,
    #[prost(string, tag = "10")]
    subtype: String,
    #[prost(int64, tag = "11")]
    bucket: i64,
    #[prost(int64, tag = "12")]
    n_all: i64,
    #[prost(int64, tag = "13")]
    n_principal: i64,
    #[prost(int64, tag = "14")]
    n_principal_coc: i64,
    #[prost(int64, tag = "15")]
    amount: i64,
    /// Key sums (migration 0500): absent, so 0, in facts stored before it, which that
    /// migration rebuilt.
    #[prost(int64, tag = "16")]
    k_all: i64,
    #[prost(int64, tag = "17")]
    k_principal: i64,
    #[prost(int64, tag = "18")]
    k_principal_coc: i64,
    /// ONE_PER_RELATIONSHIP (migration 0600), absent (0) before it; 0600 rebuilds them all.
    #[prost(int64, tag = "19")]
    n_relationship: i64,
    #[prost(int64, tag = "20")]
    k_relationship: i64,
}

/// One entity's contributions, encoded for `agg_entities.facts`.
fn encode_facts(c: &Contributions) -> Vec<u8> {
    StoredFacts {
        facts: c
            .iter()
            .map(|(k, v)| StoredFact {
                series: k.series.clone(),
                month: k.month.clone(),
                area: k.area.clone(),
                category: k.category.clone(),
                sex: k.sex.clone(),
                age_band: k.age_band.clone(),
                ethnic_group: k.ethnic_group.clone(),
                disability: k.disability.clone(),
                immigration_status: k.immigration_status.clone(),
                subtype: k.subtype.clone(),
                bucket: k.bucket,
                n_all: v.n_all,
                n_principal: v.n_principal,
                n_principal_coc: v.n_principal_coc,
                amount: v.amount,
                k_all: v.k_all,
                k_principal: v.k_principal,
                k_principal_coc: v.k_principal_coc,
                n_relationship: v.n_relationship,
                k_relationship: v.k_relationship,
            })
            .collect(),
    }
    .encode_to_vec()
}

/// One entity's contributions, back from `agg_entities.facts`.
fn decode_facts(bytes: &[u8]) -> Result<Contributions, StoreError> {
    let stored = StoredFacts::decode(bytes)
        .map_err(|e| StoreError::Corrupt(format!("stored entity contributions: {e}")))?;
    Ok(stored
        .facts
        .into_iter()
        .map(|f| {
            (
                FactKey {
                    series: f.series,
                    month: f.month,
                    area: f.area,
                    category: f.category,
                    sex: f.sex,
                    age_band: f.age_band,
                    ethnic_group: f.ethnic_group,
                    disability: f.disability,
                    immigration_status: f.immigration_status,
                    subtype: f.subtype,
                    bucket: f.bucket,
                },
                FactValue {
                    n_all: f.n_all,
                    n_principal: f.n_principal,
                    n_principal_coc: f.n_principal_coc,
                    amount: f.amount,
                    k_all: f.k_all,
                    k_principal: f.k_principal,
                    k_principal_coc: f.k_principal_coc,
                    n_relationship: f.n_relationship,
                    k_relationship: f.k_relationship,
                },
            )
        })
        .collect())
}

/// The stored contributions of these entities (an entity without a row contributed nothing).
pub(super) async fn stored_contributions(
    conn: &mut Conn<'_>,
    entities: &[String],
) -> Result<BTreeMap<String, Contributions>, StoreError> {
    let rows: Vec<(String, Vec<u8>)> = match conn {
        Conn::Sqlite(c) => {
            sqlx::query_as(
                "SELECT entity, facts FROM agg_entities \
                 WHERE entity IN (SELECT value FROM json_each(?))",
            )
            .bind(json_array(entities)?)
            .fetch_all(&mut **c)
            .await?
        }
        Conn::Postgres(c) => {
            sqlx::query_as("SELECT entity, facts FROM agg_entities WHERE entity = ANY($1)")
                .bind(entities)
                .fetch_all(&mut **c)
                .await?
        }
    };
    rows.into_iter()
        .map(|(entity, facts)| Ok((entity, decode_facts(&facts)?)))
        .collect()
}
/// Stores each changed entity's contributions (an entity that no longer contributes anything
/// loses its row).
pub(super) async fn replace_contributions(
    conn: &mut Conn<'_>,
    changed: &[(String, Contributions)],
) -> Result<(), StoreError> {
    let (empty, kept): (Vec<_>, Vec<_>) = changed.iter().partition(|(_, c)| c.is_empty());
    let empty: Vec<&str> = empty.iter().map(|(e, _)| e.as_str()).collect();
    let kept: Vec<(&str, Vec<u8>)> = kept
        .iter()
        .map(|(e, c)| (e.as_str(), encode_facts(c)))
        .collect();
    match conn {
        Conn::Sqlite(c) => {
            if !empty.is_empty() {
                sqlx::query(
                    "DELETE FROM agg_entities WHERE entity IN (SELECT value FROM json_each(?))",
                )
                .bind(json_array(&empty)?)
                .execute(&mut **c)
                .await?;
            }
            for chunk in kept.chunks(ROWS_PER_STATEMENT / 2) {
                let sql = format!(
                    "INSERT OR REPLACE INTO agg_entities (entity, facts) VALUES {}",
                    vec!["(?, ?)"; chunk.len()].join(", ")
                );
                let mut q = sqlx::query(&sql);
                for (e, f) in chunk {
                    q = q.bind(*e).bind(f.as_slice());
                }
                q.execute(&mut **c).await?;
            }
        }
        Conn::Postgres(c) => {
            if !empty.is_empty() {
                sqlx::query("DELETE FROM agg_entities WHERE entity = ANY($1)")
                    .bind(&empty)
                    .execute(&mut **c)
                    .await?;
            }
            if !kept.is_empty() {
                let (entities, facts): (Vec<&str>, Vec<&[u8]>) =
                    kept.iter().map(|(e, f)| (*e, f.as_slice())).unzip();
                sqlx::query(
                    "INSERT INTO agg_entities (entity, facts) \
                     SELECT * FROM UNNEST($1::text[], $2::bytea[]) \
                     ON CONFLICT (entity) DO UPDATE SET facts = excluded.facts",
                )
                .bind(&entities)
                .bind(&facts)
                .execute(&mut **c)
                .await?;
            }
        }
    }
    Ok(())
}
