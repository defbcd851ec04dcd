//! Every caller-supplied reason is audited (issue 20, item 2): `RequestRecords`' justification
//! and `RetractRecord`'s reason appear in the audit entry (`ReadAudit`), bounded and free of
//! the subject's identifiers and identifier shapes; and a log holding entries written before
//! the entry format was versioned and entries written after still verifies (`VerifyAudit`).

use tonic::Code;
use vawg_audit::{Frontier, HeadSigner, chain_hash, leaf_hash, stored_from_head};
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;
use vawg_store::audit::AuditRow;

use crate::exchange_fixtures::{MET, crime, identifiers, submit, victim};

const JUSTIFICATION: &str = "Child protection strategy discussion, section 47 enquiry";
const REASON: &str = "Recorded in error: duplicate of another crime report";

fn request(tag: &str, justification: &str) -> pb::RequestRecordsRequest {
    pb::RequestRecordsRequest {
        subject: Some(identifiers(tag)),
        purpose: pb::Purpose::Safeguarding as i32,
        lawful_basis: pb::LawfulBasis::PublicTaskSafeguarding as i32,
        justification: justification.into(),
        event_kinds: vec![],
    }
}

async fn own_entries(agency: &Agency) -> Vec<pb::AuditEntry> {
    agency
        .firewall()
        .read_audit(pb::ReadAuditRequest {
            from_index: 0,
            limit: 1000,
            agency_id: String::new(),
        })
        .await
        .expect("ReadAudit")
        .into_inner()
        .entries
}

async fn retract(agency: &Agency, id: &str, reason: &str) -> Result<(), tonic::Status> {
    agency
        .ingest()
        .retract_record(pb::RetractRecordRequest {
            source_record_id: id.into(),
            reason: reason.into(),
        })
        .await
        .map(|_| ())
}

