//! Security review: the firewall's decision table over every RPC × agency kind × purpose ×
//! lawful basis, decided by the policy files in `deploy/policies/` through
//! [`Firewall::decide`] and compared with an expectation table written by hand from the
//! policies' *intent* (the descriptions in ARCHITECTURE.md and on each policy), not from the
//! engine's outputs; and no RPC the hub describes is reachable without mutual TLS and a token.

use std::{collections::BTreeSet, path::PathBuf, str::FromStr};

use prost::Message;
use tonic::{Code, codegen::http::uri::PathAndQuery};
use vawg_audit::HeadSigner;
use vawg_domain::identity::{AgencyKind, CallerIdentity};
use vawg_e2e::{Backend, TestApp};
use vawg_firewall::Firewall;
use vawg_policy::{Flow, default_scopes, engine::PolicyEngine};
use vawg_proto::pb::{self, Action, LawfulBasis, Purpose};
use vawg_store::Store;

/// Every gRPC method (`/package.Service/Method`) in the descriptor sets the hub serves: its
/// own contracts, health and reflection.
pub fn every_described_rpc() -> Vec<String> {
    let mut out = Vec::new();
    for set in [
        pb::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    ] {
        let set = prost_types::FileDescriptorSet::decode(set).expect("descriptor set");
        for file in set.file {
            for service in &file.service {
                for method in &service.method {
                    out.push(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What each RPC is, by intent: the action it performs. Written by hand; a new RPC the table
/// does not know fails the test until someone decides (and reviews) what it is.
fn intended_action(rpc: &str) -> Action {
    let (service, method) = rpc[1..].split_once('/').expect("path");
    match (service, method) {
        // The common definition, the policies, health and reflection: reference data, no
        // personal data.
        ("vawg.v1.DefinitionService", _)
        | ("vawg.v1.FirewallService", "CheckPurpose" | "ListPolicies")
        | ("vawg.v1.ExchangeService", "GetSealingKey")
        | ("grpc.health.v1.Health", _)
        | ("grpc.reflection.v1.ServerReflection", _) => Action::ReadReference,
        ("vawg.v1.FirewallService", "ReadAudit" | "VerifyAudit") => Action::ReadAudit,
        ("vawg.v1.IngestService", "SubmitBatch" | "StreamRecords" | "RetractRecord") => {
            Action::Submit
        }
        (
            "vawg.v1.MetricsService",
            "ListMetrics"
            | "QueryMetric"
            | "CompareDefinitions"
            | "ListPublicationTables"
            | "GetPublicationTable",
        ) => Action::ReadAggregates,
        ("vawg.v1.ExchangeService", "RequestRecords") => Action::ReadRecords,
        ("vawg.v1.ExchangeService", "Subscribe" | "Acknowledge" | "RegisterSealingKey") => {
            Action::ReceiveNotifications
        }
        _ => panic!("{rpc}: not in the security review's table; decide what it is"),
    }
}

/// The purpose calling an RPC implies (the auth layer's gate decides on it).
fn implied_purpose(action: Action) -> Purpose {
    match action {
        Action::Submit => Purpose::RecordSubmission,
        Action::ReadAggregates => Purpose::Statistics,
        Action::ReadAudit => Purpose::Oversight,
        _ => Purpose::Unspecified,
    }
}

/// Kinds that produce records of some kind (and so hold `records:write` by default): every
/// statutory and commissioned body, and commissioners (funding returns); never the central
/// analytical team.
fn produces_records(kind: AgencyKind) -> bool {
    use AgencyKind as K;
    matches!(
        kind,
        K::Police
            | K::Cps
            | K::Court
            | K::Health
            | K::LocalAuthority
            | K::School
            | K::SupportService
            | K::Probation
            | K::Marac
            | K::Commissioner
    )
}

/// Kinds that may use the exchange at all: everyone but the central team and commissioners,
/// who work with aggregates only.
fn uses_exchange(kind: AgencyKind) -> bool {
    !matches!(kind, AgencyKind::CentralAnalyst | AgencyKind::Commissioner)
}

/// Safeguarding practitioners: which agency recorded what, when, where, in which category,
/// with pseudonymous references; no demographics.
const SAFEGUARDING_FIELDS: [&str; 8] = [
    "area",
    "case_references.police_crime_reference_pseudonym",
    "category",
    "definition_version",
    "event",
    "event_time",
    "source_agency_id",
    "victim.pseudonym",
];
/// Professional standards (police only): the events with both pseudonyms and the label, no
/// demographics.
const PROFESSIONAL_STANDARDS_FIELDS: [&str; 10] = [
    "area",
    "case_references.police_crime_reference_pseudonym",
    "category",
    "definition_version",
    "event",
    "event_time",
    "source_agency_id",
    "suspect.pseudonym",
    "suspect_is_police_personnel",
    "victim.pseudonym",
];

/// MARAC: the history with both pseudonyms and the victim's demographics, immigration status
/// excepted.
const MARAC_FIELDS: [&str; 15] = [
    "area",
    "case_references.police_crime_reference_pseudonym",
    "category",
    "definition_version",
    "event",
    "event_time",
    "source_agency_id",
    "suspect.pseudonym",
    "victim.demographics.age_at_event",
    "victim.demographics.disability",
    "victim.demographics.ethnic_group",
    "victim.demographics.gender_identity",
    "victim.demographics.sex",
    "victim.demographics.sexual_orientation",
    "victim.pseudonym",
];
/// Support services: the category, the time and the victim's pseudonym only.
const SUPPORT_FIELDS: [&str; 3] = ["category", "event_time", "victim.pseudonym"];
/// Notifications: what happened, when, in which category.
const NOTIFICATION_FIELDS: [&str; 3] = ["category", "event", "event_time"];

/// The expected decision.
#[derive(Debug, PartialEq, Eq)]
struct Expect {
    allowed: bool,
    hard_rule: bool,
    fields: Vec<String>,
}

impl Expect {
    fn deny() -> Expect {
        Expect {
            allowed: false,
            hard_rule: false,
            fields: vec![],
        }
    }
    fn hard() -> Expect {
        Expect {
            allowed: false,
            hard_rule: true,
            fields: vec![],
        }
    }
    fn allow(fields: &[&str]) -> Expect {
        Expect {
            allowed: true,
            hard_rule: false,
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }
    fn allow_if(ok: bool) -> Expect {
        if ok {
            Expect::allow(&[])
        } else {
            Expect::deny()
        }
    }
}

/// The hand-written table: what the policies intend for a caller of `kind` holding its
/// default scopes, doing `action` for `purpose` on `basis`. `gate`: only whether it may call
/// the RPC at all (the service then decides each flow on its stated purpose).
fn expected(
    kind: AgencyKind,
    action: Action,
    purpose: Purpose,
    basis: LawfulBasis,
    gate: bool,
) -> Expect {
    use AgencyKind as K;
    use Purpose as P;
    // Nothing to immigration enforcement, ever; nor for its purpose.
    if kind == K::ImmigrationEnforcement || purpose == P::ImmigrationEnforcement {
        return Expect::hard();
    }
    let pts = basis == LawfulBasis::PublicTaskSafeguarding;
    match action {
        Action::Unspecified => Expect::deny(),
        // Reference data is for every registered agency, whatever it says it is for.
        Action::ReadReference => Expect::allow(&[]),
        Action::Submit => {
            Expect::allow_if(produces_records(kind) && (gate || purpose == P::RecordSubmission))
        }
        Action::ReadAggregates => Expect::allow_if(gate || purpose == P::Statistics),
        Action::ReadAudit => Expect::allow_if(gate || purpose == P::Oversight),
        Action::ReadRecords | Action::ReceiveNotifications if gate => {
            Expect::allow_if(uses_exchange(kind))
        }
        Action::ReadRecords => match (kind, purpose) {
            (K::Police | K::LocalAuthority | K::Health | K::School, P::Safeguarding) if pts => {
                Expect::allow(&SAFEGUARDING_FIELDS)
            }
            (K::Marac, P::MaracRiskAssessment) if pts => Expect::allow(&MARAC_FIELDS),
            (K::Police, P::ProfessionalStandards)
                if matches!(
                    basis,
                    LawfulBasis::LawEnforcementPart3 | LawfulBasis::LegalObligation
                ) =>
            {
                Expect::allow(&PROFESSIONAL_STANDARDS_FIELDS)
            }
            (K::SupportService, P::VictimSupport) if pts || basis == LawfulBasis::Consent => {
                Expect::allow(&SUPPORT_FIELDS)
            }
            _ => Expect::deny(),
        },
        Action::ReceiveNotifications => match (kind, purpose) {
            (
                K::School | K::Marac | K::SupportService,
                P::Safeguarding | P::MaracRiskAssessment | P::VictimSupport,
            ) => Expect::allow(&NOTIFICATION_FIELDS),
            _ => Expect::deny(),
        },
    }
}

fn all_purposes() -> Vec<Purpose> {
    (0..).map_while(|i| Purpose::try_from(i).ok()).collect()
}

fn all_bases() -> Vec<LawfulBasis> {
    (0..).map_while(|i| LawfulBasis::try_from(i).ok()).collect()
}

fn caller(kind: AgencyKind, scopes: BTreeSet<String>) -> CallerIdentity {
    CallerIdentity {
        agency_id: format!("{kind}-matrix").to_lowercase(),
        agency_kind: kind,
        scopes,
        areas: vec!["E23000001".into()],
    }
}

/// The firewall over the policy files in `deploy/policies/` (not the embedded copy), with a
/// scratch SQLite store for its audit log.
async fn firewall_from_policy_files(dir: &std::path::Path) -> Firewall {
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies");
    let engine = PolicyEngine::load_dir(&policies).expect("deploy/policies load");
    let pki = vawg_tools::pki::init(&dir.join("pki")).expect("PKI");
    let signer = HeadSigner::from_pem(&std::fs::read_to_string(pki.audit_key()).unwrap()).unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.join("fw.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Firewall::new(store, engine, signer).await.unwrap()
}

fn compare(mismatches: &mut Vec<String>, what: String, got: &vawg_policy::Decision, want: &Expect) {
    let got_fields: Vec<String> = got.released_fields.clone();
    if got.allowed != want.allowed
        || got.hard_rule != want.hard_rule
        || (want.allowed && got_fields != want.fields)
    {
        mismatches.push(format!(
            "{what}: got allowed={} hard={} fields={got_fields:?} ({}), expected {want:?}",
            got.allowed, got.hard_rule, got.reason
        ));
    }
    // Invariants whatever the table says.
    assert!(
        got.released_fields
            .iter()
            .all(|f| !f.contains("immigration_status") && !f.contains("identifiers")),
        "{what}: released {:?}",
        got.released_fields
    );
    assert!(
        got.allowed || got.released_fields.is_empty(),
        "{what}: a refusal released fields"
    );
    assert!(!got.reason.is_empty(), "{what}: no reason");
}

#[tokio::test]
async fn security_decision_table_matches_the_hand_written_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = firewall_from_policy_files(dir.path()).await;
    let rpcs = every_described_rpc();
    assert!(rpcs.len() >= 20, "{rpcs:?}");
    let mut mismatches = Vec::new();
    let mut decided = 0usize;
    for rpc in &rpcs {
        let action = intended_action(rpc);
        // The hub's own RPC table agrees with the review's.
        let (classified, _) = vawg_policy::rpc::classify(rpc).expect("served RPC classified");
        assert_eq!(classified, action, "{rpc}");
        for kind in AgencyKind::ALL {
            let who = caller(kind, default_scopes(kind));
            // The gate: may this kind call this RPC at all?
            let (_, gate) = firewall.admit(&who, rpc);
            let want = expected(
                kind,
                action,
                implied_purpose(action),
                LawfulBasis::Unspecified,
                true,
            );
            compare(&mut mismatches, format!("gate {rpc} {kind}"), &gate, &want);
            decided += 1;
            // Each flow through it, on every stated purpose; every lawful basis where the
            // policies read it (record-level flows), two elsewhere (to show they do not).
            let bases = if matches!(action, Action::ReadRecords | Action::ReceiveNotifications) {
                all_bases()
            } else {
                vec![
                    LawfulBasis::Unspecified,
                    LawfulBasis::PublicTaskSafeguarding,
                ]
            };
            for purpose in all_purposes() {
                for &basis in &bases {
                    let mut flow = Flow::new(action, purpose, rpc.as_str());
                    flow.lawful_basis = basis;
                    let got = firewall.decide(&who, &flow);
                    let want = expected(kind, action, purpose, basis, false);
                    compare(
                        &mut mismatches,
                        format!(
                            "{rpc} {kind} {} {}",
                            purpose.as_str_name(),
                            basis.as_str_name()
                        ),
                        &got,
                        &want,
                    );
                    decided += 1;
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {decided} decisions differ from the expectation table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn security_no_scope_means_no_access_and_unknown_rpcs_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = firewall_from_policy_files(dir.path()).await;
    for kind in AgencyKind::ALL {
        let nobody = caller(kind, BTreeSet::new());
        for rpc in every_described_rpc() {
            let (_, d) = firewall.admit(&nobody, &rpc);
            assert!(!d.allowed, "{rpc} {kind} admitted without scopes");
        }
        let (_, d) = firewall.admit(
            &caller(kind, default_scopes(kind)),
            "/vawg.v1.SecretService/Dump",
        );
        assert!(!d.allowed && d.policy_ids == vec!["code:unknown-rpc".to_string()]);
    }
}

/// A codec-agnostic call of `rpc` (one empty message; the response is discarded): what any
/// client could send, whatever the method's types.
async fn call_raw(channel: vawg_e2e::AuthChannel, rpc: &str) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unknown(format!("not ready: {e}")))?;
    let path = PathAndQuery::from_str(rpc).expect("path");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let request = tonic::Request::new(tokio_stream::iter([()]));
    let mut responses = grpc.streaming(request, path, codec).await?.into_inner();
    while responses.message().await?.is_some() {}
    Ok(())
}

#[tokio::test]
async fn security_no_rpc_is_reachable_without_mtls_and_a_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let rpcs = every_described_rpc();
    for rpc in &rpcs {
        // A valid token but no client certificate: refused in the TLS handshake.
        let no_cert = app.raw(app.client_tls(None), Some(police.token()));
        let status = call_raw(no_cert, rpc).await.expect_err(rpc);
        assert_eq!(status.code(), Code::Unknown, "{rpc}: {status:?}");
        assert!(
            format!("{status:?}").contains("received fatal alert"),
            "{rpc}: {status:?}"
        );
        // A valid certificate but no token: UNAUTHENTICATED before any service runs.
        let no_token = app.raw(app.client_tls(Some((&police.cert, &police.key))), None);
        let status = call_raw(no_token, rpc).await.expect_err(rpc);
        assert_eq!(status.code(), Code::Unauthenticated, "{rpc}: {status:?}");
        // A certificate and a token that is not one.
        let junk = app.raw(
            app.client_tls(Some((&police.cert, &police.key))),
            Some("not-a-jwt"),
        );
        let status = call_raw(junk, rpc).await.expect_err(rpc);
        assert_eq!(status.code(), Code::Unauthenticated, "{rpc}: {status:?}");
    }
    // Each no-token call was audited as a refusal, naming the RPC.
    let entries = app.audit_entries().await;
    for rpc in &rpcs {
        assert!(
            entries
                .iter()
                .any(|e| !e.allowed && &e.rpc == rpc && e.status == "UNAUTHENTICATED"),
            "{rpc} refusal not audited"
        );
    }
    app.stop().await;
}
