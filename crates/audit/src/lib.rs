//! vawg-audit: the tamper-evident audit log of every firewall decision and refusal.
//!
//! Every entry is a leaf of an RFC 6962 Merkle tree (`leaf = SHA-256(0x00 || canonical JSON)`,
//! `node = SHA-256(0x01 || left || right)`), each leaf also chained to the one before
//! (`chain = SHA-256(previous chain || leaf)`), and every append returns a head signed with the
//! hub's ECDSA P-256 audit key. Edits, deletions and reordering break the leaf hashes or the
//! chain; truncation (and wholesale rewriting with recomputed hashes) is caught against a
//! previously signed head.
//!
//! In the design it sits between the policy and the decision point: it records the value types
//! of `vawg-policy` ([`AuditRecord::decision`] of a `Flow` and its `Decision`) and stores
//! through `vawg-store`; `vawg-firewall` appends to it after every decision, and the hub's
//! `audit verify` command and `VerifyAudit` RPC check it.
//!
//! - [`AuditRecord`]: one entry, exactly as hashed, in format [`FORMAT_VERSION`];
//! - [`caller_text`]: the bounds on caller-supplied words (justifications, reasons) it keeps;
//! - [`AuditLog`]: the appending side, one writer task with group commit;
//! - [`HeadSigner`], [`HeadVerifier`]: signed tree heads (the receipts agencies keep);
//! - [`verify_store`]: verification of the whole log against every signed head;
//! - [`Frontier`], [`leaf_hash`]: the RFC 6962 hashing.

pub mod caller_text;
mod error;
mod head;
mod log;
mod merkle;
mod record;
mod verify;

pub use error::Error;
pub use head::{
    HEAD_ALGORITHM, HeadSigner, HeadVerifier, head_from_stored, key_id_of, stored_from_head,
};
pub use log::{Appended, AuditLog, MAX_GROUP};
pub use merkle::{Frontier, chain_hash, leaf_hash};
pub use record::{AuditRecord, FORMAT_VERSION};
pub use verify::{VerifyReport, verify_store};