async fn justification_and_reason_are_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let school = app
        .agency("school-100001", AgencyKind::School, &[MET])
        .await;
    submit(
        &police,
        vec![
            crime(&police.id, "c1", victim("A")),
            crime(&police.id, "c2", victim("A")),
        ],
    )
    .await;
    retract(&police, "c2", REASON).await.expect("retracted");
    let got = school
        .exchange()
        .request_records(request("A", JUSTIFICATION))
        .await
        .expect("answered")
        .into_inner();
    assert!(got.decision.expect("decision").allowed);

    let asked = own_entries(&school).await;
    let entry = asked
        .iter()
        .find(|e| {
            e.rpc.ends_with("/RequestRecords") && e.purpose == pb::Purpose::Safeguarding as i32
        })
        .expect("the request's audit entry (the decision, not the auth layer's gate)");
    assert_eq!(entry.justification, JUSTIFICATION, "{entry:?}");
    assert_eq!(entry.format_version, vawg_audit::FORMAT_VERSION);
    let retracted = own_entries(&police).await;
    let entry = retracted
        .iter()
        .find(|e| e.rpc.ends_with("/RetractRecord") && !e.justification.is_empty())
        .expect("the retraction's audit entry");
    assert_eq!(entry.justification, REASON, "{entry:?}");
    // The gate entries (the auth layer) carry no caller words.
    assert!(
        retracted
            .iter()
            .filter(|e| !e.rpc.ends_with("/RetractRecord"))
            .all(|e| e.justification.is_empty())
    );

    // Personal data is refused before anything is decided or audited, the field named.
    let refusals = [
        "Concerns raised about Testfamilya at school",
        "NHS number 943 476 5919",
        "born 04/03/1990",
        "contact via parent@example.org",
        "lives at SW1A 1AA",
        "two\nlines",
    ];
    for bad in refusals {
        let err = school
            .exchange()
            .request_records(request("A", bad))
            .await
            .expect_err(bad);
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}: {err:?}");
        assert!(err.message().contains("justification"), "{err:?}");
    }
    let err = school
        .exchange()
        .request_records(request("A", &"x".repeat(501)))
        .await
        .expect_err("too long");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = retract(&police, "c1", "duplicate, entered 12/11/2025 by mistake")
        .await
        .expect_err("a date in a reason");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    for e in app.audit_entries().await {
        for bad in refusals.iter().chain(&["12/11/2025"]) {
            assert!(!e.justification.contains(bad), "{bad} audited: {e:?}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn sqlite_justification_and_reason_are_audited() {
    justification_and_reason_are_audited(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_justification_and_reason_are_audited() {
    justification_and_reason_are_audited(Backend::Postgres).await;
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

/// An entry exactly as the hub wrote it before the format was versioned (no `version`, no
/// `justification`).
fn v1_entry(index: u64, agency_id: &str) -> String {
    format!(
        r#"{{"index":{index},"time":"2026-01-01T00:00:00.000Z","agency_id":"{agency_id}","agency_kind":"POLICE","rpc":"/vawg.v1.IngestService/RetractRecord","action":"ACTION_SUBMIT","purpose":"PURPOSE_RECORD_SUBMISSION","lawful_basis":"LAWFUL_BASIS_UNSPECIFIED","allowed":true,"status":"","policy_ids":["own-records"],"policy_set_version":"old","reason":"Allowed.","subject_pseudonyms":[],"hard_rule":false,"override_attempt":false,"gate":false}}"#
    )
}

/// Appends `count` version-1 entries to the stored log, hashed, chained and under a head
/// signed with the hub's own audit key, as a hub from before the change would have.
async fn append_v1_entries(app: &TestApp, agency_id: &str, count: u64) {
    let mut frontier = Frontier::default();
    let mut chain = [0u8; 32];
    for (_, leaf, ch) in app.store().audit_hashes().await.expect("hashes") {
        frontier.push(unhex(&leaf));
        chain = unhex(&ch);
    }
    let mut rows = Vec::new();
    for index in frontier.size()..frontier.size() + count {
        let entry = v1_entry(index, agency_id);
        let leaf = leaf_hash(entry.as_bytes());
        chain = chain_hash(&chain, &leaf);
        frontier.push(leaf);
        rows.push(AuditRow {
            idx: index,
            agency_id: agency_id.into(),
            entry,
            leaf_hash: hex(&leaf),
            chain_hash: hex(&chain),
        });
    }
    let pem = std::fs::read_to_string(app.pki.audit_key()).expect("audit key");
    let signer = HeadSigner::from_pem(&pem).expect("signer");
    let head = signer.sign(frontier.size(), frontier.root()).expect("sign");
    app.store()
        .audit_append_batch(&rows, &stored_from_head(&head))
        .await
        .expect("old entries stored");
}

async fn verify(agency: &Agency) -> pb::VerifyAuditResponse {
    agency
        .firewall()
        .verify_audit(pb::VerifyAuditRequest::default())
        .await
        .expect("VerifyAudit")
        .into_inner()
}

async fn a_log_across_the_format_change_verifies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    // Written "before the change": version-1 entries, first in the log.
    append_v1_entries(&app, &police.id, 3).await;
    // Written after: the hub's own entries, version 2, with a reason.
    submit(&police, vec![crime(&police.id, "c1", victim("A"))]).await;
    retract(&police, "c1", REASON).await.expect("retracted");
    // And old ones again (a replica not yet upgraded), then new ones.
    append_v1_entries(&app, &police.id, 2).await;
    retract(&police, "c1", REASON)
        .await
        .expect("retracted again");

    let report = verify(&police).await;
    let total = app.audit_entries().await.len() as u64;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries_checked, total);
    let entries = own_entries(&police).await;
    let versions: Vec<u32> = entries.iter().map(|e| e.format_version).collect();
    assert_eq!(&versions[..3], &[1, 1, 1], "{versions:?}");
    assert!(versions.contains(&2), "{versions:?}");
    assert_eq!(
        entries.iter().filter(|e| e.justification == REASON).count(),
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn sqlite_a_log_across_the_format_change_verifies() {
    a_log_across_the_format_change_verifies(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_log_across_the_format_change_verifies() {
    a_log_across_the_format_change_verifies(Backend::Postgres).await;
}
