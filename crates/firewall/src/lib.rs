//! vawg-firewall: who is calling (mutual TLS + JWT + the agency registry), whether the flow is
//! allowed (Cedar policies, then hard rules in code), and the tamper-evident audit log of
//! every decision.
//!
//! - [`tls`]: the server's TLS configuration and accept loop (client certificates required);
//! - [`layer::AuthLayer`]: the tower layer every RPC passes;
//! - [`limits::AgencyLimitLayer`]: per-agency rate and in-flight limits (abuse protection);
//! - [`Firewall`]: the one policy decision point, for the auth layer and for services
//!   ([`Firewall::decide`] a [`Flow`], then [`Firewall::audit`] for a receipt);
//! - [`engine`]: the Cedar policies and schema in `deploy/policies/`;
//! - [`audit`]: the RFC 6962 Merkle / hash-chained log, signed heads, verification;
//! - [`service::FirewallApi`]: the `FirewallService` gRPC service.

pub mod audit;
pub mod cert;
pub mod decision;
pub mod engine;
mod error;
pub mod jwt;
pub mod layer;
pub mod limits;
pub mod rpc;
pub mod service;
pub mod tls;

pub use decision::{Decision, Firewall, Flow, HARD_RULES, default_scopes};
pub use error::Error;
