//! The aggregator's model, as pure functions: what each *entity* (a record, a victim/suspect
//! relationship, a case, a victim, a suspect) contributes to the aggregate tables, and the metric
//! catalogue that says what those tables can answer.
//!
//! Aggregates are maintained incrementally: when a record arrives, is superseded or retracted,
//! the store (its aggregator, off the ingest path but before any read) recomputes the
//! contributions of every entity the record belongs to from that entity's current records (a
//! handful), subtracts the entity's previous contributions and adds the new ones. Queries then
//! read only the aggregate table, whose size depends on the number of distinct (metric, month,
//! area, category, demographics, sub-type) combinations, not on the number of records. A full
//! recomputation from raw records gives the same table (tested).
//!
//! Victim scope is not part of the key: it is a filter on sex and age band at query time. The
//! counting rule is three counters on every crime contribution (all offences, principal crime,
//! principal plus course of conduct).
//!
//! Every counter has beside it the sum of the cell keys of the units it counts (`k_*`, see
//! [`FactValue`] and the `unit` module), so the metrics service can release each cell with
//! cell-key perturbation ([`crate::cellkey`]): the same cell gets the same noise in every query.
//!
//! The contributions are computed per entity kind, in the private modules `record` (metrics of
//! single events), `case` (the justice journey) and `people` (the counting rules, repeat
//! victims, suspects linked to several victims or areas). Each declares the metrics it computes
//! ([`computed_metrics`]); the [`catalogue`] of metrics is a reviewed data file
//! (`deploy/metrics/catalogue.toml`) validated against them.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use crate::{
    cellkey::{CellKey, KeyedCount},
    counting::CountingRule,
    pb::{self, EventKind, vawg_record::Event},
};

mod case;
pub mod catalogue;
mod people;
pub mod publication;
mod record;
mod unit;

pub use case::{FUNNEL_STAGES, WITHDRAWAL_STAGES};
pub use catalogue::{
    CATALOGUE, Catalogue, CatalogueError, Computation, DEFAULT_CATALOGUE_FILE,
    DEFAULT_CATALOGUE_TOML, MetricDef, metric, series_of,
};
pub use unit::{CELL_KEY_SECRET_MIN_LEN, CellKeySecret, CellKeySecretError, unit_of};

/// Age bands used for breakdowns; the first is the only band under 16.
pub const AGE_BANDS: [&str; 8] = [
    "0-15",
    "16-24",
    "25-34",
    "35-44",
    "45-54",
    "55-64",
    "65+",
    "not_known",
];

/// The age band of an age at event.
pub fn age_band(age: Option<u32>) -> &'static str {
    match age {
        None => "not_known",
        Some(a) if a < 16 => "0-15",
        Some(a) if a < 25 => "16-24",
        Some(a) if a < 35 => "25-34",
        Some(a) if a < 45 => "35-44",
        Some(a) if a < 55 => "45-54",
        Some(a) if a < 65 => "55-64",
        Some(_) => "65+",
    }
}

/// A stored record as the aggregator sees it: pseudonyms, classification, demographics of the
/// victim and the event. Built by the store from the current, non-retracted revision.
#[derive(Clone, Debug, PartialEq)]
pub struct FactRecord {
    /// The hub's record id (new for every revision).
    pub record_id: i64,
    /// The record's stable unit identifier for cell keys, the same for every revision
    /// ([`crate::cellkey::record_unit`] of the agency and the agency's own record id).
    pub unit: String,
    /// Common category id.
    pub category: String,
    /// Harm rank of the category (1 = most harmful).
    pub harm_rank: u32,
    /// Whether the category is a course-of-conduct offence.
    pub course_of_conduct: bool,
    /// Date of the event.
    pub event_date: NaiveDate,
    /// GSS code of the record's area.
    pub area_code: String,
    /// Victim pseudonym.
    pub victim: Option<String>,
    /// Suspect pseudonym.
    pub suspect: Option<String>,
    /// Pseudonym of the police crime reference (links the justice journey).
    pub case_ref: Option<String>,
    /// Pseudonym of the incident (occurrence or report) reference, namespaced by the
    /// submitting agency; `None` for a record without one (its own incident).
    pub incident: Option<String>,
    /// The suspect's sex, age band and ethnic group, where the crime gave them.
    pub suspect_profile: SuspectProfile,
    /// The context class of a context code that was not resolved at ingest (a justice-stage
    /// record: its category then comes from its case's crime, `docs/counting.md` §2.10).
    pub context: Option<String>,
    /// Victim demographics.
    pub demographics: pb::Demographics,
    /// The event.
    pub event: Event,
}

