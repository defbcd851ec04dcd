//! `DefinitionService`: the versioned common definition, over gRPC.
//!
//! Classify answers context-blind, as ingest classified under vawg-v1: a code that maps to a
//! context class (vawg-v2: violence against the person, homicide) answers with the class's
//! domestic category and names the class in `ClassifyResponse.context`, because its category
//! depends on the crime's domestic-abuse flag and relationship, which the request does not carry.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vawg_domain::{
    definition::{
        Category, ClassifyError, CodeMapping, Context, Definition, DefinitionSet, Scheme,
    },
    identity::AgencyKind,
};
use vawg_proto::{
    error::{ApiError, ErrorKind, IntoStatus},
    pb::{self, definition_service_server::DefinitionService},
};

/// Serves definition versions and classification.
#[derive(Clone)]
pub struct DefinitionApi {
    set: Arc<DefinitionSet>,
}

impl DefinitionApi {
    /// Over a set of definition versions.
    pub fn new(set: Arc<DefinitionSet>) -> Self {
        Self { set }
    }

    /// The definition version `version`, or the current one when it is empty.
    fn version(&self, version: &str) -> Result<&Arc<Definition>, ApiError> {
        if version.is_empty() {
            return Ok(self.set.current());
        }
        self.set.get(version).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                format!("definition version '{version}' is not known to this hub"),
            )
        })
    }

    /// Classifies a local code under the version asked for.
    fn classify_code(&self, req: &pb::ClassifyRequest) -> Result<pb::ClassifyResponse, ApiError> {
        if req.scheme.trim().is_empty() {
            return Err(ApiError::invalid_field(
                "scheme",
                "required (e.g. HO_OFFENCE)",
            ));
        }
        if req.code.trim().is_empty() {
            return Err(ApiError::invalid_field("code", "required (e.g. 19C)"));
        }
        let def = self.version(&req.version)?;
        let c = def.classify(&req.scheme, &req.code, None).map_err(|e| {
            let kind = match e {
                ClassifyError::SchemeNotForAgencyKind { .. } => ErrorKind::PermissionDenied,
                _ => ErrorKind::NotFound,
            };
            ApiError::new(kind, e.to_string())
        })?;
        Ok(pb::ClassifyResponse {
            version: def.version.clone(),
            category: Some(category_to_pb(c.category)),
            mapping: Some(mapping_to_pb(c.mapping)),
            context: c.context.map(|x| x.id.clone()).unwrap_or_default(),
        })
    }
}

/// The contract form of a definition; `with_schemes` adds the code mappings.
pub fn definition_to_pb(def: &Definition, current: bool, with_schemes: bool) -> pb::Definition {
    use chrono::Datelike;
    pb::Definition {
        version: def.version.clone(),
        title: def.title.clone(),
        effective_from: Some(pb::Date {
            year: def.effective_from.year(),
            month: def.effective_from.month() as i32,
            day: def.effective_from.day() as i32,
        }),
        description: def.description.clone(),
        categories: def.categories.iter().map(category_to_pb).collect(),
        schemes: if with_schemes {
            def.schemes.iter().map(scheme_to_pb).collect()
        } else {
            Vec::new()
        },
        current,
        contexts: def.contexts.iter().map(context_to_pb).collect(),
    }
}

fn scheme_to_pb(s: &Scheme) -> pb::Scheme {
    pb::Scheme {
        id: s.id.clone(),
        name: s.name.clone(),
        agency_kinds: s
            .agency_kinds
            .iter()
            .filter_map(|k| k.parse::<AgencyKind>().ok())
            .map(|k| k.to_pb() as i32)
            .collect(),
        source: s.source.clone(),
        codes: s.codes.iter().map(mapping_to_pb).collect(),
        notation: s.notation.key().unwrap_or_default().to_owned(),
    }
}

/// A mapping names either its category or its context class; the other id is empty.
fn mapping_to_pb(c: &CodeMapping) -> pb::CodeMapping {
    pb::CodeMapping {
        code: c.code.clone(),
        description: c.description.clone(),
        category_id: c.category_id().unwrap_or_default().to_owned(),
        context_id: c.context_id().unwrap_or_default().to_owned(),
    }
}

fn context_to_pb(c: &Context) -> pb::Context {
    pb::Context {
        id: c.id.clone(),
        name: c.name.clone(),
        domestic_category_id: c.domestic_category.clone(),
        non_domestic_category_id: c.non_domestic_category.clone().unwrap_or_default(),
        source: c.source.clone(),
        description: c.description.clone(),
    }
}

