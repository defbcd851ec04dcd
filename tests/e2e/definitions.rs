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
    assert_eq!(list.definitions.len(), 1);
    let v1 = &list.definitions[0];
    assert_eq!(v1.version, "vawg-v1");
    assert!(v1.current);
    assert!(
        v1.schemes.is_empty(),
        "the listing leaves out the code mappings"
    );

    let full = client
        .get_definition(pb::GetDefinitionRequest {
            version: "vawg-v1".into(),
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
    assert_eq!(rape.version, "vawg-v1");
    assert_eq!(rape.category.unwrap().id, "rape");

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
