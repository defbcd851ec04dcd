//! Counting faithful to the Home Office Counting Rules, over gRPC on both backends, with
//! hand-computed expectations (docs/counting.md is the specification): crimes counted per
//! victim per incident, one offence however many suspects, context-aware classification,
//! police-recorded coercive control, persons counted as persons.

use std::collections::BTreeMap;

use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb::{self, vawg_record::Event};

const MET: &str = "E23000001";
const CITY: &str = "E23000002";

fn ts(y: i32, m: u32, d: u32) -> prost_types::Timestamp {
    let t = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    prost_types::Timestamp {
        seconds: t.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp(),
        nanos: 0,
    }
}

fn date(y: i32, m: u32, d: u32) -> pb::Date {
    pb::Date {
        year: y,
        month: m as i32,
        day: d as i32,
    }
}

/// A synthetic person (obviously fake names; letters only, as names are normalised so).
fn person(tag: &str, sex: pb::Sex) -> pb::PersonReference {
    pb::PersonReference {
        identifiers: Some(pb::PersonIdentifiers {
            given_name: format!("Countgiven{tag}"),
            family_name: format!("Countfamily{tag}"),
            date_of_birth: Some(date(1990, 1, 1)),
            ..Default::default()
        }),
        pseudonym: String::new(),
        demographics: Some(pb::Demographics {
            sex: sex as i32,
            age_at_event: Some(35),
            ..Default::default()
        }),
    }
}

/// One record of `agency` in `area`, on 2025-`m`-`d`.
struct R<'a> {
    agency: &'a Agency,
    id: String,
    area: &'static str,
    month: u32,
    scheme: &'static str,
    code: &'static str,
    victim: pb::PersonReference,
    suspect: Option<pb::PersonReference>,
    crime_ref: Option<String>,
    incident: Option<String>,
    event: Event,
}

impl R<'_> {
    fn build(self) -> pb::VawgRecord {
        let unit = match &self.event {
            Event::CrimeRecorded(_) => pb::CountingUnit::Crime,
            _ => pb::CountingUnit::Person,
        };
        pb::VawgRecord {
            source_record_id: self.id,
            revision: 1,
            source_agency_id: self.agency.id.clone(),
            event_time: Some(ts(2025, self.month, 10)),
            recorded_time: Some(ts(2025, self.month, 10)),
            reference_period: Some(pb::ReferencePeriod {
                start: Some(date(2025, self.month, 10)),
                end: Some(date(2025, self.month, 10)),
            }),
            counting_unit: unit as i32,
            area: Some(pb::Area {
                gss_code: self.area.into(),
                level: pb::AreaLevel::PoliceForceArea as i32,
            }),
            classification: Some(pb::LocalClassification {
                scheme: self.scheme.into(),
                code: self.code.into(),
            }),
            victim: Some(self.victim),
            suspect: self.suspect,
            case_references: Some(pb::CaseReferences {
                police_crime_reference: self.crime_ref.unwrap_or_default(),
                incident_reference: self.incident.unwrap_or_default(),
                ..Default::default()
            }),
            event: Some(self.event),
            ..Default::default()
        }
    }
}

fn crime_event(flag: bool, relationship: pb::Relationship) -> Event {
    Event::CrimeRecorded(pb::CrimeRecorded {
        domestic_abuse_flag: flag,
        relationship: relationship as i32,
        online_flag: false,
    })
}

/// A crime by `suspect` against `victim`: crime reference `crime`, incident `incident`.
#[allow(clippy::too_many_arguments)]
fn crime(
    agency: &Agency,
    area: &'static str,
    id: &str,
    month: u32,
    (scheme, code): (&'static str, &'static str),
    (victim, suspect): (&pb::PersonReference, &pb::PersonReference),
    (crime_ref, incident): (&str, &str),
    event: Event,
) -> pb::VawgRecord {
    R {
        agency,
        id: id.into(),
        area,
        month,
        scheme,
        code,
        victim: victim.clone(),
        suspect: Some(suspect.clone()),
        crime_ref: Some(crime_ref.into()),
        incident: Some(incident.into()),
        event,
    }
    .build()
}