impl FactRecord {
    /// The record's event kind.
    pub fn kind(&self) -> EventKind {
        event_kind(&self.event)
    }
}

pub use crate::policy::event_kind;

/// A suspect as a crime describes them, for breakdowns by suspect: canonical names without
/// their contract prefix (`MALE`, `WHITE`) and an age band, `NOT_KNOWN`/`not_known` when not
/// given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SuspectProfile {
    /// Sex.
    pub sex: String,
    /// Age band at the offence.
    pub age_band: String,
    /// Ethnic group.
    pub ethnic_group: String,
}

/// The metrics with a profile series (`<id>:profile`): per offence, a cell whose sub-type joins
/// the suspect's sex, age band and ethnic group, the relationship, and the victim's sexual
/// orientation and gender identity ([`PROFILE_PARTS`]), read by the suspect and relationship
/// breakdowns.
pub const PROFILE_METRICS: [&str; 1] = ["recorded_crimes"];

/// The parts of a profile sub-type, in order, as the breakdowns name them.
pub const PROFILE_PARTS: [&str; 6] = [
    "suspect_sex",
    "suspect_age_band",
    "suspect_ethnic_group",
    "relationship",
    "sexual_orientation",
    "gender_identity",
];

/// The profile series of a metric, if it has one.
pub fn profile_series(def: &MetricDef) -> Option<String> {
    PROFILE_METRICS
        .contains(&def.id.as_str())
        .then(|| format!("{}:profile", def.id))
}

/// Puts one counted offence of crime record `first` (its first record): in `recorded_crimes`
/// at cell `k`, and in its profile series, with the profile sub-type of `first`.
fn put_offence(out: &mut Contributions, k: FactKey, first: &FactRecord, v: FactValue) {
    let profile = FactKey {
        series: "recorded_crimes:profile".to_string(),
        subtype: offence_profile(first),
        ..k.clone()
    };
    put(out, k, v);
    put(out, profile, v);
}

/// Part `i` of [`PROFILE_PARTS`] of a profile sub-type.
pub fn profile_part(subtype: &str, i: usize) -> &str {
    subtype.split('|').nth(i).unwrap_or("")
}

/// The profile sub-type of a crime record: its suspect, the relationship, and the victim's
/// sexual orientation and gender identity.
fn offence_profile(r: &FactRecord) -> String {
    let known = |s: &str| {
        if s.is_empty() {
            "NOT_KNOWN".to_string()
        } else {
            s.to_string()
        }
    };
    let relationship = match &r.event {
        Event::CrimeRecorded(c) => c.relationship().as_str_name(),
        _ => "",
    };
    let d = &r.demographics;
    [
        known(&r.suspect_profile.sex),
        if r.suspect_profile.age_band.is_empty() {
            "not_known".to_string()
        } else {
            r.suspect_profile.age_band.clone()
        },
        known(&r.suspect_profile.ethnic_group),
        relationship.trim_start_matches("RELATIONSHIP_").to_string(),
        d.sexual_orientation()
            .as_str_name()
            .trim_start_matches("SEXUAL_ORIENTATION_")
            .to_string(),
        d.gender_identity()
            .as_str_name()
            .trim_start_matches("GENDER_IDENTITY_")
            .to_string(),
    ]
    .join("|")
}

/// An entity whose contributions are recomputed together.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKey {
    /// One record: single-record metrics (orders, referrals, support, homicides…).
    Record(i64),
    /// A case (police crime reference pseudonym): the justice journey.
    Case(String),
    /// A victim: their crimes under every counting rule (the rules pick within the victim's
    /// incidents, or across their history for `ONE_PER_RELATIONSHIP`), repeat victimisation,
    /// and the people supported (distinct people).
    Victim(String),
    /// A suspect: perpetrators with several victims or force areas.
    Suspect(String),
}

