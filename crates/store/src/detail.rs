//! Contract messages rebuilt from what a record stores: canonical names back to contract enum
//! values, and the event and sealed payload back from the record's detail JSON (which never
//! held identifiers). Shared by the aggregates (facts) and the exchange (notifications, shared
//! records).

use serde_json::Value;
use vawg_proto::pb::{self, vawg_record::Event};

/// The contract enum value named `prefix + canonical`, as i32 (0 when absent or unknown).
pub(crate) fn enum_value<E: Into<i32>>(
    canonical: Option<&str>,
    prefix: &str,
    parse: impl Fn(&str) -> Option<E>,
) -> i32 {
    canonical
        .and_then(|c| parse(&format!("{prefix}{c}")))
        .map(Into::into)
        .unwrap_or(0)
}

/// A record's detail JSON, read field by field; an absent or mistyped field reads as the
/// contract's default (empty, false, 0, UNSPECIFIED).
#[derive(Clone, Copy)]
pub(crate) struct Detail<'a>(pub(crate) &'a Value);

impl<'a> Detail<'a> {
    /// The field's JSON value.
    pub(crate) fn field(self, name: &str) -> Option<&'a Value> {
        self.0.get(name)
    }

    /// A text field.
    pub(crate) fn text(self, name: &str) -> Option<&'a str> {
        self.field(name).and_then(|v| v.as_str())
    }

    /// A text field, empty when absent, owned.
    pub(crate) fn string(self, name: &str) -> String {
        self.text(name).unwrap_or_default().to_string()
    }

    /// A flag, false when absent.
    pub(crate) fn flag(self, name: &str) -> bool {
        self.field(name).and_then(|v| v.as_bool()).unwrap_or(false)
    }

    /// A count, 0 when absent.
    pub(crate) fn count(self, name: &str) -> u64 {
        self.field(name).and_then(|v| v.as_u64()).unwrap_or(0)
    }

    /// A canonical name held in the field, as the contract enum value named `prefix + name`.
    pub(crate) fn enum_of<E: Into<i32>>(
        self,
        name: &str,
        prefix: &str,
        parse: impl Fn(&str) -> Option<E>,
    ) -> i32 {
        enum_value(self.text(name), prefix, parse)
    }

    /// The support service type, which four event kinds carry.
    pub(crate) fn service_type(self) -> i32 {
        self.enum_of(
            "service_type",
            "SUPPORT_SERVICE_TYPE_",
            pb::SupportServiceType::from_str_name,
        )
    }
}

/// Rebuilds the contract event from the stored kind and detail (identifiers were never there).
pub fn event_from_detail(kind: &str, detail: &Value) -> Option<Event> {
    let d = Detail(detail);
    justice_event(kind, d).or_else(|| service_event(kind, d))
}

/// The events of the criminal justice journey: police, CPS and courts.
fn justice_event(kind: &str, d: Detail<'_>) -> Option<Event> {
    Some(match kind {
        "CRIME_RECORDED" => Event::CrimeRecorded(pb::CrimeRecorded {
            domestic_abuse_flag: d.flag("domestic_abuse_flag"),
            relationship: d.enum_of(
                "relationship",
                "RELATIONSHIP_",
                pb::Relationship::from_str_name,
            ),
            online_flag: d.flag("online_flag"),
        }),
        "POLICE_OUTCOME" => Event::PoliceOutcome(pb::PoliceOutcome {
            home_office_outcome_type: d.count("home_office_outcome_type") as u32,
            group: d.enum_of(
                "group",
                "POLICE_OUTCOME_GROUP_",
                pb::PoliceOutcomeGroup::from_str_name,
            ),
        }),
        "CPS_REFERRAL" => Event::CpsReferral(pb::CpsReferral {
            referral_type: d.enum_of(
                "referral_type",
                "REFERRAL_TYPE_",
                pb::ReferralType::from_str_name,
            ),
        }),
        "CHARGING_DECISION" => Event::ChargingDecision(pb::ChargingDecision {
            decision_maker: d.enum_of(
                "decision_maker",
                "DECISION_MAKER_",
                pb::DecisionMaker::from_str_name,
            ),
            decision: d.enum_of(
                "decision",
                "CHARGE_DECISION_",
                pb::ChargeDecision::from_str_name,
            ),
        }),
        "PROSECUTION_OUTCOME" => Event::ProsecutionOutcome(pb::ProsecutionOutcome {
            result: d.enum_of(
                "result",
                "PROSECUTION_RESULT_",
                pb::ProsecutionResult::from_str_name,
            ),
        }),
        "COURT_OUTCOME" => Event::CourtOutcome(pb::CourtOutcome {
            court_type: d.enum_of("court_type", "COURT_TYPE_", pb::CourtType::from_str_name),
            verdict: d.enum_of("verdict", "COURT_VERDICT_", pb::CourtVerdict::from_str_name),
            trial_effectiveness: d.enum_of(
                "trial_effectiveness",
                "TRIAL_EFFECTIVENESS_",
                pb::TrialEffectiveness::from_str_name,
            ),
        }),
        "PROTECTIVE_ORDER" => Event::ProtectiveOrder(pb::ProtectiveOrder {
            order_type: d.enum_of("order_type", "ORDER_TYPE_", pb::OrderType::from_str_name),
            decision: d.enum_of(
                "decision",
                "ORDER_DECISION_",
                pb::OrderDecision::from_str_name,
            ),
            expires_on: None,
        }),
        "VICTIM_WITHDRAWAL" => Event::VictimWithdrawal(pb::VictimWithdrawal {
            stage: d.enum_of(
                "stage",
                "WITHDRAWAL_STAGE_",
                pb::WithdrawalStage::from_str_name,
            ),
            case_ended: d.flag("case_ended"),
        }),
        "DOMESTIC_HOMICIDE" => Event::DomesticHomicide(pb::DomesticHomicide {
            homicide_type: d.enum_of(
                "homicide_type",
                "HOMICIDE_TYPE_",
                pb::HomicideType::from_str_name,
            ),
        }),
        "VICTIM_SATISFACTION" => Event::VictimSatisfaction(pb::VictimSatisfaction {
            stage: d.enum_of(
                "stage",
                "SATISFACTION_STAGE_",
                pb::SatisfactionStage::from_str_name,
            ),
            level: d.enum_of(
                "level",
                "SATISFACTION_LEVEL_",
                pb::SatisfactionLevel::from_str_name,
            ),
        }),
        _ => return None,
    })
}

