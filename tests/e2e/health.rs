//! gRPC health checking and server reflection.

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};

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

/// Polls `service`'s status on `health` until it is `want` (20 s deadline).
async fn wait_for_status(
    health: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
    want: ServingStatus,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    loop {
        tick.tick().await;
        let got = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .map(|r| r.into_inner().status());
        if got.as_ref().is_ok_and(|s| *s == want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "'{service}' is {got:?}, not {want:?}"
        );
    }
}

#[tokio::test]
async fn health_goes_not_serving_when_the_database_goes_away() {
    let mut app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.health_listen = Some(([127, 0, 0, 1], 0).into());
        s.health.check_interval_ms = 50;
    })
    .await;
    // The plaintext probe listener: what an orchestrator asks, needing no database itself.
    let endpoint = tonic::transport::Endpoint::from_shared(format!(
        "http://{}",
        app.health_addr.expect("health listener")
    ))
    .unwrap();
    let mut health = HealthClient::new(vawg_e2e::connect_with_retry(&endpoint).await);
    for service in ["", "vawg.v1.IngestService", "vawg.v1.MetricsService"] {
        wait_for_status(&mut health, service, ServingStatus::Serving).await;
    }
    app.drop_database_now().await;
    for service in ["", "vawg.v1.IngestService", "vawg.v1.MetricsService"] {
        wait_for_status(&mut health, service, ServingStatus::NotServing).await;
    }
    // Liveness stays up: the process is alive, only not ready.
    wait_for_status(&mut health, "grpc.health.v1.Health", ServingStatus::Serving).await;
    app.stop().await;
}

#[tokio::test]
async fn a_subset_of_services_is_served_and_the_rest_not_serving() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.services = "ingest,definitions".parse().unwrap();
    })
    .await;
    let school = app.agency("school-100000", AgencyKind::School, &[]).await;
    let mut health = HealthClient::new(school.authed());
    for (service, want) in [
        ("", ServingStatus::Serving),
        ("vawg.v1.IngestService", ServingStatus::Serving),
        ("vawg.v1.DefinitionService", ServingStatus::Serving),
        ("vawg.v1.MetricsService", ServingStatus::NotServing),
        ("vawg.v1.ExchangeService", ServingStatus::NotServing),
        ("vawg.v1.FirewallService", ServingStatus::NotServing),
    ] {
        let got = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(got, want, "'{service}'");
    }
    let status = school
        .metrics()
        .list_metrics(vawg_proto::pb::ListMetricsRequest {})
        .await
        .expect_err("metrics is not served here");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    app.stop().await;
}
