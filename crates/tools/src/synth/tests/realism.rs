//! The synthetic data look like police data where the counting rules are concerned: incidents
//! with several offences, repeat incidents, two-suspect crimes, flags and relationships that
//! sometimes disagree, stranger violence out of scope — and so the counting rules differ
//! materially, in the order `docs/counting.md` §2.8 guarantees.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate};
use vawg_domain::{
    counting::{CountingRule, CrimeRecord, offences, picked},
    definition::{CrimeContext, Definition, DefinitionSet},
};
use vawg_proto::pb::{self, vawg_record::Event};

use super::super::{SynthData, generate};

/// A police crime record of the synthetic data, read back.
struct Crime<'a> {
    record: &'a pb::VawgRecord,
    event: &'a pb::CrimeRecorded,
    refs: &'a pb::CaseReferences,
}

impl Crime<'_> {
    fn victim(&self) -> String {
        let v = self
            .record
            .victim
            .as_ref()
            .and_then(|v| v.identifiers.as_ref());
        v.map(|i| i.nhs_number.clone()).unwrap_or_default()
    }

    fn suspect(&self) -> Option<String> {
        let s = self
            .record
            .suspect
            .as_ref()
            .and_then(|s| s.identifiers.as_ref());
        s.map(|i| i.pnc_id.clone())
    }

    fn date(&self) -> NaiveDate {
        let t = self.record.event_time.unwrap();
        DateTime::from_timestamp(t.seconds, 0).unwrap().date_naive()
    }

    fn incident(&self) -> String {
        format!(
            "{}:{}",
            self.record.source_agency_id, self.refs.incident_reference
        )
    }

    fn relationship(&self) -> pb::Relationship {
        self.event.relationship()
    }
}

fn crimes(data: &SynthData) -> Vec<Crime<'_>> {
    data.records
        .iter()
        .filter_map(|r| match &r.event {
            Some(Event::CrimeRecorded(event)) => Some(Crime {
                record: r,
                event,
                refs: r.case_references.as_ref().expect("crimes carry references"),
            }),
            _ => None,
        })
        .collect()
}

