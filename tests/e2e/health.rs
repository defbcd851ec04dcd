//! gRPC health checking and server reflection.

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};
use vawg_e2e::{Backend, TestApp};
use vawg_hub::identity::AgencyKind;

#[tokio::test]
async fn health_reports_serving_for_the_hub_and_each_service() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let school = app.agency("school-100000", AgencyKind::School, &[]).await;
    let mut health = HealthClient::new(school.authed());
    for service in ["", "vawg.v1.DefinitionService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of '{service}': {e}"))
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "service '{service}'");
    }
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_every_vawg_service() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let school = app.agency("school-100000", AgencyKind::School, &[]).await;
    let mut reflection = ServerReflectionClient::new(school.authed());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "DefinitionService",
        "IngestService",
        "MetricsService",
        "ExchangeService",
        "FirewallService",
    ] {
        assert!(
            names.contains(&format!("vawg.v1.{service}")),
            "{service} missing from {names:?}"
        );
    }
    app.stop().await;
}
