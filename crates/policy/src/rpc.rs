//! Which action each RPC of the hub performs, and the purpose implied by calling it. An RPC
//! that is not in this table is refused: the firewall fails closed.

use vawg_domain::identity::scope;
use vawg_proto::pb;

/// The action an RPC performs and the purpose calling it implies (UNSPECIFIED when the
/// request itself states the purpose and the service decides the flow).
pub fn classify(path: &str) -> Option<(pb::Action, pb::Purpose)> {
    use pb::{Action as A, Purpose as P};
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    Some(match (service, method) {
        ("vawg.v1.DefinitionService", _) => (A::ReadReference, P::Unspecified),
        ("vawg.v1.FirewallService", "CheckPurpose" | "ListPolicies") => {
            (A::ReadReference, P::Unspecified)
        }
        ("vawg.v1.FirewallService", "ReadAudit" | "VerifyAudit") => (A::ReadAudit, P::Oversight),
        ("vawg.v1.IngestService", _) => (A::Submit, P::RecordSubmission),
        ("vawg.v1.MetricsService", _) => (A::ReadAggregates, P::Statistics),
        ("vawg.v1.ExchangeService", "RequestRecords") => (A::ReadRecords, P::Unspecified),
        ("vawg.v1.ExchangeService", "Subscribe" | "Acknowledge" | "RegisterSealingKey") => {
            (A::ReceiveNotifications, P::Unspecified)
        }
        // Public keys of recipients, so that senders can seal details to them.
        ("vawg.v1.ExchangeService", "GetSealingKey") => (A::ReadReference, P::Unspecified),
        ("grpc.health.v1.Health", _)
        | ("grpc.reflection.v1.ServerReflection", _)
        | ("grpc.reflection.v1alpha.ServerReflection", _) => (A::ReadReference, P::Unspecified),
        _ => return None,
    })
}

/// Whether `path` may be called on the dashboard listener (bearer token, no client
/// certificate): the read-only aggregate and reference RPCs the dashboard uses, nothing that
/// reaches records, notifications, policies or the audit log.
pub fn dashboard_allows(path: &str) -> bool {
    matches!(
        path.strip_prefix('/').and_then(|p| p.split_once('/')),
        Some((
            "vawg.v1.MetricsService",
            "ListMetrics" | "QueryMetric" | "CompareDefinitions"
        )) | Some((
            "vawg.v1.DefinitionService",
            "ListDefinitions" | "GetDefinition" | "Classify"
        ))
    )
}

/// The token scope an action needs.
pub fn required_scope(action: pb::Action) -> Option<&'static str> {
    use pb::Action as A;
    match action {
        A::Unspecified => None,
        A::Submit => Some(scope::RECORDS_WRITE),
        A::ReadAggregates => Some(scope::METRICS_READ),
        A::ReadRecords | A::ReceiveNotifications => Some(scope::EXCHANGE_REQUEST),
        A::ReadAudit => Some(scope::AUDIT_READ),
        A::ReadReference => Some(scope::REFERENCE_READ),
    }
}

/// Contract enum names without their prefix, as policies use them (`SAFEGUARDING`).
pub(crate) fn short_name<'a>(full: &'a str, prefix: &str) -> &'a str {
    full.strip_prefix(prefix).unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_rpc_has_an_action_and_unknown_ones_fail_closed() {
        for path in [
            "/vawg.v1.DefinitionService/Classify",
            "/vawg.v1.IngestService/SubmitBatch",
            "/vawg.v1.MetricsService/QueryMetric",
            "/vawg.v1.ExchangeService/RequestRecords",
            "/vawg.v1.ExchangeService/Subscribe",
            "/vawg.v1.FirewallService/ReadAudit",
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        ] {
            let (action, _) = classify(path).unwrap_or_else(|| panic!("{path}"));
            assert!(required_scope(action).is_some(), "{path}");
        }
        assert_eq!(classify("/vawg.v1.SecretService/Dump"), None);
        assert_eq!(classify("/vawg.v1.ExchangeService/Unknown"), None);
        assert_eq!(classify("nonsense"), None);
    }

    #[test]
    fn the_dashboard_reaches_aggregates_and_reference_data_only() {
        for path in [
            "/vawg.v1.MetricsService/QueryMetric",
            "/vawg.v1.MetricsService/CompareDefinitions",
            "/vawg.v1.MetricsService/ListMetrics",
            "/vawg.v1.DefinitionService/GetDefinition",
        ] {
            assert!(dashboard_allows(path), "{path}");
            let (action, _) = classify(path).expect(path);
            assert!(
                matches!(
                    action,
                    pb::Action::ReadAggregates | pb::Action::ReadReference
                ),
                "{path}"
            );
        }
        for path in [
            "/vawg.v1.IngestService/SubmitBatch",
            "/vawg.v1.ExchangeService/RequestRecords",
            "/vawg.v1.ExchangeService/Subscribe",
            "/vawg.v1.ExchangeService/GetSealingKey",
            "/vawg.v1.FirewallService/ReadAudit",
            "/vawg.v1.FirewallService/CheckPurpose",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/vawg.v1.MetricsService/Unknown",
            "/vawg.v1.MetricsService",
        ] {
            assert!(!dashboard_allows(path), "{path}");
        }
    }
}
