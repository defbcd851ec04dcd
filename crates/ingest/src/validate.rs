//! Conversion at the edge: a `pb::VawgRecord` becomes a [`ValidRecord`] — validated,
//! classified under the current definition and pseudonymised — or the complete list of what is
//! wrong with it, each problem named by its field path.
//!
//! This is `TryFrom` in spirit, but the conversion needs context the proto does not carry (the
//! caller, the definition in force, the pseudonymisation keys, the clock), so it is a method of
//! [`Validator`]. Raw identifiers are consumed here and never leave: a [`ValidRecord`] holds only
//! pseudonyms, and no violation reason ever quotes a submitted identifier.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use vawg_domain::{
    definition::{ClassifyError, Definition},
    identity::CallerIdentity,
    policy::may_produce,
    pseudonym::{IdentifierKind, Keyring, normalise_reference},
};
use vawg_proto::pb::{self, EventKind, vawg_record::Event};
use vawg_store::records::{Demographics, EventFields, NewRecord};

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

/// A contract enum with its canonical name (the value name without the enum's prefix).
trait ProtoEnum: Sized + Copy + PartialEq + TryFrom<i32> {
    const UNSPECIFIED: Self;
    fn canonical(self) -> &'static str;
}

macro_rules! proto_enum {
    ($($ty:ident => $prefix:literal),* $(,)?) => {$(
        impl ProtoEnum for pb::$ty {
            const UNSPECIFIED: Self = pb::$ty::Unspecified;
            fn canonical(self) -> &'static str {
                let name = self.as_str_name();
                name.strip_prefix($prefix).unwrap_or(name)
            }
        }
    )*};
}

proto_enum! {
    CountingUnit => "COUNTING_UNIT_",
    AreaLevel => "AREA_LEVEL_",
    Sex => "SEX_",
    EthnicGroup => "ETHNIC_GROUP_",
    Disability => "DISABILITY_",
    SexualOrientation => "SEXUAL_ORIENTATION_",
    GenderIdentity => "GENDER_IDENTITY_",
    ImmigrationStatus => "IMMIGRATION_STATUS_",
    Relationship => "RELATIONSHIP_",
    PoliceOutcomeGroup => "POLICE_OUTCOME_GROUP_",
    ReferralType => "REFERRAL_TYPE_",
    DecisionMaker => "DECISION_MAKER_",
    ChargeDecision => "CHARGE_DECISION_",
    ProsecutionResult => "PROSECUTION_RESULT_",
    CourtType => "COURT_TYPE_",
    CourtVerdict => "COURT_VERDICT_",
    TrialEffectiveness => "TRIAL_EFFECTIVENESS_",
    OrderType => "ORDER_TYPE_",
    OrderDecision => "ORDER_DECISION_",
    WithdrawalStage => "WITHDRAWAL_STAGE_",
    ReferringAgency => "REFERRING_AGENCY_",
    SupportServiceType => "SUPPORT_SERVICE_TYPE_",
    UnableToSupportReason => "UNABLE_TO_SUPPORT_REASON_",
    HealthSetting => "HEALTH_SETTING_",
    HealthReferralDestination => "HEALTH_REFERRAL_DESTINATION_",
    HomicideType => "HOMICIDE_TYPE_",
    SatisfactionStage => "SATISFACTION_STAGE_",
    SatisfactionLevel => "SATISFACTION_LEVEL_",
    EventKind => "EVENT_KIND_",
}

/// The canonical name of an event kind (`CRIME_RECORDED`, …), as stored.
pub fn event_kind_name(kind: EventKind) -> &'static str {
    kind.canonical()
}

/// The event kind of a oneof value.
pub use vawg_domain::policy::event_kind as event_kind_of;

/// The path segment of an event kind inside the oneof (`crime_recorded`, …).
fn event_field(kind: EventKind) -> String {
    kind.canonical().to_ascii_lowercase()
}

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

