//! The aggregator's model, as pure functions: the metric catalogue, and what each *entity*
//! (a record, a victim/suspect relationship, a case, a victim, a suspect) contributes to the
//! aggregate tables.
//!
//! Aggregates are maintained incrementally: when a record arrives, is superseded or retracted,
//! the store (its aggregator, off the ingest path but before any read) recomputes the
//! contributions of every entity the record belongs to from that entity's current records (a
//! handful), subtracts the entity's previous contributions and adds the new ones. Queries then read only the aggregate table, whose size depends on the number of
//! distinct (metric, month, area, category, demographics, sub-type) combinations, not on the
//! number of records. A full recomputation from raw records gives the same table (tested).
//!
//! Victim scope is not part of the key: it is a filter on sex and age band at query time. The
//! counting rule is three counters on every crime contribution (all offences, principal crime,
//! principal plus course of conduct).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use crate::{
    counting::{self, CountingRule, Offence},
    pb::{self, EventKind, vawg_record::Event},
};

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
    /// The hub's record id.
    pub record_id: i64,
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

/// An entity whose contributions are recomputed together.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKey {
    /// One record: single-record metrics (orders, referrals, support, homicides…).
    Record(i64),
    /// A victim/suspect relationship: recorded crimes under the counting rules.
    Relationship {
        /// Victim pseudonym.
        victim: String,
        /// Suspect pseudonym.
        suspect: String,
    },
    /// A case (police crime reference pseudonym): the justice journey.
    Case(String),
    /// A victim: repeat victimisation.
    Victim(String),
    /// A suspect: perpetrators with several victims or force areas.
    Suspect(String),
}

