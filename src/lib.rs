//! vawg-hub: contracts and pure domain logic for the violence-against-women-and-girls (VAWG)
//! data-sharing hub.
//!
//! This crate holds no I/O. It owns:
//! - [`pb`]: the generated `vawg.v1` gRPC contracts (from `proto/`);
//! - [`definition`]: the versioned common definition and classification of local codes;
//! - [`counting`]: victim scopes and the Home Office counting rules as pure functions;
//! - [`pseudonym`]: keyed pseudonymisation of personal identifiers;
//! - [`identity`]: the authenticated caller, as the auth layer hands it to services.

pub mod aggregate;
pub mod apidoc;
pub mod counting;
pub mod definition;
pub mod disclosure;
pub mod identity;
pub mod pb;
pub mod policy;
pub mod pseudonym;
pub mod telemetry;
