//! The one policy decision point: the Cedar engine, then the hard rules in code that no
//! policy file can override, then the audit log.

use std::sync::Arc;

use vawg_audit::{AuditLog, AuditRecord, HeadSigner, VerifyReport};
use vawg_domain::identity::CallerIdentity;
use vawg_policy::{
    Decision, Flow,
    engine::{EngineOutcome, PolicyEngine},
    hard_rules::{self, Refusal},
    rpc,
};
use vawg_proto::pb;
use vawg_store::Store;

use crate::Error;

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

    /// Decides a flow: the policies, then the hard rules (which refuse whatever the policies
    /// said). Pure: does not audit (see [`Firewall::audit`] and [`Firewall::decide_and_audit`]).
    pub fn decide(&self, caller: &CallerIdentity, flow: &Flow) -> Decision {
        let engine = self.inner.engine.evaluate(caller, flow);
        if !engine.errors.is_empty() {
            tracing::warn!(rpc = %flow.rpc, errors = ?engine.errors, "policy evaluation errors");
        }
        let version = self.inner.engine.version();
        match hard_rules::check(caller, flow) {
            Some(refusal) => Decision::refused(refusal, &engine, version),
            None => Decision::from_engine(&engine, flow, version),
        }
    }

    /// The gate the auth layer asks for every call: may this caller call `rpc` at all?
    /// Unknown RPCs are refused.
    pub fn admit(&self, caller: &CallerIdentity, rpc_path: &str) -> (Flow, Decision) {
        let Some((action, purpose)) = rpc::classify(rpc_path) else {
            let flow = Flow::new(pb::Action::Unspecified, pb::Purpose::Unspecified, rpc_path);
            let unknown = Refusal {
                rule_id: "code:unknown-rpc",
                reason: "The hub does not serve this RPC.".into(),
                hard_rule: false,
            };
            let not_evaluated = EngineOutcome::default();
            let decision = Decision::refused(unknown, &not_evaluated, self.engine().version());
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
        self.audit_justified(caller, flow, decision, subject_pseudonyms, "")
            .await
    }

    /// [`Firewall::audit`], keeping the caller's own words with the decision: a request's
    /// justification or a retraction's reason, checked by the service with
    /// `vawg_audit::caller_text::check` (and cut to its bounds here whatever the service did).
    pub async fn audit_justified(
        &self,
        caller: &CallerIdentity,
        flow: &Flow,
        decision: &Decision,
        subject_pseudonyms: &[String],
        justification: &str,
    ) -> Result<pb::SignedTreeHead, Error> {
        if !decision.allowed {
            // Counted where a denial takes effect, not in `decide` (dry runs decide too).
            vawg_telemetry::record_denial(flow.purpose.as_str_name());
        }
        let record = AuditRecord::decision(caller, flow, decision, subject_pseudonyms)
            .with_justification(justification);
        Ok(self.inner.log.append(record).await?)
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
        Ok(self.inner.log.append(record).await?)
    }

    /// Decides and audits in one step; the decision comes back whatever it is.
    pub async fn decide_and_audit(
        &self,
        caller: &CallerIdentity,
        flow: &Flow,
        subject_pseudonyms: &[String],
    ) -> Result<(Decision, pb::SignedTreeHead), Error> {
        self.decide_and_audit_justified(caller, flow, subject_pseudonyms, "")
            .await
    }

    /// [`Firewall::decide_and_audit`], keeping the caller's justification with the decision
    /// (see [`Firewall::audit_justified`]).
    pub async fn decide_and_audit_justified(
        &self,
        caller: &CallerIdentity,
        flow: &Flow,
        subject_pseudonyms: &[String],
        justification: &str,
    ) -> Result<(Decision, pb::SignedTreeHead), Error> {
        let decision = self.decide(caller, flow);
        let head = self
            .audit_justified(caller, flow, &decision, subject_pseudonyms, justification)
            .await?;
        Ok((decision, head))
    }

    /// Verifies the whole log against every head the hub has signed and, if given, a head an
    /// agency holds.
    pub async fn verify(
        &self,
        against: Option<&pb::SignedTreeHead>,
    ) -> Result<VerifyReport, Error> {
        let signer = self.inner.log.signer();
        Ok(vawg_audit::verify_store(&self.inner.store, Some(signer), against).await?)
    }

    /// A signed head of the log as it stands.
    pub async fn head(&self) -> Result<pb::SignedTreeHead, Error> {
        Ok(self.inner.log.head().await?)
    }
}
