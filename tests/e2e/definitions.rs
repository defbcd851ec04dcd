//! The definition service over gRPC.

use tonic::Code;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb;

#[tokio::test]
async fn lists_and_classifies_under_the_current_definition() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let mut client = police.definitions();

    let list = client
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
        .unwrap()
        .into_inner();
    // Both versions are loaded; vawg-v2 is current from its effective date.
    let versions: Vec<(&str, bool)> = list
        .definitions
        .iter()
        .map(|d| (d.version.as_str(), d.current))
        .collect();
    assert_eq!(
        versions,
        vec![("vawg-v2", true), ("vawg-v1", false)],
        "current first"
    );
    assert!(
        list.definitions.iter().all(|d| d.schemes.is_empty()),
        "the listing leaves out the code mappings"
    );

    let full = client
        .get_definition(pb::GetDefinitionRequest {
            version: "vawg-v2".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .definition
        .unwrap();
    assert!(
        full.schemes
            .iter()
            .any(|s| s.id == "HO_OFFENCE" && !s.codes.is_empty())
    );
    let mut ranks: Vec<u32> = full.categories.iter().map(|c| c.harm_rank).collect();
    ranks.sort();
    ranks.dedup();
    assert_eq!(ranks.len(), full.categories.len(), "harm ranks are unique");

    let rape = client
        .classify(pb::ClassifyRequest {
            version: String::new(),
            scheme: "HO_OFFENCE".into(),
            code: "19c".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rape.version, "vawg-v2");
    assert_eq!(rape.category.unwrap().id, "rape");

    // A force's own notation is read (4.1 is class 4, subclass 1), and a context code says its
    // category depends on the crime's context.
    let manslaughter = client
        .classify(pb::ClassifyRequest {
            version: String::new(),
            scheme: "HO_OFFENCE".into(),
            code: "004.01".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(manslaughter.mapping.unwrap().code, "4/1");
    assert_eq!(manslaughter.context, "homicide");
    // Coercive control, by legislation, from the police.
    let ccb = client
        .classify(pb::ClassifyRequest {
            version: String::new(),
            scheme: "LEGISLATION".into(),
            code: "serious crime act 2015  s76".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ccb.category.unwrap().id,
        "controlling_or_coercive_behaviour"
    );

    app.stop().await;
}

#[tokio::test]
async fn unknown_codes_and_versions_are_refused_not_guessed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let mut client = police.definitions();
    let unknown_code = client
        .classify(pb::ClassifyRequest {
            version: String::new(),
            scheme: "HO_OFFENCE".into(),
            code: "999Z".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_code.code(), Code::NotFound);
    assert!(
        unknown_code.message().contains("999Z"),
        "{}",
        unknown_code.message()
    );

    let unknown_scheme = client
        .classify(pb::ClassifyRequest {
            version: String::new(),
            scheme: "NOPE".into(),
            code: "1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_scheme.code(), Code::NotFound);

    let empty = client
        .classify(pb::ClassifyRequest {
            version: String::new(),
            scheme: "HO_OFFENCE".into(),
            code: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().starts_with("code:"));

    let version = client
        .get_definition(pb::GetDefinitionRequest {
            version: "vawg-v0".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(version.code(), Code::NotFound);
    app.stop().await;
}
