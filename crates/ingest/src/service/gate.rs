//! The firewall's part of the pipeline: the decision on a chunk's flow, the hard rules that
//! refuse some of its records, and the audit entries of the refusal and of the commit.

use std::collections::{BTreeSet, HashMap};

use vawg_domain::identity::CallerIdentity;
use vawg_policy::{
    Decision, Flow,
    hard_rules::{area_refusal_reason, serves_area},
};
use vawg_proto::pb::{self, EventKind};
use vawg_telemetry as telemetry;

use super::{IngestApi, results::Tally};
use crate::{
    error::IngestError,
    validate::{Violation, event_kind_of},
};

/// The firewall's decisions on one chunk.
pub(super) struct Gate {
    /// The chunk's flow, as the firewall sees it: every kind and every source agency.
    flow: Flow,
    /// The decision on the whole flow.
    chunk: Decision,
    /// The kinds a hard rule refuses, each decided on its own so the refusal names them.
    refused_kinds: HashMap<EventKind, Decision>,
    /// The hard rule's refusal of records of other agencies, if the chunk holds any.
    own_records_refusal: Option<Decision>,
    /// The hard rule's refusal of records for areas the caller is not registered for.
    area_refusal: Option<Decision>,
    /// What may be stored: the kinds and agencies no hard rule refused.
    allowed_flow: Flow,
    /// The decision on what may be stored.
    allowed: Decision,
}

impl Gate {
    /// The violations `record` gets from the hard rules that refuse it, each naming its rule:
    /// its kind refused, its source agency not the caller's, or its area not one the caller is
    /// registered for.
    pub(super) fn rule_violations(
        &self,
        caller: &CallerIdentity,
        record: &pb::VawgRecord,
    ) -> Vec<Violation> {
        let mut rules = Vec::new();
        let kind = record.event.as_ref().map(event_kind_of);
        if let Some(d) = kind.and_then(|k| self.refused_kinds.get(&k)) {
            rules.push(rule_violation("event", d));
        }
        let foreign = record.source_agency_id != caller.agency_id;
        if let (true, Some(d)) = (foreign, self.own_records_refusal.as_ref()) {
            rules.push(rule_violation("source_agency_id", d));
        }
        if let (Some(area), Some(d)) = (area_code(record), self.area_refusal.as_ref())
            && !serves_area(caller, area)
        {
            let reason = area_refusal_reason(caller, area);
            let ids = d.policy_ids.join(", ");
            rules.push(Violation::new("area.gss_code", format!("{reason} [{ids}]")));
        }
        rules
    }
}

impl IngestApi {
    /// Decides a chunk's flow for `rpc`; when the firewall refuses it, decides each kind, and
    /// the records of other agencies, on their own to find what a hard rule refuses; and
    /// decides what remains.
    pub(super) fn decide(
        &self,
        caller: &CallerIdentity,
        rpc: &str,
        records: &[pb::VawgRecord],
    ) -> Gate {
        let submit = || Flow::new(pb::Action::Submit, pb::Purpose::RecordSubmission, rpc);
        let mut flow = submit();
        flow.event_kinds = distinct(
            records
                .iter()
                .filter_map(|r| r.event.as_ref().map(event_kind_of)),
        );
        flow.record_agency_ids = distinct(records.iter().map(|r| r.source_agency_id.clone()));
        flow.record_areas = distinct(records.iter().filter_map(area_code).map(str::to_owned));
        let chunk = self.firewall.decide(caller, &flow);
        let mut refused_kinds: HashMap<EventKind, Decision> = HashMap::new();
        let mut own_records_refusal: Option<Decision> = None;
        let mut area_refusal: Option<Decision> = None;
        if !chunk.allowed {
            for kind in &flow.event_kinds {
                let mut one = submit();
                one.event_kinds = vec![*kind];
                let d = self.firewall.decide(caller, &one);
                if !d.allowed && d.hard_rule {
                    refused_kinds.insert(*kind, d);
                }
            }
            if records
                .iter()
                .any(|r| r.source_agency_id != caller.agency_id)
            {
                let mut one = submit();
                one.record_agency_ids = flow.record_agency_ids.clone();
                let d = self.firewall.decide(caller, &one);
                if !d.allowed && d.hard_rule {
                    own_records_refusal = Some(d);
                }
            }
            if flow.record_areas.iter().any(|a| !serves_area(caller, a)) {
                let mut one = submit();
                one.record_areas = flow.record_areas.clone();
                let d = self.firewall.decide(caller, &one);
                if !d.allowed && d.hard_rule {
                    area_refusal = Some(d);
                }
            }
        }
        let mut allowed_flow = submit();
        allowed_flow.event_kinds = flow
            .event_kinds
            .iter()
            .filter(|k| !refused_kinds.contains_key(*k))
            .copied()
            .collect();
        allowed_flow.record_agency_ids = vec![caller.agency_id.clone()];
        allowed_flow.record_areas = flow
            .record_areas
            .iter()
            .filter(|a| serves_area(caller, a))
            .cloned()
            .collect();
        let allowed = self.firewall.decide(caller, &allowed_flow);
        Gate {
            flow,
            chunk,
            refused_kinds,
            own_records_refusal,
            area_refusal,
            allowed_flow,
            allowed,
        }
    }

