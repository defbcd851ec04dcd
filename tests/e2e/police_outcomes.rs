//! Police outcomes over gRPC: every Home Office outcome type 1-22 is accepted without a group
//! and stored under the Home Office group the hub derives; the pairings v1 clients sent before
//! still pass (stored under the derived group too); a wrong group or an outcome type outside
//! 1-22 rejects that record alone, naming the field, while the rest of the batch is kept.

use std::collections::BTreeMap;

use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb::{self, PoliceOutcomeGroup as G, RecordStatus, vawg_record::Event};
use vawg_store::Pool;

use crate::{
    both_backends,
    ingest_common::{MET, MET_ID, at, crime, statuses},
};

/// The Home Office group the hub stores for each outcome type 1-22, in order (the table on
/// `PoliceOutcomeGroup` in `record.proto`).
const HOME_OFFICE: [&str; 22] = [
    "CHARGED_OR_SUMMONSED",
    "OUT_OF_COURT_FORMAL",
    "OUT_OF_COURT_FORMAL",
    "TAKEN_INTO_CONSIDERATION",
    "PROSECUTION_PREVENTED",
    "OUT_OF_COURT_FORMAL",
    "OUT_OF_COURT_FORMAL",
    "OUT_OF_COURT_INFORMAL",
    "PROSECUTION_PREVENTED",
    "PROSECUTION_PREVENTED",
    "PROSECUTION_PREVENTED",
    "PROSECUTION_PREVENTED",
    "PROSECUTION_PREVENTED",
    "VICTIM_DOES_NOT_SUPPORT",
    "EVIDENTIAL_DIFFICULTIES_VICTIM_SUPPORTS",
    "VICTIM_DOES_NOT_SUPPORT",
    "PROSECUTION_PREVENTED",
    "NO_SUSPECT_IDENTIFIED",
    "OTHER",
    "TRANSFERRED_TO_ANOTHER_BODY",
    "FURTHER_INVESTIGATION_NOT_IN_PUBLIC_INTEREST",
    "DIVERSIONARY_ACTIVITY",
];

/// Pairings v1 clients sent before the hub derived the Home Office groups, each with the group
/// the hub now stores for it.
const V1_PAIRINGS: [(&str, u32, G, &str); 4] = [
    (
        "v1-14",
        14,
        G::ProsecutionPrevented,
        "VICTIM_DOES_NOT_SUPPORT",
    ),
    ("v1-8", 8, G::OutOfCourt, "OUT_OF_COURT_INFORMAL"),
    ("v1-20", 20, G::Other, "TRANSFERRED_TO_ANOTHER_BODY"),
    ("v1-1", 1, G::ChargedOrSummonsed, "CHARGED_OR_SUMMONSED"),
];

/// A police outcome from the Met, a week after the crime.
fn outcome(id: &str, outcome_type: u32, group: G) -> pb::VawgRecord {
    let mut r = crime(id, 1);
    r.event_time = Some(at(7));
    r.recorded_time = Some(at(7));
    r.event = Some(Event::PoliceOutcome(pb::PoliceOutcome {
        home_office_outcome_type: outcome_type,
        group: group as i32,
    }));
    r
}

/// The stored group (`decision`) and event detail of each of the Met's current records.
async fn stored(app: &TestApp) -> BTreeMap<String, (Option<String>, serde_json::Value)> {
    let rows: Vec<(String, Option<String>, String)> = match app.store().pool() {
        Pool::Sqlite(p) => sqlx::query_as(
            "SELECT source_record_id, decision, CAST(event_detail AS TEXT) FROM records \
             WHERE agency_id = $1 AND is_current",
        )
        .bind(MET_ID)
        .fetch_all(p)
        .await
        .unwrap(),
        Pool::Postgres(p) => sqlx::query_as(
            "SELECT source_record_id, decision, event_detail::text FROM records \
             WHERE agency_id = $1 AND is_current",
        )
        .bind(MET_ID)
        .fetch_all(p)
        .await
        .unwrap(),
    };
    rows.into_iter()
        .map(|(id, decision, detail)| (id, (decision, serde_json::from_str(&detail).unwrap())))
        .collect()
}

async fn every_type_is_accepted_and_stored_under_its_home_office_group(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;

    let mut records: Vec<pb::VawgRecord> = (1..=22)
        .map(|t| outcome(&format!("po-{t}"), t, G::Unspecified))
        .collect();
    records.extend(V1_PAIRINGS.iter().map(|(id, t, g, _)| outcome(id, *t, *g)));
    // Outcome 16 is "victim does not support action"; charged/summonsed was never its group.
    records.push(outcome("wrong-group", 16, G::ChargedOrSummonsed));
    records.push(outcome("type-23", 23, G::Unspecified));
    records.push(outcome("type-0", 0, G::Other));
    let n = records.len();

    let response = police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .expect("a mixed batch is answered per record")
        .into_inner();

    let mut expected = vec![RecordStatus::Accepted; n - 3];
    expected.extend([RecordStatus::Rejected; 3]);
    assert_eq!(statuses(&response.results), expected);
    let summary = response.summary.unwrap();
    assert_eq!((summary.accepted, summary.rejected), (n as u32 - 3, 3));
    for r in &response.results[..n - 3] {
        assert!(
            r.violations.is_empty(),
            "{}: {:?}",
            r.source_record_id,
            r.violations
        );
    }

    // The wrong pairing: the group is named, with the group expected.
    let wrong = &response.results[n - 3];
    assert_eq!(wrong.source_record_id, "wrong-group");
    assert_eq!(wrong.violations.len(), 1, "{:?}", wrong.violations);
    assert_eq!(wrong.violations[0].field, "event.police_outcome.group");
    let reason = &wrong.violations[0].reason;
    assert!(reason.contains("VICTIM_DOES_NOT_SUPPORT"), "{reason}");
    assert!(reason.contains("CHARGED_OR_SUMMONSED"), "{reason}");
    // Outcome types outside 1-22: the type is named, with the range.
    for r in &response.results[n - 2..] {
        assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
        let v = &r.violations[0];
        assert_eq!(v.field, "event.police_outcome.home_office_outcome_type");
        assert!(v.reason.contains("1-22"), "{}", v.reason);
    }

    // The valid records are kept, each under the Home Office group the hub derived.
    let rows = stored(&app).await;
    assert_eq!(rows.len(), n - 3, "{:?}", rows.keys());
    for t in 1..=22usize {
        let (decision, detail) = &rows[&format!("po-{t}")];
        assert_eq!(decision.as_deref(), Some(HOME_OFFICE[t - 1]), "type {t}");
        assert_eq!(detail["group"], HOME_OFFICE[t - 1], "type {t}");
        assert_eq!(detail["home_office_outcome_type"], t);
        assert!(detail.get("submitted_group").is_none(), "type {t}");
    }
    for (id, _, sent, derived) in V1_PAIRINGS {
        let (decision, detail) = &rows[id];
        assert_eq!(decision.as_deref(), Some(derived), "{id}");
        assert_eq!(detail["group"], derived, "{id}");
        let sent = sent
            .as_str_name()
            .trim_start_matches("POLICE_OUTCOME_GROUP_");
        if sent != derived {
            assert_eq!(detail["submitted_group"], sent, "{id}");
        }
    }
    assert!(!rows.contains_key("wrong-group"));
    assert_eq!(
        app.store().count_records(Some(MET_ID)).await.unwrap(),
        (n - 3) as i64
    );
    app.stop().await;
}
both_backends!(
    every_outcome_type,
    every_type_is_accepted_and_stored_under_its_home_office_group
);
