use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn day(month: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, month, d).unwrap()
}

/// Harm ranks as in vawg-v2.
fn rank(category: &str) -> (u32, bool) {
    match category {
        "rape" => (2, false),
        "stalking" => (5, true),
        "non_fatal_strangulation" => (7, false),
        "domestic_abuse" => (8, false),
        "controlling_or_coercive_behaviour" => (10, true),
        "harassment" => (12, true),
        other => panic!("{other}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn rec(
    key: &str,
    victim: &str,
    incident: &str,
    crime_ref: Option<&str>,
    suspect: Option<&str>,
    category: &str,
    date: NaiveDate,
) -> CrimeRecord {
    let (harm_rank, course_of_conduct) = rank(category);
    CrimeRecord {
        key: key.into(),
        victim: victim.into(),
        incident: incident.into(),
        crime_ref: crime_ref.map(Into::into),
        suspect: suspect.map(Into::into),
        category: category.into(),
        harm_rank,
        course_of_conduct,
        date,
    }
}

/// How many offences each rule counts, in the order ALL, P+CoC, P, one per relationship.
fn counts(records: &[CrimeRecord]) -> [usize; 4] {
    let o = offences(records);
    [
        CountingRule::AllOffences,
        CountingRule::PrincipalPlusCourseOfConduct,
        CountingRule::PrincipalCrime,
        CountingRule::OnePerRelationship,
    ]
    .map(|rule| picked(&o, rule).iter().filter(|p| **p).count())
}

#[test]
fn twelve_incidents_in_one_relationship_are_twelve_crimes() {
    let records: Vec<CrimeRecord> = (1..=12)
        .map(|m| {
            rec(
                &format!("F1:{m}"),
                "V",
                &format!("I{m}"),
                Some(&format!("C{m}")),
                Some("S"),
                "domestic_abuse",
                day(m, 3),
            )
        })
        .collect();
    assert_eq!(counts(&records), [12, 12, 12, 1]);
}

#[test]
fn two_crimes_in_one_incident_are_one_principal_crime() {
    let records = vec![
        rec(
            "F1:a",
            "V",
            "I1",
            Some("C1"),
            Some("S"),
            "domestic_abuse",
            day(1, 10),
        ),
        rec("F1:b", "V", "I1", Some("C2"), Some("S"), "rape", day(1, 10)),
    ];
    let o = offences(&records);
    let principal = picked(&o, CountingRule::PrincipalCrime);
    let kept: Vec<&str> = o
        .iter()
        .zip(&principal)
        .filter(|(_, p)| **p)
        .map(|(o, _)| o.category.as_str())
        .collect();
    assert_eq!(kept, vec!["rape"]);
    assert_eq!(counts(&records), [2, 1, 1, 1]);
}

#[test]
fn a_crime_with_two_suspects_is_one_offence_under_every_rule() {
    let records = vec![
        rec(
            "F1:a1",
            "V",
            "I1",
            Some("C1"),
            Some("S1"),
            "domestic_abuse",
            day(1, 10),
        ),
        rec(
            "F1:a2",
            "V",
            "I1",
            Some("C1"),
            Some("S2"),
            "domestic_abuse",
            day(1, 10),
        ),
    ];
    let o = offences(&records);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].suspects, BTreeSet::from(["S1".into(), "S2".into()]));
    assert_eq!(counts(&records), [1, 1, 1, 1]);
}

#[test]
fn a_course_of_conduct_is_counted_beside_the_most_serious_other_offence() {
    // Stalking (rank 5, course of conduct) and an assault (rank 8) in one report: 2 under the
    // 2017/18-2023 rule, 1 (stalking) under the principal crime rule.
    let records = vec![
        rec(
            "F1:s",
            "V",
            "I1",
            Some("C1"),
            Some("S"),
            "stalking",
            day(2, 1),
        ),
        rec(
            "F1:h",
            "V",
            "I1",
            Some("C2"),
            Some("S"),
            "harassment",
            day(2, 1),
        ),
        rec(
            "F1:a",
            "V",
            "I1",
            Some("C3"),
            Some("S"),
            "domestic_abuse",
            day(2, 1),
        ),
    ];
    assert_eq!(counts(&records), [3, 2, 1, 1]);
}

#[test]
fn the_worked_example_of_the_counting_document() {
    // docs/counting.md §2.13, the out-of-scope r6 already left out.
    let records = vec![
        rec(
            "F1:r1",
            "V",
            "F1:I1",
            Some("C1"),
            Some("S1"),
            "domestic_abuse",
            day(1, 10),
        ),
        rec(
            "F1:r2",
            "V",
            "F1:I1",
            Some("C1"),
            Some("S2"),
            "domestic_abuse",
            day(1, 10),
        ),
        rec(
            "F1:r3",
            "V",
            "F1:I1",
            Some("C2"),
            Some("S1"),
            "controlling_or_coercive_behaviour",
            day(1, 10),
        ),
        rec(
            "F1:r4",
            "V",
            "F1:I1",
            Some("C3"),
            Some("S1"),
            "non_fatal_strangulation",
            day(1, 10),
        ),
        rec(
            "F1:r5",
            "V",
            "F1:I2",
            Some("C4"),
            Some("S1"),
            "stalking",
            day(3, 5),
        ),
        rec(
            "F2:r7",
            "V",
            "F2:I4",
            Some("C6"),
            Some("S3"),
            "domestic_abuse",
            day(4, 2),
        ),
    ];
    assert_eq!(counts(&records), [5, 4, 3, 2]);
    let o = offences(&records);
    let by_month = |rule| {
        let mut months = [0; 4];
        for (o, p) in o.iter().zip(picked(&o, rule)) {
            if p {
                months[o.date.month0() as usize] += 1;
            }
        }
        months
    };
    use chrono::Datelike;
    assert_eq!(by_month(CountingRule::AllOffences), [3, 0, 1, 1]);
    assert_eq!(
        by_month(CountingRule::PrincipalPlusCourseOfConduct),
        [2, 0, 1, 1]
    );
    assert_eq!(by_month(CountingRule::PrincipalCrime), [1, 0, 1, 1]);
    assert_eq!(by_month(CountingRule::OnePerRelationship), [0, 0, 1, 1]);
}

