use std::collections::BTreeMap;

use super::*;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The hub's cell-key secret in these tests.
fn secret() -> CellKeySecret {
    CellKeySecret::new(vec![7; 32]).unwrap()
}

fn rec(id: i64, event: Event, d: &str) -> FactRecord {
    FactRecord {
        record_id: id,
        unit: crate::cellkey::record_unit("MET", &format!("src-{id}")),
        category: "domestic_abuse".into(),
        harm_rank: 7,
        course_of_conduct: false,
        event_date: date(d),
        area_code: "E23000001".into(),
        victim: Some("v1".into()),
        suspect: Some("s1".into()),
        case_ref: Some("c1".into()),
        incident: None,
        context: None,
        suspect_profile: Default::default(),
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
    let c = contributions(&EntityKey::Case("c1".into()), &records, &secret());
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
fn a_victims_crimes_follow_the_counting_rules_within_each_incident() {
    let crime = |id: i64, category: &str, rank: u32, coc: bool, incident: &str| {
        let mut r = rec(id, Event::CrimeRecorded(Default::default()), "2025-01-10");
        r.category = category.into();
        r.harm_rank = rank;
        r.course_of_conduct = coc;
        r.case_ref = Some(format!("c{id}"));
        r.incident = Some(incident.into());
        r
    };
    // One report: rape, stalking and harassment by one suspect; a later report: an assault.
    let records = [
        crime(1, "rape", 2, false, "i1"),
        crime(2, "stalking", 5, true, "i1"),
        crime(3, "harassment", 12, true, "i1"),
        crime(4, "domestic_abuse", 8, false, "i2"),
    ];
    let c = contributions(&EntityKey::Victim("v1".into()), &records, &secret());
    let v = total(&c, "recorded_crimes");
    assert_eq!(
        (v.n_all, v.n_principal_coc, v.n_principal, v.n_relationship),
        (4, 3, 2, 1)
    );
    // Every offence carries its own unit's key, counted once per rule that counts it.
    let rape_key = key_of(&records[0].unit);
    let rape = c
        .iter()
        .find(|(k, _)| k.series == "recorded_crimes" && k.category == "rape")
        .unwrap()
        .1;
    assert_eq!(
        (rape.k_all, rape.k_principal, rape.k_relationship),
        (rape_key, rape_key, rape_key)
    );
}

#[test]
fn repeat_victims_need_a_crime_in_the_previous_twelve_months() {
    let records = vec![
        rec(1, Event::CrimeRecorded(Default::default()), "2024-01-01"),
        rec(2, Event::CrimeRecorded(Default::default()), "2024-06-01"),
        rec(3, Event::CrimeRecorded(Default::default()), "2025-12-01"),
    ];
    let c = contributions(&EntityKey::Victim("v1".into()), &records, &secret());
    assert_eq!(total(&c, "repeat_victimisations").n_all, 1);
}

#[test]
fn every_catalogue_metric_names_the_events_it_is_computed_from() {
    for m in CATALOGUE.iter() {
        assert!(!m.event_kinds.is_empty(), "{}", m.id);
        assert!(metric(&m.id).is_some());
    }
    let ids: std::collections::BTreeSet<_> = CATALOGUE.iter().map(|m| &m.id).collect();
    assert_eq!(ids.len(), CATALOGUE.len(), "metric ids are unique");
}

/// Records of every event kind, with the values that make each metric count: one case that
/// goes from crime to conviction with withdrawals at every stage, a victim with a repeat crime,
/// a suspect with two victims in two areas, and one of every single-record event.
fn every_kind_of_record() -> Vec<FactRecord> {
    let crime = || Event::CrimeRecorded(Default::default());
    let mut second_victim = rec(2, crime(), "2025-02-01");
    second_victim.victim = Some("v2".into());
    second_victim.area_code = "E23000002".into();
    let events = vec![
        Event::CpsReferral(Default::default()),
        Event::ChargingDecision(pb::ChargingDecision {
            decision: pb::ChargeDecision::Charge as i32,
            decision_maker: pb::DecisionMaker::Cps as i32,
        }),
        Event::ProsecutionOutcome(pb::ProsecutionOutcome {
            result: pb::ProsecutionResult::ConvictionGuiltyPlea as i32,
        }),
        Event::CourtOutcome(Default::default()),
        Event::PoliceOutcome(pb::PoliceOutcome {
            home_office_outcome_type: 16,
            ..Default::default()
        }),
        Event::HealthReferral(Default::default()),
        Event::ProtectiveOrder(pb::ProtectiveOrder {
            decision: pb::OrderDecision::Granted as i32,
            ..Default::default()
        }),
        Event::MaracReferral(Default::default()),
        Event::SupportReferral(Default::default()),
        Event::SupportProvided(Default::default()),
        Event::UnableToSupport(Default::default()),
        Event::HealthDisclosure(Default::default()),
        Event::EncompassNotification(Default::default()),
        Event::DomesticHomicide(Default::default()),
        Event::VictimSatisfaction(pb::VictimSatisfaction {
            level: pb::SatisfactionLevel::VerySatisfied as i32,
            ..Default::default()
        }),
        Event::FundingReturn(pb::FundingReturn {
            amount_pence: 100,
            ..Default::default()
        }),
    ];
    let stages = [
        pb::WithdrawalStage::Police,
        pb::WithdrawalStage::Cps,
        pb::WithdrawalStage::Court,
    ];
    // A crime the force flagged as domestic abuse, by a stranger: a data-quality finding.
    let flagged_stranger = Event::CrimeRecorded(pb::CrimeRecorded {
        domestic_abuse_flag: true,
        relationship: pb::Relationship::Stranger as i32,
        online_flag: false,
    });
    let mut records = vec![
        rec(1, crime(), "2025-01-10"),
        second_victim,
        rec(3, flagged_stranger, "2025-03-01"),
    ];
    for (i, event) in events.into_iter().enumerate() {
        records.push(rec(10 + i as i64, event, "2025-04-01"));
    }
    for (i, stage) in stages.into_iter().enumerate() {
        let w = Event::VictimWithdrawal(pb::VictimWithdrawal {
            stage: stage as i32,
            case_ended: false,
        });
        records.push(rec(40 + i as i64, w, "2025-05-01"));
    }
    records
}

/// The contribution code emits exactly the series of the metrics it declares: `<id>` for a
/// count, an amount or days, `<id>:num` and `<id>:den` for a proportion. So the catalogue's
/// check against [`computed`] is a check against what the code really does.
#[test]
fn the_code_emits_exactly_the_series_of_the_metrics_it_declares() {
    let records = every_kind_of_record();
    let mut by_entity: BTreeMap<EntityKey, Vec<FactRecord>> = BTreeMap::new();
    for r in &records {
        for e in entities_of(r) {
            by_entity.entry(e).or_default().push(r.clone());
        }
    }
    let mut emitted = std::collections::BTreeSet::new();
    for (e, rs) in &by_entity {
        for k in contributions(e, rs, &secret()).keys() {
            emitted.insert(k.series.clone());
        }
    }
    let mut declared = std::collections::BTreeSet::new();
    for (id, computation) in computed_metrics() {
        let def = MetricDef {
            id: id.to_string(),
            title: String::new(),
            description: String::new(),
            computation,
            outcome: pb::Outcome::Unspecified,
            owners: vec![],
            event_kinds: vec![],
            counting_rule_applies: false,
            subtype: None,
            unit: pb::MetricUnit::Record,
        };
        declared.extend(series_of(&def));
        declared.extend(profile_series(&def));
    }
    assert_eq!(emitted, declared);
}

/// The key of the unit `unit` under the test secret, as the key sums hold it.
fn key_of(unit: &str) -> i64 {
    i64::from(secret().unit_key(unit))
}

/// A record's contributions carry its unit's key whatever its revision (a new hub record id)
/// or classification, and a crime without a known suspect keys its relationship by the record,
/// not by the hub record id in the relationship's text.
#[test]
fn unit_keys_are_stable_across_revisions_and_reclassification() {
    let order = Event::ProtectiveOrder(pb::ProtectiveOrder {
        decision: pb::OrderDecision::Granted as i32,
        ..Default::default()
    });
    let first = rec(1, order, "2025-01-10");
    let mut revised = first.clone();
    revised.record_id = 2;
    revised.category = "stalking".into();
    revised.event_date = date("2025-02-11");
    let key = key_of(&first.unit);
    let before = contributions(&EntityKey::Record(1), &[first], &secret());
    let after = contributions(&EntityKey::Record(2), &[revised], &secret());
    assert_ne!(before.keys().next(), after.keys().next(), "the cell moved");
    for c in [&before, &after] {
        assert_eq!(c.len(), 1);
        let v = c.values().next().unwrap();
        assert_eq!((v.n_all, v.k_all, v.k_principal), (1, key, key));
    }

    // A crime revised (a new hub record id, the same agency record) keeps its offence's key.
    let mut crime = rec(5, Event::CrimeRecorded(Default::default()), "2025-01-10");
    crime.suspect = None;
    let mut revised = crime.clone();
    revised.record_id = 6;
    revised.category = "rape".into();
    let victim = EntityKey::Victim("v1".into());
    let k1 = total(
        &contributions(&victim, std::slice::from_ref(&crime), &secret()),
        "recorded_crimes",
    );
    let k2 = total(
        &contributions(&victim, &[revised], &secret()),
        "recorded_crimes",
    );
    assert_eq!(k1, k2);
    assert_eq!(k1.k_all, key_of(&crime.unit));
}

/// Every contribution's key sums are its entity's unit key times its counts, rule by rule;
/// a cell's key is that sum modulo 256.
#[test]
fn key_sums_are_the_unit_key_times_the_counts() {
    let records = every_kind_of_record();
    let mut by_entity: BTreeMap<EntityKey, Vec<FactRecord>> = BTreeMap::new();
    for r in &records {
        for e in entities_of(r) {
            by_entity.entry(e).or_default().push(r.clone());
        }
    }
    let mut keyed = 0;
    for (e, rs) in &by_entity {
        if matches!(e, EntityKey::Victim(_)) {
            continue; // keyed per offence and per person (tested above and below)
        }
        let key = key_of(&unit_of(e, rs).unwrap());
        for v in contributions(e, rs, &secret()).values() {
            assert_eq!(v.k_all, key * v.n_all, "{e:?}");
            assert_eq!(v.k_principal, key * v.n_principal, "{e:?}");
            assert_eq!(v.k_principal_coc, key * v.n_principal_coc, "{e:?}");
            keyed += 1;
        }
    }
    assert!(keyed > 20);

    // Two crimes of one victim in one cell: two offences, each with its own key.
    let crimes = [
        rec(1, Event::CrimeRecorded(Default::default()), "2025-01-10"),
        rec(2, Event::CrimeRecorded(Default::default()), "2025-01-20"),
    ];
    let victim = EntityKey::Victim("v1".into());
    let crimes_only = |c: Contributions| -> Contributions {
        c.into_iter()
            .filter(|(k, _)| k.series == "recorded_crimes")
            .collect()
    };
    let c = crimes_only(contributions(&victim, &crimes, &secret()));
    assert_eq!(c.len(), 1);
    let v = *c.values().next().unwrap();
    let (a, b) = (key_of(&crimes[0].unit), key_of(&crimes[1].unit));
    assert_eq!((v.n_all, v.k_all), (2, a + b));
    assert_eq!(
        v.keyed_under(CountingRule::AllOffences),
        crate::cellkey::KeyedCount {
            count: 2,
            key: crate::cellkey::CellKey::from_value(((a + b) % 256) as u8),
        }
    );
    // Withdrawing one of them leaves the key of the other: sums stay additive.
    let one = crimes_only(contributions(&victim, &crimes[..1], &secret()));
    let mut cell = v;
    cell.add(one.values().next().unwrap(), -1);
    assert_eq!((cell.n_all, cell.k_all), (1, b));
}

#[test]
fn the_cell_key_secret_is_long_enough_and_never_prints() {
    assert_eq!(
        CellKeySecret::new(vec![1; 31]).unwrap_err(),
        CellKeySecretError { len: 31 }
    );
    let s = CellKeySecret::new((0..32).collect()).unwrap();
    assert_eq!(format!("{s:?}"), "CellKeySecret([redacted])");
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
            for (k, v) in contributions(&e, &rs, &secret()) {
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
                    unit: format!("u{id}"),
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
                    incident: Some(format!("i{}", day % 3)),
                    context: None,
                    suspect_profile: Default::default(),
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
        proptest::collection::vec((0..8usize, any::<bool>(), arb_record(0)), 1..25).prop_map(|v| {
            v.into_iter()
                .map(|(slot, retract, r)| {
                    if retract && slot % 3 == 0 {
                        Change::Retract(slot)
                    } else {
                        Change::Put(slot, Box::new(r))
                    }
                })
                .collect()
        })
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
                        // Every revision of a slot is the same unit (agency, source record id).
                        r.unit = crate::cellkey::record_unit("MET", &format!("slot-{slot}"));
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
                    let new = contributions(&e, &records, &secret());
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
