//! Aggregate tables, their maintenance, and the queries the metrics service runs on them.
//!
//! [`refresh`] recomputes the contributions of a set of entities (see
//! [`vawg_domain::aggregate::entities_of`]) from their current records and applies the difference
//! from what each entity contributed before to `agg_counts`. It runs in the aggregator's drain
//! transaction ([`crate::aggregator`]), never concurrently with itself (the drain is serialised
//! within a process and, on PostgreSQL, across replicas), so it needs no per-entity locks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Row;
use vawg_domain::aggregate::{
    Contributions, EntityKey, FactKey, FactRecord, FactValue, contributions,
};

pub use crate::rollup::{AggregateTable, Dimension};
use crate::{Conn, StoreError};

const KEY_COLUMNS: &str = "series, month, area, category, sex, age_band, ethnic_group, disability, immigration_status, subtype, bucket";

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
        FactValue {
            n_all: row.try_get("n_all")?,
            n_principal: row.try_get("n_principal")?,
            n_principal_coc: row.try_get("n_principal_coc")?,
            amount: row.try_get("amount")?,
        },
    ))
}

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

/// Rows whose counters all came back to zero (every contribution withdrawn) are kept by the
/// upserts but mean "nothing here": reads skip them, so a cell with no data never shows as 0
/// and the table compares equal to a full recomputation.
pub(crate) const LIVE: &str =
    "NOT (n_all = 0 AND n_principal = 0 AND n_principal_coc = 0 AND amount = 0)";

/// Bound values per statement, under SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 500;

/// Recomputes the contributions of `entities` from their current records and applies the
/// differences to the aggregate table. Call inside the aggregator's drain transaction.
/// Works in batches: a handful of statements per chunk, not per entity. `known` holds records
/// whose state this transaction has already read (`None`: not live), so they are not read
/// again.
pub async fn refresh(
    conn: &mut Conn<'_>,
    entities: BTreeSet<EntityKey>,
    known: &BTreeMap<i64, Option<FactRecord>>,
) -> Result<(), StoreError> {
    if entities.is_empty() {
        return Ok(());
    }
    let texts: Vec<String> = entities.iter().map(EntityKey::as_text).collect();
    let t0 = std::time::Instant::now();
    let records = load_entities(conn, &entities, known).await?;
    let t1 = std::time::Instant::now();
    let old = stored_contributions(conn, &texts).await?;
    let t2 = std::time::Instant::now();
    let mut delta: BTreeMap<FactKey, FactValue> = BTreeMap::new();
    let mut changed: Vec<(String, Contributions)> = Vec::new();
    let empty = Vec::new();
    for (entity, text) in entities.iter().zip(&texts) {
        let new = contributions(entity, records.get(entity).unwrap_or(&empty));
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
    replace_contributions(conn, &changed).await?;
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

/// What one entity contributed, as stored in `agg_entities.facts`: a compact protobuf
/// encoding, one row per entity rather than one row per fact (the per-fact rows and their
/// twelve-column key were a third of the refresh's time in the profile).
#[derive(Clone, PartialEq, prost::Message)]
struct StoredFacts {
    #[prost(message, repeated, tag = "1")]
    facts: Vec<StoredFact>,
}

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
}

fn encode_facts(c: &Contributions) -> Vec<u8> {
    use prost::Message;
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
            })
            .collect(),
    }
    .encode_to_vec()
}

fn decode_facts(bytes: &[u8]) -> Result<Contributions, StoreError> {
    use prost::Message;
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
                },
            )
        })
        .collect())
}

/// `values` as one JSON array (SQLite's `json_each` reads it: one stable statement).
pub(crate) fn json_array<T: serde::Serialize>(values: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(values).map_err(|e| StoreError::Corrupt(format!("encoding keys: {e}")))
}