#[test]
fn unknown_suspects_are_never_joined() {
    let records = vec![
        rec("F1:a", "V", "I1", None, None, "rape", day(1, 1)),
        rec("F1:b", "V", "I2", None, None, "rape", day(2, 1)),
    ];
    assert_eq!(counts(&records), [2, 2, 2, 2]);
}

#[test]
fn ties_break_on_date_then_stable_key_never_on_input_order() {
    let a = rec("F1:b", "V", "I1", None, Some("S"), "rape", day(1, 1));
    let b = rec("F1:a", "V", "I1", None, Some("S"), "rape", day(1, 1));
    for records in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
        let o = offences(&records);
        let p = picked(&o, CountingRule::PrincipalCrime);
        let kept: Vec<&str> = o
            .iter()
            .zip(&p)
            .filter(|(_, p)| **p)
            .map(|(o, _)| o.key.as_str())
            .collect();
        assert_eq!(kept, vec!["F1:a"]);
    }
}

// -------------------------------------------------------------------------------------------
// Properties
// -------------------------------------------------------------------------------------------

const CATEGORIES: [&str; 6] = [
    "rape",
    "stalking",
    "non_fatal_strangulation",
    "domestic_abuse",
    "controlling_or_coercive_behaviour",
    "harassment",
];

/// Records over few victims, incidents, crimes and suspects, so that everything collides.
fn records_strategy() -> impl Strategy<Value = Vec<CrimeRecord>> {
    proptest::collection::vec(
        (
            0..3usize,
            0..4usize,
            proptest::option::of(0..3usize),
            proptest::option::of(0..3usize),
            0..6usize,
            1..28u32,
        ),
        0..14,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (v, inc, c, s, cat, d))| {
                rec(
                    &format!("F1:{i:03}"),
                    &format!("V{v}"),
                    &format!("I{inc}"),
                    c.map(|c| format!("C{c}")).as_deref(),
                    s.map(|s| format!("S{s}")).as_deref(),
                    CATEGORIES[cat],
                    day(1 + inc as u32, d),
                )
            })
            .collect()
    })
}

fn set(o: &[Offence], rule: CountingRule) -> BTreeSet<String> {
    o.iter()
        .zip(picked(o, rule))
        .filter(|(_, p)| *p)
        .map(|(o, _)| o.key.clone())
        .collect()
}

proptest! {
    /// ALL ⊇ P+CoC ⊇ P ⊇ one per relationship, as sets of offences; every rule places an
    /// offence in the same cell, so the counts are ordered cell by cell.
    #[test]
    fn rules_are_ordered_as_sets(records in records_strategy()) {
        let o = offences(&records);
        let all = set(&o, CountingRule::AllOffences);
        let coc = set(&o, CountingRule::PrincipalPlusCourseOfConduct);
        let principal = set(&o, CountingRule::PrincipalCrime);
        let relationship = set(&o, CountingRule::OnePerRelationship);
        prop_assert!(coc.is_subset(&all));
        prop_assert!(principal.is_subset(&coc));
        prop_assert!(relationship.is_subset(&principal));
    }

    /// Under every per-incident rule, records of another incident never change what is counted
    /// of an incident: a past period is stable under later incidents.
    #[test]
    fn past_incidents_are_stable_under_later_ones(records in records_strategy(), later in records_strategy()) {
        let later: Vec<CrimeRecord> = later
            .into_iter()
            .map(|mut r| {
                r.key = format!("F9:{}", r.key);
                r.incident = format!("later-{}", r.incident);
                r.date = r.date.with_year(2026).unwrap();
                r
            })
            .collect();
        let before = offences(&records);
        let mut both = records.clone();
        both.extend(later);
        let after = offences(&both);
        for rule in [CountingRule::AllOffences, CountingRule::PrincipalCrime, CountingRule::PrincipalPlusCourseOfConduct] {
            let earlier: BTreeSet<String> = set(&after, rule)
                .into_iter()
                .filter(|k| !k.starts_with("F9:"))
                .collect();
            prop_assert_eq!(earlier, set(&before, rule), "{:?}", rule);
        }
    }

    /// Every offence is formed from records of one victim and incident, and every record is in
    /// exactly one offence.
    #[test]
    fn offences_partition_the_records(records in records_strategy()) {
        let o = offences(&records);
        let mut seen: Vec<usize> = o.iter().flat_map(|o| o.records.clone()).collect();
        seen.sort();
        prop_assert_eq!(seen, (0..records.len()).collect::<Vec<_>>());
        for off in &o {
            for i in &off.records {
                prop_assert_eq!(&records[*i].victim, &off.victim);
                prop_assert_eq!(&records[*i].incident, &off.incident);
            }
        }
    }
}

use chrono::Datelike;
