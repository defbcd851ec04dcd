//! The event, by kind: its typed fields and its JSON detail (identifiers removed; sealed
//! payloads kept as ciphertext the hub cannot read). One reader per kind of the oneof.

pub(super) mod outcome;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use vawg_proto::pb::{self, EventKind, vawg_record::Event};
use vawg_store::records::EventFields;

use super::{enums::ProtoEnum, event_kind_of, plain_id, problems::Problems};

/// Reads one event into its typed fields and its JSON detail, adding a violation, named by its
/// path under `event.<kind>`, for each problem.
pub(super) fn read(
    ev: &Event,
    event_time: Option<DateTime<Utc>>,
    p: &mut Problems,
) -> (EventFields, Value) {
    let mut r = Reader {
        base: format!("event.{}", event_field(event_kind_of(ev))),
        p,
        f: EventFields::default(),
    };
    let detail = match ev {
        Event::CrimeRecorded(c) => r.crime_recorded(c),
        Event::PoliceOutcome(o) => r.police_outcome(o),
        Event::CpsReferral(c) => r.cps_referral(c),
        Event::ChargingDecision(c) => r.charging_decision(c),
        Event::ProsecutionOutcome(o) => r.prosecution_outcome(o),
        Event::CourtOutcome(c) => r.court_outcome(c),
        Event::ProtectiveOrder(o) => r.protective_order(o, event_time),
        Event::VictimWithdrawal(w) => r.victim_withdrawal(w),
        Event::MaracReferral(m) => r.marac_referral(m),
        Event::SupportReferral(s) => r.support_referral(s),
        Event::SupportProvided(s) => r.support_provided(s),
        Event::UnableToSupport(u) => r.unable_to_support(u),
        Event::HealthDisclosure(h) => r.health_disclosure(h),
        Event::HealthReferral(h) => r.health_referral(h),
        Event::EncompassNotification(n) => r.encompass_notification(n),
        Event::DomesticHomicide(h) => r.domestic_homicide(h),
        Event::VictimSatisfaction(s) => r.victim_satisfaction(s),
        Event::FundingReturn(f) => r.funding_return(f),
    };
    (r.f, detail)
}

/// The path segment of an event kind inside the oneof (`crime_recorded`, …).
fn event_field(kind: EventKind) -> String {
    kind.canonical().to_ascii_lowercase()
}

/// Why `sent` is refused with outcome type `t`: the group expected, and the other ways to pass.
fn wrong_group(t: u32, expected: pb::PoliceOutcomeGroup, sent: pb::PoliceOutcomeGroup) -> String {
    let v1 = outcome::v1_group(t)
        .filter(|g| *g != expected)
        .map(|g| format!(" (or {}, as v1 clients paired it)", g.canonical()))
        .unwrap_or_default();
    format!(
        "outcome type {t} belongs to Home Office group {}: send that{v1}, or leave the group \
         UNSPECIFIED for the hub to derive it; got {}",
        expected.canonical(),
        sent.canonical()
    )
}

/// A value's canonical name, as stored.
fn name<E: ProtoEnum>(v: Option<E>) -> Option<String> {
    v.map(|v| v.canonical().to_owned())
}

/// Reads one event's fields: the typed columns it fills, and the violations it finds.
struct Reader<'p> {
    /// `event.<kind>`, the path every field is named under.
    base: String,
    p: &'p mut Problems,
    f: EventFields,
}

