//! What the entities linked by pseudonyms contribute: a victim (their crimes under every
//! counting rule, repeat victimisation, and the people supported) and a suspect (linked to
//! several victims or force areas). `docs/counting.md` §2 and §4 specify each.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::{
    CellKeySecret, Computation, Contributions, FactRecord, FactValue, crimes, domestic_context,
    key, put, put_offence,
};
use crate::{
    cellkey::person_unit,
    counting::{self, CountingRule, CrimeRecord},
    pb::{EventKind, vawg_record::Event},
};

/// The metrics computed here, and how.
pub(super) const METRICS: [(&str, Computation); 4] = [
    ("recorded_crimes", Computation::Count),
    ("repeat_victimisations", Computation::Count),
    ("people_supported", Computation::Count),
    ("perpetrators_multiple", Computation::Count),
];

/// Adds what a victim contributes, each value keyed with its own unit (an offence by its
/// first record's stable unit, a person by their pseudonym): their offences under every
/// counting rule, their repeat incidents, and them as a person supported.
pub(super) fn victim_contributions(
    victim: &str,
    records: &[FactRecord],
    secret: &CellKeySecret,
    out: &mut Contributions,
) {
    let crimes = crimes(records);
    let input: Vec<CrimeRecord> = crimes
        .iter()
        .map(|r| CrimeRecord {
            key: r.unit.clone(),
            victim: victim.to_string(),
            incident: match &r.incident {
                Some(i) => format!("incident:{i}"),
                None => format!("own:{}", r.unit),
            },
            crime_ref: r.case_ref.clone(),
            suspect: r.suspect.clone(),
            category: r.category.clone(),
            harm_rank: r.harm_rank,
            course_of_conduct: r.course_of_conduct,
            date: r.event_date,
        })
        .collect();
    let offences = counting::offences(&input);
    let picks: Vec<Vec<bool>> = CountingRule::ALL
        .iter()
        .map(|rule| counting::picked(&offences, *rule))
        .collect();
    let flag = |rule: CountingRule, i: usize| -> i64 {
        let at = CountingRule::ALL
            .iter()
            .position(|r| *r == rule)
            .expect("a rule");
        picks[at][i] as i64
    };
    for (i, o) in offences.iter().enumerate() {
        let first = crimes[o.records[0]];
        let events = o.records.iter().filter_map(|j| match &crimes[*j].event {
            Event::CrimeRecorded(c) => Some(c),
            _ => None,
        });
        let mut k = key(
            "recorded_crimes",
            first,
            o.date,
            domestic_context(events),
            0,
        );
        k.category = o.category.clone();
        let unit = i64::from(secret.unit_key(&o.key));
        let (n_principal, n_coc, n_rel) = (
            flag(CountingRule::PrincipalCrime, i),
            flag(CountingRule::PrincipalPlusCourseOfConduct, i),
            flag(CountingRule::OnePerRelationship, i),
        );
        let v = FactValue {
            n_all: 1,
            n_principal,
            n_principal_coc: n_coc,
            n_relationship: n_rel,
            ..FactValue::default()
        };
        put_offence(out, k, first, v.keyed(unit));
    }
    repeat_incidents(&offences, &picks[1], &crimes, secret, out);
    people_supported(victim, records, secret, out);
}

/// A victim's incidents that followed another of their incidents within the previous 365 days
/// (an earlier date, not the same day): each counted once, at its principal offence's date,
/// category and area, keyed by that offence's unit.
fn repeat_incidents(
    offences: &[counting::Offence],
    principal: &[bool],
    crimes: &[&FactRecord],
    secret: &CellKeySecret,
    out: &mut Contributions,
) {
    let mut incidents: BTreeMap<&str, (NaiveDate, usize)> = BTreeMap::new();
    for (i, o) in offences.iter().enumerate() {
        let e = incidents.entry(&o.incident).or_insert((o.date, i));
        e.0 = e.0.min(o.date);
        if principal[i] {
            e.1 = i;
        }
    }
    let dates: Vec<NaiveDate> = incidents.values().map(|(d, _)| *d).collect();
    for (date, principal) in incidents.values() {
        let repeat = dates
            .iter()
            .any(|d| d < date && (*date - *d).num_days() <= 365);
        if repeat {
            let o = &offences[*principal];
            let mut k = key("repeat_victimisations", crimes[o.records[0]], *date, "", 0);
            k.category = o.category.clone();
            let unit = i64::from(secret.unit_key(&o.key));
            put(out, k, FactValue::count(1).keyed(unit));
        }
    }
}

/// The person once in each financial year in which a specialist service supported them, at
/// their first support of that year (its service type, area and category), keyed by the
/// person: within a financial year, months and quarters add up to distinct people.
fn people_supported(
    victim: &str,
    records: &[FactRecord],
    secret: &CellKeySecret,
    out: &mut Contributions,
) {
    let mut first: BTreeMap<i32, &FactRecord> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.kind() == EventKind::SupportProvided && !r.category.is_empty())
    {
        let d = r.event_date;
        let fy = if d.month() >= 4 {
            d.year()
        } else {
            d.year() - 1
        };
        let e = first.entry(fy).or_insert(r);
        if (r.event_date, &r.unit) < (e.event_date, &e.unit) {
            *e = r;
        }
    }
    let unit = i64::from(secret.unit_key(&person_unit(victim)));
    for r in first.into_values() {
        if let Event::SupportProvided(s) = &r.event {
            let k = key(
                "people_supported",
                r,
                r.event_date,
                s.service_type().as_str_name(),
                0,
            );
            put(out, k, FactValue::count(1).keyed(unit));
        }
    }
}

/// Adds what a suspect contributes: the suspect once, in the month they first became linked to
/// a second victim or to crimes in a second force area, whichever came first; the sub-type says
/// which links hold over all their crimes (`MULTIPLE_VICTIMS`, `MULTIPLE_AREAS`, or
/// `MULTIPLE_VICTIMS_AND_AREAS`), so the sub-types partition the suspects.
pub(super) fn suspect_contributions(records: &[FactRecord], out: &mut Contributions) {
    let crimes = crimes(records);
    let mut victims: Vec<&str> = Vec::new();
    let mut areas: Vec<&str> = Vec::new();
    let mut linked: Option<&FactRecord> = None;
    for r in &crimes {
        if let Some(v) = r.victim.as_deref()
            && !victims.contains(&v)
        {
            victims.push(v);
        }
        if !areas.contains(&r.area_code.as_str()) {
            areas.push(&r.area_code);
        }
        if linked.is_none() && (victims.len() >= 2 || areas.len() >= 2) {
            linked = Some(r);
        }
    }
    let Some(r) = linked else { return };
    let subtype = match (victims.len() >= 2, areas.len() >= 2) {
        (true, true) => "MULTIPLE_VICTIMS_AND_AREAS",
        (true, false) => "MULTIPLE_VICTIMS",
        _ => "MULTIPLE_AREAS",
    };
    put(
        out,
        key("perpetrators_multiple", r, r.event_date, subtype, 0),
        FactValue::count(1),
    );
}
