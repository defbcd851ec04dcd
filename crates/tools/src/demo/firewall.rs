//! Steps 5 and 6: immigration enforcement is refused, the refusal is audited, and the audit
//! log verifies end to end.

use anyhow::Context;
use vawg_client::HubClient;
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb;

use super::{
    hex_prefix,
    hub::{CENTRAL, Hub, IMMIGRATION},
    metrics::date,
};

/// Immigration enforcement asks for records and for metrics and is refused; the central
/// team finds the refusal in the audit log. Returns the central team's client.
pub(super) async fn immigration_refused(hub: &Hub) -> anyhow::Result<HubClient> {
    let immigration = hub
        .client(IMMIGRATION, AgencyKind::ImmigrationEnforcement)
        .await?;
    let refused = immigration
        .exchange()
        .request_records(pb::RequestRecordsRequest {
            subject: Some(pb::PersonIdentifiers {
                given_name: "Synthetic".into(),
                family_name: "Person".into(),
                date_of_birth: Some(date(1990, 1, 1)),
                ..Default::default()
            }),
            purpose: pb::Purpose::ImmigrationEnforcement as i32,
            lawful_basis: pb::LawfulBasis::LawEnforcementPart3 as i32,
            justification: "status check".into(),
            event_kinds: vec![],
        })
        .await;
    match refused {
        Ok(_) => anyhow::bail!("the firewall let immigration enforcement read records"),
        Err(status) => println!(
            "  RequestRecords -> {:?}: {}",
            status.code(),
            status.message()
        ),
    }
    let metrics_refused = immigration
        .metrics()
        .list_metrics(pb::ListMetricsRequest {})
        .await;
    if let Err(status) = &metrics_refused {
        println!(
            "  ListMetrics     -> {:?}: {}",
            status.code(),
            status.message()
        );
    }
    let central = hub.client(CENTRAL, AgencyKind::CentralAnalyst).await?;
    print_refusal(&central).await?;
    Ok(central)
}

/// The audit entry of the refused `RequestRecords`.
async fn print_refusal(central: &HubClient) -> anyhow::Result<()> {
    let entries = central
        .firewall()
        .read_audit(pb::ReadAuditRequest {
            from_index: 0,
            limit: 1000,
            agency_id: IMMIGRATION.into(),
        })
        .await?
        .into_inner()
        .entries;
    let refusal = entries
        .iter()
        .rev()
        .find(|e| !e.allowed && e.rpc.ends_with("/RequestRecords"))
        .context("the refusal was not audited")?;
    println!(
        "  audit entry #{}: caller={} rpc={} allowed={} hard_rule={}\n    reason: {}",
        refusal.index,
        refusal.caller_agency_id,
        refusal.rpc,
        refusal.allowed,
        refusal.hard_rule,
        refusal.reason
    );
    Ok(())
}

/// `VerifyAudit` as the central team; fails unless the log verifies. Returns the entries
/// checked.
pub(super) async fn audit_verifies(central: &HubClient) -> anyhow::Result<u64> {
    let verify = central
        .firewall()
        .verify_audit(pb::VerifyAuditRequest {})
        .await?
        .into_inner();
    let head = verify.head.unwrap_or_default();
    println!(
        "  VerifyAudit: ok={} entries={} root={} (signed, key {})",
        verify.ok,
        verify.entries_checked,
        hex_prefix(&head.root_hash),
        head.key_id
    );
    anyhow::ensure!(
        verify.ok,
        "the audit log did not verify: {}",
        verify.problem
    );
    Ok(verify.entries_checked)
}
