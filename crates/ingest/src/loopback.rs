//! A stand-in for the auth layer, for benchmarks and tests that run the ingest service alone
//! on a loopback port: it takes the caller from an `x-vawg-test-agency` header and looks the
//! agency up in a fixed, in-memory registry given at construction. It trusts the header, so it
//! must never front a hub that anyone else can reach; `Application` never uses it.

use std::{collections::BTreeMap, sync::Arc};

use tonic::{Request, Status, service::Interceptor};
use vawg_domain::identity::CallerIdentity;

/// The header naming the calling agency.
pub const AGENCY_HEADER: &str = "x-vawg-test-agency";

/// Sets [`CallerIdentity`] from [`AGENCY_HEADER`] for agencies in its registry.
#[derive(Clone, Debug)]
pub struct LoopbackCaller {
    registry: Arc<BTreeMap<String, CallerIdentity>>,
}

impl LoopbackCaller {
    /// Over a fixed set of callers.
    pub fn new(callers: impl IntoIterator<Item = CallerIdentity>) -> Self {
        Self {
            registry: Arc::new(
                callers
                    .into_iter()
                    .map(|c| (c.agency_id.clone(), c))
                    .collect(),
            ),
        }
    }
}

impl Interceptor for LoopbackCaller {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let caller = request
            .metadata()
            .get(AGENCY_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|id| self.registry.get(id))
            .cloned();
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
        }
        Ok(request)
    }
}
