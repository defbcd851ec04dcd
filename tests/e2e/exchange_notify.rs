//! Subscriptions end to end: routing (Operation Encompass only to the school named, MARAC
//! referrals to the MARAC of the area, support referrals to the service named), sealed pupil
//! details that only the school's key opens, resumption by sequence after a disconnect and
//! after a hub restart with no gap and no duplicate, and delivery by whichever replica.

use std::time::Duration;

use tonic::Code;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb;
use vawg_seal as sealing;

use crate::exchange_fixtures::{
    CITY, MET, ack, encompass, exchange_on, ingest_on, marac_referral, next, nothing_within,
    replica, submit, subscribe, support_referral,
};

const QUIET: Duration = Duration::from_millis(1500);

fn sequences(notifications: &[pb::Notification]) -> Vec<u64> {
    notifications.iter().map(|n| n.sequence).collect()
}

async fn encompass_reaches_the_named_school_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let school = app
        .agency("school-100001", AgencyKind::School, &[MET])
        .await;
    let other = app
        .agency("school-100002", AgencyKind::School, &[MET])
        .await;

    // Each school registers its public key; the police fetch the named school's key and seal.
    let keys = sealing::generate_keypair();
    let other_keys = sealing::generate_keypair();
    for (agency, k) in [(&school, &keys), (&other, &other_keys)] {
        agency
            .exchange()
            .register_sealing_key(pb::RegisterSealingKeyRequest {
                key_id: "2025-k1".into(),
                public_key: k.public_key().to_vec(),
            })
            .await
            .expect("key registered");
    }
    let key = police
        .exchange()
        .get_sealing_key(pb::GetSealingKeyRequest {
            agency_id: school.id.clone(),
        })
        .await
        .expect("school key")
        .into_inner();
    assert_eq!(key.suite, sealing::SUITE);
    assert_eq!(key.public_key, keys.public_key());
    let pupil = br#"{"given_name":"Testpupil","family_name":"Testfamily","dob":"2016-05-01"}"#;
    let sealed = sealing::seal(&school.id, &key.key_id, &key.public_key, pupil).unwrap();

    let mut mine = subscribe(&mut school.exchange(), pb::Topic::Encompass, 0).await;
    let mut theirs = subscribe(&mut other.exchange(), pb::Topic::Encompass, 0).await;
    submit(
        &police,
        vec![encompass(&police.id, "oe-1", "100001", Some(sealed))],
    )
    .await;

    let n = next(&mut mine).await;
    assert_eq!(n.sequence, 1);
    assert_eq!(n.topic, pb::Topic::Encompass as i32);
    assert_eq!(n.source_agency_id, police.id);
    assert!(!n.record_id.is_empty());
    let Some(pb::notification::Content::Encompass(content)) = n.content else {
        panic!("encompass content expected: {n:?}");
    };
    assert_eq!(content.school_urn, "100001");
    assert_eq!(content.police_contact, "Safeguarding hub desk");
    assert_eq!(
        content.incident_time.unwrap().seconds,
        crate::exchange_fixtures::ts("2025-02-02").seconds
    );
    let payload = content.sealed_pupil_details.expect("sealed details");
    // The hub kept only ciphertext; the school opens it, nobody else can.
    assert_eq!(sealing::open(&keys, &payload).unwrap(), pupil);
    assert!(sealing::open(&other_keys, &payload).is_err());
    assert!(!payload.ciphertext.windows(9).any(|w| w == b"Testpupil"));
    nothing_within(&mut theirs, QUIET).await;

    // The other school has nothing in its outbox at all, and no school may read MARAC traffic.
    assert!(
        app.store()
            .notifications_after(&other.id, vawg_store::exchange::Topic::Encompass, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let status = school
        .exchange()
        .subscribe(pb::SubscribeRequest {
            topic: pb::Topic::Marac as i32,
            after_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test]
async fn encompass_reaches_the_named_school_only_sqlite() {
    encompass_reaches_the_named_school_only(Backend::Sqlite).await;
}

#[tokio::test]
async fn encompass_reaches_the_named_school_only_postgres() {
    encompass_reaches_the_named_school_only(Backend::Postgres).await;
}

#[tokio::test]
async fn marac_and_support_referrals_are_routed_by_area_and_addressee() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET, CITY])
        .await;
    let marac = app.agency("marac-met", AgencyKind::Marac, &[MET]).await;
    let city_marac = app.agency("marac-city", AgencyKind::Marac, &[CITY]).await;
    let idva = app
        .agency("idva-one", AgencyKind::SupportService, &[MET])
        .await;
    let other_idva = app
        .agency("idva-two", AgencyKind::SupportService, &[MET])
        .await;

    let mut met_stream = subscribe(&mut marac.exchange(), pb::Topic::Marac, 0).await;
    let mut city_stream = subscribe(&mut city_marac.exchange(), pb::Topic::Marac, 0).await;
    let mut idva_stream = subscribe(&mut idva.exchange(), pb::Topic::SupportReferral, 0).await;
    let mut other_stream =
        subscribe(&mut other_idva.exchange(), pb::Topic::SupportReferral, 0).await;
    submit(
        &police,
        vec![
            marac_referral(&police.id, "mr-1", MET),
            support_referral(&police.id, "sr-1", &idva.id),
        ],
    )
    .await;

    let n = next(&mut met_stream).await;
    let Some(pb::notification::Content::Marac(m)) = n.content else {
        panic!("MARAC content expected");
    };
    assert_eq!(m.area_code, MET);
    assert_eq!(m.victim_pseudonym.len(), 32);
    assert!(m.repeat_referral);
    assert_eq!(m.children_in_household, 2);
    assert_eq!(m.referring_agency, pb::ReferringAgency::Police as i32);
    assert_eq!(m.category, "domestic_abuse");

    let n = next(&mut idva_stream).await;
    let Some(pb::notification::Content::SupportReferral(s)) = n.content else {
        panic!("support referral content expected");
    };
    assert_eq!(s.service_type, pb::SupportServiceType::Idva as i32);
    assert_eq!(s.victim_pseudonym.len(), 32);
    assert_eq!(s.category, "domestic_abuse");
    assert_eq!(s.area_code, MET);
    nothing_within(&mut city_stream, QUIET).await;
    nothing_within(&mut other_stream, Duration::from_millis(200)).await;
    app.stop().await;
}

