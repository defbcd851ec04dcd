//! The policy engine: Cedar policies an operator and a data-protection officer review
//! (`deploy/policies/`), validated against the schema when the hub starts.
//!
//! Conventions every policy file follows (enforced at load):
//! - every policy has `@id("…")` (unique) and `@description("…")` annotations;
//! - a `permit` may carry `@fields("a,b.c")`: the paths of `VawgRecord` it releases. A flow
//!   that is allowed gets the union of the fields of the permits that allowed it.
//! - no templates.

use std::{
    collections::{BTreeSet, HashMap},
    path::Path,
    str::FromStr,
    sync::{Arc, Mutex},
};

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Effect, Entities, EntityUid, Policy, PolicyId,
    PolicySet, Request, Schema, ValidationMode, Validator,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use vawg_domain::identity::CallerIdentity;
use vawg_proto::pb;

use crate::{Error, Flow, rpc::short_name};

/// The policy files compiled into the binary (the reviewed defaults in `deploy/policies/`).
pub const EMBEDDED: [(&str, &str); 7] = [
    (
        "vawg.cedarschema",
        include_str!("../../../deploy/policies/vawg.cedarschema"),
    ),
    (
        "aggregates.cedar",
        include_str!("../../../deploy/policies/aggregates.cedar"),
    ),
    (
        "audit.cedar",
        include_str!("../../../deploy/policies/audit.cedar"),
    ),
    (
        "exchange.cedar",
        include_str!("../../../deploy/policies/exchange.cedar"),
    ),
    (
        "immigration.cedar",
        include_str!("../../../deploy/policies/immigration.cedar"),
    ),
    (
        "reference.cedar",
        include_str!("../../../deploy/policies/reference.cedar"),
    ),
    (
        "submission.cedar",
        include_str!("../../../deploy/policies/submission.cedar"),
    ),
];

/// A policy in force, for review (`ListPolicies`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    /// The `@id` annotation.
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: String,
    /// The `@description` annotation.
    pub description: String,
    /// The policy text.
    pub text: String,
    /// The file it came from.
    pub file: String,
    /// Fields released (`@fields`), for permits.
    pub fields: Vec<String>,
}

impl PolicyInfo {
    /// Reads a policy of file `file` by the conventions every policy file follows (see the
    /// module documentation).
    fn of(file: &str, policy: &Policy) -> Result<PolicyInfo, Error> {
        let id = policy
            .annotation("id")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| Error::Load(format!("{file}: a policy has no @id annotation")))?
            .to_string();
        let description = policy
            .annotation("description")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| Error::Load(format!("{file}: policy {id} has no @description")))?
            .to_string();
        let effect = policy.effect();
        let fields: Vec<String> = policy
            .annotation("fields")
            .map(|f| {
                f.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if effect == Effect::Forbid && !fields.is_empty() {
            return Err(Error::Load(format!(
                "{file}: policy {id}: @fields belongs on permit policies only"
            )));
        }
        Ok(PolicyInfo {
            id,
            effect: match effect {
                Effect::Permit => "permit".into(),
                Effect::Forbid => "forbid".into(),
            },
            description,
            text: policy.to_string(),
            file: file.to_string(),
            fields,
        })
    }
}

/// What the engine said about a flow, before the hard rules. The default is a flow not
/// evaluated (refused, no policy, nothing released).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineOutcome {
    /// Whether some permit applied and no forbid did.
    pub allowed: bool,
    /// The policies that decided (the satisfied permits when allowed, the satisfied forbids
    /// when denied by one; empty when denied by default).
    pub policy_ids: Vec<String>,
    /// Union of the `@fields` of the deciding permits.
    pub fields: BTreeSet<String>,
    /// Policies that could not be evaluated (treated as not applying).
    pub errors: Vec<String>,
}

/// Most outcomes the engine remembers; when full it forgets them all and starts again.
pub const MAX_REMEMBERED_DECISIONS: usize = 4096;