fn category_to_pb(c: &Category) -> pb::Category {
    pb::Category {
        id: c.id.clone(),
        name: c.name.clone(),
        harm_rank: c.harm_rank,
        course_of_conduct: c.course_of_conduct,
        description: c.description.clone(),
    }
}

#[tonic::async_trait]
impl DefinitionService for DefinitionApi {
    async fn list_definitions(
        &self,
        _request: Request<pb::ListDefinitionsRequest>,
    ) -> Result<Response<pb::ListDefinitionsResponse>, Status> {
        let current = self.set.current().version.clone();
        let mut definitions: Vec<_> = self
            .set
            .versions()
            .map(|d| definition_to_pb(d, d.version == current, false))
            .collect();
        definitions.sort_by(|a, b| {
            let key = |d: &pb::Definition| d.effective_from.map(|e| (e.year, e.month, e.day));
            key(b).cmp(&key(a)).then_with(|| b.version.cmp(&a.version))
        });
        Ok(Response::new(pb::ListDefinitionsResponse { definitions }))
    }

    async fn get_definition(
        &self,
        request: Request<pb::GetDefinitionRequest>,
    ) -> Result<Response<pb::GetDefinitionResponse>, Status> {
        let def = self.version(&request.get_ref().version).into_status()?;
        let current = def.version == self.set.current().version;
        Ok(Response::new(pb::GetDefinitionResponse {
            definition: Some(definition_to_pb(def, current, true)),
        }))
    }

    async fn classify(
        &self,
        request: Request<pb::ClassifyRequest>,
    ) -> Result<Response<pb::ClassifyResponse>, Status> {
        let response = self.classify_code(request.get_ref()).into_status()?;
        Ok(Response::new(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> DefinitionApi {
        DefinitionApi::new(Arc::new(DefinitionSet::embedded()))
    }

    fn classify(version: &str, scheme: &str, code: &str) -> Result<pb::ClassifyResponse, ApiError> {
        api().classify_code(&pb::ClassifyRequest {
            version: version.into(),
            scheme: scheme.into(),
            code: code.into(),
        })
    }

    #[test]
    fn a_context_code_answers_with_its_domestic_category_and_names_the_class() {
        let r = classify("", "HO_OFFENCE", "004/01").unwrap();
        assert_eq!(r.version, "vawg-v2");
        assert_eq!(r.category.unwrap().id, "domestic_homicide");
        assert_eq!(r.context, "homicide");
        let m = r.mapping.unwrap();
        assert_eq!((m.code.as_str(), m.category_id.as_str()), ("4/1", ""));
        assert_eq!(m.context_id, "homicide");
    }

    #[test]
    fn a_plain_code_has_no_context_and_v1_answers_as_before() {
        let r = classify("", "LEGISLATION", "serious crime act 2015 s76(1)").unwrap();
        assert_eq!(r.category.unwrap().id, "controlling_or_coercive_behaviour");
        assert_eq!(r.context, "");
        assert_eq!(r.mapping.unwrap().code, "Serious Crime Act 2015 s76");
        let v1 = classify("vawg-v1", "HO_OFFENCE", "8N").unwrap();
        assert_eq!(v1.category.unwrap().id, "domestic_abuse");
        assert_eq!(v1.context, "");
        assert_eq!(v1.mapping.unwrap().category_id, "domestic_abuse");
    }

    #[test]
    fn unknown_codes_are_not_found() {
        for code in ["4.10", "Y05X", "8N/1"] {
            let scheme = if code.starts_with('Y') {
                "ICD10"
            } else {
                "HO_OFFENCE"
            };
            let e = classify("", scheme, code).unwrap_err();
            assert_eq!(e.kind, ErrorKind::NotFound, "{code}");
        }
    }

    #[test]
    fn the_contract_definition_carries_contexts_and_notations() {
        let set = DefinitionSet::embedded();
        let v2 = definition_to_pb(set.current(), true, true);
        assert!(v2.current);
        let ids: Vec<&str> = v2.contexts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["violence_against_the_person", "homicide"]);
        assert_eq!(v2.contexts[0].domestic_category_id, "domestic_abuse");
        assert_eq!(v2.contexts[0].non_domestic_category_id, "");
        let notation = |id: &str| {
            v2.schemes
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.notation.clone())
                .unwrap()
        };
        assert_eq!(notation("HO_OFFENCE"), "ho_offence");
        assert_eq!(notation("ICD10"), "icd10");
        assert_eq!(notation("LEGISLATION"), "legislation");
        assert_eq!(notation("CPS_FLAG"), "");
        let v1 = definition_to_pb(set.get("vawg-v1").unwrap(), false, false);
        assert!(v1.contexts.is_empty() && v1.schemes.is_empty());
    }
}
