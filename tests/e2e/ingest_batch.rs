//! SubmitBatch: a valid batch is stored, classified and pseudonymised; a mixed batch keeps the
//! valid records and names every problem of the invalid ones by field path.

use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb::{self, RecordStatus, vawg_record::Event};

use crate::{
    both_backends,
    ingest_common::{MET, MET_ID, crime, statuses},
};

async fn valid_batch_is_stored_and_classified(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let records = (0..3).map(|i| crime(&format!("c-{i}"), 1)).collect();
    let response = police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .expect("batch accepted")
        .into_inner();
    assert_eq!(statuses(&response.results), vec![RecordStatus::Accepted; 3]);
    let summary = response.summary.unwrap();
    assert_eq!((summary.accepted, summary.rejected), (3, 0));
    for (i, r) in response.results.iter().enumerate() {
        assert_eq!(r.index as usize, i);
        assert_eq!(r.source_record_id, format!("c-{i}"));
        assert_eq!(r.category, "stalking");
        assert_eq!(r.definition_version, "vawg-v2");
    }
    let stored = app.store().revisions(MET_ID, "c-1").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].local_code, "8Q");
    assert_eq!(stored[0].category, "stalking");
    assert!(stored[0].is_current);
    app.stop().await;
}
both_backends!(valid_batch, valid_batch_is_stored_and_classified);

async fn mixed_batch_keeps_valid_records_and_reports_each_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;

    let mut bad = crime("bad", 1);
    bad.area.as_mut().unwrap().gss_code = "E09000001".into(); // a local authority, not a force
    bad.classification.as_mut().unwrap().code = "ZZZ".into();
    bad.victim
        .as_mut()
        .unwrap()
        .demographics
        .as_mut()
        .unwrap()
        .age_at_event = Some(400);
    bad.recorded_time = crime("x", 1).event_time.map(|mut t| {
        t.seconds -= 86_400;
        t
    });
    bad.event = Some(Event::CrimeRecorded(pb::CrimeRecorded {
        relationship: 99,
        ..Default::default()
    }));
    let mut future = crime("future", 1);
    future.event_time = Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + 86_400 * 30,
        nanos: 0,
    });
    let mut other_agency = crime("theirs", 1);
    other_agency.source_agency_id = "police-e23000005".into();
    let mut charge_too_early = crime("charge", 1);
    charge_too_early
        .case_references
        .as_mut()
        .unwrap()
        .police_crime_reference = "CR/ref".into();
    charge_too_early.event = Some(Event::ChargingDecision(pb::ChargingDecision {
        decision_maker: pb::DecisionMaker::Police as i32,
        decision: pb::ChargeDecision::Charge as i32,
    }));
    let mut referral = crime("ref", 1);
    referral
        .case_references
        .as_mut()
        .unwrap()
        .police_crime_reference = "CR/ref".into();
    referral.event_time = Some(crate::ingest_common::at(5));
    referral.recorded_time = Some(crate::ingest_common::at(5));
    referral.event = Some(Event::CpsReferral(pb::CpsReferral {
        referral_type: pb::ReferralType::ChargingDecision as i32,
    }));

    let response = police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![
                crime("good-1", 1),
                bad,
                future,
                other_agency,
                referral,
                charge_too_early,
                crime("good-2", 1),
            ],
        })
        .await
        .expect("a mixed batch is answered per record")
        .into_inner();
    use RecordStatus::*;
    assert_eq!(
        statuses(&response.results),
        vec![
            Accepted, Rejected, Rejected, Rejected, Accepted, Rejected, Accepted
        ]
    );
    let fields = |i: usize| -> Vec<String> {
        response.results[i]
            .violations
            .iter()
            .map(|v| v.field.clone())
            .collect()
    };
    for f in [
        "area.gss_code",
        "classification.code",
        "victim.demographics.age_at_event",
        "recorded_time",
        "event.crime_recorded.relationship",
    ] {
        assert!(
            fields(1).contains(&f.to_string()),
            "{f} missing from {:?}",
            fields(1)
        );
    }
    assert_eq!(fields(2), vec!["event_time"]);
    assert_eq!(fields(3), vec!["source_agency_id"]);
    assert_eq!(fields(5), vec!["event_time"]);
    assert!(
        response.results[5].violations[0]
            .reason
            .contains("referral")
    );
    assert_eq!(app.store().count_records(Some(MET_ID)).await.unwrap(), 3);
    app.stop().await;
}
both_backends!(
    mixed_batch,
    mixed_batch_keeps_valid_records_and_reports_each_field
);

async fn an_agency_cannot_submit_kinds_it_does_not_produce(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let school = app
        .agency("school-100000", AgencyKind::School, &["E09000001"])
        .await;
    let mut court_outcome = crime("s-1", 1);
    court_outcome.source_agency_id = "school-100000".into();
    court_outcome.classification = Some(pb::LocalClassification {
        scheme: "VAWG_CATEGORY".into(),
        code: "stalking".into(),
    });
    court_outcome.event = Some(Event::CourtOutcome(pb::CourtOutcome {
        court_type: pb::CourtType::Magistrates as i32,
        verdict: pb::CourtVerdict::Convicted as i32,
        trial_effectiveness: 0,
    }));
    let result = school
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![court_outcome],
        })
        .await;
    // The firewall may refuse the whole call, or ingest the record: either way nothing stored.
    if let Ok(response) = result {
        let r = &response.get_ref().results[0];
        assert_eq!(r.status(), RecordStatus::Rejected);
        assert!(
            r.violations.iter().any(|v| v.field == "event"),
            "{:?}",
            r.violations
        );
    }
    assert_eq!(app.store().count_records(None).await.unwrap(), 0);
    app.stop().await;
}
both_backends!(
    wrong_agency_kind,
    an_agency_cannot_submit_kinds_it_does_not_produce
);
