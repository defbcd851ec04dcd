//! `DefinitionService`: the versioned common definition, over gRPC.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vawg_domain::{
    definition::{ClassifyError, Definition, DefinitionSet},
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
            mapping: Some(pb::CodeMapping {
                code: c.mapping.code.clone(),
                description: c.mapping.description.clone(),
                category_id: c.mapping.category.clone(),
            }),
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
            def.schemes
                .iter()
                .map(|s| pb::Scheme {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    agency_kinds: s
                        .agency_kinds
                        .iter()
                        .filter_map(|k| k.parse::<AgencyKind>().ok())
                        .map(|k| k.to_pb() as i32)
                        .collect(),
                    source: s.source.clone(),
                    codes: s
                        .codes
                        .iter()
                        .map(|c| pb::CodeMapping {
                            code: c.code.clone(),
                            description: c.description.clone(),
                            category_id: c.category.clone(),
                        })
                        .collect(),
                })
                .collect()
        } else {
            Vec::new()
        },
        current,
    }
}

fn category_to_pb(c: &vawg_domain::definition::Category) -> pb::Category {
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
