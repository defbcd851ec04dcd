//! The one policy decision point: the Cedar engine, then the hard rules in code that no
//! policy file can override.

use std::{collections::BTreeSet, sync::Arc};

use vawg_domain::{
    identity::{AgencyKind, CallerIdentity, scope},
    policy::{EVENT_KINDS, may_produce},
};
use vawg_proto::pb;
use vawg_store::Store;

use crate::{
    Error,
    audit::{AuditLog, AuditRecord, HeadSigner, VerifyReport},
    engine::PolicyEngine,
    rpc,
};

/// The hard rules, in words (`ListPolicies`). Enforced in code after the policy engine.
pub const HARD_RULES: [&str; 4] = [
    "Nothing flows to an IMMIGRATION_ENFORCEMENT agency, or for the purpose of immigration \
     enforcement, for any RPC and any action, whatever any policy file says.",
    "Immigration status never leaves the hub at record level: it is never in a released field \
     mask.",
    "An agency submits only its own records, and only of the kinds its agency kind produces.",
    "Every action needs its token scope (records:write, metrics:read, exchange:request, \
     audit:read, reference:read).",
];

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

    /// `PERMISSION_DENIED` with the reason when refused.
    pub fn require_allowed(&self) -> Result<(), Error> {
        if self.allowed {
            Ok(())
        } else {
            Err(Error::PermissionDenied(self.reason.clone()))
        }
    }
}

/// The scopes a development token gets by default for an agency of `kind`: what its role
/// needs. (Immigration enforcement gets every scope, so that tests show the hard rule, not a
/// missing scope, refusing it.)
pub fn default_scopes(kind: AgencyKind) -> BTreeSet<String> {
    let mut scopes = BTreeSet::from([
        scope::REFERENCE_READ.to_string(),
        scope::METRICS_READ.to_string(),
        scope::AUDIT_READ.to_string(),
    ]);
    if EVENT_KINDS.iter().any(|e| may_produce(kind, *e))
        || kind == AgencyKind::ImmigrationEnforcement
    {
        scopes.insert(scope::RECORDS_WRITE.to_string());
    }
    if !matches!(kind, AgencyKind::CentralAnalyst | AgencyKind::Commissioner) {
        scopes.insert(scope::EXCHANGE_REQUEST.to_string());
    }
    scopes
}

const PERSON_CHILDREN: [&str; 3] = ["identifiers", "pseudonym", "demographics"];
const DEMOGRAPHIC_CHILDREN: [&str; 6] = [
    "sex",
    "age_at_event",
    "ethnic_group",
    "disability",
    "sexual_orientation",
    "gender_identity",
];

/// Hard rule: a released path never covers immigration status. A path that would (a person,
/// its demographics, or everything) is replaced by its children other than immigration status.
fn withhold_immigration_status(fields: BTreeSet<String>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for field in fields {
        let person = |p: &str, out: &mut BTreeSet<String>| {
            for c in PERSON_CHILDREN {
                if c == "demographics" {
                    for d in DEMOGRAPHIC_CHILDREN {
                        out.insert(format!("{p}.demographics.{d}"));
                    }
                } else {
                    out.insert(format!("{p}.{c}"));
                }
            }
        };
        match field.as_str() {
            f if f.contains("immigration_status") => {}
            "*" => {
                // Everything except the people is safe to list by name; people are expanded.
                for top in [
                    "source_record_id",
                    "revision",
                    "source_agency_id",
                    "event_time",
                    "recorded_time",
                    "reference_period",
                    "counting_unit",
                    "area",
                    "classification",
                    "case_references",
                    "category",
                    "definition_version",
                    "event",
                ] {
                    out.insert(top.to_string());
                }
                person("victim", &mut out);
                person("suspect", &mut out);
            }
            "victim" | "suspect" => person(&field, &mut out),
            "victim.demographics" | "suspect.demographics" => {
                for d in DEMOGRAPHIC_CHILDREN {
                    out.insert(format!("{field}.{d}"));
                }
            }
            _ => {
                out.insert(field);
            }
        }
    }
    out.into_iter().collect()
}

struct Inner {
    engine: PolicyEngine,
    store: Store,
    log: AuditLog,
}

/// The policy decision point and the audit log, shared by the auth layer and every service.
#[derive(Clone)]
pub struct Firewall {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Firewall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firewall")
            .field("policy_set_version", &self.inner.engine.version())
            .finish()
    }
}

