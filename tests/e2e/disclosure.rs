//! Disclosure control against sequences of queries (docs/disclosure.md), attacked over gRPC with
//! an agency's own token, as the issue reported it: differencing by category set, by period and
//! by breakdown; probing the rounding base; averaging repeats of one query.
//!
//! The criterion for "no small value recovered": every released count is within
//! `MAX_PERTURBATION` of the truth and never 1 to 4, and for each small cell the set of true
//! counts that could have produced the released value under the public perturbation table (any
//! cell key) has more than one member — the attacker cannot pin it. Consistency: the same cell
//! reached by two different queries has the same value, and a repeated query the same answer.

use std::collections::{BTreeMap, BTreeSet};

use vawg_domain::{
    cellkey::{MAX_PERTURBATION, PerturbationTable, SMALL_COUNT_LIMIT},
    identity::AgencyKind,
};
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;

use crate::ingest_common::{MET, MET_ID, crime, person};

/// Stalking (HO 8Q) in January and February, ten victims with secure status; one rape (HO 19C)
/// in March whose victim has insecure immigration status: the cell the attack in the issue
/// recovered.
async fn load(police: &Agency) {
    let mut records = Vec::new();
    for i in 0..10 {
        let mut r = crime(&format!("stalk-{i}"), 1);
        r.victim = Some(victim(&format!("S{i}"), pb::ImmigrationStatus::Secure));
        r.suspect = Some(person(&format!("Sus{i}"), "Fakeston"));
        set_month(&mut r, if i < 5 { 1 } else { 2 });
        records.push(r);
    }
    let mut rape = crime("rape-1", 1);
    rape.classification = Some(pb::LocalClassification {
        scheme: "HO_OFFENCE".into(),
        code: "19C".into(),
    });
    rape.victim = Some(victim("R1", pb::ImmigrationStatus::Insecure));
    set_month(&mut rape, 3);
    records.push(rape);
    let results = police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .expect("submitted")
        .into_inner()
        .results;
    for r in results {
        assert_eq!(r.status(), pb::RecordStatus::Accepted, "{r:?}");
    }
}

fn victim(tag: &str, status: pb::ImmigrationStatus) -> pb::PersonReference {
    let mut p = person(&format!("Victim{tag}"), "Testperson");
    let d = p.demographics.as_mut().unwrap();
    d.immigration_status = status as i32;
    p
}

fn set_month(r: &mut pb::VawgRecord, month: u32) {
    use chrono::{TimeZone, Utc};
    let t = Utc.with_ymd_and_hms(2025, month, 10, 9, 0, 0).unwrap();
    let ts = |t: chrono::DateTime<Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    r.event_time = Some(ts(t));
    r.recorded_time = Some(ts(t + chrono::Duration::days(1)));
    r.reference_period = Some(pb::ReferencePeriod {
        start: Some(date(month, 1)),
        end: Some(date(month, 28)),
    });
}

fn date(month: u32, day: u32) -> pb::Date {
    pb::Date {
        year: 2025,
        month: month as i32,
        day: day as i32,
    }
}

fn query(categories: &[&str], months: (u32, u32), breakdowns: &[pb::Breakdown]) -> pb::MetricQuery {
    pb::MetricQuery {
        metric_id: "recorded_crimes".into(),
        victim_scope: pb::VictimScope::AllVictims as i32,
        counting_rule: pb::CountingRule::AllOffences as i32,
        period: Some(pb::ReferencePeriod {
            start: Some(date(months.0, 1)),
            end: Some(date(months.1, 28)),
        }),
        grain: pb::TimeGrain::WholePeriod as i32,
        area_level: pb::AreaLevel::PoliceForceArea as i32,
        area_codes: vec![MET.into()],
        categories: categories.iter().map(|c| c.to_string()).collect(),
        breakdowns: breakdowns.iter().map(|b| *b as i32).collect(),
        ..Default::default()
    }
}

async fn ask(agency: &Agency, q: pb::MetricQuery) -> pb::MetricTable {
    agency
        .metrics()
        .query_metric(pb::QueryMetricRequest { query: Some(q) })
        .await
        .expect("answered")
        .into_inner()
        .table
        .unwrap()
}