/// Validated Cedar policies and their schema.
///
/// Evaluation is a pure function of the policy set (fixed for the engine's life) and the
/// request, and the request is built from nothing but the caller's identity (agency id, kind,
/// areas, scopes) and the flow's action, purpose, lawful basis, event kinds, categories, RPC
/// and gate flag. So the outcome for one exact set of those inputs is remembered (keyed by
/// all of them, compared in full), and the same call made again — the gate decision of every
/// RPC a connection makes — is answered without building and evaluating a Cedar request. A
/// new policy set is a new engine with nothing remembered.
#[derive(Debug)]
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    infos: Vec<PolicyInfo>,
    version: String,
    authorizer: Authorizer,
    decided: Mutex<HashMap<Vec<u8>, Arc<EngineOutcome>>>,
}

impl PolicyEngine {
    /// The embedded defaults.
    pub fn embedded() -> Result<PolicyEngine, Error> {
        let files: Vec<(String, String)> = EMBEDDED
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        PolicyEngine::from_files(&files)
    }

    /// Every `*.cedarschema` (exactly one) and `*.cedar` file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<PolicyEngine, Error> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::Load(format!("reading {}: {e}", dir.display())))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| Error::Load(format!("reading {}: {e}", dir.display())))?
                .path();
            let is_policy = path
                .extension()
                .is_some_and(|e| e == "cedar" || e == "cedarschema");
            if !is_policy {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Load(format!("reading {}: {e}", path.display())))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, text));
        }
        PolicyEngine::from_files(&files)
    }

    /// From (file name, text) pairs: one `.cedarschema`, any number of `.cedar`.
    pub fn from_files(files: &[(String, String)]) -> Result<PolicyEngine, Error> {
        let mut files = files.to_vec();
        files.sort();
        let schemas: Vec<_> = files
            .iter()
            .filter(|(n, _)| n.ends_with(".cedarschema"))
            .collect();
        let [(schema_name, schema_text)] = schemas.as_slice() else {
            return Err(Error::Load(format!(
                "expected exactly one .cedarschema file, found {}",
                schemas.len()
            )));
        };
        let (schema, _warnings) = Schema::from_cedarschema_str(schema_text)
            .map_err(|e| Error::Load(format!("{schema_name}: {e}")))?;

        let mut policies = PolicySet::new();
        let mut infos = Vec::new();
        let mut hasher = Sha256::new();
        hasher.update(schema_text.as_bytes());
        for (name, text) in files.iter().filter(|(n, _)| n.ends_with(".cedar")) {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            let parsed =
                PolicySet::from_str(text).map_err(|e| Error::Load(format!("{name}: {e}")))?;
            if parsed.templates().next().is_some() {
                return Err(Error::Load(format!("{name}: templates are not allowed")));
            }
            for policy in parsed.policies() {
                let info = PolicyInfo::of(name, policy)?;
                policies
                    .add(policy.new_id(PolicyId::new(&info.id)))
                    .map_err(|e| Error::Load(format!("{name}: policy {}: {e}", info.id)))?;
                infos.push(info);
            }
        }
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !validation.validation_passed() {
            let problems: Vec<String> = validation
                .validation_errors()
                .map(|e| e.to_string())
                .collect();
            return Err(Error::Load(format!(
                "policies do not validate against {schema_name}: {}",
                problems.join("; ")
            )));
        }
        let version = hex::encode(&hasher.finalize()[..8]);
        Ok(PolicyEngine {
            schema,
            policies,
            infos,
            version,
            authorizer: Authorizer::new(),
            decided: Mutex::new(HashMap::new()),
        })
    }

    /// Content hash of the schema and the policy files.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The policies, in file order.
    pub fn policies(&self) -> &[PolicyInfo] {
        &self.infos
    }

    /// Evaluates a flow for a caller (or recalls the outcome of exactly the same inputs).
    pub fn evaluate(&self, caller: &CallerIdentity, flow: &Flow) -> EngineOutcome {
        let key = decision_key(caller, flow);
        if let Some(outcome) = self.decided.lock().ok().and_then(|d| d.get(&key).cloned()) {
            return (*outcome).clone();
        }
        let outcome = self.evaluate_uncached(caller, flow);
        if let Ok(mut decided) = self.decided.lock() {
            if decided.len() >= MAX_REMEMBERED_DECISIONS {
                decided.clear();
            }
            decided.insert(key, Arc::new(outcome.clone()));
        }
        outcome
    }

    /// Number of outcomes remembered (for tests and diagnostics).
    pub fn remembered_decisions(&self) -> usize {
        self.decided.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Builds the Cedar request and evaluates it, without the memory of past outcomes.
    pub fn evaluate_uncached(&self, caller: &CallerIdentity, flow: &Flow) -> EngineOutcome {
        match self.request(caller, flow) {
            Ok((request, entities)) => {
                let response = self
                    .authorizer
                    .is_authorized(&request, &self.policies, &entities);
                // Cedar reports these as sets in no fixed order; sorted, the same request always
                // gives the same outcome (and the same audit entry).
                let mut policy_ids: Vec<String> = response
                    .diagnostics()
                    .reason()
                    .map(|id| id.to_string())
                    .collect();
                policy_ids.sort_unstable();
                let mut errors: Vec<String> = response
                    .diagnostics()
                    .errors()
                    .map(|e| e.to_string())
                    .collect();
                errors.sort_unstable();
                let allowed = response.decision() == CedarDecision::Allow;
                let fields = if allowed {
                    self.infos
                        .iter()
                        .filter(|p| policy_ids.contains(&p.id))
                        .flat_map(|p| p.fields.iter().cloned())
                        .collect()
                } else {
                    BTreeSet::new()
                };
                EngineOutcome {
                    allowed,
                    policy_ids,
                    fields,
                    errors,
                }
            }
            Err(problem) => EngineOutcome {
                allowed: false,
                policy_ids: Vec::new(),
                fields: BTreeSet::new(),
                errors: vec![problem],
            },
        }
    }

    fn request(&self, caller: &CallerIdentity, flow: &Flow) -> Result<(Request, Entities), String> {
        let action_name = short_name(flow.action.as_str_name(), "ACTION_");
        let data = match flow.action {
            pb::Action::Submit | pb::Action::ReadRecords | pb::Action::ReceiveNotifications => {
                "records"
            }
            pb::Action::ReadAggregates => "aggregates",
            pb::Action::ReadAudit => "audit",
            pb::Action::ReadReference | pb::Action::Unspecified => "reference",
        };
        let principal = uid("Vawg::Agency", &caller.agency_id)?;
        let action = uid("Vawg::Action", action_name)?;
        let resource = uid("Vawg::Data", data)?;
        let entities = Entities::from_json_value(
            json!([
                {
                    "uid": { "type": "Vawg::Agency", "id": caller.agency_id },
                    "attrs": {
                        "kind": caller.agency_kind.as_str(),
                        "areas": caller.areas,
                        "scopes": caller.scopes,
                    },
                    "parents": []
                },
                { "uid": { "type": "Vawg::Data", "id": data }, "attrs": {}, "parents": [] }
            ]),
            Some(&self.schema),
        )
        .map_err(|e| format!("entities: {e}"))?;
        let event_kinds: Vec<&str> = flow
            .event_kinds
            .iter()
            .map(|k| short_name(k.as_str_name(), "EVENT_KIND_"))
            .collect();
        let context = Context::from_json_value(
            json!({
                "purpose": short_name(flow.purpose.as_str_name(), "PURPOSE_"),
                "lawful_basis": short_name(flow.lawful_basis.as_str_name(), "LAWFUL_BASIS_"),
                "event_kinds": event_kinds,
                "categories": flow.categories,
                "rpc": flow.rpc,
                "gate": flow.gate,
            }),
            Some((&self.schema, &action)),
        )
        .map_err(|e| format!("context: {e}"))?;
        let request = Request::new(principal, action, resource, context, Some(&self.schema))
            .map_err(|e| format!("request: {e}"))?;
        Ok((request, entities))
    }
}

