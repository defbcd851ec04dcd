//! Records as facts: the columns of a record the aggregate rules read ([`FactRecord`]), and the
//! loads the refresh runs — the records of a set of entities, and the entities of a set of
//! records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Row;
use vawg_domain::{
    aggregate::{EntityKey, FactRecord},
    cellkey::record_unit,
};
use vawg_proto::pb;

use crate::{Conn, StoreError, detail::enum_value, sql::json_array};

/// Columns read to rebuild a [`FactRecord`]. The agency and its own record id make the
/// record's stable cell-key unit (the same for every revision).
const FACT_COLUMNS: &str = "record_id, agency_id, source_record_id, category, harm_rank, \
    course_of_conduct, event_date, \
    area_code, victim_pseudonym, suspect_pseudonym, police_ref_pseudonym, victim_sex, victim_age, \
    victim_ethnic_group, victim_disability, victim_sexual_orientation, victim_gender_identity, \
    victim_immigration_status, event_kind, event_detail";

/// Records that count: the current revision, not retracted.
const LIVE_RECORD: &str = "is_current AND NOT retracted";

/// A record row (the [`FACT_COLUMNS`]) as the aggregate rules see it.
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
    let kind: String = row.try_get("event_kind")?;
    let detail: sqlx::types::Json<serde_json::Value> = row.try_get("event_detail")?;
    let Some(event) = crate::detail::event_from_detail(&kind, &detail.0) else {
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
        sexual_orientation: enum_value(
            demographic("victim_sexual_orientation")?.as_deref(),
            "SEXUAL_ORIENTATION_",
            pb::SexualOrientation::from_str_name,
        ),
        gender_identity: enum_value(
            demographic("victim_gender_identity")?.as_deref(),
            "GENDER_IDENTITY_",
            pb::GenderIdentity::from_str_name,
        ),
        immigration_status: enum_value(
            demographic("victim_immigration_status")?.as_deref(),
            "IMMIGRATION_STATUS_",
            pb::ImmigrationStatus::from_str_name,
        ),
    };
    let agency_id: String = row.try_get("agency_id")?;
    let source_record_id: String = row.try_get("source_record_id")?;
    Ok(Some(FactRecord {
        record_id: row.try_get("record_id")?,
        unit: record_unit(&agency_id, &source_record_id),
        category: row.try_get("category")?,
        harm_rank: row.try_get::<i32, _>("harm_rank")?.max(0) as u32,
        course_of_conduct: row.try_get("course_of_conduct")?,
        event_date: row.try_get("event_date")?,
        area_code: row.try_get("area_code")?,
        victim: row.try_get("victim_pseudonym")?,
        suspect: row.try_get("suspect_pseudonym")?,
        case_ref: row.try_get("police_ref_pseudonym")?,
        // A crime's incident pseudonym is kept in its detail (it is used for counting only).
        incident: detail
            .0
            .get("incident_pseudonym")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        context: detail
            .0
            .get("context")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        suspect_profile: suspect_profile(&detail.0),
        demographics,
        event,
    }))
}

