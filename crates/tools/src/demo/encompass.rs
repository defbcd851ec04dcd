//! Step 4: Operation Encompass. The school registers its sealing key; the police seal the
//! pupil's details to it and submit the notification; the school, subscribed, receives it and
//! alone can open it.

use anyhow::Context;
use chrono::Datelike;
use vawg_client::HubClient;
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb;

use super::{
    hex_prefix,
    hub::{DEMO_SCHOOL_URN, Hub},
    metrics::date,
};

/// The police force that notifies the school.
const POLICE: &str = "police-e23000001";

/// A school's subscription to Encompass notifications.
type Subscription = tonic::Streaming<pb::SubscribeResponse>;

/// Runs the exchange and prints what each side saw.
pub(super) async fn encompass(hub: &Hub) -> anyhow::Result<()> {
    let school_id = format!("school-{DEMO_SCHOOL_URN}");
    let school = hub.client(&school_id, AgencyKind::School).await?;
    let keys = vawg_seal::generate_keypair();
    let subscription = register_and_subscribe(&school, &keys).await?;
    let police = hub.client(POLICE, AgencyKind::Police).await?;
    notify(&police, &school_id).await?;
    receive_and_open(&school, &school_id, &keys, subscription).await
}

/// The school registers its public sealing key and subscribes to the Encompass topic.
async fn register_and_subscribe(
    school: &HubClient,
    keys: &vawg_seal::KeyPair,
) -> anyhow::Result<Subscription> {
    school
        .exchange()
        .register_sealing_key(pb::RegisterSealingKeyRequest {
            key_id: format!(
                "school-key-{}",
                hex_prefix(keys.public_key()).trim_end_matches('…')
            ),
            public_key: keys.public_key().to_vec(),
        })
        .await?;
    Ok(school
        .exchange()
        .subscribe(pb::SubscribeRequest {
            topic: pb::Topic::Encompass as i32,
            after_sequence: 0,
        })
        .await?
        .into_inner())
}

/// The police fetch the school's key, seal the pupil's details to it and submit the
/// notification.
async fn notify(police: &HubClient, school_id: &str) -> anyhow::Result<()> {
    let key = police
        .exchange()
        .get_sealing_key(pb::GetSealingKeyRequest {
            agency_id: school_id.to_string(),
        })
        .await?
        .into_inner();
    let pupil = b"Pupil: Synthetic Child (year 4), synthetic date of birth 2016-05-01";
    let sealed = vawg_seal::seal(school_id, &key.key_id, &key.public_key, pupil)?;
    let submitted = police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![notification(sealed)],
        })
        .await?
        .into_inner();
    let status = submitted
        .results
        .first()
        .map(|r| r.status)
        .unwrap_or_default();
    anyhow::ensure!(
        status == pb::RecordStatus::Accepted as i32,
        "the notification was not accepted: {:?}",
        submitted.results.first().map(|r| &r.violations)
    );
    println!(
        "  {POLICE} sealed the pupil's details to {school_id}'s key and submitted the notification"
    );
    Ok(())
}

/// The notification record: an incident ten hours ago, the pupil's details sealed.
fn notification(sealed: pb::SealedPayload) -> pb::VawgRecord {
    let now = chrono::Utc::now();
    let ts = prost_types_timestamp(now - chrono::Duration::hours(10));
    let today = date(now.year(), now.month() as i32, now.day() as i32);
    pb::VawgRecord {
        // Unique per run: two runs can fall within the same second.
        source_record_id: format!("demo-encompass-{}", uuid::Uuid::new_v4().simple()),
        revision: 1,
        source_agency_id: POLICE.into(),
        event_time: Some(ts),
        recorded_time: Some(ts),
        reference_period: Some(pb::ReferencePeriod {
            start: Some(today),
            end: Some(today),
        }),
        counting_unit: pb::CountingUnit::Incident as i32,
        area: Some(pb::Area {
            gss_code: "E23000001".into(),
            level: pb::AreaLevel::PoliceForceArea as i32,
        }),
        classification: Some(pb::LocalClassification {
            scheme: "HO_OFFENCE".into(),
            code: "105A".into(),
        }),
        victim: Some(parent()),
        suspect: None,
        case_references: None,
        category: String::new(),
        definition_version: String::new(),
        suspect_is_police_personnel: false,
        event: Some(pb::vawg_record::Event::EncompassNotification(
            pb::EncompassNotification {
                school_urn: DEMO_SCHOOL_URN.into(),
                sealed_pupil_details: Some(sealed),
                police_contact: "Safeguarding hub, synthetic desk 0000".into(),
            },
        )),
    }
}

/// The victim: the pupil's parent.
fn parent() -> pb::PersonReference {
    pb::PersonReference {
        identifiers: Some(pb::PersonIdentifiers {
            given_name: "Synthetic".into(),
            family_name: "Parent".into(),
            date_of_birth: Some(date(1988, 3, 14)),
            ..Default::default()
        }),
        pseudonym: String::new(),
        demographics: Some(pb::Demographics {
            sex: pb::Sex::Female as i32,
            age_at_event: Some(37),
            ethnic_group: pb::EthnicGroup::NotStated as i32,
            disability: pb::Disability::NotStated as i32,
            sexual_orientation: pb::SexualOrientation::NotStated as i32,
            gender_identity: pb::GenderIdentity::NotStated as i32,
            immigration_status: pb::ImmigrationStatus::NotKnown as i32,
        }),
    }
}

/// The school receives the notification, opens it with its key, acknowledges it, and shows
/// that any other key fails.
async fn receive_and_open(
    school: &HubClient,
    school_id: &str,
    keys: &vawg_seal::KeyPair,
    mut subscription: Subscription,
) -> anyhow::Result<()> {
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), subscription.message())
        .await
        .context("no notification within 10 s")??
        .context("the subscription ended")?;
    let n = message.notification.context("empty message")?;
    let Some(pb::notification::Content::Encompass(content)) = n.content else {
        anyhow::bail!("not an Encompass notification");
    };
    let sealed = content
        .sealed_pupil_details
        .as_ref()
        .context("no sealed details")?;
    let opened = vawg_seal::open(keys, sealed)?;
    println!(
        "  {school_id} received notification #{} (incident {}, contact \"{}\") and opened it: \"{}\"",
        n.sequence,
        content
            .incident_time
            .map(|t| chrono::DateTime::from_timestamp(t.seconds, 0)
                .unwrap_or_default()
                .to_rfc3339())
            .unwrap_or_default(),
        content.police_contact,
        String::from_utf8_lossy(&opened)
    );
    school
        .exchange()
        .acknowledge(pb::AcknowledgeRequest {
            topic: pb::Topic::Encompass as i32,
            sequence: n.sequence,
        })
        .await?;
    let stranger = vawg_seal::generate_keypair();
    let other = vawg_seal::open(&stranger, sealed);
    println!(
        "  the hub stored only ciphertext; any other key fails to open it: {}",
        other
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "opened (unexpected!)".into())
    );
    Ok(())
}

fn prost_types_timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}