/// Every input [`PolicyEngine::request`] reads, each length-prefixed (so no two different
/// inputs encode alike), in a fixed order.
fn decision_key(caller: &CallerIdentity, flow: &Flow) -> Vec<u8> {
    fn text(key: &mut Vec<u8>, s: &str) {
        key.extend_from_slice(&(s.len() as u64).to_le_bytes());
        key.extend_from_slice(s.as_bytes());
    }
    fn count(key: &mut Vec<u8>, n: usize) {
        key.extend_from_slice(&(n as u64).to_le_bytes());
    }
    fn number(key: &mut Vec<u8>, n: i32) {
        key.extend_from_slice(&n.to_le_bytes());
    }
    let mut key = Vec::with_capacity(256);
    text(&mut key, &caller.agency_id);
    text(&mut key, caller.agency_kind.as_str());
    count(&mut key, caller.areas.len());
    for area in &caller.areas {
        text(&mut key, area);
    }
    count(&mut key, caller.scopes.len());
    for scope in &caller.scopes {
        text(&mut key, scope);
    }
    number(&mut key, flow.action as i32);
    number(&mut key, flow.purpose as i32);
    number(&mut key, flow.lawful_basis as i32);
    count(&mut key, flow.event_kinds.len());
    for kind in &flow.event_kinds {
        number(&mut key, *kind as i32);
    }
    count(&mut key, flow.categories.len());
    for category in &flow.categories {
        text(&mut key, category);
    }
    text(&mut key, &flow.rpc);
    key.push(u8::from(flow.gate));
    key
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    let literal = format!("{ty}::{}", serde_json::Value::String(id.to_string()));
    EntityUid::from_str(&literal).map_err(|e| format!("entity id: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_policies_validate_and_every_one_is_described() {
        let engine = PolicyEngine::embedded().expect("embedded policies validate");
        assert_eq!(engine.version().len(), 16);
        assert!(engine.policies().iter().all(|p| !p.description.is_empty()));
        assert!(
            engine
                .policies()
                .iter()
                .any(|p| p.id == "no-immigration-enforcement" && p.effect == "forbid")
        );
    }

    /// Callers and flows varying every input of a decision, one at a time and together.
    fn decision_inputs() -> Vec<(CallerIdentity, Flow)> {
        use vawg_domain::identity::AgencyKind;
        let kinds = [
            AgencyKind::Police,
            AgencyKind::School,
            AgencyKind::CentralAnalyst,
            AgencyKind::ImmigrationEnforcement,
        ];
        let scope_sets: [&[&str]; 3] = [
            &[],
            &["reference:read", "metrics:read"],
            &[
                "records:write",
                "exchange:request",
                "audit:read",
                "reference:read",
            ],
        ];
        let actions = [
            pb::Action::Submit,
            pb::Action::ReadRecords,
            pb::Action::ReadAggregates,
            pb::Action::ReadAudit,
            pb::Action::ReadReference,
            pb::Action::ReceiveNotifications,
        ];
        let purposes = [
            pb::Purpose::Unspecified,
            pb::Purpose::Safeguarding,
            pb::Purpose::Statistics,
            pb::Purpose::RecordSubmission,
            pb::Purpose::ImmigrationEnforcement,
        ];
        let mut inputs = Vec::new();
        for (k, kind) in kinds.iter().enumerate() {
            for (s, scopes) in scope_sets.iter().enumerate() {
                for (a, action) in actions.iter().enumerate() {
                    for (p, purpose) in purposes.iter().enumerate() {
                        let caller = CallerIdentity {
                            agency_id: format!("agency-{k}"),
                            agency_kind: *kind,
                            scopes: scopes.iter().map(|s| s.to_string()).collect(),
                            areas: if s == 0 {
                                vec![]
                            } else {
                                vec!["E23000001".into()]
                            },
                        };
                        let mut flow = Flow::new(*action, *purpose, "/vawg.v1.X/Y");
                        flow.gate = (a + p) % 2 == 0;
                        if p % 2 == 1 {
                            flow.lawful_basis = pb::LawfulBasis::PublicTaskSafeguarding;
                            flow.event_kinds = vec![pb::EventKind::CrimeRecorded];
                            flow.categories = vec!["stalking".into()];
                        }
                        inputs.push((caller, flow));
                    }
                }
            }
        }
        inputs
    }

    #[test]
    fn remembered_outcomes_equal_fresh_evaluation_for_every_input() {
        let engine = PolicyEngine::embedded().unwrap();
        let inputs = decision_inputs();
        let mut allowed = 0;
        for round in 0..2 {
            for (caller, flow) in &inputs {
                let fresh = engine.evaluate_uncached(caller, flow);
                assert_eq!(
                    engine.evaluate(caller, flow),
                    fresh,
                    "round {round}: {caller:?} {flow:?}"
                );
                allowed += usize::from(fresh.allowed);
            }
        }
        assert_eq!(engine.remembered_decisions(), inputs.len());
        // The table holds both answers, so a mixed-up key would show.
        assert!(allowed > 0 && allowed < 2 * inputs.len(), "{allowed}");
    }

    #[test]
    fn every_decision_input_is_part_of_the_key() {
        let (caller, flow) = decision_inputs().swap_remove(0);
        let base = decision_key(&caller, &flow);
        let mut callers = vec![caller.clone(); 4];
        callers[0].agency_id.push('x');
        callers[1].agency_kind = vawg_domain::identity::AgencyKind::Court;
        callers[2].areas.push("E23000005".into());
        callers[3].scopes.insert("audit:read".into());
        for other in &callers {
            assert_ne!(decision_key(other, &flow), base, "{other:?}");
        }
        let mut flows = vec![flow.clone(); 8];
        flows[0].action = pb::Action::ReadAudit;
        flows[1].purpose = pb::Purpose::Oversight;
        flows[2].lawful_basis = pb::LawfulBasis::LegalObligation;
        flows[3].event_kinds.push(pb::EventKind::ChargingDecision);
        flows[4].categories.push("rape".into());
        flows[5].rpc.push('x');
        flows[6].gate = !flows[6].gate;
        // Moving text from one field to the next is a different input, too.
        flows[7].categories = vec!["ab".into()];
        let mut split = flow.clone();
        split.categories = vec!["a".into(), "b".into()];
        assert_ne!(
            decision_key(&caller, &split),
            decision_key(&caller, &flows[7])
        );
        for other in &flows {
            assert_ne!(decision_key(&caller, other), base, "{other:?}");
        }
        // What the engine never reads (the records' agencies) does not split the memory.
        let mut same = flow.clone();
        same.record_agency_ids.push("someone".into());
        assert_eq!(decision_key(&caller, &same), base);
    }

    #[test]
    fn the_memory_is_bounded() {
        let engine = PolicyEngine::embedded().unwrap();
        let (mut caller, flow) = decision_inputs().swap_remove(0);
        for i in 0..MAX_REMEMBERED_DECISIONS + 10 {
            caller.agency_id = format!("agency-{i}");
            engine.evaluate(&caller, &flow);
            assert!(engine.remembered_decisions() <= MAX_REMEMBERED_DECISIONS);
        }
    }

    #[test]
    fn two_schemas_or_duplicate_ids_are_refused() {
        let schema = EMBEDDED[0].1.to_string();
        let two = vec![
            ("a.cedarschema".to_string(), schema.clone()),
            ("b.cedarschema".to_string(), schema.clone()),
        ];
        assert!(PolicyEngine::from_files(&two).is_err());
        let p = r#"@id("same") @description("d") permit (principal, action, resource);"#;
        let dup = vec![
            ("s.cedarschema".to_string(), schema),
            ("a.cedar".to_string(), p.to_string()),
            ("b.cedar".to_string(), p.to_string()),
        ];
        assert!(PolicyEngine::from_files(&dup).is_err());
    }
}