/// The outcome group the contract assigns to each Home Office outcome type.
fn outcome_group(outcome_type: u32) -> Option<pb::PoliceOutcomeGroup> {
    use pb::PoliceOutcomeGroup as G;
    Some(match outcome_type {
        1 => G::ChargedOrSummonsed,
        2 | 3 | 6 | 7 | 8 => G::OutOfCourt,
        15 => G::EvidentialDifficultiesVictimSupports,
        16 => G::VictimDoesNotSupport,
        18 => G::NoSuspectIdentified,
        9..=14 | 21 => G::ProsecutionPrevented,
        17 | 19 | 20 | 22 => G::Other,
        _ => return None,
    })
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

/// Collects violations while a record is read.
#[derive(Default)]
struct Problems(Vec<Violation>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Violation::new(field, reason));
    }

    /// A required enum: unknown numbers and UNSPECIFIED are refused.
    fn required<E: ProtoEnum>(&mut self, value: i32, field: impl Into<String>) -> Option<E> {
        let field = field.into();
        match E::try_from(value) {
            Ok(v) if v != E::UNSPECIFIED => Some(v),
            Ok(_) => {
                self.add(field, "required: UNSPECIFIED is not accepted");
                None
            }
            Err(_) => {
                self.add(field, format!("unknown enum value {value}"));
                None
            }
        }
    }

    /// An optional enum: UNSPECIFIED means absent; unknown numbers are refused.
    fn optional<E: ProtoEnum>(&mut self, value: i32, field: impl Into<String>) -> Option<E> {
        match E::try_from(value) {
            Ok(v) if v != E::UNSPECIFIED => Some(v),
            Ok(_) => None,
            Err(_) => {
                self.add(field, format!("unknown enum value {value}"));
                None
            }
        }
    }

    fn date(&mut self, d: Option<&pb::Date>, field: &str) -> Option<NaiveDate> {
        let Some(d) = d else {
            self.add(field, "required");
            return None;
        };
        let date = u32::try_from(d.month)
            .ok()
            .zip(u32::try_from(d.day).ok())
            .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
            .filter(|date| date.year_ce().1 as i32 >= MIN_YEAR);
        if date.is_none() {
            self.add(field, "not a valid calendar date");
        }
        date
    }

    fn time(
        &mut self,
        t: Option<&prost_types::Timestamp>,
        field: &str,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let Some(t) = t else {
            self.add(field, "required");
            return None;
        };
        let parsed = u32::try_from(t.nanos)
            .ok()
            .and_then(|n| DateTime::from_timestamp(t.seconds, n));
        match parsed {
            None => {
                self.add(field, "not a valid timestamp");
                None
            }
            Some(v) if v > now + CLOCK_SKEW => {
                self.add(field, "is in the future");
                None
            }
            Some(v) if v.date_naive().year_ce().1 as i32 >= MIN_YEAR => Some(v),
            Some(_) => {
                self.add(field, format!("is before {MIN_YEAR}"));
                None
            }
        }
    }
}

use chrono::Datelike;

