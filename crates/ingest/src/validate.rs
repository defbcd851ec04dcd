//! Conversion at the edge: a `pb::VawgRecord` becomes a [`ValidRecord`] — validated,
//! classified under the current definition and pseudonymised — or the complete list of what is
//! wrong with it, each problem named by its field path.
//!
//! This is `TryFrom` in spirit, but the conversion needs context the proto does not carry (the
//! caller, the definition in force, the pseudonymisation keys, the clock), so it is a method of
//! [`Validator`]. Raw identifiers are consumed here and never leave: a [`ValidRecord`] holds only
//! pseudonyms, and no violation reason ever quotes a submitted identifier.
//!
//! The record is read in steps, each adding the violations it finds in field order: the
//! record's own fields and classification (`record`), the event by kind (`event`), then
//! the people and case references, pseudonymised (`people`).

mod enums;
mod event;
mod people;
mod problems;
mod record;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use vawg_domain::{definition::Definition, identity::CallerIdentity, pseudonym::Keyring};
use vawg_proto::{
    error::FieldViolation,
    pb::{self, EventKind},
};
use vawg_store::records::{Demographics, EventFields, NewRecord};

use self::{enums::ProtoEnum, people::CaseReferences, problems::Problems, record::Classified};

/// How far in the future a timestamp may be (clock skew between agency systems and the hub).
const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Longest accepted source record id, agency id or reference.
const MAX_ID_LEN: usize = 128;
/// Oldest accepted event year (historic offences are reported decades later).
const MIN_YEAR: i32 = 1900;

/// One problem with one field. The reason never contains personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Field path relative to the record, e.g. `event.charging_decision.decision`.
    pub field: String,
    /// Why, in plain words.
    pub reason: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<&Violation> for FieldViolation {
    fn from(v: &Violation) -> Self {
        FieldViolation {
            field: v.field.clone(),
            reason: v.reason.clone(),
        }
    }
}

/// A record that passed validation: classified, pseudonymised, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidRecord {
    /// The event kind.
    pub event_kind: EventKind,
    /// The row to store (pseudonyms only).
    pub row: NewRecord,
    /// Pseudonyms of the police crime reference under every key in the ring, primary first,
    /// for finding records of the same case stored before a key rotation.
    pub police_ref_lookup: Vec<String>,
}

/// Validates records for one caller against one definition version.
pub struct Validator<'a> {
    /// Who is submitting.
    pub caller: &'a CallerIdentity,
    /// The definition version records are classified under (the current one).
    pub definition: &'a Definition,
    /// The pseudonymisation keys.
    pub keyring: &'a Keyring,
    /// The time "now" for the not-in-the-future rule.
    pub now: DateTime<Utc>,
}

/// The canonical name of an event kind (`CRIME_RECORDED`, …), as stored.
pub fn event_kind_name(kind: EventKind) -> &'static str {
    kind.canonical()
}

/// The event kind of a oneof value.
pub use vawg_domain::policy::event_kind as event_kind_of;

/// Whether records of this kind follow a crime and must carry its police crime reference.
pub fn needs_crime_reference(kind: EventKind) -> bool {
    use EventKind as E;
    matches!(
        kind,
        E::CrimeRecorded
            | E::PoliceOutcome
            | E::CpsReferral
            | E::ChargingDecision
            | E::ProsecutionOutcome
            | E::CourtOutcome
            | E::ProtectiveOrder
            | E::VictimWithdrawal
    )
}

/// Checks an ONS GSS code's form and that its prefix belongs to `level`.
pub fn check_gss(code: &str, level: pb::AreaLevel) -> Result<(), String> {
    let b = code.as_bytes();
    if b.len() != 9 || !b[0].is_ascii_uppercase() || !b[1..].iter().all(u8::is_ascii_digit) {
        return Err("must be a GSS code: a capital letter and eight digits, e.g. E23000001".into());
    }
    let prefix = &code[..3];
    let ok = match level {
        pb::AreaLevel::PoliceForceArea => matches!(prefix, "E23" | "W15"),
        pb::AreaLevel::LocalAuthority => matches!(prefix, "E06" | "E07" | "E08" | "E09" | "W06"),
        pb::AreaLevel::IntegratedCareBoard => prefix == "E54",
        pb::AreaLevel::EnglandAndWales => code == "K04000001",
        pb::AreaLevel::Unspecified => return Ok(()),
    };
    if ok {
        Ok(())
    } else {
        let expected = match level {
            pb::AreaLevel::PoliceForceArea => "E23 or W15",
            pb::AreaLevel::LocalAuthority => "E06, E07, E08, E09 or W06",
            pb::AreaLevel::IntegratedCareBoard => "E54",
            _ => "K04000001",
        };
        Err(format!(
            "GSS prefix {prefix} does not belong to level {}; expected {expected}",
            level.canonical()
        ))
    }
}

/// Whether `s` is a plain identifier (letters, digits, `-`, `_`, `.`, `/`, `:`), 1–128 long.
fn plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':'))
}

