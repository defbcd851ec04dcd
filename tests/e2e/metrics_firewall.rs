//! The aggregator through the firewall: every query is decided by the policy files (action
//! READ_AGGREGATES, purpose STATISTICS) and audited with what was asked (metric, scope, rule;
//! no personal data); immigration enforcement cannot query metrics at all.

use std::path::PathBuf;

use tonic::Code;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb;

fn query() -> pb::MetricQuery {
    pb::MetricQuery {
        metric_id: "recorded_crimes".into(),
        victim_scope: pb::VictimScope::WomenAndGirls as i32,
        counting_rule: pb::CountingRule::PrincipalCrime as i32,
        period: Some(pb::ReferencePeriod {
            start: Some(pb::Date {
                year: 2025,
                month: 1,
                day: 1,
            }),
            end: Some(pb::Date {
                year: 2025,
                month: 6,
                day: 30,
            }),
        }),
        grain: pb::TimeGrain::WholePeriod as i32,
        area_level: pb::AreaLevel::EnglandAndWales as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn every_query_is_decided_and_audited_without_personal_data() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let central = app
        .agency("central-home-office", AgencyKind::CentralAnalyst, &[])
        .await;
    central
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(query()),
        })
        .await
        .expect("the central team may query");
    central
        .metrics()
        .compare_definitions(pb::CompareDefinitionsRequest {
            query: Some(query()),
            variants: vec![],
        })
        .await
        .expect("the central team may compare");
    let entries = app.audit_entries().await;
    let decided: Vec<_> = entries
        .iter()
        .filter(|e| !e.gate && e.rpc.starts_with("/vawg.v1.MetricsService/"))
        .collect();
    assert_eq!(decided.len(), 2, "{decided:#?}");
    let q = decided[0];
    assert!(q.allowed);
    assert_eq!(q.action, "ACTION_READ_AGGREGATES");
    assert_eq!(q.purpose, "PURPOSE_STATISTICS");
    assert!(
        q.policy_ids
            .contains(&"aggregates-for-statistics".to_string())
    );
    assert!(q.reason.contains("metric recorded_crimes"), "{}", q.reason);
    assert!(
        q.reason
            .contains("VICTIM_SCOPE_WOMEN_AND_GIRLS/COUNTING_RULE_PRINCIPAL_CRIME"),
        "{}",
        q.reason
    );
    assert!(q.subject_pseudonyms.is_empty());
    // CompareDefinitions: one entry naming all twelve variants.
    assert_eq!(decided[1].reason.matches("VICTIM_SCOPE_").count(), 12);
    app.stop().await;
}

#[tokio::test]
async fn immigration_enforcement_cannot_query_metrics() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let immigration = app
        .agency(
            "immigration-enforcement",
            AgencyKind::ImmigrationEnforcement,
            &[],
        )
        .await;
    for result in [
        immigration
            .metrics()
            .query_metric(pb::QueryMetricRequest {
                query: Some(query()),
            })
            .await
            .map(|_| ()),
        immigration
            .metrics()
            .list_metrics(pb::ListMetricsRequest {})
            .await
            .map(|_| ()),
    ] {
        let status = result.expect_err("refused");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    let entries = app.audit_entries().await;
    let refusals: Vec<_> = entries
        .iter()
        .filter(|e| e.agency_id == "immigration-enforcement" && e.rpc.contains("MetricsService"))
        .collect();
    assert_eq!(refusals.len(), 2);
    assert!(refusals.iter().all(|e| {
        !e.allowed
            && e.hard_rule
            && e.policy_ids
                .contains(&"hard-rule:no-immigration-enforcement".to_string())
    }));
    app.stop().await;
}

#[tokio::test]
async fn the_policy_files_govern_metrics_queries() {
    // The reviewed policies, plus one an operator adds: schools read no aggregates.
    let dir = tempfile::tempdir().unwrap();
    let reviewed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies");
    for entry in std::fs::read_dir(&reviewed).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("local.cedar"),
        r#"@id("no-school-statistics")
@description("Schools do not query statistics in this deployment.")
forbid (principal, action == Vawg::Action::"READ_AGGREGATES", resource)
when { principal.kind == "SCHOOL" && !context.gate };
"#,
    )
    .unwrap();
    let policies = dir.path().to_path_buf();
    let app = TestApp::spawn_with(Backend::Sqlite, move |s| {
        s.policies_dir = Some(policies);
    })
    .await;
    let school = app
        .agency("school-100000", AgencyKind::School, &["E09000001"])
        .await;
    let status = school
        .metrics()
        .query_metric(pb::QueryMetricRequest {
            query: Some(query()),
        })
        .await
        .expect_err("refused by the local policy");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("no-school-statistics"),
        "{status:?}"
    );
    let entries = app.audit_entries().await;
    let refusal = entries
        .iter()
        .find(|e| !e.gate && e.agency_id == "school-100000")
        .expect("the refusal is audited");
    assert!(!refusal.allowed && !refusal.hard_rule);
    assert_eq!(refusal.policy_ids, vec!["no-school-statistics".to_string()]);
    app.stop().await;
}
