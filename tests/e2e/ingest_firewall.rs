//! Ingest through the firewall: every committed chunk, batch and retraction is audited (victim
//! pseudonyms only) and answered with a signed audit head as receipt; the producer hard rule
//! refuses records of kinds the caller's agency does not produce, per record, naming the rule,
//! while the valid records of the same batch are kept.

use vawg_audit::HeadSigner;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb::{self, RecordStatus, vawg_record::Event};

use crate::{
    both_backends,
    ingest_common::{MET, MET_ID, crime},
};

/// The hub's audit-head verifier, from the test PKI's audit key.
fn verifier(app: &TestApp) -> vawg_audit::HeadVerifier {
    HeadSigner::from_pem(&std::fs::read_to_string(app.pki.audit_key()).unwrap())
        .unwrap()
        .verifier()
}

async fn receipts_are_signed_heads_that_grow_and_verify(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let verifier = verifier(&app);

    // SubmitBatch.
    let batch = met
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![crime("r-1", 1), crime("r-2", 1)],
        })
        .await
        .unwrap()
        .into_inner();
    let first = batch.audit_receipt.expect("batch receipt");
    assert!(verifier.verify(&first), "batch receipt signature");
    assert!(first.tree_size > 0);

    // StreamRecords: one receipt per chunk, each covering more of the log.
    let chunks = vec![
        pb::StreamRecordsRequest {
            records: vec![crime("r-3", 1)],
        },
        pb::StreamRecordsRequest {
            records: vec![crime("r-4", 1), crime("r-1", 1)],
        },
    ];
    let mut acks = met
        .ingest()
        .stream_records(tokio_stream::iter(chunks))
        .await
        .unwrap()
        .into_inner();
    let mut sizes = vec![first.tree_size];
    while let Some(ack) = acks.message().await.unwrap() {
        let receipt = ack.audit_receipt.expect("chunk receipt");
        assert!(verifier.verify(&receipt), "chunk receipt signature");
        sizes.push(receipt.tree_size);
    }
    assert_eq!(sizes.len(), 3);

    // RetractRecord.
    let retracted = met
        .ingest()
        .retract_record(pb::RetractRecordRequest {
            source_record_id: "r-2".into(),
            reason: "entered in error".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let last = retracted.audit_receipt.expect("retraction receipt");
    assert!(verifier.verify(&last));
    sizes.push(last.tree_size);
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");

    // The whole log verifies, up to and beyond every receipt.
    let verified = met
        .firewall()
        .verify_audit(pb::VerifyAuditRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{}", verified.problem);
    assert!(verified.entries_checked >= last.tree_size);

    // One entry per chunk, with victim pseudonyms only (never the submitted names).
    let entries = app.audit_entries().await;
    let commits: Vec<_> = entries
        .iter()
        .filter(|e| !e.gate && e.rpc.starts_with("/vawg.v1.IngestService/"))
        .collect();
    assert_eq!(commits.len(), 4, "{commits:#?}");
    assert!(
        commits.iter().all(|e| e.allowed
            && e.purpose == "PURPOSE_RECORD_SUBMISSION"
            && e.agency_id == MET_ID)
    );
    let batch_entry = commits[0];
    assert_eq!(batch_entry.rpc, "/vawg.v1.IngestService/SubmitBatch");
    // Both records name the same (synthetic) victim: one pseudonym.
    assert_eq!(batch_entry.subject_pseudonyms.len(), 1);
    let all = serde_json::to_string(&entries).unwrap().to_lowercase();
    for raw in ["testina", "mockford", "testo", "fakeston", "1991-07-14"] {
        assert!(!all.contains(raw), "'{raw}' in the audit log");
    }
    app.stop().await;
}
both_backends!(receipts, receipts_are_signed_heads_that_grow_and_verify);

/// A record a school produces: a referral to support.
fn school_referral(id: &str) -> pb::VawgRecord {
    let mut r = crime(id, 1);
    r.source_agency_id = "school-100000".into();
    r.counting_unit = pb::CountingUnit::Referral as i32;
    r.area = Some(pb::Area {
        gss_code: "E09000001".into(),
        level: pb::AreaLevel::LocalAuthority as i32,
    });
    r.classification = Some(pb::LocalClassification {
        scheme: "VAWG_CATEGORY".into(),
        code: "stalking".into(),
    });
    r.suspect = None;
    r.case_references = None;
    r.event = Some(Event::SupportReferral(pb::SupportReferral {
        to_agency_id: "support-1".into(),
        service_type: pb::SupportServiceType::Idva as i32,
    }));
    r
}

async fn a_school_court_outcome_is_refused_by_the_hard_rule_and_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let school = app
        .agency("school-100000", AgencyKind::School, &["E09000001"])
        .await;
    let mut court_outcome = school_referral("s-court");
    court_outcome.event = Some(Event::CourtOutcome(pb::CourtOutcome {
        court_type: pb::CourtType::Magistrates as i32,
        verdict: pb::CourtVerdict::Convicted as i32,
        trial_effectiveness: 0,
    }));
    let response = school
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![
                school_referral("s-1"),
                court_outcome,
                school_referral("s-2"),
            ],
        })
        .await
        .expect("the batch is answered per record")
        .into_inner();
    let statuses: Vec<RecordStatus> = response.results.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses,
        vec![
            RecordStatus::Accepted,
            RecordStatus::Rejected,
            RecordStatus::Accepted
        ],
        "{:#?}",
        response.results
    );
    let refused = &response.results[1];
    assert!(
        refused
            .violations
            .iter()
            .any(|v| v.field == "event" && v.reason.contains("hard-rule:producer-kinds")),
        "{:?}",
        refused.violations
    );
    assert_eq!(
        app.store()
            .count_records(Some("school-100000"))
            .await
            .unwrap(),
        2
    );
    assert!(response.audit_receipt.is_some());

    // The refusal is in the audit log as a hard-rule decision, beside the commit of the rest.
    let entries = app.audit_entries().await;
    let refusal = entries
        .iter()
        .find(|e| !e.gate && !e.allowed && e.agency_id == "school-100000")
        .expect("an audit entry for the refusal");
    assert!(refusal.hard_rule);
    assert!(
        refusal
            .policy_ids
            .contains(&"hard-rule:producer-kinds".to_string())
    );
    assert_eq!(refusal.rpc, "/vawg.v1.IngestService/SubmitBatch");
    assert_eq!(refusal.purpose, "PURPOSE_RECORD_SUBMISSION");
    let commit = entries
        .iter()
        .find(|e| !e.gate && e.allowed && e.agency_id == "school-100000")
        .expect("an audit entry for the commit");
    assert!(commit.index > refusal.index);
    assert_eq!(commit.subject_pseudonyms.len(), 1);
    assert_eq!(response.audit_receipt.unwrap().tree_size, commit.index + 1);
    app.stop().await;
}
both_backends!(
    school_court_outcome,
    a_school_court_outcome_is_refused_by_the_hard_rule_and_audited
);
