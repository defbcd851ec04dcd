//! vawg-firewall: the one policy decision point of the hub, and the `FirewallService` that
//! explains and audits it.
//!
//! [`Firewall`] combines the three things a decision needs: the policies and hard rules of
//! `vawg-policy` (evaluated on a `Flow`, giving a `Decision`), the audit log of `vawg-audit`
//! (every decision that takes effect is appended, and the caller gets a signed head as a
//! receipt), and the agency registry in `vawg-store`. It sits above policy and audit and below
//! the services (ingest, metrics, exchange) and the auth layer (`vawg-auth`), which all decide
//! and audit through it.
//!
//! - [`Firewall`]: [`Firewall::decide`] a flow, then [`Firewall::audit`] it for a receipt;
//!   [`Firewall::admit`] is the gate the auth layer asks at every call;
//! - [`service::FirewallApi`]: the `FirewallService` gRPC service (dry runs, the policies in
//!   force, reading and verifying the audit log);
//! - [`Error`]: this crate's errors, classified into the hub's one error model.

mod decision;
mod error;
pub mod service;

pub use decision::Firewall;
pub use error::Error;
/// The bounds on caller-supplied words kept in the audit log (justifications, reasons).
pub use vawg_audit::caller_text;
