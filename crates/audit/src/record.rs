//! One audit entry: what a decision or refusal leaves in the log, exactly as hashed.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use vawg_domain::identity::{AgencyKind, CallerIdentity};
use vawg_policy::{Decision, Flow};
use vawg_proto::pb;

/// The entry format written now. 1: the original fields, no `version` key in the JSON (entries
/// written before versioning read as 1 and hash exactly as they were written). 2: adds
/// `version` and `justification`. A later format adds fields and raises the number; readers
/// ignore fields they do not know, so every version still parses and verifies (the leaf hash
/// covers the stored bytes, `version` among them).
pub const FORMAT_VERSION: u32 = 2;

fn format_v1() -> u32 {
    1
}

/// One audit entry, exactly as hashed (canonical JSON in this field order). Ids and
/// pseudonyms only, never personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Entry format ([`FORMAT_VERSION`] when written now; 1 when absent). It is part of the
    /// hashed JSON, so the leaf hash depends on it and cannot be downgraded unnoticed.
    #[serde(default = "format_v1")]
    pub version: u32,
    /// Position in the log, from 0 (set on append).
    pub index: u64,
    /// When (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// The calling agency (what the verified certificate named; empty when unknown).
    pub agency_id: String,
    /// Its kind (empty when not identified).
    pub agency_kind: String,
    /// The gRPC method ("" for refusals during the TLS handshake).
    pub rpc: String,
    /// The action (contract name).
    pub action: String,
    /// The purpose (contract name).
    pub purpose: String,
    /// The lawful basis (contract name).
    pub lawful_basis: String,
    /// Whether the flow was allowed.
    pub allowed: bool,
    /// The gRPC status the caller got when refused (e.g. `PERMISSION_DENIED`), else empty.
    pub status: String,
    /// The deciding policies or rules.
    pub policy_ids: Vec<String>,
    /// Version of the policy set.
    pub policy_set_version: String,
    /// Why, in words.
    pub reason: String,
    /// Pseudonyms of the records or subjects involved.
    pub subject_pseudonyms: Vec<String>,
    /// Whether a hard rule decided.
    pub hard_rule: bool,
    /// Whether the policies allowed what a hard rule refused.
    pub override_attempt: bool,
    /// Whether this only decided if the RPC may be called (the auth layer).
    pub gate: bool,
    /// The caller's own words (version 2 on): `RequestRecords`' justification,
    /// `RetractRecord`'s reason; bounded and checked by [`crate::caller_text`]. Empty when the
    /// call carries none.
    #[serde(default)]
    pub justification: String,
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status_name(code: tonic::Code) -> String {
    // tonic's description is prose; the contract names are what operators grep for.
    match code {
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::Ok => "",
        _ => "REFUSED",
    }
    .to_string()
}

impl AuditRecord {
    /// A firewall decision about an identified caller.
    pub fn decision(
        caller: &CallerIdentity,
        flow: &Flow,
        decision: &Decision,
        subject_pseudonyms: &[String],
    ) -> AuditRecord {
        AuditRecord {
            version: FORMAT_VERSION,
            index: 0,
            time: now_text(),
            agency_id: caller.agency_id.clone(),
            agency_kind: caller.agency_kind.as_str().to_string(),
            rpc: flow.rpc.clone(),
            action: flow.action.as_str_name().to_string(),
            purpose: flow.purpose.as_str_name().to_string(),
            lawful_basis: flow.lawful_basis.as_str_name().to_string(),
            allowed: decision.allowed,
            status: if decision.allowed {
                String::new()
            } else {
                status_name(tonic::Code::PermissionDenied)
            },
            policy_ids: decision.policy_ids.clone(),
            policy_set_version: decision.policy_set_version.clone(),
            reason: decision.reason.clone(),
            subject_pseudonyms: subject_pseudonyms.to_vec(),
            hard_rule: decision.hard_rule,
            override_attempt: decision.override_attempt,
            gate: flow.gate,
            justification: String::new(),
        }
    }

    /// The entry with the caller's `justification` (or reason), cut to the bounds of
    /// [`crate::caller_text`] (services check it with [`crate::caller_text::check`] first and
    /// refuse what fails; this only guarantees the bound whatever the caller of this did).
    pub fn with_justification(mut self, justification: &str) -> AuditRecord {
        self.justification = crate::caller_text::clamp(justification);
        self
    }

