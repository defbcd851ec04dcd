//! vawg-auth: who is calling the hub, and the one layer every call passes.
//!
//! The outermost part of the hub's security design: it identifies the caller (a client
//! certificate issued by the hub's CA, and a bearer token naming the same agency, which the
//! agency registry must hold and not have suspended), holds each agency to its abuse limits,
//! then asks the decision point of `vawg-firewall` whether the RPC may be called at all and
//! audits the answer either way. Services behind it receive a `CallerIdentity` or nothing.
//!
//! - [`tls`]: the server's TLS configuration and accept loop (client certificates required;
//!   bounded pending handshakes; refused handshakes rate limited per source and audited in
//!   aggregate);
//! - [`refusals`]: per-source limits and aggregated auditing of refusals before identity;
//! - [`idle`]: idle and header timeouts on established connections;
//! - [`cert`]: the agency a verified client certificate names;
//! - [`jwt`]: bearer tokens (JWKS keys by `kid`, allowed algorithms, claims);
//! - [`limits::AgencyLimitLayer`]: per-agency rate and in-flight limits and the caller's
//!   deadline over the whole call;
//! - [`layer::AuthLayer`]: the tower layer every RPC passes;
//! - [`Error`]: this crate's errors, classified into the hub's one error model.

pub mod cert;
mod error;
pub mod idle;
pub mod jwt;
pub mod layer;
pub mod limits;
pub mod refusals;
pub mod tls;

pub use error::Error;
