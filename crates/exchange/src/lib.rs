//! vawg-exchange: purpose-limited record sharing and live notifications.
//!
//! - [`ExchangeApi`]: the `ExchangeService` gRPC service. `RequestRecords` derives the subject's
//!   pseudonyms (under every key of the ring), finds the current records about that victim, asks
//!   the firewall ([`vawg_firewall::Firewall`]) for a decision on the stated purpose and lawful
//!   basis, audits it, and returns only the released fields; `Subscribe` / `Acknowledge` deliver
//!   the notifications outbox (Operation Encompass, MARAC, support referrals) by sequence,
//!   resuming after the last acknowledged one; `RegisterSealingKey` / `GetSealingKey` hold each
//!   agency's public key.
//! - Areas and the police-personnel label ([`in_scope`]): a request concerns only records of
//!   the areas the requester is registered for; records labelled `suspect_is_police_personnel`
//!   reach a police agency for professional standards only (a hard rule of the firewall; the
//!   labelled records are withheld and the refusal audited, the rest decided on its own).
//! - Sealed payloads (HPKE, RFC 9180) are `vawg-seal`'s: the service only checks registered
//!   public keys and names the suite; agencies' systems seal and open.
//!
//! Live delivery: on PostgreSQL, `LISTEN`/`NOTIFY` wakes every replica's subscribers at the
//! commit of the ingest transaction that wrote the notification, whichever replica ran it; on
//! SQLite (one process), an in-process broadcast after commit. Subscribers also poll the outbox
//! every [`ExchangeSettings::poll_interval`] so that a lost wake-up delays but never loses a
//! notification.

mod error;
mod mask;
mod scope;
mod service;

pub use error::Error;
pub use scope::in_scope;
pub use service::{CheckedRequest, ExchangeApi, ExchangeSettings, check_request};
