//! `FirewallService`: dry runs, the policies in force, and the audit log.

use tonic::{Request, Response, Status};
use vawg_audit::AuditRecord;
use vawg_domain::identity::{AgencyKind, CallerIdentity};
use vawg_policy::{Flow, HARD_RULES};
use vawg_proto::{
    error::{IntoStatus, status},
    pb::{self, firewall_service_server::FirewallService},
};

use crate::{Error, Firewall};

/// The gRPC service over a [`Firewall`].
#[derive(Clone, Debug)]
pub struct FirewallApi {
    firewall: Firewall,
}

impl FirewallApi {
    /// Serves `firewall`.
    pub fn new(firewall: Firewall) -> FirewallApi {
        FirewallApi { firewall }
    }
}

/// The caller the auth layer established; its absence means the layer is not in place, so
/// refuse rather than serve.
pub fn caller<T>(req: &Request<T>) -> Result<CallerIdentity, Status> {
    req.extensions()
        .get::<CallerIdentity>()
        .cloned()
        .ok_or_else(|| status(&Error::Unauthenticated("no authenticated caller".into())))
}

const CHECK_PURPOSE: &str = "/vawg.v1.FirewallService/CheckPurpose";

/// The flow a `CheckPurposeRequest` asks about; unknown enum values are invalid fields.
fn flow_of(r: pb::CheckPurposeRequest) -> Result<Flow, Error> {
    let bad = |field| Error::InvalidField {
        field,
        reason: "unknown value",
    };
    let mut flow = Flow::new(
        pb::Action::try_from(r.action).map_err(|_| bad("action"))?,
        pb::Purpose::try_from(r.purpose).map_err(|_| bad("purpose"))?,
        CHECK_PURPOSE,
    );
    flow.lawful_basis =
        pb::LawfulBasis::try_from(r.lawful_basis).map_err(|_| bad("lawful_basis"))?;
    flow.event_kinds = r
        .event_kinds
        .iter()
        .map(|k| pb::EventKind::try_from(*k).map_err(|_| bad("event_kinds")))
        .collect::<Result<_, _>>()?;
    flow.categories = r.categories;
    Ok(flow)
}

impl FirewallApi {
    /// A page of the audit log: the central team sees everything (or one agency), everyone
    /// else only their own entries.
    async fn read_audit_page(
        &self,
        caller: &CallerIdentity,
        r: pb::ReadAuditRequest,
    ) -> Result<pb::ReadAuditResponse, Error> {
        let limit = match r.limit {
            0 => 100,
            n => n.min(1000),
        };
        let agency = if caller.agency_kind == AgencyKind::CentralAnalyst {
            Some(r.agency_id).filter(|a| !a.is_empty())
        } else {
            Some(caller.agency_id.clone())
        };
        let rows = self
            .firewall
            .store()
            .audit_read(r.from_index, limit, agency.as_deref())
            .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let record: AuditRecord = serde_json::from_str(&row.entry).map_err(|_| {
                Error::Store(vawg_store::StoreError::Corrupt(format!(
                    "audit entry {}",
                    row.idx
                )))
            })?;
            let leaf = hex::decode(&row.leaf_hash).unwrap_or_default();
            entries.push(record.to_pb(&leaf));
        }
        let head = self.firewall.head().await?;
        Ok(pb::ReadAuditResponse {
            entries,
            head: Some(head),
        })
    }
}

#[tonic::async_trait]
impl FirewallService for FirewallApi {
    async fn check_purpose(
        &self,
        request: Request<pb::CheckPurposeRequest>,
    ) -> Result<Response<pb::CheckPurposeResponse>, Status> {
        let caller = caller(&request)?;
        let flow = flow_of(request.into_inner()).into_status()?;
        let mut decision = self.firewall.decide(&caller, &flow);
        // The dry run is audited too, so that probing the policies leaves a trace.
        let mut audited = decision.clone();
        audited.reason = format!("Dry run (CheckPurpose): {}", decision.reason);
        self.firewall
            .audit(&caller, &flow, &audited, &[])
            .await
            .into_status()?;
        decision.reason = audited.reason;
        Ok(Response::new(pb::CheckPurposeResponse {
            decision: Some(decision.to_pb()),
        }))
    }

    async fn list_policies(
        &self,
        _request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        let engine = self.firewall.engine();
        Ok(Response::new(pb::ListPoliciesResponse {
            policy_set_version: engine.version().to_string(),
            policies: engine
                .policies()
                .iter()
                .map(|p| pb::Policy {
                    id: p.id.clone(),
                    effect: p.effect.clone(),
                    description: p.description.clone(),
                    text: p.text.clone(),
                    file: p.file.clone(),
                })
                .collect(),
            hard_rules: HARD_RULES.iter().map(|s| s.to_string()).collect(),
        }))
    }

    async fn read_audit(
        &self,
        request: Request<pb::ReadAuditRequest>,
    ) -> Result<Response<pb::ReadAuditResponse>, Status> {
        let caller = caller(&request)?;
        let page = self
            .read_audit_page(&caller, request.into_inner())
            .await
            .into_status()?;
        Ok(Response::new(page))
    }

    async fn verify_audit(
        &self,
        _request: Request<pb::VerifyAuditRequest>,
    ) -> Result<Response<pb::VerifyAuditResponse>, Status> {
        let report = self.firewall.verify(None).await.into_status()?;
        let head = self.firewall.head().await.into_status()?;
        Ok(Response::new(report.to_pb(Some(head))))
    }
}