/// The cells of a table by the value of its last dimension (the breakdown), and its total.
fn cells(t: &pb::MetricTable) -> (BTreeMap<String, f64>, f64) {
    let by: BTreeMap<String, f64> = t
        .rows
        .iter()
        .map(|r| {
            let cell = r.cell.unwrap();
            assert_eq!(cell.status(), pb::DisclosureStatus::Perturbed, "{r:?}");
            (
                r.dimensions.last().unwrap().value.clone(),
                r.cell.unwrap().value,
            )
        })
        .collect();
    let total = t.totals[0].cell.unwrap();
    assert_eq!(total.status(), pb::DisclosureStatus::Perturbed);
    (by, total.value)
}

/// The true counts that could have been released as `released` under the public table.
fn candidates(released: u64) -> BTreeSet<u64> {
    let table = PerturbationTable::hub();
    (0..=released + MAX_PERTURBATION)
        .filter(|t| (0..=255u8).any(|k| table.perturb(*t, k) == released))
        .collect()
}

fn assert_protected(released: f64, truth: u64, what: &str) {
    let released = released as u64;
    assert!(
        released.abs_diff(truth) <= MAX_PERTURBATION,
        "{what}: {released} is within D of {truth}"
    );
    assert!(
        released == 0 || released > SMALL_COUNT_LIMIT,
        "{what}: no released count is 1 to 4 ({released})"
    );
    if truth > 0 && truth <= SMALL_COUNT_LIMIT {
        let c = candidates(released);
        assert!(
            c.len() > 1,
            "{what}: released {released} pins the truth: {c:?}"
        );
    }
}

async fn attacks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    load(&police).await;
    let by_status = [pb::Breakdown::ImmigrationStatus];
    let insecure = "IMMIGRATION_STATUS_INSECURE";

    // Differencing by category set: [rape], [stalking, rape], [stalking].
    let (rape, rape_total) = cells(&ask(&police, query(&["rape"], (1, 3), &by_status)).await);
    let (both, both_total) =
        cells(&ask(&police, query(&["stalking", "rape"], (1, 3), &by_status)).await);
    let (stalking, stalking_total) =
        cells(&ask(&police, query(&["stalking"], (1, 3), &by_status)).await);
    assert_protected(rape[insecure], 1, "rape, insecure");
    assert_protected(rape_total, 1, "rape total");
    assert_protected(both[insecure], 1, "both, insecure");
    assert_protected(both_total, 11, "both total");
    assert_protected(stalking_total, 10, "stalking total");
    assert!(!stalking.contains_key(insecure));
    // The same cell (the one insecure victim) reached by two queries: the same value, so the
    // difference of the two queries' insecure cells is 0, whatever the truth.
    assert_eq!(
        rape[insecure], both[insecure],
        "the same cell, the same value"
    );
    // The total of [stalking, rape] minus [stalking] is noise around 1, not a known 1: the two
    // totals are different cells, each perturbed in its own right (within D of the truth).
    let difference = both_total - stalking_total;
    assert!((difference - 1.0).abs() <= 2.0 * MAX_PERTURBATION as f64);

    // Differencing by period: January to March minus January to February.
    let (_, q1) = cells(&ask(&police, query(&[], (1, 3), &by_status)).await);
    let (_, jan_feb) = cells(&ask(&police, query(&[], (1, 2), &by_status)).await);
    assert_protected(q1, 11, "Jan-Mar");
    assert_protected(jan_feb, 10, "Jan-Feb");
    let (march, march_total) = cells(&ask(&police, query(&[], (3, 3), &by_status)).await);
    assert_protected(march_total, 1, "March");
    assert_eq!(
        march[insecure], rape[insecure],
        "March's insecure cell is the rape cell: the same value"
    );

    // Averaging repeats: the same query always gets the same answer.
    let first = ask(&police, query(&["rape"], (1, 3), &by_status)).await;
    for _ in 0..10 {
        assert_eq!(
            ask(&police, query(&["rape"], (1, 3), &by_status)).await,
            first
        );
    }

    // Rounding-base probing: the caller's base is ignored under perturbation, and says so.
    for base in [6, 7, 10, 25, 40] {
        let mut q = query(&["stalking", "rape"], (1, 3), &[]);
        q.rounding_base = base;
        let t = ask(&police, q).await;
        assert_eq!(t.rounding_base, 0);
        assert_eq!(t.protection(), pb::Protection::CellKeyPerturbation);
        assert!(
            t.notes
                .iter()
                .any(|n| n.contains("rounding_base was ignored"))
        );
        assert_eq!(t.totals[0].cell.unwrap().value, both_total);
    }

    // An agency cannot ask for exact figures; nobody gets suppression on the flexible path
    // (it is for the fixed publication tables).
    for (p, code) in [
        (
            pb::Protection::ExactNotForRelease,
            tonic::Code::PermissionDenied,
        ),
        (pb::Protection::Suppression, tonic::Code::InvalidArgument),
    ] {
        let mut q = query(&[], (1, 3), &[]);
        q.protection = p as i32;
        let status = police
            .metrics()
            .query_metric(pb::QueryMetricRequest { query: Some(q) })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), code, "{status:?}");
    }

    // The central team: exact figures marked not for release by default, what agencies see on
    // request, and the protection asked is audited.
    let central = app
        .agency("central-analysis", AgencyKind::CentralAnalyst, &[])
        .await;
    let mut perturbed = query(&["rape"], (1, 3), &by_status);
    perturbed.protection = pb::Protection::CellKeyPerturbation as i32;
    let t = ask(&central, perturbed).await;
    assert_eq!(t.protection(), pb::Protection::CellKeyPerturbation);
    assert_eq!(
        t, first,
        "the central team's perturbed table is the agencies' table, cell for cell"
    );
    let t = ask(&central, query(&["stalking", "rape"], (1, 3), &by_status)).await;
    assert_eq!(t.protection(), pb::Protection::ExactNotForRelease);
    assert!(t.notes.iter().any(|n| n.contains("NOT FOR RELEASE")));
    let total = t.totals[0].cell.unwrap();
    assert_eq!(
        (total.value, total.status()),
        (11.0, pb::DisclosureStatus::ExactNotForRelease)
    );
    let audited = app
        .wait_for_audit(|e| {
            e.agency_id == "central-analysis"
                && e.reason
                    .contains("protection asked PROTECTION_UNSPECIFIED, given PROTECTION_EXACT_NOT_FOR_RELEASE")
        })
        .await;
    assert!(audited.allowed);
    app.stop().await;
}