async fn resume_after_disconnect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let school = app
        .agency("school-100001", AgencyKind::School, &[MET])
        .await;
    let mut client = school.exchange();

    submit(
        &police,
        (1..=3)
            .map(|i| encompass(&police.id, &format!("oe-{i}"), "100001", None))
            .collect(),
    )
    .await;
    let mut stream = subscribe(&mut client, pb::Topic::Encompass, 0).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut stream).await);
    }
    assert_eq!(sequences(&got), [1, 2, 3]);
    // Processed only two before the connection dropped.
    ack(&mut client, pb::Topic::Encompass, 2).await;
    drop(stream);

    submit(
        &police,
        (4..=5)
            .map(|i| encompass(&police.id, &format!("oe-{i}"), "100001", None))
            .collect(),
    )
    .await;
    // Resuming (after_sequence 0) starts after the last acknowledged: 3 again, then 4 and 5.
    let mut stream = subscribe(&mut client, pb::Topic::Encompass, 0).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut stream).await);
    }
    assert_eq!(sequences(&got), [3, 4, 5]);
    nothing_within(&mut stream, QUIET).await;
    // Distinct records, in ingest order.
    let ids: std::collections::BTreeSet<_> = got.iter().map(|n| n.record_id.clone()).collect();
    assert_eq!(ids.len(), 3);

    // An explicit position overrides the acknowledgement; acknowledgements never go back and
    // never run ahead of what exists.
    let mut stream = subscribe(&mut client, pb::Topic::Encompass, 4).await;
    assert_eq!(next(&mut stream).await.sequence, 5);
    ack(&mut client, pb::Topic::Encompass, 5).await;
    let held = client
        .acknowledge(pb::AcknowledgeRequest {
            topic: pb::Topic::Encompass as i32,
            sequence: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.acknowledged_sequence, 5);
    let status = client
        .acknowledge(pb::AcknowledgeRequest {
            topic: pb::Topic::Encompass as i32,
            sequence: 6,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    app.stop().await;
}

#[tokio::test]
async fn resume_after_disconnect_sqlite() {
    resume_after_disconnect(Backend::Sqlite).await;
}

#[tokio::test]
async fn resume_after_disconnect_postgres() {
    resume_after_disconnect(Backend::Postgres).await;
}

/// The school's hub is stopped and a new one started on the same database: notifications
/// delivered but not acknowledged, and those that arrived while it was down, all come, once.
async fn resume_after_hub_restart(backend: Backend) {
    let owner = TestApp::spawn(backend).await;
    let police = owner
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let school = owner
        .agency("school-100001", AgencyKind::School, &[MET])
        .await;

    let first = replica(&owner, 500).await;
    let mut client = exchange_on(&first, &owner, &school).await;
    let mut stream = subscribe(&mut client, pb::Topic::Encompass, 0).await;
    let mut ingest = ingest_on(&first, &owner, &police).await;
    let records = (1..=3).map(|i| encompass(&police.id, &format!("oe-{i}"), "100001", None));
    ingest
        .submit_batch(pb::SubmitBatchRequest {
            records: records.collect(),
        })
        .await
        .expect("ingested on the first hub");
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut stream).await);
    }
    assert_eq!(sequences(&got), [1, 2, 3]);
    ack(&mut client, pb::Topic::Encompass, 2).await;

    // The hub stops: the open subscription ends (UNAVAILABLE: reconnect), nothing is lost.
    first.stop().await;
    match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
        Ok(Ok(None)) => {}
        Ok(Err(status)) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        other => panic!("the stream should end when the hub stops: {other:?}"),
    }
    // Records keep arriving (through another replica) while the school's hub is down.
    submit(
        &police,
        (4..=5)
            .map(|i| encompass(&police.id, &format!("oe-{i}"), "100001", None))
            .collect(),
    )
    .await;

    let second = replica(&owner, 500).await;
    let mut client = exchange_on(&second, &owner, &school).await;
    let mut stream = subscribe(&mut client, pb::Topic::Encompass, 0).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut stream).await);
    }
    assert_eq!(sequences(&got), [3, 4, 5], "no gap, no duplicate");
    nothing_within(&mut stream, QUIET).await;
    drop(stream);
    second.stop().await;
    owner.stop().await;
}

