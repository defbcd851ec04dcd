//! The firewall over gRPC: hard rules no policy can override, field masks, start-up refusals.

use futures::FutureExt;
use tonic::Code;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb::{self, Action, EventKind, LawfulBasis, Purpose};
use vawg_server::{app::Application, config::Settings};

fn check(action: Action, purpose: Purpose, basis: LawfulBasis) -> pb::CheckPurposeRequest {
    pb::CheckPurposeRequest {
        action: action as i32,
        purpose: purpose as i32,
        lawful_basis: basis as i32,
        event_kinds: vec![],
        categories: vec![],
    }
}

async fn decide(agency: &vawg_e2e::Agency, req: pb::CheckPurposeRequest) -> pb::FirewallDecision {
    agency
        .firewall()
        .check_purpose(req)
        .await
        .expect("CheckPurpose")
        .into_inner()
        .decision
        .expect("decision")
}

#[tokio::test]
async fn an_allowed_purpose_releases_only_the_fields_its_policy_unmasks() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let support = app
        .agency("idva-london", AgencyKind::SupportService, &["E09000001"])
        .await;
    let d = decide(
        &support,
        check(
            Action::ReadRecords,
            Purpose::VictimSupport,
            LawfulBasis::Consent,
        ),
    )
    .await;
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.policy_ids, vec!["victim-support".to_string()]);
    assert_eq!(
        d.released_fields,
        vec!["category", "event_time", "victim.pseudonym"]
    );
    assert!(!d.hard_rule);

    // MARAC: demographics are released, immigration status never.
    let marac = app.agency("marac-london", AgencyKind::Marac, &[]).await;
    let d = decide(
        &marac,
        check(
            Action::ReadRecords,
            Purpose::MaracRiskAssessment,
            LawfulBasis::PublicTaskSafeguarding,
        ),
    )
    .await;
    assert!(d.allowed, "{d:?}");
    assert!(
        d.released_fields
            .contains(&"victim.demographics.sex".to_string())
    );
    assert!(
        !d.released_fields
            .contains(&"victim.demographics".to_string())
    );
    assert!(d.released_fields.iter().all(|f| !f.contains("immigration")));
    assert!(
        !d.released_fields
            .iter()
            .any(|f| f.starts_with("suspect.demographics"))
    );

    // The same support service for another purpose: denied by default, nothing released.
    let d = decide(
        &support,
        check(
            Action::ReadRecords,
            Purpose::LawEnforcement,
            LawfulBasis::Consent,
        ),
    )
    .await;
    assert!(!d.allowed);
    assert!(d.released_fields.is_empty());
    // Dry runs are audited.
    let last = app.audit_entries().await.pop().unwrap();
    assert!(last.reason.starts_with("Dry run"), "{last:?}");
    assert_eq!(last.purpose, "PURPOSE_LAW_ENFORCEMENT");
    app.stop().await;
}

#[tokio::test]
async fn a_school_may_not_submit_a_court_outcome() {
    // Decided through CheckPurpose (the same Firewall::decide ingest calls per batch).
    let app = TestApp::spawn(Backend::Sqlite).await;
    let school = app.agency("school-100000", AgencyKind::School, &[]).await;
    let mut req = check(
        Action::Submit,
        Purpose::RecordSubmission,
        LawfulBasis::PublicTaskSafeguarding,
    );
    req.event_kinds = vec![EventKind::CourtOutcome as i32];
    let d = decide(&school, req.clone()).await;
    assert!(!d.allowed);
    assert!(d.hard_rule);
    assert!(
        d.reason
            .contains("SCHOOL agency does not produce COURT_OUTCOME"),
        "{d:?}"
    );
    let entry = app.audit_entries().await.pop().unwrap();
    assert!(!entry.allowed && entry.hard_rule);
    assert_eq!(entry.agency_id, "school-100000");

    let court = app.agency("court-london", AgencyKind::Court, &[]).await;
    assert!(decide(&court, req).await.allowed);
    app.stop().await;
}