#[tokio::test]
async fn disclosure_attacks_recover_no_small_value_sqlite() {
    attacks(Backend::Sqlite).await;
}

#[tokio::test]
async fn disclosure_attacks_recover_no_small_value_postgres() {
    attacks(Backend::Postgres).await;
}

/// Differencing by area set: {A, B} minus {A}. A force serving two areas has ten crimes in one
/// and one in the other; the small area's cell is the same whether asked for alone or as a row
/// of the two-area table, and no total pins it.
#[tokio::test]
async fn disclosure_area_set_differencing_recovers_nothing() {
    const CITY: &str = "E23000002";
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET, CITY]).await;
    let mut records = Vec::new();
    for i in 0..10 {
        let mut r = crime(&format!("met-{i}"), 1);
        r.victim = Some(victim(&format!("M{i}"), pb::ImmigrationStatus::Secure));
        set_month(&mut r, 1);
        records.push(r);
    }
    let mut city = crime("city-1", 1);
    city.victim = Some(victim("C1", pb::ImmigrationStatus::Insecure));
    city.area.as_mut().unwrap().gss_code = CITY.into();
    set_month(&mut city, 1);
    records.push(city);
    police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .expect("submitted");

    let areas = |codes: &[&str], by_area: bool| {
        let mut q = query(
            &[],
            (1, 1),
            if by_area { &[pb::Breakdown::Area] } else { &[] },
        );
        q.area_codes = codes.iter().map(|c| c.to_string()).collect();
        q
    };
    let (by_area, both) = cells(&ask(&police, areas(&[MET, CITY], true)).await);
    let (_, met) = cells(&ask(&police, areas(&[MET], false)).await);
    let (_, city) = cells(&ask(&police, areas(&[CITY], false)).await);
    assert_protected(both, 11, "{A, B}");
    assert_protected(met, 10, "{A}");
    assert_protected(city, 1, "{B}");
    assert_protected(by_area[CITY], 1, "B as a row");
    assert_eq!(by_area[CITY], city, "the same cell, the same value");
    assert_eq!(by_area[MET], met, "the same cell, the same value");
    app.stop().await;
}
