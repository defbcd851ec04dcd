//! vawg-policy: what the firewall decides by — the Cedar policies an operator and a
//! data-protection officer review, the hard rules in code that no policy file can override, the
//! table of which action each RPC performs and which token scope it needs, and the value types
//! of a decision ([`Flow`] in, [`Decision`] out).
//!
//! It is the bottom of the firewall's stack and pure (no store, no network, no clock):
//! `vawg-audit` records decisions, `vawg-firewall` is the decision point that evaluates a flow
//! against these policies and rules and audits the outcome, and `vawg-auth` asks it at every
//! call.
//!
//! - [`engine`]: the Cedar policies and schema in `deploy/policies/`;
//! - [`hard_rules`]: [`HARD_RULES`] in words, and the checks that enforce them;
//! - [`rpc`]: RPC path → action and implied purpose, and the scope each action needs;
//! - [`Flow`], [`Decision`]: what is decided, and the answer;
//! - [`default_scopes`]: the scopes a development token gets for an agency kind.

mod decision;
pub mod engine;
mod error;
pub mod hard_rules;
pub mod rpc;
mod scopes;

pub use decision::{Decision, Flow};
pub use error::Error;
pub use hard_rules::HARD_RULES;
pub use scopes::default_scopes;