impl Validator<'_> {
    /// Validates, classifies and pseudonymises one record, or returns every violation found.
    pub fn validate(&self, r: pb::VawgRecord) -> Result<ValidRecord, Vec<Violation>> {
        let mut p = Problems::default();
        let agency_id = self.caller.agency_id.as_str();

        if !plain_id(&r.source_record_id) {
            p.add(
                "source_record_id",
                "required: 1-128 letters, digits or - _ . / : (never personal data)",
            );
        }
        if r.revision == 0 {
            p.add("revision", "must be 1 or more");
        }
        if r.source_agency_id != agency_id {
            p.add(
                "source_agency_id",
                format!("must be the caller's own agency ({agency_id})"),
            );
        }

        let event_time = p.time(r.event_time.as_ref(), "event_time", self.now);
        let recorded_time = p.time(r.recorded_time.as_ref(), "recorded_time", self.now);
        if let (Some(e), Some(rec)) = (event_time, recorded_time)
            && rec < e
        {
            p.add("recorded_time", "must not be before event_time");
        }

        let (period_start, period_end) = match r.reference_period.as_ref() {
            None => {
                p.add("reference_period", "required");
                (None, None)
            }
            Some(rp) => {
                let s = p.date(rp.start.as_ref(), "reference_period.start");
                let e = p.date(rp.end.as_ref(), "reference_period.end");
                if let (Some(s), Some(e)) = (s, e)
                    && s > e
                {
                    p.add(
                        "reference_period.end",
                        "must not be before reference_period.start",
                    );
                }
                (s, e)
            }
        };

        let counting_unit = p.required::<pb::CountingUnit>(r.counting_unit, "counting_unit");

        let area = match r.area.as_ref() {
            None => {
                p.add("area", "required");
                None
            }
            Some(a) => {
                let level = p.required::<pb::AreaLevel>(a.level, "area.level");
                let code_ok =
                    match check_gss(&a.gss_code, level.unwrap_or(pb::AreaLevel::Unspecified)) {
                        Ok(()) => true,
                        Err(reason) => {
                            p.add("area.gss_code", reason);
                            false
                        }
                    };
                level.filter(|_| code_ok).map(|l| (a.gss_code.clone(), l))
            }
        };

        // The event, and whether this agency kind may produce it.
        let event_kind = match r.event.as_ref() {
            None => {
                p.add("event", "required: one event must be set");
                None
            }
            Some(ev) => {
                let kind = event_kind_of(ev);
                if !may_produce(self.caller.agency_kind, kind) {
                    p.add(
                        "event",
                        format!(
                            "agency kind {} may not submit {} records",
                            self.caller.agency_kind,
                            kind.canonical()
                        ),
                    );
                }
                Some(kind)
            }
        };
        let (fields, detail) = match r.event.as_ref() {
            Some(ev) => self.event(ev, event_time, &mut p),
            None => (EventFields::default(), json!({})),
        };

        // Classification under the current definition.
        let classification = match r.classification.as_ref() {
            None => {
                p.add("classification", "required");
                None
            }
            Some(c) => match self.definition.classify(
                &c.scheme,
                &c.code,
                Some(self.caller.agency_kind.as_str()),
            ) {
                Ok(found) => Some((
                    found.scheme.id.clone(),
                    found.mapping.code.clone(),
                    found.category.id.clone(),
                    found.category.harm_rank,
                    found.category.course_of_conduct,
                )),
                Err(e) => {
                    let field = match e {
                        ClassifyError::UnknownCode { .. } => "classification.code",
                        _ => "classification.scheme",
                    };
                    p.add(field, e.to_string());
                    None
                }
            },
        };

        // People and cases: pseudonymised here; the raw values go no further.
        let person_required = event_kind.is_some_and(|k| k != EventKind::FundingReturn);
        let (victim_pseudonym, victim) = match r.victim.as_ref() {
            None if person_required => {
                p.add("victim", "required for this event kind");
                (None, Demographics::default())
            }
            None => (None, Demographics::default()),
            Some(v) => {
                let pseudo = v
                    .identifiers
                    .as_ref()
                    .and_then(|ids| self.keyring.person(ids, agency_id));
                if pseudo.is_none() {
                    p.add(
                        "victim.identifiers",
                        "no usable identifier: give names with a date of birth, a valid NHS \
                         number, a PNC id or a local person id",
                    );
                }
                let demo = self.demographics(v.demographics.as_ref(), &mut p);
                (pseudo.map(|x| x.value), demo)
            }
        };
        let suspect_pseudonym = match r.suspect.as_ref() {
            None => None,
            Some(s) => {
                let pseudo = s
                    .identifiers
                    .as_ref()
                    .and_then(|ids| self.keyring.person(ids, agency_id));
                if pseudo.is_none() {
                    p.add(
                        "suspect.identifiers",
                        "no usable identifier (leave suspect unset when the suspect is unknown)",
                    );
                }
                pseudo.map(|x| x.value)
            }
        };
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
        for (value, field) in [
            (
                &refs.police_crime_reference,
                "case_references.police_crime_reference",
            ),
            (&refs.cps_urn, "case_references.cps_urn"),
            (&refs.court_case_number, "case_references.court_case_number"),
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
        let (source_record_id, revision) = (r.source_record_id, r.revision);

        if !p.0.is_empty() {
            return Err(p.0);
        }
        // Every Option below is Some: each None added a violation above.
        let (
            Some(event_kind),
            Some(event_time),
            Some(recorded_time),
            Some(period_start),
            Some(period_end),
            Some(counting_unit),
            Some((area_code, area_level)),
            Some((local_scheme, local_code, category, harm_rank, course_of_conduct)),
        ) = (
            event_kind,
            event_time,
            recorded_time,
            period_start,
            period_end,
            counting_unit,
            area,
            classification,
        )
        else {
            return Err(vec![Violation::new("", "record is incomplete")]);
        };
        Ok(ValidRecord {
            event_kind,
            police_ref_lookup,
            row: NewRecord {
                source_record_id,
                revision,
                event_kind: event_kind.canonical().to_owned(),
                definition_version: self.definition.version.clone(),
                local_scheme,
                local_code,
                category,
                harm_rank,
                course_of_conduct,
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
                police_ref_pseudonym: police_ref,
                cps_urn_pseudonym: cps_urn,
                court_case_pseudonym: court_case,
                victim,
                fields,
                detail,
            },
        })
    }

    fn demographics(&self, d: Option<&pb::Demographics>, p: &mut Problems) -> Demographics {
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

    /// The event's typed fields and its JSON detail (identifiers removed; sealed payloads
    /// kept as ciphertext the hub cannot read).
    fn event(
        &self,
        ev: &Event,
        event_time: Option<DateTime<Utc>>,
        p: &mut Problems,
    ) -> (EventFields, serde_json::Value) {
        let base = format!("event.{}", event_field(event_kind_of(ev)));
        let at = |f: &str| format!("{base}.{f}");
        let name = |v: Option<&'static str>| v.map(str::to_owned);
        let mut f = EventFields::default();
        let detail = match ev {
            Event::CrimeRecorded(c) => {
                let rel = p.required::<pb::Relationship>(c.relationship, at("relationship"));
                f.domestic_abuse_flag = Some(c.domestic_abuse_flag);
                json!({
                    "domestic_abuse_flag": c.domestic_abuse_flag,
                    "relationship": rel.map(ProtoEnum::canonical),
                    "online_flag": c.online_flag,
                })
            }
            Event::PoliceOutcome(o) => {
                let group = p.required::<pb::PoliceOutcomeGroup>(o.group, at("group"));
                match outcome_group(o.home_office_outcome_type) {
                    None => p.add(
                        at("home_office_outcome_type"),
                        "must be a Home Office outcome type the contract assigns to a group \
                         (1-3, 6-22)",
                    ),
                    Some(expected) if group.is_some_and(|g| g != expected) => p.add(
                        at("group"),
                        format!(
                            "outcome type {} belongs to group {}",
                            o.home_office_outcome_type,
                            expected.canonical()
                        ),
                    ),
                    Some(_) => {}
                }
                f.decision = name(group.map(ProtoEnum::canonical));
                json!({
                    "home_office_outcome_type": o.home_office_outcome_type,
                    "group": f.decision,
                })
            }
            Event::CpsReferral(c) => {
                let t = p.required::<pb::ReferralType>(c.referral_type, at("referral_type"));
                f.decision = name(t.map(ProtoEnum::canonical));
                json!({ "referral_type": f.decision })
            }
            Event::ChargingDecision(c) => {
                let who = p.required::<pb::DecisionMaker>(c.decision_maker, at("decision_maker"));
                let what = p.required::<pb::ChargeDecision>(c.decision, at("decision"));
                f.stage = name(who.map(ProtoEnum::canonical));
                f.decision = name(what.map(ProtoEnum::canonical));
                json!({ "decision_maker": f.stage, "decision": f.decision })
            }
            Event::ProsecutionOutcome(o) => {
                let r = p.required::<pb::ProsecutionResult>(o.result, at("result"));
                f.decision = name(r.map(ProtoEnum::canonical));
                json!({ "result": f.decision })
            }
            Event::CourtOutcome(c) => {
                let court = p.required::<pb::CourtType>(c.court_type, at("court_type"));
                let verdict = p.required::<pb::CourtVerdict>(c.verdict, at("verdict"));
                let trial = p.optional::<pb::TrialEffectiveness>(
                    c.trial_effectiveness,
                    at("trial_effectiveness"),
                );
                f.setting = name(court.map(ProtoEnum::canonical));
                f.decision = name(verdict.map(ProtoEnum::canonical));
                f.stage = name(trial.map(ProtoEnum::canonical));
                json!({
                    "court_type": f.setting,
                    "verdict": f.decision,
                    "trial_effectiveness": f.stage,
                })
            }
            Event::ProtectiveOrder(o) => {
                let t = p.required::<pb::OrderType>(o.order_type, at("order_type"));
                let d = p.required::<pb::OrderDecision>(o.decision, at("decision"));
                let expires = o.expires_on.as_ref().and_then(|d| {
                    let v = p.date(Some(d), &at("expires_on"));
                    if let (Some(v), Some(e)) = (v, event_time)
                        && v < e.date_naive()
                    {
                        p.add(at("expires_on"), "must not be before event_time");
                    }
                    v
                });
                f.order_type = name(t.map(ProtoEnum::canonical));
                f.decision = name(d.map(ProtoEnum::canonical));
                json!({
                    "order_type": f.order_type,
                    "decision": f.decision,
                    "expires_on": expires.map(|d| d.to_string()),
                })
            }
            Event::VictimWithdrawal(w) => {
                let s = p.required::<pb::WithdrawalStage>(w.stage, at("stage"));
                f.stage = name(s.map(ProtoEnum::canonical));
                json!({ "stage": f.stage, "case_ended": w.case_ended })
            }
            Event::MaracReferral(m) => {
                let a =
                    p.required::<pb::ReferringAgency>(m.referring_agency, at("referring_agency"));
                f.referring_agency = name(a.map(ProtoEnum::canonical));
                if m.children_in_household > 30 {
                    p.add(at("children_in_household"), "must be 0-30");
                }
                json!({
                    "referring_agency": f.referring_agency,
                    "repeat_referral": m.repeat_referral,
                    "children_in_household": m.children_in_household,
                })
            }
            Event::SupportReferral(s) => {
                if !plain_id(&s.to_agency_id) {
                    p.add(
                        at("to_agency_id"),
                        "required: the registry id of the receiving service",
                    );
                }
                let t = p.required::<pb::SupportServiceType>(s.service_type, at("service_type"));
                f.to_agency_id = Some(s.to_agency_id.clone());
                f.service_type = name(t.map(ProtoEnum::canonical));
                json!({ "to_agency_id": s.to_agency_id, "service_type": f.service_type })
            }
            Event::SupportProvided(s) => {
                let t = p.required::<pb::SupportServiceType>(s.service_type, at("service_type"));
                f.service_type = name(t.map(ProtoEnum::canonical));
                json!({ "service_type": f.service_type, "contacts": s.contacts })
            }
            Event::UnableToSupport(u) => {
                let t = p.required::<pb::SupportServiceType>(u.service_type, at("service_type"));
                let r = p.required::<pb::UnableToSupportReason>(u.reason, at("reason"));
                f.service_type = name(t.map(ProtoEnum::canonical));
                f.reason = name(r.map(ProtoEnum::canonical));
                json!({ "service_type": f.service_type, "reason": f.reason })
            }
            Event::HealthDisclosure(h) => {
                let s = p.required::<pb::HealthSetting>(h.setting, at("setting"));
                f.setting = name(s.map(ProtoEnum::canonical));
                json!({ "setting": f.setting })
            }
            Event::HealthReferral(h) => {
                let s = p.required::<pb::HealthSetting>(h.setting, at("setting"));
                let d =
                    p.required::<pb::HealthReferralDestination>(h.destination, at("destination"));
                f.setting = name(s.map(ProtoEnum::canonical));
                f.referring_agency = name(d.map(ProtoEnum::canonical));
                json!({ "setting": f.setting, "destination": f.referring_agency })
            }
            Event::EncompassNotification(n) => {
                let urn_ok = (6..=7).contains(&n.school_urn.len())
                    && n.school_urn.bytes().all(|b| b.is_ascii_digit());
                if !urn_ok {
                    p.add(
                        at("school_urn"),
                        "required: the school's URN (6 or 7 digits)",
                    );
                }
                if n.police_contact.len() > 200 {
                    p.add(at("police_contact"), "longer than 200 characters");
                }
                f.to_agency_id = Some(format!("school-{}", n.school_urn));
                let sealed = n.sealed_pupil_details.as_ref().map(|s| {
                    json!({
                        "recipient_agency_id": s.recipient_agency_id,
                        "key_id": s.key_id,
                        "suite": s.suite,
                        "encapsulated_key": hex::encode(&s.encapsulated_key),
                        "ciphertext": hex::encode(&s.ciphertext),
                    })
                });
                json!({
                    "school_urn": n.school_urn,
                    "police_contact": n.police_contact,
                    "sealed_pupil_details": sealed,
                })
            }
            Event::DomesticHomicide(h) => {
                let t = p.required::<pb::HomicideType>(h.homicide_type, at("homicide_type"));
                f.reason = name(t.map(ProtoEnum::canonical));
                json!({ "homicide_type": f.reason })
            }
            Event::VictimSatisfaction(s) => {
                let st = p.required::<pb::SatisfactionStage>(s.stage, at("stage"));
                let lv = p.required::<pb::SatisfactionLevel>(s.level, at("level"));
                f.stage = name(st.map(ProtoEnum::canonical));
                f.decision = name(lv.map(ProtoEnum::canonical));
                json!({ "stage": f.stage, "level": f.decision })
            }
            Event::FundingReturn(r) => {
                if !plain_id(&r.funded_agency_id) {
                    p.add(
                        at("funded_agency_id"),
                        "required: the registry id of the funded service",
                    );
                }
                let t = p.required::<pb::SupportServiceType>(r.service_type, at("service_type"));
                f.to_agency_id = Some(r.funded_agency_id.clone());
                f.service_type = name(t.map(ProtoEnum::canonical));
                json!({
                    "funded_agency_id": r.funded_agency_id,
                    "service_type": f.service_type,
                    "amount_pence": r.amount_pence,
                })
            }
        };
        (f, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gss_codes_must_match_their_level() {
        use pb::AreaLevel as L;
        assert!(check_gss("E23000001", L::PoliceForceArea).is_ok());
        assert!(check_gss("W15000003", L::PoliceForceArea).is_ok());
        assert!(check_gss("E08000025", L::LocalAuthority).is_ok());
        assert!(check_gss("E54000018", L::IntegratedCareBoard).is_ok());
        assert!(check_gss("K04000001", L::EnglandAndWales).is_ok());
        assert!(check_gss("E09000001", L::PoliceForceArea).is_err());
        assert!(check_gss("K04000002", L::EnglandAndWales).is_err());
        assert!(check_gss("E2300001", L::PoliceForceArea).is_err());
        assert!(check_gss("e23000001", L::PoliceForceArea).is_err());
    }

    #[test]
    fn outcome_types_belong_to_the_contract_groups() {
        use pb::PoliceOutcomeGroup as G;
        assert_eq!(outcome_group(1), Some(G::ChargedOrSummonsed));
        assert_eq!(outcome_group(16), Some(G::VictimDoesNotSupport));
        assert_eq!(outcome_group(21), Some(G::ProsecutionPrevented));
        assert_eq!(outcome_group(4), None);
        assert_eq!(outcome_group(23), None);
    }
}