impl EntityKey {
    /// A stable text form, stored beside contributions.
    pub fn as_text(&self) -> String {
        match self {
            EntityKey::Record(id) => format!("rec:{id}"),
            EntityKey::Relationship { victim, suspect } => format!("rel:{victim}|{suspect}"),
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
            | EventKind::CpsReferral
            | EventKind::ChargingDecision
            | EventKind::ProsecutionOutcome
            | EventKind::CourtOutcome
            | EventKind::VictimWithdrawal
    )
}

/// The entities a record belongs to. A crime without a known suspect is a relationship of its
/// own (the principal crime rule cannot join it to anything).
pub fn entities_of(r: &FactRecord) -> Vec<EntityKey> {
    let mut keys = vec![EntityKey::Record(r.record_id)];
    if r.kind() == EventKind::CrimeRecorded {
        if let Some(victim) = &r.victim {
            let suspect = r
                .suspect
                .clone()
                .unwrap_or_else(|| format!("unknown:{}", r.record_id));
            keys.push(EntityKey::Relationship {
                victim: victim.clone(),
                suspect,
            });
            keys.push(EntityKey::Victim(victim.clone()));
        }
        if let Some(s) = &r.suspect {
            keys.push(EntityKey::Suspect(s.clone()));
        }
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

/// The counters of a contribution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FactValue {
    /// Counted under ALL_OFFENCES (and the count for metrics without counting rules).
    pub n_all: i64,
    /// Counted under PRINCIPAL_CRIME.
    pub n_principal: i64,
    /// Counted under PRINCIPAL_PLUS_COURSE_OF_CONDUCT.
    pub n_principal_coc: i64,
    /// A summed amount (pence for funding).
    pub amount: i64,
}

impl FactValue {
    fn count(n: i64) -> Self {
        FactValue {
            n_all: n,
            n_principal: n,
            n_principal_coc: n,
            amount: 0,
        }
    }

    /// The count under a counting rule.
    pub fn under(&self, rule: CountingRule) -> i64 {
        match rule {
            CountingRule::AllOffences => self.n_all,
            CountingRule::PrincipalCrime => self.n_principal,
            CountingRule::PrincipalPlusCourseOfConduct => self.n_principal_coc,
        }
    }

    /// Adds another value.
    pub fn add(&mut self, other: &FactValue, sign: i64) {
        self.n_all += sign * other.n_all;
        self.n_principal += sign * other.n_principal;
        self.n_principal_coc += sign * other.n_principal_coc;
        self.amount += sign * other.amount;
    }

    /// Whether every counter is zero.
    pub fn is_zero(&self) -> bool {
        *self == FactValue::default()
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

/// What `entity` contributes, given its current (non-retracted, latest-revision) records.
pub fn contributions(entity: &EntityKey, records: &[FactRecord]) -> Contributions {
    let mut out = Contributions::new();
    match entity {
        EntityKey::Record(id) => {
            if let Some(r) = records.iter().find(|r| r.record_id == *id) {
                record_contributions(r, &mut out);
            }
        }
        EntityKey::Relationship { .. } => relationship_contributions(records, &mut out),
        EntityKey::Case(_) => case_contributions(records, &mut out),
        EntityKey::Victim(_) => victim_contributions(records, &mut out),
        EntityKey::Suspect(_) => suspect_contributions(records, &mut out),
    }
    out.retain(|_, v| !v.is_zero());
    out
}

fn record_contributions(r: &FactRecord, out: &mut Contributions) {
    let d = r.event_date;
    let one = FactValue::count(1);
    match &r.event {
        Event::CpsReferral(_) => put(out, key("cps_referrals", r, d, "", 0), one),
        Event::ChargingDecision(c) => {
            if c.decision() == pb::ChargeDecision::Charge {
                put(
                    out,
                    key("charges", r, d, c.decision_maker().as_str_name(), 0),
                    one,
                );
            }
        }
        Event::ProsecutionOutcome(p) => {
            let result = p.result();
            put(out, key("prosecutions", r, d, result.as_str_name(), 0), one);
            put(out, key("conviction_rate:den", r, d, "", 0), one);
            if is_conviction(result) {
                put(out, key("convictions", r, d, result.as_str_name(), 0), one);
                put(out, key("conviction_rate:num", r, d, "", 0), one);
            }
        }
        Event::ProtectiveOrder(o) => {
            if o.decision() == pb::OrderDecision::Granted {
                put(
                    out,
                    key("protective_orders", r, d, o.order_type().as_str_name(), 0),
                    one,
                );
            }
        }
        Event::VictimWithdrawal(w) => put(
            out,
            key("victim_withdrawals", r, d, w.stage().as_str_name(), 0),
            one,
        ),
        Event::MaracReferral(m) => put(
            out,
            key(
                "marac_referrals",
                r,
                d,
                m.referring_agency().as_str_name(),
                0,
            ),
            one,
        ),
        Event::SupportReferral(s) => put(
            out,
            key("support_referrals", r, d, s.service_type().as_str_name(), 0),
            one,
        ),
        Event::SupportProvided(s) => put(
            out,
            key("people_supported", r, d, s.service_type().as_str_name(), 0),
            one,
        ),
        Event::UnableToSupport(u) => put(
            out,
            key("unable_to_support", r, d, u.reason().as_str_name(), 0),
            one,
        ),
        Event::HealthDisclosure(h) => put(
            out,
            key("health_disclosures", r, d, h.setting().as_str_name(), 0),
            one,
        ),
        Event::EncompassNotification(_) => {
            put(out, key("encompass_notifications", r, d, "", 0), one)
        }
        Event::DomesticHomicide(h) => put(
            out,
            key(
                "domestic_homicides",
                r,
                d,
                h.homicide_type().as_str_name(),
                0,
            ),
            one,
        ),
        Event::VictimSatisfaction(s) => {
            let stage = s.stage().as_str_name();
            put(out, key("victim_satisfaction:den", r, d, stage, 0), one);
            if matches!(
                s.level(),
                pb::SatisfactionLevel::Satisfied | pb::SatisfactionLevel::VerySatisfied
            ) {
                put(out, key("victim_satisfaction:num", r, d, stage, 0), one);
            }
        }
        Event::FundingReturn(f) => put(
            out,
            key("support_funding", r, d, f.service_type().as_str_name(), 0),
            FactValue {
                amount: f.amount_pence as i64,
                ..FactValue::count(1)
            },
        ),
        Event::CrimeRecorded(_)
        | Event::PoliceOutcome(_)
        | Event::CourtOutcome(_)
        | Event::HealthReferral(_) => {}
    }
}

fn is_conviction(result: pb::ProsecutionResult) -> bool {
    matches!(
        result,
        pb::ProsecutionResult::ConvictionGuiltyPlea
            | pb::ProsecutionResult::ConvictionAfterTrial
            | pb::ProsecutionResult::ConvictionInAbsence
    )
}

fn crimes(records: &[FactRecord]) -> Vec<&FactRecord> {
    let mut c: Vec<&FactRecord> = records
        .iter()
        .filter(|r| r.kind() == EventKind::CrimeRecorded)
        .collect();
    c.sort_by_key(|r| (r.event_date, r.record_id));
    c
}

fn relationship_contributions(records: &[FactRecord], out: &mut Contributions) {
    let crimes = crimes(records);
    let offences: Vec<Offence> = crimes
        .iter()
        .map(|r| Offence {
            id: format!("{:020}", r.record_id),
            victim: r.victim.clone().unwrap_or_default(),
            suspect: r.suspect.clone(),
            category: r.category.clone(),
            harm_rank: r.harm_rank,
            course_of_conduct: r.course_of_conduct,
            event_date: r.event_date,
        })
        .collect();
    let principal: Vec<&str> = counting::counted(&offences, CountingRule::PrincipalCrime)
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    let with_coc: Vec<&str> =
        counting::counted(&offences, CountingRule::PrincipalPlusCourseOfConduct)
            .iter()
            .map(|o| o.id.as_str())
            .collect();
    for (r, o) in crimes.iter().zip(&offences) {
        let v = FactValue {
            n_all: 1,
            n_principal: principal.contains(&o.id.as_str()) as i64,
            n_principal_coc: with_coc.contains(&o.id.as_str()) as i64,
            amount: 0,
        };
        put(out, key("recorded_crimes", r, r.event_date, "", 0), v);
    }
}

/// The justice journey of one case, from its records.
struct Journey<'a> {
    crime: Option<&'a FactRecord>,
    referred: Option<NaiveDate>,
    charged: Option<NaiveDate>,
    prosecuted: bool,
    convicted: bool,
    withdrawn: [bool; 3],
}

fn journey(records: &[FactRecord]) -> Journey<'_> {
    let mut j = Journey {
        crime: crimes(records).first().copied(),
        referred: None,
        charged: None,
        prosecuted: false,
        convicted: false,
        withdrawn: [false; 3],
    };
    let earliest = |slot: &mut Option<NaiveDate>, d: NaiveDate| {
        if slot.is_none_or(|s| d < s) {
            *slot = Some(d);
        }
    };
    for r in records {
        match &r.event {
            Event::CpsReferral(_) => earliest(&mut j.referred, r.event_date),
            Event::ChargingDecision(c) if c.decision() == pb::ChargeDecision::Charge => {
                earliest(&mut j.charged, r.event_date)
            }
            Event::ProsecutionOutcome(p) => {
                j.prosecuted = true;
                j.convicted |= is_conviction(p.result());
            }
            Event::CourtOutcome(c) => {
                j.prosecuted = true;
                j.convicted |= c.verdict() == pb::CourtVerdict::Convicted;
            }
            Event::VictimWithdrawal(w) => match w.stage() {
                pb::WithdrawalStage::Police => j.withdrawn[0] = true,
                pb::WithdrawalStage::Cps => j.withdrawn[1] = true,
                pb::WithdrawalStage::Court => j.withdrawn[2] = true,
                pb::WithdrawalStage::Unspecified => {}
            },
            _ => {}
        }
    }
    j
}

/// Funnel stage names, in order.
pub const FUNNEL_STAGES: [&str; 5] = [
    "1_recorded",
    "2_referred",
    "3_charged",
    "4_prosecuted",
    "5_convicted",
];
/// Withdrawal stages for the withdrawal rate, in order.
pub const WITHDRAWAL_STAGES: [&str; 3] = [
    "WITHDRAWAL_STAGE_POLICE",
    "WITHDRAWAL_STAGE_CPS",
    "WITHDRAWAL_STAGE_COURT",
];

fn case_contributions(records: &[FactRecord], out: &mut Contributions) {
    let j = journey(records);
    let one = FactValue::count(1);
    // Dimensions come from the crime when the hub holds it, else from the earliest record.
    let Some(anchor) = j
        .crime
        .or_else(|| records.iter().min_by_key(|r| (r.event_date, r.record_id)))
    else {
        return;
    };
    if let Some(crime) = j.crime {
        let d = crime.event_date;
        let reached = [
            true,
            j.referred.is_some(),
            j.charged.is_some(),
            j.prosecuted,
            j.convicted,
        ];
        for (stage, reached) in FUNNEL_STAGES.iter().zip(reached) {
            if reached {
                put(out, key("attrition_funnel", crime, d, stage, 0), one);
            }
        }
        put(
            out,
            key("withdrawal_rate:den", crime, d, WITHDRAWAL_STAGES[0], 0),
            one,
        );
        if j.withdrawn[0] {
            put(
                out,
                key("withdrawal_rate:num", crime, d, WITHDRAWAL_STAGES[0], 0),
                one,
            );
        }
    }
    if let Some(referred) = j.referred {
        put(out, key("charge_rate:den", anchor, referred, "", 0), one);
        put(
            out,
            key(
                "withdrawal_rate:den",
                anchor,
                referred,
                WITHDRAWAL_STAGES[1],
                0,
            ),
            one,
        );
        if j.withdrawn[1] {
            put(
                out,
                key(
                    "withdrawal_rate:num",
                    anchor,
                    referred,
                    WITHDRAWAL_STAGES[1],
                    0,
                ),
                one,
            );
        }
        if let Some(charged) = j.charged {
            put(out, key("charge_rate:num", anchor, referred, "", 0), one);
            let days = (charged - referred).num_days().max(0);
            put(
                out,
                key("referral_to_charge_days", anchor, charged, "", days),
                one,
            );
        }
    }
    if let Some(charged) = j.charged {
        put(
            out,
            key(
                "withdrawal_rate:den",
                anchor,
                charged,
                WITHDRAWAL_STAGES[2],
                0,
            ),
            one,
        );
        if j.withdrawn[2] {
            put(
                out,
                key(
                    "withdrawal_rate:num",
                    anchor,
                    charged,
                    WITHDRAWAL_STAGES[2],
                    0,
                ),
                one,
            );
        }
    }
}

fn victim_contributions(records: &[FactRecord], out: &mut Contributions) {
    let crimes = crimes(records);
    for (i, r) in crimes.iter().enumerate() {
        let repeat = crimes[..i]
            .iter()
            .any(|p| (r.event_date - p.event_date).num_days() <= 365);
        if repeat {
            put(
                out,
                key("repeat_victimisations", r, r.event_date, "", 0),
                FactValue::count(1),
            );
        }
    }
}

fn suspect_contributions(records: &[FactRecord], out: &mut Contributions) {
    let crimes = crimes(records);
    let mut victims: Vec<&str> = Vec::new();
    let mut areas: Vec<&str> = Vec::new();
    // Counted once, in the month the suspect first became linked to a second victim (or
    // force area), with that crime's dimensions.
    let (mut multi_victim, mut multi_area) = (false, false);
    for r in crimes {
        if let Some(v) = r.victim.as_deref()
            && !victims.contains(&v)
        {
            victims.push(v);
            if victims.len() == 2 && !multi_victim {
                multi_victim = true;
                put(
                    out,
                    key(
                        "perpetrators_multiple",
                        r,
                        r.event_date,
                        "MULTIPLE_VICTIMS",
                        0,
                    ),
                    FactValue::count(1),
                );
            }
        }
        if !areas.contains(&r.area_code.as_str()) {
            areas.push(&r.area_code);
            if areas.len() == 2 && !multi_area {
                multi_area = true;
                put(
                    out,
                    key(
                        "perpetrators_multiple",
                        r,
                        r.event_date,
                        "MULTIPLE_AREAS",
                        0,
                    ),
                    FactValue::count(1),
                );
            }
        }
    }
}

/// How a metric's value is computed from its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Computation {
    /// A count of the series.
    Count,
    /// A sum of amounts.
    Amount,
    /// A proportion: `<id>:num` over `<id>:den`.
    Proportion,
    /// A distribution of days (mean, median, p90) of the series' buckets.
    Days,
}

/// A metric in the catalogue.
#[derive(Clone, Debug)]
pub struct MetricDef {
    /// Id.
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// Description.
    pub description: &'static str,
    /// How it is computed.
    pub computation: Computation,
    /// The theory-of-change outcome.
    pub outcome: pb::Outcome,
    /// Data owners.
    pub owners: &'static [pb::AgencyKind],
    /// Event kinds it is computed from.
    pub event_kinds: &'static [EventKind],
    /// Whether the counting rule changes it.
    pub counting_rule_applies: bool,
    /// What the sub-type breakdown means, if it has one.
    pub subtype: Option<&'static str>,
}

use pb::AgencyKind as K;

/// The metric catalogue.
pub const CATALOGUE: &[MetricDef] = &[
    MetricDef {
        id: "recorded_crimes",
        title: "Recorded VAWG crimes",
        description: "Crimes recorded by the police, classified to a VAWG category, under the chosen victim scope and counting rule.",
        computation: Computation::Count,
        outcome: pb::Outcome::Reporting,
        owners: &[K::Police],
        event_kinds: &[EventKind::CrimeRecorded],
        counting_rule_applies: true,
        subtype: None,
    },
    MetricDef {
        id: "repeat_victimisations",
        title: "Repeat victimisations",
        description: "Recorded crimes against a victim who had another recorded crime in the previous 12 months (linked by victim pseudonym across forces).",
        computation: Computation::Count,
        outcome: pb::Outcome::Reporting,
        owners: &[K::Police],
        event_kinds: &[EventKind::CrimeRecorded],
        counting_rule_applies: false,
        subtype: None,
    },
    MetricDef {
        id: "cps_referrals",
        title: "Police referrals to the CPS",
        description: "Files referred by the police to the CPS, by month of referral.",
        computation: Computation::Count,
        outcome: pb::Outcome::Justice,
        owners: &[K::Police, K::Cps],
        event_kinds: &[EventKind::CpsReferral],
        counting_rule_applies: false,
        subtype: None,
    },
    MetricDef {
        id: "charges",
        title: "Charges",
        description: "Charging decisions to charge, by month of decision; sub-type is the decision maker (police or CPS).",
        computation: Computation::Count,
        outcome: pb::Outcome::Justice,
        owners: &[K::Police, K::Cps],
        event_kinds: &[EventKind::ChargingDecision],
        counting_rule_applies: false,
        subtype: Some("decision maker"),
    },
    MetricDef {
        id: "charge_rate",
        title: "Charge rate",
        description: "Of cases referred to the CPS in the period, the proportion charged (linked by case pseudonym).",
        computation: Computation::Proportion,
        outcome: pb::Outcome::Justice,
        owners: &[K::Police, K::Cps],
        event_kinds: &[EventKind::CpsReferral, EventKind::ChargingDecision],
        counting_rule_applies: false,
        subtype: None,
    },
    MetricDef {
        id: "referral_to_charge_days",
        title: "Days from police referral to CPS charge",
        description: "Days from a case's first referral to the CPS to its charge, by month of charge: mean, median and 90th percentile. The NAO reported 158 days for rape against 46 for all crime.",
        computation: Computation::Days,
        outcome: pb::Outcome::Justice,
        owners: &[K::Police, K::Cps],
        event_kinds: &[EventKind::CpsReferral, EventKind::ChargingDecision],
        counting_rule_applies: false,
        subtype: None,
    },
    MetricDef {
        id: "prosecutions",
        title: "Prosecutions completed",
        description: "CPS prosecution outcomes, by month of outcome; sub-type is the result.",
        computation: Computation::Count,
        outcome: pb::Outcome::Justice,
        owners: &[K::Cps],
        event_kinds: &[EventKind::ProsecutionOutcome],
        counting_rule_applies: false,
        subtype: Some("result"),
    },
    MetricDef {
        id: "convictions",
        title: "Convictions",
        description: "CPS prosecution outcomes that were convictions (guilty plea, after trial, in absence).",
        computation: Computation::Count,
        outcome: pb::Outcome::Justice,
        owners: &[K::Cps],
        event_kinds: &[EventKind::ProsecutionOutcome],
        counting_rule_applies: false,
        subtype: Some("result"),
    },
    MetricDef {
        id: "conviction_rate",
        title: "Conviction rate",
        description: "Convictions as a proportion of prosecutions completed.",
        computation: Computation::Proportion,
        outcome: pb::Outcome::Justice,
        owners: &[K::Cps],
        event_kinds: &[EventKind::ProsecutionOutcome],
        counting_rule_applies: false,
        subtype: None,
    },
    MetricDef {
        id: "protective_orders",
        title: "Protective orders granted",
        description: "Protective orders granted, by order type.",
        computation: Computation::Count,
        outcome: pb::Outcome::Protection,
        owners: &[K::Court, K::Police],
        event_kinds: &[EventKind::ProtectiveOrder],
        counting_rule_applies: false,
        subtype: Some("order type"),
    },
    MetricDef {
        id: "victim_withdrawals",
        title: "Victim withdrawals",
        description: "Cases where the victim no longer supports action, by stage (police, CPS, court).",
        computation: Computation::Count,
        outcome: pb::Outcome::VictimEngagement,
        owners: &[K::Police, K::Cps, K::Court],
        event_kinds: &[EventKind::VictimWithdrawal],
        counting_rule_applies: false,
        subtype: Some("stage"),
    },
    MetricDef {
        id: "withdrawal_rate",
        title: "Victim withdrawal rate by stage",
        description: "Of cases reaching a stage (recorded, referred, charged) in the period, the proportion where the victim withdrew support at that stage.",
        computation: Computation::Proportion,
        outcome: pb::Outcome::VictimEngagement,
        owners: &[K::Police, K::Cps, K::Court],
        event_kinds: &[
            EventKind::VictimWithdrawal,
            EventKind::CrimeRecorded,
            EventKind::CpsReferral,
            EventKind::ChargingDecision,
        ],
        counting_rule_applies: false,
        subtype: Some("stage"),
    },
    MetricDef {
        id: "attrition_funnel",
        title: "Attrition funnel",
        description: "Cases recorded in the period (cohort), and how many of them went on to be referred, charged, prosecuted and convicted, linked across police, CPS and courts by case pseudonym.",
        computation: Computation::Count,
        outcome: pb::Outcome::Justice,
        owners: &[K::Police, K::Cps, K::Court],
        event_kinds: &[
            EventKind::CrimeRecorded,
            EventKind::CpsReferral,
            EventKind::ChargingDecision,
            EventKind::ProsecutionOutcome,
            EventKind::CourtOutcome,
        ],
        counting_rule_applies: false,
        subtype: Some("funnel stage"),
    },
    MetricDef {
        id: "domestic_homicides",
        title: "Domestic homicides",
        description: "Domestic homicides recorded by the police, by type.",
        computation: Computation::Count,
        outcome: pb::Outcome::Prevalence,
        owners: &[K::Police],
        event_kinds: &[EventKind::DomesticHomicide],
        counting_rule_applies: false,
        subtype: Some("homicide type"),
    },
    MetricDef {
        id: "support_funding",
        title: "Funding for support services",
        description: "Funding for specialist support services from commissioners' returns, in pence, by service type.",
        computation: Computation::Amount,
        outcome: pb::Outcome::Support,
        owners: &[K::Commissioner, K::LocalAuthority],
        event_kinds: &[EventKind::FundingReturn],
        counting_rule_applies: false,
        subtype: Some("service type"),
    },
    MetricDef {
        id: "support_referrals",
        title: "Referrals to support services",
        description: "Referrals of victims to specialist support services, by service type.",
        computation: Computation::Count,
        outcome: pb::Outcome::Support,
        owners: &[K::SupportService, K::Police, K::Health, K::LocalAuthority],
        event_kinds: &[EventKind::SupportReferral],
        counting_rule_applies: false,
        subtype: Some("service type"),
    },
    MetricDef {
        id: "people_supported",
        title: "People supported",
        description: "Victims supported by specialist services, by service type.",
        computation: Computation::Count,
        outcome: pb::Outcome::Support,
        owners: &[K::SupportService],
        event_kinds: &[EventKind::SupportProvided],
        counting_rule_applies: false,
        subtype: Some("service type"),
    },
    MetricDef {
        id: "unable_to_support",
        title: "Unable to support (unmet need)",
        description: "Referred victims a service was unable to support, by reason (capacity, eligibility, no recourse to public funds…).",
        computation: Computation::Count,
        outcome: pb::Outcome::Support,
        owners: &[K::SupportService],
        event_kinds: &[EventKind::UnableToSupport],
        counting_rule_applies: false,
        subtype: Some("reason"),
    },
    MetricDef {
        id: "victim_satisfaction",
        title: "Victim satisfaction",
        description: "Proportion of survey respondents fairly or very satisfied, by stage (police, court, support).",
        computation: Computation::Proportion,
        outcome: pb::Outcome::Support,
        owners: &[K::Police, K::Court, K::SupportService],
        event_kinds: &[EventKind::VictimSatisfaction],
        counting_rule_applies: false,
        subtype: Some("stage"),
    },
    MetricDef {
        id: "marac_referrals",
        title: "MARAC referrals by referring agency",
        description: "Referrals to multi-agency risk assessment conferences, by referring agency (health split into primary care, secondary care and mental health).",
        computation: Computation::Count,
        outcome: pb::Outcome::MultiAgency,
        owners: &[
            K::Police,
            K::Health,
            K::LocalAuthority,
            K::SupportService,
            K::Marac,
        ],
        event_kinds: &[EventKind::MaracReferral],
        counting_rule_applies: false,
        subtype: Some("referring agency"),
    },
    MetricDef {
        id: "encompass_notifications",
        title: "Operation Encompass notifications",
        description: "Notifications from the police to schools that a pupil was exposed to a domestic abuse incident.",
        computation: Computation::Count,
        outcome: pb::Outcome::MultiAgency,
        owners: &[K::Police],
        event_kinds: &[EventKind::EncompassNotification],
        counting_rule_applies: false,
        subtype: None,
    },
    MetricDef {
        id: "health_disclosures",
        title: "Disclosures in health settings",
        description: "Disclosures of abuse in health settings, by setting.",
        computation: Computation::Count,
        outcome: pb::Outcome::MultiAgency,
        owners: &[K::Health],
        event_kinds: &[EventKind::HealthDisclosure],
        counting_rule_applies: false,
        subtype: Some("setting"),
    },
    MetricDef {
        id: "perpetrators_multiple",
        title: "Suspects linked to several victims or force areas",
        description: "Suspects linked (by suspect pseudonym) to more than one victim, or to crimes in more than one force area; counted once each, in the month the second link appeared.",
        computation: Computation::Count,
        outcome: pb::Outcome::Perpetrators,
        owners: &[K::Police],
        event_kinds: &[EventKind::CrimeRecorded],
        counting_rule_applies: false,
        subtype: Some("link"),
    },
];

/// A metric by id.
pub fn metric(id: &str) -> Option<&'static MetricDef> {
    CATALOGUE.iter().find(|m| m.id == id)
}