#[tokio::test]
async fn resume_after_hub_restart_sqlite() {
    resume_after_hub_restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn resume_after_hub_restart_postgres() {
    resume_after_hub_restart(Backend::Postgres).await;
}

/// Two replicas on one PostgreSQL database, polling only once a minute: a notification ingested
/// on either reaches a subscriber on the other within seconds, so it was LISTEN/NOTIFY that
/// delivered it.
#[tokio::test]
async fn two_replicas_both_deliver_whichever_received_the_record() {
    let owner = TestApp::spawn(Backend::Postgres).await;
    let police = owner
        .agency("police-e23000001", AgencyKind::Police, &[MET])
        .await;
    let school = owner
        .agency("school-100001", AgencyKind::School, &[MET])
        .await;
    let a = replica(&owner, 60_000).await;
    let b = replica(&owner, 60_000).await;

    let mut on_a = subscribe(
        &mut exchange_on(&a, &owner, &school).await,
        pb::Topic::Encompass,
        0,
    )
    .await;
    let mut on_b = subscribe(
        &mut exchange_on(&b, &owner, &school).await,
        pb::Topic::Encompass,
        0,
    )
    .await;
    let mut ingest_a = ingest_on(&a, &owner, &police).await;
    let mut ingest_b = ingest_on(&b, &owner, &police).await;

    let deadline = Duration::from_secs(5);
    ingest_a
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![encompass(&police.id, "oe-a", "100001", None)],
        })
        .await
        .unwrap();
    for stream in [&mut on_a, &mut on_b] {
        let n = tokio::time::timeout(deadline, next(stream))
            .await
            .expect("prompt delivery");
        assert_eq!(n.sequence, 1);
    }
    ingest_b
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![encompass(&police.id, "oe-b", "100001", None)],
        })
        .await
        .unwrap();
    for stream in [&mut on_a, &mut on_b] {
        let n = tokio::time::timeout(deadline, next(stream))
            .await
            .expect("prompt delivery");
        assert_eq!(n.sequence, 2);
    }
    drop((on_a, on_b));
    a.stop().await;
    b.stop().await;
    owner.stop().await;
}