impl Reader<'_> {
    /// The path of a field of the event.
    fn at(&self, field: &str) -> String {
        format!("{}.{field}", self.base)
    }

    fn add(&mut self, field: &str, reason: impl Into<String>) {
        let at = self.at(field);
        self.p.add(at, reason);
    }

    fn required<E: ProtoEnum>(&mut self, value: i32, field: &str) -> Option<E> {
        let at = self.at(field);
        self.p.required(value, at)
    }

    fn optional<E: ProtoEnum>(&mut self, value: i32, field: &str) -> Option<E> {
        let at = self.at(field);
        self.p.optional(value, at)
    }

    fn crime_recorded(&mut self, c: &pb::CrimeRecorded) -> Value {
        let rel = self.required::<pb::Relationship>(c.relationship, "relationship");
        self.f.domestic_abuse_flag = Some(c.domestic_abuse_flag);
        json!({
            "domestic_abuse_flag": c.domestic_abuse_flag,
            "relationship": rel.map(ProtoEnum::canonical),
            "online_flag": c.online_flag,
        })
    }

    /// The outcome type must be a Home Office one (1-22). The group is optional: the hub derives
    /// the Home Office group from the type and stores that; a group that is sent must be the
    /// derived one or the pairing the contract accepted before (see [`outcome`]).
    fn police_outcome(&mut self, o: &pb::PoliceOutcome) -> Value {
        let t = o.home_office_outcome_type;
        let derived = outcome::home_office_group(t);
        if derived.is_none() {
            let (first, last) = outcome::OUTCOME_TYPES.into_inner();
            let reason = format!("must be a Home Office outcome type, {first}-{last}; got {t}");
            self.add("home_office_outcome_type", reason);
        }
        let sent = self.optional::<pb::PoliceOutcomeGroup>(o.group, "group");
        if let (Some(expected), Some(g)) = (derived, sent)
            && !outcome::accepts(t, g)
        {
            let reason = wrong_group(t, expected, g);
            self.add("group", reason);
        }
        self.f.decision = name(derived);
        let mut detail = json!({
            "home_office_outcome_type": t,
            "group": self.f.decision,
        });
        // What the client sent, when it differs from the group stored (a v1 pairing).
        if let Some(g) = sent.filter(|g| derived.is_some_and(|d| d != *g)) {
            detail["submitted_group"] = json!(g.canonical());
        }
        detail
    }

    fn cps_referral(&mut self, c: &pb::CpsReferral) -> Value {
        let t = self.required::<pb::ReferralType>(c.referral_type, "referral_type");
        self.f.decision = name(t);
        json!({ "referral_type": self.f.decision })
    }

    fn charging_decision(&mut self, c: &pb::ChargingDecision) -> Value {
        let who = self.required::<pb::DecisionMaker>(c.decision_maker, "decision_maker");
        let what = self.required::<pb::ChargeDecision>(c.decision, "decision");
        self.f.stage = name(who);
        self.f.decision = name(what);
        json!({ "decision_maker": self.f.stage, "decision": self.f.decision })
    }

    fn prosecution_outcome(&mut self, o: &pb::ProsecutionOutcome) -> Value {
        let r = self.required::<pb::ProsecutionResult>(o.result, "result");
        self.f.decision = name(r);
        json!({ "result": self.f.decision })
    }

    fn court_outcome(&mut self, c: &pb::CourtOutcome) -> Value {
        let court = self.required::<pb::CourtType>(c.court_type, "court_type");
        let verdict = self.required::<pb::CourtVerdict>(c.verdict, "verdict");
        let trial =
            self.optional::<pb::TrialEffectiveness>(c.trial_effectiveness, "trial_effectiveness");
        self.f.setting = name(court);
        self.f.decision = name(verdict);
        self.f.stage = name(trial);
        json!({
            "court_type": self.f.setting,
            "verdict": self.f.decision,
            "trial_effectiveness": self.f.stage,
        })
    }

    /// An order cannot expire before the event that made it.
    fn protective_order(
        &mut self,
        o: &pb::ProtectiveOrder,
        event_time: Option<DateTime<Utc>>,
    ) -> Value {
        let t = self.required::<pb::OrderType>(o.order_type, "order_type");
        let d = self.required::<pb::OrderDecision>(o.decision, "decision");
        let expires = o.expires_on.as_ref().and_then(|d| {
            let at = self.at("expires_on");
            let v = self.p.date(Some(d), &at);
            if let (Some(v), Some(e)) = (v, event_time)
                && v < e.date_naive()
            {
                self.add("expires_on", "must not be before event_time");
            }
            v
        });
        self.f.order_type = name(t);
        self.f.decision = name(d);
        json!({
            "order_type": self.f.order_type,
            "decision": self.f.decision,
            "expires_on": expires.map(|d| d.to_string()),
        })
    }

    fn victim_withdrawal(&mut self, w: &pb::VictimWithdrawal) -> Value {
        let s = self.required::<pb::WithdrawalStage>(w.stage, "stage");
        self.f.stage = name(s);
        json!({ "stage": self.f.stage, "case_ended": w.case_ended })
    }

    fn marac_referral(&mut self, m: &pb::MaracReferral) -> Value {
        let a = self.required::<pb::ReferringAgency>(m.referring_agency, "referring_agency");
        self.f.referring_agency = name(a);
        if m.children_in_household > 30 {
            self.add("children_in_household", "must be 0-30");
        }
        json!({
            "referring_agency": self.f.referring_agency,
            "repeat_referral": m.repeat_referral,
            "children_in_household": m.children_in_household,
        })
    }

    fn support_referral(&mut self, s: &pb::SupportReferral) -> Value {
        if !plain_id(&s.to_agency_id) {
            self.add(
                "to_agency_id",
                "required: the registry id of the receiving service",
            );
        }
        let t = self.required::<pb::SupportServiceType>(s.service_type, "service_type");
        self.f.to_agency_id = Some(s.to_agency_id.clone());
        self.f.service_type = name(t);
        json!({ "to_agency_id": s.to_agency_id, "service_type": self.f.service_type })
    }

    fn support_provided(&mut self, s: &pb::SupportProvided) -> Value {
        let t = self.required::<pb::SupportServiceType>(s.service_type, "service_type");
        self.f.service_type = name(t);
        json!({ "service_type": self.f.service_type, "contacts": s.contacts })
    }

    fn unable_to_support(&mut self, u: &pb::UnableToSupport) -> Value {
        let t = self.required::<pb::SupportServiceType>(u.service_type, "service_type");
        let r = self.required::<pb::UnableToSupportReason>(u.reason, "reason");
        self.f.service_type = name(t);
        self.f.reason = name(r);
        json!({ "service_type": self.f.service_type, "reason": self.f.reason })
    }

    fn health_disclosure(&mut self, h: &pb::HealthDisclosure) -> Value {
        let s = self.required::<pb::HealthSetting>(h.setting, "setting");
        self.f.setting = name(s);
        json!({ "setting": self.f.setting })
    }

    fn health_referral(&mut self, h: &pb::HealthReferral) -> Value {
        let s = self.required::<pb::HealthSetting>(h.setting, "setting");
        let d = self.required::<pb::HealthReferralDestination>(h.destination, "destination");
        self.f.setting = name(s);
        self.f.referring_agency = name(d);
        json!({ "setting": self.f.setting, "destination": self.f.referring_agency })
    }

    /// The school is named by its URN; the pupil's details stay sealed for the school.
    fn encompass_notification(&mut self, n: &pb::EncompassNotification) -> Value {
        let urn_ok = (6..=7).contains(&n.school_urn.len())
            && n.school_urn.bytes().all(|b| b.is_ascii_digit());
        if !urn_ok {
            self.add("school_urn", "required: the school's URN (6 or 7 digits)");
        }
        if n.police_contact.len() > 200 {
            self.add("police_contact", "longer than 200 characters");
        }
        self.f.to_agency_id = Some(format!("school-{}", n.school_urn));
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

    fn domestic_homicide(&mut self, h: &pb::DomesticHomicide) -> Value {
        let t = self.required::<pb::HomicideType>(h.homicide_type, "homicide_type");
        self.f.reason = name(t);
        json!({ "homicide_type": self.f.reason })
    }

    fn victim_satisfaction(&mut self, s: &pb::VictimSatisfaction) -> Value {
        let st = self.required::<pb::SatisfactionStage>(s.stage, "stage");
        let lv = self.required::<pb::SatisfactionLevel>(s.level, "level");
        self.f.stage = name(st);
        self.f.decision = name(lv);
        json!({ "stage": self.f.stage, "level": self.f.decision })
    }

    fn funding_return(&mut self, r: &pb::FundingReturn) -> Value {
        if !plain_id(&r.funded_agency_id) {
            self.add(
                "funded_agency_id",
                "required: the registry id of the funded service",
            );
        }
        let t = self.required::<pb::SupportServiceType>(r.service_type, "service_type");
        self.f.to_agency_id = Some(r.funded_agency_id.clone());
        self.f.service_type = name(t);
        json!({
            "funded_agency_id": r.funded_agency_id,
            "service_type": self.f.service_type,
            "amount_pence": r.amount_pence,
        })
    }
}