/// Everything read from a record, before the check that nothing required is missing. Each
/// `None` added a violation when it was read.
struct Parts {
    event_kind: Option<EventKind>,
    event_time: Option<DateTime<Utc>>,
    recorded_time: Option<DateTime<Utc>>,
    period: (Option<NaiveDate>, Option<NaiveDate>),
    counting_unit: Option<pb::CountingUnit>,
    area: Option<(String, pb::AreaLevel)>,
    classification: Option<Classified>,
    fields: EventFields,
    detail: serde_json::Value,
    victim_pseudonym: Option<String>,
    victim: Demographics,
    suspect_pseudonym: Option<String>,
    cases: CaseReferences,
}

impl Validator<'_> {
    /// Validates, classifies and pseudonymises one record, or returns every violation found.
    pub fn validate(&self, r: pb::VawgRecord) -> Result<ValidRecord, Vec<Violation>> {
        let mut p = Problems::default();
        // The steps run in field order, so the violations are listed in that order.
        self.identity(&r, &mut p);
        let (event_time, recorded_time) = self.times(&r, &mut p);
        let period = record::reference_period(&r, &mut p);
        let counting_unit = p.required::<pb::CountingUnit>(r.counting_unit, "counting_unit");
        let area = record::area(&r, &mut p);
        let event_kind = self.event_kind(&r, &mut p);
        let (fields, detail) = match r.event.as_ref() {
            Some(ev) => event::read(ev, event_time, &mut p),
            None => (EventFields::default(), json!({})),
        };
        let classification = self.classification(&r, &mut p);
        // People and cases: pseudonymised here; the raw values go no further.
        let (victim_pseudonym, victim) = self.victim(&r, event_kind, &mut p);
        let suspect_pseudonym = self.suspect(&r, &mut p);
        let cases = self.case_references(&r, event_kind, &mut p);
        let suspect_profile = people::suspect_profile(&r, &mut p);
        if !p.0.is_empty() {
            return Err(p.0);
        }
        // A crime's incident is kept in its detail, for counting only (docs/counting.md 2.1),
        // and so is the context class of a context code (2.9-2.10).
        let mut detail = detail;
        if event_kind == Some(EventKind::CrimeRecorded)
            && let Some(incident) = &cases.incident
        {
            detail["incident_pseudonym"] = json!(incident);
        }
        if let Some(context) = classification.as_ref().and_then(|c| c.context.as_ref()) {
            detail["context"] = json!(context);
        }
        if event_kind == Some(EventKind::CrimeRecorded)
            && let Some(profile) = suspect_profile
        {
            detail["suspect"] = profile;
        }
        // The police-personnel label is kept with the record (only when set, so unlabelled
        // records' detail is as before): the exchange withholds labelled records from police
        // agencies except for professional standards.
        if r.suspect_is_police_personnel {
            detail[vawg_domain::policy::POLICE_PERSONNEL_KEY] = json!(true);
        }
        let parts = Parts {
            event_kind,
            event_time,
            recorded_time,
            period,
            counting_unit,
            area,
            classification,
            fields,
            detail,
            victim_pseudonym,
            victim,
            suspect_pseudonym,
            cases,
        };
        self.assemble(r.source_record_id, r.revision, parts)
            .ok_or_else(|| vec![Violation::new("", "record is incomplete")])
    }

    /// The valid record from its parts; `None` if a required part is missing (which a
    /// violation has reported already).
    fn assemble(
        &self,
        source_record_id: String,
        revision: u32,
        parts: Parts,
    ) -> Option<ValidRecord> {
        let Parts {
            event_kind: Some(event_kind),
            event_time: Some(event_time),
            recorded_time: Some(recorded_time),
            period: (Some(period_start), Some(period_end)),
            counting_unit: Some(counting_unit),
            area: Some((area_code, area_level)),
            classification: Some(classified),
            fields,
            detail,
            victim_pseudonym,
            victim,
            suspect_pseudonym,
            cases,
        } = parts
        else {
            return None;
        };
        Some(ValidRecord {
            event_kind,
            police_ref_lookup: cases.police_ref_lookup,
            row: NewRecord {
                source_record_id,
                revision,
                event_kind: event_kind.canonical().to_owned(),
                definition_version: self.definition.version.clone(),
                local_scheme: classified.scheme,
                local_code: classified.code,
                category: classified.category,
                harm_rank: classified.harm_rank,
                course_of_conduct: classified.course_of_conduct,
                event_time,
                recorded_time,
                period_start,
                period_end,
                counting_unit: counting_unit.canonical().to_owned(),
                area_code,
                area_level: area_level.canonical().to_owned(),
                pseudonym_key_id: self.keyring.primary_key_id().to_owned(),
                victim_pseudonym,
                suspect_pseudonym,
                police_ref_pseudonym: cases.police_ref,
                cps_urn_pseudonym: cases.cps_urn,
                court_case_pseudonym: cases.court_case,
                victim,
                fields,
                detail,
            },
        })
    }
}