    /// A refusal before the caller was identified.
    pub fn refusal(
        agency_id: &str,
        rpc: &str,
        status: tonic::Code,
        reason: &str,
        policy_set_version: &str,
    ) -> AuditRecord {
        AuditRecord {
            version: FORMAT_VERSION,
            index: 0,
            time: now_text(),
            agency_id: agency_id.to_string(),
            agency_kind: String::new(),
            rpc: rpc.to_string(),
            action: pb::Action::Unspecified.as_str_name().to_string(),
            purpose: pb::Purpose::Unspecified.as_str_name().to_string(),
            lawful_basis: pb::LawfulBasis::Unspecified.as_str_name().to_string(),
            allowed: false,
            status: status_name(status),
            policy_ids: vec!["identity".into()],
            policy_set_version: policy_set_version.to_string(),
            reason: reason.to_string(),
            subject_pseudonyms: Vec::new(),
            hard_rule: false,
            override_attempt: false,
            gate: true,
            justification: String::new(),
        }
    }

    /// The contract message.
    pub fn to_pb(&self, leaf_hash: &[u8]) -> pb::AuditEntry {
        let time = DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
            });
        let kind = self
            .agency_kind
            .parse::<AgencyKind>()
            .map(|k| k.to_pb())
            .unwrap_or(pb::AgencyKind::Unspecified);
        let mut reason = self.reason.clone();
        if !self.status.is_empty() {
            reason = format!("[{}] {reason}", self.status);
        }
        pb::AuditEntry {
            index: self.index,
            time,
            caller_agency_id: self.agency_id.clone(),
            caller_agency_kind: kind as i32,
            rpc: self.rpc.clone(),
            action: pb::Action::from_str_name(&self.action).unwrap_or_default() as i32,
            purpose: pb::Purpose::from_str_name(&self.purpose).unwrap_or_default() as i32,
            lawful_basis: pb::LawfulBasis::from_str_name(&self.lawful_basis).unwrap_or_default()
                as i32,
            allowed: self.allowed,
            policy_ids: self.policy_ids.clone(),
            policy_set_version: self.policy_set_version.clone(),
            reason,
            subject_pseudonyms: self.subject_pseudonyms.clone(),
            leaf_hash: leaf_hash.to_vec(),
            hard_rule: self.hard_rule,
            format_version: self.version,
            justification: self.justification.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf_hash;

    /// An entry as written before versioning (no `version`, no `justification`).
    const V1: &str = r#"{"index":0,"time":"2026-01-01T00:00:00.000Z","agency_id":"a","agency_kind":"POLICE","rpc":"/x","action":"ACTION_SUBMIT","purpose":"PURPOSE_RECORD_SUBMISSION","lawful_basis":"LAWFUL_BASIS_UNSPECIFIED","allowed":true,"status":"","policy_ids":["p"],"policy_set_version":"v","reason":"r","subject_pseudonyms":[],"hard_rule":false,"override_attempt":false,"gate":false}"#;

    #[test]
    fn entries_written_before_versioning_read_as_version_1() {
        let r: AuditRecord = serde_json::from_str(V1).unwrap();
        assert_eq!(r.version, 1);
        assert!(r.justification.is_empty());
        assert_eq!(r.to_pb(&leaf_hash(V1.as_bytes())).format_version, 1);
    }

    #[test]
    fn new_entries_carry_their_version_in_the_hashed_bytes() {
        let mut r: AuditRecord = serde_json::from_str(V1).unwrap();
        r.version = FORMAT_VERSION;
        let r = r.with_justification("strategy\ndiscussion");
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.starts_with(r#"{"version":2,"#), "{text}");
        assert!(
            text.ends_with(r#""justification":"strategy discussion"}"#),
            "{text}"
        );
        assert_ne!(leaf_hash(text.as_bytes()), leaf_hash(V1.as_bytes()));
        // A later format's fields are ignored by this reader, and the entry still parses.
        let later = text.replace(r#""version":2,"#, r#""version":3,"new_field":[1],"#);
        assert_eq!(
            serde_json::from_str::<AuditRecord>(&later).unwrap().version,
            3
        );
    }
}