async fn submit(agency: &Agency, records: Vec<pb::VawgRecord>) {
    let response = agency
        .ingest()
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .unwrap()
        .into_inner();
    for r in &response.results {
        assert_eq!(
            r.status(),
            pb::RecordStatus::Accepted,
            "{}: {:?}",
            r.source_record_id,
            r.violations
        );
    }
}

/// The exact table (the central team's default) of `metric` over 2025, by `breakdowns`:
/// cell value by the last dimension's value, and the total.
async fn table(
    central: &Agency,
    metric: &str,
    rule: pb::CountingRule,
    breakdowns: &[pb::Breakdown],
) -> (BTreeMap<String, f64>, f64) {
    let t = central
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(pb::MetricQuery {
                metric_id: metric.into(),
                victim_scope: pb::VictimScope::AllVictims as i32,
                counting_rule: rule as i32,
                period: Some(pb::ReferencePeriod {
                    start: Some(date(2025, 1, 1)),
                    end: Some(date(2025, 12, 31)),
                }),
                grain: pb::TimeGrain::WholePeriod as i32,
                area_level: pb::AreaLevel::PoliceForceArea as i32,
                breakdowns: breakdowns.iter().map(|b| *b as i32).collect(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .table
        .unwrap();
    assert_eq!(t.protection(), pb::Protection::ExactNotForRelease);
    let cells = t
        .rows
        .iter()
        .map(|r| {
            (
                r.dimensions.last().unwrap().value.clone(),
                r.cell.unwrap().value,
            )
        })
        .collect();
    let total = t.totals.first().map_or(0.0, |r| r.cell.unwrap().value);
    (cells, total)
}

/// The police records of the fixture (docs/counting.md §2; each case is commented).
fn police_records(met: &Agency, city: &Agency) -> (Vec<pb::VawgRecord>, Vec<pb::VawgRecord>) {
    use pb::Relationship as Rel;
    let ho = |code| ("HO_OFFENCE", code);
    let flagged = || crime_event(true, Rel::Partner);
    let mut m = Vec::new();
    // A: twelve incidents in one relationship, one assault each, a month apart: twelve crimes
    // under every per-incident rule, one under ONE_PER_RELATIONSHIP.
    let (a, sa) = (person("Aa", pb::Sex::Female), person("Asus", pb::Sex::Male));
    for month in 1..=12 {
        let id = format!("a{month}");
        let refs = (format!("CR-{id}"), format!("INC-{id}"));
        m.push(crime(
            met,
            MET,
            &id,
            month,
            ho("8N"),
            (&a, &sa),
            (&refs.0, &refs.1),
            flagged(),
        ));
    }
    // B: one incident, a rape and an assault: two offences, one principal crime (the rape).
    let (b, sb) = (person("Bb", pb::Sex::Female), person("Bsus", pb::Sex::Male));
    m.push(crime(
        met,
        MET,
        "b1",
        3,
        ho("19C"),
        (&b, &sb),
        ("CR-b1", "INC-b"),
        flagged(),
    ));
    m.push(crime(
        met,
        MET,
        "b2",
        3,
        ho("8N"),
        (&b, &sb),
        ("CR-b2", "INC-b"),
        flagged(),
    ));
    // C: one assault by two suspects, sent as two records with one crime reference: one
    // offence under every rule. Not flagged, by a partner: domestic by relationship only.
    let c = person("Cc", pb::Sex::Female);
    let unflagged = || crime_event(false, Rel::Partner);
    for (id, s) in [("c1", "Conesus"), ("c2", "Ctwosus")] {
        let s = person(s, pb::Sex::Male);
        m.push(crime(
            met,
            MET,
            id,
            4,
            ho("8N"),
            (&c, &s),
            ("CR-c", "INC-c"),
            unflagged(),
        ));
    }
    // D: a woman killed by a stranger is not a domestic homicide (out of scope of vawg-v2);
    // an assault by a stranger the force flagged as domestic abuse is in scope (the flag wins).
    let (d, sd) = (person("Dd", pb::Sex::Female), person("Dsus", pb::Sex::Male));
    let stranger = crime_event(false, Rel::Stranger);
    m.push(crime(
        met,
        MET,
        "d1",
        5,
        ho("1"),
        (&d, &sd),
        ("CR-d1", "INC-d1"),
        stranger,
    ));
    let (d2, sd2) = (
        person("Dtwo", pb::Sex::Female),
        person("Dtwosus", pb::Sex::Male),
    );
    let flagged_stranger = crime_event(true, Rel::Stranger);
    m.push(crime(
        met,
        MET,
        "d2",
        6,
        ho("105A"),
        (&d2, &sd2),
        ("CR-d2", "INC-d2"),
        flagged_stranger,
    ));
    // E: police-recorded controlling or coercive behaviour, by legislation, with an assault in
    // the same incident: 2 under PRINCIPAL_PLUS_COURSE_OF_CONDUCT, 1 (the assault) under
    // PRINCIPAL_CRIME.
    let (e, se) = (person("Ee", pb::Sex::Female), person("Esus", pb::Sex::Male));
    let ccb = ("LEGISLATION", "Serious Crime Act 2015 s76");
    m.push(crime(
        met,
        MET,
        "e1",
        7,
        ccb,
        (&e, &se),
        ("CR-e1", "INC-e"),
        flagged(),
    ));
    m.push(crime(
        met,
        MET,
        "e2",
        7,
        ho("8N"),
        (&e, &se),
        ("CR-e2", "INC-e"),
        flagged(),
    ));
    // G: one suspect, a victim in each of two forces: two crimes, one suspect linked to
    // several victims and areas.
    let sg = person("Gsus", pb::Sex::Male);
    let (g1, g2) = (
        person("Gone", pb::Sex::Female),
        person("Gtwo", pb::Sex::Female),
    );
    m.push(crime(
        met,
        MET,
        "g1",
        8,
        ho("8N"),
        (&g1, &sg),
        ("CR-g1", "INC-g1"),
        flagged(),
    ));
    let c_records = vec![crime(
        city,
        CITY,
        "g2",
        9,
        ho("8N"),
        (&g2, &sg),
        ("CR-g2", "INC-g2"),
        flagged(),
    )];
    (m, c_records)
}

async fn counting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let met = app.agency("police-met", AgencyKind::Police, &[MET]).await;
    let city = app.agency("police-city", AgencyKind::Police, &[CITY]).await;
    let support = app
        .agency("support-met", AgencyKind::SupportService, &[MET])
        .await;
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;
    let (m, c) = police_records(&met, &city);
    submit(&met, m).await;
    submit(&city, c).await;
    // F: one person, two support records in one financial year: one person supported.
    let f = person("Ff", pb::Sex::Female);
    let supported = |id: &str, month| {
        R {
            agency: &support,
            id: id.into(),
            area: MET,
            month,
            scheme: "VAWG_CATEGORY",
            code: "domestic_abuse",
            victim: f.clone(),
            suspect: None,
            crime_ref: None,
            incident: None,
            event: Event::SupportProvided(pb::SupportProvided {
                service_type: pb::SupportServiceType::Idva as i32,
                contacts: 3,
            }),
        }
        .build()
    };
    submit(&support, vec![supported("f1", 5), supported("f2", 6)]).await;

    // Hand-computed totals (A + B + C + D + E + G):
    //   ALL_OFFENCES                     12 + 2 + 1 + 1 + 2 + 2 = 20
    //   PRINCIPAL_PLUS_COURSE_OF_CONDUCT 12 + 1 + 1 + 1 + 2 + 2 = 19
    //   PRINCIPAL_CRIME                  12 + 1 + 1 + 1 + 1 + 2 = 18
    //   ONE_PER_RELATIONSHIP              1 + 1 + 1 + 1 + 1 + 2 =  7
    use pb::{Breakdown as B, CountingRule as Rule};
    for (rule, want) in [
        (Rule::AllOffences, 20.0),
        (Rule::PrincipalPlusCourseOfConduct, 19.0),
        (Rule::PrincipalCrime, 18.0),
        (Rule::OnePerRelationship, 7.0),
    ] {
        let (_, total) = table(&central, "recorded_crimes", rule, &[]).await;
        assert_eq!(total, want, "{rule:?}");
    }
    let (by_category, _) = table(
        &central,
        "recorded_crimes",
        Rule::AllOffences,
        &[B::Category],
    )
    .await;
    assert_eq!(
        by_category.get("domestic_homicide"),
        None,
        "{by_category:?}"
    );
    assert_eq!(by_category["rape"], 1.0);
    assert_eq!(by_category["controlling_or_coercive_behaviour"], 1.0);
    assert_eq!(by_category["domestic_abuse"], 18.0);
    let (principal, _) = table(
        &central,
        "recorded_crimes",
        Rule::PrincipalCrime,
        &[B::Category],
    )
    .await;
    assert_eq!(
        principal.get("controlling_or_coercive_behaviour"),
        Some(&0.0)
    );
    assert_eq!(principal["domestic_abuse"], 12.0 + 1.0 + 1.0 + 1.0 + 2.0);
    // The domestic context: everything flagged but C's crime, domestic by relationship only.
    let (context, _) = table(
        &central,
        "recorded_crimes",
        Rule::AllOffences,
        &[B::DomesticAbuseRelated],
    )
    .await;
    assert_eq!(
        context,
        BTreeMap::from([("FLAGGED".into(), 19.0), ("RELATIONSHIP_ONLY".into(), 1.0)])
    );
    // Breakdowns by suspect and relationship: every suspect is a man aged 35 (no ethnic group
    // given); every offence but D's flagged stranger assault is by a partner. C's crime, with two
    // suspects, counts once (under its first record's suspect).
    let (by_suspect_sex, _) = table(
        &central,
        "recorded_crimes",
        Rule::AllOffences,
        &[B::SuspectSex],
    )
    .await;
    assert_eq!(by_suspect_sex, BTreeMap::from([("MALE".into(), 20.0)]));
    let (by_age, _) = table(
        &central,
        "recorded_crimes",
        Rule::PrincipalCrime,
        &[B::SuspectAgeBand],
    )
    .await;
    assert_eq!(by_age, BTreeMap::from([("35-44".into(), 18.0)]));
    let (by_relationship, _) = table(
        &central,
        "recorded_crimes",
        Rule::AllOffences,
        &[B::SuspectEthnicGroup, B::Relationship],
    )
    .await;
    assert_eq!(
        by_relationship,
        BTreeMap::from([("PARTNER".into(), 19.0), ("STRANGER".into(), 1.0)])
    );
    let refused = central
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(pb::MetricQuery {
                metric_id: "recorded_crimes".into(),
                victim_scope: pb::VictimScope::AllVictims as i32,
                counting_rule: Rule::AllOffences as i32,
                period: Some(pb::ReferencePeriod {
                    start: Some(date(2025, 1, 1)),
                    end: Some(date(2025, 12, 31)),
                }),
                breakdowns: vec![B::Relationship as i32, B::DomesticAbuseRelated as i32],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().starts_with("breakdowns:"),
        "{}",
        refused.message()
    );
    // Data-quality findings, one per record: C's two unflagged partner records, D's flagged
    // stranger. The stranger homicide is out of scope and counted nowhere.
    let (findings, _) = table(
        &central,
        "domestic_context_findings",
        Rule::AllOffences,
        &[B::Subtype],
    )
    .await;
    assert_eq!(
        findings,
        BTreeMap::from([
            ("DOMESTIC_RELATIONSHIP_WITHOUT_FLAG".into(), 2.0),
            ("FLAG_WITH_NON_DOMESTIC_RELATIONSHIP".into(), 1.0)
        ])
    );
    // Persons as persons.
    let (_, people) = table(&central, "people_supported", Rule::AllOffences, &[]).await;
    assert_eq!(people, 1.0, "one person with two support records");
    let (links, suspects) = table(
        &central,
        "perpetrators_multiple",
        Rule::AllOffences,
        &[B::Subtype],
    )
    .await;
    assert_eq!(suspects, 1.0, "one suspect, with victims in two forces");
    assert_eq!(links["MULTIPLE_VICTIMS_AND_AREAS"], 1.0);
    // Repeat incidents: A's eleven later incidents each follow one within 365 days.
    let (_, repeats) = table(&central, "repeat_victimisations", Rule::AllOffences, &[]).await;
    assert_eq!(repeats, 11.0);
    app.stop().await;
}

#[tokio::test]
async fn counting_follows_the_home_office_counting_rules_sqlite() {
    counting(Backend::Sqlite).await;
}

#[tokio::test]
async fn counting_follows_the_home_office_counting_rules_postgres() {
    counting(Backend::Postgres).await;
}

/// A crime stored before vawg-v2, classified under vawg-v1 (where every assault was domestic
/// abuse), as the hub's store holds it.
fn stored_v1_crime(id: &str, flag: bool, relationship: &str) -> vawg_store::records::NewRecord {
    use chrono::TimeZone;
    let at = chrono::Utc.with_ymd_and_hms(2025, 5, 10, 12, 0, 0).unwrap();
    vawg_store::records::NewRecord {
        source_record_id: id.into(),
        revision: 1,
        event_kind: "CRIME_RECORDED".into(),
        definition_version: "vawg-v1".into(),
        local_scheme: "HO_OFFENCE".into(),
        local_code: "8N".into(),
        category: "domestic_abuse".into(),
        harm_rank: 7,
        course_of_conduct: false,
        event_time: at,
        recorded_time: at,
        period_start: at.date_naive(),
        period_end: at.date_naive(),
        counting_unit: "CRIME".into(),
        area_code: MET.into(),
        area_level: "POLICE_FORCE_AREA".into(),
        pseudonym_key_id: "k1".into(),
        victim_pseudonym: Some(format!("{id:0>32}")),
        suspect_pseudonym: None,
        police_ref_pseudonym: Some(format!("ref-{id}")),
        cps_urn_pseudonym: None,
        court_case_pseudonym: None,
        victim: vawg_store::records::Demographics {
            sex: Some("FEMALE".into()),
            age_at_event: Some(30),
            ..Default::default()
        },
        fields: vawg_store::records::EventFields {
            domestic_abuse_flag: Some(flag),
            ..Default::default()
        },
        detail: serde_json::json!({
            "domestic_abuse_flag": flag,
            "relationship": relationship,
            "online_flag": false,
        }),
    }
}

/// Records stored under vawg-v1 are classified again under vawg-v2 from their original codes
/// and re-aggregated; nothing acknowledged is lost, and a second run finds nothing to do.
async fn reclassification(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;
    app.store()
        .ingest(
            "police-met",
            vec![
                stored_v1_crime("partner", true, "PARTNER"),
                stored_v1_crime("stranger", false, "STRANGER"),
            ],
        )
        .await
        .unwrap();
    let definitions = vawg_domain::definition::DefinitionSet::embedded();
    let current = definitions.current();
    let reclassified = vawg_server::reclassify::reclassify_stored(app.store(), current)
        .await
        .unwrap();
    assert_eq!(reclassified, (2, 0));
    // The partner's assault stays domestic abuse; the stranger's leaves VAWG under vawg-v2.
    let (by_category, total) = table(
        &central,
        "recorded_crimes",
        pb::CountingRule::AllOffences,
        &[pb::Breakdown::Category],
    )
    .await;
    assert_eq!(
        (by_category.get("domestic_abuse"), total),
        (Some(&1.0), 1.0)
    );
    assert_eq!(
        app.store().count_records(None).await.unwrap(),
        2,
        "nothing lost"
    );
    assert_eq!(
        vawg_server::reclassify::reclassify_stored(app.store(), current)
            .await
            .unwrap(),
        (0, 0),
        "idempotent"
    );
    assert_eq!(
        app.store().all_aggregates().await.unwrap(),
        vawg_store::aggregates::recompute_all(app.store())
            .await
            .unwrap()
    );
    app.stop().await;
}

#[tokio::test]
async fn stored_records_are_reclassified_under_the_current_definition_sqlite() {
    reclassification(Backend::Sqlite).await;
}

#[tokio::test]
async fn stored_records_are_reclassified_under_the_current_definition_postgres() {
    reclassification(Backend::Postgres).await;
}

/// The share of cases closed because the victim does not support action (outcomes 14 and 16),
/// by category: each case by its latest outcome.
async fn closed_without_support(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let met = app.agency("police-met", AgencyKind::Police, &[MET]).await;
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;
    use pb::Relationship as Rel;
    let mut records = Vec::new();
    // Four rapes and two assaults, one victim each. Outcomes: rape 1 → 16; rape 2 → 14;
    // rape 3 → 15 then (later) 16, so its latest is 16; rape 4 → 1 (charged); assault 1 → 16;
    // assault 2 has no outcome yet. Rape: 3 of 4; domestic abuse: 1 of 1.
    // (crime id, code, outcomes as (month, outcome type)).
    type Case<'a> = (&'a str, &'a str, &'a [(u32, u32)]);
    let outcomes: [Case; 6] = [
        ("r1", "19C", &[(3, 16)]),
        ("r2", "19C", &[(3, 14)]),
        ("r3", "19C", &[(3, 15), (4, 16)]),
        ("r4", "19C", &[(3, 1)]),
        ("a1", "8N", &[(3, 16)]),
        ("a2", "8N", &[]),
    ];
    for (id, code, outs) in outcomes {
        let (v, s) = (
            person(&format!("V{id}"), pb::Sex::Female),
            person(&format!("S{id}"), pb::Sex::Male),
        );
        let crime_ref = format!("CR-{id}");
        records.push(crime(
            &met,
            MET,
            id,
            2,
            ("HO_OFFENCE", code),
            (&v, &s),
            (&crime_ref, &format!("INC-{id}")),
            crime_event(true, Rel::Partner),
        ));
        for (i, (month, outcome_type)) in outs.iter().enumerate() {
            records.push(
                R {
                    agency: &met,
                    id: format!("{id}-outcome{i}"),
                    area: MET,
                    month: *month,
                    scheme: "HO_OFFENCE",
                    code,
                    victim: v.clone(),
                    suspect: Some(s.clone()),
                    crime_ref: Some(crime_ref.clone()),
                    incident: None,
                    event: Event::PoliceOutcome(pb::PoliceOutcome {
                        home_office_outcome_type: *outcome_type,
                        group: 0,
                    }),
                }
                .build(),
            );
        }
    }
    submit(&met, records).await;
    let (by_category, total) = table(
        &central,
        "victim_does_not_support_rate",
        pb::CountingRule::AllOffences,
        &[pb::Breakdown::Category],
    )
    .await;
    assert_eq!(by_category["rape"], 0.75);
    assert_eq!(by_category["domestic_abuse"], 1.0);
    assert_eq!(total, 0.8);
    app.stop().await;
}

#[tokio::test]
async fn closed_because_the_victim_does_not_support_action_sqlite() {
    closed_without_support(Backend::Sqlite).await;
}

#[tokio::test]
async fn closed_because_the_victim_does_not_support_action_postgres() {
    closed_without_support(Backend::Postgres).await;
}
