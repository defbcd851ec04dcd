//! The value types of a decision: the [`Flow`] asked about and the [`Decision`] given, and how a
//! decision is made from the engine's outcome or a rule's refusal.

use vawg_proto::pb;

use crate::{
    Error,
    engine::EngineOutcome,
    hard_rules::{Refusal, withhold_immigration_status},
    rpc::short_name,
};

/// A flow to decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// What the caller does.
    pub action: pb::Action,
    /// The stated purpose (UNSPECIFIED when none).
    pub purpose: pb::Purpose,
    /// The lawful basis relied on (UNSPECIFIED when none).
    pub lawful_basis: pb::LawfulBasis,
    /// Event kinds involved.
    pub event_kinds: Vec<pb::EventKind>,
    /// Common-definition category ids involved.
    pub categories: Vec<String>,
    /// The gRPC method (full path).
    pub rpc: String,
    /// For submissions: the `source_agency_id` of each record submitted.
    pub record_agency_ids: Vec<String>,
    /// For submissions: the `area.gss_code` of each record submitted (distinct).
    pub record_areas: Vec<String>,
    /// For record-level reads (records, notifications): whether any record involved is
    /// labelled `suspect_is_police_personnel`, or may be (a stream not yet read).
    pub police_personnel: bool,
    /// Whether this decides only if the RPC may be called at all (the auth layer), rather
    /// than a flow on its stated purpose (the services).
    pub gate: bool,
}

impl Flow {
    /// A flow of `action` for `purpose` through `rpc`, nothing else stated yet.
    pub fn new(action: pb::Action, purpose: pb::Purpose, rpc: impl Into<String>) -> Flow {
        Flow {
            action,
            purpose,
            lawful_basis: pb::LawfulBasis::Unspecified,
            event_kinds: Vec::new(),
            categories: Vec::new(),
            rpc: rpc.into(),
            record_agency_ids: Vec::new(),
            record_areas: Vec::new(),
            police_personnel: false,
            gate: false,
        }
    }
}

/// The firewall's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the flow is allowed.
    pub allowed: bool,
    /// Paths of `VawgRecord` released (record-level flows); never immigration status.
    pub released_fields: Vec<String>,
    /// The deciding policies (or the hard rule / code rule that decided).
    pub policy_ids: Vec<String>,
    /// Version of the policy set in force.
    pub policy_set_version: String,
    /// Why, in words. No personal data.
    pub reason: String,
    /// Whether a hard rule decided.
    pub hard_rule: bool,
    /// Whether the policies allowed what a hard rule then refused.
    pub override_attempt: bool,
}

impl Decision {
    /// The decision when a rule in code refused the flow. When the policies had allowed it and
    /// a hard rule refused it, that is an attempted override: the permits join the deciding
    /// ids and the reason says so.
    pub fn refused(refusal: Refusal, engine: &EngineOutcome, policy_set_version: &str) -> Decision {
        let override_attempt = refusal.hard_rule && engine.allowed;
        let mut policy_ids = vec![refusal.rule_id.to_string()];
        let mut reason = refusal.reason;
        if override_attempt {
            policy_ids.extend(engine.policy_ids.iter().cloned());
            reason = format!(
                "{reason} Policies {:?} would have allowed it: attempted override refused.",
                engine.policy_ids
            );
        }
        Decision {
            allowed: false,
            released_fields: Vec::new(),
            policy_ids,
            policy_set_version: policy_set_version.to_string(),
            reason,
            hard_rule: refusal.hard_rule,
            override_attempt,
        }
    }

    /// The decision when no rule in code refused the flow: the engine's outcome, with
    /// immigration status withheld from the released fields (hard rule 2).
    pub fn from_engine(engine: &EngineOutcome, flow: &Flow, policy_set_version: &str) -> Decision {
        let (allowed, released_fields, reason) = if engine.allowed {
            (
                true,
                withhold_immigration_status(engine.fields.clone()),
                format!("Allowed by policy {:?}.", engine.policy_ids),
            )
        } else if engine.policy_ids.is_empty() {
            let action = short_name(flow.action.as_str_name(), "ACTION_");
            let purpose = short_name(flow.purpose.as_str_name(), "PURPOSE_");
            (
                false,
                Vec::new(),
                format!("No policy permits {action} for purpose {purpose} (denied by default)."),
            )
        } else {
            (
                false,
                Vec::new(),
                format!("Forbidden by policy {:?}.", engine.policy_ids),
            )
        };
        Decision {
            allowed,
            released_fields,
            policy_ids: engine.policy_ids.clone(),
            policy_set_version: policy_set_version.to_string(),
            reason,
            hard_rule: false,
            override_attempt: false,
        }
    }

    /// The contract message.
    pub fn to_pb(&self) -> pb::FirewallDecision {
        pb::FirewallDecision {
            allowed: self.allowed,
            released_fields: self.released_fields.clone(),
            policy_ids: self.policy_ids.clone(),
            policy_set_version: self.policy_set_version.clone(),
            reason: self.reason.clone(),
            hard_rule: self.hard_rule,
        }
    }

    /// [`Error::Refused`] (`PERMISSION_DENIED`) with the reason when refused.
    pub fn require_allowed(&self) -> Result<(), Error> {
        if self.allowed {
            Ok(())
        } else {
            Err(Error::Refused(self.reason.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn permitted() -> EngineOutcome {
        EngineOutcome {
            allowed: true,
            policy_ids: vec!["permit-a".into()],
            fields: BTreeSet::from(["victim.demographics".to_string()]),
            errors: Vec::new(),
        }
    }

    #[test]
    fn a_hard_rule_over_a_permit_is_an_attempted_override() {
        let refusal = Refusal {
            rule_id: "hard-rule:x",
            reason: "Hard rule: no.".into(),
            hard_rule: true,
        };
        let d = Decision::refused(refusal.clone(), &permitted(), "v1");
        assert!(!d.allowed && d.hard_rule && d.override_attempt);
        assert_eq!(d.policy_ids, ["hard-rule:x", "permit-a"]);
        assert!(
            d.reason.ends_with("attempted override refused."),
            "{}",
            d.reason
        );
        // Without a permit it is a plain refusal.
        let d = Decision::refused(refusal, &EngineOutcome::default(), "v1");
        assert!(!d.override_attempt);
        assert_eq!(d.policy_ids, ["hard-rule:x"]);
        assert_eq!(d.reason, "Hard rule: no.");
    }

    #[test]
    fn an_allowed_flow_never_releases_immigration_status() {
        let flow = Flow::new(pb::Action::ReadRecords, pb::Purpose::Safeguarding, "/x/y");
        let d = Decision::from_engine(&permitted(), &flow, "v1");
        assert!(d.allowed);
        assert!(
            d.released_fields
                .contains(&"victim.demographics.sex".to_string())
        );
        assert!(d.released_fields.iter().all(|f| !f.contains("immigration")));
        let denied = Decision::from_engine(&EngineOutcome::default(), &flow, "v1");
        assert_eq!(
            denied.reason,
            "No policy permits READ_RECORDS for purpose SAFEGUARDING (denied by default)."
        );
        assert!(denied.require_allowed().is_err());
    }
}