async fn stored_contributions(
    conn: &mut Conn<'_>,
    entities: &[String],
) -> Result<BTreeMap<String, Contributions>, StoreError> {
    let mut out: BTreeMap<String, Contributions> = BTreeMap::new();
    match conn {
        Conn::Sqlite(c) => {
            let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
                "SELECT entity, facts FROM agg_entities \
                 WHERE entity IN (SELECT value FROM json_each(?))",
            )
            .bind(json_array(entities)?)
            .fetch_all(&mut **c)
            .await?;
            for (entity, facts) in rows {
                out.insert(entity, decode_facts(&facts)?);
            }
        }
        Conn::Postgres(c) => {
            let rows: Vec<(String, Vec<u8>)> =
                sqlx::query_as("SELECT entity, facts FROM agg_entities WHERE entity = ANY($1)")
                    .bind(entities)
                    .fetch_all(&mut **c)
                    .await?;
            for (entity, facts) in rows {
                out.insert(entity, decode_facts(&facts)?);
            }
        }
    }
    Ok(out)
}

/// Stores each changed entity's contributions (an entity that no longer contributes anything
/// loses its row).
async fn replace_contributions(
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

async fn apply_delta(
    conn: &mut Conn<'_>,
    delta: &BTreeMap<FactKey, FactValue>,
) -> Result<(), StoreError> {
    let rows: Vec<(&FactKey, &FactValue)> = delta.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT / 2) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", placeholders(conn, i * 15 + 1, 15)))
            .collect();
        let sql = format!(
            "INSERT INTO agg_counts ({KEY_COLUMNS}, n_all, n_principal, n_principal_coc, amount) VALUES {} \
             ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET \
               n_all = agg_counts.n_all + excluded.n_all, \
               n_principal = agg_counts.n_principal + excluded.n_principal, \
               n_principal_coc = agg_counts.n_principal_coc + excluded.n_principal_coc, \
               amount = agg_counts.amount + excluded.amount",
            values.join(", ")
        );
        crate::with_conn!(conn, |c| {
            let mut q = sqlx::query(&sql);
            for (k, v) in chunk {
                q = bind_key!(q, k)
                    .bind(v.n_all)
                    .bind(v.n_principal)
                    .bind(v.n_principal_coc)
                    .bind(v.amount);
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
        let sql = format!(
            "SELECT {KEY_COLUMNS}, n_all, n_principal, n_principal_coc, amount FROM agg_counts WHERE {LIVE}"
        );
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

/// Columns read to rebuild a [`FactRecord`].
const FACT_COLUMNS: &str = "record_id, category, harm_rank, course_of_conduct, event_date, area_code, \
    victim_pseudonym, suspect_pseudonym, police_ref_pseudonym, victim_sex, victim_age, victim_ethnic_group, \
    victim_disability, victim_immigration_status, event_kind, event_detail";

/// The contract enum value named `prefix + canonical`, as i32 (0 when absent or unknown).
fn enum_value<E>(canonical: Option<&str>, prefix: &str, parse: impl Fn(&str) -> Option<E>) -> i32
where
    E: Into<i32>,
{
    canonical
        .and_then(|c| parse(&format!("{prefix}{c}")))
        .map(Into::into)
        .unwrap_or(0)
}

/// Rebuilds the contract event from the stored kind and detail (identifiers were never there).
pub fn event_from_detail(
    kind: &str,
    d: &serde_json::Value,
) -> Option<vawg_proto::pb::vawg_record::Event> {
    use vawg_proto::pb::{self, vawg_record::Event};
    let s = |f: &str| d.get(f).and_then(|v| v.as_str());
    let b = |f: &str| d.get(f).and_then(|v| v.as_bool()).unwrap_or(false);
    let u = |f: &str| d.get(f).and_then(|v| v.as_u64()).unwrap_or(0);
    // Four event kinds carry the support service type.
    let service_type = || {
        enum_value(
            s("service_type"),
            "SUPPORT_SERVICE_TYPE_",
            pb::SupportServiceType::from_str_name,
        )
    };
    Some(match kind {
        "CRIME_RECORDED" => Event::CrimeRecorded(pb::CrimeRecorded {
            domestic_abuse_flag: b("domestic_abuse_flag"),
            relationship: enum_value(
                s("relationship"),
                "RELATIONSHIP_",
                pb::Relationship::from_str_name,
            ),
            online_flag: b("online_flag"),
        }),
        "POLICE_OUTCOME" => Event::PoliceOutcome(pb::PoliceOutcome {
            home_office_outcome_type: u("home_office_outcome_type") as u32,
            group: enum_value(
                s("group"),
                "POLICE_OUTCOME_GROUP_",
                pb::PoliceOutcomeGroup::from_str_name,
            ),
        }),
        "CPS_REFERRAL" => Event::CpsReferral(pb::CpsReferral {
            referral_type: enum_value(
                s("referral_type"),
                "REFERRAL_TYPE_",
                pb::ReferralType::from_str_name,
            ),
        }),
        "CHARGING_DECISION" => Event::ChargingDecision(pb::ChargingDecision {
            decision_maker: enum_value(
                s("decision_maker"),
                "DECISION_MAKER_",
                pb::DecisionMaker::from_str_name,
            ),
            decision: enum_value(
                s("decision"),
                "CHARGE_DECISION_",
                pb::ChargeDecision::from_str_name,
            ),
        }),
        "PROSECUTION_OUTCOME" => Event::ProsecutionOutcome(pb::ProsecutionOutcome {
            result: enum_value(
                s("result"),
                "PROSECUTION_RESULT_",
                pb::ProsecutionResult::from_str_name,
            ),
        }),
        "COURT_OUTCOME" => Event::CourtOutcome(pb::CourtOutcome {
            court_type: enum_value(s("court_type"), "COURT_TYPE_", pb::CourtType::from_str_name),
            verdict: enum_value(
                s("verdict"),
                "COURT_VERDICT_",
                pb::CourtVerdict::from_str_name,
            ),
            trial_effectiveness: enum_value(
                s("trial_effectiveness"),
                "TRIAL_EFFECTIVENESS_",
                pb::TrialEffectiveness::from_str_name,
            ),
        }),
        "PROTECTIVE_ORDER" => Event::ProtectiveOrder(pb::ProtectiveOrder {
            order_type: enum_value(s("order_type"), "ORDER_TYPE_", pb::OrderType::from_str_name),
            decision: enum_value(
                s("decision"),
                "ORDER_DECISION_",
                pb::OrderDecision::from_str_name,
            ),
            expires_on: None,
        }),
        "VICTIM_WITHDRAWAL" => Event::VictimWithdrawal(pb::VictimWithdrawal {
            stage: enum_value(
                s("stage"),
                "WITHDRAWAL_STAGE_",
                pb::WithdrawalStage::from_str_name,
            ),
            case_ended: b("case_ended"),
        }),
        "MARAC_REFERRAL" => Event::MaracReferral(pb::MaracReferral {
            referring_agency: enum_value(
                s("referring_agency"),
                "REFERRING_AGENCY_",
                pb::ReferringAgency::from_str_name,
            ),
            repeat_referral: b("repeat_referral"),
            children_in_household: u("children_in_household") as u32,
        }),
        "SUPPORT_REFERRAL" => Event::SupportReferral(pb::SupportReferral {
            to_agency_id: s("to_agency_id").unwrap_or_default().to_string(),
            service_type: service_type(),
        }),
        "SUPPORT_PROVIDED" => Event::SupportProvided(pb::SupportProvided {
            service_type: service_type(),
            contacts: u("contacts") as u32,
        }),
        "UNABLE_TO_SUPPORT" => Event::UnableToSupport(pb::UnableToSupport {
            service_type: service_type(),
            reason: enum_value(
                s("reason"),
                "UNABLE_TO_SUPPORT_REASON_",
                pb::UnableToSupportReason::from_str_name,
            ),
        }),
        "HEALTH_DISCLOSURE" => Event::HealthDisclosure(pb::HealthDisclosure {
            setting: enum_value(
                s("setting"),
                "HEALTH_SETTING_",
                pb::HealthSetting::from_str_name,
            ),
        }),
        "HEALTH_REFERRAL" => Event::HealthReferral(pb::HealthReferral {
            setting: enum_value(
                s("setting"),
                "HEALTH_SETTING_",
                pb::HealthSetting::from_str_name,
            ),
            destination: enum_value(
                s("destination"),
                "HEALTH_REFERRAL_DESTINATION_",
                pb::HealthReferralDestination::from_str_name,
            ),
        }),
        // Sealed details are not needed for aggregates and are not rebuilt here.
        "ENCOMPASS_NOTIFICATION" => Event::EncompassNotification(pb::EncompassNotification {
            school_urn: s("school_urn").unwrap_or_default().to_string(),
            sealed_pupil_details: None,
            police_contact: String::new(),
        }),
        "DOMESTIC_HOMICIDE" => Event::DomesticHomicide(pb::DomesticHomicide {
            homicide_type: enum_value(
                s("homicide_type"),
                "HOMICIDE_TYPE_",
                pb::HomicideType::from_str_name,
            ),
        }),
        "VICTIM_SATISFACTION" => Event::VictimSatisfaction(pb::VictimSatisfaction {
            stage: enum_value(
                s("stage"),
                "SATISFACTION_STAGE_",
                pb::SatisfactionStage::from_str_name,
            ),
            level: enum_value(
                s("level"),
                "SATISFACTION_LEVEL_",
                pb::SatisfactionLevel::from_str_name,
            ),
        }),
        "FUNDING_RETURN" => Event::FundingReturn(pb::FundingReturn {
            funded_agency_id: s("funded_agency_id").unwrap_or_default().to_string(),
            service_type: service_type(),
            amount_pence: u("amount_pence"),
        }),
        _ => return None,
    })
}

fn fact_record<R: Row>(row: &R) -> Result<Option<FactRecord>, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i32>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> chrono::NaiveDate: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> sqlx::types::Json<serde_json::Value>:
        sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    use vawg_proto::pb;
    let kind: String = row.try_get("event_kind")?;
    let detail: sqlx::types::Json<serde_json::Value> = row.try_get("event_detail")?;
    let Some(event) = event_from_detail(&kind, &detail.0) else {
        return Err(StoreError::Corrupt(format!("record event kind '{kind}'")));
    };
    let demographic = |column: &str| -> Result<Option<String>, sqlx::Error> { row.try_get(column) };
    let demographics = pb::Demographics {
        sex: enum_value(
            demographic("victim_sex")?.as_deref(),
            "SEX_",
            pb::Sex::from_str_name,
        ),
        age_at_event: row
            .try_get::<Option<i32>, _>("victim_age")?
            .map(|a| a.max(0) as u32),
        ethnic_group: enum_value(
            demographic("victim_ethnic_group")?.as_deref(),
            "ETHNIC_GROUP_",
            pb::EthnicGroup::from_str_name,
        ),
        disability: enum_value(
            demographic("victim_disability")?.as_deref(),
            "DISABILITY_",
            pb::Disability::from_str_name,
        ),
        sexual_orientation: 0,
        gender_identity: 0,
        immigration_status: enum_value(
            demographic("victim_immigration_status")?.as_deref(),
            "IMMIGRATION_STATUS_",
            pb::ImmigrationStatus::from_str_name,
        ),
    };
    Ok(Some(FactRecord {
        record_id: row.try_get("record_id")?,
        category: row.try_get("category")?,
        harm_rank: row.try_get::<i32, _>("harm_rank")?.max(0) as u32,
        course_of_conduct: row.try_get("course_of_conduct")?,
        event_date: row.try_get("event_date")?,
        area_code: row.try_get("area_code")?,
        victim: row.try_get("victim_pseudonym")?,
        suspect: row.try_get("suspect_pseudonym")?,
        case_ref: row.try_get("police_ref_pseudonym")?,
        demographics,
        event,
    }))
}

/// Loads the current, non-retracted records of every entity, in a few statements.
pub async fn load_entities(
    conn: &mut Conn<'_>,
    entities: &BTreeSet<EntityKey>,
    known: &BTreeMap<i64, Option<FactRecord>>,
) -> Result<BTreeMap<EntityKey, Vec<FactRecord>>, StoreError> {
    let (mut ids, mut cases, mut victims, mut suspects) =
        (Vec::new(), Vec::new(), BTreeSet::new(), Vec::new());
    for e in entities {
        match e {
            EntityKey::Record(id) => ids.push(*id),
            EntityKey::Relationship { victim, suspect } => match suspect.strip_prefix("unknown:") {
                Some(id) => ids.extend(id.parse::<i64>().ok()),
                None => {
                    victims.insert(victim.clone());
                }
            },
            EntityKey::Case(c) => cases.push(c.clone()),
            EntityKey::Victim(v) => {
                victims.insert(v.clone());
            }
            EntityKey::Suspect(s) => suspects.push(s.clone()),
        }
    }
    let live = "is_current AND NOT retracted";
    let crime = "event_kind = 'CRIME_RECORDED'";
    let mut loaded: BTreeMap<i64, FactRecord> = BTreeMap::new();
    let victims: Vec<String> = victims.into_iter().collect();
    // Records whose state was read earlier in this transaction are not read again.
    let mut unknown = Vec::with_capacity(ids.len());
    for id in ids {
        match known.get(&id) {
            Some(Some(r)) => {
                loaded.insert(id, r.clone());
            }
            Some(None) => {}
            None => unknown.push(id),
        }
    }
    for (r, _) in fact_rows(conn, "record_id", live, Keys::Ids(&unknown)).await? {
        loaded.insert(r.record_id, r);
    }
    let (live_crime, keys) = (format!("{live} AND {crime}"), Keys::Texts);
    for (column, condition, values) in [
        ("police_ref_pseudonym", live, keys(&cases)),
        ("victim_pseudonym", live_crime.as_str(), keys(&victims)),
        ("suspect_pseudonym", live_crime.as_str(), keys(&suspects)),
    ] {
        for (r, _) in fact_rows(conn, column, condition, values).await? {
            loaded.insert(r.record_id, r);
        }
    }
    // Index the loaded records by every key an entity can name, so matching is linear in the
    // records, not entities × records (the profile showed the nested scan).
    let is_crime = |r: &FactRecord| r.kind() == vawg_proto::pb::EventKind::CrimeRecorded;
    let mut by_case: HashMap<&str, Vec<&FactRecord>> = HashMap::new();
    let mut by_victim: HashMap<&str, Vec<&FactRecord>> = HashMap::new();
    let mut by_suspect: HashMap<&str, Vec<&FactRecord>> = HashMap::new();
    for r in loaded.values() {
        // As `entities_of` assigns records to cases: a protective order or a referral that
        // carries the police reference is not part of the case's journey.
        if let Some(c) = &r.case_ref
            && vawg_domain::aggregate::in_case(r.kind())
        {
            by_case.entry(c).or_default().push(r);
        }
        if is_crime(r) {
            if let Some(v) = &r.victim {
                by_victim.entry(v).or_default().push(r);
            }
            if let Some(s) = &r.suspect {
                by_suspect.entry(s).or_default().push(r);
            }
        }
    }
    let cloned = |rs: Option<&Vec<&FactRecord>>| -> Vec<FactRecord> {
        rs.map(|rs| rs.iter().map(|r| (*r).clone()).collect())
            .unwrap_or_default()
    };
    let mut out: BTreeMap<EntityKey, Vec<FactRecord>> = BTreeMap::new();
    for e in entities {
        // Records in record-id order, as the scan over `loaded` gave them.
        let matching: Vec<FactRecord> = match e {
            EntityKey::Record(id) => loaded.get(id).cloned().into_iter().collect(),
            EntityKey::Relationship { victim, suspect } => match suspect.strip_prefix("unknown:") {
                Some(id) => id
                    .parse::<i64>()
                    .ok()
                    .and_then(|id| loaded.get(&id).cloned())
                    .into_iter()
                    .collect(),
                None => by_victim
                    .get(victim.as_str())
                    .map(|rs| {
                        rs.iter()
                            .filter(|r| r.suspect.as_ref() == Some(suspect))
                            .map(|r| (*r).clone())
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            EntityKey::Case(c) => cloned(by_case.get(c.as_str())),
            EntityKey::Victim(v) => cloned(by_victim.get(v.as_str())),
            EntityKey::Suspect(s) => cloned(by_suspect.get(s.as_str())),
        };
        out.insert(e.clone(), matching);
    }
    Ok(out)
}

/// The entities of these records, whatever their state now: an old revision or a retracted
/// record names the entities it contributed to, a current one those it contributes to. Also
/// returns each record as read (`None` when it is not live), for [`refresh`].
pub async fn entities_of_records(
    conn: &mut Conn<'_>,
    record_ids: &[i64],
) -> Result<(BTreeSet<EntityKey>, BTreeMap<i64, Option<FactRecord>>), StoreError> {
    let mut entities = BTreeSet::new();
    let mut known = BTreeMap::new();
    for (r, live) in fact_rows(conn, "record_id", "TRUE", Keys::Ids(record_ids)).await? {
        entities.extend(vawg_domain::aggregate::entities_of(&r));
        known.insert(r.record_id, live.then_some(r));
    }
    Ok((entities, known))
}

/// Values a statement selects on: record ids or text keys.
#[derive(Clone, Copy)]
enum Keys<'a> {
    Ids(&'a [i64]),
    Texts(&'a [String]),
}

impl Keys<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Keys::Ids(v) => v.is_empty(),
            Keys::Texts(v) => v.is_empty(),
        }
    }
}

/// The records (as facts) whose `column` is one of `keys` and which meet `condition`, in one
/// statement whatever the number of keys: the keys travel as one JSON array on SQLite
/// (`json_each`) and one array on PostgreSQL (`= ANY`), so the statement text never changes,
/// is prepared once per connection and stays in its statement cache. (Lists of literals or of
/// placeholders made every batch a new statement: SQLite's parser was 8 % of ingest's CPU in
/// the profile, and each PostgreSQL connection cached a prepared statement per batch.)
/// Each record comes with whether it is live (current and not retracted).
async fn fact_rows(
    conn: &mut Conn<'_>,
    column: &str,
    condition: &str,
    keys: Keys<'_>,
) -> Result<Vec<(FactRecord, bool)>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    match conn {
        Conn::Sqlite(c) => {
            let sql = format!(
                "SELECT {FACT_COLUMNS}, (is_current AND NOT retracted) AS live FROM records \
                 WHERE {condition} AND {column} IN (SELECT value FROM json_each(?))"
            );
            let json = match keys {
                Keys::Ids(v) => json_array(v),
                Keys::Texts(v) => json_array(v),
            }?;
            for row in sqlx::query(&sql).bind(json).fetch_all(&mut **c).await? {
                let live: bool = row.try_get("live")?;
                out.extend(fact_record(&row)?.map(|r| (r, live)));
            }
        }
        Conn::Postgres(c) => {
            let sql = format!(
                "SELECT {FACT_COLUMNS}, (is_current AND NOT retracted) AS live FROM records \
                 WHERE {condition} AND {column} = ANY($1)"
            );
            let q = sqlx::query(&sql);
            let q = match keys {
                Keys::Ids(v) => q.bind(v),
                Keys::Texts(v) => q.bind(v),
            };
            for row in q.fetch_all(&mut **c).await? {
                let live: bool = row.try_get("live")?;
                out.extend(fact_record(&row)?.map(|r| (r, live)));
            }
        }
    }
    Ok(out)
}

/// Recomputes every aggregate from the raw records, in memory (the consistency check: it must
/// equal [`crate::Store::all_aggregates`]).
pub async fn recompute_all(
    store: &crate::Store,
) -> Result<BTreeMap<FactKey, FactValue>, StoreError> {
    let sql = format!("SELECT {FACT_COLUMNS} FROM records WHERE is_current AND NOT retracted");
    let mut records = Vec::new();
    crate::dispatch_pool!(store.pool(), |p| {
        for row in sqlx::query(&sql).fetch_all(p).await? {
            records.extend(fact_record(&row)?);
        }
    });
    let mut by_entity: BTreeMap<EntityKey, Vec<FactRecord>> = BTreeMap::new();
    for r in &records {
        for e in vawg_domain::aggregate::entities_of(r) {
            by_entity.entry(e).or_default().push(r.clone());
        }
    }
    let mut out: BTreeMap<FactKey, FactValue> = BTreeMap::new();
    for (entity, records) in by_entity {
        for (k, v) in contributions(&entity, &records) {
            out.entry(k).or_default().add(&v, 1);
        }
    }
    out.retain(|_, v| !v.is_zero());
    Ok(out)
}