#[tokio::test]
async fn immigration_enforcement_is_refused_on_every_rpc() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let ie = app
        .agency(
            "immigration-enforcement",
            AgencyKind::ImmigrationEnforcement,
            &[],
        )
        .await;
    let refused = |r: Result<(), tonic::Status>, rpc: &str| {
        let status = r.expect_err(rpc);
        assert_eq!(status.code(), Code::PermissionDenied, "{rpc}: {status:?}");
        assert!(
            status.message().contains("immigration enforcement"),
            "{rpc}"
        );
    };
    let mut defs = ie.definitions();
    refused(
        defs.list_definitions(pb::ListDefinitionsRequest {})
            .await
            .map(|_| ()),
        "ListDefinitions",
    );
    refused(
        defs.get_definition(pb::GetDefinitionRequest::default())
            .await
            .map(|_| ()),
        "GetDefinition",
    );
    refused(
        defs.classify(pb::ClassifyRequest::default())
            .await
            .map(|_| ()),
        "Classify",
    );
    let mut ingest = ie.ingest();
    refused(
        ingest
            .submit_batch(pb::SubmitBatchRequest::default())
            .await
            .map(|_| ()),
        "SubmitBatch",
    );
    refused(
        ingest
            .stream_records(tokio_stream::iter(Vec::<pb::StreamRecordsRequest>::new()))
            .await
            .map(|_| ()),
        "StreamRecords",
    );
    refused(
        ingest
            .retract_record(pb::RetractRecordRequest::default())
            .await
            .map(|_| ()),
        "RetractRecord",
    );
    let mut metrics = ie.metrics();
    refused(
        metrics
            .list_metrics(pb::ListMetricsRequest::default())
            .await
            .map(|_| ()),
        "ListMetrics",
    );
    refused(
        metrics
            .query_metric(pb::QueryMetricRequest::default())
            .await
            .map(|_| ()),
        "QueryMetric",
    );
    refused(
        metrics
            .compare_definitions(pb::CompareDefinitionsRequest::default())
            .await
            .map(|_| ()),
        "CompareDefinitions",
    );
    let mut exchange = ie.exchange();
    refused(
        exchange
            .request_records(pb::RequestRecordsRequest::default())
            .await
            .map(|_| ()),
        "RequestRecords",
    );
    refused(
        exchange
            .subscribe(pb::SubscribeRequest::default())
            .await
            .map(|_| ()),
        "Subscribe",
    );
    refused(
        exchange
            .acknowledge(pb::AcknowledgeRequest::default())
            .await
            .map(|_| ()),
        "Acknowledge",
    );
    refused(
        exchange
            .register_sealing_key(pb::RegisterSealingKeyRequest::default())
            .await
            .map(|_| ()),
        "RegisterSealingKey",
    );
    refused(
        exchange
            .get_sealing_key(pb::GetSealingKeyRequest::default())
            .await
            .map(|_| ()),
        "GetSealingKey",
    );
    let mut fw = ie.firewall();
    refused(
        fw.check_purpose(pb::CheckPurposeRequest::default())
            .await
            .map(|_| ()),
        "CheckPurpose",
    );
    refused(
        fw.list_policies(pb::ListPoliciesRequest {})
            .await
            .map(|_| ()),
        "ListPolicies",
    );
    refused(
        fw.read_audit(pb::ReadAuditRequest::default())
            .await
            .map(|_| ()),
        "ReadAudit",
    );
    refused(
        fw.verify_audit(pb::VerifyAuditRequest {}).await.map(|_| ()),
        "VerifyAudit",
    );
    let mut health = tonic_health::pb::health_client::HealthClient::new(ie.authed());
    refused(
        health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map(|_| ()),
        "Health/Check",
    );

    let entries = app.audit_entries().await;
    let ie_entries: Vec<_> = entries
        .iter()
        .filter(|e| e.agency_id == "immigration-enforcement")
        .collect();
    assert_eq!(ie_entries.len(), 19);
    assert!(ie_entries.iter().all(|e| !e.allowed && e.hard_rule));
    // The reviewed policies forbid it too, so no override was attempted.
    assert!(ie_entries.iter().all(|e| !e.override_attempt));

    // Nobody gets a flow for the purpose of immigration enforcement either.
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let d = decide(
        &police,
        check(
            Action::ReadAggregates,
            Purpose::ImmigrationEnforcement,
            LawfulBasis::LawEnforcementPart3,
        ),
    )
    .await;
    assert!(!d.allowed && d.hard_rule);
    app.stop().await;
}

const SCHEMA: &str = include_str!("../../deploy/policies/vawg.cedarschema");