impl Firewall {
    /// Builds the firewall over `store` (migrated), loading the audit log's state.
    pub async fn new(
        store: Store,
        engine: PolicyEngine,
        signer: HeadSigner,
    ) -> Result<Firewall, Error> {
        let log = AuditLog::open(store.clone(), signer).await?;
        Ok(Firewall {
            inner: Arc::new(Inner { engine, store, log }),
        })
    }

    /// The policy engine in force.
    pub fn engine(&self) -> &PolicyEngine {
        &self.inner.engine
    }

    /// The store (agency registry and audit log).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The audit log.
    pub fn audit_log(&self) -> &AuditLog {
        &self.inner.log
    }

    /// Decides a flow: the policies, then the hard rules. Pure: does not audit (see
    /// [`Firewall::audit`] and [`Firewall::decide_and_audit`]).
    pub fn decide(&self, caller: &CallerIdentity, flow: &Flow) -> Decision {
        let engine = self.inner.engine.evaluate(caller, flow);
        if !engine.errors.is_empty() {
            tracing::warn!(rpc = %flow.rpc, errors = ?engine.errors, "policy evaluation errors");
        }
        let version = self.inner.engine.version().to_string();
        let action = rpc::short_name(flow.action.as_str_name(), "ACTION_");
        let purpose = rpc::short_name(flow.purpose.as_str_name(), "PURPOSE_");
        let refuse = |ids: Vec<String>, reason: String, hard: bool| Decision {
            allowed: false,
            released_fields: Vec::new(),
            override_attempt: hard && engine.allowed,
            policy_ids: if hard && engine.allowed {
                let mut all = ids.clone();
                all.extend(engine.policy_ids.iter().cloned());
                all
            } else {
                ids
            },
            policy_set_version: version.clone(),
            reason: if hard && engine.allowed {
                format!(
                    "{reason} Policies {:?} would have allowed it: attempted override refused.",
                    engine.policy_ids
                )
            } else {
                reason
            },
            hard_rule: hard,
        };

        // Hard rule 1: the firewall with immigration enforcement.
        if caller.agency_kind == AgencyKind::ImmigrationEnforcement
            || flow.purpose == pb::Purpose::ImmigrationEnforcement
        {
            return refuse(
                vec!["hard-rule:no-immigration-enforcement".into()],
                "Hard rule: nothing flows to immigration enforcement, for any purpose.".into(),
                true,
            );
        }
        // The token must grant the action's scope.
        match rpc::required_scope(flow.action) {
            None => {
                return refuse(
                    vec!["code:action-required".into()],
                    "The flow names no action.".into(),
                    false,
                );
            }
            Some(needed) if !caller.has_scope(needed) => {
                return refuse(
                    vec!["code:scope-required".into()],
                    format!("The token does not grant the scope {needed} that {action} needs."),
                    false,
                );
            }
            Some(_) => {}
        }
        // Hard rule 3: own records, of kinds the agency kind produces.
        if flow.action == pb::Action::Submit {
            if let Some(kind) = flow
                .event_kinds
                .iter()
                .find(|k| !may_produce(caller.agency_kind, **k))
            {
                return refuse(
                    vec!["hard-rule:producer-kinds".into()],
                    format!(
                        "Hard rule: a {} agency does not produce {} records.",
                        caller.agency_kind,
                        rpc::short_name(kind.as_str_name(), "EVENT_KIND_")
                    ),
                    true,
                );
            }
            if flow
                .record_agency_ids
                .iter()
                .any(|a| a != &caller.agency_id)
            {
                return refuse(
                    vec!["hard-rule:own-records-only".into()],
                    "Hard rule: an agency submits only its own records.".into(),
                    true,
                );
            }
        }
        if !engine.allowed {
            let reason = if engine.policy_ids.is_empty() {
                format!("No policy permits {action} for purpose {purpose} (denied by default).")
            } else {
                format!("Forbidden by policy {:?}.", engine.policy_ids)
            };
            return refuse(engine.policy_ids.clone(), reason, false);
        }
        // Hard rule 2: immigration status never released.
        let released_fields = withhold_immigration_status(engine.fields.clone());
        Decision {
            allowed: true,
            released_fields,
            policy_ids: engine.policy_ids.clone(),
            policy_set_version: version,
            reason: format!("Allowed by policy {:?}.", engine.policy_ids),
            hard_rule: false,
            override_attempt: false,
        }
    }