/// The suspect a crime's detail describes (ingest keeps it there: sex, age band, ethnic group).
fn suspect_profile(detail: &serde_json::Value) -> vawg_domain::aggregate::SuspectProfile {
    let field = |f: &str| {
        detail
            .get("suspect")
            .and_then(|s| s.get(f))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    vawg_domain::aggregate::SuspectProfile {
        sex: field("sex"),
        age_band: field("age_band"),
        ethnic_group: field("ethnic_group"),
    }
}

/// Loads the current, non-retracted records of every entity, in a few statements.
pub async fn load_entities(
    conn: &mut Conn<'_>,
    entities: &BTreeSet<EntityKey>,
    known: &BTreeMap<i64, Option<FactRecord>>,
) -> Result<BTreeMap<EntityKey, Vec<FactRecord>>, StoreError> {
    let wanted = Wanted::of(entities);
    let loaded = wanted.load(conn, known).await?;
    let index = Index::of(&loaded);
    Ok(entities
        .iter()
        .map(|e| (e.clone(), index.records_of(e)))
        .collect())
}

/// What the records of a set of entities are looked up by.
#[derive(Default)]
struct Wanted {
    /// Record ids (record entities).
    ids: Vec<i64>,
    /// Police crime reference pseudonyms (cases).
    cases: Vec<String>,
    /// Victim pseudonyms (victims), sorted and distinct.
    victims: Vec<String>,
    /// Suspect pseudonyms.
    suspects: Vec<String>,
}

impl Wanted {
    /// The keys `entities` name.
    fn of(entities: &BTreeSet<EntityKey>) -> Wanted {
        let mut w = Wanted::default();
        let mut victims = BTreeSet::new();
        for e in entities {
            match e {
                EntityKey::Record(id) => w.ids.push(*id),
                EntityKey::Case(c) => w.cases.push(c.clone()),
                EntityKey::Victim(v) => {
                    victims.insert(v.clone());
                }
                EntityKey::Suspect(s) => w.suspects.push(s.clone()),
            }
        }
        w.victims = victims.into_iter().collect();
        w
    }

    /// The live records with these keys, by record id; records whose state this transaction
    /// has already read (`known`) are not read again.
    async fn load(
        &self,
        conn: &mut Conn<'_>,
        known: &BTreeMap<i64, Option<FactRecord>>,
    ) -> Result<BTreeMap<i64, FactRecord>, StoreError> {
        let mut loaded: BTreeMap<i64, FactRecord> = BTreeMap::new();
        let mut unknown = Vec::with_capacity(self.ids.len());
        for &id in &self.ids {
            match known.get(&id) {
                Some(Some(r)) => {
                    loaded.insert(id, r.clone());
                }
                Some(None) => {}
                None => unknown.push(id),
            }
        }
        let live_crime = format!("{LIVE_RECORD} AND event_kind = 'CRIME_RECORDED'");
        // A victim's entity holds their crimes and the support they were given
        // (`vawg_domain::aggregate::in_victim`).
        let live_of_victim =
            format!("{LIVE_RECORD} AND event_kind IN ('CRIME_RECORDED', 'SUPPORT_PROVIDED')");
        let keys = Keys::Texts;
        for (column, condition, values) in [
            ("record_id", LIVE_RECORD, Keys::Ids(&unknown)),
            ("police_ref_pseudonym", LIVE_RECORD, keys(&self.cases)),
            (
                "victim_pseudonym",
                live_of_victim.as_str(),
                keys(&self.victims),
            ),
            (
                "suspect_pseudonym",
                live_crime.as_str(),
                keys(&self.suspects),
            ),
        ] {
            for (r, _) in fact_rows(conn, column, condition, values).await? {
                loaded.insert(r.record_id, r);
            }
        }
        Ok(loaded)
    }
}

/// Loaded records indexed by every key an entity can name, so matching is linear in the
/// records, not entities × records (the profile showed the nested scan). Each list is in
/// record-id order, as the scan over the loaded records gives them.
struct Index<'a> {
    loaded: &'a BTreeMap<i64, FactRecord>,
    by_case: HashMap<&'a str, Vec<&'a FactRecord>>,
    by_victim: HashMap<&'a str, Vec<&'a FactRecord>>,
    by_suspect: HashMap<&'a str, Vec<&'a FactRecord>>,
}

impl<'a> Index<'a> {
    /// Indexes the loaded records.
    fn of(loaded: &'a BTreeMap<i64, FactRecord>) -> Index<'a> {
        let mut index = Index {
            loaded,
            by_case: HashMap::new(),
            by_victim: HashMap::new(),
            by_suspect: HashMap::new(),
        };
        for r in loaded.values() {
            // As `entities_of` assigns records to cases: a protective order or a referral that
            // carries the police reference is not part of the case's journey.
            if let Some(c) = &r.case_ref
                && vawg_domain::aggregate::in_case(r.kind())
            {
                index.by_case.entry(c).or_default().push(r);
            }
            if let Some(v) = &r.victim
                && vawg_domain::aggregate::in_victim(r.kind())
            {
                index.by_victim.entry(v).or_default().push(r);
            }
            if r.kind() == pb::EventKind::CrimeRecorded
                && let Some(s) = &r.suspect
            {
                index.by_suspect.entry(s).or_default().push(r);
            }
        }
        index
    }

    /// The records of one entity, in record-id order.
    fn records_of(&self, entity: &EntityKey) -> Vec<FactRecord> {
        let cloned = |rs: Option<&Vec<&FactRecord>>| -> Vec<FactRecord> {
            rs.map(|rs| rs.iter().map(|r| (*r).clone()).collect())
                .unwrap_or_default()
        };
        match entity {
            EntityKey::Record(id) => self.loaded.get(id).cloned().into_iter().collect(),
            EntityKey::Case(c) => cloned(self.by_case.get(c.as_str())),
            EntityKey::Victim(v) => cloned(self.by_victim.get(v.as_str())),
            EntityKey::Suspect(s) => cloned(self.by_suspect.get(s.as_str())),
        }
    }
}

/// The entities of these records, whatever their state now: an old revision or a retracted
/// record names the entities it contributed to, a current one those it contributes to. Also
/// returns each record as read (`None` when it is not live), for [`refresh`](super::refresh).
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

/// Every live record, as facts (for [`super::recompute_all`]).
pub(super) async fn all_live_facts(store: &crate::Store) -> Result<Vec<FactRecord>, StoreError> {
    let sql = format!("SELECT {FACT_COLUMNS} FROM records WHERE {LIVE_RECORD}");
    let mut records = Vec::new();
    crate::dispatch_pool!(store.pool(), |p| {
        for row in sqlx::query(&sql).fetch_all(p).await? {
            records.extend(fact_record(&row)?);
        }
    });
    Ok(records)
}
