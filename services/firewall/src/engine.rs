//! The policy engine: Cedar policies an operator and a data-protection officer review
//! (`deploy/policies/`), validated against the schema when the hub starts.
//!
//! Conventions every policy file follows (enforced at load):
//! - every policy has `@id("…")` (unique) and `@description("…")` annotations;
//! - a `permit` may carry `@fields("a,b.c")`: the paths of `VawgRecord` it releases. A flow
//!   that is allowed gets the union of the fields of the permits that allowed it.
//! - no templates.

use std::{collections::BTreeSet, path::Path, str::FromStr};

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Effect, Entities, EntityUid, PolicyId,
    PolicySet, Request, Schema, ValidationMode, Validator,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use vawg_hub::{identity::CallerIdentity, pb};

use crate::{Error, decision::Flow, rpc::short_name};

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

/// What the engine said about a flow, before the hard rules.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// Validated Cedar policies and their schema.
#[derive(Debug)]
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    infos: Vec<PolicyInfo>,
    version: String,
    authorizer: Authorizer,
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
            .map_err(|e| Error::Policy(format!("reading {}: {e}", dir.display())))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| Error::Policy(format!("reading {}: {e}", dir.display())))?
                .path();
            let is_policy = path
                .extension()
                .is_some_and(|e| e == "cedar" || e == "cedarschema");
            if !is_policy {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Policy(format!("reading {}: {e}", path.display())))?;
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
            return Err(Error::Policy(format!(
                "expected exactly one .cedarschema file, found {}",
                schemas.len()
            )));
        };
        let (schema, _warnings) = Schema::from_cedarschema_str(schema_text)
            .map_err(|e| Error::Policy(format!("{schema_name}: {e}")))?;

        let mut policies = PolicySet::new();
        let mut infos = Vec::new();
        let mut hasher = Sha256::new();
        hasher.update(schema_text.as_bytes());
        for (name, text) in files.iter().filter(|(n, _)| n.ends_with(".cedar")) {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            let parsed =
                PolicySet::from_str(text).map_err(|e| Error::Policy(format!("{name}: {e}")))?;
            if parsed.templates().next().is_some() {
                return Err(Error::Policy(format!("{name}: templates are not allowed")));
            }
            for policy in parsed.policies() {
                let id = policy
                    .annotation("id")
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| {
                        Error::Policy(format!("{name}: a policy has no @id annotation"))
                    })?
                    .to_string();
                let description = policy
                    .annotation("description")
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| {
                        Error::Policy(format!("{name}: policy {id} has no @description"))
                    })?
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
                    return Err(Error::Policy(format!(
                        "{name}: policy {id}: @fields belongs on permit policies only"
                    )));
                }
                let text = policy.to_string();
                policies
                    .add(policy.new_id(PolicyId::new(&id)))
                    .map_err(|e| Error::Policy(format!("{name}: policy {id}: {e}")))?;
                infos.push(PolicyInfo {
                    id,
                    effect: match effect {
                        Effect::Permit => "permit".into(),
                        Effect::Forbid => "forbid".into(),
                    },
                    description,
                    text,
                    file: name.clone(),
                    fields,
                });
            }
        }
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !validation.validation_passed() {
            let problems: Vec<String> = validation
                .validation_errors()
                .map(|e| e.to_string())
                .collect();
            return Err(Error::Policy(format!(
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

    /// Evaluates a flow for a caller.
    pub fn evaluate(&self, caller: &CallerIdentity, flow: &Flow) -> EngineOutcome {
        match self.request(caller, flow) {
            Ok((request, entities)) => {
                let response = self
                    .authorizer
                    .is_authorized(&request, &self.policies, &entities);
                let policy_ids: Vec<String> = response
                    .diagnostics()
                    .reason()
                    .map(|id| id.to_string())
                    .collect();
                let errors: Vec<String> = response
                    .diagnostics()
                    .errors()
                    .map(|e| e.to_string())
                    .collect();
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