    /// The gate the auth layer asks for every call: may this caller call `rpc` at all?
    /// Unknown RPCs are refused.
    pub fn admit(&self, caller: &CallerIdentity, rpc_path: &str) -> (Flow, Decision) {
        let Some((action, purpose)) = rpc::classify(rpc_path) else {
            let flow = Flow::new(pb::Action::Unspecified, pb::Purpose::Unspecified, rpc_path);
            let decision = Decision {
                allowed: false,
                released_fields: Vec::new(),
                policy_ids: vec!["code:unknown-rpc".into()],
                policy_set_version: self.inner.engine.version().to_string(),
                reason: "The hub does not serve this RPC.".into(),
                hard_rule: false,
                override_attempt: false,
            };
            return (flow, decision);
        };
        let mut flow = Flow::new(action, purpose, rpc_path);
        flow.gate = true;
        let decision = self.decide(caller, &flow);
        (flow, decision)
    }

    /// Appends a decision to the audit log and returns the signed head that covers it (for
    /// receipts). `subject_pseudonyms` are pseudonyms, never raw identifiers.
    pub async fn audit(
        &self,
        caller: &CallerIdentity,
        flow: &Flow,
        decision: &Decision,
        subject_pseudonyms: &[String],
    ) -> Result<pb::SignedTreeHead, Error> {
        if !decision.allowed {
            // Counted where a denial takes effect, not in `decide` (dry runs decide too).
            vawg_telemetry::record_denial(flow.purpose.as_str_name());
        }
        let record = AuditRecord::decision(caller, flow, decision, subject_pseudonyms);
        self.inner.log.append(record).await
    }

    /// Appends a refusal made before the caller was identified (certificate, token, registry).
    /// `agency_id` is what the verified certificate named, or empty.
    pub async fn audit_refusal(
        &self,
        agency_id: &str,
        rpc: &str,
        status: tonic::Code,
        reason: &str,
    ) -> Result<pb::SignedTreeHead, Error> {
        vawg_telemetry::record_denial(pb::Purpose::Unspecified.as_str_name());
        let record = AuditRecord::refusal(agency_id, rpc, status, reason, self.engine().version());
        self.inner.log.append(record).await
    }

    /// Decides and audits in one step; the decision comes back whatever it is.
    pub async fn decide_and_audit(
        &self,
        caller: &CallerIdentity,
        flow: &Flow,
        subject_pseudonyms: &[String],
    ) -> Result<(Decision, pb::SignedTreeHead), Error> {
        let decision = self.decide(caller, flow);
        let head = self
            .audit(caller, flow, &decision, subject_pseudonyms)
            .await?;
        Ok((decision, head))
    }

    /// Verifies the whole log against every head the hub has signed and, if given, a head an
    /// agency holds.
    pub async fn verify(
        &self,
        against: Option<&pb::SignedTreeHead>,
    ) -> Result<VerifyReport, Error> {
        crate::audit::verify_store(&self.inner.store, Some(self.inner.log.signer()), against).await
    }

    /// A signed head of the log as it stands.
    pub async fn head(&self) -> Result<pb::SignedTreeHead, Error> {
        self.inner.log.head().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immigration_status_is_withheld_from_every_mask() {
        let fields = withhold_immigration_status(BTreeSet::from([
            "victim.demographics".to_string(),
            "suspect".to_string(),
            "victim.demographics.immigration_status".to_string(),
            "*".to_string(),
            "event".to_string(),
        ]));
        assert!(fields.iter().all(|f| !f.contains("immigration_status")));
        assert!(fields.contains(&"victim.demographics.sex".to_string()));
        assert!(fields.contains(&"suspect.pseudonym".to_string()));
        assert!(!fields.contains(&"victim.demographics".to_string()));
        assert!(!fields.contains(&"*".to_string()));
    }

    #[test]
    fn default_scopes_follow_the_role() {
        let school = default_scopes(AgencyKind::School);
        assert!(school.contains(scope::EXCHANGE_REQUEST));
        assert!(school.contains(scope::RECORDS_WRITE));
        let central = default_scopes(AgencyKind::CentralAnalyst);
        assert!(!central.contains(scope::RECORDS_WRITE));
        assert!(!central.contains(scope::EXCHANGE_REQUEST));
        assert!(central.contains(scope::METRICS_READ));
        assert_eq!(default_scopes(AgencyKind::ImmigrationEnforcement).len(), 5);
    }
}