#[tokio::test]
async fn a_policy_file_permitting_immigration_enforcement_is_overridden_and_logged() {
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(policies.path().join("vawg.cedarschema"), SCHEMA).unwrap();
    std::fs::write(
        policies.path().join("rogue.cedar"),
        r#"
@id("reference-read")
@description("Reference data for everyone.")
permit (principal, action == Vawg::Action::"READ_REFERENCE", resource);

@id("rogue-immigration-sharing")
@description("An edit that tries to open a flow to immigration enforcement.")
@fields("*")
permit (principal, action, resource)
when { principal.kind == "IMMIGRATION_ENFORCEMENT" || context.purpose == "IMMIGRATION_ENFORCEMENT" };
"#,
    )
    .unwrap();
    let dir = policies.path().to_path_buf();
    let app = TestApp::spawn_with(Backend::Sqlite, move |s| s.policies_dir = Some(dir)).await;
    let ie = app
        .agency(
            "immigration-enforcement",
            AgencyKind::ImmigrationEnforcement,
            &[],
        )
        .await;
    let status = ie
        .firewall()
        .list_policies(pb::ListPoliciesRequest {})
        .await
        .expect_err("refused whatever the policy says");
    assert_eq!(status.code(), Code::PermissionDenied);
    let entry = app.audit_entries().await.pop().unwrap();
    assert!(
        entry.override_attempt && entry.hard_rule && !entry.allowed,
        "{entry:?}"
    );
    assert!(
        entry
            .policy_ids
            .contains(&"rogue-immigration-sharing".to_string())
    );
    assert!(entry.reason.contains("attempted override"), "{entry:?}");

    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let d = decide(
        &police,
        check(
            Action::ReadRecords,
            Purpose::ImmigrationEnforcement,
            LawfulBasis::LawEnforcementPart3,
        ),
    )
    .await;
    assert!(!d.allowed && d.hard_rule, "{d:?}");
    assert!(d.released_fields.is_empty());
    assert!(d.reason.contains("attempted override"), "{d:?}");
    let entry = app.audit_entries().await.pop().unwrap();
    assert!(entry.override_attempt, "{entry:?}");
    app.stop().await;
}

fn secure_settings(dir: &std::path::Path) -> Settings {
    let pki = vawg_tools::pki::init(&dir.join("pki")).unwrap();
    let mut s = Settings {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: format!("sqlite://{}", dir.join("hub.db").display()),
        tls: Some(vawg_server::config::TlsSettings {
            ca_cert: pki.ca_cert(),
            server_cert: pki.server_cert(),
            server_key: pki.server_key(),
        }),
        jwt: Some(vawg_server::config::JwtSettings {
            issuer: vawg_tools::pki::DEV_ISSUER.into(),
            audience: vawg_tools::pki::DEV_AUDIENCE.into(),
            jwks_file: pki.jwks(),
        }),
        ..Settings::default()
    };
    s.audit.signing_key = Some(pki.audit_key());
    s
}

async fn build_error(settings: Settings) -> String {
    match Application::build(settings).map(|r| r.map(|_| ())).await {
        Ok(()) => panic!("the hub must refuse to start"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn the_hub_refuses_to_start_without_tls_tokens_or_valid_policies() {
    let dir = tempfile::tempdir().unwrap();
    let ok = secure_settings(dir.path());

    let mut s = ok.clone();
    s.tls = None;
    assert!(build_error(s).await.contains("without mutual TLS"));
    let mut s = ok.clone();
    s.jwt = None;
    assert!(build_error(s).await.contains("without token validation"));
    let mut s = ok.clone();
    s.audit.signing_key = None;
    assert!(build_error(s).await.contains("audit signing key"));

    // A policy naming an attribute the schema does not have.
    let policies = dir.path().join("bad-policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("vawg.cedarschema"), SCHEMA).unwrap();
    std::fs::write(
        policies.join("bad.cedar"),
        r#"@id("typo") @description("Misspelt attribute.")
permit (principal, action, resource) when { principal.knd == "POLICE" };"#,
    )
    .unwrap();
    let mut s = ok.clone();
    s.policies_dir = Some(policies.clone());
    assert!(build_error(s).await.contains("do not validate"));

    // A policy without a description is refused: DPOs review descriptions.
    std::fs::write(
        policies.join("bad.cedar"),
        r#"@id("silent") permit (principal, action, resource);"#,
    )
    .unwrap();
    let mut s = ok.clone();
    s.policies_dir = Some(policies);
    assert!(build_error(s).await.contains("no @description"));
}

#[tokio::test]
async fn list_policies_shows_the_reviewed_policies_and_the_hard_rules() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &[])
        .await;
    let list = police
        .firewall()
        .list_policies(pb::ListPoliciesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.policy_set_version.len(), 16);
    let ids: Vec<&str> = list.policies.iter().map(|p| p.id.as_str()).collect();
    for id in [
        "reference-read",
        "no-immigration-enforcement",
        "victim-support",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(
        list.policies
            .iter()
            .all(|p| !p.description.is_empty() && !p.text.is_empty())
    );
    assert_eq!(list.hard_rules.len(), 6);
    app.stop().await;
}