    /// Audits the refusal of (part of) a chunk of `records` records, returning its receipt.
    /// When nothing may be stored at all, fails with [`IngestError::Refused`]: not a
    /// per-record matter (e.g. no policy permits submission at all).
    pub(super) async fn audit_refusal(
        &self,
        caller: &CallerIdentity,
        gate: &Gate,
        records: usize,
    ) -> Result<Option<pb::SignedTreeHead>, IngestError> {
        let mut receipt = None;
        if !gate.chunk.allowed {
            // The refusal is a decision of its own: audited, whatever happens to the rest.
            receipt = Some(
                self.firewall
                    .audit(caller, &gate.flow, &gate.chunk, &[])
                    .await?,
            );
            tracing::info!(
                agency_id = %caller.agency_id,
                hard_rule = gate.chunk.hard_rule,
                policy_ids = ?gate.chunk.policy_ids,
                "submission refused in part by the firewall"
            );
        }
        if !gate.allowed.allowed {
            if gate.chunk.allowed {
                self.firewall
                    .audit(caller, &gate.allowed_flow, &gate.allowed, &[])
                    .await?;
            }
            for _ in 0..records {
                telemetry::record_rejection("FIREWALL_DENIED");
            }
            return Err(IngestError::Refused(gate.allowed.reason.clone()));
        }
        Ok(receipt)
    }

    /// The commit's entry: what was stored, as pseudonyms only, and its receipt. The records
    /// are committed already; if the audit cannot be written the call fails, and resending
    /// (idempotent, DUPLICATE) audits again and returns the receipt. A chunk the firewall
    /// refused entirely has its refusal's entry (`refusal`) and nothing more.
    pub(super) async fn audit_commit(
        &self,
        caller: &CallerIdentity,
        gate: &Gate,
        refusal: Option<pb::SignedTreeHead>,
        tally: &Tally,
    ) -> Result<pb::SignedTreeHead, IngestError> {
        match refusal {
            Some(refusal) if tally.stored() == 0 => Ok(refusal),
            _ => Ok(self
                .firewall
                .audit(caller, &gate.allowed_flow, &gate.allowed, &tally.pseudonyms)
                .await?),
        }
    }
}

/// Distinct values, in first-seen order.
fn distinct<T: Ord + Clone>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = BTreeSet::new();
    values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

/// A record's area code, when it states one (a record without one is refused by validation).
fn area_code(record: &pb::VawgRecord) -> Option<&str> {
    record
        .area
        .as_ref()
        .map(|a| a.gss_code.as_str())
        .filter(|c| !c.is_empty())
}

/// A per-record violation naming the firewall rule that refused it.
fn rule_violation(field: &str, decision: &Decision) -> Violation {
    Violation::new(
        field,
        format!("{} [{}]", decision.reason, decision.policy_ids.join(", ")),
    )
}