impl EntityKey {
    /// A stable text form, stored beside contributions.
    pub fn as_text(&self) -> String {
        match self {
            EntityKey::Record(id) => format!("rec:{id}"),
            EntityKey::Case(c) => format!("case:{c}"),
            EntityKey::Victim(v) => format!("victim:{v}"),
            EntityKey::Suspect(s) => format!("suspect:{s}"),
        }
    }
}

/// Whether records of this kind belong to their case (the justice journey). Other kinds may
/// carry a police crime reference but are counted on their own.
pub fn in_case(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::CrimeRecorded
            | EventKind::PoliceOutcome
            | EventKind::CpsReferral
            | EventKind::ChargingDecision
            | EventKind::ProsecutionOutcome
            | EventKind::CourtOutcome
            | EventKind::VictimWithdrawal
    )
}

/// The metrics whose sub-type is the offence's domestic context (`FLAGGED`,
/// `RELATIONSHIP_ONLY`, `NOT_DOMESTIC`), so `BREAKDOWN_DOMESTIC_ABUSE_RELATED` reads it.
pub const DOMESTIC_CONTEXT_METRICS: [&str; 1] = ["recorded_crimes"];

/// Whether a metric can be broken down by domestic context.
pub fn by_domestic_context(def: &MetricDef) -> bool {
    DOMESTIC_CONTEXT_METRICS.contains(&def.id.as_str())
}

/// Whether records of this kind belong to their victim's entity (crimes, and support given,
/// which is counted per person).
pub fn in_victim(kind: EventKind) -> bool {
    matches!(kind, EventKind::CrimeRecorded | EventKind::SupportProvided)
}

/// The entities a record belongs to. A crime or support record without a victim pseudonym is
/// counted on its own (its record entity): it is its own victim.
pub fn entities_of(r: &FactRecord) -> Vec<EntityKey> {
    let mut keys = vec![EntityKey::Record(r.record_id)];
    if let Some(victim) = &r.victim
        && in_victim(r.kind())
    {
        keys.push(EntityKey::Victim(victim.clone()));
    }
    if r.kind() == EventKind::CrimeRecorded
        && let Some(s) = &r.suspect
    {
        keys.push(EntityKey::Suspect(s.clone()));
    }
    if let Some(case) = &r.case_ref
        && in_case(r.kind())
    {
        keys.push(EntityKey::Case(case.clone()));
    }
    keys
}

/// One row of contribution to the aggregate table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FactKey {
    /// Aggregate series id (a metric id, or `<metric>:num` / `<metric>:den` for proportions).
    pub series: String,
    /// Month, `YYYY-MM`.
    pub month: String,
    /// Area GSS code.
    pub area: String,
    /// Category id.
    pub category: String,
    /// Victim sex (contract enum name).
    pub sex: String,
    /// Victim age band.
    pub age_band: String,
    /// Victim ethnic group (contract enum name).
    pub ethnic_group: String,
    /// Victim disability (contract enum name).
    pub disability: String,
    /// Victim immigration status (contract enum name; aggregates only).
    pub immigration_status: String,
    /// The metric's own sub-type (order type, stage, reason…), or empty.
    pub subtype: String,
    /// A value bucket for distributions (days), or 0.
    pub bucket: i64,
}

/// The counters of a contribution (or of a cell: the sum of its contributions).
///
/// Each count `n_*` has its key sum `k_*`: the plain sum of the unit keys (`0..=255`) of the
/// units it counts, a unit counted `n` times contributing `n ×` its key. The cell key is the
/// sum modulo 256 ([`FactValue::keyed_under`]); keeping the plain sum makes the keys add and
/// subtract with the counts, through the aggregator's deltas and every roll-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FactValue {
    /// Counted under ALL_OFFENCES (and the count for metrics without counting rules).
    pub n_all: i64,
    /// Counted under PRINCIPAL_CRIME.
    pub n_principal: i64,
    /// Counted under PRINCIPAL_PLUS_COURSE_OF_CONDUCT.
    pub n_principal_coc: i64,
    /// Counted under ONE_PER_RELATIONSHIP.
    pub n_relationship: i64,
    /// A summed amount (pence for funding). Has no key: cell-key perturbation covers counts,
    /// not magnitudes.
    pub amount: i64,
    /// Sum of the unit keys of the units counted in `n_all`.
    pub k_all: i64,
    /// Sum of the unit keys of the units counted in `n_principal`.
    pub k_principal: i64,
    /// Sum of the unit keys of the units counted in `n_principal_coc`.
    pub k_principal_coc: i64,
    /// Sum of the unit keys of the units counted in `n_relationship`.
    pub k_relationship: i64,
}

