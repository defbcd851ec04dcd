//! The per-record results of a chunk: each record's status and violations, in order, the
//! summary, and the victim pseudonyms of what was stored (for the commit's audit entry).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use vawg_domain::identity::CallerIdentity;
use vawg_proto::pb::{self, RecordStatus};
use vawg_store::{StoreError, records::Outcome};
use vawg_telemetry as telemetry;

use super::check::Checked;
use crate::{error::IngestError, validate::Violation};

/// The answer to one chunk, before its commit is audited.
pub(super) struct Tally {
    /// One result per record, in order.
    pub(super) results: Vec<pb::RecordResult>,
    /// Counts by status.
    pub(super) summary: pb::ResultSummary,
    /// The distinct victim pseudonyms of the records stored (or held already), first-seen
    /// order.
    pub(super) pseudonyms: Vec<String>,
}

impl Tally {
    /// Answers each record of `checked` (echoing its source record id and revision): the
    /// rejected with their violations, the valid with the store's outcome, taken in order
    /// from `outcomes`.
    pub(super) fn new(
        caller: &CallerIdentity,
        checked: &[Checked],
        echoes: Vec<(String, u32)>,
        outcomes: Vec<Outcome>,
    ) -> Result<Tally, IngestError> {
        let committed_at = Utc::now();
        let agency_kind = caller.agency_kind.to_pb().as_str_name();
        let mut outcomes = outcomes.into_iter();
        let mut tally = Tally {
            results: Vec::with_capacity(checked.len()),
            summary: pb::ResultSummary::default(),
            pseudonyms: Vec::new(),
        };
        let mut seen: HashSet<String> = HashSet::new();
        for (index, (c, (source_record_id, revision))) in checked.iter().zip(echoes).enumerate() {
            let mut result = pb::RecordResult {
                index: index as u32,
                source_record_id,
                revision,
                ..Default::default()
            };
            match c {
                Checked::Rejected(violations) => {
                    result.status = RecordStatus::Rejected as i32;
                    result.violations = violations.iter().map(to_pb_violation).collect();
                    tally.summary.rejected += 1;
                    telemetry::record_rejection(rejection_reason(violations));
                }
                Checked::Valid(v) => {
                    let outcome = outcomes.next().ok_or_else(|| {
                        IngestError::Store(StoreError::Corrupt(
                            "store returned fewer outcomes than records".into(),
                        ))
                    })?;
                    let (status, violations) = tally.count(outcome);
                    result.status = status as i32;
                    result.violations = violations;
                    if matches!(status, RecordStatus::Accepted | RecordStatus::Superseded) {
                        record_lag(agency_kind, committed_at, v.row.recorded_time);
                    }
                    if matches!(
                        status,
                        RecordStatus::Accepted | RecordStatus::Superseded | RecordStatus::Duplicate
                    ) {
                        result.category = v.row.category.clone();
                        result.definition_version = v.row.definition_version.clone();
                        if let Some(p) = &v.row.victim_pseudonym
                            && seen.insert(p.clone())
                        {
                            tally.pseudonyms.push(p.clone());
                        }
                    }
                }
            }
            tally.results.push(result);
        }
        Ok(tally)
    }

    /// How many records are held as sent: accepted, superseding or duplicate.
    pub(super) fn stored(&self) -> u32 {
        self.summary.accepted + self.summary.superseded + self.summary.duplicate
    }

    /// Counts the store's outcome for one record; its status and violations.
    fn count(&mut self, outcome: Outcome) -> (RecordStatus, Vec<pb::FieldViolation>) {
        let summary = &mut self.summary;
        match outcome {
            Outcome::Accepted { .. } => {
                summary.accepted += 1;
                (RecordStatus::Accepted, vec![])
            }
            Outcome::Superseded { .. } => {
                summary.superseded += 1;
                (RecordStatus::Superseded, vec![])
            }
            Outcome::Duplicate => {
                summary.duplicate += 1;
                (RecordStatus::Duplicate, vec![])
            }
            Outcome::Stale { held_revision } => {
                summary.stale += 1;
                telemetry::record_rejection("STALE_REVISION");
                (
                    RecordStatus::Stale,
                    vec![pb::FieldViolation {
                        field: "revision".into(),
                        reason: format!(
                            "revision {held_revision} is already held; send a higher revision"
                        ),
                    }],
                )
            }
            Outcome::Retracted => {
                summary.rejected += 1;
                telemetry::record_rejection("RETRACTED");
                (
                    RecordStatus::Rejected,
                    vec![pb::FieldViolation {
                        field: "source_record_id".into(),
                        reason: "the record was retracted; a retracted record is not revised"
                            .into(),
                    }],
                )
            }
        }
    }
}

/// Records the lag from a record's recorded time to its commit.
fn record_lag(agency_kind: &'static str, committed_at: DateTime<Utc>, recorded: DateTime<Utc>) {
    let lag = (committed_at - recorded).to_std().unwrap_or_default();
    telemetry::record_ingest_lag(agency_kind, lag);
}

fn to_pb_violation(v: &Violation) -> pb::FieldViolation {
    pb::FieldViolation {
        field: v.field.clone(),
        reason: v.reason.clone(),
    }
}

/// The fixed reason code of a rejected record, for the rejections counter: the hard rules by
/// name, then the first violated field's group. Never text from the record.
fn rejection_reason(violations: &[Violation]) -> &'static str {
    let has = |needle: &str| violations.iter().any(|v| v.reason.contains(needle));
    if has("hard-rule:producer-kinds") || has("may not submit") {
        return "PRODUCER_KIND";
    }
    if has("hard-rule:own-records-only") || has("caller's own agency") {
        return "NOT_OWN_RECORD";
    }
    if has("CPS referral") {
        return "CHARGE_BEFORE_REFERRAL";
    }
    let Some(first) = violations.first() else {
        return "INVALID_RECORD";
    };
    let top = first.field.split('.').next().unwrap_or("");
    match top {
        "source_record_id" => "INVALID_SOURCE_RECORD_ID",
        "revision" => "INVALID_REVISION",
        "event_time" | "recorded_time" => "INVALID_TIME",
        "reference_period" => "INVALID_REFERENCE_PERIOD",
        "counting_unit" => "INVALID_COUNTING_UNIT",
        "area" => "INVALID_AREA",
        "classification" => "UNKNOWN_CLASSIFICATION",
        "victim" | "suspect" => "INVALID_PERSON",
        "case_references" => "INVALID_CASE_REFERENCE",
        "event" => "INVALID_EVENT",
        _ => "INVALID_RECORD",
    }
}
