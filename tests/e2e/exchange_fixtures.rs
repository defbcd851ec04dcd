//! Shared fixtures of the exchange tests: records that give rise to notifications, a victim
//! with every protected field set, subscription helpers and hub replicas on one database.

use std::time::Duration;

use tonic::Streaming;
use vawg_e2e::{Agency, AuthChannel, Bearer, TestApp, connect_with_retry};
use vawg_proto::pb::{self, exchange_service_client::ExchangeServiceClient};

/// A police force area.
pub const MET: &str = "E23000001";
/// Another police force area.
pub const CITY: &str = "E23000002";

pub fn ts(date: &str) -> prost_types::Timestamp {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    prost_types::Timestamp {
        seconds: d.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp(),
        nanos: 0,
    }
}

pub fn pdate(date: &str) -> pb::Date {
    use chrono::Datelike;
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    pb::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// Identifiers of a synthetic person: obviously fake names, a fixed date of birth.
pub fn identifiers(tag: &str) -> pb::PersonIdentifiers {
    pb::PersonIdentifiers {
        given_name: format!("Testgiven{tag}"),
        family_name: format!("Testfamily{tag}"),
        date_of_birth: Some(pb::Date {
            year: 1990,
            month: 3,
            day: 4,
        }),
        ..Default::default()
    }
}

/// A victim with every demographic set, immigration status included (it must never come back).
pub fn victim(tag: &str) -> pb::PersonReference {
    pb::PersonReference {
        identifiers: Some(identifiers(tag)),
        pseudonym: String::new(),
        demographics: Some(pb::Demographics {
            sex: pb::Sex::Female as i32,
            age_at_event: Some(35),
            ethnic_group: pb::EthnicGroup::Asian as i32,
            disability: pb::Disability::Disabled as i32,
            sexual_orientation: pb::SexualOrientation::NotStated as i32,
            gender_identity: pb::GenderIdentity::SameAsSexAtBirth as i32,
            immigration_status: pb::ImmigrationStatus::Insecure as i32,
        }),
    }
}

/// A record with the common fields filled.
#[allow(clippy::too_many_arguments)]
pub fn record(
    agency: &str,
    id: &str,
    area: &str,
    date: &str,
    unit: pb::CountingUnit,
    (scheme, code): (&str, &str),
    victim: pb::PersonReference,
    suspect: Option<pb::PersonReference>,
    event: pb::vawg_record::Event,
) -> pb::VawgRecord {
    pb::VawgRecord {
        source_record_id: id.into(),
        revision: 1,
        source_agency_id: agency.into(),
        event_time: Some(ts(date)),
        recorded_time: Some(ts(date)),
        reference_period: Some(pb::ReferencePeriod {
            start: Some(pdate(date)),
            end: Some(pdate(date)),
        }),
        counting_unit: unit as i32,
        area: Some(pb::Area {
            gss_code: area.into(),
            level: pb::AreaLevel::PoliceForceArea as i32,
        }),
        classification: Some(pb::LocalClassification {
            scheme: scheme.into(),
            code: code.into(),
        }),
        victim: Some(victim),
        suspect,
        case_references: Some(pb::CaseReferences {
            police_crime_reference: format!("CR-{id}"),
            ..Default::default()
        }),
        category: String::new(),
        definition_version: String::new(),
        suspect_is_police_personnel: false,
        event: Some(event),
    }
}

/// A domestic abuse crime (Home Office code 8N, assault) against `victim`.
pub fn crime(police: &str, id: &str, victim: pb::PersonReference) -> pb::VawgRecord {
    let suspect = pb::PersonReference {
        identifiers: Some(identifiers(&format!("S-{id}"))),
        ..Default::default()
    };
    record(
        police,
        id,
        MET,
        "2025-02-01",
        pb::CountingUnit::Crime,
        ("HO_OFFENCE", "8N"),
        victim,
        Some(suspect),
        pb::vawg_record::Event::CrimeRecorded(pb::CrimeRecorded {
            domestic_abuse_flag: true,
            relationship: pb::Relationship::Partner as i32,
            online_flag: false,
        }),
    )
}

/// An Operation Encompass notification to school `urn`.
pub fn encompass(
    police: &str,
    id: &str,
    urn: &str,
    sealed: Option<pb::SealedPayload>,
) -> pb::VawgRecord {
    record(
        police,
        id,
        MET,
        "2025-02-02",
        pb::CountingUnit::Incident,
        ("HO_OFFENCE", "8N"),
        victim(&format!("M-{id}")),
        None,
        pb::vawg_record::Event::EncompassNotification(pb::EncompassNotification {
            school_urn: urn.into(),
            sealed_pupil_details: sealed,
            police_contact: "Safeguarding hub desk".into(),
        }),
    )
}

/// A police referral to the MARAC of `area`.
pub fn marac_referral(police: &str, id: &str, area: &str) -> pb::VawgRecord {
    record(
        police,
        id,
        area,
        "2025-02-03",
        pb::CountingUnit::Referral,
        ("HO_OFFENCE", "8N"),
        victim(&format!("V-{id}")),
        None,
        pb::vawg_record::Event::MaracReferral(pb::MaracReferral {
            referring_agency: pb::ReferringAgency::Police as i32,
            repeat_referral: true,
            children_in_household: 2,
        }),
    )
}

/// A police referral to support service `to`.
pub fn support_referral(police: &str, id: &str, to: &str) -> pb::VawgRecord {
    record(
        police,
        id,
        MET,
        "2025-02-04",
        pb::CountingUnit::Referral,
        ("HO_OFFENCE", "8N"),
        victim(&format!("V-{id}")),
        None,
        pb::vawg_record::Event::SupportReferral(pb::SupportReferral {
            to_agency_id: to.into(),
            service_type: pb::SupportServiceType::Idva as i32,
        }),
    )
}

/// Submits and asserts every record was stored.
pub async fn submit(agency: &Agency, records: Vec<pb::VawgRecord>) {
    let response = agency
        .ingest()
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .unwrap()
        .into_inner();
    for r in &response.results {
        assert!(
            matches!(
                pb::RecordStatus::try_from(r.status),
                Ok(pb::RecordStatus::Accepted | pb::RecordStatus::Superseded)
            ),
            "record {} not accepted: {:?}",
            r.source_record_id,
            r.violations
        );
    }
}

/// Subscribes `client` to `topic`.
pub async fn subscribe(
    client: &mut ExchangeServiceClient<AuthChannel>,
    topic: pb::Topic,
    after_sequence: u64,
) -> Streaming<pb::SubscribeResponse> {
    client
        .subscribe(pb::SubscribeRequest {
            topic: topic as i32,
            after_sequence,
        })
        .await
        .expect("subscribed")
        .into_inner()
}

/// The next notification, within 10 s.
pub async fn next(stream: &mut Streaming<pb::SubscribeResponse>) -> pb::Notification {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a notification within 10 s")
        .expect("stream ok")
        .expect("stream open")
        .notification
        .expect("notification set")
}

/// Asserts nothing arrives on `stream` for `wait`.
pub async fn nothing_within(stream: &mut Streaming<pb::SubscribeResponse>, wait: Duration) {
    if let Ok(got) = tokio::time::timeout(wait, stream.message()).await {
        panic!("expected nothing, got {got:?}");
    }
}

/// Acknowledges up to `sequence` on `topic`.
pub async fn ack(client: &mut ExchangeServiceClient<AuthChannel>, topic: pb::Topic, sequence: u64) {
    let held = client
        .acknowledge(pb::AcknowledgeRequest {
            topic: topic as i32,
            sequence,
        })
        .await
        .expect("acknowledged")
        .into_inner()
        .acknowledged_sequence;
    assert_eq!(held, sequence);
}

/// Another hub on `owner`'s database, PKI and pseudonymisation key: a second replica, or the
/// same hub restarted. Its own stop leaves `owner`'s database alone.
pub async fn replica(owner: &TestApp, poll_interval_ms: u64) -> TestApp {
    let url = owner.database_url.clone();
    let pki = owner.pki.clone();
    let key = owner.dir.path().join("pseudonym-dev.key");
    TestApp::spawn_with(owner.backend, move |s| {
        s.database_url = url;
        if let Some(tls) = s.tls.as_mut() {
            tls.ca_cert = pki.ca_cert();
            tls.server_cert = pki.server_cert();
            tls.server_key = pki.server_key();
        }
        if let Some(jwt) = s.jwt.as_mut() {
            jwt.jwks_file = pki.jwks();
        }
        s.audit.signing_key = Some(pki.audit_key());
        s.pseudonym.dev_key_file = Some(key);
        s.exchange.poll_interval_ms = poll_interval_ms;
    })
    .await
}

/// `agency` (registered on `owner`) calling the exchange of `hub`.
pub async fn exchange_on(
    hub: &TestApp,
    owner: &TestApp,
    agency: &Agency,
) -> ExchangeServiceClient<AuthChannel> {
    let tls = owner.client_tls(Some((&agency.cert, &agency.key)));
    let channel = connect_with_retry(&hub.endpoint(tls)).await;
    ExchangeServiceClient::new(tonic::service::interceptor::InterceptedService::new(
        channel,
        Bearer::new(Some(agency.token())),
    ))
}

/// `agency` (registered on `owner`) calling the ingest service of `hub`.
pub async fn ingest_on(
    hub: &TestApp,
    owner: &TestApp,
    agency: &Agency,
) -> pb::ingest_service_client::IngestServiceClient<AuthChannel> {
    let tls = owner.client_tls(Some((&agency.cert, &agency.key)));
    let channel = connect_with_retry(&hub.endpoint(tls)).await;
    pb::ingest_service_client::IngestServiceClient::new(
        tonic::service::interceptor::InterceptedService::new(
            channel,
            Bearer::new(Some(agency.token())),
        ),
    )
}