/// The events of support, health and safeguarding services, and their funding.
fn service_event(kind: &str, d: Detail<'_>) -> Option<Event> {
    Some(match kind {
        "MARAC_REFERRAL" => Event::MaracReferral(marac_referral(d)),
        "SUPPORT_REFERRAL" => Event::SupportReferral(pb::SupportReferral {
            to_agency_id: d.string("to_agency_id"),
            service_type: d.service_type(),
        }),
        "SUPPORT_PROVIDED" => Event::SupportProvided(pb::SupportProvided {
            service_type: d.service_type(),
            contacts: d.count("contacts") as u32,
        }),
        "UNABLE_TO_SUPPORT" => Event::UnableToSupport(pb::UnableToSupport {
            service_type: d.service_type(),
            reason: d.enum_of(
                "reason",
                "UNABLE_TO_SUPPORT_REASON_",
                pb::UnableToSupportReason::from_str_name,
            ),
        }),
        "HEALTH_DISCLOSURE" => Event::HealthDisclosure(pb::HealthDisclosure {
            setting: d.enum_of(
                "setting",
                "HEALTH_SETTING_",
                pb::HealthSetting::from_str_name,
            ),
        }),
        "HEALTH_REFERRAL" => Event::HealthReferral(pb::HealthReferral {
            setting: d.enum_of(
                "setting",
                "HEALTH_SETTING_",
                pb::HealthSetting::from_str_name,
            ),
            destination: d.enum_of(
                "destination",
                "HEALTH_REFERRAL_DESTINATION_",
                pb::HealthReferralDestination::from_str_name,
            ),
        }),
        // Sealed details are not needed for aggregates and are not rebuilt here.
        "ENCOMPASS_NOTIFICATION" => Event::EncompassNotification(pb::EncompassNotification {
            school_urn: d.string("school_urn"),
            sealed_pupil_details: None,
            police_contact: String::new(),
        }),
        "FUNDING_RETURN" => Event::FundingReturn(pb::FundingReturn {
            funded_agency_id: d.string("funded_agency_id"),
            service_type: d.service_type(),
            amount_pence: d.count("amount_pence"),
        }),
        _ => return None,
    })
}

/// A MARAC referral's own fields (its notification to the MARAC carries them too).
pub(crate) fn marac_referral(d: Detail<'_>) -> pb::MaracReferral {
    pb::MaracReferral {
        referring_agency: d.enum_of(
            "referring_agency",
            "REFERRING_AGENCY_",
            pb::ReferringAgency::from_str_name,
        ),
        repeat_referral: d.flag("repeat_referral"),
        children_in_household: d.count("children_in_household") as u32,
    }
}

/// The sealed payload kept in a record's detail (hex ciphertext), back as the contract message.
pub fn sealed_from_detail(v: &Value) -> Option<pb::SealedPayload> {
    if v.is_null() {
        return None;
    }
    let d = Detail(v);
    Some(pb::SealedPayload {
        recipient_agency_id: d.string("recipient_agency_id"),
        key_id: d.string("key_id"),
        suite: d.string("suite"),
        encapsulated_key: hex::decode(d.text("encapsulated_key").unwrap_or_default()).ok()?,
        ciphertext: hex::decode(d.text("ciphertext").unwrap_or_default()).ok()?,
    })
}
