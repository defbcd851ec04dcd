//! The people and cases a record names, pseudonymised: the raw identifiers are read here and go
//! no further.

use vawg_domain::pseudonym::{IdentifierKind, normalise_reference};
use vawg_proto::pb::{self, EventKind};
use vawg_store::records::Demographics;

use super::{MAX_ID_LEN, Validator, enums::ProtoEnum, needs_crime_reference, problems::Problems};

/// A record's case references, pseudonymised.
#[derive(Default)]
pub(super) struct CaseReferences {
    /// The police crime reference's pseudonym under the primary key.
    pub(super) police_ref: Option<String>,
    /// The police crime reference's pseudonyms under every key, primary first.
    pub(super) police_ref_lookup: Vec<String>,
    /// The CPS URN's pseudonym.
    pub(super) cps_urn: Option<String>,
    /// The court case number's pseudonym.
    pub(super) court_case: Option<String>,
    /// The incident reference's pseudonym, namespaced by the submitting agency
    /// (`<agency id>:<pseudonym>`): for counting only, kept in a crime's detail.
    pub(super) incident: Option<String>,
}

impl Validator<'_> {
    /// The victim's pseudonym and demographics; required for every kind but a funding return.
    pub(super) fn victim(
        &self,
        r: &pb::VawgRecord,
        event_kind: Option<EventKind>,
        p: &mut Problems,
    ) -> (Option<String>, Demographics) {
        let person_required = event_kind.is_some_and(|k| k != EventKind::FundingReturn);
        let Some(v) = r.victim.as_ref() else {
            if person_required {
                p.add("victim", "required for this event kind");
            }
            return (None, Demographics::default());
        };
        let pseudo = v
            .identifiers
            .as_ref()
            .and_then(|ids| self.keyring.person(ids, &self.caller.agency_id));
        if pseudo.is_none() {
            p.add(
                "victim.identifiers",
                "no usable identifier: give names with a date of birth, a valid NHS \
                 number, a PNC id or a local person id",
            );
        }
        let demo = demographics(v.demographics.as_ref(), p);
        (pseudo.map(|x| x.value), demo)
    }

    /// The suspect's pseudonym, if a suspect is named.
    pub(super) fn suspect(&self, r: &pb::VawgRecord, p: &mut Problems) -> Option<String> {
        let s = r.suspect.as_ref()?;
        let pseudo = s
            .identifiers
            .as_ref()
            .and_then(|ids| self.keyring.person(ids, &self.caller.agency_id));
        if pseudo.is_none() {
            p.add(
                "suspect.identifiers",
                "no usable identifier (leave suspect unset when the suspect is unknown)",
            );
        }
        pseudo.map(|x| x.value)
    }

    /// The case references, pseudonymised; kinds that follow a crime must carry its police
    /// crime reference.
    pub(super) fn case_references(
        &self,
        r: &pb::VawgRecord,
        event_kind: Option<EventKind>,
        p: &mut Problems,
    ) -> CaseReferences {
        let refs = r.case_references.clone().unwrap_or_default();
        let case =
            |kind: IdentifierKind, value: &str| self.keyring.case(kind, value).map(|x| x.value);
        let police_ref = case(
            IdentifierKind::PoliceCrimeReference,
            &refs.police_crime_reference,
        );
        let police_ref_lookup: Vec<String> = match &police_ref {
            None => Vec::new(),
            Some(_) => self
                .keyring
                .pseudonymise_all(
                    IdentifierKind::PoliceCrimeReference,
                    &normalise_reference(&refs.police_crime_reference),
                )
                .into_iter()
                .map(|x| x.value)
                .collect(),
        };
        let cps_urn = case(IdentifierKind::CpsUrn, &refs.cps_urn);
        let court_case = case(IdentifierKind::CourtCaseNumber, &refs.court_case_number);
        let incident = case(IdentifierKind::IncidentReference, &refs.incident_reference)
            .map(|pseudonym| format!("{}:{pseudonym}", self.caller.agency_id));
        for (value, field) in [
            (
                &refs.police_crime_reference,
                "case_references.police_crime_reference",
            ),
            (&refs.cps_urn, "case_references.cps_urn"),
            (&refs.court_case_number, "case_references.court_case_number"),
            (
                &refs.incident_reference,
                "case_references.incident_reference",
            ),
        ] {
            if value.len() > MAX_ID_LEN {
                p.add(field, "longer than 128 characters");
            }
        }
        if let Some(kind) = event_kind
            && needs_crime_reference(kind)
            && police_ref.is_none()
        {
            p.add(
                "case_references.police_crime_reference",
                format!(
                    "required: {} records carry the crime reference of the crime they follow",
                    kind.canonical()
                ),
            );
        }
        CaseReferences {
            police_ref,
            police_ref_lookup,
            cps_urn,
            court_case,
            incident,
        }
    }
}

/// The suspect's sex, age band and ethnic group, where given, for a crime's breakdowns by
/// suspect (docs/counting.md section 4): kept in the crime's detail as canonical names and an age
/// band, never the age itself.
pub(super) fn suspect_profile(r: &pb::VawgRecord, p: &mut Problems) -> Option<serde_json::Value> {
    let d = r.suspect.as_ref()?.demographics.as_ref()?;
    let path = |f: &str| format!("suspect.demographics.{f}");
    if d.age_at_event.is_some_and(|a| a > 120) {
        p.add(path("age_at_event"), "must be 0-120");
    }
    let name = |v: Option<&'static str>| v.unwrap_or("NOT_KNOWN");
    Some(serde_json::json!({
        "sex": name(p.optional::<pb::Sex>(d.sex, path("sex")).map(ProtoEnum::canonical)),
        "age_band": vawg_domain::aggregate::age_band(d.age_at_event.filter(|a| *a <= 120)),
        "ethnic_group": name(
            p.optional::<pb::EthnicGroup>(d.ethnic_group, path("ethnic_group"))
                .map(ProtoEnum::canonical)
        ),
    }))
}

/// The victim's demographics: sex is required, the rest optional.
fn demographics(d: Option<&pb::Demographics>, p: &mut Problems) -> Demographics {
    let Some(d) = d else {
        p.add("victim.demographics", "required (at least sex)");
        return Demographics::default();
    };
    let path = |f: &str| format!("victim.demographics.{f}");
    let age = d.age_at_event;
    if age.is_some_and(|a| a > 120) {
        p.add(path("age_at_event"), "must be 0-120");
    }
    Demographics {
        sex: p
            .required::<pb::Sex>(d.sex, path("sex"))
            .map(|v| v.canonical().to_owned()),
        age_at_event: age.filter(|a| *a <= 120),
        ethnic_group: p
            .optional::<pb::EthnicGroup>(d.ethnic_group, path("ethnic_group"))
            .map(|v| v.canonical().to_owned()),
        disability: p
            .optional::<pb::Disability>(d.disability, path("disability"))
            .map(|v| v.canonical().to_owned()),
        sexual_orientation: p
            .optional::<pb::SexualOrientation>(d.sexual_orientation, path("sexual_orientation"))
            .map(|v| v.canonical().to_owned()),
        gender_identity: p
            .optional::<pb::GenderIdentity>(d.gender_identity, path("gender_identity"))
            .map(|v| v.canonical().to_owned()),
        immigration_status: p
            .optional::<pb::ImmigrationStatus>(d.immigration_status, path("immigration_status"))
            .map(|v| v.canonical().to_owned()),
    }
}