/// The crime records in scope of `def`, as the counting rules see them (victims by NHS number,
/// suspects by PNC id, incidents namespaced by the force), and how many were out of scope.
fn counted(crimes: &[Crime<'_>], def: &Definition) -> (Vec<CrimeRecord>, usize) {
    let mut out = Vec::new();
    let mut out_of_scope = 0;
    for c in crimes {
        let class = c.record.classification.as_ref().unwrap();
        let context = CrimeContext::of_crime(c.event);
        let resolved = def
            .classify_in_context(&class.scheme, &class.code, Some("POLICE"), context)
            .unwrap_or_else(|e| panic!("{}: {e}", c.record.source_record_id));
        let Some(category) = resolved.resolution.category else {
            out_of_scope += 1;
            continue;
        };
        out.push(CrimeRecord {
            key: format!(
                "{}/{}",
                c.record.source_agency_id, c.record.source_record_id
            ),
            victim: c.victim(),
            incident: c.incident(),
            crime_ref: Some(c.refs.police_crime_reference.clone()),
            suspect: c.suspect(),
            category: category.id.clone(),
            harm_rank: category.harm_rank,
            course_of_conduct: category.course_of_conduct,
            date: c.date(),
        });
    }
    (out, out_of_scope)
}

/// Offences counted under each rule (in [`CountingRule::ALL`] order) with dates in
/// `from..=to`.
fn counts(records: &[CrimeRecord], from: NaiveDate, to: NaiveDate) -> Vec<usize> {
    let offences = offences(records);
    CountingRule::ALL
        .iter()
        .map(|rule| {
            picked(&offences, *rule)
                .iter()
                .zip(&offences)
                .filter(|(p, o)| **p && (from..=to).contains(&o.date))
                .count()
        })
        .collect()
}

#[test]
fn the_counting_rules_differ_materially_in_the_demo_year() {
    // The demo's data (2,000 journeys, seed 7) and its comparison year, and another seed.
    let defs = DefinitionSet::embedded();
    let def = defs.current();
    assert_eq!(def.version, "vawg-v2");
    let from = NaiveDate::from_ymd_opt(2020, 4, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2021, 3, 31).unwrap();
    for seed in [7, 42] {
        let data = generate(2000, seed);
        let crimes = crimes(&data);
        let (records, out_of_scope) = counted(&crimes, def);
        let n = counts(&records, from, to);
        let [all, principal, plus_course, per_relationship] = n[..] else {
            unreachable!()
        };
        eprintln!(
            "seed {seed}: {} crime records, {out_of_scope} out of scope; 2020-21: \
             all {all}, principal + course of conduct {plus_course}, principal {principal}, \
             one per relationship {per_relationship}",
            crimes.len()
        );
        // At least 4% between each rule and the next, in the guaranteed order.
        let apart = |more: usize, fewer: usize| more as f64 >= fewer as f64 * 1.04;
        assert!(apart(all, plus_course), "{n:?}");
        assert!(apart(plus_course, principal), "{n:?}");
        assert!(apart(principal, per_relationship), "{n:?}");
        // Stranger violence is out of scope under vawg-v2, a few percent of crime records.
        assert!(out_of_scope * 100 > crimes.len() * 3, "{out_of_scope}");
    }
}

#[test]
fn incidents_have_several_offences_and_some_crimes_two_suspects() {
    let data = generate(2000, 7);
    let crimes = crimes(&data);
    let mut by_incident: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut by_crime: BTreeMap<&str, Vec<&Crime<'_>>> = BTreeMap::new();
    for c in &crimes {
        assert!(c.refs.incident_reference.starts_with("INC/"));
        by_incident
            .entry(c.incident())
            .or_default()
            .insert(&c.refs.police_crime_reference);
        by_crime
            .entry(&c.refs.police_crime_reference)
            .or_default()
            .push(c);
    }
    let several = by_incident.values().filter(|c| c.len() > 1).count();
    let share = several as f64 / by_incident.len() as f64;
    assert!(
        (0.15..0.35).contains(&share),
        "incidents with several offences: {share}"
    );
    let two_suspects: Vec<_> = by_crime.values().filter(|r| r.len() == 2).collect();
    let share = two_suspects.len() as f64 / by_crime.len() as f64;
    assert!(
        (0.01..0.08).contains(&share),
        "crimes with two suspects: {share}"
    );
    for records in two_suspects {
        let (a, b) = (records[0], records[1]);
        assert_eq!(a.incident(), b.incident());
        assert_eq!(a.victim(), b.victim());
        assert_ne!(a.suspect(), b.suspect());
    }
    let coercive = crimes.iter().filter(|c| {
        let class = c.record.classification.as_ref().unwrap();
        class.scheme == "LEGISLATION" && class.code == "Serious Crime Act 2015 s76"
    });
    let strangulation = crimes.iter().filter(|c| {
        c.record.classification.as_ref().unwrap().code == "Serious Crime Act 2015 s75A"
    });
    assert!(coercive.count() > 100);
    assert!(strangulation.count() > 50);
}

#[test]
fn victims_report_the_same_suspect_again() {
    let data = generate(2000, 7);
    let crimes = crimes(&data);
    // Incidents of each victim/suspect pair, by date.
    let mut pairs: BTreeMap<(String, String), BTreeMap<String, NaiveDate>> = BTreeMap::new();
    for c in &crimes {
        if let Some(s) = c.suspect() {
            pairs
                .entry((c.victim(), s))
                .or_default()
                .insert(c.incident(), c.date());
        }
    }
    let repeated: Vec<Vec<NaiveDate>> = pairs
        .values()
        .filter(|incidents| incidents.len() > 1)
        .map(|incidents| {
            let mut dates: Vec<NaiveDate> = incidents.values().copied().collect();
            dates.sort();
            dates
        })
        .collect();
    let share = repeated.len() as f64 / pairs.len() as f64;
    assert!(
        (0.1..0.3).contains(&share),
        "relationships reported again: {share}"
    );
    let gaps: Vec<i64> = repeated
        .iter()
        .flat_map(|d| d.windows(2).map(|w| (w[1] - w[0]).num_days()))
        .collect();
    let within_a_year = gaps.iter().filter(|g| **g <= 365).count();
    assert!(
        within_a_year * 10 > gaps.len() * 7,
        "{within_a_year} of {}",
        gaps.len()
    );
    assert!(
        within_a_year < gaps.len(),
        "some repeats come after more than a year"
    );
}

#[test]
fn flags_and_relationships_mostly_agree() {
    let data = generate(2000, 7);
    let crimes = crimes(&data);
    let domestic_relationship = |c: &&Crime<'_>| {
        matches!(
            c.relationship(),
            pb::Relationship::Partner
                | pb::Relationship::ExPartner
                | pb::Relationship::FamilyMember
        )
    };
    let domestic: Vec<&Crime<'_>> = crimes.iter().filter(domestic_relationship).collect();
    let flagged = domestic
        .iter()
        .filter(|c| c.event.domestic_abuse_flag)
        .count();
    let share = flagged as f64 / domestic.len() as f64;
    assert!(
        (0.85..0.97).contains(&share),
        "domestic relationships flagged: {share}"
    );
    let flagged_stranger = crimes
        .iter()
        .filter(|c| c.event.domestic_abuse_flag && c.relationship() == pb::Relationship::Stranger)
        .count();
    assert!(flagged_stranger > 5, "{flagged_stranger}");
    let strangers_and_acquaintances = crimes
        .iter()
        .filter(|c| {
            matches!(
                c.relationship(),
                pb::Relationship::Stranger | pb::Relationship::Acquaintance
            )
        })
        .count();
    assert!(strangers_and_acquaintances * 100 > crimes.len() * 15);
}

#[test]
fn police_outcomes_use_the_home_office_types_with_and_without_a_group() {
    let data = generate(4000, 7);
    let mut types = BTreeSet::new();
    let (mut with_group, mut without) = (0, 0);
    for r in &data.records {
        if let Some(Event::PoliceOutcome(o)) = &r.event {
            types.insert(o.home_office_outcome_type);
            if o.group == 0 {
                without += 1
            } else {
                with_group += 1
            }
        }
    }
    for t in [1, 3, 4, 5, 8, 9, 14, 15, 16, 18, 21, 22] {
        assert!(types.contains(&t), "no outcome {t}: {types:?}");
    }
    assert!(with_group > 0 && without > 0);
}