impl FactValue {
    /// A count of `n` under every rule, without keys (set once the entity is computed).
    fn count(n: i64) -> Self {
        FactValue {
            n_all: n,
            n_principal: n,
            n_principal_coc: n,
            n_relationship: n,
            ..FactValue::default()
        }
    }

    /// The count under a counting rule.
    pub fn under(&self, rule: CountingRule) -> i64 {
        match rule {
            CountingRule::AllOffences => self.n_all,
            CountingRule::PrincipalCrime => self.n_principal,
            CountingRule::PrincipalPlusCourseOfConduct => self.n_principal_coc,
            CountingRule::OnePerRelationship => self.n_relationship,
        }
    }

    /// The key sum under a counting rule (see [`FactValue::under`]).
    pub fn key_sum_under(&self, rule: CountingRule) -> i64 {
        match rule {
            CountingRule::AllOffences => self.k_all,
            CountingRule::PrincipalCrime => self.k_principal,
            CountingRule::PrincipalPlusCourseOfConduct => self.k_principal_coc,
            CountingRule::OnePerRelationship => self.k_relationship,
        }
    }

    /// The count under a counting rule with its cell key (the key sum modulo 256), ready for
    /// [`KeyedCount::perturbed`]. A negative count (never in a stored cell) is taken as 0.
    /// `amount` has no keyed form: magnitudes are not perturbed by the cell-key method.
    pub fn keyed_under(&self, rule: CountingRule) -> KeyedCount {
        KeyedCount {
            count: self.under(rule).max(0) as u64,
            key: CellKey::from_value(self.key_sum_under(rule).rem_euclid(256) as u8),
        }
    }

    /// Adds another value times `sign` (1 to add, -1 to withdraw), keys with counts.
    pub fn add(&mut self, other: &FactValue, sign: i64) {
        self.n_all += sign * other.n_all;
        self.n_principal += sign * other.n_principal;
        self.n_principal_coc += sign * other.n_principal_coc;
        self.n_relationship += sign * other.n_relationship;
        self.amount += sign * other.amount;
        self.k_all += sign * other.k_all;
        self.k_principal += sign * other.k_principal;
        self.k_principal_coc += sign * other.k_principal_coc;
        self.k_relationship += sign * other.k_relationship;
    }

    /// This value with every key sum set to `unit_key ×` its count: what a contribution whose
    /// units all have that key carries.
    pub fn keyed(mut self, unit_key: i64) -> FactValue {
        self.k_all = unit_key * self.n_all;
        self.k_principal = unit_key * self.n_principal;
        self.k_principal_coc = unit_key * self.n_principal_coc;
        self.k_relationship = unit_key * self.n_relationship;
        self
    }

    /// Whether every counter and key sum is zero.
    pub fn is_zero(&self) -> bool {
        *self == FactValue::default()
    }
}

impl std::iter::Sum for FactValue {
    /// The value of a cell made of these (e.g. the rows a grouped read merges).
    fn sum<I: Iterator<Item = FactValue>>(values: I) -> FactValue {
        values.fold(FactValue::default(), |mut total, v| {
            total.add(&v, 1);
            total
        })
    }
}

impl<'a> std::iter::Sum<&'a FactValue> for FactValue {
    /// The value of a cell made of these.
    fn sum<I: Iterator<Item = &'a FactValue>>(values: I) -> FactValue {
        values.copied().sum()
    }
}

/// Contributions of an entity, merged by key.
pub type Contributions = BTreeMap<FactKey, FactValue>;