/// The series a metric reads.
pub fn series_of(def: &MetricDef) -> Vec<String> {
    match def.computation {
        Computation::Proportion => vec![format!("{}:num", def.id), format!("{}:den", def.id)],
        _ => vec![def.id.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn rec(id: i64, event: Event, d: &str) -> FactRecord {
        FactRecord {
            record_id: id,
            category: "domestic_abuse".into(),
            harm_rank: 7,
            course_of_conduct: false,
            event_date: date(d),
            area_code: "E23000001".into(),
            victim: Some("v1".into()),
            suspect: Some("s1".into()),
            case_ref: Some("c1".into()),
            demographics: pb::Demographics {
                sex: pb::Sex::Female as i32,
                age_at_event: Some(30),
                ..Default::default()
            },
            event,
        }
    }

    fn total(c: &Contributions, series: &str) -> FactValue {
        let mut v = FactValue::default();
        for (k, x) in c {
            if k.series == series {
                v.add(x, 1);
            }
        }
        v
    }

    #[test]
    fn a_case_journey_links_referral_charge_and_conviction() {
        let records = vec![
            rec(1, Event::CrimeRecorded(Default::default()), "2025-01-10"),
            rec(2, Event::CpsReferral(Default::default()), "2025-02-01"),
            rec(
                3,
                Event::ChargingDecision(pb::ChargingDecision {
                    decision: pb::ChargeDecision::Charge as i32,
                    decision_maker: pb::DecisionMaker::Cps as i32,
                }),
                "2025-03-18",
            ),
            rec(
                4,
                Event::ProsecutionOutcome(pb::ProsecutionOutcome {
                    result: pb::ProsecutionResult::ConvictionAfterTrial as i32,
                }),
                "2025-09-01",
            ),
        ];
        let c = contributions(&EntityKey::Case("c1".into()), &records);
        assert_eq!(total(&c, "attrition_funnel").n_all, 5);
        assert_eq!(total(&c, "charge_rate:num").n_all, 1);
        let days: Vec<_> = c
            .keys()
            .filter(|k| k.series == "referral_to_charge_days")
            .collect();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].bucket, 45);
        assert_eq!(days[0].month, "2025-03");
    }

    #[test]
    fn relationship_counts_follow_the_counting_rules() {
        let mut rape = rec(1, Event::CrimeRecorded(Default::default()), "2025-01-10");
        rape.category = "rape".into();
        rape.harm_rank = 2;
        let mut stalking = rec(2, Event::CrimeRecorded(Default::default()), "2025-01-12");
        stalking.category = "stalking".into();
        stalking.harm_rank = 5;
        stalking.course_of_conduct = true;
        let mut harassment = rec(3, Event::CrimeRecorded(Default::default()), "2025-01-13");
        harassment.category = "harassment".into();
        harassment.harm_rank = 11;
        harassment.course_of_conduct = true;
        let c = contributions(
            &EntityKey::Relationship {
                victim: "v1".into(),
                suspect: "s1".into(),
            },
            &[rape, stalking, harassment],
        );
        let v = total(&c, "recorded_crimes");
        assert_eq!((v.n_all, v.n_principal, v.n_principal_coc), (3, 1, 2));
    }

    #[test]
    fn repeat_victims_need_a_crime_in_the_previous_twelve_months() {
        let records = vec![
            rec(1, Event::CrimeRecorded(Default::default()), "2024-01-01"),
            rec(2, Event::CrimeRecorded(Default::default()), "2024-06-01"),
            rec(3, Event::CrimeRecorded(Default::default()), "2025-12-01"),
        ];
        let c = contributions(&EntityKey::Victim("v1".into()), &records);
        assert_eq!(total(&c, "repeat_victimisations").n_all, 1);
    }

    #[test]
    fn every_catalogue_series_is_produced_by_some_event() {
        for m in CATALOGUE {
            assert!(!m.event_kinds.is_empty(), "{}", m.id);
            assert!(metric(m.id).is_some());
        }
        let ids: std::collections::BTreeSet<_> = CATALOGUE.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), CATALOGUE.len(), "metric ids are unique");
    }

    mod incremental {
        use std::collections::{BTreeMap, BTreeSet};

        use proptest::prelude::*;

        use super::*;

        /// Applies changes one at a time as the store does (refresh the entities a record
        /// belonged to before and after), and compares with a full recomputation.
        fn recompute(live: &BTreeMap<i64, FactRecord>) -> BTreeMap<FactKey, FactValue> {
            let mut by_entity: BTreeMap<EntityKey, Vec<FactRecord>> = BTreeMap::new();
            for r in live.values() {
                for e in entities_of(r) {
                    by_entity.entry(e).or_default().push(r.clone());
                }
            }
            let mut out: BTreeMap<FactKey, FactValue> = BTreeMap::new();
            for (e, rs) in by_entity {
                for (k, v) in contributions(&e, &rs) {
                    out.entry(k).or_default().add(&v, 1);
                }
            }
            out.retain(|_, v| !v.is_zero());
            out
        }

        fn arb_record(id: i64) -> impl Strategy<Value = FactRecord> {
            (
                0..4usize,
                0..3usize,
                0..3usize,
                0..5usize,
                0..400i64,
                0..6usize,
            )
                .prop_map(move |(v, s, c, kind, day, cat)| {
                    let cats = [
                        ("rape", 2, false),
                        ("stalking", 5, true),
                        ("harassment", 11, true),
                        ("domestic_abuse", 7, false),
                        ("controlling_or_coercive_behaviour", 9, true),
                        ("other_sexual_offences", 4, false),
                    ];
                    let (category, rank, coc) = cats[cat];
                    let event = match kind {
                        0 | 1 => Event::CrimeRecorded(Default::default()),
                        2 => Event::CpsReferral(Default::default()),
                        3 => Event::ChargingDecision(pb::ChargingDecision {
                            decision: pb::ChargeDecision::Charge as i32,
                            decision_maker: pb::DecisionMaker::Cps as i32,
                        }),
                        _ => Event::VictimWithdrawal(pb::VictimWithdrawal {
                            stage: pb::WithdrawalStage::Cps as i32,
                            case_ended: true,
                        }),
                    };
                    FactRecord {
                        record_id: id,
                        category: category.into(),
                        harm_rank: rank,
                        course_of_conduct: coc,
                        event_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                            + chrono::Duration::days(day),
                        area_code: if v % 2 == 0 {
                            "E23000001".into()
                        } else {
                            "E23000002".into()
                        },
                        victim: Some(format!("v{v}")),
                        suspect: (s > 0).then(|| format!("s{s}")),
                        case_ref: Some(format!("c{c}")),
                        demographics: pb::Demographics {
                            sex: (1 + v as i32 % 2),
                            age_at_event: Some(14 + v as u32 * 10),
                            ..Default::default()
                        },
                        event,
                    }
                })
        }

        #[derive(Debug, Clone)]
        enum Change {
            Put(usize, Box<FactRecord>),
            Retract(usize),
        }

        fn arb_changes() -> impl Strategy<Value = Vec<Change>> {
            proptest::collection::vec((0..8usize, any::<bool>(), arb_record(0)), 1..25).prop_map(
                |v| {
                    v.into_iter()
                        .map(|(slot, retract, r)| {
                            if retract && slot % 3 == 0 {
                                Change::Retract(slot)
                            } else {
                                Change::Put(slot, Box::new(r))
                            }
                        })
                        .collect()
                },
            )
        }

        proptest! {
            #[test]
            fn incremental_refresh_equals_full_recomputation(changes in arb_changes()) {
                let mut live: BTreeMap<i64, FactRecord> = BTreeMap::new();
                let mut slot_ids: BTreeMap<usize, i64> = BTreeMap::new();
                let mut stored: BTreeMap<EntityKey, Contributions> = BTreeMap::new();
                let mut table: BTreeMap<FactKey, FactValue> = BTreeMap::new();
                let mut next_id = 1;
                for change in changes {
                    let slot = match &change { Change::Put(s, _) | Change::Retract(s) => *s };
                    let mut touched: BTreeSet<EntityKey> = BTreeSet::new();
                    if let Some(id) = slot_ids.get(&slot) && let Some(old) = live.get(id) {
                        touched.extend(entities_of(old));
                    }
                    match change {
                        Change::Put(_, r) => {
                            let mut r = *r;
                            // A new revision gets a new record id, as the store does.
                            if let Some(id) = slot_ids.remove(&slot) { live.remove(&id); }
                            r.record_id = next_id;
                            next_id += 1;
                            slot_ids.insert(slot, r.record_id);
                            touched.extend(entities_of(&r));
                            live.insert(r.record_id, r);
                        }
                        Change::Retract(_) => {
                            if let Some(id) = slot_ids.remove(&slot) { live.remove(&id); }
                        }
                    }
                    for e in touched {
                        let records: Vec<FactRecord> = live.values().filter(|r| entities_of(r).contains(&e)).cloned().collect();
                        let new = contributions(&e, &records);
                        let old = stored.remove(&e).unwrap_or_default();
                        for (k, v) in &old { table.entry(k.clone()).or_default().add(v, -1); }
                        for (k, v) in &new { table.entry(k.clone()).or_default().add(v, 1); }
                        stored.insert(e, new);
                    }
                    table.retain(|_, v| !v.is_zero());
                }
                prop_assert_eq!(table, recompute(&live));
            }
        }
    }
}