fn month(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

fn key(series: &str, r: &FactRecord, date: NaiveDate, subtype: &str, bucket: i64) -> FactKey {
    let d = &r.demographics;
    FactKey {
        series: series.to_string(),
        month: month(date),
        area: r.area_code.clone(),
        category: r.category.clone(),
        sex: d.sex().as_str_name().to_string(),
        age_band: age_band(d.age_at_event).to_string(),
        ethnic_group: d.ethnic_group().as_str_name().to_string(),
        disability: d.disability().as_str_name().to_string(),
        immigration_status: d.immigration_status().as_str_name().to_string(),
        subtype: subtype.to_string(),
        bucket,
    }
}

fn put(out: &mut Contributions, k: FactKey, v: FactValue) {
    out.entry(k).or_default().add(&v, 1);
}

/// What `entity` contributes, given its current (non-retracted, latest-revision) records, each
/// value keyed with the key of the entity's unit under `secret` (`k_* = unit_key × n_*`, see
/// [`unit_of`]).
pub fn contributions(
    entity: &EntityKey,
    records: &[FactRecord],
    secret: &CellKeySecret,
) -> Contributions {
    let mut out = Contributions::new();
    match entity {
        EntityKey::Record(id) => {
            if let Some(r) = records.iter().find(|r| r.record_id == *id) {
                record::contributions(r, &mut out);
            }
        }
        EntityKey::Case(_) => {
            case::contributions(records, &mut out);
            out.retain(|_, v| !v.is_zero());
            unit::key(entity, records, secret, &mut out);
            // Records whose context only the case's crime resolves, each keyed as a record.
            for r in case::resolved_through_crime(records) {
                let mut own = Contributions::new();
                record::contributions(&r, &mut own);
                let id = EntityKey::Record(r.record_id);
                unit::key(&id, std::slice::from_ref(&r), secret, &mut own);
                for (k, v) in own {
                    put(&mut out, k, v);
                }
            }
            return out;
        }
        EntityKey::Victim(v) => {
            // Each offence and person counted here carries its own unit's key.
            people::victim_contributions(v, records, secret, &mut out);
            out.retain(|_, v| !v.is_zero());
            return out;
        }
        EntityKey::Suspect(_) => people::suspect_contributions(records, &mut out),
    }
    out.retain(|_, v| !v.is_zero());
    unit::key(entity, records, secret, &mut out);
    out
}

/// How the contribution code computes metric `id` (the shape of the series it emits, see
/// [`series_of`]), or `None` if no code computes it. The catalogue may list only metrics
/// computed here, with the same computation.
pub fn computed(id: &str) -> Option<Computation> {
    computed_metrics().find(|(m, _)| *m == id).map(|(_, c)| c)
}

/// Every metric the contribution code computes, with how: those of single records, of cases,
/// then of victims and suspects.
pub fn computed_metrics() -> impl Iterator<Item = (&'static str, Computation)> {
    record::METRICS
        .iter()
        .chain(&case::METRICS)
        .chain(&people::METRICS)
        .copied()
}

fn is_conviction(result: pb::ProsecutionResult) -> bool {
    matches!(
        result,
        pb::ProsecutionResult::ConvictionGuiltyPlea
            | pb::ProsecutionResult::ConvictionAfterTrial
            | pb::ProsecutionResult::ConvictionInAbsence
    )
}

/// The recorded crimes among `records` that are in scope of the definition (a category, not
/// empty), oldest first (ties by the stable unit, never the hub's record id).
fn crimes(records: &[FactRecord]) -> Vec<&FactRecord> {
    let mut c: Vec<&FactRecord> = records
        .iter()
        .filter(|r| r.kind() == EventKind::CrimeRecorded && !r.category.is_empty())
        .collect();
    c.sort_by(|a, b| (a.event_date, &a.unit).cmp(&(b.event_date, &b.unit)));
    c
}

/// The domestic context of an offence from its crime records (`docs/counting.md` §2.9), the
/// sub-type of `recorded_crimes`: `FLAGGED` when any record carries the force's
/// domestic-abuse flag (the ONS's "domestic abuse-related"); else `RELATIONSHIP_ONLY` when any
/// names a partner, ex-partner or family member; else `NOT_DOMESTIC`.
pub fn domestic_context<'a>(
    crimes: impl IntoIterator<Item = &'a pb::CrimeRecorded>,
) -> &'static str {
    let mut relationship = false;
    for c in crimes {
        if c.domestic_abuse_flag {
            return "FLAGGED";
        }
        relationship |= matches!(
            c.relationship(),
            pb::Relationship::Partner
                | pb::Relationship::ExPartner
                | pb::Relationship::FamilyMember
        );
    }
    if relationship {
        "RELATIONSHIP_ONLY"
    } else {
        "NOT_DOMESTIC"
    }
}

#[cfg(test)]
mod tests;
